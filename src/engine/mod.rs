//! The run engine: one check from its configuration to a sink, as the
//! `check` command, the demo and `serve` run it. It prepares the run
//! (`probe::plan`), hands each mailbox's outcome to the report engine
//! (`diagnose`) as it finishes and passes the results to a
//! [`ReportSink`]; it knows nothing of formats, commands or the lab.

pub mod baseline;
pub mod progress;

use futures::StreamExt;

use crate::config::CheckConfig;
use crate::diagnose::Diagnoser;
use crate::error::AppError;
use crate::probe::plan;
use crate::report::format::Format;
use crate::report::sink::{Begin, Collector, ReportSink, Summary};
use crate::report::Report;
pub use progress::Progress;

/// The whole report of one check (for tests, the demo and `serve`).
pub async fn run_check(config: &CheckConfig) -> Result<Report, AppError> {
    let mut sink = Collector::new();
    drive(config, &mut sink, std::future::pending(), None).await?;
    sink.into_report()
        .ok_or_else(|| AppError::Usage("the run ended without a summary".into()))
}

/// Time kept at the end of `--deadline` to record the mailboxes it left
/// unchecked and write the report, so that the whole command ends within
/// the deadline whatever the list's length: the format's cost per mailbox
/// ([`Format::reserve_per_mailbox`]), at most half the deadline.
pub fn output_reserve(mailboxes: usize, format: Format, deadline: std::time::Duration) -> std::time::Duration {
    let per_mailbox = format.reserve_per_mailbox();
    let reserve = per_mailbox.saturating_mul(u32::try_from(mailboxes).unwrap_or(u32::MAX));
    reserve.min(deadline / 2)
}

/// How long mailboxes under way may finish after an interruption.
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How a run ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    pub status: crate::report::OverallStatus,
    pub interrupted: bool,
}

/// Runs one check into `sink`: the organization context, then each mailbox
/// as it finishes, then the summary. When `interrupt` completes, no further
/// mailboxes start; those under way get [`INTERRUPT_GRACE`] to finish.
pub async fn drive(
    config: &CheckConfig,
    sink: &mut (dyn ReportSink + Send),
    interrupt: impl std::future::Future<Output = ()>,
    progress: Option<&Progress>,
) -> Result<Ended, AppError> {
    drive_with(config, Diagnoser::new(config), sink, interrupt, progress).await
}

/// [`drive`] with a given report engine (tests run the rules in other orders).
pub async fn drive_with(
    config: &CheckConfig,
    mut diag: Diagnoser<'_>,
    sink: &mut (dyn ReportSink + Send),
    interrupt: impl std::future::Future<Output = ()>,
    progress: Option<&Progress>,
) -> Result<Ended, AppError> {
    let out = |e: std::io::Error| AppError::Output(e);
    // The first line goes out before any network work.
    sink.begin(&Begin {
        started_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        mailboxes: &config.mailboxes,
        service_account: config.service_account.clone(),
        auth: config.auth.mode().as_str().into(),
        tenant: config.auth.app().map(|a| a.tenant.clone()),
        api: config.api.as_str().into(),
        insecure: config.net.insecure,
    })
    .map_err(out)?;
    tracing::info!(
        mailboxes = config.mailboxes.len(),
        auth = config.auth.mode().as_str(),
        api = config.api.as_str(),
        "check started"
    );
    let run = plan::Run::prepare(config).await?;
    let found = diag.org(&run.org);
    log_steps(&run.org.steps);
    sink.context(&run.org.steps, &found).map_err(out)?;

    let total = config.mailboxes.len();
    let mut done = vec![false; total];
    let mut checked = 0usize;
    let mut interrupted = false;
    {
        let mailboxes = run.mailboxes();
        tokio::pin!(mailboxes);
        tokio::pin!(interrupt);
        let mut grace_end: Option<tokio::time::Instant> = None;
        loop {
            // What is ready is handled at once; before waiting, the sink
            // pushes out what it holds.
            if grace_end.is_none() && futures::FutureExt::now_or_never(interrupt.as_mut()).is_some() {
                interrupted = true;
                run.stop();
                grace_end = Some(tokio::time::Instant::now() + INTERRUPT_GRACE);
            }
            let ready = if grace_end.is_none() {
                futures::FutureExt::now_or_never(mailboxes.next())
            } else {
                None
            };
            let next = match ready {
                Some(m) => m,
                None => {
                    sink.idle().map_err(out)?;
                    match grace_end {
                        None => tokio::select! {
                            m = mailboxes.next() => m,
                            _ = &mut interrupt => {
                                interrupted = true;
                                run.stop();
                                grace_end = Some(tokio::time::Instant::now() + INTERRUPT_GRACE);
                                continue;
                            }
                        },
                        Some(end) => match tokio::time::timeout_at(end, mailboxes.next()).await {
                            Ok(m) => m,
                            Err(_) => break,
                        },
                    }
                }
            };
            let Some(m) = next else { break };
            if let Some(r) = &m.reach {
                if let Some(found) = diag.reach(r) {
                    log_steps(std::slice::from_ref(&r.step));
                    sink.context(std::slice::from_ref(&r.step), &found).map_err(out)?;
                }
            }
            if let Some(a) = run.auth_done() {
                if let Some(found) = diag.auth(&a) {
                    log_steps(std::slice::from_ref(&a.step));
                    sink.context(std::slice::from_ref(&a.step), &found).map_err(out)?;
                }
            }
            done[m.index] = true;
            checked += 1;
            let record = diag.mailbox(&run.org, m);
            if let Some(p) = progress {
                p.add(record.result.status);
            }
            log_steps(&record.steps);
            sink.mailbox(record).map_err(out)?;
        }
    }
    // Mailboxes the deadline kept from starting: one result each, saying so.
    if !interrupted {
        for (i, m) in config.mailboxes.iter().enumerate() {
            if !done[i] {
                let record = diag.mailbox(&run.org, plan::MailboxOutcome::unchecked(i, m));
                checked += 1;
                if let Some(p) = progress {
                    p.add(record.result.status);
                }
                sink.mailbox(record).map_err(out)?;
            }
        }
    }
    drop(done);
    let end = run.finish().await;
    for r in &end.reached {
        if let Some(found) = diag.reach(r) {
            sink.context(std::slice::from_ref(&r.step), &found).map_err(out)?;
        }
    }
    if let Some(found) = diag.auth(&end.auth) {
        sink.context(std::slice::from_ref(&end.auth.step), &found)
            .map_err(out)?;
    }
    let mut findings = diag.finish(&run.org, total);
    if interrupted {
        findings.extend(diag.interrupted(checked, total));
    }
    let status = diag.status();
    tracing::info!(
        status = status.as_str(),
        checked,
        duration_ms = end.duration_ms,
        interrupted,
        "check finished"
    );
    sink.summary(Summary {
        status,
        duration_ms: end.duration_ms,
        counts: diag.counts().clone(),
        throttling: end.throttling,
        findings,
        evidence_note: diag.evidence_note(),
        interrupted,
        checked,
        accepted: config.accepted.clone(),
    })
    .map_err(out)?;
    Ok(Ended { status, interrupted })
}

/// `-v`: one log line per finished step (the report's redacted detail).
fn log_steps(steps: &[crate::report::Step]) {
    for step in steps {
        tracing::info!(
            step = %step.id,
            status = step.status.as_str(),
            ms = step.duration_ms,
            "{}",
            step.detail
        );
    }
}

/// Ctrl-C or SIGTERM (`check`'s interruption, `serve`'s shutdown).
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
