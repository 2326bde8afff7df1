//! The lab's Microsoft Graph: the two mailbox calls exprobe makes, answered
//! from the model — token checks, consented roles, application access
//! policies, the app's service principal, mailbox existence — with Graph's
//! error JSON.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use serde_json::{json, Value};

use super::access::{self, Api, Denial};
use super::entra::TokenRejection;
use super::response::respond;
use super::LabState;

fn graph_error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                "request-id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
                "client-request-id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"
            }
        }
    });
    respond(
        status,
        &[("Content-Type", "application/json".into())],
        Bytes::from(body.to_string()),
    )
}

fn ok(body: Value) -> Response<Full<Bytes>> {
    respond(
        200,
        &[(
            "Content-Type",
            "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8".into(),
        )],
        Bytes::from(body.to_string()),
    )
}

pub fn answer(state: &LabState, path: &str, query: Option<&str>, authorization: Option<&str>) -> Response<Full<Bytes>> {
    let scenario = &state.scenario;
    let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
        return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.");
    };
    let claims = match state.tokens.verify(token.trim()) {
        Ok(c) => c,
        Err(TokenRejection::Expired) => {
            return graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        }
        Err(_) => return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure."),
    };
    let aud = claims["aud"].as_str().unwrap_or("");
    if !crate::cloud::Cloud::is_graph_resource(aud) {
        return graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        );
    }
    let app = claims["appid"].as_str().and_then(|id| scenario.app(id));
    if !app.is_some_and(|a| a.graph_identity) {
        return graph_error(
            401,
            "Authorization_IdentityNotFound",
            "The identity of the calling application could not be established.",
        );
    }
    let app = app.expect("checked just above");
    let n = state.graph_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if n < app.graph_throttle_first {
        let mut r = graph_error(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
        );
        r.headers_mut()
            .insert("Retry-After", hyper::header::HeaderValue::from_static("1"));
        return r;
    }
    let tid = claims["tid"].as_str().unwrap_or("");
    let roles: Vec<String> = claims["roles"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (address, folder) = match segments.as_slice() {
        ["v1.0", "users", who] => (*who, None),
        ["v1.0", "users", who, "mailFolders", "inbox"] | ["v1.0", "users", who, "messages"] => (*who, Some("Mail.")),
        ["v1.0", "users", who, "calendar"] => (*who, Some("Calendars.")),
        _ => {
            return graph_error(
                400,
                "BadRequest",
                &format!(
                    "Resource not found for the segment '{}'.",
                    segments.last().unwrap_or(&"")
                ),
            )
        }
    };
    let address = super::response::percent_decode(address);
    // The token's tenant sees only its own users.
    let user = scenario.user(&address).filter(|u| {
        scenario
            .tenant_of_address(&u.address)
            .is_some_and(|t| t.id.eq_ignore_ascii_case(tid))
    });
    if let Some(permission) = folder {
        let api = Api::Graph(permission);
        let app_id = app.client_id.as_str();
        if !roles.iter().any(|r| r.starts_with(permission)) && !access::has_rbac_role(scenario, app_id, api) {
            return graph_error(
                403,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            );
        }
        let Some(user) = user else {
            return graph_error(
                404,
                "ErrorInvalidUser",
                &format!("The requested user '{address}' is invalid."),
            );
        };
        if !user.mailbox {
            return graph_error(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            );
        }
        match access::decide(scenario, app_id, &roles, api, user) {
            Ok(_) => {}
            Err(Denial::AccessPolicy) => {
                return graph_error(
                    403,
                    "ErrorAccessDenied",
                    if app.access_policy_raop {
                        "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings."
                    } else {
                        // Microsoft Graph docs' sample (2019), without the [RAOP] part.
                        "Access to OData is disabled."
                    },
                );
            }
            // Outside every RBAC scope (or no grant at all): Graph's plain denial.
            Err(Denial::OutOfScope | Denial::NoGrant) => {
                return graph_error(
                    403,
                    "ErrorAccessDenied",
                    "Access is denied. Check credentials and try again.",
                );
            }
        }
        if segments.last() == Some(&"messages") {
            let top = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .find(|(k, _)| k == "$top")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(10);
            return ok(json!({
                "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{address}')/messages"),
                "value": super::mailstore::graph_messages(user, top)
            }));
        }
        if permission == "Calendars." {
            return ok(json!({
                "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{address}')/calendar(id)/$entity"),
                "id": format!("AAMkAGI2TGuLAAA={}", user.address.len())
            }));
        }
        return ok(json!({
            "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{address}')/mailFolders(id)/$entity"),
            "id": format!("AAMkAGI2TG93AAA={}", user.address.len())
        }));
    }
    if !roles.iter().any(|r| {
        matches!(
            r.as_str(),
            "User.Read.All" | "User.ReadBasic.All" | "Directory.Read.All" | "User.ReadWrite.All"
        )
    }) {
        return graph_error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    let Some(user) = user else {
        return graph_error(
            404,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{address}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    let mut proxies = vec![format!("SMTP:{}", user.address)];
    proxies.extend(user.aliases.iter().map(|a| format!("smtp:{a}")));
    ok(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(mail,userPrincipalName,proxyAddresses)/$entity",
        "mail": user.address,
        "userPrincipalName": user.address,
        "proxyAddresses": proxies
    }))
}
