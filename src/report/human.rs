//! The `human` renderer: header, step tree, findings table, then the
//! explanation and numbered remediation of every critical finding.

use std::fmt::Write as _;

use comfy_table::{presets, ContentArrangement, Table};

use super::*;

#[derive(Debug, Clone, Copy, Default)]
pub struct HumanOptions {
    pub color: bool,
    pub show_http: bool,
    /// Bulk runs: every mailbox's step tree, not only the failing ones (`-v`).
    pub all_mailboxes: bool,
}

/// Above this many mailboxes the report is a bulk summary: counts, each
/// code once with the mailboxes it affects, trees only for failing mailboxes.
pub const BULK: usize = 10;
/// Mailboxes named per code in a bulk summary (then a count).
const NAMED: usize = 5;

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn status(&self, s: OverallStatus) -> String {
        let text = s.as_str().to_uppercase();
        match s {
            OverallStatus::Pass => self.wrap("1;32", &text),
            OverallStatus::Warn => self.wrap("1;33", &text),
            OverallStatus::Fail => self.wrap("1;31", &text),
        }
    }
    fn mark(&self, s: StepStatus) -> String {
        match s {
            StepStatus::Pass => self.wrap("32", "✓"),
            StepStatus::Warn => self.wrap("33", "!"),
            StepStatus::Fail => self.wrap("31", "✗"),
            StepStatus::Skip => self.wrap("2", "-"),
        }
    }
}

fn step_line(out: &mut String, p: &Paint, step: &Step, indent: &str, label: &str, show_http: bool) {
    let _ = write!(
        out,
        "{indent}{} {label:<28} {:>6} ms  {}",
        p.mark(step.status),
        step.duration_ms,
        step.detail
    );
    if let Some(b) = &step.skipped_because {
        let _ = write!(out, " (skipped because {b} failed)");
    }
    out.push('\n');
    if show_http {
        for ex in &step.evidence {
            let _ = writeln!(out, "{indent}    → {} {}", ex.request.method, ex.request.url);
            for (n, v) in &ex.request.headers {
                let _ = writeln!(out, "{indent}        {n}: {v}");
            }
            match (&ex.response, &ex.error) {
                (Some(r), _) => {
                    let _ = writeln!(
                        out,
                        "{indent}    ← {} ({} bytes, {} ms)",
                        r.status, r.body_bytes, ex.duration_ms
                    );
                    for (n, v) in &r.headers {
                        let _ = writeln!(out, "{indent}        {n}: {v}");
                    }
                }
                (None, Some(e)) => {
                    let _ = writeln!(out, "{indent}    ✗ {}: {} ({} ms)", e.kind, e.message, ex.duration_ms);
                }
                (None, None) => {}
            }
        }
    }
}

/// The severity, and whether `--accept` took it out of the status.
fn severity_label(f: &Finding) -> String {
    if f.accepted {
        format!("{} (accepted)", f.severity.as_str())
    } else {
        f.severity.as_str().to_string()
    }
}

