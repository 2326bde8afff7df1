//! `exprobe serve --config checks.toml`: the file, read and checked at start.
//!
//! A `[[check]]` table takes the same settings as `exprobe check`, keyed by
//! the flag's long name (`service-account`, `dns-server`, ...; `_` works as
//! `-`), plus `name`, `interval`, `timeout` and `target-domains`. Each check
//! becomes the argument list of a `check` command line, parsed by the very
//! parser the CLI uses, so a setting means the same in both places. Every
//! error names the file, the line and column, and the key; a value is never
//! repeated (a secret written by mistake must not reach a log).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::CheckArgs;
use crate::config::{ConfigError, SecretSource};
use crate::secret::Secret;

/// Where `serve` listens when neither the file nor `--listen` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9788";

/// The whole file, validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub http_auth: Option<HttpAuth>,
    pub tls: Option<TlsFiles>,
    /// `/probe` runs at the same time, across all checks.
    pub probe_concurrency: usize,
    /// How long in-flight checks may finish after SIGTERM.
    pub grace: Duration,
    /// Per-mailbox series (`exprobe_mailbox_status`), at most this many per check.
    pub per_mailbox_cap: Option<usize>,
    pub checks: Vec<CheckSpec>,
}

/// Protection of the HTTP side; `/-/healthy` and `/-/ready` stay open.
#[derive(Debug, Clone)]
pub enum HttpAuth {
    Bearer(Secret),
    Basic { user: String, password: Secret },
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One named check.
#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub name: String,
    /// `None`: runs only when `/probe` asks.
    pub interval: Option<Duration>,
    /// The whole run's deadline (`check --deadline`).
    pub timeout: Duration,
    /// `check` arguments without the mailboxes and the deadline.
    base: Vec<String>,
    /// `--mailbox=…` / `--mailboxes=…` arguments.
    mailbox_args: Vec<String>,
    /// Domains `/probe?target=ADDR&module=NAME` may name: the check's own
    /// mailboxes' domains and `target-domains`. Credentials go to a target's
    /// autodiscover hosts, so a scraper must not pick another organization.
    pub target_domains: Vec<String>,
    /// `write-test`: the check writes (and deletes) drafts.
    pub writes: bool,
}

impl CheckSpec {
    /// The `check` command line of a run (`target` replaces the mailboxes).
    pub fn argv(&self, target: Option<&str>, deadline: Duration) -> Vec<String> {
        let mut argv = self.base.clone();
        match target {
            Some(t) => argv.push(format!("--mailbox={t}")),
            None => argv.extend(self.mailbox_args.iter().cloned()),
        }
        argv.push(format!("--deadline={}", deadline.as_secs_f64()));
        argv
    }

    /// The parsed arguments of a run.
    pub fn args(&self, target: Option<&str>, deadline: Duration) -> Result<CheckArgs, String> {
        parse_check_args(&self.argv(target, deadline)).map_err(|e| e.message)
    }

    /// May `/probe?target=` name this address?
    pub fn target_allowed(&self, address: &str) -> bool {
        let Some((_, domain)) = address.rsplit_once('@') else {
            return false;
        };
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.target_domains.contains(&domain)
    }
}

#[derive(Debug, clap::Parser)]
#[command(
    name = "check",
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct CheckOnly {
    #[command(flatten)]
    args: CheckArgs,
}

/// A `check` flag as a configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Flag,
    One,
    Many,
}

/// Check flags a configuration may not use, and why.
const NOT_IN_SERVE: &[(&str, &str)] = &[
    ("format", "serve answers in its own formats"),
    ("output", "serve keeps the last report: /checks/NAME"),
    ("no-color", "serve writes no colour"),
    ("show-http", "reports keep their evidence in /checks/NAME"),
    ("warning", "a nagios option"),
    ("critical", "a nagios option"),
    ("password-stdin", "a long-running process has no stdin to read"),
    ("config", "write `accept = [...]` in the check instead"),
    ("deadline", "use `timeout` (the whole check's deadline)"),
    ("baseline", "compare runs with `exprobe diff` on /checks/NAME"),
    ("timeout", "use `request-timeout`"),
];

