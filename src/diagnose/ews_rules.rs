//! Rules for the EWS steps and identity: reach, auth, impersonation per
//! mailbox, alias and domain checks, Exchange Online's retired paths, and the
//! propagation advice attached to privilege denials.

use url::Url;

use super::rules::Raised;
use crate::config::{AuthMode, CheckConfig};
use crate::probe::plan::RunOutcome;
use crate::protocol::ews::{self, EwsReply};

const STAGE_REACH: u8 = 4;
const STAGE_AUTH: u8 = 5;
const STAGE_IMPERSONATION: u8 = 6;
const STAGE_IDENTITY: u8 = 7;

fn host(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

use super::rules::net_code;

/// The code for an EWS answer that is not a success.
pub fn reply_code(reply: &EwsReply) -> Option<&'static str> {
    Some(match reply {
        EwsReply::Success { .. } => return None,
        EwsReply::Unauthorized {
            diagnostics: Some(d), ..
        } if d.id == Some(2000002) => "token.expired",
        EwsReply::Unauthorized {
            diagnostics: Some(d), ..
        } if d.id == Some(2000003) => "token.wrong_audience",
        EwsReply::Unauthorized {
            diagnostics: Some(d), ..
        } if d.id == Some(2000004) => "token.wrong_tenant",
        EwsReply::Unauthorized { .. } => "ews.credentials_rejected",
        EwsReply::Forbidden {
            diagnostics: Some(d), ..
        } if d.id == Some(2000008) => "token.missing_role",
        EwsReply::Forbidden { .. } => "ews.disabled",
        EwsReply::Locked => "ews.account_locked",
        EwsReply::Throttled { .. } => "ews.throttled",
        EwsReply::Redirected { .. } => "server.error",
        EwsReply::NotSoap { http_status: 404, .. } => "ews.endpoint_not_found",
        EwsReply::NotSoap { .. } => "server.error",
        EwsReply::Error { error, .. } => match error.effective_code() {
            "ErrorImpersonateUserDenied" => "impersonation.denied",
            "ErrorImpersonationDenied" => "impersonation.server_denied",
            "ErrorInvalidExchangeImpersonationHeaderData" => "impersonation.header_invalid",
            "ErrorNonExistentMailbox" | "ErrorInvalidUser" | "ErrorMailboxNotFound" | "ErrorInvalidSmtpAddress" => {
                "mailbox.not_found"
            }
            "ErrorNonPrimarySmtpAddress" => "mailbox.alias_not_primary",
            "ErrorAccessDenied" => "ews.access_denied",
            c if ews::REDISCOVER_CODES.contains(&c) => "mailbox.moved",
            c if ews::THROTTLING_CODES.contains(&c) => "ews.throttled",
            _ => "server.error",
        },
    })
}

