//! Command-line definitions (clap only). `config/` turns these into a
//! validated [`crate::config::CheckConfig`]; probes never see clap types.

use crate::report::format::Format;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "exprobe",
    version,
    about = "Why can't this service account or app reach these Exchange mailboxes?",
    long_about = "exprobe runs connectivity probes (DNS, autodiscover, EWS, OAuth, Graph) \
                  against Exchange Server or Exchange Online and explains every failure with \
                  a stable diagnosis code and the admin's remediation.\n\n\
                  Exit codes: 0 pass, 1 warnings, 2 critical findings, 3 exprobe could not run, \
                  130 interrupted.",
    after_long_help = EXAMPLES
)]
pub struct Cli {
    /// Log to stderr: -v info, -vv debug.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  exprobe demo                                   every built-in lab scenario, no network needed
  exprobe check --mailbox alice@contoso.com --service-account svc-sync@contoso.com
                                                 EWS impersonation, password from EXPROBE_PASSWORD
  exprobe check --auth app --tenant contoso.com --client-id GUID --mailbox alice@contoso.com
                                                 app-only OAuth, secret from EXPROBE_CLIENT_SECRET
  exprobe explain impersonation.denied           what a code means and what to do
  exprobe man --dir ~/.local/share/man/man1      install the man pages";

const CHECK_EXAMPLES: &str = "\
Examples:
  # One mailbox, Basic with the service account (password from a variable):
  EXPROBE_PASSWORD=... exprobe check --mailbox alice@contoso.com --service-account svc-sync@contoso.com

  # Everyone in a PowerShell export, as JSON Lines for monitoring:
  exprobe check --mailboxes users.csv --service-account svc-sync@contoso.com \\
                --password-file /run/secrets/svc --format jsonl --output run.jsonl

  # Exchange Online with an app (EWS and Graph), accepting the known EWS retirement warning:
  exprobe check --auth app --tenant contoso.com --client-id 2b7e1c9d-0000-4000-8000-000000000000 \\
                --client-secret-env APP_SECRET --mailbox alice@contoso.com --api both \\
                --accept exchange_online.ews_retirement

