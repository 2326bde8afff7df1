//! The streaming pipeline: jsonl line by line against its schema, counts
//! equal to the records, one result per input mailbox in every format,
//! Ctrl-C leaving a valid partial report, and rules whose order does not
//! change a report.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::common::{scenario_from_text, start, PASSWORD_ENV};
use serde_json::Value;

const USERS: usize = 30;
const UNKNOWN: usize = 8;

fn scenario(latency_ms: u64) -> String {
    let mut users = String::new();
    for i in 0..USERS {
        users.push_str(&format!("[[users]]\naddress = \"user{i}@contoso.com\"\n"));
    }
    format!(
        r#"
name = "stream"
description = "healthy users, unknown users and bad addresses on one server"
expect = []
[check]
mailboxes = ["user0@contoso.com"]
service_account = "svc-sync@contoso.com"
timeout = 5.0
[exchange]
ews_url = "https://mail.contoso.com/EWS/Exchange.asmx"
[dns]
mx = [{{ name = "contoso.com", exchange = "mail.contoso.com" }}]
[[hosts]]
name = "autodiscover.contoso.com"
autodiscover = ["pox"]
[[hosts]]
name = "mail.contoso.com"
ews = true
latency_ms = {latency_ms}
{users}
[[service_accounts]]
address = "svc-sync@contoso.com"
password = "Stream-Pa55"
application_impersonation = true
"#
    )
}

/// The input list: healthy users, unknown users, two addresses that are not addresses.
fn list() -> Vec<String> {
    let mut list: Vec<String> = (0..USERS).map(|i| format!("user{i}@contoso.com")).collect();
    list.extend((0..UNKNOWN).map(|i| format!("nobody{i}@contoso.com")));
    list.push("not-an-address".into());
    list.push("two@@contoso.com".into());
    list
}

fn jsonl_validator() -> jsonschema::Validator {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_exprobe"))
        .args(["schema", "--format=jsonl"])
        .output()
        .expect("schema");
    assert!(out.status.success());
    let schema: Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// Every line parsed and validated; returns the lines.
fn lines(stdout: &[u8], validator: &jsonschema::Validator) -> Vec<Value> {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {i} is not JSON ({e}): {line}"));
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "line {i} does not follow the schema: {errors:?}\n{line}"
            );
            v
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_lines_follow_the_schema_and_the_summary_adds_up() {
    let running = start(scenario_from_text(&scenario(0))).await;
    let path = running.dir.path().join("list.txt");
    let input = list();
    std::fs::write(&path, input.join("\n")).expect("list");
    let validator = jsonl_validator();

    let out = running
        .run_cli(running.check_args_with_list(&path, &["--format=jsonl", "--concurrency=6"]))
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "unknown users fail the run: {stderr}");
    let lines = lines(&out.stdout, &validator);
    assert_eq!(lines.first().and_then(|l| l["type"].as_str()), Some("begin"));
    assert_eq!(lines[0]["target"]["mailbox_count"], input.len());
    let summary = lines.last().expect("a summary line");
    assert_eq!(summary["type"], "summary");
    assert_eq!(lines.iter().filter(|l| l["type"] == "summary").count(), 1);

    // One mailbox line per input mailbox, each index once.
    let mailboxes: Vec<&Value> = lines.iter().filter(|l| l["type"] == "mailbox").collect();
    assert_eq!(mailboxes.len(), input.len());
    let indices: BTreeSet<u64> = mailboxes.iter().filter_map(|m| m["index"].as_u64()).collect();
    assert_eq!(indices, (0..input.len() as u64).collect());
    for m in &mailboxes {
        let i = m["index"].as_u64().expect("index") as usize;
        assert_eq!(m["address"], input[i], "the index names the input line");
    }

    // The summary's counts are the mailbox lines'.
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
    for m in &mailboxes {
        *by_status
            .entry(m["status"].as_str().expect("status").into())
            .or_default() += 1;
        for c in m["findings"].as_array().expect("codes") {
            *by_code.entry(c.as_str().expect("code").into()).or_default() += 1;
        }
    }
    let counts = &summary["counts"];
    for s in ["pass", "warn", "fail"] {
        assert_eq!(counts[s].as_u64(), Some(*by_status.get(s).unwrap_or(&0)), "{s}");
    }
    let summary_codes: BTreeMap<String, u64> = serde_json::from_value(counts["by_code"].clone()).expect("by_code");
    assert_eq!(summary_codes, by_code);
    assert_eq!(by_status.get("pass"), Some(&(USERS as u64)));
    assert_eq!(by_code.get("autodiscover.user_not_found"), Some(&(UNKNOWN as u64)));
    assert_eq!(by_code.get("input.invalid_address"), Some(&2));
    assert_eq!(summary["checked"].as_u64(), Some(input.len() as u64));
    assert_eq!(summary["status"], "fail");

    // Every code a mailbox line carries is explained by a finding in a
    // context line, its own line or the summary.
    let mut explained: BTreeSet<String> = BTreeSet::new();
    for l in &lines {
        let objects = if l["type"] == "mailbox" {
            &l["own_findings"]
        } else {
            &l["findings"]
        };
        for f in objects.as_array().into_iter().flatten() {
            if let Some(c) = f["code"].as_str() {
                explained.insert(c.into());
            }
        }
    }
    for c in by_code.keys() {
        assert!(explained.contains(c), "{c} is carried but never explained");
    }
    // Context lines come before the first mailbox that carries their codes.
    let first_mailbox = lines.iter().position(|l| l["type"] == "mailbox").expect("mailbox");
    assert!(lines[..first_mailbox].iter().any(|l| l["type"] == "context"));

    // The same run as one JSON document: the same result per mailbox, in input order.
    let out = running
        .run_cli(running.check_args_with_list(&path, &["--format=json", "--concurrency=6"]))
        .await;
    let report: exprobe::report::Report = serde_json::from_slice(&out.stdout).expect("report");
    let addresses: Vec<&str> = report.mailboxes.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(addresses, input.iter().map(String::as_str).collect::<Vec<_>>());
    for m in &mailboxes {
        let i = m["index"].as_u64().expect("index") as usize;
        assert_eq!(m["status"], report.mailboxes[i].status.as_str());
        let codes: Vec<String> = serde_json::from_value(m["findings"].clone()).expect("codes");
        assert_eq!(codes, report.mailboxes[i].findings);
    }
    assert_eq!(report.counts.fail, counts["fail"].as_u64().expect("fail") as usize);
}

