//! What an answer or a failure is called: the catalogue code for an EWS
//! answer, an EWS response code, a TLS problem and a request that got no
//! HTTP answer. The rules of every step name what they saw through these.

use super::code::Code;
use crate::code;
use crate::net::{NetFailure, TlsProblem};
use crate::protocol::ews::{self, EwsReply};

/// The code for a TLS problem.
pub fn tls_code(problem: TlsProblem) -> Code {
    match problem {
        TlsProblem::CertificateExpired => code!("tls.certificate_expired"),
        TlsProblem::CertificateNotYetValid => code!("tls.certificate_not_yet_valid"),
        TlsProblem::NameMismatch => code!("tls.certificate_name_mismatch"),
        TlsProblem::Untrusted => code!("tls.certificate_untrusted"),
        TlsProblem::Handshake => code!("tls.handshake_failed"),
        TlsProblem::ProtocolVersion => code!("tls.protocol_version"),
    }
}

/// The code for a request that produced no HTTP answer.
pub fn net_code(failure: &NetFailure) -> Code {
    match failure {
        NetFailure::Tls { problem, .. } => tls_code(*problem),
        NetFailure::Protocol { .. } => code!("http.protocol_error"),
        _ => code!("network.unreachable"),
    }
}

/// The code for an EWS answer that is not a success.
pub fn reply_code(reply: &EwsReply) -> Option<Code> {
    Some(match reply {
        EwsReply::Success { .. } => return None,
        EwsReply::Unauthorized {
            diagnostics: Some(d), ..
        } if d.id == Some(2000002) => code!("token.expired"),
        EwsReply::Unauthorized {
            diagnostics: Some(d), ..
        } if d.id == Some(2000003) => code!("token.wrong_audience"),
        EwsReply::Unauthorized {
            diagnostics: Some(d), ..
        } if d.id == Some(2000004) => code!("token.wrong_tenant"),
        // "The token contains no permissions": the token's roles, not the
        // credentials (Exchange Online answers it with 401 as well as 403).
        EwsReply::Unauthorized {
            diagnostics: Some(d), ..
        } if d.id == Some(2000008) => code!("token.missing_role"),
        // NTLM offered in name only: Negotiate without NTLM behind it is Kerberos.
        EwsReply::Unauthorized {
            ntlm: Some(ews::NtlmStage::NoChallenge),
            challenges,
            ..
        } if challenges.iter().any(|c| c.scheme.eq_ignore_ascii_case("Negotiate"))
            && !challenges.iter().any(|c| c.scheme.eq_ignore_ascii_case("NTLM")) =>
        {
            code!("ews.kerberos_required")
        }
        EwsReply::Unauthorized {
            ntlm: Some(ews::NtlmStage::NoChallenge),
            ..
        } => code!("ews.auth_scheme_unavailable"),
        EwsReply::Unauthorized { .. } => code!("ews.credentials_rejected"),
        EwsReply::Forbidden {
            diagnostics: Some(d), ..
        } if d.id == Some(2000008) => code!("token.missing_role"),
        // Exchange Online's EWS access controls say which one refused.
        EwsReply::Forbidden {
            policy_reason: Some(reason),
            ..
        } if policy_says(reason, "disabled") => code!("exchange_online.ews_disabled"),
        EwsReply::Forbidden {
            policy_reason: Some(reason),
            ..
        } if policy_says(reason, "blocked by policy") => code!("exchange_online.ews_app_not_allowed"),
        EwsReply::Forbidden { .. } => code!("ews.disabled"),
        EwsReply::Locked => code!("ews.account_locked"),
        EwsReply::Throttled { .. } => code!("ews.throttled"),
        EwsReply::Redirected { .. } => code!("server.error"),
        EwsReply::NotSoap { http_status: 404, .. } => code!("ews.endpoint_not_found"),
        EwsReply::NotSoap { .. } => code!("server.error"),
        EwsReply::Error { error, .. } => response_code(error.effective_code()),
    })
}

/// Whether an `X-EWS-Policy-Reason` ("EWS is disabled for this user or
/// tenant", "EWS is blocked by policy for this user or tenant") says `what`,
/// whatever its case and spacing.
fn policy_says(reason: &str, what: &str) -> bool {
    let words = |t: &str| {
        t.split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
    };
    words(reason).contains(&words(what))
}

/// The code for an EWS response code that is not NoError.
pub fn response_code(code: &str) -> Code {
    match code {
        "ErrorImpersonateUserDenied" => code!("impersonation.denied"),
        "ErrorImpersonationDenied" => code!("impersonation.server_denied"),
        "ErrorInvalidExchangeImpersonationHeaderData" => code!("impersonation.header_invalid"),
        "ErrorNonExistentMailbox" | "ErrorInvalidUser" | "ErrorMailboxNotFound" | "ErrorInvalidSmtpAddress" => {
            code!("mailbox.not_found")
        }
        "ErrorNonPrimarySmtpAddress" => code!("mailbox.alias_not_primary"),
        "ErrorAccessDenied" | "ErrorFolderNotFound" | "ErrorItemSave" | "ErrorCreateItemAccessDenied" => {
            code!("ews.access_denied")
        }
        c if ews::REDISCOVER_CODES.contains(&c) => code!("mailbox.moved"),
        c if ews::THROTTLING_CODES.contains(&c) => code!("ews.throttled"),
        _ => code!("server.error"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::protocol::ews::{ErrorForm, EwsError};

    /// Each answer's code, and that it has a catalogue entry.
    fn check(table: &[(EwsReply, Option<&str>)]) {
        for (reply, want) in table {
            let got = reply_code(reply).map(Code::as_str);
            assert_eq!(got, *want, "{reply:?}");
            if let Some(code) = got {
                assert!(crate::catalogue::lookup(code).is_some(), "{code} has a catalogue entry");
            }
        }
    }

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
    fn every_ews_error_code_maps_to_a_catalogue_code() {
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
        ];
        check(table);
    }

    #[test]
    fn every_other_ews_answer_maps_to_a_catalogue_code() {
        let table: &[(EwsReply, Option<&str>)] = &[
            (
                EwsReply::Unauthorized {
                    challenges: vec![],
                    diagnostics: None,
                    ntlm: None,
                },
                Some("ews.credentials_rejected"),
            ),
            (
                EwsReply::Forbidden {
                    diagnostics: None,
                    body: String::new(),
                    policy_reason: None,
                },
                Some("ews.disabled"),
            ),
            (
                EwsReply::Forbidden {
                    diagnostics: None,
                    body: String::new(),
                    policy_reason: Some("EWS is disabled for this user or tenant".into()),
                },
                Some("exchange_online.ews_disabled"),
            ),
            (
                EwsReply::Forbidden {
                    diagnostics: None,
                    body: String::new(),
                    policy_reason: Some("EWS  is BLOCKED by policy for this user or tenant".into()),
                },
                Some("exchange_online.ews_app_not_allowed"),
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
        check(table);
    }
}
