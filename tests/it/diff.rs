//! `exprobe diff` and `check --baseline` on reports the lab produced:
//! healthy → denied → fixed, in JSON and JSON Lines, through the real CLI.

use std::path::{Path, PathBuf};

use crate::common::{run_exprobe, start};
use exprobe::lab::Scenario;

/// Runs `scenario` and writes its report in `format` (json or jsonl) to `dir/name`.
async fn report(scenario: &str, format: &str, dir: &Path, name: &str) -> PathBuf {
    let lab = start(Scenario::builtin(scenario).expect("scenario")).await;
    let path = dir.join(name);
    let out = lab
        .run_cli(lab.check_args(&[&format!("--format={format}"), &format!("--output={}", path.display())]))
        .await;
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn diff(old: &Path, new: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["diff".to_string(), old.display().to_string(), new.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = run_exprobe(&args, None);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_then_denied_then_fixed() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let healthy = report("ews-onprem-healthy", "json", d, "1-healthy.json").await;
    let denied = report("ews-impersonation-denied", "jsonl", d, "2-denied.jsonl").await;
    let fixed = report("ews-onprem-healthy", "json", d, "3-fixed.json").await;

    // Worse: the denial is new, both mailboxes went from pass to fail.
    let (code, out, err) = diff(&healthy, &denied, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("Status: pass -> fail (WORSE)"), "{out}");
    assert!(out.contains("New findings (2):"), "{out}");
    assert!(
        out.contains("critical  impersonation.denied  alice@contoso.com, bob@contoso.com"),
        "{out}"
    );
    assert!(out.contains("alice@contoso.com  pass -> fail  (worse)"), "{out}");
    assert!(out.contains("Resolved findings (0):"), "{out}");

    // Fixed: the same codes resolved, nothing worse, exit 0.
    let (code, out, _) = diff(&denied, &fixed, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Status: fail -> pass (better)"), "{out}");
    assert!(out.contains("Resolved findings (2):"), "{out}");
    assert!(out.contains("New findings (0):"), "{out}");
    assert!(out.contains("bob@contoso.com  fail -> pass\n"), "{out}");

    // Two healthy runs: nothing changed.
    let (code, out, _) = diff(&healthy, &fixed, &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("(no worse)") && out.contains("Unchanged findings (0):"),
        "{out}"
    );

    // JSON for scripts.
    let (code, out, _) = diff(&healthy, &denied, &["--format=json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["worse"], true);
    assert_eq!(v["old"]["status"], "pass");
    assert_eq!(v["new"]["status"], "fail");
    let new_codes: Vec<&str> = v["new_findings"]
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["code"].as_str().unwrap_or(""))
        .collect();
    assert!(new_codes.contains(&"impersonation.denied"), "{out}");
    let by_code = v["by_code"].as_array().expect("by_code");
    let denied_count = by_code
        .iter()
        .find(|c| c["code"] == "impersonation.denied")
        .expect("the code");
    assert_eq!(
        (denied_count["old"].as_u64(), denied_count["new"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(v["status_changes"].as_array().map(|a| a.len()), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_baseline_prints_the_comparison_after_the_run() {
    let dir = tempfile::tempdir().expect("dir");
    let healthy = report("ews-onprem-healthy", "json", dir.path(), "healthy.json").await;
    let lab = start(Scenario::builtin("ews-impersonation-denied").expect("scenario")).await;
    let baseline = format!("--baseline={}", healthy.display());
    // Human: the report, then the comparison, on stdout; the exit code is the check's.
    let out = lab.run_cli(lab.check_args(&[&baseline])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    let at = stdout.find("Since the baseline:").unwrap_or_else(|| panic!("{stdout}"));
    assert!(stdout[at..].contains("critical  impersonation.denied"), "{stdout}");
    // JSON: stdout stays one report; the comparison goes to stderr.
    let out = lab.run_cli(lab.check_args(&[&baseline, "--format=json"])).await;
    let report: exprobe::report::Report = serde_json::from_slice(&out.stdout).expect("stdout is the report");
    assert_eq!(report.status, exprobe::report::OverallStatus::Fail);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Since the baseline:") && stderr.contains("(WORSE)"),
        "{stderr}"
    );
    // jsonl streams and still compares.
    let out = lab.run_cli(lab.check_args(&[&baseline, "--format=jsonl"])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("New findings (2):"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() >= 4);
    // A baseline that cannot be read stops the check before any probe.
    let out = lab.run_cli(lab.check_args(&["--baseline=/nonexistent/old.json"])).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--baseline: cannot read /nonexistent/old.json"));
}

#[test]
fn unreadable_or_foreign_files_are_errors_not_verdicts() {
    let dir = tempfile::tempdir().expect("dir");
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}\n").expect("write");
    let jsonl = dir.path().join("cut.jsonl");
    std::fs::write(&jsonl, "{\"type\":\"begin\",\"schema_version\":1,\"tool\":{\"name\":\"exprobe\",\"version\":\"0.1.0\"},\"started_at\":\"2026-01-01T00:00:00Z\",\"target\":{\"mailbox_count\":1,\"service_account\":null,\"auth\":\"none\",\"tenant\":null,\"api\":\"ews\"},\"insecure\":false}\nnot json\n").expect("write");
    for (old, new, expected) in [
        (dir.path().join("missing.json"), junk.clone(), "cannot read"),
        (junk.clone(), junk.clone(), "not an exprobe report"),
        (jsonl.clone(), jsonl.clone(), "line 2: not an exprobe jsonl record"),
    ] {
        let (code, out, err) = diff(&old, &new, &[]);
        assert_eq!(code, 3, "{out}{err}");
        assert!(err.contains(expected), "{err}");
    }
}

/// What a file controls reaches the terminal escaped, and endless or
/// binary input is refused at once: `/dev/zero`, a run whose lines hold
/// control sequences, a jsonl line over the cap (skipped and named).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_are_capped_refused_or_shown_escaped() {
    let dir = tempfile::tempdir().expect("dir");
    let good = report("ews-onprem-healthy", "jsonl", dir.path(), "good.jsonl").await;
    // /dev/zero on either side, and as a baseline: exit 3 at once.
    for (old, new) in [
        (Path::new("/dev/zero"), good.as_path()),
        (good.as_path(), Path::new("/dev/zero")),
    ] {
        let started = std::time::Instant::now();
        let (code, _, err) = diff(old, new, &[]);
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("byte 0x00"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    let lab = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let out = lab.run_cli(lab.check_args(&["--baseline=/dev/zero"])).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--baseline: /dev/zero: not an exprobe report"));

    // A run that names hostile codes and addresses, and one line over 16 MiB.
    let text = std::fs::read_to_string(&good).expect("good");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let summary = lines.pop().expect("summary line");
    lines.push(
        r#"{"type":"mailbox","index":9,"address":"eve\u001b]0;pwned\u0007@contoso.com","status":"fail","findings":["impersonation.denied\u001b[2J\u202e"],"steps":[],"own_findings":[{"code":"impersonation.denied\u001b[2J\u202e","severity":"critical","mailbox":"x","title":"t","explanation":"e","remediation":[],"evidence_steps":[],"references":[]}]}"#
            .to_string(),
    );
    lines.push(summary.clone());
    let hostile = dir.path().join("hostile.jsonl");
    std::fs::write(&hostile, lines.join("\n") + "\n").expect("write");
    let (code, out, err) = diff(&good, &hostile, &[]);
    assert_eq!(code, 1, "{out}{err}");
    for (n, line) in out.lines().enumerate() {
        assert!(
            !line.chars().any(exprobe::terminal::is_unsafe),
            "line {} carries a raw control character: {}",
            n + 1,
            line.escape_debug()
        );
    }
    assert!(out.contains("impersonation.denied\\x1b[2J\\u{202e}"), "{out}");
    assert!(out.contains("eve\\x1b]0;pwned\\x07@contoso.com"), "{out}");
    // A line over 16 MiB: skipped and named.
    let mut big: Vec<String> = text.lines().map(str::to_string).collect();
    let last = big.pop().expect("summary");
    big.push(format!(
        r#"{{"type":"mailbox","index":10,"address":"big@contoso.com","status":"pass","findings":[],"steps":[],"own_findings":[],"pad":"{}"}}"#,
        "x".repeat(17 << 20)
    ));
    big.push(last);
    let big_path = dir.path().join("big.jsonl");
    std::fs::write(&big_path, big.join("\n") + "\n").expect("write");
    let (code, out, err) = diff(&good, &big_path, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 line longer than 16 MiB skipped (line "), "{out}");
    // JSON keeps the exact text.
    let (_, json, _) = diff(&good, &hostile, &["--format=json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert!(
        v.to_string().contains("impersonation.denied\\u001b[2J\u{202e}"),
        "{json}"
    );
}
