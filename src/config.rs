//! What a run needs, validated. Built from the clap types in `cli.rs`; every
//! probe reads only these types.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{AuthArg, CheckArgs};
use crate::cloud::Cloud;
pub use crate::report::format::Format;
use crate::secret::Secret;

/// The tool cannot run with these arguments or inputs (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no mailbox given: use --mailbox ADDR or --mailboxes FILE")]
    NoMailbox,
    #[error("cannot read {what} from {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// A file that should hold a secret: its path is never repeated (it may
    /// be the secret itself, pasted in the wrong place).
    #[error("cannot read the {what} file named by --{flag} (the path is not repeated: it might be the {what} itself): {source}")]
    ReadSecretFile {
        what: &'static str,
        flag: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// How the service account authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    Basic,
    Ntlm,
    Token,
    App,
    RefreshToken,
    PasswordGrant,
    None,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Basic => "basic",
            AuthMode::Ntlm => "ntlm",
            AuthMode::Token => "token",
            AuthMode::App => "app",
            AuthMode::RefreshToken => "refresh-token",
            AuthMode::PasswordGrant => "password-grant",
            AuthMode::None => "none",
        }
    }

    /// Modes that call EWS or Graph with an OAuth token.
    pub fn is_oauth(self) -> bool {
        matches!(
            self,
            AuthMode::App | AuthMode::Token | AuthMode::RefreshToken | AuthMode::PasswordGrant
        )
    }
}

/// How the check authenticates, holding exactly what each mode needs: a
/// mode without its credentials cannot be built.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Discovery only: no credential is sent anywhere.
    None,
    /// The service account's password, sent as Basic.
    Basic { username: String, password: Secret },
    /// The service account's password, proven by NTLM (never sent).
    Ntlm {
        identity: crate::net::ntlm::NtlmIdentity,
        password: Secret,
    },
    /// An access token given by the user, sent as Bearer.
    Token { token: Secret },
    /// App-only OAuth: client credentials.
    App(AppCredentials),
    /// Delegated OAuth: a refresh token or the service account's password (ROPC).
    Delegated(DelegatedCredentials),
}

impl Auth {
    pub fn mode(&self) -> AuthMode {
        match self {
            Auth::None => AuthMode::None,
            Auth::Basic { .. } => AuthMode::Basic,
            Auth::Ntlm { .. } => AuthMode::Ntlm,
            Auth::Token { .. } => AuthMode::Token,
            Auth::App(_) => AuthMode::App,
            Auth::Delegated(d) => match d.grant {
                DelegatedGrant::RefreshToken(_) => AuthMode::RefreshToken,
                DelegatedGrant::Password { .. } => AuthMode::PasswordGrant,
            },
        }
    }

    pub fn is_oauth(&self) -> bool {
        self.mode().is_oauth()
    }

    /// What autodiscover and EWS are called with directly (Basic, or the
    /// given token); OAuth grants get theirs from the token endpoint.
    pub fn credentials(&self) -> Option<Credentials> {
        match self {
            Auth::Basic { username, password } => Some(Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            Auth::Token { token } => Some(Credentials::Bearer { token: token.clone() }),
            Auth::Ntlm { identity, password } => Some(Credentials::Ntlm {
                identity: identity.clone(),
                password: password.clone(),
            }),
            Auth::None | Auth::App(_) | Auth::Delegated(_) => None,
        }
    }

    pub fn app(&self) -> Option<&AppCredentials> {
        match self {
            Auth::App(a) => Some(a),
            _ => None,
        }
    }

    pub fn delegated(&self) -> Option<&DelegatedCredentials> {
        match self {
            Auth::Delegated(d) => Some(d),
            _ => None,
        }
    }

    /// Whether the run holds any credential (password, token, app secret).
    pub fn holds_secret(&self) -> bool {
        !matches!(self, Auth::None)
    }

    /// The tenant named for an OAuth grant.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Auth::App(a) => Some(&a.tenant),
            Auth::Delegated(d) => Some(&d.tenant),
            _ => None,
        }
    }
}

/// Credentials the network layer may attach to a request to an allowed host.
#[derive(Debug, Clone)]
pub enum Credentials {
    Basic {
        username: String,
        password: Secret,
    },
    Bearer {
        token: Secret,
    },
    /// A handshake on one connection (NEGOTIATE, CHALLENGE, AUTHENTICATE).
    Ntlm {
        identity: crate::net::ntlm::NtlmIdentity,
        password: Secret,
    },
}

impl Credentials {
    /// The `WWW-Authenticate` scheme these credentials need.
    pub fn scheme(&self) -> &'static str {
        match self {
            Credentials::Basic { .. } => "Basic",
            Credentials::Bearer { .. } => "Bearer",
            Credentials::Ntlm { .. } => "NTLM",
        }
    }
}

/// `--connect-to HOST:PORT:ADDR:PORT` (curl semantics).
/// Which mailbox APIs are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Ews,
    Graph,
    Both,
}

/// One mailbox API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailApi {
    Ews,
    Graph,
}

impl MailApi {
    pub fn as_str(self) -> &'static str {
        match self {
            MailApi::Ews => "ews",
            MailApi::Graph => "graph",
        }
    }

    /// The resource its tokens are issued for, in `cloud`.
    pub fn resource(self, cloud: Cloud) -> String {
        match self {
            MailApi::Ews => cloud.ews_resource(),
            MailApi::Graph => cloud.graph().to_string(),
        }
    }
}

impl std::fmt::Display for MailApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Api {
    /// The APIs probed.
    pub fn apis(self) -> Vec<MailApi> {
        [MailApi::Ews, MailApi::Graph]
            .into_iter()
            .filter(|a| match a {
                MailApi::Ews => self.ews(),
                MailApi::Graph => self.graph(),
            })
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Api::Ews => "ews",
            Api::Graph => "graph",
            Api::Both => "both",
        }
    }
    pub fn ews(self) -> bool {
        matches!(self, Api::Ews | Api::Both)
    }
    pub fn graph(self) -> bool {
        matches!(self, Api::Graph | Api::Both)
    }
}

/// OAuth client credentials (`--auth app`).
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub tenant: String,
    pub client_id: String,
    pub credential: AppCredential,
}

/// What proves the app's identity.
#[derive(Debug, Clone)]
pub enum AppCredential {
    Secret(Secret),
    /// A certificate (DER) and its private key (PEM): a signed client assertion.
    Certificate {
        certificate_der: Vec<u8>,
        private_key_pem: Secret,
        /// PS256 with `x5t#S256` instead of RS256 with `x5t`.
        pss: bool,
    },
}

/// How a delegated token is obtained for the service account.
#[derive(Debug, Clone)]
pub enum DelegatedGrant {
    RefreshToken(Secret),
    Password { username: String, password: Secret },
}

/// Delegated OAuth (`--auth refresh-token`, `--auth password-grant`).
#[derive(Debug, Clone)]
pub struct DelegatedCredentials {
    pub tenant: String,
    pub client_id: String,
    /// For confidential clients; public clients send none.
    pub client_secret: Option<Secret>,
    pub grant: DelegatedGrant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    /// Empty matches any host.
    pub host: String,
    /// `None` matches any port.
    pub port: Option<u16>,
    /// Empty keeps the original host (resolved as usual).
    pub to_host: String,
    /// `None` keeps the original port.
    pub to_port: Option<u16>,
}

impl ConnectTo {
    pub fn matches(&self, host: &str, port: u16) -> bool {
        (self.host.is_empty() || self.host.eq_ignore_ascii_case(host)) && self.port.is_none_or(|p| p == port)
    }
}

#[derive(Debug, Clone)]
pub struct NetConfig {
    pub dns_servers: Vec<SocketAddr>,
    pub connect_to: Vec<ConnectTo>,
    /// PEM bytes of extra trust roots.
    pub ca_pem: Option<Vec<u8>>,
    pub insecure: bool,
    pub timeout: Duration,
    pub deadline: Duration,
    /// When the run began: `deadline` counts from here (reading the mailbox
    /// list included).
    pub started: std::time::Instant,
    /// Kept free at the end of `deadline` to write the report: no mailbox
    /// starts, and no request is sent, after `deadline - output_reserve`.
    pub output_reserve: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            dns_servers: Vec::new(),
            connect_to: Vec::new(),
            ca_pem: None,
            insecure: false,
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(120),
            started: std::time::Instant::now(),
            output_reserve: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Endpoints {
    pub ews_url: Option<url::Url>,
    pub autodiscover_url: Option<url::Url>,
    /// `--trust-domain`: domains whose hosts may receive credentials after a
    /// cross-domain autodiscover redirect.
    pub trust_domains: Vec<String>,
    pub autodiscover_v2_host: String,
    pub authority: url::Url,
    pub graph_url: url::Url,
    /// `--cloud`: where the defaults above come from, and the EWS token resource.
    pub cloud: Cloud,
}

pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH: &str = "https://graph.microsoft.com";

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            ews_url: None,
            autodiscover_url: None,
            trust_domains: Vec::new(),
            autodiscover_v2_host: "outlook.office365.com".to_string(),
            cloud: Cloud::Global,
            authority: url::Url::parse(DEFAULT_AUTHORITY).expect("constant URL"),
            graph_url: url::Url::parse(DEFAULT_GRAPH).expect("constant URL"),
        }
    }
}

