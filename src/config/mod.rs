//! What a run needs, validated. Built from the clap types in `cli.rs`; every
//! probe reads only these types. One file per concept: [`auth`]
//! (authentication), [`secrets`], [`mailboxes`] (mailbox input),
//! [`network`], [`output`], [`api`] (what a check asks of the mail API);
//! this file assembles a [`CheckConfig`] from them. The configuration
//! imports nothing from the layers above it (net, probe, diagnose, report's
//! renderers): they read it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{AuthArg, CheckArgs};
use crate::cloud::Cloud;
pub use crate::report::format::Format;
use crate::secret::Secret;

mod api;
mod auth;
mod error;
mod mailboxes;
mod network;
mod output;
mod secrets;
#[cfg(test)]
mod tests;

pub use api::*;
pub use auth::*;
pub use error::*;
pub use mailboxes::*;
pub use network::*;
pub use output::*;
pub use secrets::*;

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
    /// An app-only EWS run also reads each mailbox through Graph with the
    /// same app (Graph readiness; off with `--no-graph-readiness`).
    pub graph_readiness: bool,
    /// The day the run judges Exchange Online's EWS phase by: the clock's
    /// when the configuration is read (see [`crate::ews_timeline`]).
    pub today: time::Date,
}

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
            graph_readiness: false,
            today: crate::ews_timeline::today(),
        }
    }
}

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
            graph_readiness: auth_mode == AuthMode::App && api == Api::Ews && !args.no_graph_readiness,
            today: crate::ews_timeline::today(),
        },
        output(args),
    ))
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
        if crate::catalogue::lookup(&c).is_none() {
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
