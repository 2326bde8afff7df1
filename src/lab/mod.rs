//! The lab: a simulated organization on loopback (DNS, HTTPS, HTTP) driven by
//! a scenario's model, used by `demo`, `lab serve` and the tests.

mod access;
mod auth;
mod autodiscover;
pub mod certs;
mod device;
pub mod dns;
pub mod entra;
mod ews;
mod graph;
pub mod keys;
mod mailstore;
mod response;
pub mod scenario;
mod server;
mod switches;

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_server::ServerFuture;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use crate::config::{AppCredential, AppCredentials, CheckConfig, DelegatedCredentials, DelegatedGrant};
use crate::secret::Secret;
pub use scenario::{Scenario, ScenarioError};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("the lab only binds loopback addresses, not {0}")]
    NotLoopback(IpAddr),
    #[error("lab: cannot bind {what}: {source}")]
    Bind { what: &'static str, source: std::io::Error },
    #[error(transparent)]
    Certs(#[from] certs::CertError),
    #[error("lab: cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// A request as the lab received it (credentials included: lab use only).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordedRequest {
    pub at_ms: u64,
    pub scheme: String,
    pub host: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
pub struct Recorder {
    requests: Mutex<Vec<RecordedRequest>>,
    file: Option<Mutex<std::fs::File>>,
}

impl Recorder {
    fn record(&self, r: RecordedRequest) {
        if let Some(f) = &self.file {
            if let (Ok(mut f), Ok(line)) = (f.lock(), serde_json::to_string(&r)) {
                let _ = writeln!(f, "{line}");
            }
        }
        if let Ok(mut list) = self.requests.lock() {
            list.push(r);
        }
    }
}

#[derive(Debug)]
pub struct LabState {
    pub scenario: Arc<Scenario>,
    certs: certs::LabCertificates,
    recorder: Recorder,
    started: Instant,
    ews_in_flight: std::sync::atomic::AtomicU32,
    ews_impersonations: std::sync::atomic::AtomicU32,
    tokens: entra::TokenIssuer,
    graph_calls: std::sync::atomic::AtomicU32,
    /// Requests each `[[responses]]` rule matched so far (for `nth`, `first`).
    response_hits: Vec<std::sync::atomic::AtomicU64>,
    /// The day the lab's Exchange Online lives on, when a test pins it (else the clock's).
    pinned_today: Mutex<Option<time::Date>>,
    /// Device codes handed out by the lab's Entra ID.
    device_flows: device::DeviceFlows,
}

impl LabState {
    /// The lab's day: pinned, or the clock's (so `faketime` moves it).
    pub fn today(&self) -> time::Date {
        self.pinned_today
            .lock()
            .ok()
            .and_then(|d| *d)
            .unwrap_or_else(crate::ews_timeline::today)
    }

    pub fn phase(&self) -> crate::ews_timeline::Phase {
        crate::ews_timeline::Phase::on(self.today())
    }
}

/// A running lab. Dropping it stops every listener.
#[derive(Debug)]
pub struct Lab {
    state: Arc<LabState>,
    pub https_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub dns_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
    /// Files a check of this lab reads (the CA, client certificates), removed on drop.
    files: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = std::fs::remove_dir_all(&self.files);
    }
}

/// The variable [`Lab::check_config`]'s arguments name for the secret.
const LAB_SECRET_ENV: &str = "EXPROBE_LAB_SECRET";

/// The lab's secret, under [`LAB_SECRET_ENV`] only.
struct LabSecrets(Option<Secret>);

impl crate::config::SecretSource for LabSecrets {
    fn env(&self, name: &str) -> Option<String> {
        (name == LAB_SECRET_ENV)
            .then(|| self.0.as_ref().map(|s| s.expose().to_string()))
            .flatten()
    }
    fn stdin_line(&self) -> std::io::Result<String> {
        Err(std::io::Error::other("the lab gives no secret on stdin"))
    }
}

async fn bind_tcp(ip: IpAddr, what: &'static str) -> Result<TcpListener, LabError> {
    TcpListener::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(|source| LabError::Bind { what, source })
}

/// DNS over UDP and TCP on the same port number, as resolvers expect. The
/// system picks the UDP port; the same TCP port may be taken, so retry.
async fn bind_dns(ip: IpAddr) -> Result<(UdpSocket, TcpListener, SocketAddr), LabError> {
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(|source| LabError::Bind {
                what: "the DNS port (udp)",
                source,
            })?;
        let addr = udp.local_addr().map_err(|source| LabError::Bind {
            what: "the DNS port",
            source,
        })?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp, addr)),
            Err(e) => last = Some(e),
        }
    }
    Err(LabError::Bind {
        what: "the DNS port (tcp)",
        source: last.unwrap_or_else(|| std::io::Error::other("no port")),
    })
}

