//! The one HTTP client: rustls with our roots, hickory resolution with
//! `--connect-to`, no automatic redirects, per-request timeout bounded by the
//! run deadline, bodies capped at 2 MiB, and every exchange recorded as
//! redacted evidence. Credentials go only over https to allowed hosts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::allowed::AllowedHosts;
use super::classify::{classify, NetFailure};
use super::dns::{ConnectResolver, Dns};
use super::evidence::{body_excerpt, redact_headers};
use super::tls::{client_config, TlsSetupError};
use crate::auth::{self, Credentials, HandshakeEnd, Plan};
use crate::config::{ConnectTo, NetConfig};
use crate::report::{Exchange, ExchangeError, RequestRecord, ResponseRecord};

pub const BODY_CAP: usize = 2 * 1024 * 1024;
const USER_AGENT: &str = concat!("exprobe/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: reqwest::Method,
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub credentials: Option<Credentials>,
    /// The body itself carries a secret (a client secret, a password grant).
    pub secret_body: bool,
}

impl HttpRequest {
    pub fn get(url: url::Url) -> Self {
        HttpRequest {
            method: reqwest::Method::GET,
            url,
            headers: vec![],
            body: None,
            credentials: None,
            secret_body: false,
        }
    }

    pub fn post(url: url::Url, content_type: &str, body: Vec<u8>) -> Self {
        HttpRequest {
            method: reqwest::Method::POST,
            url,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Some(body),
            credentials: None,
            secret_body: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub truncated: bool,
    /// How a handshake went (`None`: the request needed none).
    pub handshake: Option<HandshakeEnd>,
}

/// What went wrong in one attempt.
#[derive(Debug)]
enum AttemptError {
    Http(reqwest::Error),
    /// On exprobe's own connection (a handshake's): DNS, connect, TLS, HTTP.
    Connection(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The handshake's messages could not be made (sspi) or the challenge was unreadable.
    Handshake(String),
}

impl From<auth::HandshakeError<AttemptError>> for AttemptError {
    fn from(e: auth::HandshakeError<AttemptError>) -> Self {
        match e {
            auth::HandshakeError::Leg(e) => e,
            auth::HandshakeError::Messages(m) => AttemptError::Handshake(m),
        }
    }
}

impl From<reqwest::Error> for AttemptError {
    fn from(e: reqwest::Error) -> Self {
        AttemptError::Http(e)
    }
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request that produced no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetError {
    pub failure: NetFailure,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.host, self.port, self.failure.describe())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetSetupError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("DNS setup: {0}")]
    Dns(#[from] std::io::Error),
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Shared by every probe of a run.
#[derive(Debug)]
pub struct Net {
    pub dns: Dns,
    tls: rustls::ClientConfig,
    rules: Arc<Vec<ConnectTo>>,
    clients: Mutex<HashMap<u16, reqwest::Client>>,
    timeout: Duration,
    started: Instant,
    deadline: Instant,
    /// Hosts allowed before any probe ran (README, "Security: which hosts
    /// receive credentials"): they also anchor the
    /// trust of autodiscover paths.
    base: AllowedHosts,
    /// EWS hosts named by trusted autodiscover answers.
    learned: RwLock<AllowedHosts>,
    pub insecure: bool,
}

impl Net {
    pub fn new(config: &NetConfig, allowed: AllowedHosts) -> Result<Self, NetSetupError> {
        let tls = client_config(config.ca_pem.as_deref(), config.insecure)?;
        let started = config.started;
        let deadline = started + config.deadline.saturating_sub(config.output_reserve);
        let dns = Dns::new(
            &config.dns_servers,
            config.timeout,
            tokio::time::Instant::from_std(deadline),
        )?;
        Ok(Net {
            dns,
            tls,
            rules: Arc::new(config.connect_to.clone()),
            clients: Mutex::new(HashMap::new()),
            timeout: config.timeout,
            started,
            deadline,
            base: allowed,
            learned: RwLock::new(AllowedHosts::default()),
            insecure: config.insecure,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Time left before the run's deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Allow an EWS host named by a *trusted* autodiscover answer.
    pub fn allow_host(&self, host: &str) {
        if let Ok(mut a) = self.learned.write() {
            a.add_host(host);
        }
    }

    pub fn is_allowed(&self, host: &str) -> bool {
        self.base.allows(host) || self.learned.read().map(|a| a.allows(host)).unwrap_or(false)
    }

    /// Whether `host` was allowed from the start: the mailbox and
    /// service-account domains, `--trust-domain`, hosts named on the command
    /// line. Autodiscover paths that leave this set lose their trust.
    pub fn is_base_allowed(&self, host: &str) -> bool {
        self.base.allows(host)
    }

    fn client_for_port(&self, port: u16) -> Result<reqwest::Client, reqwest::Error> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&port) {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(self.tls.clone())
            .dns_resolver(Arc::new(ConnectResolver {
                dns: self.dns.clone(),
                port,
                rules: self.rules.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(USER_AGENT)
            .build()?;
        clients.insert(port, client.clone());
        Ok(client)
    }

    /// One connection of exprobe's own to `url`'s host (DNS, `--connect-to`
    /// and TLS as for every request), for a handshake that must stay on it.
    async fn open_connection(&self, url: &url::Url, port: u16) -> Result<OneConnection, AttemptError> {
        let boxed = |e: Box<dyn std::error::Error + Send + Sync>| AttemptError::Connection(e);
        if url.scheme() != "https" {
            return Err(AttemptError::Handshake("NTLM is only sent over https".into()));
        }
        let given = url.host_str().unwrap_or("").to_string();
        let host = given.trim_start_matches('[').trim_end_matches(']').to_string();
        let (to_host, mut to_port) = ConnectResolver::route(&self.rules, &host, port);
        // As the pooled client: a port the URL names is kept (see Known limits).
        if let Some(p) = url.port() {
            to_port = p;
        }
        let answer = self.dns.addresses(&to_host).await.map_err(|failure| {
            boxed(Box::new(super::dns::HostLookupError {
                host: to_host.clone(),
                failure,
            }))
        })?;
        let mut last: Option<std::io::Error> = None;
        let mut tcp = None;
        // Every address gets its share of the timeout: one dead server does not
        // keep the others from being tried.
        let share = self.timeout / u32::try_from(answer.addresses.len().max(1)).unwrap_or(1);
        for ip in answer.addresses {
            match tokio::time::timeout(share, tokio::net::TcpStream::connect((ip, to_port))).await {
                Ok(Ok(s)) => {
                    tcp = Some(s);
                    break;
                }
                Ok(Err(e)) => last = Some(e),
                Err(_) => last = Some(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            boxed(Box::new(last.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
            })))
        })?;
        let _ = tcp.set_nodelay(true);
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| boxed(Box::new(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(self.tls.clone()));
        let tls = connector.connect(name, tcp).await.map_err(|e| boxed(Box::new(e)))?;
        let peer = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec());
        let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| boxed(Box::new(e)))?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(OneConnection {
            sender,
            peer,
            // The Host header as the URL gives it (an IPv6 literal keeps its brackets).
            authority: match url.port() {
                Some(p) => format!("{given}:{p}"),
                None => given,
            },
            task,
        })
    }

    /// Why credentials may not go with this request, if they may not
    /// (README, "Security: which hosts receive credentials").
    pub fn credential_policy(&self, url: &url::Url) -> Option<String> {
        if url.scheme() != "https" {
            return Some(format!("credentials are never sent over {}://", url.scheme()));
        }
        let host = url.host_str().unwrap_or("");
        if !self.is_allowed(host) {
            return Some(format!(
                "{host} is not in the set of hosts allowed to receive credentials"
            ));
        }
        None
    }

    /// Send a request whose body carries a secret: the credential policy applies.
    pub async fn send_secret_body(&self, mut request: HttpRequest) -> (Result<HttpResponse, NetError>, Exchange) {
        request.secret_body = true;
        self.send(request).await
    }

    /// Send one request. Always returns the evidence, even when nothing was sent.
    pub async fn send(&self, request: HttpRequest) -> (Result<HttpResponse, NetError>, Exchange) {
        let started_ms = self.elapsed_ms();
        let began = Instant::now();
        let mut headers = request.headers.clone();
        let plan = request.credentials.as_ref().map(Credentials::plan);
        // A handshake adds its own header to each of its requests.
        if let Some(Plan::Header(value)) = &plan {
            headers.push(("Authorization".into(), value.expose().to_string()));
        }
        let record = request_record(&request, &headers);
        let result = match self.refusal(&request) {
            Some(failure) => Err(failure),
            None => self.exchange(&request, &headers, plan.as_ref()).await,
        };
        let duration_ms = ms(began.elapsed());
        match result {
            Err(failure) => {
                let error = ExchangeError {
                    kind: failure.kind().into(),
                    message: failure.describe(),
                };
                let exchange = Exchange {
                    request: record,
                    response: None,
                    error: Some(error),
                    started_ms,
                    duration_ms,
                };
                let error = NetError {
                    failure,
                    host: request.url.host_str().unwrap_or("").to_string(),
                    port: request.url.port_or_known_default().unwrap_or(0),
                };
                (Err(error), exchange)
            }
            Ok(response) => {
                tracing::debug!(status = response.status, url = %request.url, "answered");
                let ct = response.header("content-type").map(str::to_string);
                let exchange = Exchange {
                    request: record,
                    response: Some(ResponseRecord {
                        status: response.status,
                        headers: redact_headers(&response.headers),
                        body_excerpt: body_excerpt(ct.as_deref(), &response.body),
                        body_bytes: response.body.len() as u64,
                        truncated: response.truncated,
                    }),
                    error: None,
                    started_ms,
                    duration_ms,
                };
                (Ok(response), exchange)
            }
        }
    }

    /// Why this request is not sent at all: credentials for a host that may
    /// not have them, or a deadline already passed.
    fn refusal(&self, request: &HttpRequest) -> Option<NetFailure> {
        if request.credentials.is_some() || request.secret_body {
            if let Some(reason) = self.credential_policy(&request.url) {
                tracing::warn!(url = %request.url, %reason, "credentials withheld");
                return Some(NetFailure::RefusedByPolicy { reason });
            }
        }
        self.remaining().is_zero().then_some(NetFailure::Deadline)
    }

    /// The request on the wire (once more if a kept-alive connection had
    /// closed), within the timeout and the deadline; an answer exprobe did
    /// not ask for (a compressed body) is a failure.
    async fn exchange(
        &self,
        request: &HttpRequest,
        headers: &[(String, String)],
        plan: Option<&Plan<'_>>,
    ) -> Result<HttpResponse, NetFailure> {
        let limit = self.timeout.min(self.remaining());
        let port = request.url.port_or_known_default().unwrap_or(0);
        let client = self.client_for_port(port).map_err(|e| classify(&e))?;
        let attempt = || self.attempt(&client, request, headers, plan, port);
        let mut outcome = tokio::time::timeout(limit, attempt()).await;
        // A kept-alive connection the server had already closed: the request
        // met the close, not the server. Once more, on a new connection (the
        // requests exprobe sends only read).
        if matches!(&outcome, Ok(Err(AttemptError::Http(e))) if closed_before_answer(e)) && !self.remaining().is_zero()
        {
            tracing::debug!(url = %request.url, "connection closed before the answer; sending once more");
            outcome = tokio::time::timeout(self.timeout.min(self.remaining()), attempt()).await;
        }
        match outcome {
            Err(_) if limit < self.timeout => Err(NetFailure::Deadline),
            Err(_) => Err(NetFailure::Timeout),
            Ok(Err(AttemptError::Http(e))) => Err(classify(&e)),
            Ok(Err(AttemptError::Connection(e))) => Err(classify(&*e)),
            Ok(Err(AttemptError::Handshake(message))) => Err(NetFailure::Protocol {
                message: format!("NTLM: {message}"),
            }),
            Ok(Ok(response)) => match unasked_encoding(&response) {
                Some(failure) => Err(failure),
                None => Ok(response),
            },
        }
    }

    /// One try: through the pool, or a handshake on a connection of its own.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        request: &HttpRequest,
        headers: &[(String, String)],
        plan: Option<&Plan<'_>>,
        port: u16,
    ) -> Result<HttpResponse, AttemptError> {
        match plan {
            None | Some(Plan::Header(_)) => fetch(client, request, headers, None).await.map_err(AttemptError::from),
            // NTLM authenticates the connection (IIS binds the handshake to
            // it): both its requests go on one connection of exprobe's own,
            // never through a pool that might hand out another.
            Some(Plan::Ntlm { identity, password }) => {
                let mut conn = self.open_connection(&request.url, port).await?;
                let mut leg = HandshakeLeg {
                    conn: &mut conn,
                    request,
                    headers,
                };
                let host = request.url.host_str().unwrap_or("");
                let (answer, end) = auth::ntlm::handshake(&mut leg, identity, password, host).await?;
                Ok(HttpResponse {
                    handshake: Some(end),
                    ..answer
                })
            }
        }
    }
}

/// The request as evidence: headers redacted, a body excerpt, and a
/// handshake's own headers (NEGOTIATE, AUTHENTICATE) as the scheme only.
fn request_record(request: &HttpRequest, headers: &[(String, String)]) -> RequestRecord {
    let content_type = request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone());
    let mut record = RequestRecord {
        method: request.method.to_string(),
        url: request.url.to_string(),
        headers: redact_headers(headers),
        body_excerpt: request
            .body
            .as_deref()
            .filter(|b| !b.is_empty())
            .map(|b| body_excerpt(content_type.as_deref(), b)),
    };
    record
        .headers
        .extend(request.credentials.as_ref().and_then(Credentials::handshake_evidence));
    record
}

/// exprobe sends no Accept-Encoding: a compressed body was not asked for,
/// and is never inflated (no decompression bombs).
fn unasked_encoding(response: &HttpResponse) -> Option<NetFailure> {
    let encoding = response.header("content-encoding")?.trim();
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        return None;
    }
    let encoding: String = encoding.chars().take(40).collect();
    Some(NetFailure::Protocol {
        message: format!(
            "HTTP {} with a body compressed as Content-Encoding: {encoding}, which was not asked for (no Accept-Encoding was sent); the body was not decompressed",
            response.status
        ),
    })
}

/// Response headers as (name, value) pairs, in order.
fn header_pairs(headers: &hyper::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Appends `chunk` up to [`BODY_CAP`]; false when the cap cut it.
fn append_capped(body: &mut Vec<u8>, chunk: &[u8]) -> bool {
    let room = BODY_CAP - body.len();
    if chunk.len() > room {
        body.extend_from_slice(&chunk[..room]);
        return false;
    }
    body.extend_from_slice(chunk);
    true
}

/// One request through the pooled client and its whole (capped) answer.
async fn fetch(
    client: &reqwest::Client,
    request: &HttpRequest,
    headers: &[(String, String)],
    authorization: Option<&str>,
) -> Result<HttpResponse, reqwest::Error> {
    let mut builder = client.request(request.method.clone(), request.url.clone());
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    if let Some(a) = authorization {
        builder = builder.header("Authorization", a);
    }
    if let Some(body) = request.body.clone() {
        builder = builder.body(body);
    }
    tracing::debug!(method = %request.method, url = %request.url, "sending");
    let mut response = builder.send().await?;
    let status = response.status().as_u16();
    let headers = header_pairs(response.headers());
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await? {
        if !append_capped(&mut body, &chunk) {
            truncated = true;
            break;
        }
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
        truncated,
        handshake: None,
    })
}

/// A connection held for one handshake.
struct OneConnection {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    /// The server's certificate (DER), for the channel binding.
    peer: Option<Vec<u8>>,
    authority: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OneConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OneConnection {
    async fn send(
        &mut self,
        request: &HttpRequest,
        headers: &[(String, String)],
        authorization: &str,
    ) -> Result<HttpResponse, AttemptError> {
        use http_body_util::BodyExt as _;
        let boxed = |e: Box<dyn std::error::Error + Send + Sync>| AttemptError::Connection(e);
        let path = match request.url.query() {
            Some(q) => format!("{}?{q}", request.url.path()),
            None => request.url.path().to_string(),
        };
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(path)
            .header("Host", &self.authority)
            .header("User-Agent", USER_AGENT)
            .header("Authorization", authorization);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let body = bytes::Bytes::from(request.body.clone().unwrap_or_default());
        let req = builder
            .body(http_body_util::Full::new(body))
            .map_err(|e| boxed(Box::new(e)))?;
        tracing::debug!(method = %request.method, url = %request.url, "sending");
        self.sender.ready().await.map_err(|e| boxed(Box::new(e)))?;
        let response = self.sender.send_request(req).await.map_err(|e| boxed(Box::new(e)))?;
        let status = response.status().as_u16();
        let headers = header_pairs(response.headers());
        let mut incoming = response.into_body();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| boxed(Box::new(e)))?;
            if let Some(chunk) = frame.data_ref() {
                if !append_capped(&mut body, chunk) {
                    truncated = true;
                    break;
                }
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
            truncated,
            handshake: None,
        })
    }
}

/// One request sent again on one connection, with each `Authorization` a handshake makes.
struct HandshakeLeg<'a> {
    conn: &'a mut OneConnection,
    request: &'a HttpRequest,
    headers: &'a [(String, String)],
}

impl auth::Leg for HandshakeLeg<'_> {
    type Answer = HttpResponse;
    type Error = AttemptError;

    fn send(
        &mut self,
        authorization: &str,
    ) -> impl std::future::Future<Output = Result<HttpResponse, AttemptError>> + Send {
        self.conn.send(self.request, self.headers, authorization)
    }

    fn peer_certificate(&self) -> Option<&[u8]> {
        self.conn.peer.as_deref()
    }
}

impl auth::Answer for HttpResponse {
    fn status(&self) -> u16 {
        self.status
    }

    fn www_authenticate(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The connection closed before an answer began (hyper's "incomplete message").
fn closed_before_answer(err: &reqwest::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return true;
        }
        current = e.source();
    }
    false
}