/// Everything `check` needs.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// As given (deduplicated, order kept); the `input` probe validates them.
    pub mailboxes: Vec<String>,
    /// The logon name as given (UPN, `DOMAIN\user` or a bare name): what Basic sends.
    pub service_account: Option<String>,
    /// The service account's SMTP address for identity checks: the UPN given,
    /// or `--service-account-smtp` for a logon name.
    pub service_account_smtp: Option<String>,
    pub auth: Auth,
    pub api: Api,
    pub endpoints: Endpoints,
    pub net: NetConfig,
    pub concurrency: usize,
    /// Lines of the mailbox list refused before any check (too long to be an address).
    pub refused_input: RefusedInput,
    /// `--accept`: codes reported but not counted in the status.
    pub accepted: Vec<String>,
    /// `--app-home-tenant`: the app's own tenant, when it is a vendor's app.
    pub app_home_tenant: Option<String>,
    /// `--graph-calls`: the Graph calls the product needs.
    pub graph_calls: Vec<GraphCallKind>,
    /// `--connecting-sid`: the ConnectingSID forms the product may use.
    pub connecting_sid: ConnectingSid,
    /// `--folders`: the distinguished folders the product syncs.
    pub folders: Vec<&'static str>,
    /// `--write-test`: save and delete a draft in each mailbox.
    pub write_test: bool,
}

/// `--connecting-sid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectingSid {
    /// The product sends PrimarySmtpAddress (exchangelib among them).
    Primary,
    /// The product sends SmtpAddress.
    Smtp,
    /// Not known: SmtpAddress, and PrimarySmtpAddress when the address may be an alias.
    Both,
}

impl ConnectingSid {
    /// How to impersonate `mailbox`, whose primary address autodiscover may have told.
    pub fn plan(self, mailbox: &str, primary: Option<&str>) -> crate::protocol::ews::FormPlan {
        use crate::protocol::ews::{FormPlan, SidForm};
        match (self, primary) {
            (ConnectingSid::Primary, _) => FormPlan::One(SidForm::PrimarySmtpAddress),
            (ConnectingSid::Smtp, _) => FormPlan::One(SidForm::SmtpAddress),
            // The primary address itself: both forms resolve it alike.
            (ConnectingSid::Both, Some(p)) if p.eq_ignore_ascii_case(mailbox) => FormPlan::One(SidForm::SmtpAddress),
            // A known alias: SmtpAddress decides, PrimarySmtpAddress tells what breaks.
            (ConnectingSid::Both, Some(_)) => FormPlan::SmtpThenPrimary,
            // Not known (Autodiscover v2 does not say): PrimarySmtpAddress first,
            // SmtpAddress only when Exchange answers that it is an alias.
            (ConnectingSid::Both, None) => FormPlan::PrimaryThenSmtpIfAlias,
        }
    }
}

/// One Graph call of the `graph.mailbox` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphCallKind {
    Inbox,
    User,
    Calendar,
}

impl GraphCallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GraphCallKind::Inbox => "inbox",
            GraphCallKind::User => "user",
            GraphCallKind::Calendar => "calendar",
        }
    }
}

/// Mailbox-list lines refused while reading: counted, the first few kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RefusedInput {
    pub count: usize,
    pub examples: Vec<RefusedLine>,
    /// Addresses given more than once (ignoring case): each is checked once.
    #[serde(skip)]
    pub duplicates: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefusedLine {
    /// Where it came from: `line` (of the mailbox list) or `--mailbox` (the Nth one).
    pub source: &'static str,
    /// 1-based line number in the list, or position among the --mailbox arguments.
    pub line: usize,
    /// Length of the line (or the CSV field) in bytes.
    pub length: usize,
}

impl RefusedInput {
    const EXAMPLES: usize = 10;

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn push(&mut self, source: &'static str, line: usize, length: usize) {
        self.count += 1;
        if self.examples.len() < Self::EXAMPLES {
            self.examples.push(RefusedLine { source, line, length });
        }
    }

    pub fn describe(&self) -> String {
        let lines: Vec<String> = self
            .examples
            .iter()
            .map(|r| match r.source {
                "line" => format!("line {}: {} characters", r.line, r.length),
                other => format!("{other} #{}: {} characters", r.line, r.length),
            })
            .collect();
        format!(
            "{} input line{} refused: longer than the {MAX_ADDRESS_LEN} characters an address can have ({}{})",
            self.count,
            if self.count == 1 { "" } else { "s" },
            lines.join(", "),
            if self.count > self.examples.len() { ", …" } else { "" }
        )
    }
}

/// RFC 5321's limit on a forward path: no address is longer.
pub const MAX_ADDRESS_LEN: usize = 254;
/// Largest mailbox list read (a million addresses is ~30 MiB).
pub const MAX_LIST_BYTES: u64 = 256 << 20;

impl CheckConfig {
    /// A discovery-only configuration for these mailboxes (used by tests and demo).
    pub fn for_mailboxes(mailboxes: Vec<String>) -> Self {
        CheckConfig {
            mailboxes,
            service_account: None,
            service_account_smtp: None,
            auth: Auth::None,
            api: Api::Ews,
            endpoints: Endpoints::default(),
            net: NetConfig::default(),
            concurrency: 8,
            refused_input: RefusedInput::default(),
            accepted: vec![],
            app_home_tenant: None,
            graph_calls: vec![GraphCallKind::Inbox],
            connecting_sid: ConnectingSid::Both,
            folders: vec!["inbox"],
            write_test: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OutputConfig {
    pub format: Format,
    pub output: Option<PathBuf>,
    pub color: bool,
    pub show_http: bool,
    /// `-v`: every mailbox's steps in a bulk human report.
    pub verbose: bool,
    /// `--warning` / `--critical` for `--format nagios`.
    pub thresholds: crate::report::format::Thresholds,
    /// `--baseline`: the earlier run to compare with.
    pub baseline: Option<PathBuf>,
}

/// `NO_COLOR` present and not empty (no-color.org).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Where secrets come from; injectable so tests need not touch the process environment.
pub trait SecretSource {
    fn env(&self, name: &str) -> Option<String>;
    fn stdin_line(&self) -> std::io::Result<String>;
}

/// The real process environment and stdin.
#[derive(Debug)]
pub struct ProcessSecrets;

impl SecretSource for ProcessSecrets {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn stdin_line(&self) -> std::io::Result<String> {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line)
    }
}

pub const DEFAULT_PASSWORD_ENV: &str = "EXPROBE_PASSWORD";
pub const DEFAULT_ACCESS_TOKEN_ENV: &str = "EXPROBE_ACCESS_TOKEN";
pub const DEFAULT_CLIENT_SECRET_ENV: &str = "EXPROBE_CLIENT_SECRET";
pub const DEFAULT_REFRESH_TOKEN_ENV: &str = "EXPROBE_REFRESH_TOKEN";

pub fn check_config(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<(CheckConfig, OutputConfig), ConfigError> {
    let started = std::time::Instant::now();
    one_reader_of_stdin(args)?;
    thresholds(args)?;
    let (mailboxes, refused_input) = mailboxes(args)?;
    let auth = auth(args, secrets)?;
    let auth_mode = auth.mode();
    let api = api(args, auth_mode)?;
    Ok((
        CheckConfig {
            mailboxes,
            service_account: args.service_account.as_deref().map(|s| s.trim().to_string()),
            service_account_smtp: service_account_smtp(args, auth_mode)?,
            auth,
            api,
            endpoints: endpoints(args)?,
            net: NetConfig {
                started,
                ..net_config(&args.net)?
            },
            concurrency: usize::from(args.concurrency),
            refused_input,
            accepted: accepted(args)?,
            app_home_tenant: app_home_tenant(args, auth_mode)?,
            graph_calls: graph_calls(args),
            connecting_sid: match args.connecting_sid {
                crate::cli::ConnectingSidArg::Primary => ConnectingSid::Primary,
                crate::cli::ConnectingSidArg::Smtp => ConnectingSid::Smtp,
                crate::cli::ConnectingSidArg::Both => ConnectingSid::Both,
            },
            folders: folders(args),
            write_test: args.write_test,
        },
        output(args),
    ))
}

/// `--mailbox` and `--mailboxes`: over-long lines refused and counted,
/// duplicates (ignoring case) dropped, order kept; at least one mailbox.
fn mailboxes(args: &CheckArgs) -> Result<(Vec<String>, RefusedInput), ConfigError> {
    let mut mailboxes: Vec<String> = args.mailboxes.iter().map(|m| m.trim().to_string()).collect();
    let mut refused_input = RefusedInput::default();
    for (i, m) in mailboxes.iter().enumerate() {
        if m.len() > MAX_ADDRESS_LEN {
            refused_input.push("--mailbox", i + 1, m.len());
        }
    }
    mailboxes.retain(|m| m.len() <= MAX_ADDRESS_LEN);
    if let Some(path) = &args.mailboxes_file {
        let deadline = std::time::Duration::try_from_secs_f64(args.net.deadline).unwrap_or(std::time::Duration::MAX);
        let text = read_list(path, deadline)?;
        let list = read_mailbox_list(&text)?;
        mailboxes.extend(list.mailboxes);
        refused_input.count += list.refused.count;
        for r in list.refused.examples {
            if refused_input.examples.len() < RefusedInput::EXAMPLES {
                refused_input.examples.push(r);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    mailboxes.retain(|m| !m.is_empty());
    let given = mailboxes.len();
    mailboxes.retain(|m| seen.insert(m.to_ascii_lowercase()));
    refused_input.duplicates = given - mailboxes.len();
    if mailboxes.is_empty() && refused_input.count > 0 {
        return Err(ConfigError::Invalid(refused_input.describe()));
    }
    if mailboxes.is_empty() {
        return Err(ConfigError::NoMailbox);
    }
    Ok((mailboxes, refused_input))
}

/// Which secrets a command line supplies, for the mode inference.
#[derive(Debug, Clone, Copy, Default)]
pub struct Supplied {
    pub password: bool,
    pub token: bool,
    /// The token was named with `--access-token-env`/`--access-token-file`.
    pub explicit_token: bool,
    pub client_secret: bool,
    pub certificate: bool,
    pub client_id: bool,
}

/// The auth mode: `--auth`, else inferred from what was supplied. The one
/// place the mode is decided (the lab's configurations come through here too).
pub fn auth_mode(given: Option<AuthArg>, supplied: Supplied) -> AuthMode {
    match given {
        Some(AuthArg::Basic) => AuthMode::Basic,
        Some(AuthArg::Ntlm) => AuthMode::Ntlm,
        Some(AuthArg::Token) => AuthMode::Token,
        Some(AuthArg::App) => AuthMode::App,
        Some(AuthArg::RefreshToken) => AuthMode::RefreshToken,
        Some(AuthArg::PasswordGrant) => AuthMode::PasswordGrant,
        Some(AuthArg::None) => AuthMode::None,
        None if (supplied.client_secret || supplied.certificate) && supplied.client_id => AuthMode::App,
        None if supplied.token && supplied.explicit_token => AuthMode::Token,
        None if supplied.password => AuthMode::Basic,
        None if supplied.token => AuthMode::Token,
        None => AuthMode::None,
    }
}

/// Reads the secrets, decides the mode and builds what it needs.
/// `--config FILE`: what a scheduled check keeps in a file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    #[serde(default)]
    accept: Option<AcceptTable>,
}

/// `[accept]` with `codes = [...]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptTable {
    #[serde(default)]
    codes: Vec<String>,
}

fn check_file(path: &Path) -> Result<CheckFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        what: "the configuration",
        path: path.display().to_string(),
        source,
    })?;
    // The position and the message, never the line itself nor a quoted value:
    // a secret file given by mistake must not be echoed.
    toml::from_str(&text).map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("line {line}, column {column}: ")
            })
            .unwrap_or_default();
        ConfigError::Invalid(format!("{}: {at}{}", path.display(), without_quoted(e.message())))
    })
}

