//! The `junit` renderer: JUnit XML for CI systems that show test reports
//! (Jenkins, GitLab, Azure Pipelines, GitHub test reporters). It follows
//! the schema those systems read (Jenkins' `junit-10.xsd`, which
//! `tests/it/junit.rs` validates against):
//!
//! - one `<testsuite>` for the organization's steps and one per mailbox;
//! - one `<testcase>` per step (`classname` the suite, `name` the step),
//!   failed (`<failure>`) when the step failed, skipped (`<skipped>`) when
//!   it was skipped, with the findings it is evidence of in the text;
//! - a mailbox without steps (the deadline left it unchecked) is one test
//!   case, `result`; a finding about no step in the report (the run's own,
//!   such as `run.deadline_reached`) is one test case `finding CODE` in the
//!   organization's suite;
//! - a critical finding fails its test case; warnings and info findings are
//!   written in `<system-out>` (JUnit has no warning), accepted ones too.
//!
//! Text a server controls is shown with control characters as visible
//! escapes (XML 1.0 cannot carry most of them at all).

use std::collections::HashMap;
use std::fmt::Write as _;

use std::io::Write as _;

use super::output::{closed_pipe_is_fine, report_sink, run_exit_code, FormatSink, Out};
use super::*;

/// `--format junit`: the whole report, written once the run has ended.
pub fn sink(out: Out) -> Box<dyn FormatSink> {
    report_sink(out, |report, out| {
        let mut w = std::io::BufWriter::new(out);
        closed_pipe_is_fine(write(report, &mut w).and_then(|_| w.flush()))?;
        Ok(run_exit_code(report.status, report.interrupted))
    })
}

/// One test case, as written.
#[derive(Debug, Default)]
struct Case {
    name: String,
    ms: u64,
    failure: Option<(String, String)>,
    skipped: Option<String>,
    out: String,
}

/// One test suite: the organization or one mailbox.
#[derive(Debug, Default)]
struct Suite {
    name: String,
    cases: Vec<Case>,
}

impl Suite {
    fn counts(&self) -> (usize, usize, u64) {
        let failures = self.cases.iter().filter(|c| c.failure.is_some()).count();
        let skipped = self.cases.iter().filter(|c| c.skipped.is_some()).count();
        (failures, skipped, self.cases.iter().map(|c| c.ms).sum())
    }
}

