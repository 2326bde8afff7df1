//! The `/metrics` and `/probe` expositions, built with prometheus-client from
//! the checks' last runs at each scrape (a code that disappeared from the
//! last run disappears from the exposition: no stale series).
//!
//! Labels stay low-cardinality: `check`, `code`, `severity`, `kind` (a
//! step's probe), `status`, `result`, `ready`. Per-mailbox series exist only behind
//! `per-mailbox-series = true`, capped per check.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::{CheckData, Outcome, RunRecord};
use crate::report::{OverallStatus, Report};

type Labels = Vec<(String, String)>;
type FGauge = Gauge<f64, AtomicU64>;

/// The OpenMetrics content type (what Prometheus asks for first).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The classic text format 0.0.4 (curl, promtool, older scrapers).
pub const TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// OpenMetrics when the scraper's `Accept` names it, else text 0.0.4.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

fn encode(registry: &Registry, openmetrics: bool) -> String {
    let mut out = String::new();
    let written = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, registry)
    };
    // Writing into a String cannot fail; an encoder error leaves what it wrote.
    let _ = written;
    out
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The families of one run's result, shared by `/metrics` (per check) and `/probe`.
struct RunFamilies {
    status: Family<Labels, Gauge>,
    success: Family<Labels, Gauge>,
    duration: Family<Labels, FGauge>,
    timestamp: Family<Labels, FGauge>,
    mailboxes: Family<Labels, Gauge>,
    findings: Family<Labels, Gauge>,
    accepted: Family<Labels, Gauge>,
    steps: Family<Labels, Gauge>,
    pushback: Family<Labels, Gauge>,
    graph_ready: Family<Labels, Gauge>,
    mailbox_status: Family<Labels, Gauge>,
    mailbox_dropped: Family<Labels, Gauge>,
}

impl RunFamilies {
    fn register(registry: &mut Registry, prefix: &str, per_mailbox: bool) -> Self {
        // `/metrics` shows each check's last run; `/probe` the run it just made.
        let run = if prefix.ends_with("probe") {
            "this run"
        } else {
            "the last run"
        };

        let f = RunFamilies {
            status: Family::default(),
            success: Family::default(),
            duration: Family::default(),
            timestamp: Family::default(),
            mailboxes: Family::default(),
            findings: Family::default(),
            accepted: Family::default(),
            steps: Family::default(),
            pushback: Family::default(),
            graph_ready: Family::default(),
            mailbox_status: Family::default(),
            mailbox_dropped: Family::default(),
        };
        registry.register(
            format!("{prefix}_status"),
            format!("Outcome of {run}: 0 pass, 1 warn, 2 fail (critical findings), 3 exprobe could not run (as the exit codes)"),
            f.status.clone(),
        );
        registry.register(
            format!("{prefix}_success"),
            format!("1 when {run} passed or only warned, 0 when it failed or could not run"),
            f.success.clone(),
        );
        registry.register_with_unit(
            format!("{prefix}_duration"),
            format!("How long {run} took"),
            Unit::Seconds,
            f.duration.clone(),
        );
        registry.register_with_unit(
            format!("{prefix}_timestamp"),
            format!("When {run} finished (Unix time)"),
            Unit::Seconds,
            f.timestamp.clone(),
        );
        registry.register(
            format!("{prefix}_mailboxes"),
            format!("Mailboxes of {run} by status (pass, warn, fail)"),
            f.mailboxes.clone(),
        );
        registry.register(
            format!("{prefix}_findings"),
            format!(
                "Findings of {run} by diagnosis code and severity (`exprobe explain CODE`), accepted ones left out"
            ),
            f.findings.clone(),
        );
        registry.register(
            format!("{prefix}_accepted_findings"),
            format!("Findings of {run} whose code the check accepts (`accept`): reported, not counted in the status"),
            f.accepted.clone(),
        );
        registry.register(
            format!("{prefix}_steps"),
            format!("Probe steps of {run} by kind (the step's probe) and status"),
            f.steps.clone(),
        );
        registry.register(
            format!("{prefix}_server_pushback"),
            format!("Busy answers (ErrorServerBusy, 429, 503) the servers gave in {run}"),
            f.pushback.clone(),
        );
        registry.register(
            format!("{prefix}_graph_readiness_mailboxes"),
            format!("App-only EWS checks: mailboxes of {run} the same app reads through Microsoft Graph (ready = \"true\") or not (\"false\"): ready for Graph, N of M"),
            f.graph_ready.clone(),
        );
        if per_mailbox {
            registry.register(
                "exprobe_mailbox_status",
                "Per mailbox (per-mailbox-series = true): 0 pass, 1 warn, 2 fail; failing mailboxes first up to the cap",
                f.mailbox_status.clone(),
            );
            registry.register(
                "exprobe_mailbox_series_dropped",
                "Mailboxes of the last run left out of exprobe_mailbox_status by per-mailbox-cap",
                f.mailbox_dropped.clone(),
            );
        }
        f
    }

