//! The organization's EWS switches, decided as Exchange decides them:
//! `EwsEnabled` of the organization and of the mailbox, `EwsAllowedAppIDs`,
//! and the User-Agent lists of `EwsApplicationAccessPolicy`, by the date's
//! phase in Exchange Online (see [`crate::ews_timeline`]).
//!
//! Sources: "Control access to EWS in Exchange" (learn.microsoft.com,
//! exchange-web-services/how-to-control-access-to-ews-in-exchange, the
//! version with "Understand HTTP 403 responses in Exchange Online"): a
//! refused request gets `403 Forbidden` with `X-EWS-Policy-Reason` "EWS is
//! disabled for this user or tenant" (EwsEnabled) or "EWS is blocked by
//! policy for this user or tenant" (the app id or User-Agent lists, not said
//! which); both lists must pass. Blog 4383083 (April 2025): `False` at either
//! level blocks, `$null` at both allows. Blog 4529471 (Microsoft Japan's
//! translation): `EwsEnabled True` with an empty app id list allows every app
//! before 1 October 2026 and none from then on; `$null` keeps allowing until
//! Microsoft's rollout sets the tenant to `False`.
//!
//! Assumptions, said where a scenario relies on them: Exchange Server
//! answers its refusal with an empty 403 and no header (its EWS code
//! suppresses the body); after 1 April 2027 Exchange Online answers every EWS
//! request as disabled (no capture of the switched-off service exists).

use super::scenario::{EwsAccessPolicy, Scenario, TenantSpec, UserSpec};
use crate::ews_timeline::Phase;

pub const DISABLED: &str = "EWS is disabled for this user or tenant";
pub const BLOCKED_BY_POLICY: &str = "EWS is blocked by policy for this user or tenant";

/// Why a request may not use EWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `EwsEnabled` (organization or mailbox), or Exchange Online's EWS switched off.
    Disabled,
    /// The app id or User-Agent lists.
    BlockedByPolicy,
}

impl Refusal {
    /// The `X-EWS-Policy-Reason` Exchange Online sends (Exchange Server sends none).
    pub fn header(self, online: bool) -> Option<&'static str> {
        online.then_some(match self {
            Refusal::Disabled => DISABLED,
            Refusal::BlockedByPolicy => BLOCKED_BY_POLICY,
        })
    }
}

/// The organization-level decision for a caller (`app`: the token's client
/// id; none for a password) of `tenant` (its own settings, where it has them).
pub fn organization(
    scenario: &Scenario,
    tenant: Option<&TenantSpec>,
    phase: Phase,
    app: Option<&str>,
    user_agent: &str,
) -> Result<(), Refusal> {
    let ex = &scenario.exchange;
    let (enabled, allowed): (Option<bool>, &[String]) =
        match tenant.filter(|t| t.ews_enabled.is_some() || t.ews_allowed_app_ids.is_some()) {
            Some(t) => (t.ews_enabled, t.ews_allowed_app_ids.as_deref().unwrap_or(&[])),
            None => (ex.ews_enabled, &ex.ews_allowed_app_ids),
        };
    if ex.online {
        if phase == Phase::ShutDown {
            return Err(Refusal::Disabled);
        }
        match enabled {
            Some(false) => return Err(Refusal::Disabled),
            Some(true) => {
                let listed = app.is_some_and(|id| allowed.iter().any(|a| a.eq_ignore_ascii_case(id)));
                // An empty list allowed every app until enforcement, none since.
                let open = allowed.is_empty() && phase == Phase::Permissive;
                if !listed && !open {
                    return Err(Refusal::BlockedByPolicy);
                }
            }
            None => {}
        }
    }
    user_agent_policy(scenario, user_agent)
}

/// The mailbox-level decision: on premises a mailbox `True` overrides an
/// organization `False` (as before April 2025); online `False` at either
/// level blocks (the organization's is decided in [`organization`]).
pub fn mailbox(scenario: &Scenario, user: Option<&UserSpec>) -> Result<(), Refusal> {
    let own = user.and_then(|u| u.ews_enabled);
    let blocked = if scenario.exchange.online {
        own == Some(false)
    } else {
        own == Some(false) || (scenario.exchange.ews_enabled == Some(false) && own != Some(true))
    };
    if blocked {
        Err(Refusal::Disabled)
    } else {
        Ok(())
    }
}

