//! Microsoft identity platform token endpoint: request forms and responses.
//! Errors are classified by AADSTS number (`error_codes[0]`, else the
//! `AADSTSnnnn` in `error_description`), never by message text, and keep the
//! trace and correlation ids Microsoft support asks for.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `application/x-www-form-urlencoded` body from pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn client_credentials_secret(client_id: &str, scope: &str, secret: &Secret) -> String {
    form(&[
        ("client_id", client_id),
        ("scope", scope),
        ("grant_type", "client_credentials"),
        ("client_secret", secret.expose()),
    ])
}

/// `grant_type=refresh_token` (delegated), with a secret for confidential clients.
pub fn refresh_token_grant(
    client_id: &str,
    scope: &str,
    refresh_token: &Secret,
    client_secret: Option<&Secret>,
) -> String {
    let mut pairs = vec![
        ("client_id", client_id),
        ("scope", scope),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
    ];
    if let Some(s) = client_secret {
        pairs.push(("client_secret", s.expose()));
    }
    form(&pairs)
}

/// `grant_type=password` (ROPC, delegated).
pub fn password_grant(
    client_id: &str,
    scope: &str,
    username: &str,
    password: &Secret,
    client_secret: Option<&Secret>,
) -> String {
    let mut pairs = vec![
        ("client_id", client_id),
        ("scope", scope),
        ("grant_type", "password"),
        ("username", username),
        ("password", password.expose()),
    ];
    if let Some(s) = client_secret {
        pairs.push(("client_secret", s.expose()));
    }
    form(&pairs)
}

pub fn client_credentials_assertion(client_id: &str, scope: &str, assertion: &Secret) -> String {
    form(&[
        ("client_id", client_id),
        ("scope", scope),
        ("grant_type", "client_credentials"),
        ("client_assertion_type", CLIENT_ASSERTION_TYPE),
        ("client_assertion", assertion.expose()),
    ])
}

/// SHA-1 thumbprint of a certificate, base64url: the `x5t` header.
pub fn x5t(certificate_der: &[u8]) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, certificate_der);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// SHA-256 thumbprint of a certificate, base64url: the `x5t#S256` header.
pub fn x5t_s256(certificate_der: &[u8]) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, certificate_der);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// A client assertion for the token endpoint `audience`, valid ten minutes:
/// RS256 with `x5t`, or (`pss`) PS256 with `x5t#S256`.
pub fn client_assertion(
    client_id: &str,
    audience: &str,
    certificate_der: &[u8],
    private_key_pem: &Secret,
    pss: bool,
    now: i64,
) -> Result<Secret, String> {
    let alg = if pss {
        jsonwebtoken::Algorithm::PS256
    } else {
        jsonwebtoken::Algorithm::RS256
    };
    let mut header = jsonwebtoken::Header::new(alg);
    header.typ = Some("JWT".into());
    if pss {
        header.x5t_s256 = Some(x5t_s256(certificate_der));
    } else {
        header.x5t = Some(x5t(certificate_der));
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let jti_digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{client_id}{now}{n}{}", std::process::id()).as_bytes(),
    );
    let jti: String = jti_digest.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    let claims = serde_json::json!({
        "aud": audience, "iss": client_id, "sub": client_id, "jti": jti,
        "nbf": now, "iat": now, "exp": now + 600
    });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes())
        .map_err(|e| format!("the private key: {e}"))?;
    jsonwebtoken::encode(&header, &claims, &key)
        .map(Secret::new)
        .map_err(|e| format!("signing the client assertion: {e}"))
}

