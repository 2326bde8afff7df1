//! Parsers on Microsoft's reference samples (2018, real `http://` namespaces)
//! and on malformed, truncated, wrong-namespace, hostile and huge input.

use exprobe::protocol::autodiscover_v2::{self, V2Answer};
use exprobe::protocol::pox::{self, PoxAnswer, PoxError};
use exprobe::protocol::soap_autodiscover::{self, SoapAnswer};
use exprobe::protocol::xml::{self, XmlError};

fn sample(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/fixtures/samples/microsoft-docs-2018/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn pox_settings_prefers_expr_and_falls_back_to_asurl() {
    // Only ASUrl, in EXPR and EXCH: EXPR wins.
    let PoxAnswer::Settings(s) =
        pox::parse_response(&sample("pox-autodiscover-response-for-exchange-1.xml")).expect("parse")
    else {
        panic!("settings expected")
    };
    assert_eq!(s.ews_url.as_deref(), Some("https://mail.contoso.com/ews/exchange.asmx"));
    assert_eq!(s.ews_url_source.as_deref(), Some("EXPR/ASUrl"));
    assert_eq!(s.display_name.as_deref(), Some("First Last"));
    assert_eq!(s.protocols.len(), 3);
    // EXPR without URLs: EXCH's EwsUrl; AutoDiscoverSMTPAddress is the primary address.
    let PoxAnswer::Settings(s) = pox::parse_response(&sample(
        "how-to-get-user-settings-from-exchange-by-using-autodiscover-4.xml",
    ))
    .expect("parse") else {
        panic!("settings expected")
    };
    assert_eq!(s.ews_url.as_deref(), Some("https://mail.contoso.com/EWS/Exchange.asmx"));
    assert_eq!(s.ews_url_source.as_deref(), Some("EXCH/EwsUrl"));
    assert_eq!(s.autodiscover_smtp_address.as_deref(), Some("mara@contoso.com"));
    assert_eq!(s.microsoft_online, Some(false));
}

#[test]
fn pox_error_and_redirects() {
    assert_eq!(
        pox::parse_response(&sample("pox-autodiscover-response-for-exchange-2.xml")),
        Ok(PoxAnswer::Error {
            code: "600".into(),
            message: "Invalid Request".into()
        })
    );
    assert_eq!(
        pox::parse_response(&sample("handling-autodiscover-error-messages-2.xml")),
        Ok(PoxAnswer::RedirectAddr("elvin@mail.contoso.com".into()))
    );
    let url = br#"<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"><Account><Action>redirectUrl</Action><RedirectURL>https://autodiscover.contoso.com/autodiscover/autodiscover.xml</RedirectURL></Account></Response></Autodiscover>"#;
    assert_eq!(
        pox::parse_response(url),
        Ok(PoxAnswer::RedirectUrl(
            "https://autodiscover.contoso.com/autodiscover/autodiscover.xml".into()
        ))
    );
}

#[test]
fn pox_rejects_wrong_namespaces_and_unknown_actions() {
    let https_ns = String::from_utf8(sample(
        "how-to-get-user-settings-from-exchange-by-using-autodiscover-4.xml",
    ))
    .expect("utf8")
    .replace("http://schemas.microsoft.com", "https://schemas.microsoft.com");
    assert!(matches!(
        pox::parse_response(https_ns.as_bytes()),
        Err(PoxError::WrongNamespace { .. })
    ));
    let bad_inner = br#"<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response xmlns="urn:other"><Account><Action>settings</Action></Account></Response></Autodiscover>"#;
    assert!(matches!(
        pox::parse_response(bad_inner),
        Err(PoxError::WrongNamespace { .. })
    ));
    let action = br#"<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"><Account><Action>launchMissiles</Action></Account></Response></Autodiscover>"#;
    assert_eq!(
        pox::parse_response(action),
        Err(PoxError::UnknownAction("launchMissiles".into()))
    );
    // The request sample is not a response.
    assert!(matches!(
        pox::parse_response(&sample("pox-autodiscover-request-for-exchange-1.xml")),
        Err(PoxError::WrongNamespace { .. })
    ));
}

#[test]
fn soap_settings_from_the_sample_even_with_its_defects() {
    // Ends without the final '>' and has a line break inside a:Action.
    let SoapAnswer::Settings { ews_url, settings } = soap_autodiscover::parse_response(&sample(
        "how-to-get-user-settings-from-exchange-by-using-autodiscover-2.xml",
    ))
    .expect("parse") else {
        panic!("settings expected")
    };
    assert_eq!(ews_url.as_deref(), Some("https://mail.contoso.com/EWS/Exchange.asmx"));
    assert_eq!(
        settings.get("UserDisplayName").map(String::as_str),
        Some("Mara Whitley")
    );
    assert_eq!(settings.get("CasVersion").map(String::as_str), Some("15.01.0160.004"));
    // No EWS URL requested in this one.
    let SoapAnswer::Settings { ews_url, settings } =
        soap_autodiscover::parse_response(&sample("getusersettings-operation-soap-2.xml")).expect("parse")
    else {
        panic!("settings expected")
    };
    assert_eq!(ews_url, None);
    assert_eq!(settings.len(), 8);
}

#[test]
fn soap_redirects_invalid_user_and_faults() {
    assert_eq!(
        soap_autodiscover::parse_response(&sample("handling-autodiscover-error-messages-1.xml")),
        Ok(SoapAnswer::RedirectAddress("elvin@mail.contoso.com".into()))
    );
    let invalid = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetUserSettingsResponseMessage xmlns="http://schemas.microsoft.com/exchange/2010/Autodiscover"><Response xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><ErrorCode>NoError</ErrorCode><ErrorMessage/><UserResponses><UserResponse><ErrorCode>InvalidUser</ErrorCode><ErrorMessage>Invalid user 'nobody@contoso.com'.</ErrorMessage><RedirectTarget i:nil="true"/><UserSettingErrors/><UserSettings/></UserResponse></UserResponses></Response></GetUserSettingsResponseMessage></s:Body></s:Envelope>"#;
    assert_eq!(
        soap_autodiscover::parse_response(invalid),
        Ok(SoapAnswer::InvalidUser("Invalid user 'nobody@contoso.com'.".into()))
    );
    let busy = String::from_utf8_lossy(invalid).replace(
        "<ErrorCode>NoError</ErrorCode><ErrorMessage/><UserResponses>",
        "<ErrorCode>ServerBusy</ErrorCode><ErrorMessage>Server busy.</ErrorMessage><UserResponses>",
    );
    assert_eq!(
        soap_autodiscover::parse_response(busy.as_bytes()),
        Ok(SoapAnswer::Error {
            code: "ServerBusy".into(),
            message: "Server busy.".into()
        })
    );
    let fault = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorSchemaValidation</faultcode><faultstring>The request failed schema validation.</faultstring></s:Fault></s:Body></s:Envelope>"#;
    assert_eq!(
        soap_autodiscover::parse_response(fault),
        Ok(SoapAnswer::Error {
            code: "ErrorSchemaValidation".into(),
            message: "The request failed schema validation.".into()
        })
    );
    let wrong_ns = String::from_utf8_lossy(invalid).replace(
        "http://schemas.microsoft.com/exchange/2010/Autodiscover",
        "https://schemas.microsoft.com/exchange/2010/Autodiscover",
    );
    assert!(soap_autodiscover::parse_response(wrong_ns.as_bytes()).is_err());
}

#[test]
fn request_bodies_round_trip_through_our_own_parser() {
    let body = soap_autodiscover::request_body(
        "a&b@contoso.com",
        "https://autodiscover.contoso.com/autodiscover/autodiscover.svc",
    );
    let doc = xml::parse(body.as_bytes()).expect("well-formed");
    assert_eq!(
        doc.root.find("Mailbox").map(|m| m.text.as_str()),
        Some("a&b@contoso.com")
    );
    assert_eq!(
        doc.root.find("Action").map(|m| m.text.as_str()),
        Some(soap_autodiscover::ACTION_GET_USER_SETTINGS)
    );
    let pox_body = pox::request_body("<x>@contoso.com");
    let doc = xml::parse(pox_body.as_bytes()).expect("well-formed");
    assert!(doc.root.is(pox::REQUEST_NS, "Autodiscover"));
    assert_eq!(
        doc.root.find("EMailAddress").map(|m| m.text.as_str()),
        Some("<x>@contoso.com")
    );
}

#[test]
fn hostile_and_broken_bodies_are_errors_without_panics() {
    let bodies: Vec<Vec<u8>> = vec![
        vec![],
        b"<html><head><title>Welcome to nginx!</title></head><body>".to_vec(),
        b"<!DOCTYPE html><html><body>It works</body></html>".to_vec(),
        br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><Autodiscover>&x;</Autodiscover>"#.to_vec(),
        "<a>".repeat(100_000).into_bytes(),
        vec![0xff, 0xfe, 0x00, 0x3c],
        b"\x00\x01\x02garbage".to_vec(),
        sample("pox-autodiscover-response-for-exchange-1.xml")[..300].to_vec(),
        b"{\"Protocol\":\"EWS\"}".to_vec(),
    ];
    for body in &bodies {
        assert!(
            pox::parse_response(body).is_err(),
            "POX accepted {:?}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        assert!(
            soap_autodiscover::parse_response(body).is_err(),
            "SOAP accepted {:?}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
    }
    assert_eq!(xml::parse(&bodies[3]), Err(XmlError::Dtd));
    assert_eq!(xml::parse(&bodies[4]), Err(XmlError::TooDeep));
}

#[test]
fn huge_bodies_are_bounded() {
    // 3 MiB of flat elements: refused by the element cap, quickly.
    let huge = format!(
        "<Autodiscover xmlns=\"{}\">{}</Autodiscover>",
        pox::RESPONSE_NS,
        "<Junk>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</Junk>".repeat(80_000)
    );
    assert!(huge.len() > 3 << 20);
    assert_eq!(
        pox::parse_response(huge.as_bytes()),
        Err(PoxError::Xml(XmlError::TooManyElements))
    );
    // 3 MiB of text in one element parses (it is well-formed) but carries no answer.
    let text = format!(
        "<Autodiscover xmlns=\"{}\">{}</Autodiscover>",
        pox::RESPONSE_NS,
        "y".repeat(3 << 20)
    );
    assert_eq!(pox::parse_response(text.as_bytes()), Err(PoxError::Missing("Response")));
}

#[test]
fn autodiscover_v2_json() {
    assert_eq!(
        autodiscover_v2::parse_response(
            br#"{"Protocol":"EWS","Url":"https://outlook.office365.com/EWS/Exchange.asmx"}"#
        ),
        Ok(V2Answer::Url("https://outlook.office365.com/EWS/Exchange.asmx".into()))
    );
    assert!(matches!(
        autodiscover_v2::parse_response(br#"{"ErrorCode":"MandatoryParameterMissing","ErrorMessage":"A valid value must be provided for the query parameter 'Protocol'."}"#),
        Ok(V2Answer::Error { .. })
    ));
    assert!(autodiscover_v2::parse_response(br#"{"Protocol":"ActiveSync","Url":"https://x"}"#).is_err());
    assert!(autodiscover_v2::parse_response(b"<html/>").is_err());
    assert!(autodiscover_v2::parse_response(b"{}").is_err());
    assert_eq!(
        autodiscover_v2::request_path("a@b.com"),
        "/autodiscover/autodiscover.json/v1.0/a@b.com?Protocol=EWS"
    );
}

/// 100,000 attributes on one element (1.2 MB): refused by count, before
/// quick-xml's quadratic duplicate check sees them; xmlns floods alike.
#[test]
fn attribute_floods_are_refused() {
    for attr in ["a", "xmlns:p"] {
        let mut body = String::from("<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\"><Response ");
        for i in 0..100_000 {
            body.push_str(&format!("{attr}{i}=\"v\" "));
        }
        body.push_str("/></Autodiscover>");
        let err = exprobe::protocol::xml::parse(body.as_bytes()).expect_err("refused");
        assert_eq!(err, exprobe::protocol::xml::XmlError::TooManyAttributes, "{attr}");
        assert!(exprobe::protocol::pox::parse_response(body.as_bytes()).is_err());
    }
}
