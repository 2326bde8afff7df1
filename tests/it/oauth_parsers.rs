//! Token endpoint and Graph parsers on real-shaped answers for every AADSTS
//! number and Graph case the catalogue maps, odd bodies, and malformed JWTs.

use base64::Engine as _;
use exprobe::protocol::graph;
use exprobe::protocol::jwt::{self, JwtError};
use exprobe::protocol::oauth::{self, TokenResponse};

/// Microsoft's token error shape, for one AADSTS number.
fn token_error(error: &str, code: u32, text: &str) -> Vec<u8> {
    serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: 3f2a9c1e-0b7d-4e55-9a11-5c0d8e7f6a21 Correlation ID: 8b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e Timestamp: 2026-11-22 06:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-11-22 06:00:00Z",
        "trace_id": "3f2a9c1e-0b7d-4e55-9a11-5c0d8e7f6a21",
        "correlation_id": "8b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
    })
    .to_string()
    .into_bytes()
}

#[test]
fn every_listed_aadsts_number_parses_and_classifies() {
    let cases: &[(u16, &str, u32, &str, &str)] = &[
        (
            400,
            "invalid_request",
            90002,
            "Tenant 'contoso-typo.onmicrosoft.com' not found.",
            "oauth.tenant_not_found",
        ),
        (
            400,
            "invalid_request",
            900023,
            "Specified tenant identifier 'x' is neither a valid DNS name, nor a valid external domain.",
            "oauth.tenant_not_found",
        ),
        (
            400,
            "unauthorized_client",
            700016,
            "Application with identifier 'x' was not found in the directory 'Contoso'.",
            "oauth.app_not_found",
        ),
        (
            400,
            "unauthorized_client",
            7000112,
            "Application 'x'(CRM Sync) is disabled.",
            "oauth.app_disabled",
        ),
        (
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
            "oauth.invalid_client_secret",
        ),
        (
            401,
            "invalid_client",
            7000222,
            "The provided client secret keys for app 'x' are expired.",
            "oauth.client_secret_expired",
        ),
        (
            401,
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature.",
            "oauth.certificate_rejected",
        ),
        (
            400,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
            "oauth.assertion_time_invalid",
        ),
        (
            400,
            "invalid_grant",
            65001,
            "The user or administrator has not consented to use the application.",
            "oauth.consent_required",
        ),
        (
            400,
            "invalid_grant",
            90094,
            "The grant requires admin permission.",
            "oauth.consent_required",
        ),
        (
            400,
            "invalid_grant",
            65004,
            "User declined to consent to access the app.",
            "oauth.consent_required",
        ),
        (
            400,
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
            "oauth.invalid_credentials",
        ),
        (
            400,
            "invalid_grant",
            50034,
            "The user account x does not exist in the y directory.",
            "oauth.user_not_found",
        ),
        (
            400,
            "invalid_grant",
            50020,
            "User account from identity provider does not exist in tenant.",
            "oauth.user_not_found",
        ),
        (
            400,
            "invalid_grant",
            50057,
            "The user account is disabled.",
            "oauth.account_disabled",
        ),
        (
            400,
            "invalid_grant",
            50053,
            "Your account is locked because you've tried to sign in too many times.",
            "oauth.account_locked",
        ),
        (
            400,
            "invalid_grant",
            50055,
            "The password is expired.",
            "oauth.password_expired",
        ),
        (
            400,
            "invalid_grant",
            50076,
            "Due to a configuration change made by your administrator, you must use multi-factor authentication.",
            "oauth.mfa_required",
        ),
        (
            400,
            "invalid_grant",
            50079,
            "Due to a configuration change made by your administrator, you must enroll in multi-factor authentication.",
            "oauth.mfa_required",
        ),
        (
            400,
            "invalid_grant",
            50158,
            "External security challenge not satisfied.",
            "oauth.mfa_required",
        ),
        (
            400,
            "invalid_grant",
            53003,
            "Access has been blocked by Conditional Access policies.",
            "oauth.conditional_access_blocked",
        ),
        (
            400,
            "invalid_grant",
            530003,
            "Your device is required to be managed to access this resource.",
            "oauth.conditional_access_blocked",
        ),
        (
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
            "oauth.refresh_token_expired",
        ),
        (
            400,
            "invalid_grant",
            700082,
            "The refresh token has expired due to inactivity.",
            "oauth.refresh_token_expired",
        ),
        (
            400,
            "invalid_grant",
            50173,
            "The provided grant has expired due to it being revoked.",
            "oauth.refresh_token_expired",
        ),
        (
            400,
            "invalid_grant",
            70043,
            "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.",
            "oauth.refresh_token_expired",
        ),
        (
            400,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid.",
            "oauth.invalid_scope",
        ),
        (
            400,
            "invalid_scope",
            1002012,
            "The provided value for scope x is not valid.",
            "oauth.invalid_scope",
        ),
        (
            400,
            "invalid_resource",
            500011,
            "The resource principal named x was not found in the tenant named y.",
            "oauth.resource_not_found",
        ),
        (
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            "oauth.public_client_not_allowed",
        ),
        (
            400,
            "invalid_request",
            9002313,
            "Invalid request. Request is malformed or invalid.",
            "oauth.error",
        ),
    ];
    for (status, error, code, text, catalogue) in cases {
        let TokenResponse::Error(e) =
            oauth::parse_token_response(*status, &token_error(error, *code, text)).expect("parse")
        else {
            panic!("{code}: not an error")
        };
        assert_eq!(e.aadsts, Some(*code));
        assert_eq!(e.trace_id.as_deref(), Some("3f2a9c1e-0b7d-4e55-9a11-5c0d8e7f6a21"));
        assert_eq!(
            e.correlation_id.as_deref(),
            Some("8b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e")
        );
        assert!(e.summary().starts_with(&format!("AADSTS{code}:")) && !e.summary().contains("Trace ID"));
        assert_eq!(
            exprobe::diagnose::aadsts_code(e.aadsts.unwrap_or(0)).as_str(),
            *catalogue,
            "{code}"
        );
        assert!(exprobe::diagnose::catalogue::lookup(catalogue).is_some(), "{catalogue}");
    }
}