/// Start the CLI on a slow lab, interrupt it, and return (exit code, stdout, time to exit after the signal).
fn interrupt_after(args: &[String], password: &str, after: Duration) -> (Option<i32>, Vec<u8>, Duration) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_exprobe"))
        .args(args)
        .env_remove("EXPROBE_PASSWORD")
        .env("NO_COLOR", "1")
        .env(PASSWORD_ENV, password)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn exprobe");
    std::thread::sleep(after);
    let signalled = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT");
    let out = child.wait_with_output().expect("wait");
    (out.status.code(), out.stdout, signalled.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_on_a_slow_lab_leaves_a_valid_partial_report() {
    // 300 ms per EWS answer, 4 at a time: 38 mailboxes take well over the 1.5 s we wait.
    let running = start(scenario_from_text(&scenario(300))).await;
    let path = running.dir.path().join("list.txt");
    let input = list();
    std::fs::write(&path, input.join("\n")).expect("list");
    let password = running.lab.password().expect("password").expose().to_string();
    let validator = jsonl_validator();

    // jsonl: every line already written is valid; the summary says interrupted.
    let args = running.check_args_with_list(&path, &["--format=jsonl", "--concurrency=4"]);
    let (code, stdout, took) =
        tokio::task::spawn_blocking(move || interrupt_after(&args, &password, Duration::from_millis(1500)))
            .await
            .expect("thread");
    assert_eq!(code, Some(130), "{}", String::from_utf8_lossy(&stdout));
    assert!(took < Duration::from_secs(4), "stopped {took:?} after the signal");
    let lines = lines(&stdout, &validator);
    let summary = lines.last().expect("summary");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["interrupted"], true);
    let mailboxes: Vec<&Value> = lines.iter().filter(|l| l["type"] == "mailbox").collect();
    assert!(
        !mailboxes.is_empty() && mailboxes.len() < input.len(),
        "{} checked",
        mailboxes.len()
    );
    assert_eq!(summary["checked"].as_u64(), Some(mailboxes.len() as u64));
    let indices: BTreeSet<u64> = mailboxes.iter().filter_map(|m| m["index"].as_u64()).collect();
    assert_eq!(indices.len(), mailboxes.len(), "each mailbox once");
    let codes: Vec<&str> = summary["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"run.interrupted"), "{codes:?}");

    // json: one valid document with what was checked.
    let password = running.lab.password().expect("password").expose().to_string();
    let args = running.check_args_with_list(&path, &["--format=json", "--concurrency=4"]);
    let (code, stdout, _) =
        tokio::task::spawn_blocking(move || interrupt_after(&args, &password, Duration::from_millis(1500)))
            .await
            .expect("thread");
    assert_eq!(code, Some(130));
    let report: exprobe::report::Report = serde_json::from_slice(&stdout).expect("a whole JSON report");
    assert!(report.interrupted);
    assert!(!report.mailboxes.is_empty() && report.mailboxes.len() < input.len());
    assert_eq!(
        report.counts.pass + report.counts.warn + report.counts.fail,
        report.mailboxes.len()
    );
    assert!(report.findings.iter().any(|f| f.code == "run.interrupted"));
}

/// Each built-in scenario, diagnosed with the rules in their order and reversed: the same report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_of_rules_does_not_change_a_report() {
    use exprobe::diagnose::{Diagnoser, MAILBOX_RULES, ORG_RULES};
    use exprobe::report::sink::Collector;

    type Summary = (
        Vec<(String, String, Option<String>, Vec<String>)>,
        Vec<(String, String, Vec<String>)>,
    );
    fn summarize(r: &exprobe::report::Report) -> Summary {
        (
            r.findings
                .iter()
                .map(|f| {
                    (
                        f.code.clone(),
                        f.severity.as_str().to_string(),
                        f.mailbox.clone(),
                        f.evidence_steps.clone(),
                    )
                })
                .collect(),
            r.mailboxes
                .iter()
                .map(|m| (m.address.clone(), m.status.as_str().to_string(), m.findings.clone()))
                .collect(),
        )
    }
    let mut compared = 0;
    for scenario in exprobe::lab::Scenario::all_builtin().expect("scenarios") {
        let name = scenario.name.clone();
        let lab = exprobe::lab::Lab::start(scenario, std::net::IpAddr::from([127, 0, 0, 1]), None)
            .await
            .expect("lab");
        let config = lab.check_config();
        let mut reports = vec![];
        for reversed in [false, true] {
            let (mut org, mut mailbox) = (ORG_RULES.to_vec(), MAILBOX_RULES.to_vec());
            if reversed {
                org.reverse();
                mailbox.reverse();
            }
            let mut sink = Collector::new();
            exprobe::engine::drive_with(
                &config,
                Diagnoser::with_rules(&config, org, mailbox),
                &mut sink,
                std::future::pending(),
                None,
            )
            .await
            .expect("run");
            reports.push(sink.into_report().expect("report"));
        }
        assert_eq!(summarize(&reports[0]), summarize(&reports[1]), "{name}");
        assert_eq!(reports[0].status, reports[1].status, "{name}");
        compared += 1;
    }
    assert!(compared >= 40, "{compared} scenarios");
}

