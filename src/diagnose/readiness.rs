//! Graph readiness of an app-only EWS run: can the same app read each
//! mailbox through Microsoft Graph today? Exchange Online's EWS is switched
//! off on 1 April 2027, so "ready for Graph: N of M mailboxes" is how far the
//! product's move is from working. The verdict comes from the same app's
//! Graph read of the inbox (`graph.mailbox`, a warning step when it fails),
//! or from the product's own Graph calls where it uses both APIs.
//!
//! Reasons are few and shared by mailboxes alike (they are counted per
//! reason in bulk runs); what Graph answered for one mailbox is its detail.

use super::code::Stage;
use super::oauth_rules::{aadsts_code, graph_code};
use super::rules::Raised;
use crate::code;
use crate::config::{AuthMode, CheckConfig, MailApi};
use crate::probe::graph::GraphOutcome;
use crate::probe::oauth::TokenOutcome;
use crate::probe::plan::{MailboxOutcome, Org};
use crate::probe::StepKind;
use crate::report::Readiness;

/// Whether the run judges Graph readiness: an app-only run that uses EWS.
pub fn judged(config: &CheckConfig) -> bool {
    config.auth.mode() == AuthMode::App && config.api.ews() && (config.graph_readiness || config.api.graph())
}

/// The Graph token the verdict depends on.
fn token<'o>(config: &CheckConfig, org: &'o Org) -> Option<&'o TokenOutcome> {
    if config.api.graph() {
        org.token_for(MailApi::Graph)
    } else {
        org.readiness_token.as_ref()
    }
}

/// Why no Graph token came, in a reason.
fn token_reason(t: &TokenOutcome) -> Option<(String, String)> {
    if let Some(e) = &t.error {
        let code = e.aadsts.map(aadsts_code);
        let reason = match code.map(|c| c.as_str()) {
            Some("oauth.consent_required") | Some("oauth.app_not_found") => {
                "no Graph token: the app has no consent in the tenant".to_string()
            }
            Some(other) => format!("no Graph token ({other})"),
            None => "no Graph token: Entra ID refused the request".to_string(),
        };
        let detail = format!(
            "HTTP {} {}{}",
            e.http_status,
            e.error,
            e.aadsts.map(|n| format!(" AADSTS{n}")).unwrap_or_default()
        );
        return Some((reason, detail));
    }
    if let Some(f) = &t.failure {
        return Some(("no Graph token: Entra ID was not reachable".into(), f.describe()));
    }
    t.unexpected_answer.as_ref().map(|a| {
        (
            "no Graph token: the token endpoint's answer was not a token".into(),
            a.clone(),
        )
    })
}

/// Whether the token holds a Mail application permission (tenant-wide consent).
fn consented_mail(t: Option<&TokenOutcome>) -> bool {
    t.and_then(|t| t.claims.as_ref())
        .is_some_and(|c| c.roles.iter().any(|r| r.starts_with("Mail.")))
}

/// The verdict from the Graph read of the inbox.
fn from_graph(g: &GraphOutcome, consented: bool) -> Readiness {
    let call = &g.inbox;
    if g.inbox_id.is_some() {
        let reason = if consented {
            "readable: tenant-wide Mail permission (reaches every mailbox; an RBAC scope does not narrow it)"
        } else {
            "readable: RBAC for Applications (no Mail permission in the token)"
        };
        return Readiness {
            ready: true,
            reason: reason.into(),
            detail: String::new(),
        };
    }
    let (reason, detail) = match (&call.failure, &call.error) {
        (Some(f), _) => ("Graph was not reachable".to_string(), f.describe()),
        (None, Some(e)) => {
            let detail = format!("HTTP {} {}: {}", e.http_status, e.code, e.message);
            let reason = match graph_code(e).as_str() {
                "graph.access_policy_denied" => "an application access policy leaves the mailbox out",
                "graph.access_denied" if consented => {
                    "the tenant-wide Mail permission is narrowed (an application access policy) and leaves the mailbox out"
                }
                "graph.access_denied" => {
                    "no Mail permission reaches the mailbox: no Mail.* consent, and no RBAC role (Application Mail.Read) whose scope holds it"
                }
                "graph.identity_not_found" => "Graph cannot identify the app in the tenant (no service principal or consent)",
                "mailbox.not_found" if e.code == "MailboxNotEnabledForRESTAPI" => {
                    "the mailbox is not in Exchange Online (on premises, inactive or soft-deleted): Graph cannot reach it"
                }
                "mailbox.not_found" => "Graph does not know the mailbox in the app's tenant",
                "graph.throttled" => "Graph throttled the check",
                "token.expired" | "token.wrong_audience" | "token.malformed" => "Graph refused the token",
                _ => "Graph answered with an error",
            };
            (reason.to_string(), detail)
        }
        (None, None) => ("Graph's answer had no inbox".to_string(), String::new()),
    };
    Readiness {
        ready: false,
        reason,
        detail,
    }
}

/// One mailbox's Graph readiness, where the run judges it.
pub fn of(config: &CheckConfig, org: &Org, m: &MailboxOutcome) -> Option<Readiness> {
    if !judged(config) || m.record.unchecked || org.invalid_reason(&m.mailbox).is_some() {
        return None;
    }
    let t = token(config, org);
    let graph = if config.api.graph() {
        m.graph.as_ref()
    } else {
        m.graph_readiness.as_ref()
    };
    if let Some(g) = graph {
        return Some(from_graph(g, consented_mail(t)));
    }
    // No Graph call for this mailbox: the token's failure, or the step's skip.
    let skipped = || {
        let step = m
            .record
            .steps
            .iter()
            .find(|s| s.id == StepKind::GraphMailbox.id(&m.mailbox));
        let why = step
            .and_then(|s| s.skipped_because.clone())
            .or_else(|| step.map(|s| s.detail.clone()))
            .unwrap_or_default();
        ("not checked: the Graph read was skipped".to_string(), why)
    };
    let (reason, detail) = t.and_then(token_reason).unwrap_or_else(skipped);
    Some(Readiness {
        ready: false,
        reason,
        detail,
    })
}

/// `exchange_online.graph_not_ready`: a warning per mailbox an EWS-only run
/// found not ready (a run that uses Graph reports its Graph failures itself).
pub fn rule(config: &CheckConfig, org: &Org, m: &MailboxOutcome) -> Vec<Raised> {
    if config.api.graph() {
        return vec![];
    }
    let Some(r) = of(config, org, m).filter(|r| !r.ready) else {
        return vec![];
    };
    let step = if m.graph_readiness.is_some() {
        StepKind::GraphMailbox.id(&m.mailbox)
    } else {
        StepKind::Token.id(MailApi::Graph.as_str())
    };
    let detail = if r.detail.is_empty() {
        r.reason
    } else {
        format!("{}: {}", r.reason, r.detail)
    };
    vec![Raised::mailbox(
        m,
        code!("exchange_online.graph_not_ready"),
        Stage::Advice,
        detail,
        vec![step],
    )]
}
