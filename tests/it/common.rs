//! Helpers shared by the integration tests: start a lab, run the real CLI against it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Output;

use exprobe::lab::{Lab, Scenario};
use exprobe::report::Report;

pub const PASSWORD_ENV: &str = "EXPROBE_TEST_PASSWORD";

pub struct Running {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
}

pub async fn start(scenario: Scenario) -> Running {
    let name = scenario.name.clone();
    let lab = Lab::start(scenario, IpAddr::from([127, 0, 0, 1]), None)
        .await
        .unwrap_or_else(|e| panic!("{name}: the lab does not start: {e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, lab.ca_pem()).expect("write CA");
    Running { lab, dir, ca }
}

pub fn scenario_from_text(text: &str) -> Scenario {
    Scenario::parse(text, None).expect("test scenario parses")
}

impl Running {
    /// `check` arguments for this lab, plus `extra`.
    pub fn check_args(&self, extra: &[&str]) -> Vec<String> {
        let mut args = self.lab.check_args(&self.ca, PASSWORD_ENV);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// `check` arguments for this lab reading the mailboxes from `list`
    /// (instead of the scenario's `--mailbox` arguments), plus `extra`.
    pub fn check_args_with_list(&self, list: &std::path::Path, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = self
            .check_args(&[])
            .into_iter()
            .filter(|a| !a.starts_with("--mailbox="))
            .collect();
        args.push(format!("--mailboxes={}", list.display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Run the real binary (off the runtime thread: the lab keeps serving).
    pub async fn run_cli(&self, args: Vec<String>) -> Output {
        self.run_cli_env(args, &[]).await
    }

    pub async fn run_cli_env(&self, args: Vec<String>, env: &[(&str, &str)]) -> Output {
        let password = self.lab.password().map(|p| p.expose().to_string());
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        tokio::task::spawn_blocking(move || run_exprobe_env(&args, password.as_deref(), &env))
            .await
            .expect("CLI thread")
    }

    pub async fn check_json(&self, extra: &[&str]) -> (Report, Output) {
        let mut args = self.check_args(extra);
        args.push("--format=json".into());
        let out = self.run_cli(args).await;
        self.report_of(out)
    }

    fn report_of(&self, out: Output) -> (Report, Output) {
        let report: Report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not a report ({e}):\n{}\nstderr:\n{}",
                self.lab.scenario().name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (report, out)
    }
}

pub fn run_exprobe(args: &[String], password: Option<&str>) -> Output {
    run_exprobe_env(args, password, &[])
}

pub fn run_exprobe_env(args: &[String], password: Option<&str>, env: &[(String, String)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_exprobe"));
    cmd.args(args)
        .env_remove("EXPROBE_PASSWORD")
        .env_remove("EXPROBE_LOG")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(p) = password {
        cmd.env(PASSWORD_ENV, p);
    }
    cmd.output().expect("run exprobe")
}

pub fn codes(report: &Report) -> Vec<String> {
    exprobe::app::codes(report)
}