/// `text` with what stands between double quotes left out (values a parser quotes).
fn without_quoted(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in text.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// `--accept` and the config file's `[accept]`: catalogue codes only (a typo
/// would accept nothing, silently).
fn accepted(args: &CheckArgs) -> Result<Vec<String>, ConfigError> {
    let mut given: Vec<(String, String)> = args
        .accept
        .iter()
        .map(|c| (c.clone(), "--accept".to_string()))
        .collect();
    if let Some(path) = &args.config {
        let codes = check_file(path)?.accept.map(|a| a.codes).unwrap_or_default();
        given.extend(codes.into_iter().map(|c| (c, format!("{} [accept]", path.display()))));
    }
    let mut out: Vec<String> = vec![];
    for (code, source) in &given {
        let c = code.trim().to_ascii_lowercase();
        if crate::diagnose::catalogue::lookup(&c).is_none() {
            return Err(ConfigError::Invalid(format!(
                "{source} {code:?}: not a diagnosis code (`exprobe explain` lists them)"
            )));
        }
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// The forms of a Windows logon name exprobe accepts for a service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogonName<'a> {
    /// `user@domain`: a UPN, usually also the SMTP address.
    Upn(&'a str),
    /// `DOMAIN\user` (down-level logon name).
    DownLevel { domain: &'a str, user: &'a str },
    /// `user` alone: the server's default domain applies.
    Bare(&'a str),
}

/// Characters Active Directory refuses in a sAMAccountName.
const NOT_IN_LOGON: &[char] = &[
    '"', '/', '\\', '[', ']', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@',
];

/// Parses `--service-account` as one of the [`LogonName`] forms.
pub fn logon_name(s: &str) -> Result<LogonName<'_>, String> {
    let user_ok = |u: &str| {
        !u.is_empty()
            && u.len() <= 104
            && !u.chars().any(|c| c.is_control() || NOT_IN_LOGON.contains(&c))
            && u.trim() == u
    };
    if s.contains('@') {
        return Ok(LogonName::Upn(s));
    }
    if let Some((domain, user)) = s.split_once('\\') {
        let domain_ok = !domain.is_empty()
            && domain.len() <= 15
            && domain.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !domain_ok {
            return Err(format!(
                "{s:?}: the domain part of DOMAIN\\user must be a NetBIOS name (1-15 letters, digits, - _ .)"
            ));
        }
        if !user_ok(user) {
            return Err(format!(
                "{s:?}: the user part of DOMAIN\\user is not a valid logon name"
            ));
        }
        return Ok(LogonName::DownLevel { domain, user });
    }
    if user_ok(s) {
        Ok(LogonName::Bare(s))
    } else {
        Err(format!("{s:?} is neither user@domain, DOMAIN\\user nor a logon name"))
    }
}

/// The service account's SMTP address: `--service-account-smtp`, or the UPN
/// given as `--service-account`. A logon name is checked here; the address
/// itself by the `input` probe (a finding, not an error).
fn service_account_smtp(args: &CheckArgs, mode: AuthMode) -> Result<Option<String>, ConfigError> {
    let smtp = args.service_account_smtp.as_deref().map(|s| s.trim().to_string());
    let Some(account) = args.service_account.as_deref().map(str::trim) else {
        if smtp.is_some() {
            return Err(ConfigError::Invalid(
                "--service-account-smtp describes --service-account, which is missing".into(),
            ));
        }
        return Ok(None);
    };
    match logon_name(account).map_err(|e| ConfigError::Invalid(format!("--service-account {e}")))? {
        LogonName::Upn(upn) => Ok(smtp.or_else(|| Some(upn.to_string()))),
        LogonName::DownLevel { .. } | LogonName::Bare(_) => {
            if mode.is_oauth() {
                return Err(ConfigError::Invalid(format!(
                    "--auth {} signs in to Entra ID, which needs the service account as user@domain (its UPN), not {account:?}",
                    mode.as_str()
                )));
            }
            Ok(smtp)
        }
    }
}

/// `--folders` as EWS distinguished folder ids, each once, in the given order.
fn folders(args: &CheckArgs) -> Vec<&'static str> {
    let mut out = vec![];
    for f in &args.folders {
        let id = match f {
            crate::cli::FolderArg::Inbox => "inbox",
            crate::cli::FolderArg::Calendar => "calendar",
            crate::cli::FolderArg::Contacts => "contacts",
            crate::cli::FolderArg::Tasks => "tasks",
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// `--graph-calls`, each once, in the given order.
fn graph_calls(args: &CheckArgs) -> Vec<GraphCallKind> {
    let mut out = vec![];
    for c in &args.graph_calls {
        let c = match c {
            crate::cli::GraphCallArg::Inbox => GraphCallKind::Inbox,
            crate::cli::GraphCallArg::User => GraphCallKind::User,
            crate::cli::GraphCallArg::Calendar => GraphCallKind::Calendar,
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// `--app-home-tenant`: only for modes that name an app (a client id).
fn app_home_tenant(args: &CheckArgs, mode: AuthMode) -> Result<Option<String>, ConfigError> {
    let Some(t) = &args.app_home_tenant else {
        return Ok(None);
    };
    if !matches!(mode, AuthMode::App | AuthMode::RefreshToken | AuthMode::PasswordGrant) {
        return Err(ConfigError::Invalid(format!(
            "--app-home-tenant needs an OAuth mode with an app (--auth app, refresh-token or password-grant), not --auth {}",
            mode.as_str()
        )));
    }
    let t = t.trim().to_ascii_lowercase();
    if t.is_empty() || t.contains(char::is_whitespace) || t.contains('/') {
        return Err(ConfigError::Invalid(
            "--app-home-tenant: give a tenant id (GUID) or one of the tenant's domains".into(),
        ));
    }
    Ok(Some(t))
}

/// Only one of the inputs may come from stdin.
fn one_reader_of_stdin(args: &CheckArgs) -> Result<(), ConfigError> {
    if args.secrets.password_stdin && args.mailboxes_file.as_deref() == Some(Path::new("-")) {
        return Err(ConfigError::Invalid(
            "--password-stdin and --mailboxes - both read stdin: give the mailboxes in a file, or the password with --password-env VAR or --password-file FILE".into(),
        ));
    }
    Ok(())
}

fn auth(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<Auth, ConfigError> {
    if let Some(id) = args.client_id.as_deref().filter(|id| !is_guid(id)) {
        return Err(ConfigError::Invalid(format!(
            "--client-id {id:?}: expected the app's Application (client) ID, a GUID such as 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f"
        )));
    }
    let password = read_password(args, secrets)?;
    let token = read_token(args, secrets)?;
    let client_secret = read_client_secret(args, secrets)?;
    let mode = auth_mode(
        args.auth,
        Supplied {
            password: password.is_some(),
            token: token.is_some(),
            explicit_token: args.secrets.access_token_env.is_some() || args.secrets.access_token_file.is_some(),
            client_secret: client_secret.is_some(),
            certificate: args.secrets.certificate.is_some(),
            client_id: args.client_id.is_some(),
        },
    );
    let need = |what: &str| ConfigError::Invalid(format!("--auth {} needs {what}", mode.as_str()));
    Ok(match mode {
        // A service account without its password is a forgotten secret, not
        // a discovery-only run: only an explicit --auth none runs without one.
        AuthMode::None if args.auth.is_none() && args.service_account.is_some() => {
            return Err(ConfigError::Invalid(format!(
                "--service-account {} has no password: set {DEFAULT_PASSWORD_ENV}, or give --password-env VAR, --password-file FILE or --password-stdin (--auth none checks discovery only, without credentials)",
                args.service_account.as_deref().unwrap_or("")
            )));
        }
        AuthMode::None => Auth::None,
        AuthMode::Basic => Auth::Basic {
            username: args.service_account.clone().ok_or_else(|| need("--service-account ADDR"))?,
            password: password.ok_or_else(|| {
                need(&format!(
                    "a password: --password-env VAR, --password-file FILE, --password-stdin, or {DEFAULT_PASSWORD_ENV}"
                ))
            })?,
        },
        AuthMode::Ntlm => {
            let account = args.service_account.clone().ok_or_else(|| need("--service-account DOMAIN\\USER|ADDR"))?;
            let identity = crate::net::ntlm::NtlmIdentity::parse(&account, args.ntlm_domain.as_deref().map(str::trim))
                .map_err(|e| ConfigError::Invalid(format!("--service-account for NTLM: {e}")))?;
            Auth::Ntlm {
                identity,
                password: password.ok_or_else(|| {
                    need(&format!(
                        "a password: --password-env VAR, --password-file FILE, --password-stdin, or {DEFAULT_PASSWORD_ENV}"
                    ))
                })?,
            }
        }
        AuthMode::Token => Auth::Token {
            token: token.ok_or_else(|| {
                need(&format!(
                    "an access token: --access-token-env VAR, --access-token-file FILE, or {DEFAULT_ACCESS_TOKEN_ENV}"
                ))
            })?,
        },
        AuthMode::App => Auth::App(AppCredentials {
            tenant: args.tenant.clone().ok_or_else(|| need("--tenant ID|DOMAIN"))?,
            client_id: args.client_id.clone().ok_or_else(|| need("--client-id GUID"))?,
            credential: match (&args.secrets.certificate, &args.secrets.private_key) {
                (Some(cert), Some(key)) => {
                    read_certificate(cert, key, args.secrets.assertion_alg == crate::cli::AssertionAlg::Ps256)?
                }
                _ => AppCredential::Secret(client_secret.ok_or_else(|| {
                    need(&format!(
                        "a client secret (--client-secret-env VAR, --client-secret-file FILE, or {DEFAULT_CLIENT_SECRET_ENV}) or --certificate and --private-key"
                    ))
                })?),
            },
        }),
        AuthMode::RefreshToken | AuthMode::PasswordGrant => {
            let tenant = args.tenant.clone().ok_or_else(|| need("--tenant ID|DOMAIN"))?;
            let client_id = args.client_id.clone().ok_or_else(|| need("--client-id GUID"))?;
            let grant = if mode == AuthMode::RefreshToken {
                DelegatedGrant::RefreshToken(read_refresh_token(args, secrets)?.ok_or_else(|| {
                    need("a refresh token: --refresh-token-env VAR, --refresh-token-file FILE, or EXPROBE_REFRESH_TOKEN")
                })?)
            } else {
                DelegatedGrant::Password {
                    username: args.service_account.clone().ok_or_else(|| need("--service-account ADDR"))?,
                    password: password.ok_or_else(|| {
                        need("a password: --password-env VAR, --password-file FILE, --password-stdin or EXPROBE_PASSWORD")
                    })?,
                }
            };
            Auth::Delegated(DelegatedCredentials {
                tenant,
                client_id,
                client_secret,
                grant,
            })
        }
    })
}

/// `--api`, else both APIs for OAuth grants and EWS otherwise; Graph needs OAuth.
fn api(args: &CheckArgs, mode: AuthMode) -> Result<Api, ConfigError> {
    let api = match (args.api, mode) {
        (Some(crate::cli::ApiArg::Ews), _) => Api::Ews,
        (Some(crate::cli::ApiArg::Graph), _) => Api::Graph,
        (Some(crate::cli::ApiArg::Both), _)
        | (None, AuthMode::App | AuthMode::RefreshToken | AuthMode::PasswordGrant) => Api::Both,
        (None, _) => Api::Ews,
    };
    if api.graph() && matches!(mode, AuthMode::Basic | AuthMode::Ntlm) {
        return Err(ConfigError::Invalid(
            "--api graph needs an OAuth mode (--auth app or --auth token)".into(),
        ));
    }
    Ok(api)
}

/// The URLs and hosts: https only, trust domains that are real domains.
fn endpoints(args: &CheckArgs) -> Result<Endpoints, ConfigError> {
    let cloud = cloud(args);
    Ok(Endpoints {
        ews_url: args
            .ews_url
            .as_deref()
            .map(|u| parse_https_url(u, "--ews-url"))
            .transpose()?,
        autodiscover_url: args
            .autodiscover_url
            .as_deref()
            .map(|u| parse_https_url(u, "--autodiscover-url"))
            .transpose()?,
        trust_domains: args
            .trust_domains
            .iter()
            .map(|d| parse_trust_domain(d))
            .collect::<Result<_, _>>()?,
        autodiscover_v2_host: parse_host(
            args.autodiscover_v2_host.as_deref().unwrap_or(cloud.exchange_host()),
            "--autodiscover-v2-host",
        )?,
        authority: parse_https_url(args.authority.as_deref().unwrap_or(cloud.authority()), "--authority")?,
        graph_url: parse_https_url(args.graph_url.as_deref().unwrap_or(cloud.graph()), "--graph-url")?,
        cloud,
    })
}

/// `--cloud`.
fn cloud(args: &CheckArgs) -> Cloud {
    match args.cloud {
        crate::cli::CloudArg::Global => Cloud::Global,
        crate::cli::CloudArg::UsgovGcchigh => Cloud::UsgovGcchigh,
        crate::cli::CloudArg::UsgovDod => Cloud::UsgovDod,
        crate::cli::CloudArg::China => Cloud::China,
    }
}

fn output(args: &CheckArgs) -> OutputConfig {
    OutputConfig {
        format: args.output.format,
        output: args.output.output.clone(),
        color: !args.output.no_color && !crate::config::no_color_env(),
        show_http: args.output.show_http,
        verbose: false,
        thresholds: crate::report::format::Thresholds {
            warning: args.output.warning.map_or(1, |n| n as usize),
            critical: args.output.critical.map_or(1, |n| n as usize),
        },
        baseline: args.baseline.clone(),
    }
}

/// `--warning` / `--critical` belong to `--format nagios`, warning at most critical.
fn thresholds(args: &CheckArgs) -> Result<(), ConfigError> {
    let o = &args.output;
    if (o.warning.is_some() || o.critical.is_some()) && o.format != Format::Nagios {
        return Err(ConfigError::Invalid(
            "--warning and --critical are thresholds of --format nagios".into(),
        ));
    }
    if let (Some(w), Some(c)) = (o.warning, o.critical) {
        if w > c {
            return Err(ConfigError::Invalid(format!(
                "--warning {w} is above --critical {c}: a run would be critical before it warns"
            )));
        }
    }
    Ok(())
}

fn read_certificate(cert: &Path, key: &Path, pss: bool) -> Result<AppCredential, ConfigError> {
    let pem = std::fs::read(cert).map_err(|source| ConfigError::Read {
        what: "certificate",
        path: cert.display().to_string(),
        source,
    })?;
    let certificate_der = rustls_pemfile::certs(&mut &pem[..])
        .next()
        .and_then(Result::ok)
        .map(|c| c.to_vec())
        .ok_or_else(|| ConfigError::Invalid(format!("--certificate {}: no PEM certificate in it", cert.display())))?;
    let key_pem = std::fs::read_to_string(key).map_err(|source| ConfigError::ReadSecretFile {
        what: "private key",
        flag: "private-key",
        source,
    })?;
    if jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).is_err() {
        return Err(ConfigError::Invalid(format!(
            "--private-key {}: not an RSA private key in PEM",
            key.display()
        )));
    }
    Ok(AppCredential::Certificate {
        certificate_der,
        private_key_pem: Secret::new(key_pem),
        pss,
    })
}

/// Where one kind of secret may come from: `--NAME-env`, `--NAME-file`,
/// stdin (passwords only), or a default variable when that counts.
struct SecretSources<'a> {
    what: &'static str,
    flag: &'static str,
    env: Option<&'a String>,
    file: Option<&'a PathBuf>,
    stdin: bool,
    default_env: Option<&'static str>,
    /// Tokens lose surrounding whitespace; passwords and secrets only a trailing CR.
    trim: bool,
}

/// 8-4-4-4-12 hexadecimal digits.
fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `[A-Za-z_][A-Za-z0-9_]*`, at most 255 characters.
fn is_variable_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 255
}

fn read_secret(src: SecretSources<'_>, secrets: &dyn SecretSource) -> Result<Option<Secret>, ConfigError> {
    let raw = if let Some(var) = src.env {
        if !is_variable_name(var) {
            // Perhaps the secret itself, typed where its variable's name belongs: never repeat it.
            return Err(ConfigError::Invalid(format!(
                "--{}-env takes the name of an environment variable (letters, digits and _), and what was given is not a variable name; it is not shown, in case it is the {} itself",
                src.flag, src.what
            )));
        }
        Some(
            secrets
                .env(var)
                .ok_or_else(|| {
                    // A conventional name (SVC_PW) is repeated; anything else might be
                    // the secret itself typed in the wrong place (`Summer2024`).
                    let conventional = var
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                    ConfigError::Invalid(if conventional {
                        format!("--{}-env {var}: the variable is not set", src.flag)
                    } else {
                        format!(
                            "--{}-env: the variable named there is not set (the name is not repeated: it is not in capitals, and might be the {} itself)",
                            src.flag, src.what
                        )
                    })
                })?,
        )
    } else if let Some(path) = src.file {
        Some(
            std::fs::read_to_string(path).map_err(|source| ConfigError::ReadSecretFile {
                what: src.what,
                flag: file_flag(src.flag),
                source,
            })?,
        )
    } else if src.stdin {
        Some(secrets.stdin_line().map_err(|source| ConfigError::Read {
            what: src.what,
            path: "stdin".into(),
            source,
        })?)
    } else {
        src.default_env.and_then(|v| secrets.env(v))
    };
    let Some(raw) = raw else { return Ok(None) };
    let first = raw.lines().next().unwrap_or("");
    let value = if src.trim {
        first.trim()
    } else {
        first.trim_end_matches('\r')
    };
    if value.is_empty() {
        return Err(ConfigError::Invalid(format!("the {} given is empty", src.what)));
    }
    Ok(Some(Secret::new(value)))
}

/// A secret named by a variable or a file (`serve`'s HTTP protection): the
/// same rules as the check's secrets, never the value in a message.
pub fn read_named_secret(
    what: &'static str,
    flag: &'static str,
    env: Option<&String>,
    file: Option<&PathBuf>,
    secrets: &dyn SecretSource,
) -> Result<Option<Secret>, ConfigError> {
    read_secret(
        SecretSources {
            what,
            flag,
            env,
            file,
            stdin: false,
            default_env: None,
            trim: true,
        },
        secrets,
    )
}

fn read_password(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<Option<Secret>, ConfigError> {
    let s = &args.secrets;
    // The default variable only counts for a run that names a service account:
    // a discovery-only run must not fail because it happens to be set.
    let default_env = args.service_account.is_some().then_some(DEFAULT_PASSWORD_ENV);
    let src = SecretSources {
        what: "password",
        flag: "password",
        env: s.password_env.as_ref(),
        file: s.password_file.as_ref(),
        stdin: s.password_stdin,
        default_env,
        trim: false,
    };
    read_secret(src, secrets)
}

fn read_client_secret(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<Option<Secret>, ConfigError> {
    let s = &args.secrets;
    let default_env = args.client_id.is_some().then_some(DEFAULT_CLIENT_SECRET_ENV);
    let src = SecretSources {
        what: "client secret",
        flag: "client-secret",
        env: s.client_secret_env.as_ref(),
        file: s.client_secret_file.as_ref(),
        stdin: false,
        default_env,
        trim: false,
    };
    read_secret(src, secrets)
}

fn read_refresh_token(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<Option<Secret>, ConfigError> {
    let s = &args.secrets;
    let src = SecretSources {
        what: "refresh token",
        flag: "refresh-token",
        env: s.refresh_token_env.as_ref(),
        file: s.refresh_token_file.as_ref(),
        stdin: false,
        default_env: Some(DEFAULT_REFRESH_TOKEN_ENV),
        trim: true,
    };
    read_secret(src, secrets)
}

fn read_token(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<Option<Secret>, ConfigError> {
    let s = &args.secrets;
    let src = SecretSources {
        what: "access token",
        flag: "access-token",
        env: s.access_token_env.as_ref(),
        file: s.access_token_file.as_ref(),
        stdin: false,
        default_env: Some(DEFAULT_ACCESS_TOKEN_ENV),
        trim: true,
    };
    read_secret(src, secrets)
}

/// The `--…-file` flag of a secret named by its `--…-env` stem.
fn file_flag(stem: &'static str) -> &'static str {
    match stem {
        "password" => "password-file",
        "client-secret" => "client-secret-file",
        "refresh-token" => "refresh-token-file",
        "access-token" => "access-token-file",
        "basic-password" => "basic-password-file",
        "bearer-token" => "bearer-token-file",
        other => other,
    }
}

pub fn net_config(args: &crate::cli::NetArgs) -> Result<NetConfig, ConfigError> {
    let dns_servers = args
        .dns_servers
        .iter()
        .map(|s| parse_dns_server(s))
        .collect::<Result<Vec<_>, _>>()?;
    let connect_to = args
        .connect_to
        .iter()
        .map(|s| parse_connect_to(s))
        .collect::<Result<Vec<_>, _>>()?;
    let ca_pem = match &args.ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|source| ConfigError::Read {
                what: "CA certificates",
                path: path.display().to_string(),
                source,
            })?;
            check_ca_pem(&pem, path)?;
            Some(pem)
        }
        None => None,
    };
    Ok(NetConfig {
        dns_servers,
        connect_to,
        ca_pem,
        insecure: args.insecure,
        timeout: seconds(args.timeout, "--timeout")?,
        deadline: seconds(args.deadline, "--deadline")?,
        started: std::time::Instant::now(),
        output_reserve: Duration::ZERO,
    })
}

/// `--ca-file` must hold at least one PEM certificate, and nothing a PEM
/// reader refuses; checked when the configuration is read (so `serve
/// --check-config` says so), never quoting the file.
fn check_ca_pem(pem: &[u8], path: &Path) -> Result<(), ConfigError> {
    let shown = crate::terminal::escape(&path.display().to_string()).into_owned();
    let mut found = 0;
    for cert in rustls_pemfile::certs(&mut &pem[..]) {
        match cert {
            Ok(_) => found += 1,
            Err(_) => {
                return Err(ConfigError::Invalid(format!(
                    "--ca-file {shown}: a PEM block cannot be read as a certificate"
                )))
            }
        }
    }
    if found == 0 {
        return Err(ConfigError::Invalid(format!(
            "--ca-file {shown}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file"
        )));
    }
    Ok(())
}

fn seconds(value: f64, flag: &str) -> Result<Duration, ConfigError> {
    if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
        return Err(ConfigError::Invalid(format!(
            "{flag} must be a number of seconds between 0 and 86400, not {value}"
        )));
    }
    Ok(Duration::from_secs_f64(value))
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`.
pub fn parse_dns_server(s: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    s.parse::<SocketAddr>()
        .map_err(|_| ConfigError::Invalid(format!("--dns-server {s:?}: expected IP or IP:PORT")))
}

/// Split on ':' except inside `[...]` (IPv6 literals).
fn split_fields(s: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut depth = 0u32;
    for c in s.chars() {
        match c {
            '[' => {
                depth += 1;
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
            ']' => {
                depth = depth.saturating_sub(1);
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
            ':' if depth == 0 => fields.push(String::new()),
            _ => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

pub fn parse_connect_to(s: &str) -> Result<ConnectTo, ConfigError> {
    let bad = |why: &str| ConfigError::Invalid(format!("--connect-to {s:?}: {why} (HOST:PORT:ADDR:PORT)"));
    let fields = split_fields(s);
    let [host, port, to_host, to_port] = <[String; 4]>::try_from(fields).map_err(|_| bad("expected four fields"))?;
    let port_of = |p: &str| -> Result<Option<u16>, ConfigError> {
        if p.is_empty() {
            Ok(None)
        } else {
            p.parse::<u16>()
                .map(Some)
                .map_err(|_| bad("a port must be a number from 0 to 65535"))
        }
    };
    let strip = |h: &str| h.trim_start_matches('[').trim_end_matches(']').to_string();
    Ok(ConnectTo {
        host: strip(&host),
        port: port_of(&port)?,
        to_host: strip(&to_host),
        to_port: port_of(&to_port)?,
    })
}

fn parse_https_url(s: &str, flag: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(s).map_err(|e| ConfigError::Invalid(format!("{flag} {s:?}: {e}")))?;
    if url.scheme() != "https" {
        return Err(ConfigError::Invalid(format!(
            "{flag} {s:?}: must be https (credentials never go over plain HTTP)"
        )));
    }
    if url.host_str().is_none() {
        return Err(ConfigError::Invalid(format!("{flag} {s:?}: no host")));
    }
    Ok(url)
}

fn parse_host(s: &str, flag: &str) -> Result<String, ConfigError> {
    let h = s.trim().trim_end_matches('.').to_ascii_lowercase();
    if h.is_empty() || h.contains(['/', ':', ' ', '@']) {
        return Err(ConfigError::Invalid(format!("{flag} {s:?}: expected a host name")));
    }
    Ok(h)
}

/// A domain the user trusts with credentials: a DNS name of at least two
/// labels, never a top-level domain or an IP literal.
fn parse_trust_domain(s: &str) -> Result<String, ConfigError> {
    let d = parse_host(s, "--trust-domain")?;
    let labels: Vec<&str> = d.split('.').collect();
    let valid = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && d.len() <= 253
        && !labels.last().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        return Err(ConfigError::Invalid(format!(
            "--trust-domain {s:?}: expected a domain name such as contoso.com (not a top-level domain or an IP address)"
        )));
    }
    if crate::net::allowed::is_public_suffix(&d) {
        return Err(ConfigError::Invalid(format!(
            "--trust-domain {s:?} is a public suffix: it would trust every domain registered under it"
        )));
    }
    Ok(d)
}

/// The mailbox list's text, from a file or stdin (`-`), within the run's
/// deadline and [`MAX_LIST_BYTES`], decoded by [`decode_list`].
fn read_list(path: &Path, deadline: std::time::Duration) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let shown = if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    let read_err = |source| ConfigError::Read {
        what: "mailboxes",
        path: shown.clone(),
        source,
    };
    let source: Box<dyn std::io::Read + Send> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(read_err)?)
    };
    // A pipe that never closes must not outlive --deadline: read on a thread.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = vec![];
        let result = source.take(MAX_LIST_BYTES + 1).read_to_end(&mut bytes).map(|_| bytes);
        let _ = tx.send(result);
    });
    match rx.recv_timeout(deadline) {
        Ok(Ok(bytes)) if bytes.len() as u64 > MAX_LIST_BYTES => Err(ConfigError::Invalid(format!(
            "the mailbox list {shown} is larger than {} MiB",
            MAX_LIST_BYTES >> 20
        ))),
        Ok(Ok(bytes)) => decode_list(bytes, &shown),
        Ok(Err(source)) => Err(read_err(source)),
        Err(_) => Err(ConfigError::Invalid(format!(
            "the mailbox list {shown} was still being read when the deadline ({} s) passed",
            deadline.as_secs_f64()
        ))),
    }
}

/// A mailbox list's bytes as text: UTF-8 (a BOM is dropped), or UTF-16
/// with a BOM (what Windows PowerShell 5's `>` and `Out-File` write).
/// Anything else is refused with the line it fails on, never guessed: a
/// replaced byte would make a mangled address that gets probed.
pub fn decode_list(bytes: Vec<u8>, shown: &str) -> Result<String, ConfigError> {
    let shown = crate::terminal::escape(shown);
    let utf16 = |bytes: &[u8], unit: fn([u8; 2]) -> u16| -> Result<String, ConfigError> {
        let units = bytes.chunks(2).map(|c| unit([c[0], *c.get(1).unwrap_or(&0)]));
        let mut text = String::with_capacity(bytes.len() / 2);
        for c in char::decode_utf16(units) {
            match c {
                Ok(c) => text.push(c),
                Err(_) => {
                    let line = text.matches('\n').count() + 1;
                    return Err(ConfigError::Invalid(format!(
                        "the mailbox list {shown}: line {line} is not valid UTF-16 (an unpaired surrogate); save the list as UTF-8"
                    )));
                }
            }
        }
        if bytes.len() % 2 == 1 {
            let line = text.matches('\n').count() + 1;
            return Err(ConfigError::Invalid(format!(
                "the mailbox list {shown}: line {line} ends in half a UTF-16 character (the file is cut short); save the list as UTF-8"
            )));
        }
        Ok(text)
    };
    let text = match bytes.as_slice() {
        [0xff, 0xfe, rest @ ..] => utf16(rest, u16::from_le_bytes)?,
        [0xfe, 0xff, rest @ ..] => utf16(rest, u16::from_be_bytes)?,
        _ => {
            let mut bytes = bytes;
            if bytes.starts_with(&[0xef, 0xbb, 0xbf]) {
                bytes.drain(..3);
            }
            match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let bytes = e.as_bytes();
                    let valid = &bytes[..e.utf8_error().valid_up_to()];
                    let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                    let column = valid.len() - valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
                    let byte = bytes[valid.len()];
                    return Err(ConfigError::Invalid(format!(
                        "the mailbox list {shown}: line {line} is not valid UTF-8 (byte 0x{byte:02x} at byte {column} of the line); save the list as UTF-8, or as UTF-16 with a byte order mark"
                    )));
                }
            }
        }
    };
    if let Some(at) = text.find('\0') {
        let line = text[..at].matches('\n').count() + 1;
        return Err(ConfigError::Invalid(format!(
            "the mailbox list {shown}: line {line} holds NUL bytes (UTF-16 without a byte order mark?); save the list as UTF-8"
        )));
    }
    Ok(text)
}

/// A mailbox list as read: the candidate addresses (validated later by the
/// `input` probe) and the lines refused outright for their length.
#[derive(Debug, Clone, Default)]
pub struct MailboxList {
    pub mailboxes: Vec<String>,
    pub refused: RefusedInput,
}

/// CSV columns that hold the address, in order of preference (case-insensitive):
/// exprobe's own, then what Exchange PowerShell and Entra exports call it.
const ADDRESS_COLUMNS: &[&str] = &[
    "mailbox",
    "primarysmtpaddress",
    "emailaddress",
    "windowsemailaddress",
    "email",
    "mail",
    "userprincipalname",
    "address",
];

/// One address per line with `#` comments, or CSV with a header naming the
/// address column (`mailbox`, `PrimarySmtpAddress`, `EmailAddress`, `Email`,
/// `UserPrincipalName`, `WindowsEmailAddress`, …): comma, semicolon or tab
/// separated, quoted fields, a BOM, CRLF, and PowerShell's `#TYPE` line.
/// Lines (or CSV fields) longer than an address can be are refused and counted.
pub fn read_mailbox_list(text: &str) -> Result<MailboxList, ConfigError> {
    let mut list = MailboxList::default();
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((first_no, first)) = lines.next() else {
        return Ok(list);
    };
    let unquote = |f: &str| f.trim().trim_matches('"').trim().to_string();
    // A CSV header is short, and names a known column or has separators.
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| first.bytes().filter(|b| b == d).count())
        .filter(|d| first.as_bytes().contains(d));
    let single_column = ADDRESS_COLUMNS.contains(&unquote(first).to_ascii_lowercase().as_str());
    if first.len() <= 4096 && (delimiter.is_some() || single_column) {
        return read_csv(text, first_no, delimiter.unwrap_or(b','), list);
    }
    for (no, l) in std::iter::once((first_no, first)).chain(lines) {
        let l = unquote(l);
        if l.len() > MAX_ADDRESS_LEN {
            list.refused.push("line", no, l.len());
        } else if !l.is_empty() {
            list.mailboxes.push(l);
        }
    }
    Ok(list)
}

/// The CSV whose header is on line `header_no` (1-based) of `text`.
fn read_csv(text: &str, header_no: usize, delimiter: u8, mut list: MailboxList) -> Result<MailboxList, ConfigError> {
    // Start at the header: the lines before it are comments or blank.
    let skip: usize = text.split_inclusive('\n').take(header_no - 1).map(str::len).sum();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(&text.as_bytes()[skip..]);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ConfigError::Invalid(format!("mailboxes CSV: the header cannot be read: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let column = ADDRESS_COLUMNS
        .iter()
        .find_map(|want| header.iter().position(|h| h == want))
        .ok_or_else(|| {
            // Column names are shown only when they look like column names: a
            // secret file given as the list (a password with a comma) is not echoed.
            let names_like = |h: &String| {
                h.len() <= 40 && h.chars().all(|c| c.is_ascii_alphanumeric() || " _-.".contains(c))
            };
            let named = if header.iter().all(names_like) {
                format!(
                    "its header names {}",
                    header.iter().take(8).map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ")
                )
            } else {
                format!(
                    "its first line has {} fields (not shown: they do not look like column names, and might be a secret)",
                    header.len()
                )
            };
            ConfigError::Invalid(format!(
                "mailboxes CSV has no address column: {named}; expected one of mailbox, PrimarySmtpAddress, EmailAddress, WindowsEmailAddress, Email, Mail, UserPrincipalName, Address"
            ))
        })?;
    for record in reader.records() {
        let record = record.map_err(|e| ConfigError::Invalid(format!("mailboxes CSV: {e}")))?;
        let line = header_no - 1 + record.position().map_or(0, |p| p.line() as usize);
        let Some(m) = record.get(column) else { continue };
        if m.len() > MAX_ADDRESS_LEN {
            list.refused.push("line", line, m.len());
        } else if !m.is_empty() && !m.starts_with('#') {
            list.mailboxes.push(m.to_string());
        }
    }
    Ok(list)
}

/// The accepted addresses of [`read_mailbox_list`].
pub fn parse_mailbox_list(text: &str) -> Result<Vec<String>, ConfigError> {
    read_mailbox_list(text).map(|l| l.mailboxes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_table() {
        type Want<'a> = Option<(&'a str, Option<u16>, &'a str, Option<u16>)>;
        let cases: &[(&str, Want)] = &[
            (":443::8443", Some(("", Some(443), "", Some(8443)))),
            (
                "a.com:443:127.0.0.1:9",
                Some(("a.com", Some(443), "127.0.0.1", Some(9))),
            ),
            ("::[::1]:80", Some(("", None, "::1", Some(80)))),
            ("a:b:c:d", None),
            ("a:1:b", None),
            (":99999::1", None),
        ];
        for (input, want) in cases {
            let got = parse_connect_to(input).ok();
            let want = want.map(|(h, p, th, tp)| ConnectTo {
                host: h.into(),
                port: p,
                to_host: th.into(),
                to_port: tp,
            });
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn dns_server_forms() {
        assert_eq!(parse_dns_server("127.0.0.1").ok(), "127.0.0.1:53".parse().ok());
        assert_eq!(parse_dns_server("127.0.0.1:5353").ok(), "127.0.0.1:5353".parse().ok());
        assert_eq!(parse_dns_server("[::1]:53").ok(), "[::1]:53".parse().ok());
        assert!(parse_dns_server("dns.google").is_err());
    }

    /// Secrets from a fixed environment; stdin gives one line.
    struct Env(&'static [(&'static str, &'static str)]);

    impl SecretSource for Env {
        fn env(&self, name: &str) -> Option<String> {
            self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        }
        fn stdin_line(&self) -> std::io::Result<String> {
            Ok("from-stdin\n".into())
        }
    }

    enum Want {
        /// auth mode, api, mailbox count
        Ok(&'static str, &'static str, usize),
        /// a part of the error message
        Err(&'static str),
    }

    /// One command line per case, through every validator of `check_config`.
    /// `--cloud` sets the authority, Graph and Exchange Online hosts; an
    /// explicit endpoint option still wins.
    #[test]
    fn clouds_set_the_endpoints() {
        use clap::Parser;
        let endpoints = |line: &str| {
            let args: Vec<&str> = line.split_whitespace().collect();
            let cli =
                crate::cli::Cli::try_parse_from(["exprobe", "check", "--mailbox", "a@contoso.com"].iter().chain(&args))
                    .expect("clap");
            let crate::cli::Command::Check(check) = cli.command else {
                panic!("check")
            };
            check_config(&check, &Env(&[])).expect("valid").0.endpoints
        };
        let e = endpoints("");
        assert_eq!(
            (
                e.cloud,
                e.authority.as_str(),
                e.graph_url.as_str(),
                e.autodiscover_v2_host.as_str()
            ),
            (
                Cloud::Global,
                "https://login.microsoftonline.com/",
                "https://graph.microsoft.com/",
                "outlook.office365.com"
            )
        );
        for (line, authority, graph, host) in [
            (
                "--cloud usgov-gcchigh",
                "https://login.microsoftonline.us/",
                "https://graph.microsoft.us/",
                "outlook.office365.us",
            ),
            (
                "--cloud usgov-dod",
                "https://login.microsoftonline.us/",
                "https://dod-graph.microsoft.us/",
                "outlook-dod.office365.us",
            ),
            (
                "--cloud china",
                "https://login.partner.microsoftonline.cn/",
                "https://microsoftgraph.chinacloudapi.cn/",
                "partner.outlook.cn",
            ),
            (
                "--cloud usgov-gcchigh --authority https://login.usgovcloudapi.net",
                "https://login.usgovcloudapi.net/",
                "https://graph.microsoft.us/",
                "outlook.office365.us",
            ),
        ] {
            let e = endpoints(line);
            assert_eq!(
                (
                    e.authority.as_str(),
                    e.graph_url.as_str(),
                    e.autodiscover_v2_host.as_str()
                ),
                (authority, graph, host),
                "{line}"
            );
        }
        assert_eq!(
            MailApi::Ews.resource(Cloud::UsgovGcchigh),
            "https://outlook.office365.us"
        );
        assert_eq!(
            MailApi::Graph.resource(Cloud::China),
            "https://microsoftgraph.chinacloudapi.cn"
        );
    }

    #[test]
    fn check_config_table() {
        const PW: &[(&str, &str)] = &[(DEFAULT_PASSWORD_ENV, "pw")];
        type Vars = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Vars, Want)] = &[
            ("--mailbox a@contoso.com", &[], Want::Ok("none", "ews", 1)),
            // The default variable alone does not turn a discovery run into an error.
            ("--mailbox a@contoso.com", PW, Want::Ok("none", "ews", 1)),
            ("--mailbox a@contoso.com --service-account svc@contoso.com", PW, Want::Ok("basic", "ews", 1)),
            // A forgotten password is an error, not a discovery-only run.
            (
                "--mailbox a@contoso.com --service-account svc@contoso.com",
                &[],
                Want::Err("--service-account svc@contoso.com has no password: set EXPROBE_PASSWORD"),
            ),
            // A value that is not a variable name may be the secret itself: never echoed.
            (
                "--mailbox a@contoso.com --service-account svc@contoso.com --password-env S3cr3t!",
                &[],
                Want::Err("is not a variable name; it is not shown"),
            ),
            (
                "--mailboxes - --service-account svc@contoso.com --password-stdin",
                &[],
                Want::Err("--password-stdin and --mailboxes - both read stdin"),
            ),
            (
                "--mailbox a@contoso.com --tenant contoso.com --client-id my-app --client-secret-env CS",
                &[("CS", "s")],
                Want::Err("--client-id \"my-app\": expected the app's Application (client) ID"),
            ),
            (
                "--mailbox a@contoso.com --service-account svc@contoso.com --password-stdin",
                &[],
                Want::Ok("basic", "ews", 1),
            ),
            (
                "--mailbox a@contoso.com --service-account svc@contoso.com --auth none",
                PW,
                Want::Ok("none", "ews", 1),
            ),
            (
                "--mailbox a@contoso.com --auth basic --service-account svc@contoso.com",
                &[],
                Want::Err("--auth basic needs a password"),
            ),
            ("--mailbox a@contoso.com --auth basic", PW, Want::Err("--auth basic needs --service-account")),
            ("--mailbox a@contoso.com --password-stdin", &[], Want::Err("needs --service-account")),
            (
                "--mailbox a@contoso.com --service-account svc@contoso.com --password-env OTHER",
                PW,
                Want::Err("--password-env OTHER: the variable is not set"),
            ),
            // Logon names: DOMAIN\user and bare names for Basic; Entra needs the UPN.
            ("--mailbox a@contoso.com --service-account CONTOSO\\svc-sync", PW, Want::Ok("basic", "ews", 1)),
            (
                "--mailbox a@contoso.com --service-account svc-sync --service-account-smtp svc-sync@contoso.com",
                PW,
                Want::Ok("basic", "ews", 1),
            ),
            (
                "--mailbox a@contoso.com --service-account CON/TOSO\\svc",
                PW,
                Want::Err("must be a NetBIOS name"),
            ),
            ("--mailbox a@contoso.com --service-account CONTOSO\\", PW, Want::Err("user part of DOMAIN\\user")),
            ("--mailbox a@contoso.com --service-account svc*sync", PW, Want::Err("is neither user@domain")),
            (
                "--mailbox a@contoso.com --auth password-grant --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f --service-account CONTOSO\\svc",
                PW,
                Want::Err("needs the service account as user@domain"),
            ),
            (
                "--mailbox a@contoso.com --service-account-smtp svc@contoso.com",
                &[],
                Want::Err("--service-account-smtp describes --service-account"),
            ),
            (
                "--mailbox a@contoso.com --service-account svc@contoso.com --app-home-tenant vendor.example",
                PW,
                Want::Err("--app-home-tenant needs an OAuth mode with an app"),
            ),
            ("--mailbox a@contoso.com --access-token-env TOK", &[("TOK", "t")], Want::Ok("token", "ews", 1)),
            // A token named explicitly wins over a password in the default variable.
            (
                "--mailbox a@contoso.com --service-account svc@contoso.com --access-token-env TOK",
                &[("TOK", "t"), (DEFAULT_PASSWORD_ENV, "pw")],
                Want::Ok("token", "ews", 1),
            ),
            ("--mailbox a@contoso.com --auth token", &[], Want::Err("--auth token needs an access token")),
            (
                "--mailbox a@contoso.com --access-token-env TOK --api graph",
                &[("TOK", "t")],
                Want::Ok("token", "graph", 1),
            ),
            (
                "--mailbox a@contoso.com --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f --client-secret-env CS",
                &[("CS", "s")],
                Want::Ok("app", "both", 1),
            ),
            (
                "--mailbox a@contoso.com --auth app --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f --client-secret-env CS",
                &[("CS", "s")],
                Want::Err("--auth app needs --tenant"),
            ),
            (
                "--mailbox a@contoso.com --auth app --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f",
                &[],
                Want::Err("--auth app needs a client secret"),
            ),
            (
                "--mailbox a@contoso.com --auth refresh-token --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f --refresh-token-env R",
                &[("R", "r")],
                Want::Ok("refresh-token", "both", 1),
            ),
            (
                "--mailbox a@contoso.com --auth refresh-token --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f",
                &[],
                Want::Err("--auth refresh-token needs a refresh token"),
            ),
            (
                "--mailbox a@contoso.com --auth password-grant --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f --password-env P",
                &[("P", "p")],
                Want::Err("--auth password-grant needs --service-account"),
            ),
            (
                "--mailbox a@contoso.com --auth password-grant --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f \
                 --service-account svc@contoso.com --password-env P",
                &[("P", "p")],
                Want::Ok("password-grant", "both", 1),
            ),
            (
                "--mailbox a@contoso.com --service-account svc@contoso.com --api graph",
                PW,
                Want::Err("--api graph needs an OAuth mode"),
            ),
            (
                "--mailbox a@contoso.com --ews-url http://mail.contoso.com/EWS/Exchange.asmx",
                &[],
                Want::Err("--ews-url \"http://mail.contoso.com/EWS/Exchange.asmx\": must be https"),
            ),
            ("--mailbox a@contoso.com --trust-domain com", &[], Want::Err("--trust-domain \"com\"")),
            ("--mailbox a@contoso.com --trust-domain co.uk", &[], Want::Err("public suffix")),
            ("--mailbox A@contoso.com --mailbox a@contoso.com --mailbox b@contoso.com", &[], Want::Ok("none", "ews", 2)),
            ("--service-account svc@contoso.com", PW, Want::Err("no mailbox given")),
        ];
        for (line, env, want) in cases {
            let args: Vec<&str> = line.split_whitespace().collect();
            use clap::Parser;
            let cli = crate::cli::Cli::try_parse_from(["exprobe", "check"].iter().chain(&args)).expect("clap");
            let crate::cli::Command::Check(check) = cli.command else {
                panic!("check")
            };
            let got = check_config(&check, &Env(env)).map(|(c, _)| c);
            match (want, got) {
                (Want::Ok(auth, api, n), Ok(c)) => {
                    assert_eq!(
                        (c.auth.mode().as_str(), c.api.as_str(), c.mailboxes.len()),
                        (*auth, *api, *n),
                        "{line}"
                    );
                    assert_eq!(
                        c.auth.credentials().is_some(),
                        matches!(*auth, "basic" | "token"),
                        "{line}"
                    );
                }
                (Want::Err(part), Err(e)) => {
                    assert!(e.to_string().contains(part), "{line}: {e}");
                    assert!(!e.to_string().contains("S3cr3t"), "{line}: a secret echoed: {e}");
                }
                (Want::Ok(..), Err(e)) => panic!("{line}: unexpected error {e}"),
                (Want::Err(part), Ok(c)) => panic!("{line}: expected an error with {part:?}, got {:?}", c.auth.mode()),
            }
        }
    }

    /// Every combination of supplied secrets infers one mode, the same one the CLI table shows.
    #[test]
    fn mode_inference_is_one_function() {
        let s = |password, token, explicit_token, client_secret, client_id| Supplied {
            password,
            token,
            explicit_token,
            client_secret,
            certificate: false,
            client_id,
        };
        assert_eq!(auth_mode(None, s(false, false, false, false, false)), AuthMode::None);
        assert_eq!(auth_mode(None, s(true, false, false, false, false)), AuthMode::Basic);
        assert_eq!(auth_mode(None, s(true, true, false, false, false)), AuthMode::Basic);
        assert_eq!(auth_mode(None, s(true, true, true, false, false)), AuthMode::Token);
        assert_eq!(auth_mode(None, s(false, true, false, false, false)), AuthMode::Token);
        assert_eq!(auth_mode(None, s(true, true, true, true, true)), AuthMode::App);
        assert_eq!(auth_mode(None, s(false, false, false, true, false)), AuthMode::None);
        assert_eq!(
            auth_mode(Some(AuthArg::None), s(true, true, true, true, true)),
            AuthMode::None
        );
    }

    #[test]
    fn mailbox_lists() {
        let plain = "# users\nalice@contoso.com\n\n bob@contoso.com \n";
        assert_eq!(
            parse_mailbox_list(plain).ok(),
            Some(vec!["alice@contoso.com".to_string(), "bob@contoso.com".to_string()])
        );
        let csv = "name,Mailbox\nAlice,\"alice@contoso.com\"\nBob,bob@contoso.com\n";
        assert_eq!(
            parse_mailbox_list(csv).ok(),
            Some(vec!["alice@contoso.com".to_string(), "bob@contoso.com".to_string()])
        );
        assert!(parse_mailbox_list("name,phone\nA,555\n").is_err());
    }

    /// What admins export: PowerShell's Export-Csv (BOM, #TYPE line, quotes,
    /// CRLF), Excel's semicolons, Entra's UserPrincipalName, single columns.
    #[test]
    fn real_world_mailbox_lists() {
        let want = vec!["alice@contoso.com".to_string(), "bob@contoso.com".to_string()];
        let cases: &[(&str, &str)] = &[
            (
                "Windows PowerShell 5.1 Export-Csv",
                "\u{feff}#TYPE Selected.Microsoft.Exchange.Data.Directory.Management.Mailbox\r\n\"DisplayName\",\"PrimarySmtpAddress\"\r\n\"Alice, A.\",\"alice@contoso.com\"\r\n\"Bob\",\"bob@contoso.com\"\r\n",
            ),
            (
                "PowerShell 7 single column",
                "\"PrimarySmtpAddress\"\n\"alice@contoso.com\"\n\"bob@contoso.com\"\n",
            ),
            (
                "Excel, semicolons",
                "Name;EmailAddress;Department\r\n\"Alice; A.\";alice@contoso.com;Sales\r\nBob;bob@contoso.com;IT\r\n",
            ),
            (
                "Entra users export",
                "id,displayName,userPrincipalName,mail\n1,Alice,alice@contoso.com,alice@contoso.com\n2,Bob,bob@contoso.com,\n",
            ),
            ("tab separated", "Name\tWindowsEmailAddress\nAlice\talice@contoso.com\nBob\tbob@contoso.com\n"),
            ("quoted plain list", "\"alice@contoso.com\"\r\n\"bob@contoso.com\"\r\n"),
        ];
        for (what, text) in cases {
            let got = parse_mailbox_list(text);
            // The Entra export prefers `mail` over the UPN, which is empty for Bob.
            let want = if *what == "Entra users export" {
                vec!["alice@contoso.com".to_string()]
            } else {
                want.clone()
            };
            assert_eq!(got.ok(), Some(want), "{what}");
        }
        let err = parse_mailbox_list("Name,Phone\nAlice,555\n").expect_err("no address column");
        assert!(err.to_string().contains("\"name\", \"phone\""), "{err}");
    }
}

#[cfg(test)]
mod list_tests {
    use super::*;

    #[test]
    fn mailbox_lists_decode_utf16_with_a_bom_and_refuse_invalid_bytes() {
        let text = "PrimarySmtpAddress\r\nalice@contoso.com\r\nbjörn@contoso.com\r\n";
        let mut le = vec![0xff, 0xfe];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let mut be = vec![0xfe, 0xff];
        be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        for bytes in [le, be] {
            let list = parse_mailbox_list(&decode_list(bytes, "l.csv").expect("ok")).expect("ok");
            assert_eq!(list, ["alice@contoso.com", "björn@contoso.com"]);
        }
        let mut bom = vec![0xef, 0xbb, 0xbf];
        bom.extend(b"a@contoso.com\n");
        assert_eq!(decode_list(bom, "l").expect("ok"), "a@contoso.com\n");
        let e = decode_list(b"a@contoso.com\nb\xe9@contoso.com\n".to_vec(), "l.txt")
            .expect_err("an error")
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("0xe9") && e.contains("byte 2"),
            "{e}"
        );
        // UTF-16 without a BOM: NUL bytes, named.
        let bare: Vec<u8> = "a@contoso.com\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let e = decode_list(bare, "l").expect_err("an error").to_string();
        assert!(e.contains("NUL") && e.contains("line 1"), "{e}");
        // An unpaired surrogate and an odd length.
        let e = decode_list(vec![0xff, 0xfe, b'a', 0, b'\n', 0, 0x00, 0xd8, b'b', 0], "l")
            .expect_err("an error")
            .to_string();
        assert!(e.contains("line 2") && e.contains("surrogate"), "{e}");
        assert!(decode_list(vec![0xff, 0xfe, b'a', 0, b'b'], "l")
            .expect_err("an error")
            .to_string()
            .contains("half"));
    }

    #[test]
    fn mailbox_lists_refuse_over_long_lines_and_fields() {
        let long = "a".repeat(255);
        let cases: &[(&str, usize, usize)] = &[
            ("a@b.c\nb@b.c\n", 2, 0),
            ("# c\n\na@b.c\n", 1, 0),
            (&format!("{long}\na@b.c\n"), 1, 1),
            (&format!("name,mailbox\nx,a@b.c\ny,{long}\n"), 1, 1),
            ("name;mailbox\nx;\"a@b.c\"\n", 1, 0),
            // A first line too long to be a CSV header is data, refused.
            (&format!("{},{}\n", "x".repeat(5000), "y"), 0, 1),
        ];
        for (text, ok, refused) in cases {
            let list = read_mailbox_list(text).expect("parses");
            assert_eq!(list.mailboxes.len(), *ok, "{text:.40}");
            assert_eq!(list.refused.count, *refused, "{text:.40}");
        }
        let many: String = (0..50).map(|_| format!("{long}\n")).collect();
        let list = read_mailbox_list(&many).expect("parses");
        assert_eq!(list.refused.count, 50);
        assert_eq!(list.refused.examples.len(), RefusedInput::EXAMPLES);
        assert!(list.refused.describe().ends_with(", …)"));
    }
}
