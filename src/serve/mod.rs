//! `exprobe serve`: named checks on their own schedules, and an HTTP side for
//! monitoring systems: `/metrics` (Prometheus, OpenMetrics or text 0.0.4),
//! `/probe?check=NAME` or `/probe?target=ADDR&module=NAME` (a run now, like
//! blackbox_exporter), `/checks/NAME` (the last report, `check --format
//! json`'s schema), `/-/healthy` and `/-/ready`.
//!
//! Every run goes through [`crate::engine::drive`], the pipeline `check` uses.
//! A check never overlaps itself (one lock per check, taken by the schedule
//! and by `/probe`); each check has its own task, so one that hangs delays no
//! other; `/probe` runs are bounded by `probe-concurrency`. On SIGTERM no new
//! run starts, runs under way get `grace` to finish, then are interrupted.

pub mod config;
pub mod metrics;
pub mod schedule;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{watch, Semaphore};

use crate::config::ProcessSecrets;
use crate::error::AppError;
use crate::report::sink::Collector;
use crate::report::{OverallStatus, Report};
use config::{CheckSpec, HttpAuth, ServeConfig};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
    /// exprobe could not run the check (a secret file gone, a deadline blown).
    Error,
}

impl Outcome {
    pub fn code(self) -> i64 {
        match self {
            Outcome::Pass => 0,
            Outcome::Warn => 1,
            Outcome::Fail => 2,
            Outcome::Error => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
        }
    }
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub outcome: Outcome,
    pub duration: Duration,
    pub finished_unix: f64,
    pub report: Option<Arc<Report>>,
    /// Why exprobe could not run (never a secret: the config's own messages).
    pub error: Option<String>,
}

/// What `/metrics` shows of a check.
#[derive(Debug, Clone, Default)]
pub struct CheckData {
    pub interval: Option<Duration>,
    pub last: Option<RunRecord>,
    pub running: bool,
    /// Finished runs by outcome.
    pub runs: BTreeMap<&'static str, u64>,
    /// Scheduled runs not started: the previous one was still going.
    pub skipped: u64,
    pub pushback_total: u64,
    /// When the last run started (Unix time; 0: none yet).
    pub last_start_unix: f64,
}

#[derive(Debug)]
struct CheckState {
    spec: CheckSpec,
    /// Held for the whole of a run: a check never overlaps itself.
    run_lock: tokio::sync::Mutex<()>,
    data: std::sync::Mutex<CheckData>,
}

impl CheckState {
    fn data(&self) -> std::sync::MutexGuard<'_, CheckData> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, run: &RunRecord) {
        let mut d = self.data();
        *d.runs.entry(run.outcome.as_str()).or_default() += 1;
        if let Some(r) = &run.report {
            d.pushback_total += r.throttling.iter().map(|t| t.pushed_back).sum::<u64>();
        }
        d.last = Some(run.clone());
    }
}

#[derive(Debug)]
struct Shared {
    config: ServeConfig,
    checks: Vec<CheckState>,
    probes: Semaphore,
    /// Set on SIGTERM: no new run starts, `/-/ready` answers 503.
    draining: watch::Receiver<bool>,
    /// Set when the grace period is over: runs under way are interrupted.
    stop_now: watch::Receiver<bool>,
}

impl Shared {
    fn check(&self, name: &str) -> Option<&CheckState> {
        self.checks.iter().find(|c| c.spec.name == name)
    }
}

async fn until_set(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            // The sender is gone: nobody will ever set it.
            std::future::pending::<()>().await;
        }
    }
}

