//! `identity`: the primary SMTP address versus the address given (alias
//! detection, from autodiscover or EWS), and the service account's domain
//! versus the mailbox's.

use serde::Serialize;

use super::autodiscover::AutodiscoverOutcome;
use super::ews::ImpersonationOutcome;
use super::{StepBuilder, StepKind};
use crate::report::{Step, StepStatus};

#[derive(Debug, Clone, Serialize)]
pub struct IdentityOutcome {
    pub mailbox: String,
    pub primary_smtp_address: Option<String>,
    /// `autodiscover` or `ews`.
    pub primary_source: Option<String>,
    /// The address given is not the primary SMTP address.
    pub alias: bool,
    pub mailbox_domain: String,
    pub service_account_domain: Option<String>,
    pub domain_mismatch: bool,
    /// The mailbox's tenant (from `realm`) and the token's (`tid`), when known.
    pub mailbox_tenant: Option<String>,
    pub token_tenant: Option<String>,
    pub tenant_mismatch: bool,
}

/// Tenants known for one mailbox.
#[derive(Debug, Clone, Default)]
pub struct Tenants {
    pub mailbox: Option<String>,
    pub token: Option<String>,
}

fn domain(addr: &str) -> Option<String> {
    addr.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())
}

pub fn run(
    mailbox: &str,
    service_account: Option<&str>,
    autodiscover: Option<&AutodiscoverOutcome>,
    impersonation: Option<&ImpersonationOutcome>,
    graph_user: Option<&crate::protocol::graph::GraphUser>,
    tenants: &Tenants,
) -> (IdentityOutcome, Step) {
    let step = StepBuilder::new(
        StepKind::Identity,
        Some(mailbox),
        Some(mailbox),
        format!("Identity of {mailbox}"),
    );
    let from_ews = impersonation.and_then(|i| i.primary_from_ews.clone());
    let from_graph = graph_user.and_then(|u| u.primary_smtp());
    let (primary, source) = match (
        autodiscover.and_then(|a| a.primary_smtp_address.clone()),
        from_ews,
        from_graph,
    ) {
        (Some(p), _, _) => (Some(p), Some("autodiscover".to_string())),
        (None, Some(p), _) => (Some(p), Some("ews".to_string())),
        (None, None, Some(p)) => (Some(p), Some("graph".to_string())),
        (None, None, None) => (None, None),
    };
    let tenant_mismatch = match (&tenants.mailbox, &tenants.token) {
        (Some(m), Some(t)) => !m.eq_ignore_ascii_case(t),
        _ => false,
    };
    let alias = primary.as_deref().is_some_and(|p| !p.eq_ignore_ascii_case(mailbox));
    let mailbox_domain = domain(mailbox).unwrap_or_default();
    let sa_domain = service_account.and_then(domain);
    let domain_mismatch = sa_domain.as_deref().is_some_and(|d| d != mailbox_domain);
    let outcome = IdentityOutcome {
        mailbox: mailbox.to_string(),
        primary_smtp_address: primary.clone(),
        primary_source: source,
        alias,
        mailbox_domain: mailbox_domain.clone(),
        service_account_domain: sa_domain.clone(),
        domain_mismatch,
        mailbox_tenant: tenants.mailbox.clone(),
        token_tenant: tenants.token.clone(),
        tenant_mismatch,
    };
    let mut parts = vec![];
    match (&primary, alias) {
        (Some(p), true) => parts.push(format!("{mailbox} is not the primary SMTP address; the primary is {p}")),
        (Some(_), false) => parts.push("the address given is the primary SMTP address".to_string()),
        (None, _) => parts.push("primary SMTP address not known (neither autodiscover nor EWS told it)".to_string()),
    }
    if let Some(d) = &sa_domain {
        if domain_mismatch {
            parts.push(format!(
                "service account domain {d} differs from the mailbox domain {mailbox_domain}"
            ));
        } else {
            parts.push(format!("service account in the same domain ({d})"));
        }
    }
    if let (Some(m), Some(t)) = (&tenants.mailbox, &tenants.token) {
        if tenant_mismatch {
            parts.push(format!("the token is for tenant {t}, the mailbox is in tenant {m}"));
        } else {
            parts.push(format!("same tenant as the token ({t})"));
        }
    }
    let status = if tenant_mismatch {
        StepStatus::Fail
    } else if alias || domain_mismatch {
        StepStatus::Warn
    } else {
        StepStatus::Pass
    };
    let step = step.finish(status, parts.join("; "), &outcome, vec![]);
    (outcome, step)
}
