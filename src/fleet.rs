//! A vendor's fleet (`check --tenants FILE`): one app, with its own
//! credentials, checked in many customer tenants, one sample mailbox each.
//! Each tenant is an ordinary app-only check; what a vendor's support
//! engineer needs of it becomes one jsonl record, written as the tenant
//! finishes: whether the tenant consented, whether EWS lets the app in (the
//! allow list), whether Graph is ready, how many days EWS has left.
//!
//! The bulk pipeline's guarantees hold: every row of the file gets one
//! record (a row that is not `TENANT,MAILBOX` gets an `invalid` one), the
//! records stream in completion order with their row's index, Ctrl-C or
//! SIGTERM starts no further tenant and ends with the summary, and memory
//! stays bounded: at most `--concurrency` tenants' reports are alive.

use std::io::Write;

use futures::StreamExt;
use serde::Serialize;

use crate::cli::CheckArgs;
use crate::config::{self, Auth, CheckConfig, SecretSource};
use crate::error::AppError;
use crate::ews_timeline::{days_until, SHUTDOWN};
use crate::report::{OverallStatus, Report, StepStatus};

/// One line of the tenants file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 0-based position among the file's rows (comments and blank lines do not count).
    pub index: usize,
    pub tenant: String,
    pub mailbox: String,
    /// Why the row cannot be checked.
    pub invalid: Option<String>,
}

const MAX_FIELD: usize = 320;

fn valid_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 253
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !t.starts_with(['.', '-'])
}

/// The rows of a tenants file: `TENANT,MAILBOX` (or separated by a tab or
/// spaces), `#` comments and blank lines skipped, a `tenant,mailbox` header too.
pub fn parse(text: &str) -> Vec<Row> {
    let mut rows = vec![];
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line
            .split([',', ';', '\t', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let (tenant, mailbox, extra) = (parts.next(), parts.next(), parts.next());
        if rows.is_empty()
            && tenant.is_some_and(|t| t.eq_ignore_ascii_case("tenant"))
            && mailbox.is_some_and(|m| m.eq_ignore_ascii_case("mailbox"))
        {
            continue;
        }
        let cut = |s: &str| s.chars().take(MAX_FIELD).collect::<String>();
        let tenant_text = tenant.map(cut).unwrap_or_default();
        let mailbox_text = mailbox.map(cut).unwrap_or_default();
        let invalid = if extra.is_some() {
            Some("more than two fields: a row is TENANT,MAILBOX".to_string())
        } else if mailbox.is_none() {
            Some("no mailbox: a row is TENANT,MAILBOX".to_string())
        } else if !valid_tenant(&tenant_text) {
            Some("the tenant is neither a tenant id nor a domain".to_string())
        } else {
            crate::protocol::address::parse(&mailbox_text)
                .err()
                .map(|e| format!("the mailbox is not an address: {e}"))
        };
        rows.push(Row {
            index: rows.len(),
            tenant: tenant_text,
            mailbox: mailbox_text,
            invalid,
        });
    }
    rows
}

/// What a vendor's support engineer reads per tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantRecord {
    /// The row's position among the file's rows.
    pub index: usize,
    pub tenant: String,
    pub mailbox: String,
    /// pass, warn, fail; `invalid` for a row that was not checked.
    pub status: String,
    /// `granted` (tenant-wide admin consent), `rbac` (no consented role, yet
    /// Exchange let the app in), `missing`, `tenant_not_found`, `error`
    /// (another token failure), `unknown`.
    pub consent: String,
    /// EWS for this app: `allowed`, `not_allowed` (EwsAllowedAppIDs or a
    /// User-Agent list), `disabled` (EwsEnabled), `shut_down`, `not_reached`,
    /// `not_checked` (a Graph-only app).
    pub ews: String,
    /// Whether the app reads the sample mailbox through Graph.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_ready: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_reason: Option<String>,
    /// Days until EWS in Exchange Online is switched off (0 once it is).
    pub days_left: i64,
    /// Every code the check reported.
    pub findings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// The consent verdict, from the codes and the token steps.
fn consent_of(report: &Report, codes: &[String]) -> &'static str {
    let has = |c: &str| codes.iter().any(|x| x == c);
    if has("oauth.tenant_not_found") {
        return "tenant_not_found";
    }
    if [
        "oauth.app_not_found",
        "oauth.consent_required",
        "token.missing_role",
        "graph.identity_not_found",
    ]
    .iter()
    .any(|c| has(c))
    {
        return "missing";
    }
    if codes.iter().any(|c| c.starts_with("oauth.")) {
        return "error";
    }
    let token = report
        .steps
        .iter()
        .find(|s| s.id == "token:ews" || s.id == "token:graph");
    let let_in = report
        .steps
        .iter()
        .any(|s| s.probe == "ews.impersonation" && s.status == StepStatus::Pass);
    match token.map(|t| t.status) {
        Some(StepStatus::Pass) => "granted",
        // No consented role, yet Exchange let the app in: RBAC for Applications.
        Some(StepStatus::Warn) if let_in => "rbac",
        Some(StepStatus::Warn) => "missing",
        _ => "unknown",
    }
}

