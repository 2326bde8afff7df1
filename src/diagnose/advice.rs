//! Remediation chosen by the situation. The catalogue's steps are the
//! general case; where the step an admin can actually perform depends on
//! facts of the run — Exchange Online or Server, app-only or delegated
//! access, the customer's own app or a vendor's multi-tenant app — the steps
//! are written here, with the run's client id, tenant and mailboxes filled in.

use super::code::Code;
use crate::config::{AuthMode, CheckConfig};

/// Where the mailbox is served from, as far as the run could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    ExchangeOnline,
    ExchangeServer,
    Unknown,
}

/// Who the app belongs to (app-only and delegated OAuth modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppOwner {
    /// Registered in the mailboxes' tenant: its admin edits its API permissions.
    Customer,
    /// A vendor's multi-tenant app: the customer can only consent to it.
    Vendor,
    /// Not said (`--app-home-tenant` not given): both ways are printed.
    Unknown,
}

/// The facts the remediation depends on.
#[derive(Debug, Clone)]
pub struct Situation {
    pub platform: Platform,
    pub mode: AuthMode,
    pub owner: AppOwner,
    pub client_id: Option<String>,
    pub tenant: Option<String>,
    pub authority: String,
    /// The run's first few mailboxes, for a management scope.
    pub mailboxes: Vec<String>,
    /// How many mailboxes the run checks in all.
    pub mailbox_count: usize,
    /// The mailbox a finding is about, when it is about one.
    pub mailbox: Option<String>,
    /// The run's day (Exchange Online's EWS phase).
    pub today: time::Date,
    /// The service account as given, where the run has one.
    pub service_account: Option<String>,
}

/// Mailboxes named in a suggested scope filter; more get a group.
const SCOPE_NAMED: usize = 3;

impl Situation {
    pub fn of(config: &CheckConfig, platform: Platform) -> Situation {
        let client_id = config
            .auth
            .app()
            .map(|a| a.client_id.clone())
            .or_else(|| config.auth.delegated().map(|d| d.client_id.clone()));
        let tenant = config.auth.tenant().map(str::to_string);
        let owner = match (&config.app_home_tenant, &tenant) {
            (Some(home), Some(t)) if home.eq_ignore_ascii_case(t) => AppOwner::Customer,
            // A tenant id and a domain may name the same tenant: not known.
            (Some(home), Some(t)) if is_guid(home) != is_guid(t) => AppOwner::Unknown,
            (Some(_), Some(_)) => AppOwner::Vendor,
            (Some(_), None) | (None, _) => AppOwner::Unknown,
        };
        Situation {
            platform,
            mode: config.auth.mode(),
            owner,
            client_id,
            tenant,
            authority: config.endpoints.authority.as_str().trim_end_matches('/').to_string(),
            mailboxes: config.mailboxes.iter().take(SCOPE_NAMED).cloned().collect(),
            mailbox_count: config.mailboxes.len(),
            mailbox: None,
            today: config.today,
            service_account: config.service_account.clone(),
        }
    }

    fn mailbox(&self) -> &str {
        self.mailbox.as_deref().unwrap_or("MAILBOX")
    }

    fn client_id(&self) -> &str {
        self.client_id.as_deref().unwrap_or("APP_CLIENT_ID")
    }

    fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or("TENANT")
    }

    fn app_only(&self) -> bool {
        self.mode == AuthMode::App
    }

    /// The URL a Global Administrator opens to consent for the whole tenant.
    pub fn admin_consent_url(&self) -> String {
        format!(
            "{}/{}/adminconsent?client_id={}",
            self.authority,
            self.tenant(),
            self.client_id()
        )
    }

    /// A recipient filter for the checked mailboxes (a few by address, a group beyond).
    fn scope_filter(&self) -> String {
        if self.mailbox_count <= SCOPE_NAMED && !self.mailboxes.is_empty() {
            self.mailboxes
                .iter()
                .map(|m| format!("PrimarySmtpAddress -eq '{}'", filter_value(m)))
                .collect::<Vec<_>>()
                .join(" -or ")
        } else {
            "MemberOfGroup -eq 'CN=Sync Mailboxes,OU=...' (a mail-enabled security group holding the synced mailboxes)"
                .to_string()
        }
    }
}

