//! Command handlers: each turns validated input into output and an exit code.

use std::io::Write;
use std::net::IpAddr;

use clap::CommandFactory as _;
use futures::StreamExt;

use crate::cli::{
    Cli, Command, DemoArgs, DiffArgs, DiffFormat, ExplainArgs, FormatArg, LabCommand, LabServeArgs, SchemaFormat,
    ServeArgs,
};
use crate::config::{self, CheckConfig, Format, OutputConfig, ProcessSecrets};
use crate::diagnose::{catalogue, Diagnoser};
use crate::lab::{Lab, Scenario};
use crate::probe::plan;
use crate::report::sink::{Begin, Collector, JsonlSink, ReportSink, Summary};
use crate::report::{human, json, Report};

/// The tool itself could not work (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    NetSetup(#[from] crate::net::http::NetSetupError),
    #[error(transparent)]
    Scenario(#[from] crate::lab::ScenarioError),
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    #[error("{0}")]
    Usage(String),
}

pub const EXIT_TOOL_ERROR: i32 = 3;

/// Write to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> Result<(), AppError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(AppError::Output),
    }
}

pub async fn run(cli: Cli) -> Result<i32, AppError> {
    match cli.command {
        Command::Check(args) => {
            let (mut config, mut output) = config::check_config(&args, &ProcessSecrets)?;
            output.verbose = cli.verbose > 0;
            config.net.output_reserve = output_reserve(config.mailboxes.len(), output.format, config.net.deadline);
            check(&config, &output).await
        }
        Command::Demo(args) => demo(&args).await,
        Command::Serve(args) => serve(&args).await,
        Command::Diff(args) => diff(&args),
        Command::Lab(LabCommand::List) => {
            let mut text = String::new();
            for s in Scenario::all_builtin()? {
                let expect = if s.expect.is_empty() {
                    "healthy".to_string()
                } else {
                    s.expect.join(", ")
                };
                text.push_str(&format!("{:<34} {}  [{}]\n", s.name, s.description, expect));
            }
            emit(&text)?;
            Ok(0)
        }
        Command::Lab(LabCommand::Serve(args)) => lab_serve(&args).await,
        Command::Explain(args) => explain(&args),
        Command::Schema { format } => {
            emit(&match format {
                SchemaFormat::Json => json::schema(),
                SchemaFormat::Jsonl => json::jsonl_schema(),
            })?;
            Ok(0)
        }
        Command::Man { dir } => man(dir.as_deref()),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "exprobe", &mut buf);
            emit(&String::from_utf8_lossy(&buf))?;
            Ok(0)
        }
    }
}

/// The whole report of one check (for tests, the demo and `human`/`json`).
pub async fn run_check(config: &CheckConfig) -> Result<Report, AppError> {
    let mut sink = Collector::new();
    drive(config, &mut sink, std::future::pending(), None).await?;
    sink.into_report()
        .ok_or_else(|| AppError::Usage("the run ended without a summary".into()))
}

/// Time kept at the end of `--deadline` to record the mailboxes it left
/// unchecked and write the report, so that the whole command ends within
/// the deadline whatever the list's length. Per mailbox, as measured by
/// `bench/deadline.py` on a 2-core machine (1,000,000 mailboxes): about
/// 1 µs for jsonl, 2 µs for json and 3 µs for the rendered formats (the
/// whole report is built, then rendered). At most half the deadline.
pub fn output_reserve(mailboxes: usize, format: Format, deadline: std::time::Duration) -> std::time::Duration {
    let per_mailbox_ns: u64 = match format {
        Format::Jsonl => 1_000,
        Format::Json => 2_000,
        Format::Human | Format::Html | Format::Nagios => 3_000,
    };
    let reserve = std::time::Duration::from_nanos(per_mailbox_ns.saturating_mul(mailboxes as u64));
    reserve.min(deadline / 2)
}

/// How long mailboxes under way may finish after an interruption.
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Exit code of an interrupted run (128 + SIGINT, as shells report Ctrl-C).
pub const EXIT_INTERRUPTED: i32 = 130;

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

