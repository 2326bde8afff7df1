//! Rules: from typed outcomes to raised codes. Each rule names the steps
//! that are its evidence and the mailboxes it affects.

use crate::config::CheckConfig;
use crate::net::dns::DnsFailure;
use crate::net::{NetFailure, TlsProblem};
use crate::probe::autodiscover::{describe_failure, AutodiscoverFailure};
use crate::probe::plan::RunOutcome;
use crate::report::Severity;

/// A code raised by a rule, before the catalogue fills in the words.
#[derive(Debug, Clone)]
pub struct Raised {
    pub code: &'static str,
    pub mailbox: Option<String>,
    /// Mailboxes whose result carries this code.
    pub affects: Vec<String>,
    pub detail: String,
    pub evidence_steps: Vec<String>,
    /// Earlier stages are closer to the root cause: input 0, dns 1, transport 2, discovery 3, comparison 4.
    pub stage: u8,
    /// Overrides the catalogue's severity for this instance (a code whose
    /// weight depends on context, such as a cross-domain redirect that is or
    /// is not the only path).
    pub severity: Option<Severity>,
}

pub fn tls_code(problem: TlsProblem) -> &'static str {
    match problem {
        TlsProblem::CertificateExpired => "tls.certificate_expired",
        TlsProblem::CertificateNotYetValid => "tls.certificate_not_yet_valid",
        TlsProblem::NameMismatch => "tls.certificate_name_mismatch",
        TlsProblem::Untrusted => "tls.certificate_untrusted",
        TlsProblem::Handshake => "tls.handshake_failed",
        TlsProblem::ProtocolVersion => "tls.protocol_version",
    }
}

/// The code for a request that produced no HTTP answer.
pub fn net_code(failure: &NetFailure) -> &'static str {
    match failure {
        NetFailure::Tls { problem, .. } => tls_code(*problem),
        NetFailure::Protocol { .. } => "http.protocol_error",
        _ => "network.unreachable",
    }
}

fn autodiscover_code(f: &AutodiscoverFailure, no_dns_records: bool) -> (&'static str, u8) {
    match f {
        AutodiscoverFailure::UserNotFound { .. } => ("autodiscover.user_not_found", 3),
        AutodiscoverFailure::RedirectLoop { .. } => ("autodiscover.redirect_loop", 3),
        AutodiscoverFailure::TooManyRedirects { .. } => ("autodiscover.too_many_redirects", 3),
        AutodiscoverFailure::InsecureRedirect { .. } => ("autodiscover.insecure_redirect_refused", 3),
        AutodiscoverFailure::InvalidResponse { .. } => ("autodiscover.invalid_response", 3),
        AutodiscoverFailure::Tls { problem, .. } => (tls_code(*problem), 2),
        AutodiscoverFailure::ServerError { .. } => ("server.error", 2),
        AutodiscoverFailure::Unreachable { failure, .. } => (net_code(failure), 2),
        AutodiscoverFailure::CredentialsRejected { .. } => ("ews.credentials_rejected", 2),
        AutodiscoverFailure::AuthRequired { .. } => ("autodiscover.not_found", 3),
        AutodiscoverFailure::CrossDomainRedirect { .. } => ("autodiscover.cross_domain_redirect", 3),
        AutodiscoverFailure::NotFound if no_dns_records => ("dns.no_autodiscover_records", 1),
        AutodiscoverFailure::NotFound => ("autodiscover.not_found", 3),
    }
}

/// Same URL, ignoring case in scheme/host/path and a trailing slash.
fn same_ews_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

