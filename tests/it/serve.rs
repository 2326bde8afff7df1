//! `exprobe serve`, the real binary against the lab: schedules, non-overlap,
//! a hanging check beside a healthy one, SIGTERM grace, `/probe` limits and
//! target policy, HTTP protection and TLS, configuration errors with their
//! positions, secrets never in any output, and a real Prometheus (Debian's
//! `prometheus`) scraping it with the rules and config under `deploy/`.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{start, Running, PASSWORD_ENV};
use exprobe::lab::Scenario;

/// A TOML `[[check]]` table for `lab`, from the `check` arguments the tests use elsewhere;
/// its secret comes from the variable [`secret_env`]`(name)`.
fn check_table(name: &str, lab: &Running, extra: &[(&str, &str)]) -> String {
    let args: Vec<String> = lab
        .check_args(&[])
        .into_iter()
        .map(|a| a.replace(&format!("-env={PASSWORD_ENV}"), &format!("-env={}", secret_env(name))))
        .collect();
    let mut keys: Vec<(String, Vec<String>)> = vec![];
    for a in args.iter().skip(1) {
        let a = a.trim_start_matches("--");
        let (k, v) = a.split_once('=').map_or((a, None), |(k, v)| (k, Some(v)));
        let k = if k == "mailbox" { "mailboxes" } else { k };
        match keys.iter_mut().find(|(key, _)| key == k) {
            Some((_, vs)) => vs.extend(v.map(str::to_string)),
            None => keys.push((k.to_string(), v.map(str::to_string).into_iter().collect())),
        }
    }
    let mut t = format!("[[check]]\nname = \"{name}\"\n");
    for (k, v) in extra {
        t.push_str(&format!("{k} = {v}\n"));
    }
    for (k, vs) in keys {
        let quoted: Vec<String> = vs.iter().map(|v| toml::Value::String(v.clone()).to_string()).collect();
        if vs.is_empty() {
            t.push_str(&format!("{k} = true\n"));
        } else if k == "mailboxes" || k == "connect-to" || k == "dns-server" || vs.len() > 1 {
            t.push_str(&format!("{k} = [{}]\n", quoted.join(", ")));
        } else {
            t.push_str(&format!("{k} = {}\n", quoted[0]));
        }
    }
    t
}