impl Lab {
    /// Start the lab on `ip` (loopback only), on ports the system chooses.
    pub async fn start(scenario: Scenario, ip: IpAddr, record_to: Option<PathBuf>) -> Result<Lab, LabError> {
        if !ip.is_loopback() {
            return Err(LabError::NotLoopback(ip));
        }
        let file = match record_to {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .map_err(|source| LabError::Write {
                        path: p.display().to_string(),
                        source,
                    })?,
            )),
            None => None,
        };
        let scenario = Arc::new(scenario);
        let state = Arc::new(LabState {
            scenario: scenario.clone(),
            certs: certs::LabCertificates::new(scenario.pinned_today())?,
            recorder: Recorder {
                requests: Mutex::default(),
                file,
            },
            started: Instant::now(),
            ews_in_flight: Default::default(),
            ews_impersonations: Default::default(),
            tokens: entra::TokenIssuer::load(),
            graph_calls: Default::default(),
            response_hits: scenario.responses.iter().map(|_| Default::default()).collect(),
            pinned_today: Mutex::new(scenario.pinned_today()),
            device_flows: device::DeviceFlows::default(),
        });
        let https = bind_tcp(ip, "the HTTPS port").await?;
        let http = bind_tcp(ip, "the HTTP port").await?;
        let (udp, dns_tcp, dns_addr) = bind_dns(ip).await?;
        let https_addr = https.local_addr().map_err(|source| LabError::Bind {
            what: "the HTTPS port",
            source,
        })?;
        let http_addr = http.local_addr().map_err(|source| LabError::Bind {
            what: "the HTTP port",
            source,
        })?;

        let mut dns_server = ServerFuture::new(dns::LabDns::new(&scenario, ip));
        dns_server.register_socket(udp);
        dns_server.register_listener(dns_tcp, Duration::from_secs(5));
        let tasks = vec![
            tokio::spawn(server::serve_https(https, state.clone())),
            tokio::spawn(server::serve_http(http, state.clone())),
            tokio::spawn(async move {
                let _ = dns_server.block_until_done().await;
            }),
        ];
        static LABS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let files = std::env::temp_dir().join(format!(
            "exprobe-lab-{}-{}",
            std::process::id(),
            LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        Ok(Lab {
            files,
            state,
            https_addr,
            http_addr,
            dns_addr,
            tasks,
        })
    }

    pub fn scenario(&self) -> &Scenario {
        &self.state.scenario
    }

    /// Pins the lab's day (tests of a phase of Exchange Online's EWS);
    /// [`Lab::check_config`] then judges by the same day.
    pub fn pin_today(&self, day: time::Date) {
        if let Ok(mut d) = self.state.pinned_today.lock() {
            *d = Some(day);
        }
    }

    /// The lab's day (see [`Lab::pin_today`]).
    pub fn today(&self) -> time::Date {
        self.state.today()
    }

    pub fn ca_pem(&self) -> String {
        self.state.certs.ca_pem()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state
            .recorder
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Delegated credentials for `refresh-token` / `password-grant` scenarios.
    pub fn delegated_credentials(&self) -> Option<DelegatedCredentials> {
        let s = self.scenario();
        let mode = s.check.auth.as_deref()?;
        let sa = s.service_account(s.check.service_account.as_deref()?)?;
        let grant = match mode {
            "refresh-token" => DelegatedGrant::RefreshToken(Secret::new(sa.refresh_token.clone()?)),
            "password-grant" => DelegatedGrant::Password {
                username: sa.address.clone(),
                password: Secret::new(s.check.password.clone().unwrap_or_else(|| sa.password.clone())),
            },
            _ => return None,
        };
        Some(DelegatedCredentials {
            tenant: s.check.tenant.clone()?,
            client_id: s.check.client_id.clone()?,
            client_secret: s.check.client_secret.clone().map(Secret::new),
            grant,
        })
    }

    /// The token a `token`-mode check is given, minted by this lab's Entra ID.
    pub fn given_token(&self) -> Option<Secret> {
        let s = self.scenario();
        let spec = s
            .check
            .token
            .as_ref()
            .filter(|_| s.check.auth.as_deref() == Some("token"))?;
        entra::mint(s, &self.state.tokens, &spec.client_id, &spec.audience, spec.expired).map(Secret::new)
    }

    /// The secret the check sends: the client secret in app scenarios, the
    /// minted token in token scenarios, else `check.password`, else the
    /// service account's password.
    pub fn password(&self) -> Option<Secret> {
        if let Some(app) = self.app_credentials() {
            return match app.credential {
                AppCredential::Secret(s) => Some(s),
                AppCredential::Certificate { .. } => None,
            };
        }
        if let Some(token) = self.given_token() {
            return Some(token);
        }
        if let Some(d) = self.delegated_credentials() {
            return Some(match d.grant {
                DelegatedGrant::RefreshToken(t) => t,
                DelegatedGrant::Password { password, .. } => password,
            });
        }
        if let Some(p) = &self.scenario().check.password {
            return Some(Secret::new(p.clone()));
        }
        let sa = self.scenario().check.service_account.as_deref()?;
        self.scenario()
            .service_account(sa)
            .map(|s| Secret::new(s.password.clone()))
    }

    /// A `check` configuration that targets this lab: the command line of
    /// [`Lab::check_args`], through the same validation as the CLI's.
    pub fn check_config(&self) -> CheckConfig {
        use clap::Parser as _;
        std::fs::create_dir_all(&self.files).expect("the lab's file directory");
        let ca = self.files.join("ca.pem");
        std::fs::write(&ca, self.ca_pem()).expect("write the lab's CA");
        let args = self.check_args(&ca, LAB_SECRET_ENV);
        let cli = crate::cli::Cli::try_parse_from(std::iter::once("exprobe".to_string()).chain(args))
            .expect("the lab's check arguments parse");
        let crate::cli::Command::Check(check) = cli.command else {
            unreachable!("check_args starts with `check`")
        };
        let (mut config, _) = crate::config::check_config(&check, &LabSecrets(self.password()))
            .expect("the lab's check arguments are valid");
        config.today = self.today();
        config
    }

    /// The client credentials the check uses, for `auth = "app"` scenarios.
    pub fn app_credentials(&self) -> Option<AppCredentials> {
        let s = self.scenario();
        if s.check.auth.as_deref() != Some("app") {
            return None;
        }
        let client_id = s.check.client_id.clone()?;
        let credential = match &s.check.certificate {
            Some(name) => {
                let keys = keys::client(name)?;
                let der = rustls_pemfile::certs(&mut keys.certificate.as_bytes())
                    .next()?
                    .ok()?
                    .to_vec();
                AppCredential::Certificate {
                    certificate_der: der,
                    private_key_pem: Secret::new(keys.private_key),
                    pss: s.check.assertion_alg.as_deref() == Some("ps256"),
                }
            }
            None => {
                let secret = s.check.client_secret.clone().or_else(|| {
                    s.app(&client_id)
                        .and_then(|a| a.secrets.iter().find(|x| !x.expired).or(a.secrets.first()))
                        .map(|x| x.value.clone())
                })?;
                AppCredential::Secret(Secret::new(secret))
            }
        };
        Some(AppCredentials {
            tenant: s.check.tenant.clone()?,
            client_id,
            credential,
        })
    }

    /// `check` arguments that target this lab (the password comes from `password_env`).
    pub fn check_args(&self, ca_file: &std::path::Path, password_env: &str) -> Vec<String> {
        let s = self.scenario();
        let mut args = vec!["check".to_string()];
        for m in &s.check.mailboxes {
            args.push(format!("--mailbox={m}"));
        }
        if let Some(d) = self.delegated_credentials() {
            let refresh = matches!(d.grant, DelegatedGrant::RefreshToken(_));
            args.push(format!(
                "--auth={}",
                if refresh { "refresh-token" } else { "password-grant" }
            ));
            args.push(format!("--tenant={}", d.tenant));
            args.push(format!("--client-id={}", d.client_id));
            if let Some(sa) = &s.check.service_account {
                args.push(format!("--service-account={sa}"));
            }
            args.push(format!(
                "--{}-env={password_env}",
                if refresh { "refresh-token" } else { "password" }
            ));
        } else if self.given_token().is_some() {
            args.push("--auth=token".into());
            args.push(format!("--access-token-env={password_env}"));
        } else if let Some(app) = self.app_credentials() {
            args.push("--auth=app".into());
            args.push(format!("--tenant={}", app.tenant));
            args.push(format!("--client-id={}", app.client_id));
            match (&s.check.certificate, ca_file.parent()) {
                // The key set goes beside the CA file, where the check can read it.
                (Some(name), Some(dir)) => {
                    if let Some(k) = keys::client(name) {
                        let cert = dir.join(format!("{name}.cert.pem"));
                        let key = dir.join(format!("{name}.key.pem"));
                        if std::fs::write(&cert, k.certificate).is_ok() && std::fs::write(&key, k.private_key).is_ok() {
                            args.push(format!("--certificate={}", cert.display()));
                            args.push(format!("--private-key={}", key.display()));
                            if let Some(alg) = &s.check.assertion_alg {
                                args.push(format!("--assertion-alg={alg}"));
                            }
                        }
                    }
                }
                _ => args.push(format!("--client-secret-env={password_env}")),
            }
        } else if let Some(sa) = &s.check.service_account {
            args.push(format!("--service-account={sa}"));
            if s.check.auth.as_deref() == Some("ntlm") && self.password().is_some() {
                args.push("--auth=ntlm".into());
            }
            if self.password().is_some() {
                args.push(format!("--password-env={password_env}"));
            } else {
                // Discovery only, on purpose.
                args.push("--auth=none".into());
            }
        }
        if let Some(api) = &s.check.api {
            args.push(format!("--api={api}"));
        }
        if let Some(u) = &s.check.ews_url {
            args.push(format!("--ews-url={u}"));
        }
        if let Some(u) = &s.check.autodiscover_url {
            args.push(format!("--autodiscover-url={u}"));
        }
        if let Some(t) = s.check.timeout {
            args.push(format!("--timeout={t}"));
        }
        if let Some(t) = &s.check.app_home_tenant {
            args.push(format!("--app-home-tenant={t}"));
        }
        if let Some(a) = &s.check.service_account_smtp {
            args.push(format!("--service-account-smtp={a}"));
        }
        if let Some(c) = &s.check.cloud {
            args.push(format!("--cloud={c}"));
        }
        if !s.check.folders.is_empty() {
            args.push(format!("--folders={}", s.check.folders.join(",")));
        }
        if s.check.write_test {
            args.push("--write-test".into());
        }
        if !s.check.graph_calls.is_empty() {
            args.push(format!("--graph-calls={}", s.check.graph_calls.join(",")));
        }
        if let Some(c) = &s.check.connecting_sid {
            args.push(format!("--connecting-sid={c}"));
        }
        args.push(format!("--dns-server={}", self.dns_addr));
        args.push(format!("--connect-to=:443::{}", self.https_addr.port()));
        args.push(format!("--connect-to=:80::{}", self.http_addr.port()));
        args.push(format!("--ca-file={}", ca_file.display()));
        args
    }
}
