//! The lab's HTTP authentication: the 401 challenge as the model advertises
//! it, and Basic credentials of the scenario's service accounts.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

use super::scenario::{AuthScheme, Scenario, ServiceAccountSpec};
use super::server::respond;

/// Exchange Online's Bearer challenge parameters (PROTOCOL.md).
pub const BEARER_CHALLENGE: &str = "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\", token_types=\"app_asserted_user_v1 service_asserted_app_v1\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\"";

pub fn unauthorized(scenario: &Scenario, host: &str) -> Response<Full<Bytes>> {
    let mut headers: Vec<(&str, String)> = scenario
        .exchange
        .auth_schemes
        .iter()
        .map(|s| {
            let value = match s {
                AuthScheme::Negotiate => "Negotiate".to_string(),
                AuthScheme::Ntlm => "NTLM".to_string(),
                AuthScheme::Basic => format!("Basic realm=\"{host}\""),
                AuthScheme::Bearer => BEARER_CHALLENGE.to_string(),
            };
            ("WWW-Authenticate", value)
        })
        .collect();
    headers.push(("X-SOAP-Enabled", "True".into()));
    headers.push(("X-WSSecurity-Enabled", "True".into()));
    respond(401, &headers, Bytes::new())
}

/// The service account whose Basic credentials these are, when Basic is offered.
pub fn authorized<'a>(scenario: &'a Scenario, authorization: Option<&str>) -> Option<&'a ServiceAccountSpec> {
    if !scenario.exchange.auth_schemes.contains(&AuthScheme::Basic) {
        return None;
    }
    let (scheme, token) = authorization?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(token.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    scenario.service_account(user).filter(|sa| sa.password == password)
}
