//! Redirect kinds, hostile servers, latency and deadlines, against the lab.

use std::time::{Duration, Instant};

use crate::common::{codes, scenario_from_text, start};

fn base(extra: &str) -> String {
    format!(
        r#"
name = "test"
description = "test"
[check]
mailboxes = ["alice@contoso.com"]
[exchange]
ews_url = "https://mail.contoso.com/EWS/Exchange.asmx"
[dns]
mx = [{{ name = "contoso.com", exchange = "mail.contoso.com" }}]
[[hosts]]
name = "mail.contoso.com"
ews = true
autodiscover = ["pox"]
{extra}
"#
    )
}

async fn run(extra: &str, args: &[&str]) -> (exprobe::report::Report, crate::common::Running) {
    let running = start(scenario_from_text(&base(extra))).await;
    let (report, _) = running.check_json(args).await;
    (report, running)
}

fn observations(report: &exprobe::report::Report) -> serde_json::Value {
    report
        .steps
        .iter()
        .find(|s| s.probe == "autodiscover")
        .map(|s| s.observations.clone())
        .expect("step")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pox_redirect_url_is_followed() {
    let (report, _) = run(
        r#"
[[hosts]]
name = "contoso.com"
autodiscover = ["pox"]
[[hosts]]
name = "autodiscover.contoso.com"
[[users]]
address = "alice@contoso.com"
redirect_url = "https://mail.contoso.com/autodiscover/autodiscover.xml"
"#,
        &[],
    )
    .await;
    // The lab answers redirectUrl for alice on every host: mail.contoso.com too, so this loops.
    assert_eq!(codes(&report), ["autodiscover.redirect_loop"]);
    let o = observations(&report);
    assert_eq!(o["redirects"][0]["kind"], "url");
    assert_eq!(
        o["redirects"][0]["to"],
        "https://mail.contoso.com/autodiscover/autodiscover.xml"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_redirect_address_and_http_3xx_are_followed() {
    let (report, running) = run(
        r#"
[[hosts]]
name = "contoso.com"
autodiscover = ["soap"]
post_redirect = { status = 301, location = "https://autodiscover.contoso.com/autodiscover/autodiscover.svc" }
[[hosts]]
name = "autodiscover.contoso.com"
autodiscover = ["soap"]
[[users]]
address = "alice@contoso.com"
redirect_addr = "alice.smith@contoso.com"
[[users]]
address = "alice.smith@contoso.com"
"#,
        &[],
    )
    .await;
    // The address redirect ends at the primary address: reported as an alias.
    assert_eq!(codes(&report), ["mailbox.alias_not_primary"]);
    let o = observations(&report);
    let kinds: Vec<&str> = o["redirects"]
        .as_array()
        .expect("hops")
        .iter()
        .filter_map(|h| h["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"http") && kinds.contains(&"address"), "{kinds:?}");
    assert_eq!(o["method"], "soap");
    assert_eq!(o["resolved_address"], "alice.smith@contoso.com");
    assert!(running
        .lab
        .requests()
        .iter()
        .all(|r| r.scheme == "https" || (r.method == "GET" && r.header("authorization").is_none())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_to_a_non_autodiscover_path_is_refused() {
    let (report, running) = run(
        r#"
[[hosts]]
name = "contoso.com"
autodiscover = ["pox"]
post_redirect = { location = "https://mail.contoso.com/owa/" }
[[users]]
address = "alice@contoso.com"
"#,
        &[],
    )
    .await;
    assert_eq!(codes(&report), ["autodiscover.insecure_redirect_refused"]);
    assert!(!running.lab.requests().iter().any(|r| r.path.starts_with("/owa")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_site_on_the_root_is_an_invalid_response_when_nothing_else_answers() {
    let (report, _) = run(
        r#"
[[hosts]]
name = "contoso.com"
[[responses]]
host = "contoso.com"
path = "/autodiscover/autodiscover.xml"
body = "<html><head><title>Contoso</title></head><body>Welcome</body></html>"
headers = { "Content-Type" = "text/html" }
"#,
        &[],
    )
    .await;
    assert_eq!(codes(&report), ["autodiscover.invalid_response"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_two_mebibytes_is_capped_and_reported() {
    let huge = "x".repeat(3 << 20);
    let (report, _) = run(
        &format!(
            r#"
[[hosts]]
name = "contoso.com"
[[responses]]
host = "contoso.com"
path = "/autodiscover/autodiscover.xml"
body = "{huge}"
"#
        ),
        &[],
    )
    .await;
    assert_eq!(codes(&report), ["autodiscover.invalid_response"]);
    let step = report.steps.iter().find(|s| s.probe == "autodiscover").expect("step");
    let capped = step
        .evidence
        .iter()
        .filter_map(|e| e.response.as_ref())
        .find(|r| r.truncated)
        .expect("a truncated response");
    assert_eq!(capped.body_bytes, 2 << 20);
    assert!(
        capped.body_excerpt.chars().count() <= 4097,
        "evidence keeps an excerpt only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connections_are_network_unreachable() {
    let (report, _) = run(
        r#"
[[hosts]]
name = "contoso.com"
behavior = "reset"
[[hosts]]
name = "autodiscover.contoso.com"
behavior = "reset"
"#,
        &[],
    )
    .await;
    assert_eq!(codes(&report), ["network.unreachable"]);
    let f = &report.findings[0];
    assert!(
        f.detail.contains("contoso.com"),
        "the finding names the host: {}",
        f.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_that_never_answer_cost_one_timeout_not_one_per_request() {
    let began = Instant::now();
    let (report, _) = run(
        r#"
[[hosts]]
name = "contoso.com"
behavior = "hang"
[[hosts]]
name = "autodiscover.contoso.com"
behavior = "hang"
"#,
        &["--timeout=1"],
    )
    .await;
    let wall = began.elapsed();
    assert_eq!(codes(&report), ["network.unreachable"]);
    assert!(
        report.findings[0].detail.contains("timeout"),
        "{}",
        report.findings[0].detail
    );
    // Candidates run concurrently and each host is abandoned after its first timeout.
    assert!(wall < Duration::from_secs(4), "took {wall:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_bounds_the_whole_run() {
    let began = Instant::now();
    let (report, _) = run(
        r#"
[[hosts]]
name = "contoso.com"
behavior = "hang"
[[hosts]]
name = "autodiscover.contoso.com"
behavior = "hang"
"#,
        &["--timeout=30", "--deadline=1"],
    )
    .await;
    assert!(began.elapsed() < Duration::from_secs(5), "took {:?}", began.elapsed());
    let o = observations(&report);
    let text = o.to_string();
    assert!(
        text.contains("deadline"),
        "attempts say the deadline stopped them: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_applied_and_measured() {
    let (report, _) = run(
        r#"
[[hosts]]
name = "contoso.com"
autodiscover = ["pox"]
latency_ms = 300
[[users]]
address = "alice@contoso.com"
"#,
        &[],
    )
    .await;
    assert!(codes(&report).is_empty());
    let step = report.steps.iter().find(|s| s.probe == "autodiscover").expect("step");
    assert!(step.duration_ms >= 300, "{}", step.duration_ms);
    assert!(step.evidence.iter().any(|e| e.duration_ms >= 300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_mailboxes_each_get_exactly_one_result() {
    let mut users = String::new();
    let mut list = String::new();
    for i in 0..40 {
        if i % 3 != 0 {
            users.push_str(&format!("[[users]]\naddress = \"user{i}@contoso.com\"\n"));
        }
        list.push_str(&format!("user{i}@contoso.com\n"));
    }
    list.push_str("not an address\n");
    let running = start(scenario_from_text(&base(&format!(
        "[[hosts]]\nname = \"contoso.com\"\nautodiscover = [\"pox\"]\n{users}"
    ))))
    .await;
    let file = running.dir.path().join("mailboxes.txt");
    std::fs::write(&file, format!("# everyone\n{list}")).expect("write list");
    let mut args = running.check_args_with_list(&file, &[]);
    args.push("--format=json".into());
    args.push("--concurrency=4".into());
    let out = running.run_cli(args).await;
    let report: exprobe::report::Report = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report.mailboxes.len(), 41);
    let not_found = report
        .mailboxes
        .iter()
        .filter(|m| m.findings == ["autodiscover.user_not_found"])
        .count();
    assert_eq!(not_found, 14);
    assert_eq!(
        report
            .mailboxes
            .iter()
            .filter(|m| m.findings == ["input.invalid_address"])
            .count(),
        1
    );
    assert_eq!(report.mailboxes.iter().filter(|m| m.findings.is_empty()).count(), 26);
}

/// Past the EWS concurrency limit the lab answers ErrorServerBusy with
/// BackOffMilliseconds; exprobe backs off, and every mailbox still gets
/// exactly one result: success, or ews.throttled if the server stayed busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_is_answered_busy_and_backed_off() {
    let mut users = String::new();
    let mut mailboxes = vec![];
    for i in 0..6 {
        users.push_str(&format!("[[users]]\naddress = \"u{i}@contoso.com\"\n"));
        mailboxes.push(format!("--mailbox=u{i}@contoso.com"));
    }
    let text = base(&format!(
        r#"
[[hosts]]
name = "contoso.com"
autodiscover = ["pox"]
{users}
[[service_accounts]]
address = "svc-sync@contoso.com"
password = "Lab-Pa55word!"
application_impersonation = true
"#
    ))
    .replace(
        "[check]\nmailboxes = [\"alice@contoso.com\"]",
        "[check]\nmailboxes = [\"u0@contoso.com\"]\nservice_account = \"svc-sync@contoso.com\"",
    )
    .replace(
        "[exchange]\n",
        "[exchange]\nconcurrency_limit = 1\nbusy_back_off_ms = 50\n",
    )
    .replace("ews = true\n", "ews = true\nlatency_ms = 150\n");
    let running = start(scenario_from_text(&text)).await;
    let mut args: Vec<String> = running.check_args(&["--format=json", "--concurrency=6"]);
    args.retain(|a| !a.starts_with("--mailbox="));
    args.extend(mailboxes);
    let out = running.run_cli(args).await;
    let report: exprobe::report::Report = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report.mailboxes.len(), 6);
    for m in &report.mailboxes {
        assert!(
            m.findings.is_empty() || m.findings == ["ews.throttled"],
            "{}: {:?}",
            m.address,
            m.findings
        );
    }
    let busy = running.lab.requests().len();
    let backed_off: usize = report
        .steps
        .iter()
        .filter(|s| s.probe == "ews.impersonation")
        .map(|s| s.observations["back_offs"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        backed_off > 0,
        "some requests were answered busy and backed off ({busy} requests seen)"
    );
}

/// Graph's 429 with Retry-After is waited out a bounded number of times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_retry_after_is_honoured() {
    let text = std::fs::read_to_string(format!(
        "{}/fixtures/scenarios/graph-mailbox-not-found.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
    .replace(
        "mailboxes = [\"ghost@contoso.com\"]",
        "mailboxes = [\"alice@contoso.com\"]",
    )
    .replace("expect = [\"mailbox.not_found\"]", "expect = []")
    .replace("roles = [", "graph_throttle_first = 2\nroles = [");
    let running = start(scenario_from_text(&text)).await;
    let began = Instant::now();
    let (report, _) = running.check_json(&[]).await;
    assert!(codes(&report).is_empty(), "{:?}", codes(&report));
    let step = report.steps.iter().find(|s| s.probe == "graph.mailbox").expect("step");
    let retries = step.observations["inbox"]["retries"].as_array().expect("retries");
    assert_eq!(retries.len(), 2, "{}", step.observations);
    assert!(retries.iter().all(|r| r == 1000));
    assert!(began.elapsed() >= Duration::from_secs(2));
    assert_eq!(step.evidence.len(), 4, "two 429s, the inbox, the user");
    // The app's shared Graph budget says how often Graph pushed back.
    let graph = report
        .throttling
        .iter()
        .find(|t| t.host == "graph.microsoft.com")
        .expect("Graph's push-back is reported");
    assert_eq!(graph.pushed_back, 2);
    assert_eq!(
        graph.smallest_window, 4,
        "8 slots, a quarter off once per back-off period"
    );
}

/// PS256 client assertions name the certificate by its SHA-256 thumbprint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ps256_client_assertion_with_x5t_s256_is_accepted() {
    let text = std::fs::read_to_string(format!(
        "{}/fixtures/scenarios/online-app-certificate-healthy.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
    .replace(
        "certificate = \"app-client\"\n",
        "certificate = \"app-client\"\nassertion_alg = \"ps256\"\n",
    );
    let running = start(scenario_from_text(&text)).await;
    let (report, _) = running.check_json(&[]).await;
    assert_eq!(codes(&report), ["exchange_online.ews_retirement"]);
    let body = running
        .lab
        .requests()
        .into_iter()
        .find(|r| r.body.contains("client_assertion="))
        .expect("a token request")
        .body;
    let assertion = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "client_assertion")
        .expect("assertion")
        .1
        .into_owned();
    let header = jsonwebtoken::decode_header(&assertion).expect("a JWT");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::PS256);
    assert!(header.x5t_s256.is_some() && header.x5t.is_none());
}

/// Absurd input is refused while reading, counted and reported; the
/// valid addresses beside it are still checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_lines_are_refused_and_counted() {
    let running = start(scenario_from_text(&base(
        "[[users]]\naddress = \"alice@contoso.com\"\n",
    )))
    .await;
    let list = running.dir.path().join("list.txt");
    let text = format!(
        "{}\nalice@contoso.com\n{}@contoso.com\n",
        "x".repeat(400_000),
        "y".repeat(300)
    );
    std::fs::write(&list, text).expect("write list");
    let mut args = running.check_args_with_list(&list, &[]);
    args.push("--format=json".into());
    let began = Instant::now();
    let out = running.run_cli(args).await;
    assert!(began.elapsed() < Duration::from_secs(20));
    let report: exprobe::report::Report = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report.target.mailboxes, ["alice@contoso.com"]);
    let f = report
        .findings
        .iter()
        .find(|f| f.code == "input.invalid_address")
        .expect("refused lines are a finding");
    assert!(f.detail.starts_with("2 input lines refused"), "{}", f.detail);
    assert!(f.detail.contains("line 1: 400000 characters"), "{}", f.detail);
    assert!(f.detail.contains("line 3: 312 characters"), "{}", f.detail);
    // The detail stays short whatever the input was.
    assert!(f.detail.len() < 400, "{}", f.detail.len());
    assert_eq!(out.status.code(), Some(2));
}

/// A mailbox list on a pipe that never closes ends with --deadline.
#[test]
fn reading_the_mailbox_list_honours_the_deadline() {
    use std::process::{Command, Stdio};
    let began = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_exprobe"))
        .args(["check", "--mailboxes=-", "--deadline=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Keep stdin open (never written, never closed) until the child exits.
    let stdin = child.stdin.take();
    let out = child.wait_with_output().expect("wait");
    drop(stdin);
    assert!(began.elapsed() < Duration::from_secs(5), "{:?}", began.elapsed());
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deadline"));
}

/// Only over-long input: an input error at once (exit 3), never a check.
#[test]
fn only_over_long_input_is_an_input_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "z".repeat(400_000)).expect("write");
    let out = crate::common::run_exprobe(&["check".into(), format!("--mailboxes={}", list.display())], None);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 input line refused"));
}
