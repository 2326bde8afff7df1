//! Rules for realm, token and Graph steps, the tenant check, EWS retirement
//! in Exchange Online, and the propagation advice for every privilege denial.

use super::code::{Code, Stage};
use super::rules::{Affects, Raised};
use crate::code;
use crate::config::{CheckConfig, MailApi};
use crate::probe::oauth::{ClaimProblem, TokenOutcome};
use crate::probe::plan::{MailboxOutcome, Org};
use crate::probe::StepKind;
use crate::protocol::graph::GraphError;

/// The catalogue code for an AADSTS number.
pub fn aadsts_code(n: u32) -> Code {
    match n {
        90002 | 900023 => code!("oauth.tenant_not_found"),
        700016 => code!("oauth.app_not_found"),
        // Cross-cloud requests: a confidential client, or a tenant redirected to its national cloud.
        900382 | 90038 => code!("tenant.wrong_cloud"),
        7000112 => code!("oauth.app_disabled"),
        7000215 => code!("oauth.invalid_client_secret"),
        7000222 => code!("oauth.client_secret_expired"),
        700027 => code!("oauth.certificate_rejected"),
        700024 => code!("oauth.assertion_time_invalid"),
        65001 | 90094 | 65004 => code!("oauth.consent_required"),
        50126 => code!("oauth.invalid_credentials"),
        50034 | 50020 => code!("oauth.user_not_found"),
        50057 => code!("oauth.account_disabled"),
        50053 => code!("oauth.account_locked"),
        50055 => code!("oauth.password_expired"),
        50076 | 50079 | 50158 => code!("oauth.mfa_required"),
        53003 | 530003 => code!("oauth.conditional_access_blocked"),
        70008 | 700082 | 50173 | 70043 => code!("oauth.refresh_token_expired"),
        70011 | 1002012 => code!("oauth.invalid_scope"),
        500011 => code!("oauth.resource_not_found"),
        7000218 => code!("oauth.public_client_not_allowed"),
        _ => code!("oauth.error"),
    }
}

fn problem_code(p: &ClaimProblem) -> Code {
    match p {
        ClaimProblem::Expired { .. } => code!("token.expired"),
        ClaimProblem::NotYetValid { .. } => code!("token.not_yet_valid"),
        ClaimProblem::WrongAudience { .. } => code!("token.wrong_audience"),
        ClaimProblem::MissingRole { .. } => code!("token.missing_role"),
        ClaimProblem::MissingScope { .. } => code!("token.missing_scope"),
        ClaimProblem::WrongTenant { .. } => code!("token.wrong_tenant"),
        ClaimProblem::Malformed { .. } => code!("token.malformed"),
    }
}

/// The catalogue code for a Graph error.
pub fn graph_code(e: &GraphError) -> Code {
    match (e.http_status, e.code.as_str()) {
        (403, "ErrorAccessDenied")
            if e.message.contains("Access to OData is disabled") || e.message.contains("[RAOP]") =>
        {
            code!("graph.access_policy_denied")
        }
        (403, "ErrorAccessDenied") => code!("graph.access_denied"),
        (401, "Authorization_IdentityNotFound") => code!("graph.identity_not_found"),
        (403, "Authorization_RequestDenied") => code!("graph.insufficient_privileges"),
        (
            _,
            "MailboxNotEnabledForRESTAPI"
            | "ErrorInvalidUser"
            | "Request_ResourceNotFound"
            | "ResourceNotFound"
            | "ErrorNonExistentMailbox",
        ) => code!("mailbox.not_found"),
        (401, "InvalidAuthenticationToken") if e.message.to_ascii_lowercase().contains("expired") => {
            code!("token.expired")
        }
        (401, "InvalidAuthenticationToken") if e.message.to_ascii_lowercase().contains("audience") => {
            code!("token.wrong_audience")
        }
        (401, _) => code!("token.malformed"),
        (429, _) | (503, _) => code!("graph.throttled"),
        (403, _) => code!("graph.access_denied"),
        _ => code!("server.error"),
    }
}

