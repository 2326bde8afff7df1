//! The device authorization grant (RFC 8628) in the lab's Entra ID, as
//! Microsoft's "OAuth 2.0 device authorization grant" page describes it: the
//! `devicecode` endpoint answers `device_code`, `user_code`,
//! `verification_uri`, `expires_in` (900), `interval` and `message` (no
//! `verification_uri_complete`); the token endpoint, polled with
//! `grant_type=urn:ietf:params:oauth:grant-type:device_code`, answers
//! `authorization_pending` (AADSTS70016) until the person at the browser
//! acts, then a token, `authorization_declined` or `expired_token`
//! (AADSTS70019); an unknown code is `bad_verification_code` (AADSTS70018).
//! What the person does, and how long it takes, is the scenario's `[admin]`.
//!
//! Assumptions (no capture): the errors come with HTTP 400 (as Entra's other
//! token errors; MSAL reads the body whatever the status); `slow_down`,
//! which Entra's page does not list, only where a scenario asks for it;
//! `authorization_declined` carries no AADSTS number.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use serde_json::json;

use super::entra::{aadsts, json_response, uuid_like, Form, TokenIssuer};
use super::scenario::{DeviceAnswer, Scenario, TenantSpec};

/// The device codes handed out, and how often each was polled.
#[derive(Debug, Default)]
pub struct DeviceFlows {
    flows: Mutex<HashMap<String, Flow>>,
    issued: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone)]
struct Flow {
    tenant: String,
    client_id: String,
    scope: String,
    polls: u32,
}

const VERIFICATION_URI: &str = "https://microsoft.com/devicelogin";
const EXPIRES_IN: u64 = 900;

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub fn start(scenario: &Scenario, flows: &DeviceFlows, tenant: &TenantSpec, form: &Form) -> Response<Full<Bytes>> {
    let client_id = form.get("client_id").unwrap_or("");
    let Some(admin) = scenario
        .admin
        .as_ref()
        .filter(|a| a.client_id.eq_ignore_ascii_case(client_id))
    else {
        return aadsts(
            400,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", tenant.name),
        );
    };
    let Some(scope) = form.get("scope").filter(|s| !s.trim().is_empty()) else {
        return aadsts(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    };
    let n = flows.issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let device_code = format!(
        "DAQABAAEAAAD{}",
        uuid_like(&format!("device{n}{client_id}")).replace('-', "")
    );
    // Nine letters, as Entra's user codes are.
    let user_code: String = uuid_like(&format!("user{n}"))
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .take(9)
        .map(|b| (b'A' + b % 26) as char)
        .collect();
    if let Ok(mut f) = flows.flows.lock() {
        f.insert(
            device_code.clone(),
            Flow {
                tenant: tenant.id.clone(),
                client_id: admin.client_id.clone(),
                scope: scope.to_string(),
                polls: 0,
            },
        );
    }
    json_response(
        200,
        json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": VERIFICATION_URI,
            "expires_in": EXPIRES_IN,
            "interval": admin.interval,
            "message": format!("To sign in, use a web browser to open the page {VERIFICATION_URI} and enter the code {user_code} to authenticate."),
        }),
    )
}

/// The token endpoint's device_code grant.
pub fn poll(
    scenario: &Scenario,
    issuer: &TokenIssuer,
    flows: &DeviceFlows,
    tenant: &TenantSpec,
    form: &Form,
) -> Response<Full<Bytes>> {
    // MSAL sends the code as `code` too.
    let code = form.get("device_code").or_else(|| form.get("code")).unwrap_or("");
    let flow = flows.flows.lock().ok().and_then(|mut f| {
        let flow = f.get_mut(code)?;
        flow.polls += 1;
        Some(flow.clone())
    });
    let (Some(flow), Some(admin)) = (flow, scenario.admin.as_ref()) else {
        return aadsts(400, "bad_verification_code", 70018, "Invalid verification code due to User typing in wrong user code for device code flow. Authorization is not approved.");
    };
    if !flow.tenant.eq_ignore_ascii_case(&tenant.id) || form.get("client_id") != Some(flow.client_id.as_str()) {
        return aadsts(400, "bad_verification_code", 70018, "Invalid verification code due to User typing in wrong user code for device code flow. Authorization is not approved.");
    }
    if flow.polls <= admin.slow_down_polls {
        return json_response(
            400,
            json!({
                "error": "slow_down",
                "error_description": "The client is polling too quickly and should back off.",
                "error_codes": [],
            }),
        );
    }
    if flow.polls <= admin.slow_down_polls + admin.pending_polls {
        return aadsts(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        );
    }
    let done = || {
        if let Ok(mut f) = flows.flows.lock() {
            f.remove(code);
        }
    };
    match admin.device_answer {
        DeviceAnswer::Decline => {
            done();
            json_response(
                400,
                json!({
                    "error": "authorization_declined",
                    "error_description": "The end user denied the authorization request.",
                    "error_codes": [],
                }),
            )
        }
        DeviceAnswer::Expire => {
            done();
            aadsts(
                400,
                "expired_token",
                70019,
                "Verification code expired. Have the user retry the sign-in.",
            )
        }
        DeviceAnswer::Approve => {
            done();
            signed_in(scenario, issuer, tenant, &flow, &admin.account)
        }
    }
}

/// The admin's delegated token for the first resource scope asked.
fn signed_in(
    scenario: &Scenario,
    issuer: &TokenIssuer,
    tenant: &TenantSpec,
    flow: &Flow,
    account: &str,
) -> Response<Full<Bytes>> {
    let asked: Vec<&str> = flow
        .scope
        .split_whitespace()
        .filter(|s| !matches!(*s, "offline_access" | "openid" | "profile"))
        .collect();
    let (resource, _) = asked.first().and_then(|s| s.rsplit_once('/')).unwrap_or(("", ""));
    let permissions: Vec<&str> = asked
        .iter()
        .filter(|s| s.starts_with(resource))
        .filter_map(|s| s.rsplit_once('/').map(|(_, p)| p))
        .filter(|p| *p != ".default")
        .collect();
    let audience = match super::entra::audience_of(resource, tenant) {
        Ok(a) => a,
        Err(e) => return *e,
    };
    let lifetime = scenario.app(&flow.client_id).map_or(3599, |a| a.token_lifetime_secs);
    let iat = super::entra::now();
    let claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{}/", tenant.id),
        "iat": iat, "nbf": iat, "exp": iat + lifetime,
        "acr": "1", "amr": ["pwd", "mfa"],
        "appid": flow.client_id,
        "appidacr": "0",
        "idtyp": "user",
        "name": account,
        "oid": uuid_like(&format!("user{account}")),
        "scp": permissions.join(" "),
        "sub": uuid_like(&format!("sub{account}")),
        "tid": tenant.id,
        "unique_name": account,
        "upn": account,
        "ver": "1.0"
    });
    json_response(
        200,
        json!({
            "token_type": "Bearer",
            "scope": asked.join(" "),
            "expires_in": lifetime.max(0),
            "ext_expires_in": lifetime.max(0),
            "access_token": issuer.issue(&claims),
        }),
    )
}