/// Keys that would hold a secret itself.
const INLINE_SECRETS: &[&str] = &[
    "password",
    "client-secret",
    "access-token",
    "refresh-token",
    "secret",
    "token",
    "bearer-token",
    "basic-password",
];

#[derive(Debug)]
struct Located {
    at: Option<std::ops::Range<usize>>,
    key: Option<String>,
    message: String,
}

fn located(at: Option<std::ops::Range<usize>>, key: Option<&str>, message: impl Into<String>) -> Located {
    Located {
        at,
        key: key.map(str::to_string),
        message: message.into(),
    }
}

/// Line and column (1-based) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn error(path: &Path, text: &str, l: Located) -> ConfigError {
    let at =
        l.at.map(|r| {
            let (line, column) = position(text, r.start);
            format!(":{line}:{column}")
        })
        .unwrap_or_default();
    let key = l.key.map(|k| format!(" `{k}`:")).unwrap_or_default();
    ConfigError::Invalid(format!("{}{at}:{key} {}", path.display(), l.message))
}

/// Reads and checks `path`; `listen` (from `--listen`) wins over the file's.
pub fn load(path: &Path, listen: Option<&str>, secrets: &dyn SecretSource) -> Result<ServeConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        what: "the serve configuration",
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, path, listen, secrets).map_err(|l| error(path, &text, l))
}

fn parse(text: &str, path: &Path, listen: Option<&str>, secrets: &dyn SecretSource) -> Result<ServeConfig, Located> {
    // The parser's words, never the text it stopped at.
    let doc = toml_edit::ImDocument::parse(text)
        .map_err(|e| located(e.span(), None, e.message().trim().replace('\n', "; ").replace('"', "")))?;
    let root = doc.as_table();
    let base_dir = path.parent().unwrap_or(Path::new("."));
    for (key, _) in root.iter() {
        if !matches!(key, "server" | "check") {
            return Err(at_key(
                root,
                key,
                "unknown section: the file has `[server]` and `[[check]]` tables",
            ));
        }
    }
    let mut config = ServeConfig {
        listen: DEFAULT_LISTEN
            .parse()
            .map_err(|_| located(None, None, "bad default address"))?,
        http_auth: None,
        tls: None,
        probe_concurrency: 2,
        grace: Duration::from_secs(30),
        per_mailbox_cap: None,
        checks: vec![],
    };
    if let Some(item) = root.get("server") {
        let Some(server) = item.as_table() else {
            return Err(at_key(root, "server", "expected a table: `[server]`"));
        };
        read_server(server, base_dir, secrets, &mut config)?;
    }
    if let Some(given) = listen {
        config.listen = given
            .parse()
            .map_err(|_| located(None, Some("--listen"), "expected IP:PORT, e.g. 127.0.0.1:9788"))?;
    }
    let Some(item) = root.get("check") else {
        return Err(located(None, None, "no check: add at least one `[[check]]` table"));
    };
    let Some(checks) = item.as_array_of_tables() else {
        return Err(at_key(
            root,
            "check",
            "expected `[[check]]` tables (double brackets: one per check)",
        ));
    };
    let mut names = HashSet::new();
    for table in checks.iter() {
        let spec = read_check(table, base_dir, secrets)?;
        if !names.insert(spec.name.clone()) {
            return Err(at_key(
                table,
                "name",
                format!("a second check named {:?}: names are unique", spec.name),
            ));
        }
        config.checks.push(spec);
    }
    if checks.is_empty() {
        return Err(located(None, None, "no check: add at least one `[[check]]` table"));
    }
    Ok(config)
}

