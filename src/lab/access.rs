//! Who an app-only token reaches: the lab's EWS and Graph decide it here,
//! from the scenario's one model of the two independent grants Exchange
//! Online knows.
//!
//! - **Entra consent**: an application permission with admin consent
//!   (`full_access_as_app` for EWS, `Mail.*` / `Calendars.*` for Graph), in
//!   the token's `roles`. It reaches every mailbox of the tenant, narrowed
//!   only by an application access policy (`New-ApplicationAccessPolicy`),
//!   which applies to Graph and to EWS alike (Microsoft's Graph docs,
//!   auth-limit-mailbox-access; the Exchange team's "Application access
//!   policy support in EWS", 2021).
//! - **RBAC for Applications**: an Exchange service principal and a role
//!   assignment (`Application EWS.AccessAsApp`, `Application Mail.Read`, …),
//!   scoped by a management scope's recipient filter, an administrative
//!   unit, or neither (the whole organization). No `roles` claim shows it.
//!
//! The grants add up (learn.microsoft.com/exchange/permissions-exo/
//! application-rbac): an app that holds the tenant-wide consent reaches every
//! mailbox whatever an RBAC scope says.
//!
//! Assumptions (no public capture exists): EWS answers a mailbox outside the
//! app's reach with an empty `403 Forbidden` and no `X-EWS-Policy-Reason`
//! (Microsoft's David Barrett on an app-only 403: "403 is policy block,
//! likely an app policy is applied preventing access",
//! David-Barrett-MS/PowerShell-EWS-Scripts#62); Autodiscover, which "can't be
//! accessed when using RBAC Application roles", judges the token by its
//! `roles` claim alone, as EWS did before RBAC (403, x-ms-diagnostics 2000008).

use super::scenario::{AppSpec, RoleAssignmentSpec, Scenario, UserSpec};
use crate::opath::Filter;

/// What is asked of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Ews,
    /// Graph, with the application permission's prefix (`Mail.`, `Calendars.`).
    Graph(&'static str),
}

/// Why a token reaches a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The tenant-wide Entra consent (the token's `roles`).
    Consent,
    /// An RBAC for Applications role assignment, by name.
    Rbac(String),
}

/// Why a token does not reach a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Neither a consented permission nor an RBAC role for this API.
    NoGrant,
    /// An application access policy excludes the mailbox (the consent's only limit).
    AccessPolicy,
    /// RBAC role assignments exist for the API; none of their scopes holds the mailbox.
    OutOfScope,
}

/// Whether an RBAC application role grants `api`.
fn role_grants(role: &str, api: Api) -> bool {
    let Some(permission) = role.trim().strip_prefix("Application ") else {
        return false;
    };
    match api {
        Api::Ews => permission.eq_ignore_ascii_case("EWS.AccessAsApp"),
        Api::Graph(prefix) => permission.starts_with(prefix),
    }
}

/// Whether a consented permission (a `roles` value) grants `api`.
fn consent_grants(role: &str, api: Api) -> bool {
    match api {
        Api::Ews => role == "full_access_as_app",
        Api::Graph(prefix) => role.starts_with(prefix),
    }
}

/// The app's RBAC role assignments for `api`.
fn assignments<'a>(scenario: &'a Scenario, app: &str, api: Api) -> impl Iterator<Item = &'a RoleAssignmentSpec> + 'a {
    let app = app.to_string();
    scenario
        .role_assignments
        .iter()
        .filter(move |a| a.app.eq_ignore_ascii_case(&app) && role_grants(&a.role, api))
}

/// Whether the app holds any RBAC role for `api` (whatever its scope).
pub fn has_rbac_role(scenario: &Scenario, app: &str, api: Api) -> bool {
    assignments(scenario, app, api).next().is_some()
}