/// The EWS verdict for the app.
fn ews_of(report: &Report, codes: &[String]) -> &'static str {
    let has = |c: &str| codes.iter().any(|x| x == c);
    if has("exchange_online.ews_shut_down") {
        "shut_down"
    } else if has("exchange_online.ews_app_not_allowed") {
        "not_allowed"
    } else if has("exchange_online.ews_disabled") {
        "disabled"
    } else if report.target.api == "graph" {
        "not_checked"
    } else if report
        .steps
        .iter()
        .any(|s| s.probe == "ews.impersonation" && s.status == StepStatus::Pass)
    {
        "allowed"
    } else {
        "not_reached"
    }
}

/// A tenant's record from its check's report.
pub fn record_of(row: &Row, report: &Report, today: time::Date) -> TenantRecord {
    let codes = crate::app::codes(report);
    let readiness = report.mailboxes.first().and_then(|m| m.graph_readiness.clone());
    TenantRecord {
        index: row.index,
        tenant: row.tenant.clone(),
        mailbox: row.mailbox.clone(),
        status: report.status.as_str().to_string(),
        consent: consent_of(report, &codes).to_string(),
        ews: ews_of(report, &codes).to_string(),
        graph_ready: readiness.as_ref().map(|r| r.ready),
        graph_reason: readiness.map(|r| r.reason),
        days_left: days_until(today, SHUTDOWN).max(0),
        findings: codes,
        error: None,
        duration_ms: report.duration_ms,
    }
}

fn invalid_record(row: &Row, why: String, today: time::Date) -> TenantRecord {
    TenantRecord {
        index: row.index,
        tenant: row.tenant.clone(),
        mailbox: row.mailbox.clone(),
        status: "invalid".into(),
        consent: "unknown".into(),
        ews: "not_checked".into(),
        graph_ready: None,
        graph_reason: None,
        days_left: days_until(today, SHUTDOWN).max(0),
        findings: vec![],
        error: Some(why),
        duration_ms: 0,
    }
}

/// The check of one tenant: the fleet's configuration with its tenant and mailbox.
fn config_for(base: &CheckConfig, row: &Row) -> CheckConfig {
    let mut config = base.clone();
    config.mailboxes = vec![row.mailbox.clone()];
    if let Auth::App(app) = &mut config.auth {
        app.tenant = row.tenant.clone();
    }
    // Each tenant's deadline counts from its own start.
    config.net.started = std::time::Instant::now();
    config
}

#[derive(Debug, Default, Serialize)]
struct Totals {
    checked: usize,
    pass: usize,
    warn: usize,
    fail: usize,
    invalid: usize,
    graph_ready: usize,
    graph_checked: usize,
    consent_missing: usize,
    ews_not_allowed: usize,
}

impl Totals {
    fn add(&mut self, r: &TenantRecord) {
        self.checked += 1;
        match r.status.as_str() {
            "pass" => self.pass += 1,
            "warn" => self.warn += 1,
            "fail" => self.fail += 1,
            _ => self.invalid += 1,
        }
        if let Some(ready) = r.graph_ready {
            self.graph_checked += 1;
            self.graph_ready += usize::from(ready);
        }
        self.consent_missing += usize::from(r.consent == "missing");
        self.ews_not_allowed += usize::from(r.ews == "not_allowed" || r.ews == "disabled");
    }