fn at_key(table: &toml_edit::Table, key: &str, message: impl Into<String>) -> Located {
    let span = table.get_key_value(key).and_then(|(k, _)| k.span());
    located(span.or_else(|| table.span()), Some(key), message)
}

fn string(table: &toml_edit::Table, key: &str) -> Result<Option<String>, Located> {
    match table.get(key) {
        None => Ok(None),
        Some(item) => match item.as_str() {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(at_key(table, key, "expected a string")),
        },
    }
}

/// A duration from `min` to `max`: seconds (30) or text ("30s", "5m", "1h").
fn duration(table: &toml_edit::Table, key: &str, min: Duration, max: Duration) -> Result<Option<Duration>, Located> {
    let Some(item) = table.get(key) else { return Ok(None) };
    let d = if let Some(n) = item.as_integer() {
        u64::try_from(n).ok().map(Duration::from_secs)
    } else if let Some(f) = item.as_float() {
        Duration::try_from_secs_f64(f).ok()
    } else if let Some(s) = item.as_str() {
        humantime::parse_duration(s.trim()).ok()
    } else {
        None
    };
    match d {
        Some(d) if d >= min && d <= max => Ok(Some(d)),
        _ => Err(at_key(
            table,
            key,
            format!(
                "expected a duration from {} to {}: seconds (30) or text (\"30s\", \"5m\", \"1h\")",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        )),
    }
}

fn positive(table: &toml_edit::Table, key: &str, max: i64) -> Result<Option<usize>, Located> {
    let Some(item) = table.get(key) else { return Ok(None) };
    match item.as_integer() {
        Some(n) if (1..=max).contains(&n) => Ok(usize::try_from(n).ok()),
        _ => Err(at_key(table, key, format!("expected a whole number from 1 to {max}"))),
    }
}

fn normalized(key: &str) -> String {
    key.replace('_', "-")
}

fn read_server(
    server: &toml_edit::Table,
    base_dir: &Path,
    secrets: &dyn SecretSource,
    config: &mut ServeConfig,
) -> Result<(), Located> {
    const KEYS: &[&str] = &[
        "listen",
        "probe-concurrency",
        "grace",
        "per-mailbox-series",
        "per-mailbox-cap",
        "auth",
        "tls",
    ];
    for (key, _) in server.iter() {
        let k = normalized(key);
        if INLINE_SECRETS.contains(&k.as_str()) {
            return Err(at_key(server, key, inline_secret_message(&k)));
        }
        if !KEYS.contains(&k.as_str()) {
            return Err(at_key(
                server,
                key,
                format!("unknown key in [server]; known: {}", KEYS.join(", ")),
            ));
        }
    }
    let get = |k: &str| {
        server
            .iter()
            .find(|(key, _)| normalized(key) == k)
            .map(|(key, _)| key.to_string())
    };
    if let Some(key) = get("listen") {
        let s = string(server, &key)?.unwrap_or_default();
        config.listen = s
            .trim()
            .parse()
            .map_err(|_| at_key(server, &key, "expected IP:PORT, e.g. 127.0.0.1:9788"))?;
    }
    if let Some(key) = get("probe-concurrency") {
        config.probe_concurrency = positive(server, &key, 64)?.unwrap_or(2);
    }
    if let Some(key) = get("grace") {
        config.grace =
            duration(server, &key, Duration::from_secs(1), Duration::from_secs(3600))?.unwrap_or(config.grace);
    }
    let series = match get("per-mailbox-series") {
        Some(key) => server
            .get(&key)
            .and_then(|i| i.as_bool())
            .ok_or_else(|| at_key(server, &key, "expected true or false"))?,
        None => false,
    };
    let cap = match get("per-mailbox-cap") {
        Some(key) => positive(server, &key, 100_000)?,
        None => None,
    };
    config.per_mailbox_cap = series.then(|| cap.unwrap_or(100));
    if let Some(key) = get("auth") {
        let Some(auth) = server.get(&key).and_then(|i| i.as_table()) else {
            return Err(at_key(server, &key, "expected a table: `[server.auth]`"));
        };
        config.http_auth = Some(read_http_auth(auth, base_dir, secrets)?);
    }
    if let Some(key) = get("tls") {
        let Some(tls) = server.get(&key).and_then(|i| i.as_table()) else {
            return Err(at_key(server, &key, "expected a table: `[server.tls]`"));
        };
        for (k, _) in tls.iter() {
            if !matches!(normalized(k).as_str(), "cert" | "key") {
                return Err(at_key(tls, k, "unknown key in [server.tls]; known: cert, key"));
            }
        }
        let cert = string(tls, "cert")?
            .ok_or_else(|| located(tls.span(), Some("cert"), "[server.tls] needs `cert` (a PEM file)"))?;
        let key_file = string(tls, "key")?
            .ok_or_else(|| located(tls.span(), Some("key"), "[server.tls] needs `key` (a PEM file)"))?;
        let files = TlsFiles {
            cert: base_dir.join(cert),
            key: base_dir.join(key_file),
        };
        for (k, p) in [("cert", &files.cert), ("key", &files.key)] {
            if let Err(e) = std::fs::metadata(p) {
                return Err(at_key(tls, k, format!("cannot read {}: {e}", p.display())));
            }
        }
        config.tls = Some(files);
    }
    Ok(())
}

fn read_http_auth(auth: &toml_edit::Table, base_dir: &Path, secrets: &dyn SecretSource) -> Result<HttpAuth, Located> {
    const KEYS: &[&str] = &[
        "bearer-token-env",
        "bearer-token-file",
        "basic-user",
        "basic-password-env",
        "basic-password-file",
    ];
    let mut found = std::collections::BTreeMap::new();
    for (key, _) in auth.iter() {
        let k = normalized(key);
        if INLINE_SECRETS.contains(&k.as_str()) {
            return Err(at_key(auth, key, inline_secret_message(&k)));
        }
        if !KEYS.contains(&k.as_str()) {
            return Err(at_key(
                auth,
                key,
                format!("unknown key in [server.auth]; known: {}", KEYS.join(", ")),
            ));
        }
        let value = string(auth, key)?.unwrap_or_default();
        found.insert(k, (key.to_string(), value));
    }
    let read = |env: &str, file: &str, what: &'static str, flag: &'static str| -> Result<Option<Secret>, Located> {
        let e = found.get(env).map(|(_, v)| v.clone());
        let f = found.get(file).map(|(_, v)| base_dir.join(v));
        if e.is_some() && f.is_some() {
            return Err(at_key(
                auth,
                &found[file].0,
                format!("give `{env}` or `{file}`, not both"),
            ));
        }
        crate::config::read_named_secret(what, flag, e.as_ref(), f.as_ref(), secrets).map_err(|err| {
            let key = found
                .get(env)
                .or(found.get(file))
                .map(|(k, _)| k.clone())
                .unwrap_or_default();
            at_key(auth, &key, err.to_string().replace(&format!("--{flag}-env"), env))
        })
    };
    let bearer = read("bearer-token-env", "bearer-token-file", "bearer token", "bearer-token")?;
    let basic = read(
        "basic-password-env",
        "basic-password-file",
        "password",
        "basic-password",
    )?;
    let user = found.get("basic-user").map(|(_, v)| v.trim().to_string());
    match (bearer, basic, user) {
        (Some(token), None, None) => Ok(HttpAuth::Bearer(token)),
        (None, Some(password), Some(user)) if !user.is_empty() && !user.contains(':') => {
            Ok(HttpAuth::Basic { user, password })
        }
        (None, Some(_), Some(_)) => Err(at_key(auth, "basic-user", "a user name, without `:`")),
        (None, Some(_), None) => Err(located(
            auth.span(),
            Some("basic-user"),
            "Basic protection needs `basic-user`",
        )),
        (None, None, Some(_)) => Err(located(
            auth.span(),
            Some("basic-password-env"),
            "Basic protection needs `basic-password-env` or `basic-password-file`",
        )),
        (None, None, None) => Err(located(
            auth.span(),
            None,
            "[server.auth] needs `bearer-token-env`/`-file`, or `basic-user` with `basic-password-env`/`-file`",
        )),
        (Some(_), _, _) => Err(located(
            auth.span(),
            None,
            "[server.auth] takes a bearer token or Basic credentials, not both",
        )),
    }
}

fn inline_secret_message(key: &str) -> String {
    format!(
        "secrets are never written in the configuration: name a variable (`{key}-env`) or a file (`{key}-file`) instead; the value is not shown"
    )
}

/// The `check` flags by long name, with how each takes values.
fn check_flags() -> Vec<(String, Shape)> {
    CheckOnly::command()
        .get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?.to_string();
            let shape = match a.get_action() {
                clap::ArgAction::SetTrue => Shape::Flag,
                clap::ArgAction::Append => Shape::Many,
                _ => Shape::One,
            };
            Some((long, shape))
        })
        .collect()
}

