//! A real client agrees with the lab: exchangelib's SOAP autodiscover finds
//! the same EWS URL exprobe reports. Needs Python with exchangelib
//! (`.ci/run` installs it in `.venv`); without it the test says why it skips.

mod common;

use common::start;
use exprobe::lab::Scenario;

fn python() -> Option<String> {
    let candidates = [
        std::env::var("EXPROBE_PYTHON").ok(),
        Some(format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR"))),
    ];
    candidates.into_iter().flatten().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import exchangelib"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchangelib_soap_autodiscover_finds_the_ews_url_exprobe_reports() {
    let Some(python) = python() else {
        eprintln!("SKIPPED exchangelib peer test: no Python with exchangelib (set EXPROBE_PYTHON or run .ci/run, which installs tests/peers/requirements.txt)");
        return;
    };
    let running = start(Scenario::builtin("autodiscover-soap-host").expect("scenario")).await;
    let (report, _) = running.check_json(&[]).await;
    let ours = report.mailboxes[0]
        .facts
        .get("ews_url")
        .cloned()
        .expect("exprobe found an EWS URL");

    let lab = &running.lab;
    let script = format!("{}/tests/peers/exchangelib_autodiscover.py", env!("CARGO_MANIFEST_DIR"));
    let args = vec![
        script,
        "alice@contoso.com".to_string(),
        lab.dns_addr.ip().to_string(),
        lab.dns_addr.port().to_string(),
        lab.https_addr.port().to_string(),
        lab.http_addr.port().to_string(),
        running.ca.display().to_string(),
        "svc-sync@contoso.com".to_string(),
    ];
    let password = lab.password().expect("scenario password").expose().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(&args)
            .env("EXPROBE_PASSWORD", password)
            .output()
            .expect("run python")
    })
    .await
    .expect("thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let theirs: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "exchangelib printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "exchangelib failed: {theirs}");
    assert_eq!(theirs["ews_url"].as_str(), Some(ours.as_str()));
    assert_eq!(theirs["autodiscover_smtp_address"], "alice@contoso.com");
    // exchangelib really used SOAP on the autodiscover host, with the service account's Basic credentials.
    assert!(lab
        .requests()
        .iter()
        .any(|r| r.path.eq_ignore_ascii_case("/autodiscover/autodiscover.svc")
            && r.host == "autodiscover.contoso.com"
            && r.header("authorization").is_some_and(|a| a.starts_with("Basic "))
            && r.header("user-agent").is_some_and(|u| u.contains("exchangelib"))));
}