/// One run of `spec` (its mailboxes, or `target`), through the check pipeline.
async fn run_once(
    spec: &CheckSpec,
    target: Option<&str>,
    deadline: Duration,
    stop: watch::Receiver<bool>,
) -> RunRecord {
    let started = Instant::now();
    let outcome = async {
        let args = spec.args(target, deadline)?;
        let (config, _) = crate::config::check_config(&args, &ProcessSecrets).map_err(|e| e.to_string())?;
        let mut sink = Collector::new();
        // The run's own deadline bounds it; this bounds a run that ignores it.
        let limit = deadline + Duration::from_secs(10);
        // An interruption stops new mailboxes at once and lets those under way
        // finish (drive's own grace); a run still busy with the organization's
        // steps after that is given up.
        let stopped = {
            let stop = stop.clone();
            async move {
                until_set(stop).await;
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        };
        tokio::select! {
            r = tokio::time::timeout(limit, crate::engine::drive(&config, &mut sink, until_set(stop), None)) => match r {
                Err(_) => Err(format!("the run did not end within {} s", limit.as_secs())),
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(_)) => sink
                    .into_report()
                    .ok_or_else(|| "the run ended without a summary".to_string()),
            },
            _ = stopped => Err("interrupted by the shutdown before it could report".to_string()),
        }
    }
    .await;
    let finished_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let duration = started.elapsed();
    match outcome {
        Ok(report) => RunRecord {
            outcome: match report.status {
                OverallStatus::Pass => Outcome::Pass,
                OverallStatus::Warn => Outcome::Warn,
                OverallStatus::Fail => Outcome::Fail,
            },
            duration,
            finished_unix,
            report: Some(Arc::new(report)),
            error: None,
        },
        Err(error) => RunRecord {
            outcome: Outcome::Error,
            duration,
            finished_unix,
            report: None,
            error: Some(error),
        },
    }
}

fn log_run(name: &str, how: &str, run: &RunRecord) {
    let (mailboxes, failing) = run
        .report
        .as_ref()
        .map_or((0, 0), |r| (r.mailboxes.len(), r.counts.fail));
    match &run.error {
        Some(e) => tracing::warn!(
            check = name,
            run = how,
            status = "error",
            duration_ms = run.duration.as_millis() as u64,
            "check could not run: {e}"
        ),
        None => tracing::info!(
            check = name,
            run = how,
            status = run.outcome.as_str(),
            duration_ms = run.duration.as_millis() as u64,
            mailboxes,
            failing,
            "check finished"
        ),
    }
}

/// The schedule of one check on tokio's clock (see [`schedule::every`]):
/// runs at `interval`, never two at once, the ticks a long run covered skipped.
async fn schedule(shared: Arc<Shared>, index: usize) {
    let state = &shared.checks[index];
    let Some(interval) = state.spec.interval else { return };
    let run = || async {
        let _running = state.run_lock.lock().await;
        if *shared.draining.borrow() {
            return schedule::After::Stop;
        }
        let _running = Running::start(state);
        tracing::info!(check = state.spec.name.as_str(), run = "scheduled", "check started");
        let run = run_once(&state.spec, None, state.spec.timeout, shared.stop_now.clone()).await;
        log_run(&state.spec.name, "scheduled", &run);
        state.record(&run);
        schedule::After::Continue
    };
    let skipped = |missed: u64| {
        state.data().skipped += missed;
        tracing::warn!(
            check = state.spec.name.as_str(),
            missed,
            "the run took longer than the interval: {missed} scheduled run(s) skipped"
        );
    };
    schedule::every(&schedule::TokioClock, interval, shared.draining.clone(), run, skipped).await;
}

type Body = Full<Bytes>;

fn answer(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut b = body.into();
    if !b.ends_with('\n') {
        b.push('\n');
    }
    answer(status, "text/plain; charset=utf-8", b)
}

/// Constant-time comparison of what a client sent with what is expected.
fn same(a: &[u8], b: &[u8]) -> bool {
    let da = ring::digest::digest(&ring::digest::SHA256, a);
    let db = ring::digest::digest(&ring::digest::SHA256, b);
    let mut diff = 0u8;
    for (x, y) in da.as_ref().iter().zip(db.as_ref()) {
        diff |= x ^ y;
    }
    diff == 0
}

fn authorized(auth: &HttpAuth, header: Option<&str>) -> bool {
    let Some(h) = header else { return false };
    let Some((scheme, value)) = h.trim().split_once(' ') else {
        return false;
    };
    match auth {
        HttpAuth::Bearer(token) => {
            scheme.eq_ignore_ascii_case("bearer") && same(value.trim().as_bytes(), token.expose().as_bytes())
        }
        HttpAuth::Basic { user, password } => {
            use base64::Engine as _;
            let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()));
            scheme.eq_ignore_ascii_case("basic") && same(value.trim().as_bytes(), expected.as_bytes())
        }
    }
}

