//! The commands as a user runs them: demo, lab serve's printed command line, lab list.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_exprobe");

#[test]
fn demo_passes_every_builtin_scenario() {
    let out = Command::new(EXE)
        .arg("demo")
        .env("NO_COLOR", "1")
        .output()
        .expect("demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let total = exprobe::lab::scenario::BUILTIN.len();
    assert!(
        stderr.contains(&format!(
            "{total}/{total} scenarios reported exactly their expected findings"
        )),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("(as expected)").count(), total);
}

#[test]
fn demo_json_is_one_array_of_reports() {
    let out = Command::new(EXE)
        .args([
            "demo",
            "--scenario",
            "tls-expired",
            "--scenario",
            "autodiscover-pox-root",
            "--format",
            "json",
        ])
        .output()
        .expect("demo");
    assert_eq!(out.status.code(), Some(0));
    let reports: Vec<exprobe::report::Report> = serde_json::from_slice(&out.stdout).expect("a JSON array of reports");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].findings[0].code, "tls.certificate_expired");
}

#[test]
fn lab_list_names_every_scenario() {
    let out = Command::new(EXE).args(["lab", "list"]).output().expect("lab list");
    let text = String::from_utf8_lossy(&out.stdout);
    for (name, _) in exprobe::lab::scenario::BUILTIN {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing from:\n{text}"
        );
    }
}

/// Kill the lab server even when an assertion fails.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn lab_serve_prints_a_check_command_that_works_from_another_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("requests.jsonl");
    let mut server = Server(
        Command::new(EXE)
            .args(["lab", "serve", "--scenario", "autodiscover-pox-root", "--record"])
            .arg(&record)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("lab serve"),
    );
    let stdout = server.0.stdout.take().expect("stdout");
    let mut export = None;
    let mut command = None;
    for line in BufReader::new(stdout).lines().take(40) {
        let line = line.expect("line");
        let line = line.trim();
        if line.starts_with("export EXPROBE_PASSWORD=") {
            export = Some(line.to_string());
        }
        if line.starts_with("exprobe check ") {
            command = Some(line.to_string());
            break;
        }
    }
    let command = command.expect("lab serve printed a check command");
    let export = export.expect("lab serve printed the lab password export");
    let script = format!("{export}\n{}", command.replacen("exprobe", EXE, 1));
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("NO_COLOR", "1")
        .output()
        .expect("sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("status PASS"), "{text}");
    let recorded = std::fs::read_to_string(&record).expect("record file");
    assert!(recorded.lines().count() >= 2, "the lab recorded the requests");
    assert!(recorded
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
}

/// Every scenario through the real binary with its clock moved by faketime
/// into each phase of Exchange Online's EWS: before 1 October 2026, during
/// enforcement, after 1 April 2027. The lab mints its tokens and the check
/// judges them on the same moved clock, so scenarios pinned to a day run too.
/// Needs faketime (`.ci/run` installs it and sets EXPROBE_REQUIRE_FAKETIME).
#[test]
fn demo_passes_every_builtin_scenario_under_faketime_in_each_phase() {
    let have = Command::new("faketime")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var_os("EXPROBE_REQUIRE_FAKETIME").is_none(),
            "EXPROBE_REQUIRE_FAKETIME is set but faketime is not installed"
        );
        eprintln!("SKIPPED: faketime is not installed");
        return;
    }
    let total = exprobe::lab::scenario::BUILTIN.len();
    for day in ["2026-09-15", "2026-12-03", "2027-04-15"] {
        let out = Command::new("faketime")
            .args(["-f", &format!("@{day} 12:00:00"), EXE, "demo", "--format=json"])
            .env("NO_COLOR", "1")
            .output()
            .expect("faketime demo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{day}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{total}/{total} scenarios reported exactly their expected findings"
            )),
            "{day}: {stderr}"
        );
        let reports: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json array");
        assert_eq!(reports.len(), total);
        // The clock really was moved (a scenario pinned to its own day keeps the clock's start time).
        assert!(
            reports
                .iter()
                .all(|r| r["started_at"].as_str().is_some_and(|s| s.starts_with(day))),
            "{day}: the run did not see the moved clock"
        );
    }
}
