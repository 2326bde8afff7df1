//! Bulk runs: what a domain's first mailbox learns about autodiscover serves
//! the others (fewer round trips, one grace period per domain).

use crate::common::{scenario_from_text, start};

fn scenario(mailboxes: usize) -> String {
    let mut users = String::new();
    for i in 0..mailboxes {
        users.push_str(&format!("[[users]]\naddress = \"user{i}@contoso.com\"\n"));
    }
    format!(
        r#"
name = "bulk"
description = "a hanging domain root, autodiscover behind Basic on the autodiscover host"
expect = []
[check]
mailboxes = ["user0@contoso.com"]
service_account = "svc-sync@contoso.com"
timeout = 5.0
[exchange]
ews_url = "https://mail.contoso.com/EWS/Exchange.asmx"
autodiscover_auth = "basic"
[dns]
mx = [{{ name = "contoso.com", exchange = "mail.contoso.com" }}]
[[hosts]]
name = "contoso.com"
behavior = "hang"
[[hosts]]
name = "autodiscover.contoso.com"
autodiscover = ["pox"]
[[hosts]]
name = "mail.contoso.com"
ews = true
{users}
[[service_accounts]]
address = "svc-sync@contoso.com"
password = "Bulk-Pa55"
application_impersonation = true
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_mailboxes_go_straight_to_the_remembered_endpoint() {
    const N: usize = 30;
    let running = start(scenario_from_text(&scenario(N))).await;
    let list = running.dir.path().join("list.txt");
    let text: String = (0..N).map(|i| format!("user{i}@contoso.com\n")).collect();
    std::fs::write(&list, text).expect("list");
    let mut args = running.check_args_with_list(&list, &[]);
    args.push("--format=json".into());
    args.push("--concurrency=8".into());
    let out = running.run_cli(args).await;
    let report: exprobe::report::Report = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(out.status.code(), Some(0), "{:?}", exprobe::app::codes(&report));
    assert_eq!(report.mailboxes.len(), N);

    // The hanging root cost one grace period: only the first mailbox abandoned it.
    let abandoned = report
        .steps
        .iter()
        .filter(|s| s.probe == "autodiscover")
        .filter(|s| s.observations.to_string().contains("\"abandoned\""))
        .count();
    assert_eq!(abandoned, 1, "one grace period for the domain, not one per mailbox");
    let reused = report
        .steps
        .iter()
        .filter(|s| s.probe == "autodiscover" && s.observations.get("reused").is_some())
        .count();
    assert_eq!(reused, N - 1);

    // Autodiscover round trips: the first mailbox learns (401, then Basic);
    // every other mailbox asks once, with credentials on the first request.
    let requests = running.lab.requests();
    let posts: Vec<_> = requests
        .iter()
        .filter(|r| r.host == "autodiscover.contoso.com" && r.method == "POST")
        .collect();
    let anonymous = posts.iter().filter(|r| r.header("authorization").is_none()).count();
    let with_credentials = posts.iter().filter(|r| r.header("authorization").is_some()).count();
    assert!(
        anonymous <= 2,
        "only the first mailbox asks without credentials: {anonymous}"
    );
    assert_eq!(with_credentials, N, "one authenticated POST per mailbox");
    let impersonations = requests
        .iter()
        .filter(|r| r.host == "mail.contoso.com" && r.body.contains("ExchangeImpersonation"))
        .count();
    assert_eq!(impersonations, N);
}

/// An unwritable --output is found before any probe runs: exit 3, and the
/// lab saw no request at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_output_exits_3_before_any_traffic() {
    let running = start(scenario_from_text(&scenario(3))).await;
    for format in ["json", "jsonl", "human"] {
        let args = running.check_args(&[&format!("--format={format}"), "--output=/nonexistent-dir/report.out"]);
        let out = running.run_cli(args).await;
        assert_eq!(
            out.status.code(),
            Some(3),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write output"));
        assert!(
            running.lab.requests().is_empty(),
            "{format}: no request before the output was known to be writable"
        );
    }
}

/// Human output of a bulk run: counts by status, each code once with the
/// number of mailboxes it affects and its remediation once, step trees
/// only for failing mailboxes (every mailbox with -v).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_human_report_is_a_summary() {
    const N: usize = 20;
    let running = start(scenario_from_text(&scenario(N))).await;
    let list = running.dir.path().join("list.txt");
    let mut text: String = (0..N).map(|i| format!("user{i}@contoso.com\n")).collect();
    for i in 0..7 {
        text.push_str(&format!("ghost{i}@contoso.com\n"));
    }
    std::fs::write(&list, text).expect("list");
    let base = running.check_args_with_list(&list, &["--format=human"]);
    let out = running.run_cli(base.clone()).await;
    let human = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(human.contains("mailboxes 27: 20 pass, 0 warn, 7 fail"), "{human}");
    assert!(
        human.contains("(20 passing mailboxes not shown; -v shows every mailbox)"),
        "{human}"
    );
    assert_eq!(
        human.matches("autodiscover.user_not_found").count(),
        2,
        "once in the table, once in what to do:\n{human}"
    );
    // Wrapped to 80 columns: compared with the line breaks taken out.
    let flat = human.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("Mailboxes (7): ghost0@contoso.com, ghost1@contoso.com, ghost2@contoso.com, ghost3@contoso.com, ghost4@contoso.com and 2 more"), "{human}");
    assert!(
        !human.contains("  user3@contoso.com\n"),
        "passing mailboxes have no tree"
    );

    let mut verbose = base.clone();
    verbose.push("-v".into());
    let out = running.run_cli(verbose).await;
    let human = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(human.contains("  user3@contoso.com\n"), "-v shows every mailbox");

    // The JSON's mailbox records agree with the summary counts.
    let mut json = base;
    json.retain(|a| a != "--format=human");
    json.push("--format=json".into());
    let out = running.run_cli(json).await;
    let report: exprobe::report::Report = serde_json::from_slice(&out.stdout).expect("report");
    let fail = report
        .mailboxes
        .iter()
        .filter(|m| m.status == exprobe::report::OverallStatus::Fail)
        .count();
    assert_eq!((report.mailboxes.len(), fail), (27, 7));
    // Top-level counts equal the per-mailbox records.
    assert_eq!((report.counts.pass, report.counts.warn, report.counts.fail), (20, 0, 7));
    assert_eq!(report.counts.by_code.get("autodiscover.user_not_found"), Some(&7));
    let total: usize = report.counts.by_code.values().sum();
    let records: usize = report.mailboxes.iter().map(|m| m.findings.len()).sum();
    assert_eq!(total, records);
}
