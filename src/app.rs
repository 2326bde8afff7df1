//! Command handlers: each turns validated input into output and an exit code.

use std::io::Write;
use std::net::IpAddr;

use clap::CommandFactory as _;

use crate::catalogue;
use crate::cli::{
    Cli, Command, DemoArgs, DiffArgs, DiffFormat, ExplainArgs, LabCommand, LabServeArgs, SchemaFormat, ServeArgs,
};
use crate::config::{self, CheckConfig, OutputConfig, ProcessSecrets};
use crate::engine::baseline::Tee;
use crate::engine::{self, Progress};
pub use crate::error::AppError;
use crate::lab::{Lab, Scenario};
use crate::report::diff::Snapshot;
use crate::report::output::{Format, FormatOptions, Out};
use crate::report::{human, json, Report};

impl From<crate::lab::ScenarioError> for AppError {
    fn from(e: crate::lab::ScenarioError) -> Self {
        AppError::Lab(Box::new(e))
    }
}

impl From<crate::lab::LabError> for AppError {
    fn from(e: crate::lab::LabError) -> Self {
        AppError::Lab(Box::new(e))
    }
}

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
        Command::Check(args) if args.tenants.is_some() => {
            let mut out: Box<dyn std::io::Write + Send> = match &args.output.output {
                Some(path) => Box::new(std::fs::File::create(path).map_err(AppError::Output)?),
                None => Box::new(std::io::stdout()),
            };
            match crate::fleet::run(&args, &ProcessSecrets, out.as_mut(), engine::interrupted()).await {
                // A reader that went away (`| head`) ends the run quietly.
                Err(AppError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
                other => other,
            }
        }
        Command::Check(args) => {
            let (mut config, mut output) = config::check_config(&args, &ProcessSecrets)?;
            output.verbose = cli.verbose > 0;
            config.net.output_reserve =
                engine::output_reserve(config.mailboxes.len(), output.format, config.net.deadline);
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
        Command::Admin(crate::cli::AdminCommand::SignIn(args)) => admin_sign_in(&args).await,
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

/// `exprobe admin sign-in`: the device authorization grant at the cloud's
/// authority (the only host this command talks to, and the only one the
/// device code and the token go to).
async fn admin_sign_in(args: &crate::cli::AdminSignInArgs) -> Result<i32, AppError> {
    use crate::auth::device_code::{self, DeviceFlowEnd};
    let cloud = match args.cloud {
        crate::cli::CloudArg::Global => crate::cloud::Cloud::Global,
        crate::cli::CloudArg::UsgovGcchigh => crate::cloud::Cloud::UsgovGcchigh,
        crate::cli::CloudArg::UsgovDod => crate::cloud::Cloud::UsgovDod,
        crate::cli::CloudArg::China => crate::cloud::Cloud::China,
    };
    let authority = url::Url::parse(&format!("{}/", cloud.authority().trim_end_matches('/')))
        .map_err(|e| AppError::Usage(format!("the authority: {e}")))?;
    let mut net_config = config::net_config(&args.net)?;
    // The person at the browser has the code's whole lifetime (Entra ID's 15
    // minutes) to sign in: `--deadline`'s default of two minutes would cut
    // the polling short.
    net_config.deadline = net_config.deadline.max(std::time::Duration::from_secs(16 * 60));
    let mut allowed = crate::net::AllowedHosts::default();
    allowed.add_host(authority.host_str().unwrap_or_default());
    let net = crate::net::Net::new(&net_config, allowed)?;
    let scopes = if args.scopes.is_empty() {
        let graph = cloud.graph().trim_end_matches('/');
        format!("{graph}/RoleManagement.Read.Exchange {graph}/Application.Read.All")
    } else {
        args.scopes.join(" ")
    };
    let tenant = args.tenant.trim();
    let client = args.admin_client_id.trim();
    let failed = |end: DeviceFlowEnd| -> Result<i32, AppError> {
        let why = match end {
            DeviceFlowEnd::Declined => "the sign-in was declined at the browser".to_string(),
            DeviceFlowEnd::Expired => "the code expired before anyone signed in with it".to_string(),
            DeviceFlowEnd::Refused(e) => format!("Entra ID refused: {} ({})", e.summary(), e.error),
            DeviceFlowEnd::Failed(f) => format!("no answer from {}: {}", cloud.authority(), f.describe()),
            DeviceFlowEnd::Unexpected(u) => u,
            DeviceFlowEnd::SignedIn { .. } => "signed in".to_string(),
        };
        eprintln!("exprobe: admin sign-in: {}", crate::terminal::escape(&why));
        Ok(crate::exit::FAIL)
    };
    let code = match device_code::start(&net, &authority, tenant, client, &scopes).await {
        Ok(c) => c,
        Err(end) => return failed(end),
    };
    eprintln!("{}", crate::terminal::escape(&code.message));
    match device_code::poll(&net, &authority, tenant, client, &code, tokio::time::sleep).await {
        DeviceFlowEnd::SignedIn {
            token,
            expires_in,
            scope,
        } => {
            let who = crate::protocol::jwt::decode(token.expose()).ok().map(|(_, c)| c);
            let name = who
                .as_ref()
                .and_then(|c| c.upn.clone().or(c.preferred_username.clone()).or(c.unique_name.clone()))
                .unwrap_or_else(|| "(no user name in the token)".into());
            let tid = who.as_ref().and_then(|c| c.tid.clone()).unwrap_or_else(|| "?".into());
            let granted = who.as_ref().and_then(|c| c.scp.clone()).or(scope).unwrap_or_default();
            emit(&crate::terminal::escape(&format!(
                "signed in as {name} (tenant {tid}) with client {client}\nscopes granted: {granted}\nthe token expires in {} s; it is not shown and not kept\n",
                expires_in.unwrap_or(0)
            )))?;
            Ok(crate::exit::PASS)
        }
        end => failed(end),
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
    let (out, to_terminal): (Out, bool) = match &output.output {
        Some(path) => (Box::new(std::fs::File::create(path).map_err(AppError::Output)?), false),
        None => (
            Box::new(std::io::stdout()),
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
        ),
    };
    let options = FormatOptions {
        human: human::HumanOptions {
            color: output.color && to_terminal,
            show_http: output.show_http,
            all_mailboxes: output.verbose,
            width: report_width(to_terminal),
        },
        thresholds: output.thresholds,
    };
    let mut sink = output.format.sink(options, out);
    let progress = Progress::for_terminal(config.mailboxes.len());
    let mut tee = Tee {
        inner: sink.as_mut(),
        snapshot: Snapshot::new("this run"),
    };
    let ran = match baseline {
        Some(_) => engine::drive(config, &mut tee, engine::interrupted(), progress.as_ref()).await,
        None => engine::drive(config, tee.inner, engine::interrupted(), progress.as_ref()).await,
    };
    let snapshot = tee.snapshot;
    if let Some(p) = &progress {
        p.finish();
    }
    match ran {
        // A reader that went away (`| head`) ends the run quietly.
        Err(AppError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
        other => other?,
    };
    let code = sink.finish().map_err(AppError::Output)?;
    if let Some(old) = &baseline {
        print_baseline(old, &snapshot, output)?;
    }
    Ok(code)
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
    run_scenario_on(scenario, None).await
}

/// A scenario on `day` (None: the clock's), with the codes expected in that
/// day's phase of Exchange Online's EWS.
pub async fn run_scenario_on(scenario: Scenario, day: Option<time::Date>) -> Result<(Report, Vec<String>), AppError> {
    let lab = Lab::start(scenario, IpAddr::from([127, 0, 0, 1]), None).await?;
    // A scenario that names its own day keeps it.
    if let Some(day) = day.filter(|_| lab.scenario().pinned_today().is_none()) {
        lab.pin_today(day);
    }
    let expect = lab.scenario().expected(crate::ews_timeline::Phase::on(lab.today()));
    let report = engine::run_check(&lab.check_config()).await?;
    Ok((report, expect))
}

async fn demo(args: &DemoArgs) -> Result<i32, AppError> {
    if matches!(args.format, Format::Html | Format::Nagios | Format::Junit) {
        return Err(AppError::Usage(
            "demo has no html, nagios or junit format (one report per check): use `exprobe lab serve` and `check --format html|nagios|junit`".into(),
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
        if args.format == Format::Human {
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
        Format::Json => emit(&json::render_many(&reports))?,
        Format::Jsonl => {
            for r in &reports {
                emit(&(serde_json::to_string(r).map_err(|e| AppError::Output(std::io::Error::other(e)))? + "\n"))?;
            }
        }
        Format::Human | Format::Html | Format::Nagios | Format::Junit => {}
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
