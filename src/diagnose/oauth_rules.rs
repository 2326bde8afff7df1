//! Rules for realm, token and Graph steps, the tenant check, EWS retirement
//! in Exchange Online, and the propagation advice for every privilege denial.

use super::ews_rules::is_exchange_online;
use super::rules::Raised;
use crate::config::CheckConfig;
use crate::probe::oauth::ClaimProblem;
use crate::probe::plan::RunOutcome;
use crate::protocol::graph::GraphError;

const STAGE_TOKEN: u8 = 3;
const STAGE_GRAPH: u8 = 6;

/// The catalogue code for an AADSTS number (SPEC 3).
pub fn aadsts_code(n: u32) -> &'static str {
    match n {
        90002 | 900023 => "oauth.tenant_not_found",
        700016 => "oauth.app_not_found",
        7000112 => "oauth.app_disabled",
        7000215 => "oauth.invalid_client_secret",
        7000222 => "oauth.client_secret_expired",
        700027 => "oauth.certificate_rejected",
        700024 => "oauth.assertion_time_invalid",
        65001 | 90094 | 65004 => "oauth.consent_required",
        50126 => "oauth.invalid_credentials",
        50034 | 50020 => "oauth.user_not_found",
        50057 => "oauth.account_disabled",
        50053 => "oauth.account_locked",
        50055 => "oauth.password_expired",
        50076 | 50079 | 50158 => "oauth.mfa_required",
        53003 | 530003 => "oauth.conditional_access_blocked",
        70008 | 700082 | 50173 | 70043 => "oauth.refresh_token_expired",
        70011 | 1002012 => "oauth.invalid_scope",
        500011 => "oauth.resource_not_found",
        7000218 => "oauth.public_client_not_allowed",
        _ => "oauth.error",
    }
}

fn problem_code(p: &ClaimProblem) -> &'static str {
    match p {
        ClaimProblem::Expired { .. } => "token.expired",
        ClaimProblem::NotYetValid { .. } => "token.not_yet_valid",
        ClaimProblem::WrongAudience { .. } => "token.wrong_audience",
        ClaimProblem::MissingRole { .. } => "token.missing_role",
        ClaimProblem::MissingScope { .. } => "token.missing_scope",
        ClaimProblem::WrongTenant { .. } => "token.wrong_tenant",
        ClaimProblem::Malformed { .. } => "token.malformed",
    }
}

/// The catalogue code for a Graph error.
pub fn graph_code(e: &GraphError) -> &'static str {
    match (e.http_status, e.code.as_str()) {
        (403, "ErrorAccessDenied")
            if e.message.contains("Access to OData is disabled") || e.message.contains("[RAOP]") =>
        {
            "graph.access_policy_denied"
        }
        (403, "ErrorAccessDenied") => "graph.access_denied",
        (401, "Authorization_IdentityNotFound") => "graph.identity_not_found",
        (403, "Authorization_RequestDenied") => "graph.insufficient_privileges",
        (
            _,
            "MailboxNotEnabledForRESTAPI"
            | "ErrorInvalidUser"
            | "Request_ResourceNotFound"
            | "ResourceNotFound"
            | "ErrorNonExistentMailbox",
        ) => "mailbox.not_found",
        (401, "InvalidAuthenticationToken") if e.message.to_ascii_lowercase().contains("expired") => "token.expired",
        (401, "InvalidAuthenticationToken") if e.message.to_ascii_lowercase().contains("audience") => {
            "token.wrong_audience"
        }
        (401, _) => "token.malformed",
        (429, _) | (503, _) => "graph.throttled",
        (403, _) => "graph.access_denied",
        _ => "server.error",
    }
}

/// Codes that deny a privilege: their fix takes time to propagate.
const PRIVILEGE_DENIALS: &[&str] = &[
    "impersonation.denied",
    "impersonation.server_denied",
    "token.missing_role",
    "graph.access_policy_denied",
    "graph.access_denied",
    "graph.insufficient_privileges",
];