pub fn evaluate(config: &CheckConfig, outcome: &RunOutcome) -> Vec<Raised> {
    let mut raised = vec![];
    for invalid in &outcome.input.invalid {
        raised.push(Raised {
            code: "input.invalid_address",
            mailbox: Some(invalid.input.clone()),
            affects: vec![invalid.input.clone()],
            detail: format!("{:?}: {}", invalid.input, invalid.reason),
            evidence_steps: vec!["input".into()],
            stage: 0,
            severity: None,
        });
    }
    let unchecked: Vec<String> = outcome
        .steps
        .iter()
        .filter(|s| s.skipped_because.as_deref() == Some(crate::probe::plan::DEADLINE))
        .filter_map(|s| s.mailbox.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !unchecked.is_empty() {
        raised.push(Raised {
            code: "run.deadline_reached",
            mailbox: None,
            detail: format!(
                "{} of {} mailboxes were not fully checked before the deadline ({} s)",
                unchecked.len(),
                config.mailboxes.len(),
                config.net.deadline.as_secs_f64()
            ),
            affects: unchecked,
            evidence_steps: vec![],
            stage: 2,
            severity: None,
        });
    }
    if outcome.input.refused.count > 0 {
        raised.push(Raised {
            code: "input.invalid_address",
            mailbox: None,
            affects: vec![],
            detail: outcome.input.refused.describe(),
            evidence_steps: vec!["input".into()],
            stage: 0,
            severity: None,
        });
    }
    if let Some(invalid) = &outcome.input.service_account_invalid {
        raised.push(Raised {
            code: "input.invalid_address",
            mailbox: None,
            affects: config.mailboxes.clone(),
            detail: format!("service account {:?}: {}", invalid.input, invalid.reason),
            evidence_steps: vec!["input".into()],
            stage: 0,
            severity: None,
        });
    }
    for dns in &outcome.dns {
        let affected: Vec<String> = outcome
            .input
            .mailboxes
            .iter()
            .filter(|(_, a)| a.domain == dns.domain)
            .map(|(m, _)| m.clone())
            .collect();
        let step = format!("dns:{}", dns.domain);
        let looping: Vec<String> = [
            (dns.domain.clone(), dns.domain_addresses.failure()),
            (format!("autodiscover.{}", dns.domain), dns.autodiscover_host.failure()),
        ]
        .into_iter()
        .filter(|(_, f)| matches!(f, Some(DnsFailure::CnameLoop)))
        .map(|(n, _)| n)
        .collect();
        if !looping.is_empty() {
            raised.push(Raised {
                code: "dns.cname_loop",
                mailbox: None,
                affects: affected.clone(),
                detail: format!("the CNAME chain of {} points back at itself", looping.join(" and ")),
                evidence_steps: vec![step.clone()],
                stage: 1,
                severity: None,
            });
        }
        if dns.domain_not_found() {
            raised.push(Raised {
                code: "dns.domain_not_found",
                mailbox: None,
                affects: affected.clone(),
                detail: format!("{} answered NXDOMAIN (A and MX)", dns.domain),
                evidence_steps: vec![step],
                stage: 1,
                severity: None,
            });
        } else if dns.servers_failed() {
            raised.push(Raised {
                code: "network.unreachable",
                mailbox: None,
                affects: affected,
                detail: format!(
                    "the DNS servers gave no usable answer for {}: {}",
                    dns.domain,
                    dns.domain_addresses.failure().map(|f| f.describe()).unwrap_or_default()
                ),
                evidence_steps: vec![step],
                stage: 1,
                severity: None,
            });
        }
    }
    for ad in &outcome.autodiscover {
        let step = format!("autodiscover:{}", ad.mailbox);
        let domain = outcome.input.domain_of(&ad.mailbox).unwrap_or("");
        if let Some(f) = &ad.failure {
            let no_records = outcome.dns_for(domain).is_some_and(|d| d.no_autodiscover_records());
            let (code, stage) = autodiscover_code(f, no_records);
            let mut evidence = vec![step.clone()];
            if stage <= 1 {
                evidence.insert(0, format!("dns:{domain}"));
            }
            raised.push(Raised {
                code,
                mailbox: Some(ad.mailbox.clone()),
                affects: vec![ad.mailbox.clone()],
                detail: describe_failure(f),
                evidence_steps: evidence,
                stage,
                severity: None,
            });
        }
        for alt in &ad.untrusted_alternatives {
            raised.push(Raised {
                code: "autodiscover.cross_domain_redirect",
                mailbox: Some(ad.mailbox.clone()),
                affects: vec![ad.mailbox.clone()],
                detail: format!(
                    "{} came through {}, outside the hosts trusted with credentials; it was ignored and {} used instead",
                    alt.ews_url,
                    alt.crossing.describe(),
                    ad.ews_url.as_deref().unwrap_or("a trusted answer"),
                ),
                evidence_steps: vec![step.clone()],
                stage: 3,
                severity: Some(Severity::Warning),
            });
        }
        if let Some(c) = &ad.untrusted_used {
            raised.push(Raised {
                code: "autodiscover.cross_domain_redirect",
                mailbox: Some(ad.mailbox.clone()),
                affects: vec![ad.mailbox.clone()],
                detail: format!(
                    "the EWS URL came through {}; this run has no credentials, but a run with credentials would send none there \
                     unless {} is trusted with --trust-domain {}",
                    c.describe(),
                    c.host,
                    crate::probe::autodiscover::trust_suggestion(&c.host),
                ),
                evidence_steps: vec![step.clone()],
                stage: 3,
                severity: Some(Severity::Warning),
            });
        }
        for c in ad.crossings.iter().filter(|c| c.trusted_by.is_some()) {
            raised.push(Raised {
                code: "autodiscover.cross_domain_redirect",
                mailbox: Some(ad.mailbox.clone()),
                affects: vec![ad.mailbox.clone()],
                detail: format!(
                    "{} was followed with credentials because --trust-domain {} allows it",
                    c.describe(),
                    c.trusted_by.as_deref().unwrap_or("")
                ),
                evidence_steps: vec![step.clone()],
                stage: 3,
                severity: Some(Severity::Info),
            });
        }
        if let (Some(given), Some(found)) = (&config.endpoints.ews_url, &ad.ews_url) {
            if !same_ews_url(given.as_str(), found) {
                raised.push(Raised {
                    code: "autodiscover.ews_url_mismatch",
                    mailbox: Some(ad.mailbox.clone()),
                    affects: vec![ad.mailbox.clone()],
                    detail: format!("--ews-url is {given}, autodiscover returns {found}"),
                    evidence_steps: vec![step.clone()],
                    stage: 4,
                    severity: None,
                });
            }
        }
    }
    raised
}
