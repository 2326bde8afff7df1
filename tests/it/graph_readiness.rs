//! Graph readiness of an app-only EWS run (issue 19, item 4): "ready for
//! Graph: N of M mailboxes" with a reason per mailbox, in every format and in
//! a bulk run; `--no-graph-readiness` makes no Graph request at all.

use crate::common::{scenario_from_text, start};
use exprobe::lab::Scenario;
use exprobe::report::Report;

const NOT_READY: &str = "no Mail permission reaches the mailbox";

async fn format_output(running: &crate::common::Running, format: &str) -> String {
    let out = running
        .run_cli(running.check_args(&[&format!("--format={format}")]))
        .await;
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_for_graph_n_of_m_in_every_format() {
    let running = start(Scenario::builtin("exo-graph-not-ready").expect("scenario")).await;
    // JSON: the counts and each mailbox's verdict with its reason.
    let (report, _) = running.check_json(&[]).await;
    let counts = report.counts.graph_readiness.as_ref().expect("readiness counts");
    assert_eq!((counts.ready, counts.checked), (1, 2));
    assert_eq!(counts.not_ready.len(), 1);
    let by = |a: &str| {
        report
            .mailboxes
            .iter()
            .find(|m| m.address == a)
            .and_then(|m| m.graph_readiness.clone())
            .expect("verdict")
    };
    assert!(by("alice@contoso.com").ready);
    assert!(
        by("alice@contoso.com").reason.contains("RBAC for Applications"),
        "{:?}",
        by("alice@contoso.com")
    );
    let bob = by("bob@contoso.com");
    assert!(!bob.ready);
    assert!(bob.reason.starts_with(NOT_READY), "{bob:?}");
    assert!(bob.detail.contains("403 ErrorAccessDenied"), "{bob:?}");
    // Each mailbox not ready carries the warning with the app's id in its advice.
    let f = report
        .findings
        .iter()
        .find(|f| f.code == "exchange_online.graph_not_ready")
        .expect("finding");
    assert_eq!(f.mailbox.as_deref(), Some("bob@contoso.com"));
    assert!(f
        .remediation
        .iter()
        .any(|r| r.contains("-Role \"Application Mail.Read\"") && r.contains("2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f")));
    assert!(f.remediation.iter().any(|r| r.contains("-Resource bob@contoso.com")));

    let human = format_output(&running, "human").await;
    assert!(human.contains("ready for Graph: 1 of 2 mailboxes"), "{human}");
    assert!(human.contains(&format!("not ready (1): {NOT_READY}")), "{human}");
    let html = format_output(&running, "html").await;
    assert!(html.contains("ready for Graph: 1 of 2 mailboxes"), "{html}");
    let nagios = format_output(&running, "nagios").await;
    assert!(
        nagios
            .lines()
            .next()
            .is_some_and(|l| l.ends_with(" graph_ready=1;;;0;2")),
        "{nagios}"
    );
    let junit = format_output(&running, "junit").await;
    assert!(
        junit.contains(r#"<property name="graph_ready" value="1 of 2"/>"#),
        "{junit}"
    );
    let jsonl = format_output(&running, "jsonl").await;
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let bob_line = lines
        .iter()
        .find(|l| l["type"] == "mailbox" && l["address"] == "bob@contoso.com")
        .expect("bob's line");
    assert_eq!(bob_line["graph_readiness"]["ready"], false);
    let summary = lines.iter().find(|l| l["type"] == "summary").expect("summary");
    assert_eq!(summary["counts"]["graph_readiness"]["ready"], 1);
    assert_eq!(summary["counts"]["graph_readiness"]["checked"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_graph_readiness_makes_no_graph_request() {
    let running = start(Scenario::builtin("exo-graph-not-ready").expect("scenario")).await;
    let (report, _) = running.check_json(&["--no-graph-readiness"]).await;
    assert!(report.counts.graph_readiness.is_none());
    assert!(report.mailboxes.iter().all(|m| m.graph_readiness.is_none()));
    assert!(!exprobe::app::codes(&report).contains(&"exchange_online.graph_not_ready".to_string()));
    assert!(
        running.lab.requests().iter().all(|r| r.host != "graph.microsoft.com"),
        "a Graph request was made"
    );
    // The default run asks Graph, with the token only there and at the authority.
    let _ = running.check_json(&[]).await;
    assert!(running.lab.requests().iter().any(|r| r.host == "graph.microsoft.com"));
}

/// A bulk run (more than ten mailboxes): the count and the reasons in the summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_run_counts_readiness_per_reason() {
    let mut text = std::fs::read_to_string(format!(
        "{}/fixtures/scenarios/exo-graph-not-ready.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let mut mailboxes = vec![];
    for i in 0..12 {
        let department = if i % 3 == 0 { "Finance" } else { "Sales" };
        text.push_str(&format!(
            "\n[[users]]\naddress = \"user{i}@contoso.com\"\nproperties = {{ Department = \"{department}\" }}\n"
        ));
        mailboxes.push(format!("user{i}@contoso.com"));
    }
    let running = start(scenario_from_text(&text)).await;
    let list = running.dir.path().join("mailboxes.txt");
    std::fs::write(&list, mailboxes.join("\n")).expect("list");
    let out = running
        .run_cli(running.check_args_with_list(&list, &["--format=json"]))
        .await;
    let report: Report = serde_json::from_slice(&out.stdout).expect("report");
    let counts = report.counts.graph_readiness.expect("counts");
    assert_eq!((counts.ready, counts.checked), (8, 12));
    assert_eq!(counts.reasons().first().map(|(_, n)| *n), Some(4));
    let out = running.run_cli(running.check_args_with_list(&list, &[])).await;
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("mailboxes 12: 0 pass, 12 warn, 0 fail"), "{human}");
    assert!(human.contains("ready for Graph: 8 of 12 mailboxes"), "{human}");
    assert!(human.contains(&format!("not ready (4): {NOT_READY}")), "{human}");
}