/// A parse failure, with the flag it concerns when clap names one.
#[derive(Debug)]
struct ArgError {
    flag: Option<String>,
    message: String,
}

fn parse_check_args(argv: &[String]) -> Result<CheckArgs, ArgError> {
    let matches = CheckOnly::command().try_get_matches_from(argv).map_err(arg_error)?;
    CheckOnly::from_arg_matches(&matches).map(|c| c.args).map_err(arg_error)
}

fn arg_error(e: clap::Error) -> ArgError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s
            .split_whitespace()
            .next()
            .map(|f| f.trim_start_matches('-').to_string()),
        _ => None,
    };
    let valid = match e.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(v)) => format!("; possible values: {}", v.join(", ")),
        _ => String::new(),
    };
    let message = match e.kind() {
        ErrorKind::InvalidValue => format!("invalid value{valid}"),
        ErrorKind::ValueValidation => {
            // clap quotes the value; say what is wrong without it.
            let text = e.to_string();
            let reason = text
                .lines()
                .next()
                .unwrap_or("")
                .rsplit(": ")
                .next()
                .unwrap_or("")
                .to_string();
            format!("invalid value: {}", without_quoted(&reason))
        }
        ErrorKind::ArgumentConflict => {
            let other = match e.get(ContextKind::PriorArg) {
                Some(ContextValue::String(s)) => s
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches('-')
                    .to_string(),
                _ => String::new(),
            };
            format!("cannot be combined with `{other}`")
        }
        ErrorKind::MissingRequiredArgument => {
            let missing = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(v)) => v
                    .iter()
                    .filter_map(|s| s.split_whitespace().next())
                    .map(|s| format!("`{}`", s.trim_start_matches('-')))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            format!("also needs {missing}")
        }
        _ => without_quoted(
            e.to_string()
                .lines()
                .next()
                .unwrap_or("invalid setting")
                .trim_start_matches("error: "),
        ),
    };
    ArgError { flag, message }
}