/// The progress bar on stderr: done/total, rate, ETA, failures so far.
#[derive(Debug)]
pub struct Progress {
    bar: indicatif::ProgressBar,
    failed: std::sync::atomic::AtomicUsize,
}

impl Progress {
    /// Only when stderr is a terminal and more than one mailbox is checked.
    pub fn for_terminal(total: usize) -> Option<Progress> {
        if total < 2 || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return None;
        }
        let bar = indicatif::ProgressBar::new(total as u64);
        let style =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} mailboxes  {per_sec}  ETA {eta}  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message("0 failing");
        Some(Progress {
            bar,
            failed: Default::default(),
        })
    }

    fn add(&self, status: crate::report::OverallStatus) {
        use std::sync::atomic::Ordering;
        if status == crate::report::OverallStatus::Fail {
            let n = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
            self.bar.set_message(format!("{n} failing"));
        }
        self.bar.inc(1);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `exprobe serve`.
async fn serve(args: &ServeArgs) -> Result<i32, AppError> {
    let config = crate::serve::config::load(&args.config, args.listen.as_deref(), &ProcessSecrets)?;
    if let Some(files) = &config.tls {
        crate::serve::tls_acceptor(files)?;
    }
    if args.check_config {
        let mut text = format!("{}: valid; listen {}\n", args.config.display(), config.listen);
        for c in &config.checks {
            text.push_str(&format!(
                "  check {:<24} {}, timeout {}\n",
                c.name,
                c.interval.map_or("on /probe only".to_string(), |d| format!(
                    "every {}",
                    humantime::format_duration(d)
                )),
                humantime::format_duration(c.timeout)
            ));
        }
        emit(&text)?;
        return Ok(0);
    }
    crate::serve::run(config).await
}

/// `exprobe diff OLD NEW`: exit 1 when something got worse.
fn diff(args: &DiffArgs) -> Result<i32, AppError> {
    let old = crate::report::diff::read(&args.old).map_err(AppError::Usage)?;
    let new = crate::report::diff::read(&args.new).map_err(AppError::Usage)?;
    let d = crate::report::diff::compare(&old, &new);
    match args.format {
        DiffFormat::Human => emit(&crate::report::diff::render_human(
            &d,
            report_width(std::io::IsTerminal::is_terminal(&std::io::stdout())),
        ))?,
        DiffFormat::Json => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            match crate::report::diff::write_json(&d, &mut w).and_then(|_| w.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.map_err(AppError::Output)?,
            }
        }
    }
    Ok(i32::from(d.worse))
}

/// `check --baseline`: a sink that passes everything on and keeps what a comparison needs.
struct Tee<'a> {
    inner: &'a mut (dyn ReportSink + Send),
    snapshot: crate::report::diff::Snapshot,
}

impl ReportSink for Tee<'_> {
    fn begin(&mut self, begin: &Begin<'_>) -> std::io::Result<()> {
        self.snapshot.started_at = Some(begin.started_at.clone());
        self.inner.begin(begin)
    }
    fn context(&mut self, steps: &[crate::report::Step], findings: &[crate::diagnose::Keyed]) -> std::io::Result<()> {
        self.snapshot.add_findings(findings.iter().map(|k| &k.finding));
        self.inner.context(steps, findings)
    }
    fn mailbox(&mut self, record: crate::diagnose::MailboxRecord) -> std::io::Result<()> {
        self.snapshot.add_findings(record.findings.iter().map(|k| &k.finding));
        self.snapshot.add_mailbox(&record.result);
        self.inner.mailbox(record)
    }
    fn summary(&mut self, summary: Summary) -> std::io::Result<()> {
        self.snapshot.add_findings(summary.findings.iter().map(|k| &k.finding));
        self.snapshot
            .finish(summary.status, &summary.accepted, summary.interrupted);
        self.snapshot.close();
        self.inner.summary(summary)
    }
    fn idle(&mut self) -> std::io::Result<()> {
        self.inner.idle()
    }
}