fn query_pairs(req: &Request<hyper::body::Incoming>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn route(shared: Arc<Shared>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    match path.as_str() {
        "/-/healthy" => return text(StatusCode::OK, "exprobe serve is healthy."),
        "/-/ready" => {
            return if *shared.draining.borrow() {
                text(StatusCode::SERVICE_UNAVAILABLE, "exprobe serve is shutting down.")
            } else {
                text(StatusCode::OK, "exprobe serve is ready.")
            }
        }
        _ => {}
    }
    if let Some(auth) = &shared.config.http_auth {
        let header = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !authorized(auth, header) {
            let mut r = text(StatusCode::UNAUTHORIZED, "authentication required");
            let challenge = match auth {
                HttpAuth::Bearer(_) => "Bearer realm=\"exprobe\"",
                HttpAuth::Basic { .. } => "Basic realm=\"exprobe\", charset=\"UTF-8\"",
            };
            r.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static(challenge),
            );
            return r;
        }
    }
    let accept = req
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let openmetrics = metrics::wants_openmetrics(accept.as_deref());
    let content_type = if openmetrics {
        metrics::OPENMETRICS
    } else {
        metrics::TEXT
    };
    match path.as_str() {
        "/" => text(
            StatusCode::OK,
            format!(
                "exprobe serve\n\n/metrics\n/probe?check=NAME\n/probe?target=ADDR&module=NAME\n/checks/NAME\n/-/healthy\n/-/ready\n\nchecks: {}",
                shared.checks.iter().map(|c| c.spec.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
        "/metrics" => {
            let data: Vec<(String, CheckData)> = shared
                .checks
                .iter()
                .map(|c| (c.spec.name.clone(), c.data().clone()))
                .collect();
            let refs: Vec<(&str, &CheckData)> = data.iter().map(|(n, d)| (n.as_str(), d)).collect();
            answer(
                StatusCode::OK,
                content_type,
                metrics::render(&refs, shared.config.per_mailbox_cap, openmetrics),
            )
        }
        "/probe" if req.method() == hyper::Method::HEAD => {
            // A HEAD must not start a run.
            answer(StatusCode::OK, content_type, "")
        }
        "/probe" => probe(&shared, &req, openmetrics, content_type).await,
        p if p.starts_with("/checks/") => {
            let name = &p["/checks/".len()..];
            let Some(state) = shared.check(name) else {
                return text(StatusCode::NOT_FOUND, format!("no check named {name:?}"));
            };
            let last = state.data().last.clone();
            match last {
                Some(RunRecord { report: Some(r), .. }) => {
                    answer(StatusCode::OK, "application/json", crate::report::json::render(&r))
                }
                Some(RunRecord { error: Some(e), .. }) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the last run of {name:?} could not run: {e}"),
                ),
                _ => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("check {name:?} has not finished a run yet"),
                ),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "not found: see /"),
    }
}

/// Prometheus sends its scrape timeout; a probe must answer before it.
fn scrape_timeout(req: &Request<hyper::body::Incoming>) -> Option<Duration> {
    req.headers()
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

async fn probe(
    shared: &Arc<Shared>,
    req: &Request<hyper::body::Incoming>,
    openmetrics: bool,
    content_type: &str,
) -> Response<Body> {
    let q = query_pairs(req);
    let (name, target) = match (q.get("check"), q.get("module"), q.get("target")) {
        (Some(c), None, None) => (c.clone(), None),
        (None, Some(m), Some(t)) => (m.clone(), Some(t.trim().to_string())),
        (None, None, Some(_)) => return text(StatusCode::BAD_REQUEST, "target needs module=NAME (a check's name)"),
        (None, Some(m), None) => (m.clone(), None),
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "use /probe?check=NAME or /probe?target=ADDR&module=NAME",
            )
        }
    };
    let Some(state) = shared.check(&name) else {
        return text(StatusCode::NOT_FOUND, format!("no check named {name:?}"));
    };
    if let Some(t) = &target {
        // Credentials follow a mailbox's domain (autodiscover): only the
        // check's own domains, or those it names, may be probed.
        if !state.spec.target_allowed(t) {
            tracing::warn!(
                check = name.as_str(),
                "probe refused: the target's domain is not one of the check's"
            );
            return text(
                StatusCode::FORBIDDEN,
                format!(
                    "target refused: its domain is not one of check {name:?}'s (its mailboxes' domains and `target-domains`)"
                ),
            );
        }
    }
    if *shared.draining.borrow() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down: no new run starts");
    }
    if target.is_some() && state.spec.writes {
        // A scraper must not choose whose mailbox gets a draft.
        return text(
            StatusCode::FORBIDDEN,
            format!(
                "check {name:?} writes to mailboxes (write-test): probe the whole check (?check=NAME), not a target"
            ),
        );
    }
    // The scrape's timeout bounds the wait and the run, never beyond the check's own.
    let budget = scrape_timeout(req)
        .unwrap_or(state.spec.timeout)
        .min(state.spec.timeout);
    let index = shared.checks.iter().position(|c| c.spec.name == name).unwrap_or(0);
    // The run is its own task: a scraper that hangs up does not cut it short
    // (its mailboxes under way, a draft of the write test) nor leave it marked running.
    let task = tokio::spawn(probe_run(shared.clone(), index, target, budget));
    let run = match task.await {
        Ok(Ok(run)) => run,
        Ok(Err(refusal)) => return text(StatusCode::SERVICE_UNAVAILABLE, refusal),
        Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "the probe's run failed"),
    };
    let mut body = metrics::render_probe(&name, &run, openmetrics);
    if let Some(e) = &run.error {
        // OpenMetrics allows no other comments; the text format shows the
        // reason to a human (exprobe_probe_status 3 says it to machines).
        if !openmetrics {
            body.push_str(&format!(
                "# exprobe could not run the check: {}\n",
                crate::terminal::escape(e)
            ));
        }
    }
    answer(StatusCode::OK, content_type, body)
}

