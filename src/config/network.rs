//! The network: DNS server, `--connect-to`, timeouts and deadline, CA
//! files, the cloud's endpoints and the domains trusted with credentials.

use super::*;

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

/// The URLs and hosts: https only, trust domains that are real domains.
pub(super) fn endpoints(args: &CheckArgs) -> Result<Endpoints, ConfigError> {
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
pub(super) fn cloud(args: &CheckArgs) -> Cloud {
    match args.cloud {
        crate::cli::CloudArg::Global => Cloud::Global,
        crate::cli::CloudArg::UsgovGcchigh => Cloud::UsgovGcchigh,
        crate::cli::CloudArg::UsgovDod => Cloud::UsgovDod,
        crate::cli::CloudArg::China => Cloud::China,
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
pub(super) fn check_ca_pem(pem: &[u8], path: &Path) -> Result<(), ConfigError> {
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

pub(super) fn seconds(value: f64, flag: &str) -> Result<Duration, ConfigError> {
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
pub(super) fn split_fields(s: &str) -> Vec<String> {
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

pub(super) fn parse_https_url(s: &str, flag: &str) -> Result<url::Url, ConfigError> {
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

pub(super) fn parse_host(s: &str, flag: &str) -> Result<String, ConfigError> {
    let h = s.trim().trim_end_matches('.').to_ascii_lowercase();
    if h.is_empty() || h.contains(['/', ':', ' ', '@']) {
        return Err(ConfigError::Invalid(format!("{flag} {s:?}: expected a host name")));
    }
    Ok(h)
}

/// A domain the user trusts with credentials: a DNS name of at least two
/// labels, never a top-level domain or an IP literal.
pub(super) fn parse_trust_domain(s: &str) -> Result<String, ConfigError> {
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
    if crate::protocol::address::is_public_suffix(&d) {
        return Err(ConfigError::Invalid(format!(
            "--trust-domain {s:?} is a public suffix: it would trust every domain registered under it"
        )));
    }
    Ok(d)
}