fn secret_env(check: &str) -> String {
    format!(
        "EXPROBE_TEST_SECRET_{}",
        check.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// The environment a check of `lab` named `name` needs.
fn env_for(name: &str, lab: &Running) -> (String, String) {
    (secret_env(name), password(lab))
}

/// A running `exprobe serve`, killed when dropped.
struct Serve {
    child: Option<Child>,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Serve {
    fn start(dir: &Path, config: &str, env: &[(String, String)], args: &[&str]) -> Serve {
        let path = dir.join("checks.toml");
        std::fs::write(&path, config).expect("write config");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_exprobe"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&path)
            .arg("--listen=127.0.0.1:0")
            .args(args)
            .env_remove("EXPROBE_PASSWORD")
            .env_remove("EXPROBE_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start serve");
        let stderr = child.stderr.take().expect("stderr");
        let stdout = child.stdout.take().expect("stdout");
        let log = Arc::new(Mutex::new(vec![]));
        // stdout goes to the same log (serve writes nothing there; the canaries check it).
        let out_sink = log.clone();
        let out_reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                out_sink.lock().expect("log").push(format!("stdout: {line}"));
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        let err_reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("exprobe serve: listening on ") {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                sink.lock().expect("log").push(line);
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
            panic!("serve did not start:\n{}", log.lock().expect("log").join("\n"));
        });
        Serve {
            child: Some(child),
            addr: url,
            log,
            readers: vec![out_reader, err_reader],
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// The log once it holds `text`; panics with the log after `limit`.
    fn wait_log(&self, text: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            assert!(Instant::now() < end, "{text:?} never reached the log:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let sent = Instant::now();
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let status = wait_timeout(&mut child, Duration::from_secs(60)).expect("serve exits after SIGTERM");
        let took = sent.elapsed();
        // The log threads read to the end of stdout and stderr.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        (status, took)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.expect("GET");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// The value of one sample in a text exposition: `name{labels}` exactly as written.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).map(str::trim))
        .and_then(|v| v.parse().ok())
}

/// Waits until `metric` is at least `at_least` in `/metrics`, or panics after `limit`.
async fn wait_metric(serve: &Serve, series: &str, at_least: f64, limit: Duration) -> String {
    let end = Instant::now() + limit;
    loop {
        let (_, text) = get(&serve.url("/metrics")).await;
        if sample(&text, series).is_some_and(|v| v >= at_least) {
            return text;
        }
        if Instant::now() > end {
            panic!("{series} did not reach {at_least}:\n{text}\nlog:\n{}", serve.log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// In `log`, the runs of `check` (started, then finished or failed) never nest.
fn assert_no_overlap(log: &str, check: &str) {
    let tag = format!("check=\"{check}\"");
    let mut depth = 0i32;
    let mut runs = 0;
    for line in log.lines().filter(|l| l.contains(&tag)) {
        if line.contains("check started") {
            depth += 1;
            runs += 1;
        } else if line.contains("check finished") || line.contains("check could not run") {
            depth -= 1;
        }
        assert!((0..=1).contains(&depth), "two runs of {check} at once:\n{log}");
    }
    assert!(runs >= 2, "{log}");
}

fn password(lab: &Running) -> String {
    lab.lab.password().map(|p| p.expose().to_string()).unwrap_or_default()
}

/// A port whose connections are accepted and never answered (held open).
fn hanging_listener() -> (u16, Arc<Mutex<Vec<std::net::TcpStream>>>) {
    let hang = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = hang.local_addr().expect("addr").port();
    let held = Arc::new(Mutex::new(vec![]));
    let keep = held.clone();
    std::thread::spawn(move || {
        for s in hang.incoming().take(1000).flatten() {
            keep.lock().expect("held").push(s);
        }
    });
    (port, held)
}

/// A discovery-only check named "hang" whose every connection goes to `port`
/// (names resolved by `lab`'s DNS).
fn hang_table(lab: &Running, port: u16, extra: &[(&str, &str)]) -> String {
    let dns = lab.lab.dns_addr;
    let mut t = format!(
        "[[check]]\nname = \"hang\"\ntimeout = \"60s\"\nrequest-timeout = 50\nmailboxes = [\"alice@contoso.com\"]\nauth = \"none\"\ndns-server = [\"{dns}\"]\nconnect-to = [\":443:127.0.0.1:{port}\", \":80:127.0.0.1:{port}\"]\n"
    );
    for (k, v) in extra {
        t.push_str(&format!("{k} = {v}\n"));
    }
    t
}

fn slow(name: &str, latency_ms: u64) -> Scenario {
    let mut s = Scenario::builtin(name).expect("scenario");
    for h in &mut s.hosts {
        h.latency_ms = latency_ms;
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_checks_expose_metrics_reports_and_probes() {
    let healthy = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let dir = tempfile::tempdir().expect("dir");
    let config = format!(
        "[server]\ngrace = \"5s\"\n\n{}",
        check_table("onprem", &healthy, &[("interval", "\"1s\""), ("timeout", "\"20s\"")])
    );
    let started = Instant::now();
    let serve = Serve::start(dir.path(), &config, &[env_for("onprem", &healthy)], &[]);
    let text = wait_metric(
        &serve,
        r#"exprobe_check_runs_total{check="onprem",result="pass"}"#,
        3.0,
        Duration::from_secs(30),
    )
    .await;
    // Three runs at a 1 s interval: the first at once, the third no sooner
    // than 2 s later (serve::schedule's tests prove the ticks on a manual clock;
    // this proves serve runs its checks on them).
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(
        sample(&text, r#"exprobe_check_last_run_status{check="onprem"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"exprobe_check_last_run_success{check="onprem"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"exprobe_check_last_run_mailboxes{check="onprem",status="pass"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, r#"exprobe_check_interval_seconds{check="onprem"}"#),
        Some(1.0)
    );
    let build = format!(r#"exprobe_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION"));
    assert_eq!(sample(&text, &build), Some(1.0));
    assert!(
        text.contains(r#"exprobe_check_last_run_steps{check="onprem",kind="ews.impersonation",status="pass"} 2"#),
        "{text}"
    );
    assert!(
        !text.contains("mailbox=\""),
        "no per-mailbox series unless asked:\n{text}"
    );
    // promtool accepts the exposition (text 0.0.4, what promtool reads).
    if let Some(out) = promtool(&["check", "metrics"], Some(&text)) {
        assert!(
            out.status.success(),
            "promtool check metrics:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // OpenMetrics when asked, as Prometheus asks.
    let r = client()
        .get(serve.url("/metrics"))
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .expect("GET");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("application/openmetrics-text"));
    let om = r.text().await.unwrap_or_default();
    assert!(
        om.ends_with("# EOF\n") && om.contains("# UNIT exprobe_check_last_run_duration_seconds seconds"),
        "{om}"
    );

    // The last report, in check --format json's schema.
    let (status, body) = get(&serve.url("/checks/onprem")).await;
    assert_eq!(status, 200);
    let report: exprobe::report::Report = serde_json::from_str(&body).expect("a report");
    assert_eq!(report.mailboxes.len(), 2);
    assert_eq!(get(&serve.url("/checks/nope")).await.0, 404);

    // A probe of the check, and of one of its domain's mailboxes.
    let (status, body) = get(&serve.url("/probe?check=onprem")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sample(&body, r#"exprobe_probe_success{check="onprem"}"#),
        Some(1.0),
        "{body}"
    );
    let mailbox = &healthy.lab.scenario().check.mailboxes[0];
    let (status, body) = get(&serve.url(&format!("/probe?target={mailbox}&module=onprem"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sample(&body, r#"exprobe_probe_mailboxes{check="onprem",status="pass"}"#),
        Some(1.0),
        "{body}"
    );
    assert_eq!(get(&serve.url("/probe?target=a@b.example")).await.0, 400);
    assert_eq!(get(&serve.url("/probe?check=nope")).await.0, 404);
    assert_eq!(get(&serve.url("/-/healthy")).await.0, 200);
    assert_eq!(get(&serve.url("/-/ready")).await.0, 200);
    let r = client().post(serve.url("/metrics")).send().await.expect("POST");
    assert_eq!(r.status().as_u16(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_target_outside_the_checks_domains_is_refused_before_any_request() {
    // The lab serves evil.example too, recording every request: a refused
    // target must not cost a single request, let alone a credential.
    let record = tempfile::NamedTempFile::new().expect("record");
    let lab = exprobe::lab::Lab::start(
        Scenario::builtin("ews-onprem-healthy").expect("scenario"),
        std::net::IpAddr::from([127, 0, 0, 1]),
        Some(record.path().to_path_buf()),
    )
    .await
    .expect("lab");
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, lab.ca_pem()).expect("ca");
    let running = Running {
        lab,
        dir: tempfile::tempdir().expect("dir"),
        ca,
    };
    let config = format!(
        "{}\n{}",
        check_table("onprem", &running, &[]),
        check_table("writer", &running, &[("write-test", "true")])
    );
    let pw = password(&running);
    let serve = Serve::start(
        dir.path(),
        &config,
        &[env_for("onprem", &running), env_for("writer", &running)],
        &[],
    );
    let before = std::fs::read_to_string(record.path())
        .unwrap_or_default()
        .lines()
        .count();
    for target in [
        "svc@evil.example",
        "alice@contoso.com.evil.example",
        "not-an-address",
        "alice@",
    ] {
        let (status, body) = get(&serve.url(&format!("/probe?target={target}&module=onprem"))).await;
        assert_eq!(status, 403, "{target}: {body}");
        assert!(body.contains("target refused"), "{body}");
    }
    // A check that writes drafts is never probed for a target a scraper picks.
    let mailbox = running.lab.scenario().check.mailboxes[0].clone();
    let (status, body) = get(&serve.url(&format!("/probe?target={mailbox}&module=writer"))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("writes to mailboxes"), "{body}");
    // Read at once, no wait: a probe's run is awaited before serve answers,
    // and the lab records a request before it answers it, so any request a
    // refused probe had caused is already in the record.
    let after = std::fs::read_to_string(record.path()).unwrap_or_default();
    assert_eq!(after.lines().count(), before, "a refused probe sent requests:\n{after}");
    assert!(!after.contains(&pw));
}

/// A `/probe` target with a newline and an ESC sequence forges no log
/// line and reaches the log escaped (`-v` logs each step, with its mailbox).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_target_cannot_forge_or_colour_a_log_line() {
    let lab = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let dir = tempfile::tempdir().expect("dir");
    let config = check_table("onprem", &lab, &[("interval", "\"1h\"")]);
    let serve = Serve::start(dir.path(), &config, &[env_for("onprem", &lab)], &["-v"]);
    let forged = "FORGED exprobe::serve: check finished check=\"onprem\" status=\"pass\"";
    let target = format!(
        "x%0A{}%1B%5B2J@contoso.com",
        forged.replace(' ', "%20").replace('"', "%22")
    );
    let (status, body) = get(&serve.url(&format!("/probe?target={target}&module=onprem"))).await;
    assert_eq!(status, 200, "{body}");
    let log = serve.wait_log("FORGED", Duration::from_secs(20));
    for line in log.lines() {
        assert!(!line.starts_with("FORGED"), "a forged log line:\n{log}");
        assert!(
            !line.contains('\u{1b}'),
            "a raw ESC in the log: {}",
            line.escape_debug()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_never_overlaps_itself_and_a_hanging_check_delays_no_other() {
    // "slow": each run takes about 2.5 s, scheduled every second.
    let slow_lab = start(slow("ews-onprem-healthy", 500)).await;
    let healthy = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let (hang_port, _held) = hanging_listener();
    let config = format!(
        "[server]\ngrace = \"1s\"\n\n{}\n{}\n{}",
        check_table("slow", &slow_lab, &[("interval", "1")]),
        check_table("healthy", &healthy, &[("interval", "\"1s\"")]),
        hang_table(&healthy, hang_port, &[("interval", "\"1s\"")]),
    );
    // Both labs share the scenario's password.
    let dir = tempfile::tempdir().expect("dir");
    let mut serve = Serve::start(
        dir.path(),
        &config,
        &[env_for("slow", &slow_lab), env_for("healthy", &healthy)],
        &[],
    );
    let text = wait_metric(
        &serve,
        r#"exprobe_check_runs_total{check="healthy",result="pass"}"#,
        4.0,
        Duration::from_secs(30),
    )
    .await;
    // The hanging check is still in its first run; the healthy one went on.
    assert_eq!(
        sample(&text, r#"exprobe_check_running{check="hang"}"#),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains(r#"exprobe_check_runs_total{check="hang""#), "{text}");
    let text = wait_metric(
        &serve,
        r#"exprobe_check_skipped_runs_total{check="slow"}"#,
        1.0,
        Duration::from_secs(30),
    )
    .await;
    let slow_runs: f64 = ["pass", "warn", "fail", "error"]
        .iter()
        .filter_map(|r| {
            sample(
                &text,
                &format!(r#"exprobe_check_runs_total{{check="slow",result="{r}"}}"#),
            )
        })
        .sum();
    assert!(slow_runs >= 1.0, "{text}");
    assert_eq!(
        sample(&text, r#"exprobe_check_last_run_status{check="slow"}"#),
        Some(0.0),
        "{text}"
    );
    // Never two runs of "slow" at once: the scheduler logged no start while one ran.
    let log = serve.log();
    assert!(log.contains("scheduled run(s) skipped"), "{log}");
    // A probe of the whole check waits for the scheduled run under way.
    let (status, _) = get(&serve.url("/probe?check=slow")).await;
    assert_eq!(status, 200);
    let log = serve.log();
    assert_no_overlap(&log, "slow");
    assert!(log.contains("check started check=\"slow\" run=\"probe\""), "{log}");

    // SIGTERM: grace 1 s, then the hanging run is interrupted; serve exits 0.
    let (status, took) = serve.terminate();
    assert!(status.success(), "exit {status:?}\n{}", serve.log());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let log = serve.log();
    assert!(
        log.contains("grace period over: interrupting the runs still under way"),
        "{log}"
    );
    assert!(
        log.contains("check=\"hang\" run=\"scheduled\""),
        "the interrupted run is still recorded:\n{log}"
    );
}

/// `serve` with one check, "slow", of a lab answering in 400 ms (a run
/// takes about 2 s), scheduled hourly, with a 20 s grace period.
async fn slow_check_with_grace() -> (Running, tempfile::TempDir, Serve) {
    let lab = start(slow("ews-onprem-healthy", 400)).await;
    let config = format!(
        "[server]\ngrace = \"20s\"\n\n{}",
        check_table("slow", &lab, &[("interval", "\"1h\"")])
    );
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &config, &[env_for("slow", &lab)], &[]);
    (lab, dir, serve)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_run_under_way_finish_within_the_grace_period() {
    let (_lab, _dir, mut serve) = slow_check_with_grace().await;
    wait_metric(
        &serve,
        r#"exprobe_check_running{check="slow"}"#,
        1.0,
        Duration::from_secs(10),
    )
    .await;
    let (status, took) = serve.terminate();
    assert!(status.success());
    let log = serve.log();
    let shutdown = log.find("shutting down").expect("shutdown logged");
    let finished = log
        .find("check finished check=\"slow\"")
        .unwrap_or_else(|| panic!("{log}"));
    assert!(finished > shutdown, "the run finished after SIGTERM:\n{log}");
    assert!(log.contains("status=\"pass\""), "and it finished whole:\n{log}");
    assert!(!log.contains("grace period over"), "{log}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_a_probe_received_before_it() {
    // SIGTERM comes while a /probe run is under way.
    let (_lab, _dir, mut serve) = slow_check_with_grace().await;
    // The scheduled first run, then the probe.
    wait_metric(
        &serve,
        r#"exprobe_check_runs_total{check="slow",result="pass"}"#,
        1.0,
        Duration::from_secs(20),
    )
    .await;
    let probe = tokio::spawn(get(serve.url("/probe?check=slow").leak()));
    wait_metric(
        &serve,
        r#"exprobe_check_running{check="slow"}"#,
        1.0,
        Duration::from_secs(10),
    )
    .await;
    let (status, _) = tokio::task::block_in_place(|| serve.terminate());
    assert!(status.success());
    let (code, body) = probe.await.expect("probe task");
    assert_eq!(
        code,
        200,
        "the probe under way at SIGTERM was answered:\n{body}\n{}",
        serve.log()
    );
    assert!(body.contains("exprobe_probe_success"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_are_bounded_by_probe_concurrency() {
    // One probe holds the only permit (its check hangs until its deadline);
    // a second probe, of another check, is refused when its scrape timeout is up.
    let lab = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let (hang_port, _held) = hanging_listener();
    let config = format!(
        "[server]\nprobe-concurrency = 1\n\n{}\n{}",
        hang_table(&lab, hang_port, &[]),
        check_table("onprem", &lab, &[])
    );
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &config, &[env_for("onprem", &lab)], &[]);
    let probe = |path: String, timeout: &'static str| async move {
        let started = Instant::now();
        let r = client()
            .get(path)
            .header("X-Prometheus-Scrape-Timeout-Seconds", timeout)
            .send()
            .await
            .expect("GET");
        (
            r.status().as_u16(),
            r.text().await.unwrap_or_default(),
            started.elapsed(),
        )
    };
    let holder = tokio::spawn(probe(serve.url("/probe?check=hang"), "20"));
    // The holder has its slot once its run is under way.
    wait_metric(
        &serve,
        r#"exprobe_check_running{check="hang"}"#,
        1.0,
        Duration::from_secs(10),
    )
    .await;
    let (status, body, took) = probe(serve.url("/probe?check=onprem"), "1").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("too many probes under way (probe-concurrency 1)"),
        "{body}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // The HTTP side itself is not held up.
    let started = Instant::now();
    let (_, text) = get(&serve.url("/metrics")).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        sample(&text, r#"exprobe_check_running{check="hang"}"#),
        Some(1.0),
        "{text}"
    );
    // An unscheduled check shows no run until a probe of the whole check ends.
    assert_eq!(
        sample(&text, r#"exprobe_check_interval_seconds{check="onprem"}"#),
        Some(0.0)
    );
    assert!(
        !text.contains(r#"exprobe_check_last_run_status{check="onprem"}"#),
        "{text}"
    );
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_metrics_reports_probes_or_logs() {
    // The lab's password, the scrape token and a client secret are canaries.
    let lab = start(Scenario::builtin("ews-impersonation-denied").expect("scenario")).await;
    let pw = password(&lab);
    let token = "scrape-token-canary-7f3a9b";
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("token"), format!("{token}\n")).expect("token");
    // An app check too: its client secret is a canary as well.
    let app = start(Scenario::builtin("online-app-healthy").expect("scenario")).await;
    let secret = password(&app);
    assert!(secret.len() >= 12 && secret != pw);
    let config = format!(
        "[server]\nper-mailbox-series = true\nper-mailbox-cap = 1\n[server.auth]\nbearer-token-file = \"token\"\n\n{}\n{}",
        check_table("denied", &lab, &[("interval", "\"1s\"")]),
        check_table("app", &app, &[("interval", "\"1s\"")])
    );
    let mut serve = Serve::start(
        dir.path(),
        &config,
        &[env_for("denied", &lab), env_for("app", &app)],
        &["-vv"],
    );
    // Without the token: 401 with a challenge; health stays open.
    let r = client().get(serve.url("/metrics")).send().await.expect("GET");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"exprobe\"");
    let r = client()
        .get(serve.url("/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(get(&serve.url("/-/healthy")).await.0, 200);
    let authed = |path: &str| {
        let url = serve.url(path);
        async move {
            let r = client().get(url).bearer_auth(token).send().await.expect("GET");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let end = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let (status, text) = authed("/metrics").await;
        assert_eq!(status, 200);
        // Both checks have finished a run (they run side by side).
        if text.contains(r#"code="impersonation.denied""#)
            && text.contains(r#"exprobe_check_last_run_status{check="app"}"#)
        {
            break text;
        }
        assert!(Instant::now() < end, "{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        metrics.contains(r#"exprobe_check_last_run_status{check="denied"} 2"#),
        "{metrics}"
    );
    // Per-mailbox series, asked for and capped at one per check: the failing one first.
    let denied_series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with(r#"exprobe_mailbox_status{check="denied","#))
        .collect();
    assert_eq!(denied_series.len(), 1, "{metrics}");
    assert!(denied_series[0].ends_with(" 2"), "{metrics}");
    assert_eq!(
        sample(&metrics, r#"exprobe_mailbox_series_dropped{check="denied"}"#),
        Some(1.0),
        "{metrics}"
    );
    let (_, report) = authed("/checks/denied").await;
    let (_, app_report) = authed("/checks/app").await;
    assert!(app_report.contains("\"auth\": \"app\""), "{app_report}");
    let mailbox = lab.lab.scenario().check.mailboxes[0].clone();
    let (_, probe) = authed(&format!("/probe?target={mailbox}&module=denied")).await;
    serve.terminate();
    let log = serve.log();
    assert!(log.contains("sending"), "-vv logs the requests:\n{log}");
    for (what, text) in [
        ("metrics", &metrics),
        ("report", &report),
        ("app report", &app_report),
        ("probe", &probe),
        ("log", &log),
    ] {
        assert!(!text.contains(&pw), "the password reached the {what}");
        assert!(!text.contains(&secret), "the client secret reached the {what}");
        assert!(!text.contains(token), "the scrape token reached the {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_protection_and_tls_on_the_http_side() {
    let lab = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let dir = tempfile::tempdir().expect("dir");
    // A self-signed certificate for 127.0.0.1.
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    std::fs::write(dir.path().join("cert.pem"), cert.pem()).expect("cert");
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).expect("key");
    std::fs::write(dir.path().join("scrape-pw"), "hunter2-canary\n").expect("pw");
    let config = format!(
        "[server]\n[server.auth]\nbasic-user = \"prometheus\"\nbasic-password-file = \"scrape-pw\"\n[server.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\n{}",
        check_table("onprem", &lab, &[])
    );
    let serve = Serve::start(dir.path(), &config, &[env_for("onprem", &lab)], &[]);
    assert!(serve.addr.starts_with("https://"), "{}", serve.addr);
    let tls = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).expect("root"))
        .build()
        .expect("client");
    let r = tls.get(serve.url("/metrics")).send().await.expect("GET over TLS");
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap_or("")
        .starts_with("Basic realm=\"exprobe\""));
    let r = tls
        .get(serve.url("/metrics"))
        .basic_auth("prometheus", Some("hunter2-canary"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    let r = tls
        .get(serve.url("/metrics"))
        .basic_auth("prometheus", Some("wrong"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 401);
    // Plain HTTP to the TLS port gets nothing useful.
    let plain = client()
        .get(serve.url("/metrics").replace("https://", "http://"))
        .send()
        .await;
    assert!(plain.map(|r| r.status().as_u16() != 200).unwrap_or(true));
    assert!(!serve.log().contains("hunter2-canary"));
}

/// `exprobe serve --config F --check-config` on `text`.
fn check_config(text: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_exprobe"));
    cmd.args(["serve", "--check-config", "--config"])
        .arg(&path)
        .current_dir(dir.path())
        .env_remove("EXPROBE_PASSWORD")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (
        out.status.code().unwrap_or(-1),
        stderr.replace(&path.display().to_string(), "bad.toml"),
    )
}

#[test]
fn configuration_errors_name_the_file_line_column_and_key_and_exit_3() {
    const GOOD: &str = "[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"]\nauth = \"none\"\n";
    let cases: &[(&str, &str, &str)] = &[
        ("[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"]\nservice-acount = \"svc@contoso.com\"\n", "bad.toml:4:1: `service-acount`: unknown key; did you mean `service-account`", ""),
        ("[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"]\npassword = \"Canary-Pa55\"\n", "bad.toml:4:1: `password`: secrets are never written in the configuration", "Canary-Pa55"),
        ("[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"]\nauth = \"kerberos-canary\"\n", "bad.toml:4:1: `auth`: invalid value; possible values: basic, ntlm, token, app", "kerberos-canary"),
        ("[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"]\nservice-account = \"svc@contoso.com\"\npassword-env = \"SVC_PW_UNSET\"\n", "bad.toml:5:1: `password-env`: SVC_PW_UNSET: the variable is not set", ""),
        ("[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"]\ninterval = \"soon\"\nauth = \"none\"\n", "bad.toml:4:1: `interval`: expected a duration", ""),
        ("[[check]]\nname = \"c\"\nauth = \"none\"\n", "bad.toml:1:1: check \"c\": no mailbox", ""),
        ("[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"]\nauth = \"none\"\n[[check]]\nname = \"c\"\nmailboxes = [\"bob@contoso.com\"]\nauth = \"none\"\n", "bad.toml:6:1: `name`: a second check named \"c\"", ""),
        ("[server]\nlisten = \"everywhere\"\n", "bad.toml:2:1: `listen`: expected IP:PORT", "everywhere"),
        ("[server]\nprobe-concurrency = 0\n[[check]]\nname = \"c\"\n", "bad.toml:2:1: `probe-concurrency`: expected a whole number from 1 to 64", ""),
        ("[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"]\nformat = \"json\"\n", "bad.toml:4:1: `format`: not a serve setting", ""),
        ("[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"\n", "bad.toml:4:1: invalid array", ""),
        ("[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"]\nconcurrency = 999\n", "bad.toml:4:1: `concurrency`: invalid value", ""),
        ("[[check]]\nname = \"c\"\nmailboxes = [\"alice@contoso.com\"]\nauth = \"none\"\naccept = [\"impersonation.denid\"]\n", "bad.toml:5:1: `accept`:", ""),
        ("[server]\n[server.auth]\nbearer-token = \"Canary-T0ken\"\n", "bad.toml:3:1: `bearer-token`: secrets are never written", "Canary-T0ken"),
        ("[[check]]\nname = \"has space\"\n", "bad.toml:2:1: `name`: a name of 1 to 64", ""),
        ("", "no check: add at least one `[[check]]` table", ""),
    ];
    for (text, expected, never) in cases {
        let (code, stderr) = check_config(text, &[]);
        assert_eq!(code, 3, "{text}\n{stderr}");
        assert!(stderr.contains(expected), "{text}\nexpected {expected:?} in:\n{stderr}");
        if !never.is_empty() {
            assert!(!stderr.contains(never), "the value was repeated:\n{stderr}");
        }
    }
    let (code, out) = check_config(GOOD, &[]);
    assert_eq!(code, 0, "{out}");
}

/// `--check-config` reads what the files hold and never repeats a value
/// that may be a secret: a password file's wrong path, a password file
/// named as the mailbox file, a secret pasted into `mailboxes`, a CA file
/// without a certificate.
#[test]
fn check_config_validates_file_contents_and_never_echoes_a_possible_secret() {
    let dir = tempfile::tempdir().expect("dir");
    let secret_file = dir.path().join("svc-password.txt");
    std::fs::write(&secret_file, "Hunter2-Canary-Pw\n").expect("write");
    let no_cert = dir.path().join("ca.pem");
    std::fs::write(
        &no_cert,
        "-----BEGIN PRIVATE KEY-----\nTm90QUNlcnQ=\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let file = secret_file.display().to_string();
    let ca = no_cert.display().to_string();
    let head = "[[check]]\nname = \"c\"\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{head}mailboxes = [\"alice@contoso.com\"]\nservice-account = \"svc@contoso.com\"\npassword-file = \"Pasted-Secret-Canary\"\n"),
            "cannot read the password file named by `password-file` (the path is not repeated",
            "Pasted-Secret-Canary",
        ),
        (
            format!("{head}mailbox-file = {file:?}\nauth = \"none\"\n"),
            "mailbox 1 of 1 is not an email address",
            "Hunter2-Canary-Pw",
        ),
        (
            format!("{head}mailboxes = [\"alice@contoso.com\", \"Pasted-Secret-Canary\"]\nauth = \"none\"\n"),
            "mailbox 2 of 2 is not an email address",
            "Pasted-Secret-Canary",
        ),
        (
            format!("{head}mailboxes = [\"alice@contoso.com\"]\nauth = \"none\"\nca-file = {ca:?}\n"),
            "no PEM certificate",
            "Tm90QUNlcnQ",
        ),
    ];
    for (text, expected, never) in &cases {
        let (code, stderr) = check_config(text, &[]);
        assert_eq!(code, 3, "{text}\n{stderr}");
        assert!(stderr.contains(expected), "{text}\nexpected {expected:?} in:\n{stderr}");
        assert!(!stderr.contains(never), "a possible secret was repeated:\n{stderr}");
    }
}

#[test]
fn the_deploy_examples_are_valid() {
    // deploy/checks.toml, with its paths moved into a temporary directory holding real files.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().display().to_string();
    let keys = exprobe::lab::keys::client("app-client").expect("lab key set");
    for (name, body) in [
        ("contoso-users.txt", "alice@contoso.com\nbob@contoso.com\n".to_string()),
        ("svc-sync", "pw\n".to_string()),
        ("app.cert.pem", keys.certificate.to_string()),
        ("app.key.pem", keys.private_key.to_string()),
    ] {
        std::fs::write(dir.path().join(name), body).expect("write");
    }
    let text = std::fs::read_to_string(root.join("checks.toml"))
        .expect("deploy/checks.toml")
        .replace("/run/credentials/exprobe-serve.service", &d)
        .replace("/etc/exprobe", &d);
    let (code, out) = check_config(&text, &[]);
    assert_eq!(code, 0, "{out}");
    // The rules and the scrape config, by promtool.
    if promtool(&["--version"], None).is_some() {
        let out = promtool(
            &[
                "check",
                "rules",
                &root.join("prometheus/exprobe-rules.yml").display().to_string(),
            ],
            None,
        )
        .expect("promtool");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        let out = promtool(
            &[
                "check",
                "config",
                &root.join("prometheus/prometheus.yml").display().to_string(),
            ],
            None,
        )
        .expect("promtool");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs promtool; `None` when it is not installed (and CI does not require it).
fn promtool(args: &[&str], stdin: Option<&str>) -> Option<std::process::Output> {
    let child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) if std::env::var_os("EXPROBE_REQUIRE_PROMETHEUS").is_none() => {
            eprintln!("promtool not installed: skipped (CI sets EXPROBE_REQUIRE_PROMETHEUS=1)");
            return None;
        }
        Err(e) => panic!("promtool: {e}"),
    };
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        std::io::Write::write_all(&mut input, text.as_bytes()).expect("stdin");
    }
    Some(child.wait_with_output().expect("promtool output"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn prom_query(base: &str, query: &str) -> Vec<serde_json::Value> {
    let url = format!(
        "{base}/api/v1/query?query={}",
        url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
    );
    // Prometheus may still be starting: no answer is no result yet.
    let Ok(r) = client().get(url).send().await else {
        return vec![];
    };
    let v: serde_json::Value = r
        .text()
        .await
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_serve_with_the_deploy_config_and_rules() {
    if Command::new("prometheus").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("EXPROBE_REQUIRE_PROMETHEUS").is_none(),
            "prometheus is required here (EXPROBE_REQUIRE_PROMETHEUS) but not installed"
        );
        eprintln!("prometheus not installed: skipped (apt-get install prometheus; CI requires it)");
        return;
    }
    let healthy = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let denied = start(Scenario::builtin("ews-impersonation-denied").expect("scenario")).await;
    let dir = tempfile::tempdir().expect("dir");
    // The probe job's module is the deploy example's check name: here an
    // on-demand check (no schedule competing for its lock).
    let config = format!(
        "[server]\n\n{}\n{}\n{}",
        check_table("contoso-online-app", &healthy, &[]),
        check_table("contoso-onprem", &healthy, &[("interval", "\"1s\"")]),
        check_table("contoso-denied", &denied, &[("interval", "\"1s\"")]),
    );
    let serve = Serve::start(
        dir.path(),
        &config,
        &[
            env_for("contoso-online-app", &healthy),
            env_for("contoso-onprem", &healthy),
            env_for("contoso-denied", &denied),
        ],
        &[],
    );
    let serve_addr = serve.addr.trim_start_matches("http://").to_string();

    // deploy/prometheus/*.yml as they are, with this run's address and intervals.
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    let prom_dir = tempfile::tempdir().expect("dir");
    let mailbox = &healthy.lab.scenario().check.mailboxes[0];
    let yml = std::fs::read_to_string(deploy.join("prometheus.yml"))
        .expect("prometheus.yml")
        .replace("127.0.0.1:9788", &serve_addr)
        // A second target, unknown to the organization: a failing probe.
        .replace(
            r#"targets: ["alice@contoso.com"]"#,
            &format!(r#"targets: ["{mailbox}", "nobody@contoso.com"]"#),
        )
        .replace("scrape_interval: 60s", "scrape_interval: 1s")
        .replace("evaluation_interval: 60s", "evaluation_interval: 1s")
        .replace("scrape_interval: 5m", "scrape_interval: 6s")
        .replace("scrape_timeout: 60s", "scrape_timeout: 5s");
    std::fs::write(prom_dir.path().join("prometheus.yml"), &yml).expect("write");
    std::fs::copy(
        deploy.join("exprobe-rules.yml"),
        prom_dir.path().join("exprobe-rules.yml"),
    )
    .expect("rules");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut prom = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            prom_dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            prom_dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start prometheus");
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let prom_stderr = prom.stderr.take();
    let _prom = Kill(prom);

    // Wait for both checks' series and the probe's, as Prometheus stored them.
    let end = Instant::now() + Duration::from_secs(60);
    let (statuses, probe, alerts) = loop {
        let statuses = prom_query(&base, "exprobe_check_last_run_status").await;
        let probe = prom_query(&base, "exprobe_probe_success").await;
        let alerts: serde_json::Value = match client().get(format!("{base}/api/v1/alerts")).send().await {
            Ok(r) => r
                .text()
                .await
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let n_alerts = alerts["data"]["alerts"].as_array().map_or(0, |a| a.len());
        if statuses.len() == 2 && probe.len() == 2 && n_alerts >= 2 {
            break (statuses, probe, alerts);
        }
        if Instant::now() > end {
            let mut err = String::new();
            if let Some(mut e) = prom_stderr {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!(
                "Prometheus did not get the series: {statuses:?} {probe:?} {alerts}\nserve:\n{}\nprometheus:\n{err}",
                serve.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let value = |r: &serde_json::Value| r["value"][1].as_str().unwrap_or("").to_string();
    let of = |check: &str| {
        statuses
            .iter()
            .find(|r| r["metric"]["check"] == check)
            .map(value)
            .unwrap_or_default()
    };
    assert_eq!(of("contoso-onprem"), "0", "{statuses:?}");
    assert_eq!(of("contoso-denied"), "2", "{statuses:?}");
    // Each probe target is its own instance; the unknown one fails, and the
    // scrape itself still succeeds (up 1).
    let probe_of = |instance: &str| {
        probe
            .iter()
            .find(|r| r["metric"]["instance"] == instance)
            .map(value)
            .unwrap_or_default()
    };
    assert_eq!(probe_of(mailbox), "1", "{probe:?}");
    assert_eq!(probe_of("nobody@contoso.com"), "0", "{probe:?}");
    assert!(probe.iter().all(|r| r["metric"]["job"] == "exprobe-probe"));
    let probe_up = prom_query(&base, r#"up{job="exprobe-probe"}"#).await;
    assert_eq!(probe_up.len(), 2);
    assert!(probe_up.iter().all(|r| value(r) == "1"), "{probe_up:?}");
    let findings = prom_query(&base, r#"exprobe_check_last_run_findings{code="impersonation.denied"}"#).await;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["metric"]["check"], "contoso-denied");
    assert_eq!(findings[0]["metric"]["severity"], "critical");
    assert!(value(&findings[0]).parse::<f64>().unwrap_or(0.0) >= 1.0);
    let runs = prom_query(&base, r#"sum by (check) (exprobe_check_runs_total)"#).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let build = prom_query(&base, "exprobe_build_info").await;
    assert_eq!(build[0]["metric"]["version"], env!("CARGO_PKG_VERSION"));
    let scrapes = prom_query(&base, r#"up{job="exprobe"}"#).await;
    assert_eq!(value(&scrapes[0]), "1");

    // The alert rules were loaded and evaluated: the failing check is
    // pending (for: 30m) and its code is new.
    let rules: serde_json::Value = client()
        .get(format!("{base}/api/v1/rules"))
        .send()
        .await
        .expect("rules")
        .text()
        .await
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .expect("json");
    let loaded: Vec<&serde_json::Value> = rules["data"]["groups"][0]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .collect();
    assert_eq!(loaded.len(), 3, "{rules}");
    for r in &loaded {
        assert_eq!(r["health"], "ok", "{r}");
    }
    let alerts = alerts["data"]["alerts"].as_array().expect("alerts");
    let failing = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "ExprobeCheckFailing")
        .unwrap_or_else(|| panic!("{alerts:?}"));
    assert_eq!(failing["labels"]["check"], "contoso-denied");
    assert_eq!(failing["state"], "pending");
    let new_code = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "ExprobeNewFindingCode" && a["labels"]["code"] == "impersonation.denied")
        .unwrap_or_else(|| panic!("{alerts:?}"));
    assert_eq!(new_code["labels"]["check"], "contoso-denied");
    assert_eq!(new_code["state"], "firing");
    assert!(
        alerts.iter().all(|a| a["labels"]["check"] != "contoso-onprem"),
        "{alerts:?}"
    );
}

/// An app-only EWS check's Graph readiness on /metrics: ready and not, per check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_readiness_is_exposed_per_check() {
    let lab = start(Scenario::builtin("exo-graph-not-ready").expect("scenario")).await;
    let dir = tempfile::tempdir().expect("dir");
    let config = format!(
        "[server]\ngrace = \"5s\"\n\n{}",
        check_table("graph", &lab, &[("interval", "\"60s\""), ("timeout", "\"20s\"")])
    );
    let serve = Serve::start(dir.path(), &config, &[env_for("graph", &lab)], &[]);
    let text = wait_metric(
        &serve,
        r#"exprobe_check_runs_total{check="graph",result="warn"}"#,
        1.0,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        sample(
            &text,
            r#"exprobe_check_last_run_graph_readiness_mailboxes{check="graph",ready="true"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"exprobe_check_last_run_graph_readiness_mailboxes{check="graph",ready="false"}"#
        ),
        Some(1.0),
        "{text}"
    );
}
