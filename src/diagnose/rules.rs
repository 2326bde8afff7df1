//! Rules: from typed outcomes to raised codes. Each rule names the steps
//! that are its evidence and the mailboxes it affects.

use super::code::{Code, Stage};
use super::codes::{net_code, reply_code, tls_code};
use crate::code;
use crate::config::CheckConfig;
use crate::net::dns::DnsFailure;
use crate::probe::autodiscover::{describe_failure, AutodiscoverFailure};
use crate::probe::plan::{MailboxOutcome, Org};
use crate::probe::StepKind;
use crate::report::Severity;

/// Which mailboxes' results carry a finding raised about the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affects {
    /// The one mailbox a per-mailbox rule looked at.
    Mailbox,
    /// Every mailbox of the input.
    All,
    /// Every valid address.
    Valid,
    /// Valid addresses of this domain.
    Domain(String),
    /// Mailboxes checked against this EWS URL.
    EwsUrl(String),
    /// Mailboxes with any EWS URL.
    HasEwsUrl,
    /// No mailbox (a fact about the run or the service account).
    Nobody,
}

/// A code raised by a rule, before the catalogue fills in the words.
#[derive(Debug, Clone)]
pub struct Raised {
    pub code: Code,
    pub mailbox: Option<String>,
    pub affects: Affects,
    pub detail: String,
    pub evidence_steps: Vec<String>,
    pub stage: Stage,
    /// Overrides the catalogue's severity for this instance (a code whose
    /// weight depends on context, such as a cross-domain redirect that is or
    /// is not the only path).
    pub severity: Option<Severity>,
}

impl Raised {
    /// A finding about one mailbox.
    pub fn mailbox(m: &MailboxOutcome, code: Code, stage: Stage, detail: String, evidence: Vec<String>) -> Raised {
        Raised {
            code,
            mailbox: Some(m.mailbox.clone()),
            affects: Affects::Mailbox,
            detail,
            evidence_steps: evidence,
            stage,
            severity: None,
        }
    }

    /// A finding about the organization, carried by the mailboxes it affects.
    pub fn org(code: Code, stage: Stage, affects: Affects, detail: String, evidence: Vec<String>) -> Raised {
        Raised {
            code,
            mailbox: None,
            affects,
            detail,
            evidence_steps: evidence,
            stage,
            severity: None,
        }
    }

    pub fn with_severity(mut self, severity: Severity) -> Raised {
        self.severity = Some(severity);
        self
    }

    pub fn severity(&self) -> Severity {
        self.severity.unwrap_or_else(|| self.code.severity())
    }
}

fn autodiscover_code(f: &AutodiscoverFailure, no_dns_records: bool) -> (Code, Stage) {
    match f {
        AutodiscoverFailure::UserNotFound { .. } => (code!("autodiscover.user_not_found"), Stage::Discovery),
        AutodiscoverFailure::RedirectLoop { .. } => (code!("autodiscover.redirect_loop"), Stage::Discovery),
        AutodiscoverFailure::TooManyRedirects { .. } => (code!("autodiscover.too_many_redirects"), Stage::Discovery),
        AutodiscoverFailure::InsecureRedirect { .. } => {
            (code!("autodiscover.insecure_redirect_refused"), Stage::Discovery)
        }
        AutodiscoverFailure::InvalidResponse { .. } => (code!("autodiscover.invalid_response"), Stage::Discovery),
        AutodiscoverFailure::Tls { problem, .. } => (tls_code(*problem), Stage::Transport),
        AutodiscoverFailure::ServerError { .. } => (code!("server.error"), Stage::Transport),
        AutodiscoverFailure::Unreachable { failure, .. } => (net_code(failure), Stage::Transport),
        AutodiscoverFailure::CredentialsRejected { .. } => (code!("ews.credentials_rejected"), Stage::Transport),
        AutodiscoverFailure::NtlmNotTaken {
            negotiate_only: true, ..
        } => (code!("ews.kerberos_required"), Stage::Transport),
        AutodiscoverFailure::NtlmNotTaken { .. } => (code!("ews.auth_scheme_unavailable"), Stage::Transport),
        AutodiscoverFailure::AuthRequired { .. } => (code!("autodiscover.not_found"), Stage::Discovery),
        AutodiscoverFailure::CrossDomainRedirect { .. } | AutodiscoverFailure::CredentialsAskedAcrossDomains { .. } => {
            (code!("autodiscover.cross_domain_redirect"), Stage::Discovery)
        }
        AutodiscoverFailure::NotFound if no_dns_records => (code!("dns.no_autodiscover_records"), Stage::Dns),
        AutodiscoverFailure::NotFound => (code!("autodiscover.not_found"), Stage::Discovery),
    }
}

/// Same URL, ignoring case in scheme/host/path and a trailing slash.
fn same_ews_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// The service account and the refused input lines.
pub fn input(_config: &CheckConfig, org: &Org) -> Vec<Raised> {
    let mut raised = vec![];
    if org.input.refused.count > 0 {
        raised.push(Raised::org(
            code!("input.invalid_address"),
            Stage::Input,
            Affects::Nobody,
            org.input.refused.describe(),
            vec![StepKind::Input.as_str().into()],
        ));
    }
    if let Some(invalid) = &org.input.service_account_invalid {
        raised.push(Raised::org(
            code!("input.invalid_address"),
            Stage::Input,
            Affects::All,
            format!("service account {:?}: {}", invalid.input, invalid.reason),
            vec![StepKind::Input.as_str().into()],
        ));
    }
    raised
}