/// Codes that deny a privilege: their fix takes time to propagate.
pub const PRIVILEGE_DENIALS: &[Code] = &[
    code!("impersonation.denied"),
    code!("impersonation.server_denied"),
    code!("token.missing_role"),
    code!("graph.access_policy_denied"),
    code!("graph.access_denied"),
    code!("graph.insufficient_privileges"),
];

/// Whether a claim problem is shown by the API's own denial when the API is called.
pub fn shown_by_the_api(p: &ClaimProblem) -> bool {
    matches!(p, ClaimProblem::MissingRole { .. } | ClaimProblem::MissingScope { .. })
}

/// The finding for a token's claim problem.
pub fn claim_finding(t: &TokenOutcome, p: &ClaimProblem, affects: Affects) -> Raised {
    let detail = match p {
        ClaimProblem::MissingRole { roles, needed } => format!(
            "the {} token has roles [{}], not {needed}: admin consent is missing",
            t.api,
            roles.join(", ")
        ),
        other => format!("{} token: {}", t.api, crate::probe::oauth::describe_problem(other)),
    };
    Raised::org(
        problem_code(p),
        Stage::Token,
        affects,
        detail,
        vec![StepKind::Token.id(t.api.as_str())],
    )
}

/// Token endpoint errors (once per distinct error), failures, answers that
/// are not tokens, and claim problems the APIs cannot show themselves.
/// A tenant in another of Microsoft's clouds than the run's `--cloud`.
pub fn cloud(config: &CheckConfig, org: &Org) -> Vec<Raised> {
    let used = config.endpoints.cloud;
    org.realm
        .iter()
        .filter_map(|r| {
            let found = r.cloud().filter(|c| *c != used)?;
            let o = r.openid.as_ref()?;
            let said: Vec<String> = [
                o.cloud_instance_name.as_deref().map(|v| format!("cloud_instance_name {v}")),
                o.tenant_region_scope.as_deref().map(|v| format!("tenant_region_scope {v}")),
                o.tenant_region_sub_scope.as_deref().map(|v| format!("tenant_region_sub_scope {v}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            Some(Raised::org(
                code!("tenant.wrong_cloud"),
                Stage::Discovery,
                Affects::Domain(r.domain.clone()),
                format!(
                    "{}: the tenant is in {} ({}), this run used {}: run again with --cloud {} (authority {}, Graph {}, EWS {})",
                    r.domain,
                    found.title(),
                    said.join(", "),
                    used.title(),
                    found.as_str(),
                    found.authority(),
                    found.graph(),
                    found.exchange_host()
                ),
                vec![StepKind::Realm.id(&r.domain)],
            ))
        })
        .collect()
}

pub fn tokens(_config: &CheckConfig, org: &Org) -> Vec<Raised> {
    let mut raised: Vec<Raised> = vec![];
    let mut seen_errors: Vec<(Code, Option<u32>, usize)> = vec![];
    for t in &org.tokens {
        let step = StepKind::Token.id(t.api.as_str());
        if let Some(e) = &t.error {
            let code = e.aadsts.map(aadsts_code).unwrap_or(code!("oauth.error"));
            if let Some(&(_, _, i)) = seen_errors.iter().find(|(c, n, _)| *c == code && *n == e.aadsts) {
                raised[i].evidence_steps.push(step);
                continue;
            }
            seen_errors.push((code, e.aadsts, raised.len()));
            raised.push(Raised::org(
                code,
                Stage::Token,
                Affects::Valid,
                format!(
                    "{} (error {}, HTTP {}; trace id {}, correlation id {}, timestamp {})",
                    e.summary(),
                    e.error,
                    e.http_status,
                    e.trace_id.as_deref().unwrap_or("-"),
                    e.correlation_id.as_deref().unwrap_or("-"),
                    e.timestamp.as_deref().unwrap_or("-")
                ),
                vec![step],
            ));
            continue;
        }
        if let Some(f) = &t.failure {
            raised.push(Raised::org(
                super::codes::net_code(f),
                Stage::Token,
                Affects::Valid,
                format!("token endpoint: {}", f.describe()),
                vec![step],
            ));
            continue;
        }
        if let Some(answer) = &t.unexpected_answer {
            raised.push(Raised::org(
                code!("oauth.invalid_response"),
                Stage::Token,
                Affects::Valid,
                format!("{} token: {answer}", t.api),
                vec![step],
            ));
            continue;
        }
        // A missing role or scope is shown by the API's own denial when it
        // is called; per mailbox, the cross-mailbox facts carry it otherwise.
        for p in t.problems.iter().filter(|p| !shown_by_the_api(p)) {
            raised.push(claim_finding(t, p, Affects::Valid));
        }
    }
    raised
}

/// `graph.mailbox`; a 403 to a token with no roles at all is the missing consent.
/// `graph.mailbox`: each failed call's code, critical when the product
/// needs the call (`--graph-calls`), a warning when it does not.
pub fn graph(_config: &CheckConfig, org: &Org, m: &MailboxOutcome) -> Vec<Raised> {
    let Some(g) = &m.graph else {
        return vec![];
    };
    let graph_unconsented = org.token_for(MailApi::Graph).is_some_and(|t| t.has_no_roles());
    let step = StepKind::GraphMailbox.id(&g.mailbox);
    // (code, detail, needed by the product)
    let mut codes: Vec<(Code, String, bool)> = vec![];
    for (kind, call) in g.calls() {
        let needed = g.is_required(kind);
        let found = if let Some(e) = &call.error {
            let code = match graph_code(e) {
                c if graph_unconsented
                    && (c == code!("graph.access_denied") || c == code!("graph.insufficient_privileges")) =>
                {
                    code!("token.missing_role")
                }
                other => other,
            };
            Some((
                code,
                format!(
                    "{}: HTTP {} {}: {} (request-id {})",
                    kind.as_str(),
                    e.http_status,
                    e.code,
                    e.message,
                    e.request_id.as_deref().unwrap_or("-")
                ),
            ))
        } else {
            call.failure.as_ref().map(|f| {
                (
                    code!("network.unreachable"),
                    format!("{}: {}", kind.as_str(), f.describe()),
                )
            })
        };
        let Some((code, detail)) = found else { continue };
        match codes.iter_mut().find(|(c, _, _)| *c == code) {
            // The same code from a needed call outweighs an unneeded one.
            Some(seen) if needed && !seen.2 => *seen = (code, detail, true),
            Some(_) => {}
            None => codes.push((code, detail, needed)),
        }
    }
    codes
        .into_iter()
        .map(|(code, detail, needed)| {
            let r = Raised::mailbox(
                m,
                code,
                Stage::Graph,
                if needed {
                    detail
                } else {
                    format!("{detail} — a call the product does not need (--graph-calls), so a warning")
                },
                vec![step.clone()],
            );
            if needed || code.severity() != crate::report::Severity::Critical {
                r
            } else {
                r.with_severity(crate::report::Severity::Warning)
            }
        })
        .collect()
}

/// The token's tenant is not the mailbox's.
pub fn tenant(_config: &CheckConfig, _org: &Org, m: &MailboxOutcome) -> Vec<Raised> {
    match &m.identity {
        Some(id) if id.tenant_mismatch => vec![Raised::mailbox(
            m,
            code!("tenant.mismatch"),
            Stage::Token,
            format!(
                "the token is from tenant {}, {} is in tenant {}",
                id.token_tenant.as_deref().unwrap_or("?"),
                id.mailbox,
                id.mailbox_tenant.as_deref().unwrap_or("?")
            ),
            vec![
                format!("realm:{}", id.mailbox_domain),
                format!("identity:{}", id.mailbox),
            ],
        )],
        _ => vec![],
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
            assert_eq!(aadsts_code(n).as_str(), code, "{n}");
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
            assert_eq!(graph_code(&err).as_str(), code, "{err:?}");
            assert!(crate::diagnose::catalogue::lookup(code).is_some());
        }
    }
}