/// A recipient property as a management scope's filter sees it.
/// `PrimarySmtpAddress` matches proxy addresses too, as Exchange Online's
/// does (Microsoft's filterable-properties page says to filter on
/// `EmailAddresses` for that reason).
pub fn property(user: &UserSpec, name: &str) -> Vec<String> {
    let addresses = || std::iter::once(user.address.clone()).chain(user.aliases.iter().cloned());
    match name.to_ascii_lowercase().as_str() {
        "primarysmtpaddress" | "windowsemailaddress" => addresses().collect(),
        "emailaddresses" => std::iter::once(format!("SMTP:{}", user.address))
            .chain(user.aliases.iter().map(|a| format!("smtp:{a}")))
            .chain(addresses())
            .collect(),
        "memberofgroup" => user.groups.clone(),
        "recipienttypedetails" => vec![if user.mailbox { "UserMailbox" } else { "MailUser" }.to_string()],
        "userprincipalname" => vec![user.upn().to_string()],
        "alias" => vec![user.address.split('@').next().unwrap_or("").to_string()],
        "displayname" | "name" => user.display_name.clone().into_iter().collect(),
        other => user
            .properties
            .iter()
            .find(|(k, _)| k.to_ascii_lowercase() == other)
            .map(|(_, v)| vec![v.clone()])
            .unwrap_or_default(),
    }
}

/// Whether a role assignment's scope holds the mailbox.
fn in_scope(scenario: &Scenario, assignment: &RoleAssignmentSpec, user: &UserSpec) -> bool {
    if let Some(name) = &assignment.scope {
        // Validated when the scenario was read; a scope that is gone holds no one.
        return scenario
            .management_scope(name)
            .and_then(|s| Filter::parse(&s.filter).ok())
            .is_some_and(|f| f.matches(&|p| property(user, p)));
    }
    if let Some(name) = &assignment.admin_unit {
        return scenario
            .admin_unit(name)
            .is_some_and(|u| u.members.iter().any(|m| m.eq_ignore_ascii_case(&user.address)));
    }
    true
}

/// Whether the app's application access policy lets the mailbox through.
fn policy_allows(app: Option<&AppSpec>, user: &UserSpec) -> bool {
    match app.and_then(|a| a.access_policy_group.as_deref()) {
        None => true,
        Some(group) => user.groups.iter().any(|g| g.eq_ignore_ascii_case(group)),
    }
}