#[test]
fn odd_token_endpoint_bodies() {
    for (status, body) in [
        (200, &b""[..]),
        (502, b"<html><body>Bad Gateway</body></html>"),
        (200, b"[1,2]"),
        (200, b"{\"token_type\":\"Bearer\"}"),
        (400, b"\xff\xfe"),
    ] {
        assert!(
            oauth::parse_token_response(status, body).is_err(),
            "{status} {:?}",
            String::from_utf8_lossy(body)
        );
    }
    // No error_codes: the number comes from the description.
    let TokenResponse::Error(e) = oauth::parse_token_response(
        400,
        br#"{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant 'x' not found."}"#,
    )
    .expect("parse") else {
        panic!()
    };
    assert_eq!(e.aadsts, Some(90002));
}

#[test]
fn graph_error_samples() {
    let cases = [
        (403, "ErrorAccessDenied", "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.", "graph.access_policy_denied"),
        (403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", "graph.access_denied"),
        (404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.", "mailbox.not_found"),
        (404, "ErrorInvalidUser", "The requested user 'ghost@contoso.com' is invalid.", "mailbox.not_found"),
        (404, "Request_ResourceNotFound", "Resource 'ghost@contoso.com' does not exist or one of its queried reference-property objects are not present.", "mailbox.not_found"),
        (403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "graph.insufficient_privileges"),
        (401, "Authorization_IdentityNotFound", "The identity of the calling application could not be established.", "graph.identity_not_found"),
        (401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.", "token.wrong_audience"),
        (401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.", "token.expired"),
        (429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", "graph.throttled"),
    ];
    for (status, code, message, catalogue) in cases {
        let body = serde_json::json!({"error": {"code": code, "message": message, "innerError": {"date": "2026-11-22T06:00:00", "request-id": "9c8b7a6f-5e4d-4c3b-a2a1-0f9e8d7c6b5a", "client-request-id": "9c8b7a6f-5e4d-4c3b-a2a1-0f9e8d7c6b5a"}}});
        let e = graph::parse_error(status, body.to_string().as_bytes()).expect("parse");
        assert_eq!(
            (e.http_status, e.code.as_str(), e.message.as_str()),
            (status, code, message)
        );
        assert_eq!(e.request_id.as_deref(), Some("9c8b7a6f-5e4d-4c3b-a2a1-0f9e8d7c6b5a"));
        assert_eq!(
            exprobe::diagnose::graph_code(&e).as_str(),
            catalogue,
            "{code}: {message}"
        );
    }
    for odd in [&b""[..], b"<html>", b"{\"error\":\"flat string\"}", b"[]"] {
        assert!(
            graph::parse_error(500, odd).is_none(),
            "{:?}",
            String::from_utf8_lossy(odd)
        );
    }
}

#[test]
fn malformed_jwts_are_errors_never_panics() {
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let huge = "a".repeat(jwt::MAX_TOKEN_BYTES + 10);
    let cases: Vec<(String, JwtError)> = vec![
        ("onlyone".into(), JwtError::Segments(1)),
        ("two.segments".into(), JwtError::Segments(2)),
        ("a.b.c.d".into(), JwtError::Segments(4)),
        ("%%%.e30.sig".into(), JwtError::Base64("header")),
        (format!("{}.###.sig", b64(b"{}")), JwtError::Base64("payload")),
        (
            format!("{}.{}.sig", b64(b"not json"), b64(b"{}")),
            JwtError::Json("header"),
        ),
        (
            format!("{}.{}.sig", b64(b"{}"), b64(b"[\"array\"]")),
            JwtError::Json("payload"),
        ),
        (
            format!("{}.{}.sig", b64(b"{}"), b64(b"{\"exp\":\"soon\"}")),
            JwtError::Json("payload"),
        ),
        (
            format!("{}.{}.sig", b64(b"{}"), b64(&[0xff, 0xfe, 0x00])),
            JwtError::Json("payload"),
        ),
        (huge, JwtError::TooLarge),
    ];
    for (token, want) in cases {
        assert_eq!(
            jwt::decode(&token).err(),
            Some(want),
            "{}",
            &token[..token.len().min(40)]
        );
    }
}
