//! The `html` renderer: one self-contained file a support engineer attaches
//! to a ticket. No external assets and no JavaScript: the step trees and the
//! redacted HTTP exchanges fold with `<details>`, timings are drawn as a
//! waterfall with inline widths, colours follow `prefers-color-scheme`, and
//! print keeps what matters. Every text is escaped; the report carries no
//! secret (evidence is redacted before it reaches the report).

use std::collections::HashMap;
use std::fmt::Write as _;

use super::digest::{Digest, Keep};
use super::output::{digest_sink, put, run_exit_code, FormatSink, Out};
use super::*;

/// Mailboxes with a step tree: every one that did not pass, up to this many.
const TREES_NOT_PASSING: usize = 500;
/// Passing mailboxes with a step tree (then a count).
const TREES_PASSING: usize = 20;
/// Mailboxes named per code in the summary (then a count).
const NAMED: usize = 20;

const CSS: &str = r#"
:root { --bg:#fff; --fg:#1b1f24; --muted:#59636e; --line:#d1d9e0; --card:#f6f8fa;
  --pass:#1a7f37; --warn:#9a6700; --fail:#cf222e; --info:#0969da; --bar:#54aeff; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#0d1117; --fg:#e6edf3; --muted:#9198a1; --line:#3d444d; --card:#151b23;
    --pass:#3fb950; --warn:#d29922; --fail:#f85149; --info:#4493f8; --bar:#1f6feb; } }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; padding: 1.5rem; max-width: 72rem; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; }
code, pre, .code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
.code { overflow-wrap: anywhere; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.banner { padding: .5rem .8rem; border-radius: 6px; margin: .6rem 0; font-weight: 600;
  border: 1px solid var(--fail); color: var(--fail); }
.status { font-weight: 700; text-transform: uppercase; }
.pass { color: var(--pass); } .warn, .warning { color: var(--warn); }
.fail, .critical { color: var(--fail); } .info, .skip { color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
.finding { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .9rem; margin: .8rem 0;
  background: var(--card); break-inside: avoid; }
.finding h3 { font-size: 1rem; margin: 0 0 .3rem; }
.finding .seen { color: var(--muted); overflow-wrap: anywhere; }
.finding ol { margin: .4rem 0; padding-left: 1.6rem; }
details { margin: .3rem 0; } summary { cursor: pointer; }
.mailbox { border-left: 3px solid var(--line); padding-left: .7rem; margin: .6rem 0; }
.mailbox.fail { border-color: var(--fail); } .mailbox.warn { border-color: var(--warn); }
.step { display: grid; grid-template-columns: 1.2rem 14rem 5rem 1fr; gap: .5rem; align-items: start;
  padding: .15rem 0; }
.step .detail { overflow-wrap: anywhere; }
.wf { grid-column: 2 / 5; height: .45rem; background: var(--line); border-radius: 3px; position: relative; }
.wf svg { display: block; width: 100%; height: 100%; }
.wf rect { fill: var(--bar); }
.ms { text-align: right; color: var(--muted); font-variant-numeric: tabular-nums; }
pre { background: var(--card); border: 1px solid var(--line); padding: .5rem; border-radius: 6px;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 30rem; overflow: auto; }
.muted { color: var(--muted); }
footer { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
@media print { body { max-width: none; padding: 0; font-size: 11pt; } .wf { display: none; }
  details.http { display: none; } a { color: inherit; } }
"#;

/// `&`, `<`, `>`, `"` and `'` escaped for text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn mark(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pass => "✓",
        StepStatus::Warn => "!",
        StepStatus::Fail => "✗",
        StepStatus::Skip => "–",
    }
}

/// The page's Content-Security-Policy: nothing may load or run; only the
/// page's own stylesheet (by its hash) applies. A server's text that slipped
/// past escaping could still fetch nothing, run nothing, post no form.
pub fn content_security_policy() -> String {
    use base64::Engine as _;
    let hash = ring::digest::digest(&ring::digest::SHA256, CSS.as_bytes());
    format!(
        "default-src 'none'; style-src 'sha256-{}'; img-src 'none'; base-uri 'none'; form-action 'none'",
        base64::engine::general_purpose::STANDARD.encode(hash.as_ref())
    )
}

/// The trees an HTML report draws: the first that did not pass and the first that did.
pub const KEEP: Keep = Keep {
    passing_trees: TREES_PASSING,
    other_trees: TREES_NOT_PASSING,
};

/// `--format html`: written once the run has ended, from a [`Digest`] kept with [`KEEP`].
pub fn sink(out: Out) -> Box<dyn FormatSink> {
    digest_sink(KEEP, out, |d, out| {
        put(out, render_digest(d).as_bytes())?;
        Ok(run_exit_code(d.report.status, d.report.interrupted))
    })
}

pub fn render(report: &Report) -> String {
    render_digest(&Digest::of_report(report))
}

/// The report of a run's [`Digest`] (kept with [`KEEP`]).
pub fn render_digest(d: &Digest) -> String {
    let report = &d.report;
    let mut out = String::with_capacity(64 * 1024);
    let csp = content_security_policy();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <title>exprobe {} — {} mailbox{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        report.status.as_str().to_uppercase(),
        d.total,
        if d.total == 1 { "" } else { "es" }
    );
    header(&mut out, d);
    summary(&mut out, d);
    findings(&mut out, d);
    steps(&mut out, d);
    let _ = write!(
        out,
        "<footer>{} {} · schema_version {} · HTTP exchanges are redacted: credentials, cookies and tokens never appear.</footer>\n</body>\n</html>\n",
        escape(&report.tool.name),
        escape(&report.tool.version),
        report.schema_version
    );
    out
}

fn header(out: &mut String, d: &Digest) {
    let report = &d.report;
    let t = &report.target;
    let _ = write!(
        out,
        "<header>\n<h1>exprobe report: <span class=\"status {s}\" id=\"status\">{S}</span></h1>\n<dl class=\"meta\">\n",
        s = report.status.as_str(),
        S = report.status.as_str().to_uppercase()
    );
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(k), v);
    };
    let shown: Vec<String> = t.mailboxes.iter().take(5).map(|m| escape(m)).collect();
    let more = d.total.saturating_sub(5);
    row(
        "mailboxes",
        format!(
            "{} ({}{})",
            d.total,
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    );
    if let Some(sa) = &t.service_account {
        row("service account", escape(sa));
    }
    row("auth", escape(&t.auth));
    row("api", escape(&t.api));
    if let Some(tenant) = &t.tenant {
        row("tenant", escape(tenant));
    }
    row("started", escape(&report.started_at));
    row("duration", format!("{} ms", report.duration_ms));
    row(
        "certificates",
        if report.insecure {
            "NOT verified (--insecure)".into()
        } else {
            "verified".into()
        },
    );
    if !report.accepted.is_empty() {
        row("accepted", escape(&report.accepted.join(", ")));
    }
    if let Some(r) = &report.counts.graph_readiness {
        let mut text = escape(&r.headline());
        for (reason, n) in r.reasons() {
            let _ = write!(text, "<br>not ready ({n}): {}", escape(reason));
        }
        row("Graph", text);
    }
    for th in &report.throttling {
        row(
            "throttling",
            escape(&format!(
                "{} pushed back {} times (concurrency down to {})",
                th.host, th.pushed_back, th.smallest_window
            )),
        );
    }
    out.push_str("</dl>\n");
    if report.insecure {
        out.push_str(
            "<p class=\"banner\" id=\"insecure\">--insecure: TLS certificates were NOT verified in this run.</p>\n",
        );
    }
    if report.interrupted {
        let _ = writeln!(
            out,
            "<p class=\"banner\" id=\"interrupted\">Interrupted: {} of {} mailboxes were checked; the others are unknown.</p>",
            d.checked, d.total
        );
    }
    out.push_str("</header>\n");
}

/// Each code once (root cause first) with the mailboxes it affects.
fn codes_in_order(report: &Report) -> Vec<&Finding> {
    let mut codes: Vec<&Finding> = vec![];
    for f in &report.findings {
        if !codes.iter().any(|c| c.code == f.code && c.severity == f.severity) {
            codes.push(f);
        }
    }
    codes
}

fn summary(out: &mut String, d: &Digest) {
    let report = &d.report;
    let c = &report.counts;
    let _ = write!(
        out,
        "<section id=\"summary\">\n<h2>Summary</h2>\n<p>Mailboxes: <span class=\"pass\">{} pass</span>, \
         <span class=\"warn\">{} warn</span>, <span class=\"fail\">{} fail</span>.</p>\n",
        c.pass, c.warn, c.fail
    );
    let codes = codes_in_order(report);
    if codes.is_empty() {
        out.push_str("<p id=\"no-findings\">No findings: every step passed.</p>\n</section>\n");
        return;
    }
    let affected = &d.affected;
    out.push_str(
        "<table>\n<thead><tr><th>severity</th><th>code</th><th>mailboxes</th><th>title</th></tr></thead>\n<tbody>\n",
    );
    for (i, f) in codes.iter().enumerate() {
        let n = affected.get(f.code.as_str()).map_or(0, |a| a.count);
        let _ = writeln!(
            out,
            "<tr><td class=\"{sev}\">{sev}{acc}</td><td class=\"code\"><a href=\"#finding-{i}\">{code}</a></td><td>{n}</td><td>{title}</td></tr>",
            sev = f.severity.as_str(),
            acc = if f.accepted { " (accepted)" } else { "" },
            code = escape(&f.code),
            n = if n == 0 { "–".to_string() } else { n.to_string() },
            title = escape(&f.title),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn findings(out: &mut String, d: &Digest) {
    let report = &d.report;
    let codes = codes_in_order(report);
    if codes.is_empty() {
        return;
    }
    let affected = &d.affected;
    out.push_str("<section id=\"findings\">\n<h2>Findings and what to do (root cause first)</h2>\n");
    for (i, f) in codes.iter().enumerate() {
        let _ = write!(
            out,
            "<article class=\"finding\" id=\"finding-{i}\" data-code=\"{code}\" data-severity=\"{sev}\">\n\
             <h3><span class=\"{sev}\">{sev}</span> <span class=\"code\">{code}</span>{acc}</h3>\n<p>{title}</p>\n",
            code = escape(&f.code),
            sev = f.severity.as_str(),
            acc = if f.accepted {
                " <span class=\"muted\">(accepted)</span>"
            } else {
                ""
            },
            title = escape(&f.title),
        );
        if let Some(list) = affected.get(f.code.as_str()) {
            let named: Vec<String> = list.first.iter().take(NAMED).map(|m| escape(m)).collect();
            let more = list.count.saturating_sub(NAMED);
            let _ = writeln!(
                out,
                "<p>Mailboxes ({}): {}{}</p>",
                list.count,
                named.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
        if !f.detail.is_empty() {
            let several = d.findings_per_code.get(&f.code).is_some_and(|n| *n > 1);
            let _ = writeln!(
                out,
                "<p class=\"seen\">Seen{}: {}</p>",
                if several { " (first)" } else { "" },
                escape(&f.detail)
            );
        }
        let _ = writeln!(out, "<p>{}</p>", escape(&f.explanation));
        if !f.remediation.is_empty() {
            out.push_str("<ol class=\"remediation\">\n");
            for r in &f.remediation {
                let _ = writeln!(out, "<li>{}</li>", escape(r));
            }
            out.push_str("</ol>\n");
        }
        if !f.references.is_empty() {
            out.push_str("<p class=\"muted\">References: ");
            let links: Vec<String> = f
                .references
                .iter()
                .map(|r| {
                    if r.starts_with("https://") {
                        format!("<a href=\"{0}\" rel=\"noreferrer\">{0}</a>", escape(r))
                    } else {
                        escape(r)
                    }
                })
                .collect();
            out.push_str(&links.join(" · "));
            out.push_str("</p>\n");
        }
        out.push_str("</article>\n");
    }
    out.push_str("</section>\n");
}

fn steps(out: &mut String, d: &Digest) {
    let report = &d.report;
    let total = report.duration_ms.max(1) as f64;
    out.push_str("<section id=\"steps\">\n<h2>Steps</h2>\n<div class=\"org\">\n");
    for s in report.steps.iter().filter(|s| s.mailbox.is_none()) {
        step(out, s, total);
    }
    out.push_str("</div>\n");
    let mut by_mailbox: HashMap<&str, Vec<&Step>> = HashMap::new();
    for s in &report.steps {
        if let Some(m) = s.mailbox.as_deref() {
            by_mailbox.entry(m).or_default().push(s);
        }
    }
    // Trees the digest did not keep, then those kept but not drawn.
    let (mut not_passing, mut passing) = (0usize, 0usize);
    let mut hidden = d.dropped_passing_trees + d.dropped_other_trees;
    for m in &report.mailboxes {
        let Some(mine) = by_mailbox.get(m.address.as_str()) else {
            continue;
        };
        let shown = if m.status == OverallStatus::Pass {
            passing += 1;
            passing <= TREES_PASSING
        } else {
            not_passing += 1;
            not_passing <= TREES_NOT_PASSING
        };
        if !shown {
            hidden += 1;
            continue;
        }
        let _ = writeln!(
            out,
            "<details class=\"mailbox {s}\" data-mailbox=\"{a}\"{open}>\n<summary><span class=\"status {s}\">{s}</span> {a}{codes}</summary>",
            s = m.status.as_str(),
            a = escape(&m.address),
            open = if m.status == OverallStatus::Fail { " open" } else { "" },
            codes = if m.findings.is_empty() {
                String::new()
            } else {
                format!(" <span class=\"muted code\">{}</span>", escape(&m.findings.join(", ")))
            }
        );
        for s in mine {
            step(out, s, total);
        }
        out.push_str("</details>\n");
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "<p class=\"muted\">{hidden} more mailboxes are not drawn here (the first {TREES_NOT_PASSING} that did not pass and the first {TREES_PASSING} that passed are); the JSON report has every one.</p>"
        );
    }
    if let Some(note) = &report.evidence_note {
        let _ = writeln!(out, "<p class=\"muted\">{}</p>", escape(note));
    }
    out.push_str("</section>\n");
}

/// One step: mark, id, duration, detail, its waterfall bar and its exchanges.
fn step(out: &mut String, s: &Step, total: f64) {
    let mut detail = escape(&s.detail);
    if let Some(b) = &s.skipped_because {
        let _ = write!(
            detail,
            " <span class=\"muted\">(skipped because {} failed)</span>",
            escape(b)
        );
    }
    let _ = writeln!(
        out,
        "<div class=\"step\" data-step=\"{id}\"><span class=\"{st}\" title=\"{st}\">{m}</span><span class=\"code\">{id}</span><span class=\"ms\">{ms} ms</span><span class=\"detail\">{detail}</span>",
        id = escape(&s.id),
        st = s.status.as_str(),
        m = mark(s.status),
        ms = s.duration_ms,
    );
    // The bar spans the step's exchanges on the run's clock.
    let start = s.evidence.iter().map(|e| e.started_ms).min();
    let end = s.evidence.iter().map(|e| e.started_ms + e.duration_ms).max();
    if let (Some(a), Some(b)) = (start, end) {
        let left = (a as f64 / total * 100.0).clamp(0.0, 100.0);
        // At least a sliver, never past the end (an exchange at the run's last moment).
        let width = ((b.saturating_sub(a)) as f64 / total * 100.0)
            .max(0.2)
            .min(100.0 - left);
        let _ = writeln!(
            out,
            // An SVG bar: its geometry is attributes, not an inline style the CSP would refuse.
            "<div class=\"wf\" title=\"{a}–{b} ms\"><svg viewBox=\"0 0 100 1\" preserveAspectRatio=\"none\"><rect x=\"{left:.2}\" width=\"{width:.2}\" height=\"1\"/></svg></div>"
        );
    }
    out.push_str("</div>\n");
    if !s.evidence.is_empty() {
        let _ = writeln!(
            out,
            "<details class=\"http\"><summary class=\"muted\">HTTP exchanges ({})</summary>",
            s.evidence.len()
        );
        for e in &s.evidence {
            let mut text = format!("→ {} {}\n", e.request.method, e.request.url);
            for (n, v) in &e.request.headers {
                let _ = writeln!(text, "  {n}: {v}");
            }
            if let Some(b) = &e.request.body_excerpt {
                let _ = writeln!(text, "\n{b}");
            }
            match (&e.response, &e.error) {
                (Some(r), _) => {
                    let _ = writeln!(
                        text,
                        "← {} ({} bytes{}, {} ms)",
                        r.status,
                        r.body_bytes,
                        if r.truncated { ", truncated" } else { "" },
                        e.duration_ms
                    );
                    for (n, v) in &r.headers {
                        let _ = writeln!(text, "  {n}: {v}");
                    }
                    if !r.body_excerpt.is_empty() {
                        let _ = writeln!(text, "\n{}", r.body_excerpt);
                    }
                }
                (None, Some(err)) => {
                    let _ = writeln!(text, "✗ {}: {} ({} ms)", err.kind, err.message, e.duration_ms);
                }
                (None, None) => {}
            }
            let _ = writeln!(out, "<pre>{}</pre>", escape(&text));
        }
        out.push_str("</details>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchange at the run's very end (or a run of 0 ms) draws a sliver, no panic.
    #[test]
    fn a_waterfall_at_the_end_of_the_run() {
        let mut s = Step {
            id: "ews.impersonation:a@contoso.com".into(),
            probe: "ews.impersonation".into(),
            mailbox: Some("a@contoso.com".into()),
            title: String::new(),
            status: StepStatus::Fail,
            duration_ms: 0,
            detail: "deadline".into(),
            skipped_because: None,
            observations: serde_json::Value::Null,
            evidence: vec![Exchange {
                request: RequestRecord {
                    method: "POST".into(),
                    url: "https://mail.contoso.com/EWS/Exchange.asmx".into(),
                    headers: vec![],
                    body_excerpt: None,
                },
                response: None,
                error: None,
                started_ms: 1000,
                duration_ms: 0,
            }],
        };
        for total in [1000.0, 1.0, 999.0] {
            let mut out = String::new();
            step(&mut out, &s, total);
            assert!(out.contains("class=\"wf\""), "{out}");
        }
        s.evidence[0].started_ms = 0;
        let mut out = String::new();
        step(&mut out, &s, 1.0);
        assert!(out.contains("width=\""), "{out}");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{0}b"), "a\u{FFFD}b");
    }
}