/// Prints the comparison with the baseline: after a human report on stdout, else on stderr.
fn print_baseline(
    old: &crate::report::diff::Snapshot,
    new: &crate::report::diff::Snapshot,
    output: &OutputConfig,
) -> Result<(), AppError> {
    let d = crate::report::diff::compare(old, new);
    let to_stdout = output.format == Format::Human && output.output.is_none();
    let text = format!(
        "\nSince the baseline:\n{}",
        crate::report::diff::render_human(
            &d,
            report_width(to_stdout && std::io::IsTerminal::is_terminal(&std::io::stdout()))
        )
    );
    if to_stdout {
        emit(&text)
    } else {
        eprint!("{text}");
        Ok(())
    }
}

async fn check(config: &CheckConfig, output: &OutputConfig) -> Result<i32, AppError> {
    // The baseline is read, and the output file opened, before any probe
    // runs: a bad path is an error at once, not after the whole run.
    let baseline = match &output.baseline {
        Some(path) => Some(crate::report::diff::read(path).map_err(|e| AppError::Usage(format!("--baseline: {e}")))?),
        None => None,
    };
    let file = match &output.output {
        Some(path) => Some(std::fs::File::create(path).map_err(AppError::Output)?),
        None => None,
    };
    let progress = Progress::for_terminal(config.mailboxes.len());
    let ended = match output.format {
        Format::Jsonl => {
            let mut snapshot = crate::report::diff::Snapshot::new("this run");
            let result = {
                let mut sink: Box<dyn ReportSink + Send> = match file {
                    Some(f) => Box::new(JsonlSink::new(std::io::BufWriter::new(f))),
                    None => Box::new(JsonlSink::new(std::io::BufWriter::new(std::io::stdout()))),
                };
                if baseline.is_some() {
                    let mut tee = Tee {
                        inner: sink.as_mut(),
                        snapshot: crate::report::diff::Snapshot::new("this run"),
                    };
                    let r = drive(config, &mut tee, interrupted(), progress.as_ref()).await;
                    snapshot = tee.snapshot;
                    r
                } else {
                    drive(config, sink.as_mut(), interrupted(), progress.as_ref()).await
                }
            };
            if let Some(p) = &progress {
                p.finish();
            }
            let ended = match result {
                Err(AppError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
                other => other?,
            };
            if let Some(old) = &baseline {
                print_baseline(old, &snapshot, output)?;
            }
            ended
        }
        Format::Json | Format::Human | Format::Html | Format::Nagios => {
            let mut sink = Collector::new();
            let ended = drive(config, &mut sink, interrupted(), progress.as_ref()).await;
            if let Some(p) = &progress {
                p.finish();
            }
            let ended = ended?;
            let report = sink
                .into_report()
                .ok_or_else(|| AppError::Usage("the run ended without a summary".into()))?;
            write_report(&report, output, file)?;
            if let Some(old) = &baseline {
                print_baseline(
                    old,
                    &crate::report::diff::Snapshot::of_report("this run", &report),
                    output,
                )?;
            }
            let code = (output.format == Format::Nagios && !ended.interrupted)
                .then(|| crate::report::nagios::status(&report, output.thresholds).exit_code());
            // The process exits next: freeing a million mailboxes' report
            // one allocation at a time would only delay the exit.
            std::mem::forget(report);
            if let Some(code) = code {
                return Ok(code);
            }
            ended
        }
    };
    Ok(if ended.interrupted {
        EXIT_INTERRUPTED
    } else {
        ended.status.exit_code()
    })
}

fn write_report(report: &Report, output: &OutputConfig, file: Option<std::fs::File>) -> Result<(), AppError> {
    match (output.format, file) {
        // JSON is written as it is serialized, never held as one string.
        (Format::Json | Format::Jsonl, Some(file)) => {
            let mut w = std::io::BufWriter::new(file);
            json::write(report, &mut w)
                .and_then(|_| w.flush())
                .map_err(AppError::Output)?;
        }
        (Format::Json | Format::Jsonl, None) => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            match json::write(report, &mut w).and_then(|_| w.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.map_err(AppError::Output)?,
            }
        }
        (Format::Html | Format::Nagios, file) => {
            let text = if output.format == Format::Html {
                crate::report::html::render(report)
            } else {
                crate::report::nagios::render(report, output.thresholds)
            };
            match file {
                Some(mut f) => f.write_all(text.as_bytes()).map_err(AppError::Output)?,
                None => emit(&text)?,
            }
        }
        (Format::Human, file) => {
            let to_terminal = file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
            let text = human::render(
                report,
                human::HumanOptions {
                    color: output.color && to_terminal,
                    show_http: output.show_http,
                    all_mailboxes: output.verbose,
                    width: report_width(to_terminal),
                },
            );
            match file {
                Some(mut f) => f.write_all(text.as_bytes()).map_err(AppError::Output)?,
                None => emit(&text)?,
            }
        }
    }
    Ok(())
}