/// Whether a token of `app` with `roles` reaches `user` through `api`.
pub fn decide(scenario: &Scenario, app: &str, roles: &[String], api: Api, user: &UserSpec) -> Result<Grant, Denial> {
    let consented = roles.iter().any(|r| consent_grants(r, api));
    if consented && policy_allows(scenario.app(app), user) {
        return Ok(Grant::Consent);
    }
    let mut rbac = assignments(scenario, app, api).peekable();
    let has_rbac = rbac.peek().is_some();
    if let Some(a) = rbac.find(|a| in_scope(scenario, a, user)) {
        return Ok(Grant::Rbac(a.name.clone()));
    }
    Err(if consented {
        Denial::AccessPolicy
    } else if has_rbac {
        Denial::OutOfScope
    } else {
        Denial::NoGrant
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            r#"
name = "t"
description = "t"
[check]
mailboxes = ["alice@contoso.com"]
[[tenants]]
id = "tid"
name = "Contoso"
domains = ["contoso.com"]
[[apps]]
client_id = "app1"
tenant = "tid"
display_name = "App"
[[service_principals]]
app_id = "app1"
object_id = "sp1"
display_name = "App"
[[users]]
address = "alice@contoso.com"
aliases = ["a.smith@contoso.com"]
groups = ["Sales Team"]
properties = {{ Department = "Sales" }}
[[users]]
address = "bob@contoso.com"
properties = {{ Department = "Finance" }}
{extra}
"#
        );
        Scenario::parse(&text, None).expect("test scenario")
    }

    fn user<'a>(s: &'a Scenario, a: &str) -> &'a UserSpec {
        s.user(a).expect("user")
    }

    #[test]
    fn a_scoped_rbac_role_reaches_only_its_scope() {
        let s = scenario(
            r#"
[[management_scopes]]
name = "Sales"
filter = "Department -eq 'Sales'"
[[role_assignments]]
name = "ews-sales"
app = "app1"
role = "Application EWS.AccessAsApp"
scope = "Sales"
"#,
        );
        let alice = decide(&s, "app1", &[], Api::Ews, user(&s, "alice@contoso.com"));
        assert_eq!(alice, Ok(Grant::Rbac("ews-sales".into())));
        let bob = decide(&s, "app1", &[], Api::Ews, user(&s, "bob@contoso.com"));
        assert_eq!(bob, Err(Denial::OutOfScope));
        // The role is for EWS, not Graph.
        let graph = decide(&s, "app1", &[], Api::Graph("Mail."), user(&s, "alice@contoso.com"));
        assert_eq!(graph, Err(Denial::NoGrant));
        assert!(has_rbac_role(&s, "APP1", Api::Ews));
        assert!(!has_rbac_role(&s, "app1", Api::Graph("Mail.")));
    }

    #[test]
    fn tenant_wide_consent_overrides_an_rbac_scope() {
        let s = scenario(
            r#"
[[management_scopes]]
name = "Sales"
filter = "Department -eq 'Sales'"
[[role_assignments]]
name = "mail-sales"
app = "app1"
role = "Application Mail.Read"
scope = "Sales"
"#,
        );
        let roles = vec!["Mail.Read".to_string()];
        let bob = decide(&s, "app1", &roles, Api::Graph("Mail."), user(&s, "bob@contoso.com"));
        assert_eq!(bob, Ok(Grant::Consent));
        let without = decide(&s, "app1", &[], Api::Graph("Mail."), user(&s, "bob@contoso.com"));
        assert_eq!(without, Err(Denial::OutOfScope));
    }

    #[test]
    fn admin_units_and_proxy_addresses_and_groups_scope_too() {
        let s = scenario(
            r#"
[[admin_units]]
name = "EU"
id = "au1"
members = ["BOB@contoso.com"]
[[management_scopes]]
name = "ByAlias"
filter = "PrimarySmtpAddress -eq 'a.smith@contoso.com' -or MemberOfGroup -eq 'nobody'"
[[role_assignments]]
name = "eu"
app = "app1"
role = "Application Mail.ReadBasic"
admin_unit = "EU"
[[role_assignments]]
name = "alias"
app = "app1"
role = "Application EWS.AccessAsApp"
scope = "ByAlias"
"#,
        );
        let graph = |a: &str| decide(&s, "app1", &[], Api::Graph("Mail."), user(&s, a));
        assert_eq!(graph("bob@contoso.com"), Ok(Grant::Rbac("eu".into())));
        assert_eq!(graph("alice@contoso.com"), Err(Denial::OutOfScope));
        let ews = |a: &str| decide(&s, "app1", &[], Api::Ews, user(&s, a));
        assert_eq!(ews("alice@contoso.com"), Ok(Grant::Rbac("alias".into())));
        assert_eq!(ews("bob@contoso.com"), Err(Denial::OutOfScope));
    }

    #[test]
    fn an_access_policy_narrows_only_the_consent() {
        let s = scenario("");
        let mut s = s;
        s.apps[0].access_policy_group = Some("sales team".into());
        let roles = vec!["full_access_as_app".to_string()];
        assert_eq!(
            decide(&s, "app1", &roles, Api::Ews, user(&s, "alice@contoso.com")),
            Ok(Grant::Consent)
        );
        assert_eq!(
            decide(&s, "app1", &roles, Api::Ews, user(&s, "bob@contoso.com")),
            Err(Denial::AccessPolicy)
        );
        assert_eq!(
            decide(&s, "app1", &[], Api::Ews, user(&s, "alice@contoso.com")),
            Err(Denial::NoGrant)
        );
    }
}