/// A sink that hands every event to two sinks.
struct Both<'a> {
    whole: &'a mut exprobe::report::sink::Collector,
    formats: Vec<Box<dyn exprobe::report::output::FormatSink>>,
}

impl exprobe::report::sink::ReportSink for Both<'_> {
    fn begin(&mut self, begin: &exprobe::report::sink::Begin<'_>) -> std::io::Result<()> {
        self.formats.iter_mut().try_for_each(|f| f.begin(begin))?;
        self.whole.begin(begin)
    }
    fn context(
        &mut self,
        steps: &[exprobe::report::Step],
        findings: &[exprobe::diagnose::Keyed],
    ) -> std::io::Result<()> {
        self.formats.iter_mut().try_for_each(|f| f.context(steps, findings))?;
        self.whole.context(steps, findings)
    }
    fn mailbox(&mut self, record: exprobe::diagnose::MailboxRecord) -> std::io::Result<()> {
        for f in &mut self.formats {
            f.mailbox(exprobe::diagnose::MailboxRecord {
                index: record.index,
                result: record.result.clone(),
                steps: record.steps.clone(),
                findings: record.findings.clone(),
            })?;
        }
        self.whole.mailbox(record)
    }
    fn summary(&mut self, summary: exprobe::report::sink::Summary) -> std::io::Result<()> {
        self.formats.iter_mut().try_for_each(|f| f.summary(summary.clone()))?;
        self.whole.summary(summary)
    }
}