/// The columns human output fits: `COLUMNS` when set (as `ls` does), else
/// the terminal's width, else 80 for files and pipes.
pub fn report_width(to_terminal: bool) -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        if n > 0 {
            return n.clamp(40, 1000);
        }
    }
    if to_terminal {
        if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size() {
            return usize::from(w).max(40);
        }
    }
    human::DEFAULT_WIDTH
}

/// The distinct codes of a report, sorted.
pub fn codes(report: &Report) -> Vec<String> {
    let mut c: Vec<String> = report.findings.iter().map(|f| f.code.clone()).collect();
    c.sort();
    c.dedup();
    c
}

/// Run one scenario against a fresh in-process lab.
pub async fn run_scenario(scenario: Scenario) -> Result<(Report, Vec<String>), AppError> {
    let mut expect = scenario.expect.clone();
    expect.sort();
    expect.dedup();
    let lab = Lab::start(scenario, IpAddr::from([127, 0, 0, 1]), None).await?;
    let report = run_check(&lab.check_config()).await?;
    Ok((report, expect))
}

async fn demo(args: &DemoArgs) -> Result<i32, AppError> {
    if matches!(args.format, FormatArg::Html | FormatArg::Nagios) {
        return Err(AppError::Usage(
            "demo has no html or nagios format (one report per check): use `exprobe lab serve` and `check --format html|nagios`".into(),
        ));
    }
    let scenarios = if args.scenarios.is_empty() {
        Scenario::all_builtin()?
    } else {
        args.scenarios
            .iter()
            .map(|n| Scenario::builtin(n))
            .collect::<Result<Vec<_>, _>>()?
    };
    let color =
        !args.no_color && !crate::config::no_color_env() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut reports = vec![];
    let mut mismatches = vec![];
    let total = scenarios.len();
    for scenario in scenarios {
        let name = scenario.name.clone();
        let (report, expect) = run_scenario(scenario).await?;
        let got = codes(&report);
        let ok = got == expect;
        if !ok {
            mismatches.push(format!(
                "{name}: expected [{}], got [{}]",
                expect.join(", "),
                got.join(", ")
            ));
        }
        if args.format == FormatArg::Human {
            let verdict = if ok { "as expected" } else { "MISMATCH" };
            emit(&format!("━━ scenario {name} ({verdict}) ━━\n"))?;
            emit(&human::render(
                &report,
                human::HumanOptions {
                    color,
                    width: report_width(std::io::IsTerminal::is_terminal(&std::io::stdout())),
                    ..Default::default()
                },
            ))?;
            emit("\n")?;
        }
        reports.push(report);
    }
    match args.format {
        FormatArg::Json => emit(&json::render_many(&reports))?,
        FormatArg::Jsonl => {
            for r in &reports {
                emit(&(serde_json::to_string(r).map_err(|e| AppError::Output(std::io::Error::other(e)))? + "\n"))?;
            }
        }
        FormatArg::Human | FormatArg::Html | FormatArg::Nagios => {}
    }
    eprintln!(
        "demo: {}/{total} scenarios reported exactly their expected findings",
        total - mismatches.len()
    );
    for m in &mismatches {
        eprintln!("demo: {m}");
    }
    Ok(if mismatches.is_empty() { 0 } else { 2 })
}