  # Discovery only, no credentials:
  exprobe check --auth none --mailbox alice@contoso.com

Exit codes: 0 pass, 1 warnings, 2 critical findings, 3 exprobe could not run, 130 interrupted.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the probes against an organization and print a report.
    #[command(after_long_help = CHECK_EXAMPLES)]
    Check(Box<CheckArgs>),
    /// Run named checks on their own schedules and serve them to monitoring: Prometheus
    /// `/metrics`, `/probe` (blackbox style), the last reports as JSON.
    #[command(after_long_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Compare two runs (JSON reports or JSON Lines): findings new, resolved and unchanged,
    /// mailboxes whose status changed. Exit 1 when something got worse.
    #[command(after_long_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Start the built-in lab in-process and check every scenario (or the ones named).
    Demo(DemoArgs),
    /// The simulated organization used by demo and the tests.
    #[command(subcommand)]
    Lab(LabCommand),
    /// The admin view (read-only): sign in as an admin of the organization.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Print the catalogue entry of a diagnosis code (or list all codes).
    Explain(ExplainArgs),
    /// Print the JSON Schema of the JSON report (or of one jsonl line).
    Schema {
        #[arg(long, value_enum, default_value_t = SchemaFormat::Json)]
        format: SchemaFormat,
    },
    /// Print shell completions (e.g. `exprobe completions bash > ~/.local/share/bash-completion/completions/exprobe`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one page per command into a directory.
    Man {
        /// Write exprobe.1, exprobe-check.1, ... here (e.g. ~/.local/share/man/man1).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

const SERVE_EXAMPLES: &str = "\
Examples:
  exprobe serve --config /etc/exprobe/checks.toml        listen on 127.0.0.1:9788
  exprobe serve --config checks.toml --check-config      check the file and exit
  curl -s localhost:9788/metrics
  curl -s 'localhost:9788/probe?target=alice@contoso.com&module=contoso-ews'
  curl -s localhost:9788/checks/contoso-ews | exprobe diff yesterday.json /dev/stdin

The file: a [server] table (listen, probe-concurrency, grace, per-mailbox-series, [server.auth],
[server.tls]) and one [[check]] table per check: name, interval, timeout, and any `exprobe check`
flag by its long name (mailboxes, service-account, auth, password-env, accept, ...). Secrets only
by variable or file (password-env, client-secret-file, ...), never written in the file.
Exit codes: 0 stopped cleanly (SIGTERM), 3 a configuration error (file:line:column: key: why).";

const DIFF_EXAMPLES: &str = "\
Examples:
  exprobe diff monday.json tuesday.json
  exprobe diff --format json old.jsonl new.jsonl
  exprobe check ... --baseline last-night.json      the same comparison after a run

Exit codes: 0 nothing got worse, 1 something got worse, 3 a file could not be read.";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The checks and the server's settings (TOML; see below).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Listen here instead of the file's `listen` (default 127.0.0.1:9788; port 0 picks one).
    #[arg(long, value_name = "IP:PORT")]
    pub listen: Option<String>,
    /// Check the file (keys, values, secrets, mailbox lists) and exit: 0 when it is valid.
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier run: a JSON report or a JSON Lines file.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The later run.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Mailbox to check (repeatable).
    #[arg(long = "mailbox", value_name = "ADDR")]
    pub mailboxes: Vec<String>,
    /// File of mailboxes: one address per line (`#` comments) or CSV with a `mailbox` column; `-` reads stdin.
    #[arg(long = "mailboxes", value_name = "FILE")]
    pub mailboxes_file: Option<PathBuf>,
    /// The account that authenticates: user@domain (UPN), DOMAIN\\user or a bare logon name.
    #[arg(long, value_name = "ADDR|DOMAIN\\USER")]
    pub service_account: Option<String>,
    /// `--auth ntlm`: the NetBIOS domain of a bare --service-account name (DOMAIN\\user and
    /// user@domain carry their own).
    #[arg(long, value_name = "DOMAIN")]
    pub ntlm_domain: Option<String>,
    /// The service account's SMTP address, for identity checks, when --service-account is a
    /// logon name (DOMAIN\\user or a bare name).
    #[arg(long, value_name = "ADDR")]
    pub service_account_smtp: Option<String>,
    /// Authentication mode; inferred from the secrets given when omitted.
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    /// Which mailbox APIs to probe (default: both for app mode, ews otherwise).
    #[arg(long, value_enum)]
    pub api: Option<ApiArg>,
    /// The Graph calls the product needs (comma-separated): a failed call it needs is critical,
    /// one it does not is a warning. The user lookup is always made (for the identity checks).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "inbox")]
    pub graph_calls: Vec<GraphCallArg>,
    /// How the product names the mailbox it impersonates (ConnectingSID): `primary`
    /// (PrimarySmtpAddress: an alias fails, critical), `smtp` (SmtpAddress: any address), or
    /// `both`: SmtpAddress, and PrimarySmtpAddress too when the address may not be the primary.
    #[arg(long, value_enum, default_value_t = ConnectingSidArg::Both)]
    pub connecting_sid: ConnectingSidArg,
    /// The mailbox folders the product syncs (comma-separated), opened in the impersonated
    /// GetFolder (one request): a folder that does not open is critical.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "inbox")]
    pub folders: Vec<FolderArg>,
    /// Also check write access as the product would: save a draft in each mailbox's Drafts
    /// folder (CreateItem, never sent) and delete it at once (DeleteItem, HardDelete).
    /// Off by default: it writes to the mailboxes.
    #[arg(long)]
    pub write_test: bool,
    /// App-only EWS runs (`--auth app --api ews`) also read each mailbox's inbox through
    /// Microsoft Graph with the same app, to report how many mailboxes are ready for the move
    /// off EWS (Exchange Online's EWS is switched off on 1 April 2027). This turns that off.
    #[arg(long)]
    pub no_graph_readiness: bool,
    /// Tenant id or domain (OAuth modes).
    #[arg(long, value_name = "ID|DOMAIN")]
    pub tenant: Option<String>,
    /// A vendor's fleet: one app (`--auth app`, its own credentials) checked in many customer
    /// tenants. FILE holds one tenant per line, `TENANT,MAILBOX` (a tenant id or domain and
    /// one sample mailbox; `#` comments; a `tenant,mailbox` header is skipped). One jsonl
    /// record per tenant as it finishes: consent, EWS allow list, Graph readiness, days left.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["mailboxes", "mailboxes_file", "tenant"])]
    pub tenants: Option<PathBuf>,
    /// Application (client) id (OAuth modes).
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,
    /// The tenant the app is registered in (its home tenant), when it is not the mailboxes'
    /// tenant: a vendor's multi-tenant app. Remediation then names what the customer's admin can
    /// do (consent), not what only the vendor can (API permissions).
    #[arg(long, value_name = "ID|DOMAIN")]
    pub app_home_tenant: Option<String>,

    #[command(flatten)]
    pub secrets: SecretArgs,

    /// Use this EWS endpoint instead of the one autodiscover returns.
    #[arg(long, value_name = "URL")]
    pub ews_url: Option<String>,
    /// Try this autodiscover endpoint first.
    #[arg(long, value_name = "URL")]
    pub autodiscover_url: Option<String>,
    /// Allow credentials to this domain (and its subdomains) when autodiscover
    /// redirects there (repeatable): Outlook's redirect prompt, answered yes.
    #[arg(long = "trust-domain", value_name = "DOMAIN")]
    pub trust_domains: Vec<String>,
    /// Microsoft's cloud the tenant lives in: sets the authority, Graph and Exchange Online hosts
    /// and the EWS token resource (the options below override one of them).
    #[arg(long, value_enum, default_value_t = CloudArg::Global)]
    pub cloud: CloudArg,
    /// Host of Autodiscover v2 and EWS in Exchange Online [default: the cloud's, outlook.office365.com].
    #[arg(long, value_name = "HOST")]
    pub autodiscover_v2_host: Option<String>,
    /// The Microsoft identity platform [default: the cloud's, https://login.microsoftonline.com].
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,
    /// Microsoft Graph [default: the cloud's, https://graph.microsoft.com].
    #[arg(long, value_name = "URL")]
    pub graph_url: Option<String>,

    #[command(flatten)]
    pub net: NetArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Mailboxes checked at the same time.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// A finding code that is known and accepted (repeatable): still reported, marked accepted,
    /// and not counted in the status or the exit code.
    #[arg(long = "accept", value_name = "CODE")]
    pub accept: Vec<String>,
    /// Compare this run with an earlier one (a JSON report or jsonl file) and print what changed,
    /// as `exprobe diff` does: after a human report on stdout, else on stderr.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// A TOML file of settings a scheduled check keeps: `[accept]` with `codes = [...]`
    /// (added to --accept).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// Read the password from this environment variable (default EXPROBE_PASSWORD).
    #[arg(long, value_name = "VAR", group = "password_source")]
    pub password_env: Option<String>,
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE", group = "password_source")]
    pub password_file: Option<PathBuf>,
    /// Read the password from the first line of stdin.
    #[arg(long, group = "password_source")]
    pub password_stdin: bool,
    /// Read the client secret from this environment variable (default EXPROBE_CLIENT_SECRET).
    #[arg(long, value_name = "VAR", group = "secret_source")]
    pub client_secret_env: Option<String>,
    /// Read the client secret from the first line of this file.
    #[arg(long, value_name = "FILE", group = "secret_source")]
    pub client_secret_file: Option<PathBuf>,
    /// The app's certificate (PEM), for a signed client assertion instead of a secret.
    #[arg(long, value_name = "PEM", requires = "private_key")]
    pub certificate: Option<PathBuf>,
    /// The certificate's RSA private key (PEM).
    #[arg(long, value_name = "PEM", requires = "certificate")]
    pub private_key: Option<PathBuf>,
    /// Client assertion signature: RS256 with `x5t`, or PS256 with `x5t#S256`.
    #[arg(long, value_enum, default_value_t = AssertionAlg::Rs256)]
    pub assertion_alg: AssertionAlg,
    /// Read the service account's refresh token from this environment variable (default EXPROBE_REFRESH_TOKEN).
    #[arg(long, value_name = "VAR", group = "refresh_source")]
    pub refresh_token_env: Option<String>,
    /// Read the refresh token from the first line of this file.
    #[arg(long, value_name = "FILE", group = "refresh_source")]
    pub refresh_token_file: Option<PathBuf>,
    /// Read a bearer access token from this environment variable (default EXPROBE_ACCESS_TOKEN).
    #[arg(long, value_name = "VAR", group = "token_source")]
    pub access_token_env: Option<String>,
    /// Read a bearer access token from the first line of this file.
    #[arg(long, value_name = "FILE", group = "token_source")]
    pub access_token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Resolve every name through this DNS server (repeatable), for probes and connections alike.
    #[arg(long = "dns-server", value_name = "IP[:PORT]")]
    pub dns_servers: Vec<String>,
    /// Connect elsewhere than DNS says (curl semantics; empty fields match any / keep the original).
    #[arg(long = "connect-to", value_name = "HOST:PORT:ADDR:PORT")]
    pub connect_to: Vec<String>,
    /// Trust the certificates in this PEM file in addition to the system's roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify TLS certificates (every report says so).
    #[arg(long)]
    pub insecure: bool,
    /// Timeout of one request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
    /// Deadline of the whole run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub deadline: f64,
}

#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// No colour, even on a terminal (NO_COLOR is honoured too).
    #[arg(long)]
    pub no_color: bool,
    /// Include the (redacted) HTTP exchanges in human output.
    #[arg(long)]
    pub show_http: bool,
    /// `--format nagios`: WARNING from this many failing mailboxes on (default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub warning: Option<u32>,
    /// `--format nagios`: CRITICAL from this many failing mailboxes on (default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub critical: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// HTTP Basic with the service account's password.
    Basic,
    /// NTLM (NTLMv2) with the service account's password, also inside Negotiate as Windows
    /// clients send it: on-premises servers with Basic turned off.
    Ntlm,
    /// A bearer access token you already have (OAuth).
    Token,
    /// OAuth client credentials: an app with a client secret.
    App,
    /// The service account's OAuth refresh token (delegated).
    RefreshToken,
    /// OAuth resource-owner password grant for the service account (delegated).
    PasswordGrant,
    /// No credentials: discovery only (DNS, autodiscover, reachability).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FolderArg {
    Inbox,
    Calendar,
    Contacts,
    Tasks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConnectingSidArg {
    Primary,
    Smtp,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphCallArg {
    /// GET /users/{id}/mailFolders/inbox (Mail.Read).
    Inbox,
    /// GET /users/{id}?$select=mail,userPrincipalName,proxyAddresses (User.Read.All).
    User,
    /// GET /users/{id}/calendar (Calendars.Read); only made when named.
    Calendar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudArg {
    /// Microsoft's global cloud (and GCC).
    Global,
    /// US Government GCC High (login.microsoftonline.us, graph.microsoft.us, outlook.office365.us).
    UsgovGcchigh,
    /// US Government DoD (login.microsoftonline.us, dod-graph.microsoft.us, outlook-dod.office365.us).
    UsgovDod,
    /// China operated by 21Vianet (login.partner.microsoftonline.cn, microsoftgraph.chinacloudapi.cn, partner.outlook.cn).
    China,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AssertionAlg {
    Rs256,
    Ps256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiArg {
    Ews,
    Graph,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    /// The report of `--format json`.
    Json,
    /// One line of `--format jsonl`.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Scenario to run (repeatable); all built-in scenarios by default.
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// Report format: human prints each report, json one JSON array, jsonl one report per line.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// No colour.
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Serve a scenario on loopback until interrupted.
    Serve(LabServeArgs),
    /// List the built-in scenarios.
    List,
}

#[derive(Debug, Args)]
pub struct LabServeArgs {
    /// Built-in scenario name.
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "scenario_file",
        conflicts_with = "scenario_file"
    )]
    pub scenario: Option<String>,
    /// Scenario TOML file.
    #[arg(long, value_name = "FILE")]
    pub scenario_file: Option<PathBuf>,
    /// Address to listen on (loopback only); ports are chosen by the system.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: String,
    /// Append every request the lab receives to this file (JSON Lines, credentials included: lab use only).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A diagnosis code such as `tls.certificate_expired`; omit to list every code.
    pub code: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Sign in as an admin with the device authorization grant (open the URL shown, enter
    /// the code; MFA included, no password is ever typed into exprobe) and say who signed
    /// in, to which tenant, with which scopes. The token is never shown.
    SignIn(AdminSignInArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AdminSignInArgs {
    /// The organization's tenant id or verified domain.
    #[arg(long, value_name = "ID|DOMAIN")]
    pub tenant: String,
    /// The public client the admin signs in with: an app registration with "Allow public
    /// client flows" on, and the delegated permissions asked for.
    #[arg(long, value_name = "GUID")]
    pub admin_client_id: String,
    /// A delegated scope to ask for (repeatable; all of one resource). Default: Microsoft
    /// Graph's RoleManagement.Read.Exchange and Application.Read.All (the admin view's reads).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Microsoft's cloud the tenant lives in (its authority).
    #[arg(long, value_enum, default_value_t = CloudArg::Global)]
    pub cloud: CloudArg,
    #[command(flatten)]
    pub net: NetArgs,
}
