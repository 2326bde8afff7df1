//! `--format html`: one self-contained file, checked as text (no external
//! asset, no script, no secret, every code present) and in a real headless
//! Chromium (the DOM after rendering, a screenshot, and a network log that
//! shows no request left the file).
//!
//! Chromium comes from Debian's `chromium` package, installed by `.ci/run`,
//! which sets `EXPROBE_REQUIRE_CHROMIUM=1`: there a missing browser fails
//! the test; elsewhere the browser part is skipped with a printed reason.

use std::path::{Path, PathBuf};

use crate::common::*;
use exprobe::lab::Scenario;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// Headless Chromium on a file, as the machine's notes advise (no sandbox as
/// root, no background networking), with a bounded run time.
fn run_chromium(browser: &Path, profile: &Path, extra: &[String], file: &Path) -> std::process::Output {
    let mut cmd = std::process::Command::new("timeout");
    cmd.arg("60").arg(browser).args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd.args(extra);
    cmd.arg(format!("file://{}", file.display()));
    cmd.output().expect("run chromium")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_is_self_contained_and_renders_in_chromium() {
    let browser = chromium();
    if browser.is_none() {
        assert!(
            std::env::var_os("EXPROBE_REQUIRE_CHROMIUM").is_none(),
            "EXPROBE_REQUIRE_CHROMIUM is set but no chromium is on PATH"
        );
        eprintln!("html: chromium is not installed; the browser checks are skipped (the text checks run)");
    }
    for name in [
        "ews-impersonation-scope-excludes",
        "oauth-consent-missing",
        "tls-expired",
        "ews-onprem-healthy",
        "online-gcchigh-wrong-cloud",
        "autodiscover-redirect-addr",
    ] {
        let lab = start(Scenario::builtin(name).expect("scenario")).await;
        let (report, _) = lab.check_json(&[]).await;
        let codes = codes(&report);
        let file = lab.dir.path().join(format!("{name}.html"));
        let out = lab
            .run_cli(lab.check_args(&["--format=html", &format!("--output={}", file.display())]))
            .await;
        assert_eq!(
            out.status.code(),
            Some(report.status.exit_code()),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let html = std::fs::read_to_string(&file).expect("the html file");

        // Self-contained: nothing to fetch, nothing to run.
        for forbidden in [
            "<script", "<link", "<img", "<iframe", " src=", "@import", "url(", " style=",
        ] {
            assert!(!html.contains(forbidden), "{name}: {forbidden} in the html");
        }
        // A strict Content-Security-Policy, before the stylesheet it admits by its hash.
        let css = html
            .split_once("<style>")
            .and_then(|(_, rest)| rest.split_once("</style>"))
            .map(|(css, _)| css)
            .expect("a stylesheet");
        let hash = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .encode(ring::digest::digest(&ring::digest::SHA256, css.as_bytes()))
        };
        let csp = format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'sha256-{hash}';"
        );
        let at = html
            .find(&csp)
            .unwrap_or_else(|| panic!("{name}: no strict CSP admitting the stylesheet"));
        assert!(
            at < html.find("<style>").unwrap_or(0),
            "{name}: the CSP comes after the stylesheet"
        );
        // No secret, whatever the mode.
        for r in lab.lab.requests() {
            if let Some(token) = r.header("authorization").and_then(|a| a.strip_prefix("Bearer ")) {
                assert!(!html.contains(token.trim()), "{name}: a bearer token in the html");
            }
        }
        if let Some(secret) = lab.lab.password() {
            use base64::Engine as _;
            assert!(!html.contains(secret.expose()), "{name}: a secret in the html");
            if let Some(sa) = &lab.lab.scenario().check.service_account {
                let basic = base64::engine::general_purpose::STANDARD.encode(format!("{sa}:{}", secret.expose()));
                assert!(!html.contains(&basic), "{name}: Basic credentials in the html");
            }
        }
        // Every code, as an element a reader (and a test) can find.
        for code in &codes {
            assert!(
                html.contains(&format!("data-code=\"{code}\"")),
                "{name}: {code} missing"
            );
        }
        assert!(html.contains(&format!("id=\"status\">{}", report.status.as_str().to_uppercase())));

        let Some(browser) = browser.as_deref() else { continue };
        let profile = lab.dir.path().join("chromium-profile");
        // The DOM Chromium built: every code is in it.
        let netlog = lab.dir.path().join(format!("{name}.netlog.json"));
        let dom = run_chromium(
            browser,
            &profile,
            &[
                "--dump-dom".into(),
                "--enable-logging=stderr".into(),
                format!("--log-net-log={}", netlog.display()),
            ],
            &file,
        );
        let dom_text = String::from_utf8_lossy(&dom.stdout);
        // The policy refuses nothing the page itself needs (Chromium logs each refusal).
        let console = String::from_utf8_lossy(&dom.stderr);
        assert!(
            !console.contains("Content Security Policy"),
            "{name}: the page broke its own CSP:\n{console}"
        );
        assert!(
            dom_text.contains("<section id=\"findings\">") || codes.is_empty(),
            "{name}: chromium rendered no findings section: {}\n{}",
            dom_text.chars().take(300).collect::<String>(),
            String::from_utf8_lossy(&dom.stderr)
        );
        for code in &codes {
            assert!(
                dom_text.contains(&format!("data-code=\"{code}\"")),
                "{name}: {code} not in the DOM"
            );
        }
        // No request made by the page. The browser's own background requests
        // carry the initiator "not an origin"; the page's (a file: document)
        // would carry its opaque origin, "null".
        let page_requests = page_requests(&netlog);
        assert!(
            page_requests.is_empty(),
            "{name}: the page made network requests: {page_requests:?}"
        );
        // A screenshot: the page renders to a real image.
        let png = lab.dir.path().join(format!("{name}.png"));
        let shot = run_chromium(
            browser,
            &profile,
            &[
                format!("--screenshot={}", png.display()),
                "--window-size=1280,2000".into(),
            ],
            &file,
        );
        let bytes = std::fs::read(&png)
            .unwrap_or_else(|e| panic!("{name}: no screenshot ({e}): {}", String::from_utf8_lossy(&shot.stderr)));
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{name}: screenshot of {} bytes",
            bytes.len()
        );
        if std::env::var_os("EXPROBE_KEEP_SCREENSHOTS").is_some() {
            let keep = std::env::temp_dir().join(format!("exprobe-{name}.png"));
            let _ = std::fs::copy(&png, keep);
        }
    }
}

