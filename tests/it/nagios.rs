//! `--format nagios`: the status line with perfdata and the long output,
//! as snapshots over several scenarios, and the thresholds on the failing
//! count deciding the status and the exit code.

use crate::common::*;
use exprobe::lab::Scenario;

async fn nagios(name: &str, extra: &[&str]) -> (String, Option<i32>) {
    let lab = start(Scenario::builtin(name).expect("scenario")).await;
    let mut args = lab.check_args(&["--format=nagios"]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = lab.run_cli(args).await;
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_lines_for_several_scenarios() {
    for name in [
        "ews-onprem-healthy",
        "ews-impersonation-scope-excludes",
        "online-app-healthy",
        "oauth-invalid-secret",
        "seed-sales-sidebar-no-mailbox",
    ] {
        let (text, code) = nagios(name, &[]).await;
        let first = text.lines().next().unwrap_or("");
        let word = first.split_whitespace().nth(1).unwrap_or("");
        let want = match word {
            "OK" => 0,
            "WARNING" => 1,
            "CRITICAL" => 2,
            other => panic!("{name}: status word {other:?} in {first:?}"),
        };
        assert_eq!(code, Some(want), "{name}: the exit code follows the status");
        assert!(first.contains(" | pass="), "{name}: perfdata after |: {first}");
        insta::with_settings!({snapshot_suffix => name, filters => vec![(r"duration=\d+\.\d+s", "duration=[s]")]}, {
            insta::assert_snapshot!(text);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_on_the_failing_count() {
    // One of two mailboxes fails.
    let (text, code) = nagios("ews-impersonation-scope-excludes", &["--warning=1", "--critical=2"]).await;
    assert!(text.starts_with("EXPROBE WARNING - 1/2 mailboxes failing"), "{text}");
    assert!(text.contains("fail=1;1;2;0;2"), "{text}");
    assert_eq!(code, Some(1));
    let (text, code) = nagios("ews-impersonation-scope-excludes", &["--critical=1"]).await;
    assert!(text.starts_with("EXPROBE CRITICAL"), "{text}");
    assert_eq!(code, Some(2));

    for (args, says) in [
        (vec!["--warning=3", "--critical=2"], "is above --critical"),
        (vec!["--warning=0"], "0 is not in 1.."),
    ] {
        let lab = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
        let mut a = lab.check_args(&["--format=nagios"]);
        a.extend(args.iter().map(|s| s.to_string()));
        let out = lab.run_cli(a).await;
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let lab = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let out = lab.run_cli(lab.check_args(&["--critical=2"])).await;
    assert_eq!(out.status.code(), Some(3), "thresholds only with --format nagios");
}