pub fn render(report: &Report, options: HumanOptions) -> String {
    let p = Paint { on: options.color };
    let mut out = String::new();
    let t = &report.target;
    let who = match &t.service_account {
        Some(sa) => format!(" as {sa}"),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{} {} — {} mailbox{}{who} (auth {}, api {})",
        report.tool.name,
        report.tool.version,
        t.mailboxes.len(),
        if t.mailboxes.len() == 1 { "" } else { "es" },
        t.auth,
        t.api
    );
    let _ = writeln!(
        out,
        "status {}   duration {} ms   started {}",
        p.status(report.status),
        report.duration_ms,
        report.started_at
    );
    if t.mailboxes.len() > BULK {
        let count = |s: OverallStatus| report.mailboxes.iter().filter(|m| m.status == s).count();
        let _ = writeln!(
            out,
            "mailboxes {}: {} pass, {} warn, {} fail",
            report.mailboxes.len(),
            count(OverallStatus::Pass),
            count(OverallStatus::Warn),
            count(OverallStatus::Fail)
        );
    }
    if !report.accepted.is_empty() {
        let _ = writeln!(
            out,
            "accepted (reported, not counted in the status): {}",
            report.accepted.join(", ")
        );
    }
    if report.interrupted {
        let _ = writeln!(
            out,
            "{}",
            p.wrap(
                "1;33",
                &format!(
                    "INTERRUPTED: {} of {} mailboxes were checked; the others are unknown",
                    report.mailboxes.len(),
                    t.mailboxes.len()
                )
            )
        );
    }
    if report.insecure {
        let _ = writeln!(
            out,
            "{}",
            p.wrap(
                "1;31",
                "WARNING: --insecure: TLS certificates were NOT verified in this run"
            )
        );
    }
    for t in &report.throttling {
        let _ = writeln!(
            out,
            "throttling: {} pushed back {} time{} (concurrency went down to {})",
            t.host,
            t.pushed_back,
            if t.pushed_back == 1 { "" } else { "s" },
            t.smallest_window
        );
    }
    out.push_str("\nSteps\n");
    for step in report.steps.iter().filter(|s| s.mailbox.is_none()) {
        let label = match step.id.split_once(':') {
            Some((probe, subject)) => format!("{probe} {subject}"),
            None => step.id.clone(),
        };
        step_line(&mut out, &p, step, "  ", &label, options.show_http);
    }
    // Steps grouped by mailbox in one pass (bulk runs stay linear).
    let mut by_mailbox: std::collections::HashMap<&str, Vec<&Step>> = std::collections::HashMap::new();
    for s in &report.steps {
        if let Some(m) = s.mailbox.as_deref() {
            by_mailbox.entry(m).or_default().push(s);
        }
    }
    let bulk = t.mailboxes.len() > BULK;
    let status_of: std::collections::HashMap<&str, OverallStatus> = report
        .mailboxes
        .iter()
        .map(|m| (m.address.as_str(), m.status))
        .collect();
    let mut hidden = 0usize;
    for m in &t.mailboxes {
        let Some(mine) = by_mailbox.get(m.as_str()) else {
            continue;
        };
        if bulk && !options.all_mailboxes && status_of.get(m.as_str()) == Some(&OverallStatus::Pass) {
            hidden += 1;
            continue;
        }
        let _ = writeln!(out, "  {m}");
        for step in mine {
            step_line(&mut out, &p, step, "    ", &step.probe, options.show_http);
        }
    }
    if hidden > 0 {
        let _ = writeln!(out, "  ({hidden} passing mailboxes not shown; -v shows every mailbox)");
    }
    if bulk {
        return bulk_findings(out, &p, report);
    }

    if report.findings.is_empty() {
        out.push_str("\nNo findings: every step passed.\n");
        return out;
    }
    out.push_str("\nFindings\n");
    let mut table = findings_table("mailbox");
    for f in &report.findings {
        table.add_row(vec![
            severity_label(f),
            f.code.clone(),
            f.mailbox.clone().unwrap_or_else(|| "-".into()),
            f.title.clone(),
        ]);
    }
    let _ = writeln!(out, "{table}");

    let critical: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Critical)
        .collect();
    if !critical.is_empty() {
        out.push_str("\nWhat to do (root cause first)\n");
    }
    for (i, f) in critical.iter().enumerate() {
        let who = f.mailbox.as_deref().map(|m| format!(" — {m}")).unwrap_or_default();
        let _ = writeln!(out, "\n{}. {}{who}", i + 1, p.wrap("1", &f.code));
        let _ = writeln!(out, "   {}", f.title);
        if !f.detail.is_empty() {
            let _ = writeln!(out, "   Seen: {}", f.detail);
        }
        explanation_and_remediation(&mut out, f);
        if !f.evidence_steps.is_empty() {
            let _ = writeln!(out, "   Evidence: {}", f.evidence_steps.join(", "));
        }
    }
    out
}

/// Findings of a bulk run: each code once (root cause first), how many
/// mailboxes it affects and the first few, its remediation once.
fn bulk_findings(mut out: String, p: &Paint, report: &Report) -> String {
    if report.findings.is_empty() {
        out.push_str("\nNo findings: every step passed.\n");
        return out;
    }
    // Codes in the order of their first (root-cause-first) finding.
    let mut codes: Vec<&Finding> = vec![];
    for f in &report.findings {
        if !codes.iter().any(|c| c.code == f.code && c.severity == f.severity) {
            codes.push(f);
        }
    }
    let mut affected: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
    for m in &report.mailboxes {
        for c in &m.findings {
            affected.entry(c.as_str()).or_default().push(m.address.as_str());
        }
    }
    out.push_str("\nFindings\n");
    let mut table = findings_table("mailboxes");
    for f in &codes {
        let n = affected.get(f.code.as_str()).map_or(0, Vec::len);
        table.add_row(vec![
            severity_label(f),
            f.code.clone(),
            if n == 0 { "-".into() } else { n.to_string() },
            f.title.clone(),
        ]);
    }
    let _ = writeln!(out, "{table}");
    let critical: Vec<&&Finding> = codes.iter().filter(|f| f.severity == Severity::Critical).collect();
    if !critical.is_empty() {
        out.push_str("\nWhat to do (root cause first)\n");
    }
    for (i, f) in critical.iter().enumerate() {
        let _ = writeln!(out, "\n{}. {}", i + 1, p.wrap("1", &f.code));
        let _ = writeln!(out, "   {}", f.title);
        if let Some(list) = affected.get(f.code.as_str()) {
            let named: Vec<&str> = list.iter().take(NAMED).copied().collect();
            let more = list.len().saturating_sub(NAMED);
            let _ = writeln!(
                out,
                "   Mailboxes ({}): {}{}",
                list.len(),
                named.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
        if !f.detail.is_empty() {
            let _ = writeln!(out, "   Seen (first): {}", f.detail);
        }
        explanation_and_remediation(&mut out, f);
    }
    out
}

/// The findings table: severity, code, the mailbox column, title.
fn findings_table(mailbox_column: &str) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(120)
        .set_header(vec!["severity", "code", mailbox_column, "title"]);
    table
}

/// A finding's explanation and numbered remediation.
fn explanation_and_remediation(out: &mut String, f: &Finding) {
    let _ = writeln!(out, "   {}", f.explanation);
    for (n, r) in f.remediation.iter().enumerate() {
        let _ = writeln!(out, "   {}) {r}", n + 1);
    }
}