/// An address inside `'…'` of an OPATH filter that PowerShell reads between
/// double quotes: `'` doubled, and `` ` ``, `$`, `"` escaped with a backtick.
fn filter_value(address: &str) -> String {
    let mut out = String::new();
    for c in address.chars() {
        match c {
            '\'' => out.push_str("''"),
            '`' | '$' | '"' => {
                out.push('`');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Steps for the platform the run saw: a step the catalogue writes for one
/// platform (it starts with the platform's name and a colon) is left out of
/// a run on the other; none is left out where that would leave nothing.
pub fn for_platform(steps: Vec<String>, platform: Platform) -> Vec<String> {
    let foreign: &[&str] = match platform {
        Platform::ExchangeOnline => &["Exchange Server:"],
        Platform::ExchangeServer => &["Exchange Online:", "Exchange Online PowerShell:"],
        Platform::Unknown => &[],
    };
    let kept: Vec<String> = steps
        .iter()
        .filter(|step| !foreign.iter().any(|f| step.starts_with(f)))
        .cloned()
        .collect();
    if kept.is_empty() {
        steps
    } else {
        kept
    }
}

/// The catalogue's placeholders filled with what the run knows: `MAILBOX`
/// (the finding's mailbox), `SERVICEACCOUNT`, `APP_CLIENT_ID` / `CLIENTID`
/// (an app-only run's client id). Unknown values stay placeholders.
pub fn fill(step: &str, s: &Situation) -> String {
    let known: [(&str, Option<&str>); 4] = [
        ("MAILBOX", s.mailbox.as_deref()),
        ("SERVICEACCOUNT", s.service_account.as_deref()),
        ("APP_CLIENT_ID", s.client_id.as_deref().filter(|_| s.app_only())),
        ("CLIENTID", s.client_id.as_deref().filter(|_| s.app_only())),
    ];
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(step.len());
    let mut rest = step;
    'scan: while !rest.is_empty() {
        let at_boundary = !out.chars().next_back().is_some_and(word);
        if at_boundary {
            for (name, value) in known {
                if let (Some(v), Some(after)) = (value, rest.strip_prefix(name)) {
                    if !after.chars().next().is_some_and(word) {
                        out.push_str(v);
                        rest = after;
                        continue 'scan;
                    }
                }
            }
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The remediation for `code` in `s`, or None where the catalogue's general
/// steps already are the right ones.
pub fn remediation(code: Code, s: &Situation) -> Option<Vec<String>> {
    match code.as_str() {
        "impersonation.denied" => impersonation_denied(s),
        "exchange_online.application_impersonation_retired" => Some(rbac_for_applications(s, None)),
        "token.missing_role" | "oauth.consent_required" | "graph.identity_not_found" | "oauth.app_not_found"
            if s.app_only() || s.owner == AppOwner::Vendor =>
        {
            Some(consent(code, s))
        }
        "graph.insufficient_privileges" | "graph.access_denied" if s.app_only() => Some(consent(code, s)),
        "exchange_online.app_scope_excludes" => Some(app_scope(s)),
        "exchange_online.rbac_autodiscover" => Some(rbac_autodiscover(s)),
        "exchange_online.graph_not_ready" => Some(graph_not_ready(s)),
        "exchange_online.ews_app_not_allowed" => Some(ews_app_not_allowed(s)),
        "exchange_online.ews_disabled" => Some(ews_disabled(s)),
        "exchange_online.ews_retirement" | "exchange_online.ews_shut_down" => Some(ews_to_graph(code, s)),
        _ => None,
    }
}

/// The app id list, with this app on it (the value replaces the whole list).
fn allow_list_step(s: &Situation) -> String {
    match &s.client_id {
        Some(id) => format!(
            "Put the app on the list: Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs \"IDS_ALREADY_LISTED,{id}\" (read the list first with Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy: the value replaces it). Changes take up to 24 hours."
        ),
        None => "This run signed in with a password, which names no app: Exchange Online's EWS allow list admits apps by client id, so the product needs app-only OAuth (an app registration) to be listed.".to_string(),
    }
}

/// Days left until EWS in Exchange Online is switched off, in a sentence.
fn days_left(s: &Situation) -> String {
    use crate::ews_timeline::{days_until, Phase, SHUTDOWN};
    match Phase::on(s.today) {
        Phase::ShutDown => "EWS in Exchange Online was switched off on 1 April 2027: no setting brings it back.".to_string(),
        _ => format!(
            "EWS in Exchange Online is switched off on 1 April 2027 ({} days left): the allow list only buys time until then.",
            days_until(s.today, SHUTDOWN)
        ),
    }
}

fn ews_app_not_allowed(s: &Situation) -> Vec<String> {
    vec![
        "Exchange Online PowerShell: Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy | fl EwsEnabled,EwsAllowedAppIDs,EwsApplicationAccessPolicy,EwsAllowList,EwsBlockList.".to_string(),
        allow_list_step(s),
        "If EwsApplicationAccessPolicy is EnforceAllowList, the product's User-Agent must match an EwsAllowList entry too (EnforceBlockList: no EwsBlockList entry): both lists must pass.".to_string(),
        days_left(s),
    ]
}

fn ews_disabled(s: &Situation) -> Vec<String> {
    vec![
        format!(
            "Exchange Online PowerShell: Get-OrganizationConfig | fl EwsEnabled and Get-CASMailbox {} | fl EwsEnabled: False at either level blocks.",
            s.mailbox()
        ),
        format!(
            "The mailbox's False: Set-CASMailbox {} -EwsEnabled $null (a mailbox True does not override the organization's False).",
            s.mailbox()
        ),
        format!("The organization's False (set by an admin, or by Microsoft's rollout for a tenant left at $null): {}", allow_list_step(s)),
        days_left(s),
    ]
}

/// Moving off EWS in Exchange Online: who can do what.
fn ews_to_graph(code: Code, s: &Situation) -> Vec<String> {
    use crate::ews_timeline::{days_until, Phase, ENFORCEMENT};
    let mut steps = vec![];
    let graph = "Microsoft Graph with application permissions (Mail.Read or Mail.ReadWrite, Calendars.ReadWrite, Contacts.ReadWrite as the product needs), limited to the synced mailboxes with RBAC for Applications (New-ManagementRoleAssignment -App … -Role \"Application Mail.Read\" -CustomResourceScope …) instead of the tenant-wide Entra permission";
    match s.owner {
        AppOwner::Vendor => {
            steps.push(format!(
                "Only the vendor can move the product off EWS: ask them whether it supports {graph}, and from which version."
            ));
        }
        AppOwner::Customer => steps.push(format!("Move the product to {graph}.")),
        AppOwner::Unknown => steps.push(format!(
            "Move the product to {graph}; if it is a vendor's product, only the vendor can: ask whether it supports app-only Graph."
        )),
    }
    if code.as_str() == "exchange_online.ews_retirement" {
        if Phase::on(s.today) == Phase::Permissive {
            steps.push(format!(
                "Before {} ({} days left): {}",
                crate::ews_timeline::written(ENFORCEMENT),
                days_until(s.today, ENFORCEMENT),
                allow_list_step(s)
            ));
        } else {
            steps.push(format!(
                "Until the move, keep the app on the tenant's EWS allow list. {}",
                allow_list_step(s)
            ));
        }
    }
    steps
}

fn impersonation_denied(s: &Situation) -> Option<Vec<String>> {
    match (s.platform, s.app_only()) {
        // Delegated (a service account) against Exchange Online: the role the
        // catalogue names no longer exists there.
        (Platform::ExchangeOnline, false) => {
            let mut steps = vec![
                "The ApplicationImpersonation role was removed from Exchange Online in February 2025: a service account can no longer be given impersonation there, so adding a role will not fix this.".to_string(),
            ];
            steps.extend(rbac_for_applications(
                s,
                Some("Reconfigure the sync product for app-only OAuth"),
            ));
            Some(steps)
        }
        // An app-only token whose grant does not reach this mailbox.
        (Platform::ExchangeOnline, true) => Some(app_scope(s)),
        _ => None,
    }
}

/// An app-only grant that leaves the mailbox out: which scope, and how to widen it.
fn app_scope(s: &Situation) -> Vec<String> {
    vec![
        format!(
            "Exchange Online PowerShell: Test-ServicePrincipalAuthorization -Identity {} -Resource {} shows which RBAC for Applications assignments reach the mailbox (InScope).",
            s.client_id(),
            s.mailbox()
        ),
        format!(
            "Get-ManagementRoleAssignment -RoleAssignee {} | fl Role,CustomResourceScope,RecipientAdministrativeUnitScope: widen the scope (Set-ManagementScope -RecipientRestrictionFilter) or add {} to the group or administrative unit it names.",
            s.client_id(),
            s.mailbox()
        ),
        format!(
            "Test-ApplicationAccessPolicy -Identity {} -AppId {}: if an application access policy restricts the app's Entra permission, add the mailbox to the policy's group.",
            s.mailbox(),
            s.client_id()
        ),
        "Wait for propagation (30 minutes to 2 hours), then re-run exprobe before changing anything else.".to_string(),
    ]
}

/// Graph access for the move off EWS: the grant, who gives it, how to check it.
fn graph_not_ready(s: &Situation) -> Vec<String> {
    let grant = format!(
        "either the tenant-wide Microsoft Graph application permission Mail.Read (or Mail.ReadWrite) with admin consent, which reaches every mailbox, or, limited to the synced mailboxes, an RBAC for Applications role without that permission: New-ManagementRoleAssignment -App {} -Role \"Application Mail.Read\" -CustomResourceScope \"Sync mailboxes\" (the scope the app's EWS access uses, where it has one)",
        s.client_id()
    );
    let mut steps = match s.owner {
        AppOwner::Vendor => vec![
            format!("The vendor's app needs Graph access to the synced mailboxes: {grant}. A Global Administrator consents to what the vendor's app asks for: {}", s.admin_consent_url()),
            "Only the vendor can make the product use Graph: ask whether it supports app-only Graph, and from which version.".to_string(),
        ],
        _ => vec![format!("Give the app Graph access to the synced mailboxes: {grant}.")],
    };
    steps.push(format!(
        "Check it: Test-ServicePrincipalAuthorization -Identity {} -Resource {} (RBAC), then re-run exprobe: the mailbox counts as ready for Graph once its inbox opens.",
        s.client_id(),
        s.mailbox()
    ));
    steps.push(days_left(s));
    steps
}

/// EWS reached through an RBAC role, which Autodiscover does not accept.
fn rbac_autodiscover(s: &Situation) -> Vec<String> {
    vec![
        "Configure the product with the EWS URL https://outlook.office365.com/EWS/Exchange.asmx instead of Autodiscover, where it allows: EWS accepts the RBAC role, Autodiscover does not.".to_string(),
        format!(
            "Where the product must autodiscover, it needs the Entra permission instead: App registrations → the app ({}) → API permissions → Office 365 Exchange Online → full_access_as_app, Grant admin consent, narrowed with New-ApplicationAccessPolicy -AppId {} -PolicyScopeGroupId SYNC_GROUP -AccessRight RestrictAccess (with the Entra permission the RBAC scope no longer limits anything).",
            s.client_id(),
            s.client_id()
        ),
        days_left(s),
    ]
}

/// App-only access to the checked mailboxes with RBAC for Applications.
fn rbac_for_applications(s: &Situation, first: Option<&str>) -> Vec<String> {
    let mut steps = vec![];
    steps.push(format!(
        "{}: an app (yours, or the vendor's) with access granted by RBAC for Applications, limited to the synced mailboxes, and without the tenant-wide Entra permission for the same access (full_access_as_app, Mail.Read): RBAC grants add to Entra's, so with it the app reaches every mailbox and the scope is moot. In Exchange Online PowerShell:",
        first.unwrap_or("Move the product to app-only OAuth")
    ));
    // A delegated run's client id is a public client's: the app-only app is another registration.
    let app = if s.app_only() { s.client_id() } else { "APP_CLIENT_ID" };
    steps.push(format!(
        "New-ServicePrincipal -AppId {app} -ObjectId SP_OBJECT_ID -DisplayName \"Sync app\" (the object id is on Entra admin center → Enterprise applications → the app → Overview)."
    ));
    steps.push(format!(
        "New-ManagementScope -Name \"Sync mailboxes\" -RecipientRestrictionFilter \"{}\"",
        s.scope_filter()
    ));
    steps.push(format!(
        "New-ManagementRoleAssignment -App {app} -Role \"Application EWS.AccessAsApp\" -CustomResourceScope \"Sync mailboxes\" (for Graph: -Role \"Application Mail.Read\" or \"Application Mail.ReadWrite\")."
    ));
    steps.push(
        "A product that autodiscovers with the app's token needs the Entra permission instead: Autodiscover cannot be called with RBAC application roles; give the product the EWS URL (https://outlook.office365.com/EWS/Exchange.asmx) where it allows.".to_string(),
    );
    let mailbox = s.mailboxes.first().map_or("MAILBOX", String::as_str);
    steps.push(format!(
        "Check the grant: Test-ServicePrincipalAuthorization -Identity {app} -Resource {mailbox}, then run exprobe --auth app --client-id {app} after 30 minutes to 2 hours of propagation."
    ));
    steps
}

/// Missing consent or permission for an app: who can fix it depends on
/// whose app it is.
fn consent(code: Code, s: &Situation) -> Vec<String> {
    let permission = match code.as_str() {
        "graph.insufficient_privileges" => "Microsoft Graph → Application permissions → User.Read.All",
        "graph.access_denied" => "Microsoft Graph → Application permissions → Mail.Read",
        _ => "Office 365 Exchange Online → Application permissions → full_access_as_app (EWS) and Microsoft Graph → Application permissions → Mail.Read (Graph)",
    };
    let own = format!(
        "Entra admin center → App registrations → the app ({}) → API permissions → Add a permission: {permission}; then Grant admin consent for the organization.",
        s.client_id()
    );
    let vendor = format!(
        "Entra admin center → Enterprise applications → the app ({}) → Permissions → Grant admin consent for the organization (Global Administrator or Privileged Role Administrator). Its API permissions are set by the vendor: if the permission is missing there, the vendor must add it.",
        s.client_id()
    );
    let url = format!(
        "Or have a Global Administrator of the mailboxes' tenant open the admin-consent URL and accept: {}",
        s.admin_consent_url()
    );
    let wait = "Wait for propagation (up to an hour for consent, up to two hours for Exchange), then re-run exprobe."
        .to_string();
    match s.owner {
        AppOwner::Customer => vec![own, wait],
        AppOwner::Vendor => vec![vendor, url, wait],
        AppOwner::Unknown => vec![
            format!("If the app is registered in your tenant: {own}"),
            format!("If it is a vendor's app (registered in another tenant; --app-home-tenant says so): {vendor}"),
            url,
            wait,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_quoted_for_powershell() {
        assert_eq!(filter_value("o'brien@contoso.com"), "o''brien@contoso.com");
        assert_eq!(filter_value("a$b`c\"d@contoso.com"), "a`$b``c`\"d@contoso.com");
    }

    fn situation(mode: AuthMode) -> Situation {
        Situation {
            platform: Platform::ExchangeOnline,
            mode,
            owner: AppOwner::Unknown,
            client_id: Some("2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f".into()),
            tenant: None,
            authority: "https://login.microsoftonline.com".into(),
            mailboxes: vec![],
            mailbox_count: 0,
            mailbox: Some("bob@contoso.com".into()),
            today: time::macros::date!(2026 - 12 - 03),
            service_account: Some("svc-sync@contoso.com".into()),
        }
    }

    #[test]
    fn placeholders_are_filled_with_what_the_run_knows() {
        let s = situation(AuthMode::App);
        assert_eq!(
            fill("Get-CASMailbox MAILBOX; -AppId APP_CLIENT_ID; SYNC_MAILBOX; MAILBOXES; (MAILBOX)", &s),
            "Get-CASMailbox bob@contoso.com; -AppId 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f; SYNC_MAILBOX; MAILBOXES; (bob@contoso.com)"
        );
        assert_eq!(
            fill("Enable-Mailbox SERVICEACCOUNT", &s),
            "Enable-Mailbox svc-sync@contoso.com"
        );
        // A delegated run's client id is a public client's, not the app-only app's.
        let s = Situation {
            mailbox: None,
            ..situation(AuthMode::RefreshToken)
        };
        assert_eq!(
            fill("-Identity APP_CLIENT_ID -Resource MAILBOX", &s),
            "-Identity APP_CLIENT_ID -Resource MAILBOX"
        );
    }

    #[test]
    fn steps_for_the_other_platform_are_left_out() {
        let steps = vec![
            "Exchange Server: Set-WebServicesVirtualDirectory".to_string(),
            "Exchange Online: move to OAuth".to_string(),
            "Either: check the product".to_string(),
        ];
        assert_eq!(
            for_platform(steps.clone(), Platform::ExchangeOnline),
            vec!["Exchange Online: move to OAuth", "Either: check the product"]
        );
        assert_eq!(
            for_platform(steps.clone(), Platform::ExchangeServer),
            vec![
                "Exchange Server: Set-WebServicesVirtualDirectory",
                "Either: check the product"
            ]
        );
        assert_eq!(for_platform(steps.clone(), Platform::Unknown), steps);
        let only_server = vec!["Exchange Server: Enable-Mailbox".to_string()];
        assert_eq!(for_platform(only_server.clone(), Platform::ExchangeOnline), only_server);
    }

    #[test]
    fn a_tenant_id_and_a_domain_are_not_compared() {
        assert!(is_guid("6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f"));
        assert!(!is_guid("contoso.com"));
    }
}
