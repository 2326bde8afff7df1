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
    // The first line goes out before any network work.
    sink.begin(&begin_of(config)).map_err(AppError::Output)?;
    tracing::info!(
        mailboxes = config.mailboxes.len(),
        auth = config.auth.mode().as_str(),
        api = config.api.as_str(),
        "check started"
    );
    let run = plan::Run::prepare(config).await?;
    let found = diag.org(&run.org);
    log_steps(&run.org.steps);
    sink.context(&run.org.steps, &found).map_err(AppError::Output)?;
    let mut tally = Tally {
        done: vec![false; config.mailboxes.len()],
        checked: 0,
        interrupted: false,
    };
    let mut pass = Pass {
        run: &run,
        diag: &mut diag,
        sink,
        progress,
    };
    pass.stream(interrupt, &mut tally).await?;
    // Mailboxes the deadline kept from starting: one result each, saying so.
    if !tally.interrupted {
        for (i, m) in config.mailboxes.iter().enumerate() {
            if !tally.done[i] {
                tally.checked += 1;
                pass.record(plan::MailboxOutcome::unchecked(i, m), false)?;
            }
        }
    }
    pass.finish(config, tally).await
}

/// What is known when the run starts.
fn begin_of(config: &CheckConfig) -> Begin<'_> {
    Begin {
        started_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        mailboxes: &config.mailboxes,
        service_account: config.service_account.clone(),
        auth: config.auth.mode().as_str().into(),
        tenant: config.auth.app().map(|a| a.tenant.clone()),
        api: config.api.as_str().into(),
        insecure: config.net.insecure,
    }
}

/// Which mailboxes have a result, how many, and whether the run was interrupted.
#[derive(Debug)]
struct Tally {
    done: Vec<bool>,
    checked: usize,
    interrupted: bool,
}

/// One run going through the report engine into a sink.
struct Pass<'a, 'c, 'd> {
    run: &'a plan::Run<'c>,
    diag: &'a mut Diagnoser<'d>,
    sink: &'a mut (dyn ReportSink + Send),
    progress: Option<&'a Progress>,
}

impl Pass<'_, '_, '_> {
    /// Each mailbox as it finishes. When `interrupt` completes, no further
    /// mailboxes start; those under way get [`INTERRUPT_GRACE`] to finish.
    async fn stream(
        &mut self,
        interrupt: impl std::future::Future<Output = ()>,
        tally: &mut Tally,
    ) -> Result<(), AppError> {
        let run = self.run;
        let mailboxes = run.mailboxes();
        tokio::pin!(mailboxes);
        tokio::pin!(interrupt);
        let mut grace_end: Option<tokio::time::Instant> = None;
        let stop = |tally: &mut Tally| {
            tally.interrupted = true;
            run.stop();
            Some(tokio::time::Instant::now() + INTERRUPT_GRACE)
        };
        loop {
            // What is ready is handled at once; before waiting, the sink
            // pushes out what it holds.
            if grace_end.is_none() && futures::FutureExt::now_or_never(interrupt.as_mut()).is_some() {
                grace_end = stop(tally);
            }
            let ready = if grace_end.is_none() {
                futures::FutureExt::now_or_never(mailboxes.next())
            } else {
                None
            };
            let next = match ready {
                Some(m) => m,
                None => {
                    self.sink.idle().map_err(AppError::Output)?;
                    match grace_end {
                        None => tokio::select! {
                            m = mailboxes.next() => m,
                            _ = &mut interrupt => {
                                grace_end = stop(tally);
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
            self.context_so_far(&m)?;
            tally.done[m.index] = true;
            tally.checked += 1;
            self.record(m, true)?;
        }
        Ok(())
    }

    /// The shared steps a mailbox brought to an end (its EWS URL's reach,
    /// the service account's sign-in), before the mailbox that carries them.
    fn context_so_far(&mut self, m: &plan::MailboxOutcome) -> Result<(), AppError> {
        if let Some(r) = &m.ews.reach {
            if let Some(found) = self.diag.reach(r) {
                log_steps(std::slice::from_ref(&r.step));
                self.sink
                    .context(std::slice::from_ref(&r.step), &found)
                    .map_err(AppError::Output)?;
            }
        }
        if let Some(a) = self.run.auth_done() {
            if let Some(found) = self.diag.auth(&a) {
                log_steps(std::slice::from_ref(&a.step));
                self.sink
                    .context(std::slice::from_ref(&a.step), &found)
                    .map_err(AppError::Output)?;
            }
        }
        Ok(())
    }

    /// One mailbox's result, into the sink (its steps logged with `-v` when it ran).
    fn record(&mut self, m: plan::MailboxOutcome, ran: bool) -> Result<(), AppError> {
        let record = self.diag.mailbox(&self.run.org, m);
        if let Some(p) = self.progress {
            p.add(record.result.status);
        }
        if ran {
            log_steps(&record.steps);
        }
        self.sink.mailbox(record).map_err(AppError::Output)
    }

    /// The shared steps that ran during the stream, the run's own findings and the summary.
    async fn finish(self, config: &CheckConfig, tally: Tally) -> Result<Ended, AppError> {
        let out = AppError::Output;
        let total = config.mailboxes.len();
        let end = self.run.finish().await;
        for r in &end.reached {
            if let Some(found) = self.diag.reach(r) {
                self.sink.context(std::slice::from_ref(&r.step), &found).map_err(out)?;
            }
        }
        if let Some(found) = self.diag.auth(&end.auth) {
            self.sink
                .context(std::slice::from_ref(&end.auth.step), &found)
                .map_err(out)?;
        }
        let Tally {
            checked, interrupted, ..
        } = tally;
        let mut findings = self.diag.finish(&self.run.org, total);
        if interrupted {
            findings.extend(self.diag.interrupted(checked, total));
        }
        let status = self.diag.status();
        tracing::info!(
            status = status.as_str(),
            checked,
            duration_ms = end.duration_ms,
            interrupted,
            "check finished"
        );
        self.sink
            .summary(Summary {
                status,
                duration_ms: end.duration_ms,
                counts: self.diag.counts().clone(),
                throttling: end.throttling,
                findings,
                evidence_note: self.diag.evidence_note(),
                interrupted,
                checked,
                accepted: config.accepted.clone(),
            })
            .map_err(out)?;
        Ok(Ended { status, interrupted })
    }
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