pub fn evaluate(_config: &CheckConfig, outcome: &RunOutcome, raised: &mut Vec<Raised>) {
    let mailboxes: Vec<String> = outcome.input.mailboxes.iter().map(|(m, _)| m.clone()).collect();
    // token: errors by AADSTS number (once per distinct error), then claim problems.
    let mut seen_errors: Vec<(&'static str, Option<u32>)> = vec![];
    for t in &outcome.tokens {
        let step = format!("token:{}", t.api);
        if let Some(e) = &t.error {
            let code = e.aadsts.map(aadsts_code).unwrap_or("oauth.error");
            if let Some(existing) = raised
                .iter_mut()
                .find(|r| r.code == code && seen_errors.contains(&(code, e.aadsts)))
            {
                existing.evidence_steps.push(step);
                continue;
            }
            seen_errors.push((code, e.aadsts));
            raised.push(Raised {
                code,
                mailbox: None,
                affects: mailboxes.clone(),
                detail: format!(
                    "{} (error {}, HTTP {}; trace id {}, correlation id {}, timestamp {})",
                    e.summary(),
                    e.error,
                    e.http_status,
                    e.trace_id.as_deref().unwrap_or("-"),
                    e.correlation_id.as_deref().unwrap_or("-"),
                    e.timestamp.as_deref().unwrap_or("-")
                ),
                evidence_steps: vec![step],
                stage: STAGE_TOKEN,
                severity: None,
            });
            continue;
        }
        if let Some(f) = &t.failure {
            raised.push(Raised {
                code: super::rules::net_code(f),
                mailbox: None,
                affects: mailboxes.clone(),
                detail: format!("token endpoint: {}", f.describe()),
                evidence_steps: vec![step],
                stage: STAGE_TOKEN,
                severity: None,
            });
            continue;
        }
        if let Some(answer) = &t.unexpected_answer {
            raised.push(Raised {
                code: "oauth.invalid_response",
                mailbox: None,
                affects: mailboxes.clone(),
                detail: format!("{} token: {answer}", t.api),
                evidence_steps: vec![step],
                stage: STAGE_TOKEN,
                severity: None,
            });
            continue;
        }
        // A missing role or scope is shown by the API's own denial when it was called.
        let api_called = if t.api == "ews" {
            !outcome.impersonation.is_empty()
        } else {
            !outcome.graph.is_empty()
        };
        for p in t.problems.iter().filter(|p| {
            !(api_called && matches!(p, ClaimProblem::MissingRole { .. } | ClaimProblem::MissingScope { .. }))
        }) {
            let detail = match p {
                ClaimProblem::MissingRole { roles, needed } => format!(
                    "the {} token has roles [{}], not {needed}: admin consent is missing",
                    t.api,
                    roles.join(", ")
                ),
                other => format!("{} token: {}", t.api, crate::probe::oauth::describe_problem(other)),
            };
            raised.push(Raised {
                code: problem_code(p),
                mailbox: None,
                affects: mailboxes.clone(),
                detail,
                evidence_steps: vec![step.clone()],
                stage: STAGE_TOKEN,
                severity: None,
            });
        }
    }
    // graph.mailbox; a 403 to a token with no roles at all is the missing consent.
    let graph_unconsented = outcome.token_for("graph").is_some_and(|t| t.has_no_roles());
    for g in &outcome.graph {
        let step = format!("graph.mailbox:{}", g.mailbox);
        let mut codes: Vec<(&'static str, String)> = vec![];
        for call in [&g.inbox, &g.user_call] {
            if let Some(e) = &call.error {
                let code = match graph_code(e) {
                    "graph.access_denied" | "graph.insufficient_privileges" if graph_unconsented => {
                        "token.missing_role"
                    }
                    other => other,
                };
                if !codes.iter().any(|(c, _)| *c == code) {
                    codes.push((
                        code,
                        format!(
                            "HTTP {} {}: {} (request-id {})",
                            e.http_status,
                            e.code,
                            e.message,
                            e.request_id.as_deref().unwrap_or("-")
                        ),
                    ));
                }
            } else if let Some(f) = &call.failure {
                codes.push(("network.unreachable", f.describe()));
            }
        }
        for (code, detail) in codes {
            raised.push(Raised {
                code,
                mailbox: Some(g.mailbox.clone()),
                affects: vec![g.mailbox.clone()],
                detail,
                evidence_steps: vec![step.clone()],
                stage: STAGE_GRAPH,
                severity: None,
            });
        }
    }
    // tenant
    for id in outcome.identity.iter().filter(|i| i.tenant_mismatch) {
        raised.push(Raised {
            code: "tenant.mismatch",
            mailbox: Some(id.mailbox.clone()),
            affects: vec![id.mailbox.clone()],
            detail: format!(
                "the token is from tenant {}, {} is in tenant {}",
                id.token_tenant.as_deref().unwrap_or("?"),
                id.mailbox,
                id.mailbox_tenant.as_deref().unwrap_or("?")
            ),
            evidence_steps: vec![
                format!("realm:{}", id.mailbox_domain),
                format!("identity:{}", id.mailbox),
            ],
            stage: STAGE_TOKEN,
            severity: None,
        });
    }
    // EWS against Exchange Online: the retirement dates.
    let online_ews: Vec<String> = outcome
        .ews_urls
        .iter()
        .filter(|(m, url)| outcome.reach_for(url).is_some() && is_exchange_online(outcome, m))
        .map(|(m, _)| m.clone())
        .collect();
    if !online_ews.is_empty() {
        let hosts: Vec<String> = outcome
            .ews_reach
            .iter()
            .map(|r| {
                format!(
                    "ews.reach:{}",
                    url::Url::parse(&r.url)
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_string))
                        .unwrap_or_default()
                )
            })
            .collect();
        raised.push(Raised {
            code: "exchange_online.ews_retirement",
            mailbox: None,
            detail: format!("{} mailbox(es) checked over EWS on Exchange Online", online_ews.len()),
            affects: online_ews,
            evidence_steps: hosts,
            stage: 9,
            severity: None,
        });
    }
    // Every privilege denial carries the propagation advice, once.
    let denied: Vec<&Raised> = raised.iter().filter(|r| PRIVILEGE_DENIALS.contains(&r.code)).collect();
    if !denied.is_empty() {
        let mut affects: Vec<String> = denied.iter().flat_map(|r| r.affects.clone()).collect();
        affects.sort();
        affects.dedup();
        let evidence_steps: Vec<String> = denied.iter().flat_map(|r| r.evidence_steps.clone()).collect();
        raised.push(Raised {
            code: "permissions.recently_changed",
            mailbox: None,
            detail: "if a role, consent or policy changed in the last two hours, wait and re-run".into(),
            affects,
            evidence_steps,
            stage: 9,
            severity: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_aadsts_number_has_its_code() {
        let table = [
            (90002, "oauth.tenant_not_found"),
            (900023, "oauth.tenant_not_found"),
            (700016, "oauth.app_not_found"),
            (7000112, "oauth.app_disabled"),
            (7000215, "oauth.invalid_client_secret"),
            (7000222, "oauth.client_secret_expired"),
            (700027, "oauth.certificate_rejected"),
            (700024, "oauth.assertion_time_invalid"),
            (65001, "oauth.consent_required"),
            (90094, "oauth.consent_required"),
            (65004, "oauth.consent_required"),
            (50126, "oauth.invalid_credentials"),
            (50034, "oauth.user_not_found"),
            (50020, "oauth.user_not_found"),
            (50057, "oauth.account_disabled"),
            (50053, "oauth.account_locked"),
            (50055, "oauth.password_expired"),
            (50076, "oauth.mfa_required"),
            (50079, "oauth.mfa_required"),
            (50158, "oauth.mfa_required"),
            (53003, "oauth.conditional_access_blocked"),
            (530003, "oauth.conditional_access_blocked"),
            (70008, "oauth.refresh_token_expired"),
            (700082, "oauth.refresh_token_expired"),
            (50173, "oauth.refresh_token_expired"),
            (70043, "oauth.refresh_token_expired"),
            (70011, "oauth.invalid_scope"),
            (1002012, "oauth.invalid_scope"),
            (500011, "oauth.resource_not_found"),
            (7000218, "oauth.public_client_not_allowed"),
            (99999, "oauth.error"),
        ];
        for (n, code) in table {
            assert_eq!(aadsts_code(n), code, "{n}");
            assert!(crate::diagnose::catalogue::lookup(code).is_some(), "{code}");
        }
    }

    #[test]
    fn graph_errors_table() {
        let e = |status, code: &str, message: &str| GraphError {
            http_status: status,
            code: code.into(),
            message: message.into(),
            request_id: None,
            date: None,
        };
        let table = [
            (
                e(
                    403,
                    "ErrorAccessDenied",
                    "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.",
                ),
                "graph.access_policy_denied",
            ),
            (
                e(
                    403,
                    "ErrorAccessDenied",
                    "Access is denied. Check credentials and try again.",
                ),
                "graph.access_denied",
            ),
            (
                e(
                    401,
                    "Authorization_IdentityNotFound",
                    "The identity of the calling application could not be established.",
                ),
                "graph.identity_not_found",
            ),
            (
                e(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                ),
                "graph.insufficient_privileges",
            ),
            (
                e(
                    404,
                    "MailboxNotEnabledForRESTAPI",
                    "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
                ),
                "mailbox.not_found",
            ),
            (
                e(404, "ErrorInvalidUser", "The requested user 'x' is invalid."),
                "mailbox.not_found",
            ),
            (
                e(404, "Request_ResourceNotFound", "Resource 'x' does not exist."),
                "mailbox.not_found",
            ),
            (
                e(
                    401,
                    "InvalidAuthenticationToken",
                    "Lifetime validation failed, the token is expired.",
                ),
                "token.expired",
            ),
            (
                e(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token validation failure. Invalid audience.",
                ),
                "token.wrong_audience",
            ),
            (e(429, "ApplicationThrottled", "Too many requests"), "graph.throttled"),
        ];
        for (err, code) in table {
            assert_eq!(graph_code(&err), code, "{err:?}");
            assert!(crate::diagnose::catalogue::lookup(code).is_some());
        }
    }
}