async fn lab_serve(args: &LabServeArgs) -> Result<i32, AppError> {
    let scenario = match (&args.scenario, &args.scenario_file) {
        (Some(name), _) => Scenario::builtin(name)?,
        (None, Some(path)) => Scenario::from_file(path)?,
        (None, None) => return Err(AppError::Usage("give --scenario NAME or --scenario-file FILE".into())),
    };
    let ip: IpAddr = args
        .bind
        .parse()
        .map_err(|_| AppError::Usage(format!("--bind {:?}: expected an IP address", args.bind)))?;
    let lab = Lab::start(scenario, ip, args.record.clone()).await?;
    let dir = std::env::temp_dir().join(format!("exprobe-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(AppError::Output)?;
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, lab.ca_pem()).map_err(AppError::Output)?;
    let args_line: Vec<String> = lab
        .check_args(&ca, "EXPROBE_PASSWORD")
        .iter()
        .map(|a| crate::terminal::escape(&shell_quote(a)).into_owned())
        .collect();
    let mut text = format!(
        "exprobe lab: scenario {} — {}\n  DNS   {} (udp+tcp)\n  HTTPS {}\n  HTTP  {}\n  CA    {}\n\nIn another shell:\n\n",
        crate::terminal::escape(&lab.scenario().name),
        crate::terminal::escape(&lab.scenario().description),
        lab.dns_addr,
        lab.https_addr,
        lab.http_addr,
        ca.display()
    );
    if let Some(p) = lab.password() {
        // A lab password, not a real secret: printed so the line below works as pasted.
        text.push_str(&format!("  export EXPROBE_PASSWORD={}\n", shell_quote(p.expose())));
    }
    text.push_str(&format!("  exprobe {}\n\nPress Ctrl-C to stop.\n", args_line.join(" ")));
    emit(&text)?;
    let _ = tokio::signal::ctrl_c().await;
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}

/// `exprobe man`: the top page on stdout, or every command's page into `dir`.
fn man(dir: Option<&std::path::Path>) -> Result<i32, AppError> {
    let cmd = Cli::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(AppError::Output)?;
            clap_mangen::generate_to(cmd, dir).map_err(AppError::Output)?;
            eprintln!("exprobe: man pages written to {}", dir.display());
        }
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf).map_err(AppError::Output)?;
            emit(&String::from_utf8_lossy(&buf))?;
        }
    }
    Ok(0)
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_=./:@,+".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn explain(args: &ExplainArgs) -> Result<i32, AppError> {
    let width = report_width(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let Some(code) = &args.code else {
        let mut text = String::new();
        let code_w = catalogue::all().map(|e| e.code.len()).max().unwrap_or(0);
        for e in catalogue::all() {
            let first = format!("{:<code_w$}  {:<8}  ", e.code, e.severity.as_str());
            if first.len() + 20 <= width {
                text.push_str(&human::wrap(e.title, width, &first, &" ".repeat(first.len())));
            } else {
                text.push_str(&format!("{}  {}\n", e.code, e.severity.as_str()));
                text.push_str(&human::wrap(e.title, width, "    ", "    "));
            }
        }
        emit(&text)?;
        return Ok(0);
    };
    let wanted = code.trim().to_ascii_lowercase();
    let Some(e) = catalogue::lookup(&wanted) else {
        let near = catalogue::suggestions(&wanted);
        return Err(AppError::Usage(if near.is_empty() {
            format!("unknown code {code:?}; `exprobe explain` lists every code")
        } else {
            format!(
                "unknown code {code:?}; did you mean {}? (`exprobe explain` lists every code)",
                near.join(", ")
            )
        }));
    };
    let mut text = format!("{} ({})\n", e.code, e.severity.as_str());
    text.push_str(&human::wrap(e.title, width, "", ""));
    text.push('\n');
    text.push_str(&human::wrap(e.explanation, width, "", ""));
    if !e.causes.is_empty() {
        text.push_str("\nLikely causes:\n");
        for c in e.causes {
            text.push_str(&human::wrap(c, width, "  - ", "    "));
        }
    }
    text.push_str("\nRemediation:\n");
    for (i, r) in e.remediation.iter().enumerate() {
        text.push_str(&human::wrap(r, width, &format!("  {}. ", i + 1), "     "));
    }
    if !e.references.is_empty() {
        text.push_str("\nReferences:\n");
        for r in e.references {
            text.push_str(&format!("  {r}\n"));
        }
    }
    emit(&text)?;
    Ok(0)
}