fn describe(reply: &EwsReply) -> String {
    match reply {
        EwsReply::Error { error, .. } => {
            let mut d = format!("{}: {}", error.code, error.message);
            if error.effective_code() != error.code {
                d.push_str(&format!(" (inner {})", error.effective_code()));
            }
            for (k, v) in &error.values {
                d.push_str(&format!("; {k}={v}"));
            }
            d
        }
        EwsReply::Unauthorized { diagnostics, .. } => format!(
            "HTTP 401{}",
            diagnostics
                .as_ref()
                .and_then(|d| d.reason.clone())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        EwsReply::Forbidden { diagnostics, .. } => format!(
            "HTTP 403{}",
            diagnostics
                .as_ref()
                .and_then(|d| d.reason.clone())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        EwsReply::Success { operation, .. } => format!("{operation} succeeded"),
        EwsReply::Locked => "HTTP 456: the account is locked".into(),
        EwsReply::Throttled { status, retry_after } => format!(
            "HTTP {status}: the server is busy{}",
            retry_after.map(|s| format!(" (Retry-After {s} s)")).unwrap_or_default()
        ),
        EwsReply::Redirected { status, location } => format!(
            "HTTP {status} redirect to {}",
            location.as_deref().unwrap_or("(no Location)")
        ),
        EwsReply::NotSoap {
            http_status,
            body,
            reason,
        } => format!(
            "HTTP {http_status} with {}, not a SOAP answer: {reason}",
            body.describe()
        ),
    }
}

/// The mailbox is on Exchange Online, by DNS, autodiscover or its EWS host.
pub fn is_exchange_online(outcome: &RunOutcome, mailbox: &str) -> bool {
    let domain = outcome.input.domain_of(mailbox).unwrap_or("");
    let by_dns = outcome.dns_for(domain).is_some_and(|d| d.exchange_online);
    let by_autodiscover = outcome
        .autodiscover_for(mailbox)
        .is_some_and(|a| a.method == Some(crate::probe::autodiscover::Method::V2));
    let by_host = outcome.ews_urls.get(mailbox).is_some_and(|u| {
        let h = host(u).to_ascii_lowercase();
        h == "outlook.office365.com" || h == "outlook.office.com" || h.ends_with(".outlook.com")
    });
    by_dns || by_autodiscover || by_host
}

pub fn evaluate(config: &CheckConfig, outcome: &RunOutcome, raised: &mut Vec<Raised>) {
    let mailboxes_on = |url: &str| -> Vec<String> {
        outcome
            .ews_urls
            .iter()
            .filter(|(_, u)| *u == url)
            .map(|(m, _)| m.clone())
            .collect()
    };
    // ews.reach
    for reach in &outcome.ews_reach {
        let step = format!("ews.reach:{}", host(&reach.url));
        let affects = mailboxes_on(&reach.url);
        let mut raise = |code: &'static str, detail: String| {
            raised.push(Raised {
                code,
                mailbox: None,
                affects: affects.clone(),
                detail,
                evidence_steps: vec![step.clone()],
                stage: STAGE_REACH,
                severity: None,
            })
        };
        if let Some(f) = &reach.failure {
            raise(net_code(f), format!("{}: {}", reach.url, f.describe()));
        } else if let Some(reply) = reach.reply.as_ref().filter(|_| !reach.is_ews()) {
            raise(
                reply_code(reply).unwrap_or("server.error"),
                format!("{}: {}", reach.url, describe(reply)),
            );
        } else if let Some(c) = config
            .credentials
            .as_ref()
            .filter(|c| !reach.schemes.is_empty() && !reach.offers(c.scheme()))
        {
            raise(
                "ews.auth_scheme_unavailable",
                format!(
                    "{} offers {} but not {}",
                    reach.url,
                    reach.schemes.join(", "),
                    c.scheme()
                ),
            );
        }
    }
    // Exchange Online and a password: the ApplicationImpersonation path is gone.
    if config.auth == AuthMode::Basic {
        let online: Vec<String> = outcome
            .ews_urls
            .keys()
            .filter(|m| is_exchange_online(outcome, m))
            .cloned()
            .collect();
        if !online.is_empty() {
            raised.push(Raised {
                code: "exchange_online.application_impersonation_retired",
                mailbox: None,
                detail: format!(
                    "{} mailbox(es) on Exchange Online checked with a service account password",
                    online.len()
                ),
                evidence_steps: online.iter().map(|m| format!("autodiscover:{m}")).collect(),
                affects: online,
                stage: STAGE_REACH,
                severity: None,
            });
        }
    }
    // ews.auth
    if let Some(auth) = &outcome.ews_auth {
        let all: Vec<String> = outcome.ews_urls.keys().cloned().collect();
        let reach_failed = outcome.reach_for(&auth.url).is_some_and(|r| r.failure.is_some());
        if let (Some(f), false) = (&auth.failure, reach_failed) {
            raised.push(Raised {
                code: net_code(f),
                mailbox: None,
                affects: all.clone(),
                detail: f.describe(),
                evidence_steps: vec!["ews.auth".into()],
                stage: STAGE_AUTH,
                severity: None,
            });
        }
        if let Some(code) = auth
            .probe
            .as_ref()
            .filter(|_| !auth.credentials_accepted())
            .and_then(reply_code)
        {
            let detail = auth.probe.as_ref().map(describe).unwrap_or_default();
            raised.push(Raised {
                code,
                mailbox: None,
                affects: all,
                detail: format!("{}: {detail}", config.service_account.as_deref().unwrap_or("")),
                evidence_steps: vec!["ews.auth".into()],
                stage: STAGE_AUTH,
                severity: None,
            });
        }
        if auth.has_mailbox == Some(false) {
            raised.push(Raised {
                code: "service_account.no_mailbox",
                mailbox: None,
                affects: vec![],
                detail: format!(
                    "{}: {}",
                    config.service_account.as_deref().unwrap_or(""),
                    auth.own_inbox.as_ref().map(describe).unwrap_or_default()
                ),
                evidence_steps: vec!["ews.auth".into()],
                stage: STAGE_AUTH,
                severity: None,
            });
        }
    }
    // ews.impersonation
    for imp in &outcome.impersonation {
        let step = format!("ews.impersonation:{}", imp.mailbox);
        let (code, detail) = match (&imp.failure, &imp.reply) {
            (Some(f), _) => (net_code(f), f.describe()),
            (None, Some(reply)) => match reply_code(reply) {
                // The identity rule reports aliases with the primary address.
                Some("mailbox.alias_not_primary") | None => continue,
                Some(code) => (code, describe(reply)),
            },
            (None, None) => continue,
        };
        let detail = if imp.back_offs.is_empty() {
            detail
        } else {
            format!("{detail} (after {} back-off(s))", imp.back_offs.len())
        };
        raised.push(Raised {
            code,
            mailbox: Some(imp.mailbox.clone()),
            affects: vec![imp.mailbox.clone()],
            detail,
            evidence_steps: vec![step],
            stage: STAGE_IMPERSONATION,
            severity: None,
        });
    }
    // identity
    for id in &outcome.identity {
        let step = format!("identity:{}", id.mailbox);
        if id.alias {
            raised.push(Raised {
                code: "mailbox.alias_not_primary",
                mailbox: Some(id.mailbox.clone()),
                affects: vec![id.mailbox.clone()],
                detail: format!(
                    "{} is an alias; the primary SMTP address is {} (from {})",
                    id.mailbox,
                    id.primary_smtp_address.as_deref().unwrap_or("?"),
                    id.primary_source.as_deref().unwrap_or("?")
                ),
                evidence_steps: vec![step.clone()],
                stage: STAGE_IDENTITY,
                severity: None,
            });
        }
        if id.domain_mismatch {
            raised.push(Raised {
                code: "account.domain_mismatch",
                mailbox: Some(id.mailbox.clone()),
                affects: vec![id.mailbox.clone()],
                detail: format!(
                    "service account domain {} ≠ mailbox domain {}",
                    id.service_account_domain.as_deref().unwrap_or("?"),
                    id.mailbox_domain
                ),
                evidence_steps: vec![step],
                stage: STAGE_IDENTITY,
                severity: None,
            });
        }
    }
    // EWS saying "no mailbox" is the same fact autodiscover's "user not found" told: keep the definite one.
    let no_mailbox: Vec<String> = raised
        .iter()
        .filter(|r| r.code == "mailbox.not_found")
        .filter_map(|r| r.mailbox.clone())
        .collect();
    raised.retain(|r| {
        !(r.code == "autodiscover.user_not_found" && r.mailbox.as_ref().is_some_and(|m| no_mailbox.contains(m)))
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::protocol::ews::{ErrorForm, EwsError};

    fn error(code: &str, inner: Option<&str>) -> EwsReply {
        let mut values = BTreeMap::new();
        if let Some(i) = inner {
            values.insert("InnerErrorResponseCode".to_string(), i.to_string());
        }
        EwsReply::Error {
            http_status: 500,
            error: EwsError {
                form: ErrorForm::Fault,
                code: code.into(),
                message: String::new(),
                values,
            },
            server_version: None,
        }
    }

    #[test]
    fn every_ews_answer_maps_to_a_catalogue_code() {
        let table: &[(EwsReply, Option<&str>)] = &[
            (error("ErrorImpersonateUserDenied", None), Some("impersonation.denied")),
            (
                error("ErrorImpersonationDenied", None),
                Some("impersonation.server_denied"),
            ),
            (
                error("ErrorInvalidExchangeImpersonationHeaderData", None),
                Some("impersonation.header_invalid"),
            ),
            (error("ErrorNonExistentMailbox", None), Some("mailbox.not_found")),
            (error("ErrorInvalidUser", None), Some("mailbox.not_found")),
            (
                error("ErrorNonPrimarySmtpAddress", None),
                Some("mailbox.alias_not_primary"),
            ),
            (error("ErrorAccessDenied", None), Some("ews.access_denied")),
            (error("ErrorMailboxMoveInProgress", None), Some("mailbox.moved")),
            (
                error("ErrorInternalServerError", Some("ErrorMailboxStoreUnavailable")),
                Some("mailbox.moved"),
            ),
            (error("ErrorInternalServerError", None), Some("server.error")),
            (error("ErrorServerBusy", None), Some("ews.throttled")),
            (error("ErrorExceededConnectionCount", None), Some("ews.throttled")),
            (error("ErrorSomethingNew", None), Some("server.error")),
            (
                EwsReply::Unauthorized {
                    challenges: vec![],
                    diagnostics: None,
                },
                Some("ews.credentials_rejected"),
            ),
            (
                EwsReply::Forbidden {
                    diagnostics: None,
                    body: String::new(),
                },
                Some("ews.disabled"),
            ),
            (EwsReply::Locked, Some("ews.account_locked")),
            (
                EwsReply::Throttled {
                    status: 429,
                    retry_after: None,
                },
                Some("ews.throttled"),
            ),
            (
                EwsReply::Redirected {
                    status: 302,
                    location: None,
                },
                Some("server.error"),
            ),
            (
                EwsReply::NotSoap {
                    http_status: 404,
                    body: crate::protocol::ews::BodyKind::Html,
                    reason: String::new(),
                },
                Some("ews.endpoint_not_found"),
            ),
            (
                EwsReply::Success {
                    operation: "GetFolderResponseMessage".into(),
                    server_version: None,
                },
                None,
            ),
        ];
        for (reply, want) in table {
            let got = reply_code(reply);
            assert_eq!(got, *want, "{reply:?}");
            if let Some(code) = got {
                assert!(
                    crate::diagnose::catalogue::lookup(code).is_some(),
                    "{code} has a catalogue entry"
                );
            }
        }
    }
}
