//! The EWS answer parser on every documented fault and response class,
//! Microsoft's 2018 samples, non-SOAP answers and hostile bodies; the
//! WWW-Authenticate and x-ms-diagnostics parsers on real header shapes.

use exprobe::protocol::ews::{self, BodyKind, ErrorForm, EwsReply};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/ews/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sample(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/fixtures/samples/microsoft-docs-2018/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The EWS error in `file`'s answer (named in every failure).
fn error_of(status: u16, file: &str, body: &[u8]) -> ews::EwsError {
    match ews::classify(status, &[], body) {
        EwsReply::Error { error, http_status, .. } => {
            assert_eq!(http_status, status, "{file}");
            error
        }
        other => panic!("{file}: expected an EWS error, got {other:?}"),
    }
}

#[test]
fn soap_faults_strip_the_prefix_and_keep_message_xml() {
    let cases = [
        (
            "fault-impersonate-user-denied.xml",
            "ErrorImpersonateUserDenied",
            "The account does not have permission to impersonate the requested user.",
        ),
        (
            "fault-non-existent-mailbox.xml",
            "ErrorNonExistentMailbox",
            "The SMTP address has no mailbox associated with it.",
        ),
        (
            "fault-impersonation-header-present.xml",
            "ErrorInvalidExchangeImpersonationHeaderData",
            "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
        ),
        (
            "fault-impersonation-header-absent.xml",
            "ErrorInvalidExchangeImpersonationHeaderData",
            "ExchangeImpersonation SOAP header must not exist for this type of OAuth token.",
        ),
        (
            "fault-server-busy.xml",
            "ErrorServerBusy",
            "The server cannot service this request right now. Try again later.",
        ),
        (
            "fault-schema-validation.xml",
            "ErrorSchemaValidation",
            "The request failed schema validation.",
        ),
        (
            "fault-invalid-server-version.xml",
            "ErrorInvalidServerVersion",
            "The specified server version is invalid.",
        ),
    ];
    for (file, code, message) in cases {
        let e = error_of(500, file, &fixture(file));
        assert_eq!(e.form, ErrorForm::Fault, "{file}");
        assert_eq!(e.code, code, "{file}");
        assert_eq!(e.message, message, "{file}");
    }
    let mailbox = error_of(
        500,
        "fault-non-existent-mailbox.xml",
        &fixture("fault-non-existent-mailbox.xml"),
    );
    assert_eq!(
        mailbox.values.get("SmtpAddress").map(String::as_str),
        Some("ghost@contoso.com")
    );
    let busy = error_of(500, "fault-server-busy.xml", &fixture("fault-server-busy.xml"));
    assert_eq!(busy.back_off_ms(), Some(297_749));
    let schema = error_of(
        500,
        "fault-schema-validation.xml",
        &fixture("fault-schema-validation.xml"),
    );
    assert_eq!(schema.values.get("LineNumber").map(String::as_str), Some("2"));
}

#[test]
fn response_class_errors_with_http_200() {
    let e = error_of(
        200,
        "response-convertid-invalid-smtp.xml",
        &fixture("response-convertid-invalid-smtp.xml"),
    );
    assert_eq!(
        (e.form, e.code.as_str()),
        (ErrorForm::ResponseMessage, "ErrorInvalidSmtpAddress")
    );
    let e = error_of(
        200,
        "response-access-denied.xml",
        &fixture("response-access-denied.xml"),
    );
    assert_eq!(e.code, "ErrorAccessDenied");
    assert_eq!(e.message, "Access is denied. Check credentials and try again.");
    let e = error_of(
        200,
        "response-missing-email-address.xml",
        &fixture("response-missing-email-address.xml"),
    );
    assert_eq!(e.code, "ErrorMissingEmailAddress");
    // The inner error of ErrorInternalServerError is what matters.
    let e = error_of(
        200,
        "response-internal-server-error.xml",
        &fixture("response-internal-server-error.xml"),
    );
    assert_eq!(e.code, "ErrorInternalServerError");
    assert_eq!(e.effective_code(), "ErrorMailboxStoreUnavailable");
    assert!(ews::REDISCOVER_CODES.contains(&e.effective_code()));
    // Microsoft's own samples.
    let e = error_of(200, "getfolder-operation-3.xml", &sample("getfolder-operation-3.xml"));
    assert_eq!(e.code, "ErrorInvalidIdMalformed");
    let e = error_of(200, "convertid-operation-3.xml", &sample("convertid-operation-3.xml"));
    assert_eq!(e.code, "ErrorInvalidIdMalformed");
}

#[test]
fn successes_carry_server_version_info() {
    match ews::classify(200, &[], &sample("getfolder-operation-2.xml")) {
        EwsReply::Success {
            operation,
            server_version,
        } => {
            assert_eq!(operation, "GetFolderResponseMessage");
            let v = server_version.expect("version");
            assert_eq!((v.major, v.minor, v.major_build), (Some(8), Some(0), Some(628)));
        }
        other => panic!("{other:?}"),
    }
    match ews::classify(200, &[], &sample("convertid-operation-2.xml")) {
        EwsReply::Success { server_version, .. } => {
            assert_eq!(server_version.and_then(|v| v.version).as_deref(), Some("Exchange2010"))
        }
        other => panic!("{other:?}"),
    }
    match ews::classify(200, &[], &fixture("response-convertid-invalid-smtp.xml")) {
        EwsReply::Error { server_version, .. } => {
            assert_eq!(server_version.and_then(|v| v.version).as_deref(), Some("V2018_01_08"))
        }
        other => panic!("{other:?}"),
    }
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

#[test]
fn non_soap_answers() {
    let bearer = r#"Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*", token_types="app_asserted_user_v1 service_asserted_app_v1", authorization_uri="https://login.windows.net/common/oauth2/authorize", error="invalid_token""#;
    let h = headers(&[
        ("WWW-Authenticate", bearer),
        ("WWW-Authenticate", "Basic Realm=\"\""),
        (
            "x-ms-diagnostics",
            r#"2000001;reason="The token has an invalid signature.";error_category="invalid_token""#,
        ),
    ]);
    match ews::classify(401, &h, b"") {
        EwsReply::Unauthorized {
            challenges,
            diagnostics,
            ..
        } => {
            assert_eq!(challenges.len(), 2);
            assert_eq!(
                challenges[0].param("client_id"),
                Some("00000002-0000-0ff1-ce00-000000000000")
            );
            assert_eq!(
                challenges[0].param("token_types"),
                Some("app_asserted_user_v1 service_asserted_app_v1")
            );
            let d = diagnostics.expect("diagnostics");
            assert_eq!(d.id, Some(2000001));
            assert_eq!(d.category.as_deref(), Some("invalid_token"));
        }
        other => panic!("{other:?}"),
    }
    let h = headers(&[(
        "x-ms-diagnostics",
        r#"2000008;reason="The token contains not enough scope to make this call.";error_category="invalid_grant""#,
    )]);
    assert!(
        matches!(ews::classify(403, &h, b""), EwsReply::Forbidden { diagnostics: Some(d), .. } if d.id == Some(2000008))
    );
    assert_eq!(ews::classify(456, &[], b""), EwsReply::Locked);
    assert_eq!(
        ews::classify(
            302,
            &headers(&[(
                "Location",
                "https://mail.contoso.com/owa/auth/errorFE.aspx?httpCode=500"
            )]),
            b""
        ),
        EwsReply::Redirected {
            status: 302,
            location: Some("https://mail.contoso.com/owa/auth/errorFE.aspx?httpCode=500".into())
        }
    );
    assert!(matches!(
        ews::classify(429, &headers(&[("Retry-After", "7")]), b""),
        EwsReply::Throttled {
            retry_after: Some(7),
            ..
        }
    ));
    assert!(matches!(
        ews::classify(500, &[], &fixture("html-error-page.html")),
        EwsReply::NotSoap {
            body: BodyKind::Html,
            http_status: 500,
            ..
        }
    ));
    assert!(matches!(
        ews::classify(200, &[], b""),
        EwsReply::NotSoap {
            body: BodyKind::Empty,
            ..
        }
    ));
    assert!(matches!(
        ews::classify(503, &headers(&[("Retry-After", "30")]), b"Service Unavailable"),
        EwsReply::Throttled {
            retry_after: Some(30),
            ..
        }
    ));
    assert!(matches!(
        ews::classify(200, &[], b"\x00\xffgarbage"),
        EwsReply::NotSoap {
            body: BodyKind::Other,
            ..
        }
    ));
}

#[test]
fn hostile_bodies_are_classified_without_panics() {
    let deep = format!("<s:Envelope xmlns:s=\"{}\">{}", ews::SOAP_NS, "<x>".repeat(50_000));
    let dtd = br#"<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&b;</s:Body></s:Envelope>"#.to_vec();
    let huge = format!(
        "<s:Envelope xmlns:s=\"{}\"><s:Body><s:Fault><faultstring>{}</faultstring></s:Fault></s:Body></s:Envelope>",
        ews::SOAP_NS,
        "z".repeat(3 << 20)
    );
    let truncated = fixture("fault-server-busy.xml")[..200].to_vec();
    let wrong_ns = String::from_utf8(fixture("fault-impersonate-user-denied.xml"))
        .expect("utf8")
        .replace(
            "http://schemas.xmlsoap.org/soap/envelope/",
            "http://www.w3.org/2003/05/soap-envelope-not",
        );
    for (name, body) in [
        ("deep", deep.into_bytes()),
        ("dtd", dtd),
        ("truncated", truncated),
        ("wrong namespace", wrong_ns.into_bytes()),
    ] {
        assert!(
            matches!(ews::classify(500, &[], &body), EwsReply::NotSoap { .. }),
            "{name}"
        );
    }
    // 3 MiB in one text node is well-formed; it is still an answer, bounded by the caller's 2 MiB cap.
    assert!(matches!(
        ews::classify(500, &[], huge.as_bytes()),
        EwsReply::Error { .. }
    ));
}

#[test]
fn request_envelopes_parse_and_carry_what_exchange_needs() {
    let body = ews::get_inbox(Some(("alice@contoso.com", ews::SidForm::SmtpAddress)));
    let doc = exprobe::protocol::xml::parse(body.as_bytes()).expect("well-formed");
    let sid = doc
        .root
        .path(&["Header", "ExchangeImpersonation", "ConnectingSID", "SmtpAddress"])
        .expect("SmtpAddress");
    assert_eq!(sid.text, "alice@contoso.com");
    assert!(sid.is(ews::TYPES_NS, "SmtpAddress"));
    assert_eq!(
        doc.root
            .path(&["Header", "RequestServerVersion"])
            .and_then(|e| e.attr("Version")),
        Some(ews::REQUEST_SERVER_VERSION)
    );
    let get = doc.root.path(&["Body", "GetFolder"]).expect("GetFolder");
    assert!(get.is(ews::MESSAGES_NS, "GetFolder"));
    assert_eq!(get.find("BaseShape").map(|e| e.text.as_str()), Some("IdOnly"));
    assert_eq!(
        get.find("DistinguishedFolderId").and_then(|e| e.attr("Id")),
        Some("inbox")
    );
    let own = ews::get_inbox(None);
    assert!(!own.contains("ExchangeImpersonation"));
    let convert = exprobe::protocol::xml::parse(ews::convert_id_probe().as_bytes()).expect("well-formed");
    assert_eq!(
        convert.root.find("AlternateId").and_then(|e| e.attr("Mailbox")),
        Some("DUMMY")
    );
}