    fn fill(&self, check: &str, run: &RunRecord, per_mailbox_cap: Option<usize>) {
        let c = labels(&[("check", check)]);
        self.status.get_or_create(&c).set(run.outcome.code());
        self.success
            .get_or_create(&c)
            .set(i64::from(matches!(run.outcome, Outcome::Pass | Outcome::Warn)));
        self.duration.get_or_create(&c).set(run.duration.as_secs_f64());
        self.timestamp.get_or_create(&c).set(run.finished_unix);
        let Some(report) = &run.report else {
            return;
        };
        for (status, n) in [
            ("pass", report.counts.pass),
            ("warn", report.counts.warn),
            ("fail", report.counts.fail),
        ] {
            self.mailboxes
                .get_or_create(&labels(&[("check", check), ("status", status)]))
                .set(n as i64);
        }
        for ((code, severity, accepted), n) in finding_counts(report) {
            let family = if accepted { &self.accepted } else { &self.findings };
            family
                .get_or_create(&labels(&[("check", check), ("code", &code), ("severity", severity)]))
                .set(n);
        }
        let mut steps: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for s in &report.steps {
            *steps.entry((s.probe.as_str(), s.status.as_str())).or_default() += 1;
        }
        for ((kind, status), n) in steps {
            self.steps
                .get_or_create(&labels(&[("check", check), ("kind", kind), ("status", status)]))
                .set(n);
        }
        if let Some(r) = &report.counts.graph_readiness {
            for (ready, n) in [("true", r.ready), ("false", r.checked.saturating_sub(r.ready))] {
                self.graph_ready
                    .get_or_create(&labels(&[("check", check), ("ready", ready)]))
                    .set(n as i64);
            }
        }
        let pushed: u64 = report.throttling.iter().map(|t| t.pushed_back).sum();
        self.pushback.get_or_create(&c).set(pushed as i64);
        if let Some(cap) = per_mailbox_cap {
            // Only a validated address becomes a label value: a mailbox list
            // that holds a secret by mistake must not publish it on /metrics.
            let mut order: Vec<&crate::report::MailboxResult> = report
                .mailboxes
                .iter()
                .filter(|m| crate::protocol::address::parse(&m.address).is_ok())
                .collect();
            order.sort_by_key(|m| std::cmp::Reverse(m.status));
            for m in order.iter().take(cap) {
                let v = match m.status {
                    OverallStatus::Pass => 0,
                    OverallStatus::Warn => 1,
                    OverallStatus::Fail => 2,
                };
                self.mailbox_status
                    .get_or_create(&labels(&[("check", check), ("mailbox", &m.address)]))
                    .set(v);
            }
            self.mailbox_dropped
                .get_or_create(&c)
                .set(order.len().saturating_sub(cap) as i64);
        }
    }
}

/// Findings per (code, severity, accepted); one per mailbox it was raised about.
fn finding_counts(report: &Report) -> BTreeMap<(String, &'static str, bool), i64> {
    let mut out = BTreeMap::new();
    for f in &report.findings {
        *out.entry((f.code.clone(), f.severity.as_str(), f.accepted))
            .or_default() += 1;
    }
    out
}

