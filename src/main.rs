use clap::Parser;

use exprobe::app;
use exprobe::cli::Cli;
use exprobe::exit::TOOL_ERROR as EXIT_TOOL_ERROR;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are successes; every usage error is exit 3 (`src/exit.rs`).
            std::process::exit(if e.use_stderr() { EXIT_TOOL_ERROR } else { 0 });
        }
    };
    // A long-running server logs its runs by default; one-shot commands only warnings.
    let serving = matches!(cli.command, exprobe::cli::Command::Serve(_));
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // `serve` logs its own lines (runs, refusals, shutdown) by default, the steps with -v.
    let default = if serving && cli.verbose == 0 {
        "exprobe=warn,exprobe::serve=info".to_string()
    } else {
        format!("exprobe={level}")
    };
    // sspi traces its buffers (an NTLM AUTHENTICATE message is derived from the
    // password): never logged, whatever EXPROBE_LOG asks.
    let never = |f: tracing_subscriber::EnvFilter| match "sspi=off".parse() {
        Ok(d) => f.add_directive(d),
        Err(_) => f,
    };
    let filter = never(
        tracing_subscriber::EnvFilter::try_from_env("EXPROBE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
    );
    // Colour in logs only on a terminal (never in a redirected log), and never with NO_COLOR.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !exprobe::config::no_color_env();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .fmt_fields(exprobe::terminal::log_fields())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("exprobe: cannot start the async runtime: {e}");
            std::process::exit(EXIT_TOOL_ERROR);
        }
    };
    let code = match runtime.block_on(app::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // An error may quote a file's line or a server's text.
            let text = e.to_string();
            let lines: Vec<String> = text
                .lines()
                .map(|l| exprobe::terminal::escape(l).into_owned())
                .collect();
            eprintln!("exprobe: {}", lines.join("\n  "));
            EXIT_TOOL_ERROR
        }
    };
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