fn read_check(table: &toml_edit::Table, base_dir: &Path, secrets: &dyn SecretSource) -> Result<CheckSpec, Located> {
    let flags = check_flags();
    let Some(name) = string(table, "name")? else {
        return Err(located(table.span(), Some("name"), "every [[check]] needs a `name`"));
    };
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(at_key(
            table,
            "name",
            "a name of 1 to 64 letters, digits, `-`, `_` or `.` (it is a metric label and a URL part)",
        ));
    }
    let mut interval = None;
    let mut timeout = Duration::from_secs(60);
    let mut base = vec![];
    let mut mailbox_args = vec![];
    let mut target_domains: Vec<String> = vec![];
    // Which key gave each flag, to place the errors clap and the check find.
    let mut flag_keys: Vec<(String, String)> = vec![];
    for (key, item) in table.iter() {
        let k = normalized(key);
        match k.as_str() {
            "name" => continue,
            "interval" => {
                // Not faster than once a second (a check is a load on Exchange), at least weekly.
                interval = duration(table, key, Duration::from_secs(1), Duration::from_secs(7 * 86_400))?;
                continue;
            }
            "timeout" => {
                timeout = duration(table, key, Duration::from_secs(1), Duration::from_secs(86_400))?.unwrap_or(timeout);
                continue;
            }
            "target-domains" => {
                for v in values(table, key, item)? {
                    target_domains.push(v.trim().trim_end_matches('.').to_ascii_lowercase());
                }
                continue;
            }
            _ => {}
        }
        if INLINE_SECRETS.contains(&k.as_str()) {
            return Err(at_key(table, key, inline_secret_message(&k)));
        }
        if let Some((_, why)) = NOT_IN_SERVE.iter().find(|(f, _)| *f == k) {
            return Err(at_key(table, key, format!("not a serve setting: {why}")));
        }
        // `mailboxes` is the file (`check --mailboxes FILE`) when a string,
        // the addresses when an array; `mailbox-file` is always the file.
        let (flag, shape) = match k.as_str() {
            "mailbox-file" => ("mailboxes".to_string(), Shape::One),
            "mailboxes" if item.as_array().is_some() => ("mailbox".to_string(), Shape::Many),
            "request-timeout" => ("timeout".to_string(), Shape::One),
            _ => match flags.iter().find(|(f, _)| *f == k) {
                Some((f, s)) => (f.clone(), *s),
                None => {
                    let known: Vec<&str> = flags.iter().map(|(f, _)| f.as_str()).collect();
                    let near = known
                        .iter()
                        .filter(|f| strsim::jaro_winkler(f, &k) > 0.85)
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>();
                    let hint = if near.is_empty() {
                        "the keys are `check`'s long flag names (see `exprobe check --help`)".to_string()
                    } else {
                        format!("did you mean {}?", near.join(", "))
                    };
                    return Err(at_key(table, key, format!("unknown key; {hint}")));
                }
            },
        };
        let is_path = matches!(
            flag.as_str(),
            "mailboxes"
                | "password-file"
                | "client-secret-file"
                | "certificate"
                | "private-key"
                | "refresh-token-file"
                | "access-token-file"
                | "ca-file"
        );
        let args = match shape {
            Shape::Flag => match item.as_bool() {
                Some(true) => vec![format!("--{flag}")],
                Some(false) => vec![],
                None => return Err(at_key(table, key, "expected true or false")),
            },
            Shape::One => {
                let v = scalar(table, key, item)?;
                let v = if is_path {
                    base_dir.join(v).display().to_string()
                } else {
                    v
                };
                vec![format!("--{flag}={v}")]
            }
            Shape::Many => values(table, key, item)?
                .into_iter()
                .map(|v| format!("--{flag}={v}"))
                .collect(),
        };
        flag_keys.push((flag.clone(), key.to_string()));
        if matches!(flag.as_str(), "mailbox" | "mailboxes") {
            mailbox_args.extend(args);
        } else {
            base.extend(args);
        }
    }
    let spec = CheckSpec {
        name: name.clone(),
        interval,
        timeout,
        base,
        mailbox_args,
        target_domains,
        writes: false,
    };
    let key_of = |flag: &str| -> Option<String> { flag_keys.iter().find(|(f, _)| f == flag).map(|(_, k)| k.clone()) };
    let place = |flag: Option<String>, message: String| -> Located {
        match flag.as_deref().and_then(key_of) {
            Some(key) => at_key(table, &key, message),
            None => located(table.span(), flag.as_deref(), format!("check {name:?}: {message}")),
        }
    };
    let argv = spec.argv(None, spec.timeout);
    let args = parse_check_args(&argv).map_err(|e| place(e.flag, e.message))?;
    let spec = CheckSpec {
        writes: args.write_test,
        ..spec
    };
    // The settings as a run will see them: mailboxes, secrets, URLs.
    let checked = crate::config::check_config(&args, secrets);
    if let Err(e) = &checked {
        let text = e.to_string();
        let flag = match e {
            ConfigError::NoMailbox => {
                return Err(located(
                    table.span(),
                    None,
                    format!("check {name:?}: no mailbox: give `mailboxes = [\"…\"]` or `mailbox-file = \"…\"`"),
                ))
            }
            _ => mentioned_flag(&text, &flag_keys),
        };
        let mut message = flag_keys
            .iter()
            .fold(text, |m, (f, k)| m.replace(&format!("--{f}"), &format!("`{k}`")));
        // "`key`: `key` VALUE: why" reads as "`key`: VALUE: why".
        if let Some(key) = flag.as_deref().and_then(key_of) {
            if let Some(rest) = message.strip_prefix(&format!("`{key}` ")) {
                message = rest.to_string();
            }
        }
        return Err(place(flag, message));
    }
    let mut spec = spec;
    // The check's own mailboxes' domains may always be probed.
    if let Ok((cfg, _)) = checked {
        // A mailbox that is not an address (a password file named as the
        // mailbox file, a secret pasted into `mailboxes`) is refused here,
        // by its position only: its text might be the secret.
        if let Some(i) = cfg
            .mailboxes
            .iter()
            .position(|m| crate::protocol::address::parse(m).is_err())
        {
            let from_file = spec.mailbox_args.iter().any(|a| a.starts_with("--mailboxes="));
            let flag = if from_file { "mailboxes" } else { "mailbox" };
            return Err(place(
                Some(flag.to_string()),
                format!(
                    "mailbox {} of {} is not an email address (its text is not shown: it might be a secret given in the wrong place)",
                    i + 1,
                    cfg.mailboxes.len()
                ),
            ));
        }
        for m in &cfg.mailboxes {
            if let Some((_, d)) = m.rsplit_once('@') {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if !spec.target_domains.contains(&d) {
                    spec.target_domains.push(d);
                }
            }
        }
    }
    Ok(spec)
}