/// URLs the page itself asked for, from Chromium's network log.
fn page_requests(netlog: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(netlog).unwrap_or_else(|e| panic!("no network log {}: {e}", netlog.display()));
    let log: serde_json::Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .expect("the network log is JSON");
    let mut urls = vec![];
    for event in log["events"].as_array().into_iter().flatten() {
        let params = &event["params"];
        let (Some(url), Some(initiator)) = (params["url"].as_str(), params["initiator"].as_str()) else {
            continue;
        };
        if initiator != "not an origin" && !url.starts_with("file:") {
            urls.push(format!("{url} (initiator {initiator})"));
        }
    }
    urls
}

/// The log check itself: a page that loads a remote image and stylesheet is caught.
#[test]
fn the_network_log_check_catches_a_page_that_fetches() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("EXPROBE_REQUIRE_CHROMIUM").is_none(),
            "no chromium on PATH"
        );
        eprintln!("html: chromium is not installed; skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("fetches.html");
    std::fs::write(
        &page,
        "<html><body><img src=\"http://127.0.0.1:9/x.png\"><link rel=stylesheet href=\"http://127.0.0.1:9/a.css\"></body></html>",
    )
    .expect("write page");
    let netlog = dir.path().join("net.json");
    run_chromium(
        &browser,
        &dir.path().join("profile"),
        &["--dump-dom".into(), format!("--log-net-log={}", netlog.display())],
        &page,
    );
    let urls = page_requests(&netlog);
    assert!(
        urls.iter().any(|u| u.starts_with("http://127.0.0.1:9/x.png")),
        "{urls:?}"
    );
}