    fn exit_code(&self, interrupted: bool) -> i32 {
        if interrupted {
            crate::exit::INTERRUPTED
        } else if self.fail > 0 || self.invalid > 0 {
            OverallStatus::Fail.exit_code()
        } else if self.warn > 0 {
            OverallStatus::Warn.exit_code()
        } else {
            OverallStatus::Pass.exit_code()
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line<'a> {
    Begin {
        tool: &'static str,
        version: &'static str,
        started_at: String,
        tenants: usize,
        client_id: &'a str,
        api: &'static str,
    },
    Tenant(&'a TenantRecord),
    Summary {
        #[serde(flatten)]
        totals: &'a Totals,
        tenants: usize,
        interrupted: bool,
        duration_ms: u64,
    },
}

fn write_line(out: &mut dyn Write, line: &Line<'_>) -> Result<(), AppError> {
    let text = serde_json::to_string(line).map_err(|e| AppError::Usage(format!("a fleet record: {e}")))?;
    writeln!(out, "{text}").map_err(AppError::Output)?;
    out.flush().map_err(AppError::Output)
}

/// `check --tenants FILE`: one jsonl record per row, then a summary. The
/// exit code is the worst tenant's (an invalid row counts as a failure;
/// an interruption is 130).
pub async fn run(
    args: &CheckArgs,
    secrets: &dyn SecretSource,
    out: &mut dyn Write,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<i32, AppError> {
    let path = args
        .tenants
        .as_deref()
        .ok_or_else(|| AppError::Usage("--tenants FILE".into()))?;
    // A fleet streams jsonl (the default format is taken to mean it); a
    // format for one check's whole report has no meaning for many runs.
    use crate::report::format::Format;
    if !matches!(args.output.format, Format::Jsonl | Format::Human) {
        let name = clap::ValueEnum::to_possible_value(&args.output.format)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        return Err(AppError::Usage(format!(
            "--tenants writes one jsonl record per tenant; --format {name} is for one check's report"
        )));
    }
    let deadline = std::time::Duration::try_from_secs_f64(args.net.deadline).unwrap_or(std::time::Duration::MAX);
    let text = config::read_list(path, deadline).map_err(|e| AppError::Usage(format!("--tenants: {e}")))?;
    let rows = parse(&text);
    let Some(first) = rows.iter().find(|r| r.invalid.is_none()) else {
        return Err(AppError::Usage(format!(
            "--tenants {}: no row of TENANT,MAILBOX to check",
            crate::terminal::escape(&path.display().to_string())
        )));
    };
    // The app's configuration, read once (its secret too), with the first row's values.
    let mut first_args = args.clone();
    first_args.tenants = None;
    first_args.mailboxes = vec![first.mailbox.clone()];
    first_args.tenant = Some(first.tenant.clone());
    let (base, _) = config::check_config(&first_args, secrets)?;
    let Auth::App(app) = &base.auth else {
        return Err(AppError::Usage(
            "--tenants checks one app in many tenants: it needs --auth app (with --client-id and the app's secret or certificate)".into(),
        ));
    };
    let started = std::time::Instant::now();
    write_line(
        out,
        &Line::Begin {
            tool: "exprobe",
            version: env!("CARGO_PKG_VERSION"),
            started_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            tenants: rows.len(),
            client_id: &app.client_id,
            api: base.api.as_str(),
        },
    )?;
    let today = base.today;
    let concurrency = base.concurrency.max(1);
    let base = &base;
    // No further tenant starts once interrupted; those under way finish.
    let interrupt = Box::pin(interrupt);
    let source = futures::stream::iter(rows.iter()).take_until(interrupt);
    let mut results = source
        .map(|row| async move {
            if let Some(why) = &row.invalid {
                return invalid_record(row, why.clone(), today);
            }
            match crate::engine::run_check(&config_for(base, row)).await {
                Ok(report) => record_of(row, &report, today),
                Err(e) => invalid_record(row, format!("the check could not run: {e}"), today),
            }
        })
        .buffer_unordered(concurrency);
    let mut totals = Totals::default();
    while let Some(record) = results.next().await {
        totals.add(&record);
        write_line(out, &Line::Tenant(&record))?;
    }
    let interrupted = totals.checked < rows.len();
    write_line(
        out,
        &Line::Summary {
            totals: &totals,
            tenants: rows.len(),
            interrupted,
            duration_ms: crate::net::http::ms(started.elapsed()),
        },
    )?;
    Ok(totals.exit_code(interrupted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_tenant_and_mailbox_with_comments_a_header_and_bad_rows_kept() {
        let rows = parse(
            "tenant,mailbox\n# a comment\n\ncontoso.com,alice@contoso.com\n6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f\tbob@fabrikam.com\nbad_tenant!,x@y.z\nonly-a-tenant.com\na.com,b@a.com,extra\n",
        );
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].tenant, "contoso.com");
        assert_eq!(rows[0].mailbox, "alice@contoso.com");
        assert!(rows[0].invalid.is_none());
        assert_eq!(rows[1].tenant, "6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f");
        assert!(rows[1].invalid.is_none());
        assert!(
            rows[2].invalid.as_deref().is_some_and(|w| w.contains("tenant")),
            "{:?}",
            rows[2]
        );
        assert!(rows[3].invalid.as_deref().is_some_and(|w| w.contains("no mailbox")));
        assert!(rows[4].invalid.as_deref().is_some_and(|w| w.contains("more than two")));
        assert_eq!(rows.iter().map(|r| r.index).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_long_field_is_cut_not_kept_whole() {
        let long = "a".repeat(10_000);
        let rows = parse(&format!("{long}.com,x@{long}.com\n"));
        assert_eq!(rows.len(), 1);
        assert!(rows[0].tenant.len() <= MAX_FIELD && rows[0].mailbox.len() <= MAX_FIELD);
        assert!(rows[0].invalid.is_some());
    }
}
