//! `[[responses]]` rules that replay a conversation: matched on the request
//! body, a header's presence and the n-th matching request, through the real
//! CLI against the lab.

use crate::common::{codes, start};
use exprobe::lab::Scenario;
use exprobe::report::OverallStatus;

const SERVER_BUSY: &str = include_str!("../../fixtures/ews/fault-server-busy.xml");
const IMPERSONATE_DENIED: &str = include_str!("../../fixtures/ews/fault-impersonate-user-denied.xml");

/// `ews-onprem-healthy` with `rules` appended.
fn healthy_with(rules: &str) -> Scenario {
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/scenarios/ews-onprem-healthy.toml"
    ))
    .expect("scenario file");
    Scenario::parse(&format!("{base}\n{rules}"), None).unwrap_or_else(|e| panic!("{e}\n{rules}"))
}

fn rule(extra: &str, status: u16, body: &str) -> String {
    format!(
        "[[responses]]\nhost = \"mail.contoso.com\"\npath = \"/EWS/Exchange.asmx\"\nmethod = \"POST\"\nstatus = {status}\nheaders = {{ \"Content-Type\" = \"text/xml; charset=utf-8\" }}\n{extra}\nbody = '''{body}'''\n"
    )
}

fn impersonated(lab: &crate::common::Running) -> usize {
    lab.lab
        .requests()
        .iter()
        .filter(|r| r.body.contains("ExchangeImpersonation"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_once_then_fine() {
    // A shorter back-off than the capture's 297749 ms, so the test is quick.
    let busy = SERVER_BUSY.replace(">297749<", ">200<");
    let lab = start(healthy_with(&rule(
        "body_contains = \"ExchangeImpersonation\"\nfirst = 1",
        500,
        &busy,
    )))
    .await;
    let (report, out) = lab.check_json(&["--concurrency=1"]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", codes(&report));
    assert_eq!(report.status, OverallStatus::Pass);
    // Two mailboxes, one busy answer: three impersonated requests.
    assert_eq!(impersonated(&lab), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_works_then_the_impersonated_call_is_denied() {
    // Only authenticated impersonated calls are denied: the reach probe (no
    // Authorization) and the sign-in (no ExchangeImpersonation) get the model's answers.
    let lab = start(healthy_with(&rule(
        "body_contains = \"ExchangeImpersonation\"\nwith_header = \"Authorization\"",
        500,
        IMPERSONATE_DENIED,
    )))
    .await;
    let (report, _) = lab.check_json(&[]).await;
    assert_eq!(codes(&report), ["impersonation.denied", "permissions.recently_changed"]);
    let auth = report.steps.iter().find(|s| s.probe == "ews.auth").expect("ews.auth");
    assert_eq!(auth.status, exprobe::report::StepStatus::Pass, "{}", auth.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_nth_matching_request_is_answered() {
    let lab = start(healthy_with(&rule(
        "body_contains = \"ExchangeImpersonation\"\nnth = 2",
        500,
        IMPERSONATE_DENIED,
    )))
    .await;
    let (report, _) = lab.check_json(&["--concurrency=1"]).await;
    let failing: Vec<&str> = report
        .mailboxes
        .iter()
        .filter(|m| m.status == OverallStatus::Fail)
        .map(|m| m.address.as_str())
        .collect();
    assert_eq!(failing.len(), 1, "{:?}", codes(&report));
    assert!(codes(&report).contains(&"impersonation.denied".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unauthenticated_probe_alone_gets_another_challenge() {
    // Only the request without Authorization (the reach probe) is answered
    // 401 Negotiate-only; everything authenticated gets the model's answers.
    let lab = start(healthy_with(
        "[[responses]]\nhost = \"mail.contoso.com\"\npath = \"/EWS/Exchange.asmx\"\nwithout_header = \"Authorization\"\nstatus = 401\nheaders = { \"WWW-Authenticate\" = \"Negotiate\" }\n",
    ))
    .await;
    let (report, _) = lab.check_json(&[]).await;
    assert!(
        codes(&report).contains(&"ews.auth_scheme_unavailable".to_string()),
        "{:?}",
        codes(&report)
    );
}