fn user_agent_policy(scenario: &Scenario, user_agent: &str) -> Result<(), Refusal> {
    let ex = &scenario.exchange;
    let on = |list: &[String]| list.iter().any(|p| crate::opath::like(user_agent, p));
    match ex.ews_application_access_policy {
        Some(EwsAccessPolicy::EnforceAllowList) if !on(&ex.ews_allow_list) => Err(Refusal::BlockedByPolicy),
        Some(EwsAccessPolicy::EnforceBlockList) if on(&ex.ews_block_list) => Err(Refusal::BlockedByPolicy),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(text: &str) -> Scenario {
        let base = "name='x'\ndescription='x'\n[check]\nmailboxes=['a@contoso.com']\n";
        Scenario::parse(&format!("{base}{text}"), None).expect("scenario")
    }

    const APP: &str = "2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f";

    #[test]
    fn online_truth_table_by_phase() {
        use Phase::*;
        let null = org("[exchange]\nonline=true\n");
        let off = org("[exchange]\nonline=true\news_enabled=false\n");
        let on_empty = org("[exchange]\nonline=true\news_enabled=true\n");
        let listed = org(&format!(
            "[exchange]\nonline=true\news_enabled=true\news_allowed_app_ids=['{APP}']\n"
        ));
        let other = org(
            "[exchange]\nonline=true\news_enabled=true\news_allowed_app_ids=['11111111-2222-3333-4444-555555555555']\n",
        );
        let ua = |s: &Scenario, p| organization(s, None, p, Some(APP), "ExchangeServicesClient/15.0");
        for phase in [Permissive, Enforcement] {
            assert_eq!(ua(&null, phase), Ok(()));
            assert_eq!(ua(&off, phase), Err(Refusal::Disabled));
            assert_eq!(ua(&listed, phase), Ok(()));
            assert_eq!(ua(&other, phase), Err(Refusal::BlockedByPolicy));
            assert_eq!(
                organization(&listed, None, phase, None, "x"),
                Err(Refusal::BlockedByPolicy)
            );
        }
        assert_eq!(ua(&on_empty, Permissive), Ok(()));
        assert_eq!(ua(&on_empty, Enforcement), Err(Refusal::BlockedByPolicy));
        for s in [&null, &listed, &on_empty] {
            assert_eq!(ua(s, ShutDown), Err(Refusal::Disabled));
        }
    }

    #[test]
    fn mailbox_level_online_and_on_premises() {
        let user = |v: &str| {
            let s = org(&format!("[[users]]\naddress='a@contoso.com'\n{v}"));
            s.users[0].clone()
        };
        let online_off = org("[exchange]\nonline=true\news_enabled=false\n");
        let onprem_off = org("[exchange]\news_enabled=false\n");
        let onprem = org("");
        assert_eq!(
            mailbox(&online_off, Some(&user("ews_enabled=true"))),
            Ok(()),
            "decided by the organization check"
        );
        assert_eq!(mailbox(&onprem_off, Some(&user("ews_enabled=true"))), Ok(()));
        assert_eq!(mailbox(&onprem_off, Some(&user(""))), Err(Refusal::Disabled));
        assert_eq!(
            mailbox(&onprem, Some(&user("ews_enabled=false"))),
            Err(Refusal::Disabled)
        );
        assert_eq!(
            mailbox(&org("[exchange]\nonline=true\n"), Some(&user("ews_enabled=false"))),
            Err(Refusal::Disabled)
        );
    }

    #[test]
    fn user_agent_lists_take_wildcards() {
        let allow = org(
            "[exchange]\news_application_access_policy='enforce_allow_list'\news_allow_list=['OWA/*','CRM Sync*']\n",
        );
        assert_eq!(organization(&allow, None, Phase::Enforcement, None, "OWA/1.0"), Ok(()));
        assert_eq!(
            organization(&allow, None, Phase::Enforcement, None, "crm sync/2.1"),
            Ok(())
        );
        assert_eq!(
            organization(&allow, None, Phase::Enforcement, None, "exprobe/0.1"),
            Err(Refusal::BlockedByPolicy)
        );
        let block = org(
            "[exchange]\news_application_access_policy='enforce_block_list'\news_block_list=['python-requests*']\n",
        );
        assert_eq!(
            organization(&block, None, Phase::Enforcement, None, "python-requests/2.31"),
            Err(Refusal::BlockedByPolicy)
        );
        assert_eq!(
            organization(&block, None, Phase::Enforcement, None, "exprobe/0.1"),
            Ok(())
        );
    }
}