/// Per domain: a CNAME loop, a domain that does not exist, DNS servers that do not answer.
pub fn dns(_config: &CheckConfig, org: &Org) -> Vec<Raised> {
    let mut raised = vec![];
    for dns in &org.dns {
        let affects = Affects::Domain(dns.domain.clone());
        let step = StepKind::Dns.id(&dns.domain);
        let looping: Vec<String> = [
            (dns.domain.clone(), dns.domain_addresses.failure()),
            (format!("autodiscover.{}", dns.domain), dns.autodiscover_host.failure()),
        ]
        .into_iter()
        .filter(|(_, f)| matches!(f, Some(DnsFailure::CnameLoop)))
        .map(|(n, _)| n)
        .collect();
        if !looping.is_empty() {
            raised.push(Raised::org(
                code!("dns.cname_loop"),
                Stage::Dns,
                affects.clone(),
                format!("the CNAME chain of {} points back at itself", looping.join(" and ")),
                vec![step.clone()],
            ));
        }
        if dns.domain_not_found() {
            raised.push(Raised::org(
                code!("dns.domain_not_found"),
                Stage::Dns,
                affects,
                format!("{} answered NXDOMAIN (A and MX)", dns.domain),
                vec![step],
            ));
        } else if dns.servers_failed() {
            raised.push(Raised::org(
                code!("network.unreachable"),
                Stage::Dns,
                affects,
                format!(
                    "the DNS servers gave no usable answer for {}: {}",
                    dns.domain,
                    dns.domain_addresses.failure().map(|f| f.describe()).unwrap_or_default()
                ),
                vec![step],
            ));
        }
    }
    raised
}

/// An address that could not be parsed.
pub fn invalid_address(_config: &CheckConfig, org: &Org, m: &MailboxOutcome) -> Vec<Raised> {
    match org.invalid_reason(&m.mailbox) {
        Some(reason) => vec![Raised::mailbox(
            m,
            code!("input.invalid_address"),
            Stage::Input,
            format!("{:?}: {reason}", m.mailbox),
            vec![StepKind::Input.as_str().into()],
        )],
        None => vec![],
    }
}

/// Autodiscover's failure, untrusted answers and crossings, and a `--ews-url`
/// that differs from what autodiscover returns.
pub fn autodiscover(config: &CheckConfig, org: &Org, m: &MailboxOutcome) -> Vec<Raised> {
    let mut raised = vec![];
    let Some(ad) = &m.discovery.autodiscover else {
        return raised;
    };
    let step = StepKind::Autodiscover.id(&ad.mailbox);
    let domain = org.input.domain_of(&ad.mailbox).unwrap_or("");
    if let Some(f) = &ad.failure {
        let no_records = org.dns_for(domain).is_some_and(|d| d.no_autodiscover_records());
        let (code, stage) = autodiscover_code(f, no_records);
        // EWS saying "no mailbox" is the same fact as autodiscover's "user
        // not found": the impersonation rule reports the definite one.
        let ews_says_no_mailbox = code == code!("autodiscover.user_not_found")
            && m.ews.impersonation.as_ref().is_some_and(|i| {
                i.failure.is_none() && i.reply.as_ref().and_then(reply_code) == Some(code!("mailbox.not_found"))
            });
        if !ews_says_no_mailbox {
            let mut evidence = vec![step.clone()];
            if stage <= Stage::Dns {
                evidence.insert(0, StepKind::Dns.id(domain));
            }
            raised.push(Raised::mailbox(m, code, stage, describe_failure(f), evidence));
        }
    }
    raised.extend(crossings(m, ad, &step));
    if let (Some(given), Some(found)) = (&config.endpoints.ews_url, &ad.ews_url) {
        if !same_ews_url(given.as_str(), found) {
            raised.push(Raised::mailbox(
                m,
                code!("autodiscover.ews_url_mismatch"),
                Stage::Comparison,
                format!("--ews-url is {given}, autodiscover returns {found}"),
                vec![step.clone()],
            ));
        }
    }
    raised
}

/// Answers that came across a domain boundary: ignored, used without
/// credentials, or followed because `--trust-domain` allows it.
fn crossings(m: &MailboxOutcome, ad: &crate::probe::autodiscover::AutodiscoverOutcome, step: &str) -> Vec<Raised> {
    let mut raised = vec![];
    for alt in &ad.untrusted_alternatives {
        raised.push(
            Raised::mailbox(
                m,
                code!("autodiscover.cross_domain_redirect"),
                Stage::Discovery,
                format!(
                    "{} came through {}, outside the hosts trusted with credentials; it was ignored and {} used instead",
                    alt.ews_url,
                    alt.crossing.describe(),
                    ad.ews_url.as_deref().unwrap_or("a trusted answer"),
                ),
                vec![step.to_string()],
            )
            .with_severity(Severity::Warning),
        );
    }
    if let Some(c) = &ad.untrusted_used {
        raised.push(
            Raised::mailbox(
                m,
                code!("autodiscover.cross_domain_redirect"),
                Stage::Discovery,
                format!(
                    "the EWS URL came through {}; this run has no credentials, but a run with credentials would send none there \
                     unless {} is trusted with --trust-domain {}",
                    c.describe(),
                    c.host,
                    crate::probe::autodiscover::trust_suggestion(&c.host),
                ),
                vec![step.to_string()],
            )
            .with_severity(Severity::Warning),
        );
    }
    for c in ad.crossings.iter().filter(|c| c.trusted_by.is_some()) {
        raised.push(
            Raised::mailbox(
                m,
                code!("autodiscover.cross_domain_redirect"),
                Stage::Discovery,
                format!(
                    "{} was followed with credentials because --trust-domain {} allows it",
                    c.describe(),
                    c.trusted_by.as_deref().unwrap_or("")
                ),
                vec![step.to_string()],
            )
            .with_severity(Severity::Info),
        );
    }
    raised
}
