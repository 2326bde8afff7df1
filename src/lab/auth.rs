//! The lab's HTTP authentication: the 401 challenge as the model advertises
//! it, and Basic credentials of the scenario's service accounts.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

use super::response::respond;
use super::scenario::{AuthScheme, Scenario, ServiceAccountSpec};

/// Exchange Online's Bearer challenge parameters, as its 401 carries them.
pub const BEARER_CHALLENGE: &str = "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\", token_types=\"app_asserted_user_v1 service_asserted_app_v1\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\"";

pub fn unauthorized(scenario: &Scenario, host: &str) -> Response<Full<Bytes>> {
    let mut headers: Vec<(&str, String)> = scenario
        .auth_schemes_for(host)
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

/// The service account this request comes from: the one NTLM authenticated
/// on this connection, else the owner of Basic credentials when Basic is offered.
pub fn authorized<'a>(
    scenario: &'a Scenario,
    host: &str,
    authorization: Option<&str>,
    ntlm_account: Option<&str>,
) -> Option<&'a ServiceAccountSpec> {
    if let Some(name) = ntlm_account {
        return scenario.service_account(name);
    }
    if !scenario.auth_schemes_for(host).contains(&AuthScheme::Basic) {
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

/// NTLM state of one connection: IIS binds the handshake to the TCP
/// connection, so a CHALLENGE is only answered on the connection it went out on.
#[derive(Debug, Default)]
pub struct ConnectionAuth {
    pending: Option<crate::auth::ntlm::NtlmServer>,
    /// The service account NTLM authenticated (its address).
    pub account: Option<String>,
    /// Extended Protection: the `tls-server-end-point` binding of this connection.
    binding: Option<Vec<u8>>,
}

impl ConnectionAuth {
    pub fn with_binding(binding: Option<Vec<u8>>) -> Self {
        ConnectionAuth {
            binding,
            ..Default::default()
        }
    }
}

/// What the NTLM gate decided for a request.
#[derive(Debug)]
pub enum NtlmGate {
    /// Answer this (a CHALLENGE, or a refusal).
    Respond(Response<Full<Bytes>>),
    /// Go on (authenticated as `account` when NTLM did).
    Pass,
}

/// The NTLM and Negotiate legs of a request on `conn`, as IIS answers them.
pub fn ntlm_gate(
    scenario: &Scenario,
    host: &str,
    authorization: Option<&str>,
    conn: &std::sync::Mutex<ConnectionAuth>,
) -> NtlmGate {
    let Some((scheme, token)) = authorization.and_then(|a| a.trim().split_once(' ')) else {
        return NtlmGate::Pass;
    };
    let offered = |s: AuthScheme| scenario.auth_schemes_for(host).contains(&s);
    let negotiate = scheme.eq_ignore_ascii_case("negotiate");
    if !(scheme.eq_ignore_ascii_case("ntlm") && offered(AuthScheme::Ntlm)
        || negotiate && offered(AuthScheme::Negotiate))
    {
        return NtlmGate::Pass;
    }
    let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
    // A new handshake starts over, whoever the connection was before.
    conn.account = None;
    let Ok(token) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
        conn.pending = None;
        return NtlmGate::Respond(unauthorized(scenario, host));
    };
    if scenario.exchange.kerberos_only {
        // No NTLM provider: the token is not understood, the challenge repeats.
        conn.pending = None;
        return NtlmGate::Respond(unauthorized(scenario, host));
    }
    match crate::auth::ntlm::message_type(&token) {
        Some(1) => match crate::auth::ntlm::NtlmServer::challenge(&token, conn.binding.as_deref()) {
            Ok((server, challenge)) => {
                conn.pending = Some(server);
                let value = format!(
                    "{} {}",
                    if negotiate { "Negotiate" } else { "NTLM" },
                    base64::engine::general_purpose::STANDARD.encode(challenge)
                );
                NtlmGate::Respond(respond(401, &[("WWW-Authenticate", value)], Bytes::new()))
            }
            Err(_) => {
                conn.pending = None;
                NtlmGate::Respond(unauthorized(scenario, host))
            }
        },
        Some(3) => {
            // Only the connection that got the CHALLENGE can answer it.
            let Some(server) = conn.pending.take() else {
                return NtlmGate::Respond(unauthorized(scenario, host));
            };
            if scenario.exchange.extended_protection_required
                && conn.binding.is_some()
                && !crate::auth::ntlm::carries_channel_binding(&token)
            {
                // "Require": a client that binds nothing to this TLS connection is refused.
                return NtlmGate::Respond(unauthorized(scenario, host));
            }
            let verified = server.verify(&token, |wire| account_of(scenario, wire).map(|sa| sa.password.clone()));
            match verified {
                Ok(wire) => {
                    conn.account = account_of(scenario, &wire).map(|sa| sa.address.clone());
                    NtlmGate::Pass
                }
                Err(_) => NtlmGate::Respond(unauthorized(scenario, host)),
            }
        }
        _ => {
            conn.pending = None;
            NtlmGate::Respond(unauthorized(scenario, host))
        }
    }
}

/// The service account an AUTHENTICATE message names: `DOMAIN\\user` must be
/// its logon name exactly (another domain is another account); without a
/// domain, its UPN or bare logon name.
fn account_of<'a>(scenario: &'a Scenario, wire: &crate::auth::ntlm::WireName) -> Option<&'a ServiceAccountSpec> {
    match &wire.domain {
        Some(d) => {
            let name = format!("{d}\\{}", wire.user);
            scenario
                .service_accounts
                .iter()
                .find(|sa| sa.logon.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(&name)))
        }
        None => scenario.service_account(&wire.user),
    }
}