pub fn render(report: &Report) -> String {
    let mut out = Vec::with_capacity(16 * 1024);
    // Writing to memory cannot fail.
    let _ = write(report, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The document, written suite by suite (a bulk run's is never held whole).
pub fn write(report: &Report, w: &mut impl std::io::Write) -> std::io::Result<()> {
    let suites = suites(report);
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(|s| s.counts().0).sum();
    writeln!(
        w,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"exprobe\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{}\">",
        seconds(report.duration_ms)
    )?;
    let mut text = String::new();
    for (i, suite) in suites.iter().enumerate() {
        text.clear();
        write_suite(&mut text, report, suite, i);
        w.write_all(text.as_bytes())?;
    }
    w.write_all(b"</testsuites>\n")
}

fn write_suite(out: &mut String, report: &Report, suite: &Suite, id: usize) {
    let (failures, skipped, ms) = suite.counts();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\" timestamp=\"{}\" id=\"{id}\" package=\"exprobe\">",
        attr(&suite.name),
        suite.cases.len(),
        seconds(ms),
        attr(&report.started_at),
    );
    if id == 0 {
        write_properties(out, report);
    }
    for case in &suite.cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
            attr(&suite.name),
            attr(&case.name),
            seconds(case.ms)
        );
        if case.failure.is_none() && case.skipped.is_none() && case.out.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        if let Some((message, text)) = &case.failure {
            let _ = writeln!(
                out,
                "      <failure type=\"exprobe\" message=\"{}\">{}</failure>",
                attr(message),
                text_of(text)
            );
        }
        if let Some(message) = &case.skipped {
            let _ = writeln!(out, "      <skipped message=\"{}\"/>", attr(message));
        }
        if !case.out.is_empty() {
            let _ = writeln!(out, "      <system-out>{}</system-out>", text_of(&case.out));
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n");
}

/// The run's target and status, on the organization's suite.
fn write_properties(out: &mut String, report: &Report) {
    let t = &report.target;
    let mut props: Vec<(&str, String)> = vec![
        ("exprobe.version", report.tool.version.clone()),
        ("status", report.status.as_str().into()),
        ("mailboxes", t.mailboxes.len().to_string()),
        ("auth", t.auth.clone()),
        ("api", t.api.clone()),
        ("insecure", report.insecure.to_string()),
    ];
    if let Some(sa) = &t.service_account {
        props.push(("service_account", sa.clone()));
    }
    if let Some(tenant) = &t.tenant {
        props.push(("tenant", tenant.clone()));
    }
    if report.interrupted {
        props.push(("interrupted", "true".into()));
    }
    if !report.accepted.is_empty() {
        props.push(("accepted", report.accepted.join(",")));
    }
    if let Some(r) = &report.counts.graph_readiness {
        props.push(("graph_ready", format!("{} of {}", r.ready, r.checked)));
        for (reason, n) in r.reasons() {
            props.push(("graph_not_ready", format!("{n}: {reason}")));
        }
    }
    out.push_str("    <properties>\n");
    for (name, value) in props {
        let _ = writeln!(out, "      <property name=\"{name}\" value=\"{}\"/>", attr(&value));
    }
    out.push_str("    </properties>\n");
}

/// The organization's suite, then one per mailbox in input order.
fn suites(report: &Report) -> Vec<Suite> {
    // Each step's findings, by step id; findings of no step in the report apart.
    let step_ids: std::collections::HashSet<&str> = report.steps.iter().map(|s| s.id.as_str()).collect();
    let mut of_step: HashMap<&str, Vec<&Finding>> = HashMap::new();
    let mut of_none: Vec<&Finding> = vec![];
    for f in &report.findings {
        match f.evidence_steps.iter().find(|id| step_ids.contains(id.as_str())) {
            Some(id) => of_step.entry(id.as_str()).or_default().push(f),
            None => of_none.push(f),
        }
    }
    let mut org = Suite {
        name: "organization".into(),
        cases: vec![],
    };
    let mut by_mailbox: HashMap<&str, Vec<Case>> = HashMap::new();
    for step in &report.steps {
        let case = step_case(step, of_step.get(step.id.as_str()).map_or(&[][..], Vec::as_slice));
        match step.mailbox.as_deref() {
            Some(m) => by_mailbox.entry(m).or_default().push(case),
            None => org.cases.push(case),
        }
    }
    for f in of_none {
        let mut case = Case {
            name: format!("finding {}", f.code),
            ..Default::default()
        };
        if let Some(m) = &f.mailbox {
            let _ = writeln!(case.out, "mailbox: {m}");
        }
        add_finding(&mut case, f);
        org.cases.push(case);
    }
    let mut all = vec![org];
    for m in &report.mailboxes {
        let cases = by_mailbox
            .remove(m.address.as_str())
            .unwrap_or_else(|| vec![result_case(m)]);
        all.push(Suite {
            name: m.address.clone(),
            cases,
        });
    }
    all
}

fn step_case(step: &Step, findings: &[&Finding]) -> Case {
    let mut case = Case {
        name: step.probe.clone(),
        ms: step.duration_ms,
        ..Default::default()
    };
    match step.status {
        StepStatus::Fail => case.failure = Some((step.detail.clone(), String::new())),
        StepStatus::Skip => {
            case.skipped = Some(match &step.skipped_because {
                Some(b) => format!("{} (skipped because {b} failed)", step.detail),
                None => step.detail.clone(),
            })
        }
        StepStatus::Warn => {
            let _ = writeln!(case.out, "warning: {}", step.detail);
        }
        StepStatus::Pass => {
            let _ = writeln!(case.out, "{}", step.detail);
        }
    }
    for f in findings {
        add_finding(&mut case, f);
    }
    case
}

/// A mailbox the run has a result for but no step (left unchecked).
fn result_case(m: &MailboxResult) -> Case {
    let mut case = Case {
        name: "result".into(),
        ..Default::default()
    };
    let codes = m.findings.join(", ");
    match m.status {
        OverallStatus::Fail => case.failure = Some((format!("not checked: {codes}"), String::new())),
        OverallStatus::Warn => case.skipped = Some(format!("not checked: {codes}")),
        OverallStatus::Pass => {}
    }
    case
}

/// A finding in its test case: a critical one (not accepted) fails it.
fn add_finding(case: &mut Case, f: &Finding) {
    let mut text = format!(
        "{} ({}{}): {}\n",
        f.code,
        f.severity.as_str(),
        if f.accepted { ", accepted" } else { "" },
        f.title
    );
    if !f.detail.is_empty() {
        let _ = writeln!(text, "Seen: {}", f.detail);
    }
    if !f.explanation.is_empty() {
        let _ = writeln!(text, "{}", f.explanation);
    }
    for (i, r) in f.remediation.iter().enumerate() {
        let _ = writeln!(text, "{}. {r}", i + 1);
    }
    if f.severity == Severity::Critical && !f.accepted {
        match &mut case.failure {
            Some((_, body)) => body.push_str(&text),
            None => case.failure = Some((format!("{}: {}", f.code, f.title), text)),
        }
    } else {
        case.out.push_str(&text);
    }
}

/// Milliseconds as the seconds JUnit readers expect (`SUREFIRE_TIME`: at most three decimals).
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// An attribute value: one line, control characters visible, XML-escaped.
fn attr(s: &str) -> String {
    quick_xml::escape::escape(xml_chars(&crate::terminal::escape(s)).as_str()).into_owned()
}

/// Element text: lines kept, other control characters visible, XML-escaped.
fn text_of(s: &str) -> String {
    let lines: Vec<std::borrow::Cow<'_, str>> = s.split('\n').map(crate::terminal::escape).collect();
    quick_xml::escape::escape(xml_chars(&lines.join("\n")).as_str()).into_owned()
}

/// The two non-characters XML 1.0 cannot carry that a terminal escape
/// leaves (U+FFFE, U+FFFF), written visibly too.
fn xml_chars(s: &str) -> String {
    s.replace('\u{fffe}', "\\u{fffe}").replace('\u{ffff}', "\\u{ffff}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_text_and_attributes() {
        assert_eq!(seconds(0), "0.000");
        assert_eq!(seconds(12_345), "12.345");
        assert_eq!(attr("a<b>\"&\u{1b}[2J\n"), "a&lt;b&gt;&quot;&amp;\\x1b[2J\\n");
        assert_eq!(text_of("one\ntwo\u{7}<"), "one\ntwo\\x07&lt;");
        assert_eq!(attr("a\u{ffff}b\u{fffe}"), "a\\u{ffff}b\\u{fffe}");
    }
}