/// What a format wrote, shared with the test.
#[derive(Clone, Default)]
struct Written(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Written {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Written {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
    }
}

/// The rendered formats keep a digest as the run goes (counts, each code's
/// first mailboxes, the trees they draw): what they write, and their exit
/// codes, equal the rendering of the whole report, for every built-in
/// scenario and for a bulk run where the digest drops trees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_formats_written_from_the_digest_equal_the_whole_report() {
    use exprobe::report::output::{Format, FormatOptions};
    use exprobe::report::{html, human, nagios};

    // The streaming scenario: 30 users on one server (more passing trees than html draws).
    let mut bulk = crate::common::scenario_from_text(&scenario(0));
    bulk.name = "digest-bulk".into();
    let mut scenarios = exprobe::lab::Scenario::all_builtin().expect("scenarios");
    scenarios.push(bulk);
    let human_options = [
        human::HumanOptions::default(),
        human::HumanOptions {
            all_mailboxes: true,
            show_http: true,
            width: 132,
            ..Default::default()
        },
    ];
    let mut bulk_runs = 0;
    for scenario in scenarios {
        let name = scenario.name.clone();
        let lab = exprobe::lab::Lab::start(scenario, std::net::IpAddr::from([127, 0, 0, 1]), None)
            .await
            .expect("lab");
        let mut config = lab.check_config();
        if name == "digest-bulk" {
            // 30 that pass (more passing trees than the HTML report draws), 20 unknown.
            config.mailboxes = (0..USERS)
                .map(|i| format!("user{i}@contoso.com"))
                .chain((0..20).map(|i| format!("nobody{i}@contoso.com")))
                .collect();
            config.concurrency = 8;
        }
        let thresholds = nagios::Thresholds {
            warning: 2,
            critical: 25,
        };
        let formats = [
            (Format::Human, human_options[0]),
            (Format::Human, human_options[1]),
            (Format::Html, human_options[0]),
            (Format::Nagios, human_options[0]),
        ];
        let written: Vec<Written> = formats.iter().map(|_| Written::default()).collect();
        let mut whole = exprobe::report::sink::Collector::new();
        let mut both = Both {
            whole: &mut whole,
            formats: formats
                .iter()
                .zip(&written)
                .map(|((format, human), w)| {
                    format.sink(
                        FormatOptions {
                            human: *human,
                            thresholds,
                        },
                        Box::new(w.clone()),
                    )
                })
                .collect(),
        };
        exprobe::engine::drive(&config, &mut both, std::future::pending(), None)
            .await
            .expect("run");
        let codes: Vec<i32> = std::mem::take(&mut both.formats)
            .into_iter()
            .map(|f| f.finish().expect("written"))
            .collect();
        let report = whole.into_report().expect("report");
        if report.mailboxes.len() > human::BULK {
            bulk_runs += 1;
            assert!(
                report
                    .mailboxes
                    .iter()
                    .any(|m| m.status == exprobe::report::OverallStatus::Pass)
                    && report
                        .mailboxes
                        .iter()
                        .any(|m| m.status != exprobe::report::OverallStatus::Pass),
                "{name}: a bulk run with passing and failing mailboxes"
            );
        }
        assert_eq!(
            written[0].text(),
            human::render(&report, human_options[0]),
            "{name}: human"
        );
        assert_eq!(
            written[1].text(),
            human::render(&report, human_options[1]),
            "{name}: human -v"
        );
        assert_eq!(written[2].text(), html::render(&report), "{name}: html");
        assert_eq!(written[3].text(), nagios::render(&report, thresholds), "{name}: nagios");
        let status_code = report.status.exit_code();
        assert_eq!(codes[..3], [status_code; 3], "{name}");
        assert_eq!(
            codes[3],
            nagios::status(&report, thresholds).exit_code(),
            "{name}: nagios"
        );
    }
    assert!(bulk_runs >= 1, "a bulk run was compared");
}
