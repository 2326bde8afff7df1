//! The device authorization grant (RFC 8628) as a public client: how an
//! admin signs in from a terminal, MFA included, without exprobe ever seeing
//! a password. exprobe asks Entra ID's `devicecode` endpoint for a code,
//! shows the person the URL and the code, and polls the token endpoint:
//! `authorization_pending` waits `interval` seconds, `slow_down` adds five
//! (RFC 8628 §3.5, as MSAL does), anything else ends the polling, and so does
//! the code's `expires_in`. The answers' shapes follow Microsoft's "OAuth 2.0
//! device authorization grant" page; the token is a secret (never shown).
//!
//! Hosts: both requests go only to the run's authority over https (the
//! `Net` refuses any other scheme); the device code and the token stay in
//! memory, redacted from evidence.

use std::time::Duration;

use url::Url;

use crate::net::{HttpRequest, Net, NetFailure};
use crate::protocol::oauth::{self as wire, TokenError, TokenResponse};
use crate::secret::Secret;

/// What the devicecode endpoint announced (the device code itself kept secret).
#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: u64,
    pub interval: u64,
    /// Entra ID's own instruction for the person ("To sign in, use a web browser …").
    pub message: String,
    device_code: Secret,
}

/// How a device flow ended.
#[derive(Debug)]
pub enum DeviceFlowEnd {
    /// Signed in: the access token (a secret) and its lifetime.
    SignedIn {
        token: Secret,
        expires_in: Option<u64>,
        scope: Option<String>,
    },
    /// The person denied the request at the browser (`authorization_declined`).
    Declined,
    /// The code expired before anyone signed in (`expired_token`, or `expires_in` passed).
    Expired,
    /// Another error from Entra ID (`bad_verification_code`, an AADSTS error).
    Refused(TokenError),
    /// No answer (DNS, TLS, timeout, a refused host).
    Failed(NetFailure),
    /// An answer that is not what the endpoint sends.
    Unexpected(String),
}

fn endpoint(authority: &Url, tenant: &str, leaf: &str) -> Option<Url> {
    if tenant.is_empty()
        || !tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return None;
    }
    authority.join(&format!("{tenant}/oauth2/v2.0/{leaf}")).ok()
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

/// A number the endpoint sends as a number or, from some identity providers, a string.
fn number(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Asks for a device code for `scopes` (space-separated) of `client_id`.
pub async fn start(
    net: &Net,
    authority: &Url,
    tenant: &str,
    client_id: &str,
    scopes: &str,
) -> Result<DeviceCode, DeviceFlowEnd> {
    let url = endpoint(authority, tenant, "devicecode")
        .ok_or_else(|| DeviceFlowEnd::Unexpected(format!("cannot build a devicecode URL for tenant {tenant:?}")))?;
    let mut request = HttpRequest::post(
        url,
        "application/x-www-form-urlencoded",
        form(&[("client_id", client_id), ("scope", scopes)]),
    );
    request.headers.push(("Accept".into(), "application/json".into()));
    let (result, _) = net.send(request).await;
    let r = result.map_err(|e| DeviceFlowEnd::Failed(e.failure))?;
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .map_err(|e| DeviceFlowEnd::Unexpected(format!("HTTP {}: the answer is not JSON ({e})", r.status)))?;
    if v.get("error").is_some() {
        return Err(match wire::parse_token_response(r.status, &r.body) {
            Ok(TokenResponse::Error(e)) => DeviceFlowEnd::Refused(e),
            _ => DeviceFlowEnd::Unexpected(format!("HTTP {}: an error without its fields", r.status)),
        });
    }
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let (Some(device_code), Some(user_code)) = (text("device_code"), text("user_code")) else {
        return Err(DeviceFlowEnd::Unexpected(format!(
            "HTTP {}: no device_code and user_code in the answer",
            r.status
        )));
    };
    // Entra ID sends `verification_uri`; its v1 endpoint `verification_url`.
    let verification_uri = text("verification_uri")
        .or_else(|| text("verification_url"))
        .unwrap_or_else(|| "https://microsoft.com/devicelogin".into());
    Ok(DeviceCode {
        message: text("message").unwrap_or_else(|| {
            format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate.")
        }),
        user_code,
        verification_uri,
        // MSAL's defaults where a field is missing.
        expires_in: v.get("expires_in").and_then(number).unwrap_or(900).min(3600),
        interval: v.get("interval").and_then(number).unwrap_or(5).clamp(1, 60),
        device_code: Secret::new(device_code),
    })
}

/// Polls until the person signs in, declines, or the code expires; `wait`
/// sleeps (tests pass a clock of their own).
pub async fn poll<W, F>(
    net: &Net,
    authority: &Url,
    tenant: &str,
    client_id: &str,
    code: &DeviceCode,
    wait: W,
) -> DeviceFlowEnd
where
    W: Fn(Duration) -> F,
    F: std::future::Future<Output = ()>,
{
    let Some(url) = endpoint(authority, tenant, "token") else {
        return DeviceFlowEnd::Unexpected(format!("cannot build a token URL for tenant {tenant:?}"));
    };
    let mut interval = code.interval;
    let mut waited = 0u64;
    // Bounded: the code's lifetime in intervals of at least a second, and a few more.
    for _ in 0..(code.expires_in + 8) {
        wait(Duration::from_secs(interval)).await;
        waited += interval;
        let mut request = HttpRequest::post(
            url.clone(),
            "application/x-www-form-urlencoded",
            form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", client_id),
                ("device_code", code.device_code.expose()),
            ]),
        );
        request.headers.push(("Accept".into(), "application/json".into()));
        let (result, _) = net.send_secret_body(request).await;
        let r = match result {
            Ok(r) => r,
            Err(e) => return DeviceFlowEnd::Failed(e.failure),
        };
        match wire::parse_token_response(r.status, &r.body) {
            Ok(TokenResponse::Success(s)) => {
                return DeviceFlowEnd::SignedIn {
                    token: s.access_token,
                    expires_in: s.expires_in,
                    scope: s.scope,
                }
            }
            Ok(TokenResponse::Error(e)) => match e.error.as_str() {
                "authorization_pending" => {}
                "slow_down" => interval += 5,
                "authorization_declined" => return DeviceFlowEnd::Declined,
                "expired_token" => return DeviceFlowEnd::Expired,
                _ => return DeviceFlowEnd::Refused(e),
            },
            Err(e) => return DeviceFlowEnd::Unexpected(e.to_string()),
        }
        if waited >= code.expires_in {
            return DeviceFlowEnd::Expired;
        }
    }
    DeviceFlowEnd::Expired
}