fn build_info(registry: &mut Registry) {
    let info: Family<Labels, Gauge> = Family::default();
    registry.register("exprobe_build_info", "exprobe's version (always 1)", info.clone());
    info.get_or_create(&labels(&[("version", env!("CARGO_PKG_VERSION"))]))
        .set(1);
}

/// `/metrics`: every check's last run, run counters and state.
pub fn render(checks: &[(&str, &CheckData)], per_mailbox_cap: Option<usize>, openmetrics: bool) -> String {
    let mut registry = Registry::default();
    build_info(&mut registry);
    let last = RunFamilies::register(&mut registry, "exprobe_check_last_run", per_mailbox_cap.is_some());
    let runs: Family<Labels, Counter> = Family::default();
    registry.register(
        "exprobe_check_runs",
        "Runs finished, by result (pass, warn, fail, error), since serve started",
        runs.clone(),
    );
    let overlaps: Family<Labels, Counter> = Family::default();
    registry.register(
        "exprobe_check_skipped_runs",
        "Scheduled runs not started because the previous run of the check was still going (checks never overlap themselves)",
        overlaps.clone(),
    );
    let pushback: Family<Labels, Counter> = Family::default();
    registry.register(
        "exprobe_check_server_pushback",
        "Busy answers (ErrorServerBusy, 429, 503) the servers gave, over all runs since serve started",
        pushback.clone(),
    );
    let running: Family<Labels, Gauge> = Family::default();
    registry.register(
        "exprobe_check_running",
        "1 while a run of the check is under way",
        running.clone(),
    );
    let last_start: Family<Labels, FGauge> = Family::default();
    registry.register_with_unit(
        "exprobe_check_last_start_timestamp",
        "When the check's last run started (Unix time; 0: none yet). Far behind with the check running: a run that hangs",
        Unit::Seconds,
        last_start.clone(),
    );
    let interval: Family<Labels, FGauge> = Family::default();
    registry.register_with_unit(
        "exprobe_check_interval",
        "The check's schedule (0: runs only when /probe asks)",
        Unit::Seconds,
        interval.clone(),
    );
    for (name, data) in checks {
        let c = labels(&[("check", name)]);
        for (result, n) in &data.runs {
            runs.get_or_create(&labels(&[("check", name), ("result", result)]))
                .inc_by(*n);
        }
        overlaps.get_or_create(&c).inc_by(data.skipped);
        pushback.get_or_create(&c).inc_by(data.pushback_total);
        running.get_or_create(&c).set(i64::from(data.running));
        last_start.get_or_create(&c).set(data.last_start_unix);
        interval
            .get_or_create(&c)
            .set(data.interval.map_or(0.0, |d| d.as_secs_f64()));
        if let Some(run) = &data.last {
            last.fill(name, run, per_mailbox_cap);
        }
    }
    encode(&registry, openmetrics)
}

/// `/probe`: the families of the run just made.
pub fn render_probe(check: &str, run: &RunRecord, openmetrics: bool) -> String {
    let mut registry = Registry::default();
    build_info(&mut registry);
    let f = RunFamilies::register(&mut registry, "exprobe_probe", false);
    f.fill(check, run, None);
    encode(&registry, openmetrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_run_is_valid_openmetrics_and_text() {
        let run = RunRecord {
            outcome: Outcome::Error,
            duration: std::time::Duration::from_millis(3),
            finished_unix: 1.0,
            report: None,
            error: Some("cannot read the password".into()),
        };
        let om = render_probe("c", &run, true);
        assert!(om.ends_with("# EOF\n"), "{om}");
        for line in om.lines().filter(|l| l.starts_with('#')) {
            assert!(
                ["# HELP ", "# TYPE ", "# UNIT ", "# EOF"]
                    .iter()
                    .any(|p| line.starts_with(p)),
                "OpenMetrics allows no other comment: {line}"
            );
        }
        assert!(om.contains("exprobe_probe_status{check=\"c\"} 3"), "{om}");
        let text = render_probe("c", &run, false);
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    }
}