/// The first `--flag` of the check's own that `text` names.
fn mentioned_flag(text: &str, flag_keys: &[(String, String)]) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for (f, _) in flag_keys {
        if let Some(i) = text.find(&format!("--{f}")) {
            // `--client-secret-env` before `--client-secret`: the longest at a place wins.
            if best.is_none_or(|(j, b)| i < j || (i == j && f.len() > b.len())) {
                best = Some((i, f));
            }
        }
    }
    best.map(|(_, f)| f.to_string())
}

fn scalar(table: &toml_edit::Table, key: &str, item: &toml_edit::Item) -> Result<String, Located> {
    if let Some(s) = item.as_str() {
        return Ok(s.to_string());
    }
    if let Some(n) = item.as_integer() {
        return Ok(n.to_string());
    }
    if let Some(f) = item.as_float() {
        return Ok(f.to_string());
    }
    Err(at_key(table, key, "expected a string or a number"))
}

fn values(table: &toml_edit::Table, key: &str, item: &toml_edit::Item) -> Result<Vec<String>, Located> {
    if let Some(a) = item.as_array() {
        return a
            .iter()
            .map(|v| match v.as_str() {
                Some(s) => Ok(s.to_string()),
                None => Err(at_key(table, key, "expected an array of strings")),
            })
            .collect();
    }
    scalar(table, key, item).map(|s| vec![s])
}

/// `text` with what stands between quotes left out.
fn without_quoted(text: &str) -> String {
    let mut out = String::new();
    let mut inside: Option<char> = None;
    for c in text.chars() {
        match inside {
            Some(q) if c == q => inside = None,
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '`' => {
                out.push_str("\"…\"");
                inside = Some(c);
            }
            None => out.push(c),
        }
    }
    out
}