/// Marks a check running for as long as it lives.
struct Running<'a>(&'a CheckState);

impl<'a> Running<'a> {
    fn start(state: &'a CheckState) -> Self {
        let mut d = state.data();
        d.running = true;
        d.last_start_unix = now_unix();
        Running(state)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.data().running = false;
    }
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A `/probe` run: a slot among `probe-concurrency`, the check's lock, the run.
async fn probe_run(
    shared: Arc<Shared>,
    index: usize,
    target: Option<String>,
    budget: Duration,
) -> Result<RunRecord, String> {
    let state = &shared.checks[index];
    let name = &state.spec.name;
    let queue_until = Instant::now() + budget;
    let Ok(Ok(_permit)) = tokio::time::timeout(budget, shared.probes.acquire()).await else {
        return Err(format!(
            "too many probes under way (probe-concurrency {}): try later",
            shared.config.probe_concurrency
        ));
    };
    let left = queue_until.saturating_duration_since(Instant::now());
    let Ok(_lock) = tokio::time::timeout(left, state.run_lock.lock()).await else {
        return Err(format!(
            "check {name:?} is still running and did not finish within the scrape timeout"
        ));
    };
    if *shared.draining.borrow() {
        return Err("shutting down: no new run starts".into());
    }
    // Leave room to answer before the scraper gives up (as blackbox_exporter does).
    let left = queue_until.saturating_duration_since(Instant::now());
    let deadline = state
        .spec
        .timeout
        .min(left.saturating_sub(Duration::from_millis(500)))
        .max(Duration::from_millis(500));
    let own = target.is_none();
    let how = if own { "probe" } else { "probe-target" };
    tracing::info!(check = name.as_str(), run = how, "check started");
    let run = if own {
        let _running = Running::start(state);
        let run = run_once(&state.spec, None, deadline, shared.stop_now.clone()).await;
        state.record(&run);
        run
    } else {
        run_once(&state.spec, target.as_deref(), deadline, shared.stop_now.clone()).await
    };
    log_run(name, how, &run);
    Ok(run)
}

async fn serve_connection<IO>(io: IO, shared: Arc<Shared>, mut closed: watch::Receiver<bool>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(route(shared, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = async { closed.wait_for(|c| *c).await.map(|_| ()) } => {}
    }
    // Shutting down: the request under way (a /probe received before the
    // signal) is answered, then the connection closes; an idle one closes now.
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The TLS side from `[server.tls]`'s files (also what `--check-config` checks).
pub fn tls_acceptor(files: &config::TlsFiles) -> Result<tokio_rustls::TlsAcceptor, AppError> {
    let bad = |what: &str, e: String| AppError::Usage(format!("[server.tls] {what}: {e}"));
    let cert_pem = std::fs::read(&files.cert).map_err(|e| bad(&files.cert.display().to_string(), e.to_string()))?;
    let key_pem = std::fs::read(&files.key).map_err(|e| bad(&files.key.display().to_string(), e.to_string()))?;
    let chain: Vec<rustls::pki_types::CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| bad("cert", e.to_string()))?;
    if chain.is_empty() {
        return Err(bad("cert", "no certificate in the file".into()));
    }
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| bad("key", e.to_string()))?
        .ok_or_else(|| bad("key", "no private key in the file".into()))?;
    let config = rustls::ServerConfig::builder_with_provider(crate::net::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad("cert and key", e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// How long connections may take to answer their request under way once
/// serve closes (a /probe interrupted at the end of the grace period
/// answers within drive()'s 2 s).
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Accepts and serves connections until `closed` is set; then each
/// connection answers the request it is serving and closes (at most
/// [`CLOSE_GRACE`]), and what is left is dropped.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut closed: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = async { closed.wait_for(|c| *c).await.map(|_| ()) } => break,
            accepted = listener.accept() => {
                let tcp = match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::warn!("cannot accept a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let shared = shared.clone();
                let closing = closed.clone();
                match &tls {
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        connections.spawn(async move {
                            if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                                serve_connection(stream, shared, closing).await;
                            }
                        });
                    }
                    None => {
                        connections.spawn(serve_connection(tcp, shared, closing));
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(CLOSE_GRACE, async { while connections.join_next().await.is_some() {} }).await;
    connections.abort_all();
}

/// Runs until SIGTERM; exit 0 after a clean shutdown.
pub async fn run(config: ServeConfig) -> Result<i32, AppError> {
    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| AppError::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
    let local = listener.local_addr().map_err(AppError::Output)?;
    if !local.ip().is_loopback() {
        tracing::warn!(
            "listening on {local}, beyond this machine{}",
            if config.http_auth.is_none() {
                ": anyone who reaches it can read the reports and start runs ([server.auth] protects it)"
            } else {
                ""
            }
        );
    }
    let (draining_tx, draining) = watch::channel(false);
    let (stop_tx, stop_now) = watch::channel(false);
    let shared = Arc::new(Shared {
        probes: Semaphore::new(config.probe_concurrency),
        checks: config
            .checks
            .iter()
            .map(|spec| CheckState {
                spec: spec.clone(),
                run_lock: tokio::sync::Mutex::new(()),
                data: std::sync::Mutex::new(CheckData {
                    interval: spec.interval,
                    ..Default::default()
                }),
            })
            .collect(),
        config,
        draining,
        stop_now,
    });
    // The address actually bound (port 0 picks one): tests and scripts read it here.
    eprintln!(
        "exprobe serve: listening on {}://{local} ({} check(s))",
        if tls.is_some() { "https" } else { "http" },
        shared.checks.len()
    );
    tracing::info!(%local, checks = shared.checks.len(), "serve started");
    let mut schedules = tokio::task::JoinSet::new();
    for i in 0..shared.checks.len() {
        schedules.spawn(schedule(shared.clone(), i));
    }
    // Connections are served until the very end: during the grace period
    // /-/ready says 503 and /metrics still shows the runs finishing.
    let (closed_tx, closed) = watch::channel(false);
    let acceptor = tokio::spawn(accept_loop(listener, tls, shared.clone(), closed));
    crate::engine::interrupted().await;
    let grace = shared.config.grace;
    let under_way: Vec<&str> = shared
        .checks
        .iter()
        .filter(|c| c.data().running)
        .map(|c| c.spec.name.as_str())
        .collect();
    tracing::info!(
        grace_s = grace.as_secs_f64(),
        "shutting down: no new run starts; {} run(s) under way may finish{}",
        under_way.len(),
        if under_way.is_empty() {
            String::new()
        } else {
            format!(" ({})", under_way.join(", "))
        }
    );
    let _ = draining_tx.send(true);
    let waited = tokio::time::timeout(grace, async {
        while schedules.join_next().await.is_some() {}
        // Probes under way hold a permit each.
        let _all = shared.probes.acquire_many(shared.config.probe_concurrency as u32).await;
    })
    .await;
    if waited.is_err() {
        tracing::warn!("grace period over: interrupting the runs still under way");
        let _ = stop_tx.send(true);
        // drive() gives mailboxes under way two more seconds after an interruption.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while schedules.join_next().await.is_some() {}
        })
        .await;
    }
    let _ = closed_tx.send(true);
    let _ = acceptor.await;
    tracing::info!("serve stopped");
    eprintln!("exprobe serve: stopped");
    Ok(0)
}
