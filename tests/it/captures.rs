//! exprobe's parsers and classification on real answers captured in public
//! posts (`fixtures/captures/`, each source named in FINDINGS.md).

use exprobe::protocol::{ews, graph, ms_diagnostics, pox};

fn capture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/captures/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn pox_error_500_from_a_real_trace_is_an_unknown_address() {
    let answer =
        pox::parse_response(capture("pox-error-500-office365fiddlerextension.xml").as_bytes()).expect("parses");
    assert_eq!(
        answer,
        pox::PoxAnswer::Error {
            code: "500".into(),
            message: "The email address can't be found.".into()
        }
    );
    assert!(pox::error_meaning("500").is_some_and(|m| m.contains("cannot be found")));
}

#[test]
fn pox_error_603_of_another_server_is_read_too() {
    // grommunio/gromox#237: not Exchange, but the same schema.
    let answer = pox::parse_response(capture("pox-error-603-nonms-gromox-237.xml").as_bytes()).expect("parses");
    assert!(matches!(answer, pox::PoxAnswer::Error { ref code, .. } if code == "603"));
    assert!(pox::error_meaning("603").is_some_and(|m| m.contains("internal error")));
}

#[test]
fn a_pox_error_answer_without_the_namespace_is_refused_with_a_reason() {
    // ruler#79: Exchange's answer to a browser's GET, posted with a literal "\n": not a
    // POX answer exprobe would act on.
    let err = pox::parse_response(capture("pox-error-600-ruler-79.xml").as_bytes()).expect_err("refused");
    assert!(!err.to_string().is_empty());
}

#[test]
fn the_401_no_permissions_diagnostic_of_exchange_online_is_a_missing_role() {
    // otris/ews-cpp#148: the x-ms-diagnostics header of a 401 from EWS.
    let line = capture("x-ms-diagnostics-401-2000008-ews-cpp-148.txt");
    let value = line.trim().strip_prefix("x-ms-diagnostics: ").expect("header line");
    let d = ms_diagnostics::parse(value);
    assert_eq!(d.id, Some(2000008));
    let headers = vec![
        (
            "WWW-Authenticate".to_string(),
            "Bearer error=\"invalid_token\"".to_string(),
        ),
        ("x-ms-diagnostics".to_string(), value.to_string()),
    ];
    let reply = ews::classify(401, &headers, b"");
    let code = exprobe::diagnose::reply_code(&reply).expect("a code");
    assert_eq!(code.as_str(), "token.missing_role");
}

#[test]
fn graph_access_policy_denials_with_and_without_raop() {
    for (file, status) in [
        ("graph-raop-python-sendmail-blog-2025.json", 403),
        ("graph-odata-disabled-ms-graph-docs-2019.json", 403),
        ("graph-odata-disabled-stianstrysse-2022.json", 403),
    ] {
        let e = graph::parse_error(status, capture(file).as_bytes()).unwrap_or_else(|| panic!("{file}"));
        assert_eq!(e.code, "ErrorAccessDenied", "{file}");
        assert_eq!(
            exprobe::diagnose::graph_code(&e).as_str(),
            "graph.access_policy_denied",
            "{file}"
        );
    }
}