#[derive(Debug, Clone)]
pub struct TokenSuccess {
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenError {
    pub http_status: u16,
    pub error: String,
    pub description: String,
    /// The AADSTS number that classifies the error.
    pub aadsts: Option<u32>,
    pub error_codes: Vec<u32>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    pub timestamp: Option<String>,
    pub suberror: Option<String>,
    pub error_uri: Option<String>,
}

impl TokenError {
    /// The first line of the description, without the trace/correlation tail.
    pub fn summary(&self) -> String {
        let first = self.description.lines().next().unwrap_or("");
        first.split(" Trace ID:").next().unwrap_or(first).trim().to_string()
    }
}

#[derive(Debug, Clone)]
pub enum TokenResponse {
    Success(TokenSuccess),
    Error(TokenError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthParseError {
    #[error("the token endpoint answered HTTP {status} with a body that is not a token response: {reason}")]
    NotJson { status: u16, reason: String },
    #[error("the token endpoint answered HTTP {0} with neither an access_token nor an error")]
    Empty(u16),
}

#[derive(Deserialize)]
struct Raw {
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u32>,
    trace_id: Option<String>,
    correlation_id: Option<String>,
    timestamp: Option<String>,
    suberror: Option<String>,
    error_uri: Option<String>,
}

/// `AADSTSnnnn` in a description.
pub fn aadsts_in(text: &str) -> Option<u32> {
    let at = text.find("AADSTS")?;
    let digits: String = text[at + 6..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenResponse, OAuthParseError> {
    let raw: Raw = serde_json::from_slice(body).map_err(|e| OAuthParseError::NotJson {
        status,
        reason: e.to_string(),
    })?;
    if let Some(error) = raw.error {
        let description = raw.error_description.unwrap_or_default();
        let aadsts = raw.error_codes.first().copied().or_else(|| aadsts_in(&description));
        return Ok(TokenResponse::Error(TokenError {
            http_status: status,
            error,
            description,
            aadsts,
            error_codes: raw.error_codes,
            trace_id: raw.trace_id,
            correlation_id: raw.correlation_id,
            timestamp: raw.timestamp,
            suberror: raw.suberror,
            error_uri: raw.error_uri,
        }));
    }
    match raw.access_token {
        Some(token) if !token.is_empty() => Ok(TokenResponse::Success(TokenSuccess {
            token_type: raw.token_type.unwrap_or_else(|| "Bearer".into()),
            expires_in: raw
                .expires_in
                .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))),
            access_token: Secret::new(token),
            refresh_token: raw.refresh_token.map(Secret::new),
            scope: raw.scope,
        })),
        _ => Err(OAuthParseError::Empty(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_first_then_description() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '1a2b'. Trace ID: 0b9c Correlation ID: 77aa Timestamp: 2026-11-22 05:31:00Z","error_codes":[7000215],"timestamp":"2026-11-22 05:31:00Z","trace_id":"0b9c","correlation_id":"77aa","error_uri":"https://login.microsoftonline.com/error?code=7000215"}"#;
        let TokenResponse::Error(e) = parse_token_response(401, body).expect("parse") else {
            panic!()
        };
        assert_eq!(e.aadsts, Some(7000215));
        assert_eq!(e.trace_id.as_deref(), Some("0b9c"));
        assert!(e
            .summary()
            .starts_with("AADSTS7000215: Invalid client secret provided."));
        assert!(!e.summary().contains("Trace ID"));
        let no_codes = br#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found."}"#;
        let TokenResponse::Error(e) = parse_token_response(400, no_codes).expect("parse") else {
            panic!()
        };
        assert_eq!(e.aadsts, Some(90002));
    }

    #[test]
    fn success_and_odd_bodies() {
        let TokenResponse::Success(s) = parse_token_response(
            200,
            br#"{"token_type":"Bearer","expires_in":"3599","access_token":"eyJ.a.b"}"#,
        )
        .expect("ok") else {
            panic!()
        };
        assert_eq!(s.expires_in, Some(3599));
        assert!(!format!("{s:?}").contains("eyJ"));
        assert!(matches!(
            parse_token_response(200, b"<html>"),
            Err(OAuthParseError::NotJson { .. })
        ));
        assert_eq!(
            parse_token_response(200, b"{}").err(),
            Some(OAuthParseError::Empty(200))
        );
        assert_eq!(aadsts_in("no code"), None);
        assert_eq!(aadsts_in("AADSTS"), None);
    }
}
