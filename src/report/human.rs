//! The `human` renderer: header, step tree, findings table, then the
//! explanation and numbered remediation of every critical finding and
//! warning. Everything is wrapped to the output's width at spaces only: a
//! code, an address or a URL is never broken (it can be copied whole).

use std::fmt::Write as _;

use comfy_table::{presets, ColumnConstraint, ContentArrangement, Table, Width};

use super::digest::{Digest, Keep};
use super::output::{digest_sink, put, run_exit_code, FormatSink, Out};
use super::*;

pub use super::format::{HumanOptions, DEFAULT_WIDTH};

/// Narrower than this, lines are not wrapped any further.
const MIN_WIDTH: usize = 40;
/// A findings table needs this many columns for its title; below, findings are a list.
const MIN_TITLE: usize = 24;

/// `text` wrapped to `width` at spaces only, the first line after `first`,
/// the others after `rest`; each line ends with a newline.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    if text.trim().is_empty() {
        return format!("{}\n", first.trim_end());
    }
    let width = width.max(MIN_WIDTH);
    // A first word that cannot follow the prefix starts the next line.
    let first_word = text.split(' ').find(|w| !w.is_empty()).unwrap_or("");
    let lead = textwrap::core::display_width(first);
    if !first.trim().is_empty() && lead + textwrap::core::display_width(first_word) > width && lead > rest.len() {
        return format!("{}\n{}", first.trim_end(), wrap(text, width, rest, rest));
    }
    let options = textwrap::Options::new(width)
        .initial_indent(first)
        .subsequent_indent(rest)
        .word_separator(textwrap::WordSeparator::AsciiSpace)
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .wrap_algorithm(textwrap::WrapAlgorithm::FirstFit)
        .break_words(false);
    let mut out = String::new();
    for line in textwrap::wrap(text, options) {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Above this many mailboxes the report is a bulk summary: counts, each
/// code once with the mailboxes it affects, trees only for failing mailboxes.
pub use super::digest::BULK;
/// Mailboxes named per code in a bulk summary (then a count).
const NAMED: usize = 5;

/// The trees a human report draws: in a bulk run without `-v`, only those
/// of mailboxes that did not pass.
pub fn keep(options: HumanOptions) -> Keep {
    if options.all_mailboxes {
        Keep::ALL
    } else {
        Keep {
            passing_trees: 0,
            other_trees: usize::MAX,
        }
    }
}

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

fn step_line(out: &mut String, p: &Paint, step: &Step, indent: &str, label: &str, options: HumanOptions) {
    let prefix = format!(
        "{indent}{} {label:<28} {:>6} ms  ",
        p.mark(step.status),
        step.duration_ms
    );
    let mut detail = step.detail.clone();
    if let Some(b) = &step.skipped_because {
        let _ = write!(detail, " (skipped because {b} failed)");
    }
    out.push_str(&wrap(
        detail.trim_start(),
        options.width,
        &prefix,
        &format!("{indent}      "),
    ));
    if options.show_http {
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

/// `--format human`: written once the run has ended, from a [`Digest`] kept with [`keep`].
pub fn sink(options: HumanOptions, out: Out) -> Box<dyn FormatSink> {
    digest_sink(keep(options), out, move |d, out| {
        put(out, render_digest(d, options).as_bytes())?;
        Ok(run_exit_code(d.report.status, d.report.interrupted))
    })
}

pub fn render(report: &Report, options: HumanOptions) -> String {
    render_digest(&Digest::of_report(report), options)
}

/// The report of a run's [`Digest`] (kept with [`keep`]): the header, the
/// step trees, then the findings (each code once in a bulk run).
pub fn render_digest(digest: &Digest, options: HumanOptions) -> String {
    // Server and file text shown escaped (ESC, CR, bidi overrides): see `crate::terminal`.
    let d = &*super::safe::digest_for_terminal(digest);
    let p = Paint { on: options.color };
    let mut out = String::new();
    for line in header(d, &p).lines() {
        out.push_str(&wrap(line, options.width, "", "  "));
    }
    steps(&mut out, d, &p, options);
    if d.bulk() {
        return bulk_findings(out, &p, d, options.width);
    }
    findings(&mut out, &d.report, &p, options.width);
    out
}

/// The header's lines (wrapped by the caller): target, status, counts, banners.
fn header(d: &Digest, p: &Paint) -> String {
    let report = &d.report;
    let mut head = String::new();
    let t = &report.target;
    let who = match &t.service_account {
        Some(sa) => format!(" as {sa}"),
        None => String::new(),
    };
    let _ = writeln!(
        head,
        "{} {} — {} mailbox{}{who} (auth {}, api {})",
        report.tool.name,
        report.tool.version,
        d.total,
        if d.total == 1 { "" } else { "es" },
        t.auth,
        t.api
    );
    let _ = writeln!(
        head,
        "status {}   duration {} ms   started {}",
        p.status(report.status),
        report.duration_ms,
        report.started_at
    );
    if d.bulk() {
        let _ = writeln!(
            head,
            "mailboxes {}: {} pass, {} warn, {} fail",
            d.checked, d.tally.pass, d.tally.warn, d.tally.fail
        );
    }
    if let Some(r) = &report.counts.graph_readiness {
        let _ = writeln!(head, "{}", r.headline());
        for (reason, n) in r.reasons() {
            head.push_str(&wrap(&format!("not ready ({n}): {reason}"), 80, "  ", "    "));
        }
    }
    if !report.accepted.is_empty() {
        let _ = writeln!(
            head,
            "accepted (reported, not counted in the status): {}",
            report.accepted.join(", ")
        );
    }
    banners(&mut head, d, p);
    head
}

/// Interruption, `--insecure` and throttling, each on its own line.
fn banners(head: &mut String, d: &Digest, p: &Paint) {
    let report = &d.report;
    if report.interrupted {
        let _ = writeln!(
            head,
            "{}",
            p.wrap(
                "1;33",
                &format!(
                    "INTERRUPTED: {} of {} mailboxes were checked; the others are unknown",
                    d.checked, d.total
                )
            )
        );
    }
    if report.insecure {
        let _ = writeln!(
            head,
            "{}",
            p.wrap(
                "1;31",
                "WARNING: --insecure: TLS certificates were NOT verified in this run"
            )
        );
    }
    for t in &report.throttling {
        let _ = writeln!(
            head,
            "throttling: {} pushed back {} time{} (concurrency went down to {})",
            t.host,
            t.pushed_back,
            if t.pushed_back == 1 { "" } else { "s" },
            t.smallest_window
        );
    }
}

/// The organization's steps, then each drawn mailbox's tree (a bulk run
/// without `-v` draws only those that did not pass, and counts the others).
fn steps(out: &mut String, d: &Digest, p: &Paint, options: HumanOptions) {
    let report = &d.report;
    out.push_str("\nSteps\n");
    for step in report.steps.iter().filter(|s| s.mailbox.is_none()) {
        let label = match step.id.split_once(':') {
            Some((probe, subject)) => format!("{probe} {subject}"),
            None => step.id.clone(),
        };
        step_line(out, p, step, "  ", &label, options);
    }
    // Steps grouped by mailbox in one pass (bulk runs stay linear).
    let mut by_mailbox: std::collections::HashMap<&str, Vec<&Step>> = std::collections::HashMap::new();
    for s in &report.steps {
        if let Some(m) = s.mailbox.as_deref() {
            by_mailbox.entry(m).or_default().push(s);
        }
    }
    // Passing trees the digest did not keep, then those kept but not drawn.
    let mut hidden = d.dropped_passing_trees;
    for m in &report.mailboxes {
        let Some(mine) = by_mailbox.get(m.address.as_str()) else {
            continue;
        };
        if d.bulk() && !options.all_mailboxes && m.status == OverallStatus::Pass {
            hidden += 1;
            continue;
        }
        let _ = writeln!(out, "  {}", m.address);
        for step in mine {
            step_line(out, p, step, "    ", &step.probe, options);
        }
    }
    if hidden > 0 {
        let _ = writeln!(out, "  ({hidden} passing mailboxes not shown; -v shows every mailbox)");
    }
}

/// Findings of a run of at most [`BULK`] mailboxes: the table, then what to
/// do for each critical finding and warning (the same advice written once).
fn findings(out: &mut String, report: &Report, p: &Paint, width: usize) {
    if report.findings.is_empty() {
        out.push_str("\nNo findings: every step passed.\n");
        return;
    }
    out.push_str("\nFindings\n");
    let rows: Vec<FindingRow> = report
        .findings
        .iter()
        .map(|f| FindingRow {
            severity: severity_label(f),
            code: f.code.clone(),
            mailbox: f.mailbox.clone().unwrap_or_else(|| "-".into()),
            title: f.title.clone(),
        })
        .collect();
    out.push_str(&findings_block(&rows, "mailbox", width));

    let to_act: Vec<&Finding> = report.findings.iter().filter(|f| needs_action(f)).collect();
    if !to_act.is_empty() {
        out.push_str("\nWhat to do (root cause first)\n");
    }
    // The same advice for several mailboxes is written once, then referred to.
    let mut written: std::collections::HashMap<(&str, &[String]), usize> = std::collections::HashMap::new();
    for (i, f) in to_act.iter().enumerate() {
        let who = f.mailbox.as_deref().map(|m| format!(" — {m}")).unwrap_or_default();
        out.push('\n');
        out.push_str(&wrap(
            &format!("{}{who}{}", p.wrap("1", &f.code), warning_mark(f)),
            width,
            &format!("{}. ", i + 1),
            "   ",
        ));
        out.push_str(&wrap(&f.title, width, "   ", "   "));
        if !f.detail.is_empty() {
            out.push_str(&wrap(&f.detail, width, "   Seen: ", "         "));
        }
        match written.get(&(f.code.as_str(), f.remediation.as_slice())) {
            Some(n) => {
                let _ = writeln!(out, "   What to do: as for {n}. above.");
            }
            None => {
                written.insert((f.code.as_str(), f.remediation.as_slice()), i + 1);
                explanation_and_remediation(out, f, width);
            }
        }
        if !f.evidence_steps.is_empty() {
            out.push_str(&wrap(
                &f.evidence_steps.join(", "),
                width,
                "   Evidence: ",
                "             ",
            ));
        }
    }
}

/// Critical findings and warnings get their explanation and remediation;
/// info findings and accepted ones only their table row.
fn needs_action(f: &Finding) -> bool {
    !f.accepted && matches!(f.severity, Severity::Critical | Severity::Warning)
}

fn warning_mark(f: &Finding) -> &'static str {
    if f.severity == Severity::Warning {
        " (warning)"
    } else {
        ""
    }
}

/// Findings of a bulk run: each code once (root cause first), how many
/// mailboxes it affects and the first few, its remediation once.
fn bulk_findings(mut out: String, p: &Paint, d: &Digest, width: usize) -> String {
    let report = &d.report;
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
    let affected = &d.affected;
    out.push_str("\nFindings\n");
    let rows: Vec<FindingRow> = codes
        .iter()
        .map(|f| {
            let n = affected.get(f.code.as_str()).map_or(0, |a| a.count);
            FindingRow {
                severity: severity_label(f),
                code: f.code.clone(),
                mailbox: if n == 0 { "-".into() } else { n.to_string() },
                title: f.title.clone(),
            }
        })
        .collect();
    out.push_str(&findings_block(&rows, "mailboxes", width));
    let to_act: Vec<&&Finding> = codes.iter().filter(|f| needs_action(f)).collect();
    if !to_act.is_empty() {
        out.push_str("\nWhat to do (root cause first)\n");
    }
    for (i, f) in to_act.iter().enumerate() {
        out.push('\n');
        out.push_str(&wrap(
            &format!("{}{}", p.wrap("1", &f.code), warning_mark(f)),
            width,
            &format!("{}. ", i + 1),
            "   ",
        ));
        out.push_str(&wrap(&f.title, width, "   ", "   "));
        if let Some(list) = affected.get(f.code.as_str()) {
            let named: Vec<&str> = list.first.iter().take(NAMED).map(String::as_str).collect();
            let more = list.count.saturating_sub(NAMED);
            let text = format!(
                "{}{}",
                named.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
            let first = format!("   Mailboxes ({}): ", list.count);
            out.push_str(&wrap(&text, width, &first, "      "));
        }
        if !f.detail.is_empty() {
            out.push_str(&wrap(&f.detail, width, "   Seen (first): ", "      "));
        }
        explanation_and_remediation(&mut out, f, width);
    }
    out
}

/// One row of the findings table.
struct FindingRow {
    severity: String,
    code: String,
    /// The mailbox, or the number of mailboxes in a bulk report.
    mailbox: String,
    title: String,
}

/// The findings as a table when it fits in `width` with whole codes and
/// addresses, otherwise as a list (severity and code on one line, the
/// mailbox and title indented below).
fn findings_block(rows: &[FindingRow], mailbox_column: &str, width: usize) -> String {
    let widest = |f: fn(&FindingRow) -> &str, header: &str| {
        rows.iter()
            .map(|r| textwrap::core::display_width(f(r)))
            .chain([header.len()])
            .max()
            .unwrap_or(0)
    };
    let severity_w = widest(|r| &r.severity, "severity");
    let code_w = widest(|r| &r.code, "code");
    let mailbox_w = widest(|r| &r.mailbox, mailbox_column);
    // Borders and padding of a four-column UTF8_FULL_CONDENSED table.
    const FRAME: usize = 13;
    let width = width.max(MIN_WIDTH);
    if severity_w + code_w + mailbox_w + FRAME + MIN_TITLE <= width {
        let mut table = Table::new();
        // A constraint's width includes the cell's padding (one space each side).
        let fixed = |w: usize| ColumnConstraint::LowerBoundary(Width::Fixed(u16::try_from(w + 2).unwrap_or(u16::MAX)));
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX))
            .set_header(vec!["severity", "code", mailbox_column, "title"])
            .set_constraints(vec![fixed(severity_w), fixed(code_w), fixed(mailbox_w)]);
        for r in rows {
            table.add_row(vec![
                r.severity.clone(),
                r.code.clone(),
                r.mailbox.clone(),
                r.title.clone(),
            ]);
        }
        return format!("{table}\n");
    }
    let mut out = String::new();
    let pad = " ".repeat(severity_w + 4);
    for r in rows {
        let lead = format!("  {:<w$}  ", r.severity, w = severity_w);
        out.push_str(&wrap(&r.code, width, &lead, "    "));
        let about = if r.mailbox == "-" {
            r.title.clone()
        } else if mailbox_column == "mailboxes" {
            format!(
                "{} mailbox{}: {}",
                r.mailbox,
                if r.mailbox == "1" { "" } else { "es" },
                r.title
            )
        } else {
            format!("{} — {}", r.mailbox, r.title)
        };
        out.push_str(&wrap(&about, width, &pad, &pad));
    }
    out
}

/// A finding's explanation and numbered remediation.
fn explanation_and_remediation(out: &mut String, f: &Finding, width: usize) {
    out.push_str(&wrap(&f.explanation, width, "   ", "   "));
    for (n, r) in f.remediation.iter().enumerate() {
        out.push_str(&wrap(r, width, &format!("   {}) ", n + 1), "      "));
    }
}
