//! Command handlers: each turns validated input into output and an exit code.

use std::io::Write;
use std::net::IpAddr;

use clap::CommandFactory;

use crate::cli::{Cli, Command, DemoArgs, ExplainArgs, FormatArg, LabCommand, LabServeArgs};
use crate::config::{self, CheckConfig, Format, OutputConfig, ProcessSecrets};
use crate::diagnose::{self, catalogue};
use crate::lab::{Lab, Scenario};
use crate::probe::plan;
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
            let (config, mut output) = config::check_config(&args, &ProcessSecrets)?;
            output.verbose = cli.verbose > 0;
            check(&config, &output).await
        }
        Command::Demo(args) => demo(&args).await,
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
        Command::Schema => {
            emit(&json::schema())?;
            Ok(0)
        }
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "exprobe", &mut buf);
            emit(&String::from_utf8_lossy(&buf))?;
            Ok(0)
        }
    }
}

pub async fn run_check(config: &CheckConfig) -> Result<Report, AppError> {
    let outcome = plan::run(config).await?;
    Ok(diagnose::build_report(config, outcome))
}

async fn check(config: &CheckConfig, output: &OutputConfig) -> Result<i32, AppError> {
    // The output file is opened before any probe runs: an unwritable path
    // is an error at once, not after the whole run.
    let file = match &output.output {
        Some(path) => Some(std::fs::File::create(path).map_err(AppError::Output)?),
        None => None,
    };
    let report = run_check(config).await?;
    match (output.format, file) {
        // JSON is written as it is serialized, never held as one string.
        (Format::Json, Some(file)) => {
            let mut w = std::io::BufWriter::new(file);
            json::write(&report, &mut w)
                .and_then(|_| w.flush())
                .map_err(AppError::Output)?;
        }
        (Format::Json, None) => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            match json::write(&report, &mut w).and_then(|_| w.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.map_err(AppError::Output)?,
            }
        }
        (Format::Human, file) => {
            let text = human::render(
                &report,
                human::HumanOptions {
                    color: output.color && file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout()),
                    show_http: output.show_http,
                    all_mailboxes: output.verbose,
                },
            );
            match file {
                Some(mut f) => f.write_all(text.as_bytes()).map_err(AppError::Output)?,
                None => emit(&text)?,
            }
        }
    }
    Ok(report.status.exit_code())
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
    let scenarios = if args.scenarios.is_empty() {
        Scenario::all_builtin()?
    } else {
        args.scenarios
            .iter()
            .map(|n| Scenario::builtin(n))
            .collect::<Result<Vec<_>, _>>()?
    };
    let color = !args.no_color
        && std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
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
                    show_http: false,
                    all_mailboxes: false,
                },
            ))?;
            emit("\n")?;
        }
        reports.push(report);
    }
    if args.format == FormatArg::Json {
        emit(&json::render_many(&reports))?;
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
        .map(|a| shell_quote(a))
        .collect();
    let mut text = format!(
        "exprobe lab: scenario {} — {}\n  DNS   {} (udp+tcp)\n  HTTPS {}\n  HTTP  {}\n  CA    {}\n\nIn another shell:\n\n",
        lab.scenario().name,
        lab.scenario().description,
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

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_=./:@,+".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn explain(args: &ExplainArgs) -> Result<i32, AppError> {
    let Some(code) = &args.code else {
        let mut text = String::new();
        for e in catalogue::all() {
            text.push_str(&format!("{:<42} {:<8} {}\n", e.code, e.severity.as_str(), e.title));
        }
        emit(&text)?;
        return Ok(0);
    };
    let Some(e) = catalogue::lookup(code) else {
        return Err(AppError::Usage(format!(
            "unknown code {code:?}; `exprobe explain` lists every code"
        )));
    };
    let mut text = format!(
        "{} ({})\n{}\n\n{}\n",
        e.code,
        e.severity.as_str(),
        e.title,
        e.explanation
    );
    if !e.causes.is_empty() {
        text.push_str("\nLikely causes:\n");
        for c in e.causes {
            text.push_str(&format!("  - {c}\n"));
        }
    }
    text.push_str("\nRemediation:\n");
    for (i, r) in e.remediation.iter().enumerate() {
        text.push_str(&format!("  {}. {r}\n", i + 1));
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
