//! When no candidate decided: the most telling failure, and its wording.

use super::model::{Attempt, AttemptResult, AutodiscoverFailure};
use super::{Discovery, CANDIDATE_ORDER};
use crate::net::NetFailure;

impl Discovery<'_> {
    /// No candidate decided: the most telling failure among this address's attempts.
    pub(super) fn rank_failure(&self, address: &str) -> AutodiscoverFailure {
        let mut attempts = self.attempts.lock().map(|a| a.clone()).unwrap_or_default();
        // Equal ranks go to the higher-precedence candidate, whatever finished first.
        attempts.sort_by_key(|a| {
            CANDIDATE_ORDER
                .iter()
                .position(|c| *c == a.candidate)
                .unwrap_or(usize::MAX)
        });
        let mut best: Option<(u8, AutodiscoverFailure)> = None;
        let mut rejected = vec![];
        let mut auth_required = vec![];
        let mut ntlm_refused = vec![];
        let mut kerberos_only = true;
        for a in attempts.iter().filter(|a| a.address.eq_ignore_ascii_case(address)) {
            match &a.result {
                AttemptResult::CredentialsRejected => rejected.push(a.url.clone()),
                AttemptResult::NtlmNotTaken { negotiate_only } => {
                    ntlm_refused.push(a.url.clone());
                    kerberos_only &= *negotiate_only;
                }
                AttemptResult::AuthRequired
                | AttemptResult::CredentialsWithheld {
                    untrusted_host: None, ..
                } => auth_required.push(a.url.clone()),
                _ => {}
            }
            if let Some((rank, f)) = ranked(a) {
                if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                    best = Some((rank, f));
                }
            }
        }
        // One 401 is not proof of bad credentials; several are (Exchange asks once, then rejects).
        if rejected.len() >= 2 && best.as_ref().is_none_or(|(r, _)| *r < 65) {
            return AutodiscoverFailure::CredentialsRejected { urls: rejected };
        }
        if let Some((_, f)) = best {
            return f;
        }
        if !rejected.is_empty() {
            return AutodiscoverFailure::CredentialsRejected { urls: rejected };
        }
        if !ntlm_refused.is_empty() {
            return AutodiscoverFailure::NtlmNotTaken {
                urls: ntlm_refused,
                negotiate_only: kerberos_only,
            };
        }
        if !auth_required.is_empty() {
            return AutodiscoverFailure::AuthRequired { urls: auth_required };
        }
        AutodiscoverFailure::NotFound
    }
}

/// An attempt's failure and how telling it is (higher ranks win); `None`
/// for what only counts together with the others (rejections, NTLM not
/// taken, authentication asked for) or says nothing (a name not in DNS).
fn ranked(a: &Attempt) -> Option<(u8, AutodiscoverFailure)> {
    match &a.result {
        AttemptResult::RedirectRefused { location, reason } => Some((
            90,
            AutodiscoverFailure::InsecureRedirect {
                url: a.url.clone(),
                location: location.clone(),
                reason: reason.clone(),
            },
        )),
        AttemptResult::InvalidResponse { reason } => Some((
            80,
            AutodiscoverFailure::InvalidResponse {
                url: a.url.clone(),
                reason: reason.clone(),
            },
        )),
        AttemptResult::Network {
            failure: NetFailure::Tls { problem, message },
        } => Some((
            70,
            AutodiscoverFailure::Tls {
                url: a.url.clone(),
                problem: *problem,
                message: message.clone(),
            },
        )),
        AttemptResult::ServiceError { code, message } => Some((
            60,
            AutodiscoverFailure::ServerError {
                url: a.url.clone(),
                detail: match crate::protocol::pox::error_meaning(code) {
                    Some(meaning) => format!("autodiscover error {code} ({meaning}): {message}"),
                    None => format!("autodiscover error {code}: {message}"),
                },
            },
        )),
        AttemptResult::HttpStatus { status } if *status >= 500 => Some((
            55,
            AutodiscoverFailure::ServerError {
                url: a.url.clone(),
                detail: format!("HTTP {status}"),
            },
        )),
        // Discovery led to a host outside the trusted ones, which
        // wants credentials: that is the cross-domain redirect, not "not found".
        AttemptResult::CredentialsWithheld {
            untrusted_host: Some(host),
            ..
        } => Some((
            75,
            AutodiscoverFailure::CredentialsAskedAcrossDomains {
                url: a.url.clone(),
                host: host.clone(),
            },
        )),
        AttemptResult::Network {
            failure: NetFailure::Dns { .. },
        } => None,
        AttemptResult::Network { failure } => Some((
            30,
            AutodiscoverFailure::Unreachable {
                url: a.url.clone(),
                failure: failure.clone(),
            },
        )),
        _ => None,
    }
}

pub fn describe_failure(f: &AutodiscoverFailure) -> String {
    match f {
        AutodiscoverFailure::UserNotFound { url, message } => format!("{url} does not know this address: {message}"),
        AutodiscoverFailure::RedirectLoop { repeated } => format!("redirect loop: {repeated} was reached twice"),
        AutodiscoverFailure::TooManyRedirects { limit } => format!("more than {limit} redirects"),
        AutodiscoverFailure::InsecureRedirect { url, location, reason } => {
            format!("{url} redirected to {location}: {reason}")
        }
        AutodiscoverFailure::InvalidResponse { url, reason } => format!("{url}: {reason}"),
        AutodiscoverFailure::Tls { url, message, .. } => format!("{url}: {message}"),
        AutodiscoverFailure::ServerError { url, detail } => format!("{url}: {detail}"),
        AutodiscoverFailure::Unreachable { url, failure } => format!("{url}: {}", failure.describe()),
        AutodiscoverFailure::CredentialsRejected { urls } => {
            format!("credentials rejected (401) by {}", urls.join(", "))
        }
        AutodiscoverFailure::NtlmNotTaken { urls, negotiate_only } => format!(
            "{} answered the NTLM NEGOTIATE message with another 401 and no CHALLENGE{}",
            urls.join(", "),
            if *negotiate_only {
                ": only Negotiate is offered, and it takes Kerberos only"
            } else {
                ": NTLM is not offered"
            }
        ),
        AutodiscoverFailure::AuthRequired { urls } => format!(
            "{} asked for authentication and no credentials were given",
            urls.join(", ")
        ),
        AutodiscoverFailure::CredentialsAskedAcrossDomains { url, host } => format!(
            "discovery was led to {url}, outside the hosts trusted with credentials, which asked for them: \
             none were sent, and no trusted endpoint answered; if {host} belongs to your organization, re-run with --trust-domain {}",
            trust_suggestion(host),
        ),
        AutodiscoverFailure::CrossDomainRedirect { ews_url, crossing } => format!(
            "the only EWS URL found, {ews_url}, came through {}, outside the hosts trusted with credentials: \
             nothing was sent to it with credentials; if {} belongs to your organization, re-run with --trust-domain {}",
            crossing.describe(),
            crossing.host,
            trust_suggestion(&crossing.host),
        ),
        AutodiscoverFailure::NotFound => "no autodiscover endpoint answered for this address".into(),
    }
}

/// The domain to suggest for `--trust-domain`: the host without a leading
/// `autodiscover.` label.
pub fn trust_suggestion(host: &str) -> String {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match h.strip_prefix("autodiscover.") {
        Some(rest) if rest.contains('.') => rest.to_string(),
        _ => h,
    }
}
