//! The `nagios` renderer: the plugin output Nagios, Icinga and Zabbix read.
//! One status line with performance data after `|`, then one line per
//! finding code (the long output); the exit code follows the status
//! (0 OK, 1 WARNING, 2 CRITICAL).
//!
//! Status: CRITICAL when the failing mailboxes reach `--critical` (default
//! 1), WARNING when they reach `--warning` (default 1) or anything warns,
//! else OK. An organization finding that fails the run (a token, DNS) with
//! no mailbox result counts as critical as well.

use std::fmt::Write as _;

use super::digest::{Digest, Keep};
use super::output::{digest_sink, put, run_exit_code, FormatSink, Out};
use super::*;

pub use super::format::Thresholds;

/// Mailboxes named per code in the long output (then a count).
const NAMED: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginStatus {
    Ok,
    Warning,
    Critical,
}

impl PluginStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginStatus::Ok => "OK",
            PluginStatus::Warning => "WARNING",
            PluginStatus::Critical => "CRITICAL",
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            PluginStatus::Ok => 0,
            PluginStatus::Warning => 1,
            PluginStatus::Critical => 2,
        }
    }
}

/// The plugin status of a report under the thresholds.
pub fn status(report: &Report, t: Thresholds) -> PluginStatus {
    status_of(&Digest::of_report(report), t)
}

/// The plugin status of a run's [`Digest`] under the thresholds.
pub fn status_of(d: &Digest, t: Thresholds) -> PluginStatus {
    let report = &d.report;
    let failing = report.counts.fail;
    let org_critical = report
        .findings
        .iter()
        .any(|f| !f.accepted && f.severity == Severity::Critical && f.mailbox.is_none())
        && d.checked == 0;
    if failing >= t.critical.max(1) || org_critical {
        PluginStatus::Critical
    } else if failing >= t.warning.max(1) || report.status != OverallStatus::Pass {
        PluginStatus::Warning
    } else {
        PluginStatus::Ok
    }
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::Warning => "WARNING",
        Severity::Info => "INFO",
    }
}

/// `--format nagios`: written once the run has ended, from a [`Digest`]
/// without trees; the exit code is the plugin status (an interrupted run's
/// is [`crate::exit::INTERRUPTED`]).
pub fn sink(t: Thresholds, out: Out) -> Box<dyn FormatSink> {
    digest_sink(Keep::NO_TREES, out, move |d, out| {
        put(out, render_digest(d, t).as_bytes())?;
        Ok(if d.report.interrupted {
            run_exit_code(d.report.status, true)
        } else {
            status_of(d, t).exit_code()
        })
    })
}

pub fn render(report: &Report, t: Thresholds) -> String {
    render_digest(&Digest::of_report(report), t)
}

/// The status line's words: how many mailboxes fail, warn or pass.
fn what_happened(c: &Counts, st: PluginStatus, total: usize) -> String {
    if c.fail > 0 {
        format!("{}/{total} mailboxes failing", c.fail)
    } else if c.warn > 0 {
        format!("{}/{total} mailboxes with warnings", c.warn)
    } else if st == PluginStatus::Critical {
        "the check could not reach the mailboxes".to_string()
    } else if st == PluginStatus::Warning {
        format!("{}/{total} mailboxes pass, with a warning about the setup", c.pass)
    } else {
        format!("{}/{total} mailboxes pass", c.pass)
    }
}

/// ` (N): a, b, c and M more` for a code's mailboxes, or nothing.
fn mailboxes_named(l: &super::digest::Affected) -> String {
    if l.count == 0 {
        return String::new();
    }
    let named: Vec<&str> = l.first.iter().take(NAMED).map(String::as_str).collect();
    let more = l.count.saturating_sub(NAMED);
    format!(
        " ({}): {}{}",
        l.count,
        named.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// The plugin output of a run's [`Digest`] (kept with [`Keep::NO_TREES`]).
pub fn render_digest(digest: &Digest, t: Thresholds) -> String {
    let d = &*super::safe::digest_for_terminal(digest);
    let report = &d.report;
    let st = status_of(d, t);
    let total = d.total;
    let c = &report.counts;
    // Codes not accepted, root cause first, each once, with the mailboxes carrying it.
    let mut codes: Vec<&Finding> = vec![];
    for f in report
        .findings
        .iter()
        .filter(|f| !f.accepted && f.severity != Severity::Info)
    {
        if !codes.iter().any(|x| x.code == f.code) {
            codes.push(f);
        }
    }
    let affected = &d.affected;
    let what = what_happened(c, st, total);
    let summary_codes: Vec<String> = codes
        .iter()
        .take(3)
        .map(|f| {
            let n = affected.get(f.code.as_str()).map_or(0, |a| a.count);
            if n > 0 {
                format!("{} ({n})", f.code)
            } else {
                f.code.clone()
            }
        })
        .collect();
    let mut line = format!("EXPROBE {} - {what}", st.as_str());
    if !summary_codes.is_empty() {
        let _ = write!(line, ": {}", summary_codes.join(", "));
        if codes.len() > 3 {
            let _ = write!(line, " and {} more", codes.len() - 3);
        }
    }
    if report.interrupted {
        line.push_str(" (interrupted)");
    }
    // Perfdata: 'label'=value[UOM];[warn];[crit];[min];[max]
    let _ = writeln!(
        line,
        " | pass={};;;0;{total} warn={};;;0;{total} fail={};{};{};0;{total} duration={:.3}s",
        c.pass,
        c.warn,
        c.fail,
        t.warning.max(1),
        t.critical.max(1),
        report.duration_ms as f64 / 1000.0
    );
    if let Some(r) = &c.graph_readiness {
        // Mailboxes the app reads through Graph (an EWS run's readiness to move off EWS).
        line.pop();
        let _ = writeln!(line, " graph_ready={};;;0;{}", r.ready, r.checked);
    }
    for f in &codes {
        let who = affected.get(f.code.as_str()).map(mailboxes_named).unwrap_or_default();
        let _ = writeln!(line, "{} {}{who} - {}", severity_word(f.severity), f.code, f.title);
    }
    if !report.accepted.is_empty() {
        let _ = writeln!(line, "accepted: {}", report.accepted.join(", "));
    }
    line
}
