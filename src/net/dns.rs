//! Name resolution through hickory, for the DNS probe and for every HTTP
//! connection alike, so `--dns-server` points both at the same servers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use hickory_resolver::config::{NameServerConfig, Protocol, ResolverConfig, ResolverOpts};
use hickory_resolver::error::{ResolveError, ResolveErrorKind};
use hickory_resolver::TokioAsyncResolver;
use serde::{Deserialize, Serialize};

use crate::config::ConnectTo;

/// Why a lookup produced no answer. NXDOMAIN, "exists but no records of this
/// type", SERVFAIL and timeouts mean different things to an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "message")]
pub enum DnsFailure {
    NxDomain,
    NoRecords,
    ServFail,
    Refused,
    Timeout,
    /// The run's `--deadline` ended the lookup.
    Deadline,
    /// A CNAME chain that comes back to a name it already passed.
    CnameLoop,
    /// NOERROR with neither records nor an SOA: what a resolver is left
    /// with when an answer came back truncated (TC) and TCP did not complete
    /// it (real negative answers carry the zone's SOA, RFC 2308).
    Truncated,
    Other(String),
}

impl DnsFailure {
    pub fn is_nx_domain(&self) -> bool {
        matches!(self, DnsFailure::NxDomain)
    }

    pub fn describe(&self) -> String {
        match self {
            DnsFailure::NxDomain => "NXDOMAIN (the name does not exist)".into(),
            DnsFailure::NoRecords => "no records of this type".into(),
            DnsFailure::ServFail => "SERVFAIL (the DNS server failed)".into(),
            DnsFailure::Refused => "REFUSED by the DNS server".into(),
            DnsFailure::Timeout => "DNS timeout".into(),
            DnsFailure::Deadline => "the run's deadline was reached before DNS answered".into(),
            DnsFailure::CnameLoop => "CNAME loop (the alias chain points back at itself)".into(),
            DnsFailure::Truncated => "an empty answer without an SOA: the DNS answer was truncated (TC flag) and not completed over TCP, or the server is broken".into(),
            DnsFailure::Other(m) => m.clone(),
        }
    }

    fn from_resolve(err: &ResolveError) -> Self {
        match err.kind() {
            ResolveErrorKind::NoRecordsFound {
                response_code: ResponseCode::NoError,
                soa: None,
                ..
            } => DnsFailure::Truncated,
            ResolveErrorKind::NoRecordsFound { response_code, .. } => match *response_code {
                ResponseCode::NXDomain => DnsFailure::NxDomain,
                ResponseCode::NoError => DnsFailure::NoRecords,
                ResponseCode::ServFail => DnsFailure::ServFail,
                ResponseCode::Refused => DnsFailure::Refused,
                other => DnsFailure::Other(format!("DNS answer {other}")),
            },
            ResolveErrorKind::Timeout => DnsFailure::Timeout,
            ResolveErrorKind::Message(m) if m.to_ascii_lowercase().contains("loop") => DnsFailure::CnameLoop,
            ResolveErrorKind::Msg(m) if m.to_ascii_lowercase().contains("loop") => DnsFailure::CnameLoop,
            ResolveErrorKind::NoConnections => DnsFailure::Other("no DNS server reachable".into()),
            _ => DnsFailure::Other(err.to_string()),
        }
    }
}

/// A failed host lookup made while connecting; found again by walking an
/// HTTP error's source chain.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {host}: {}", failure.describe())]
pub struct HostLookupError {
    pub host: String,
    pub failure: DnsFailure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SrvTarget {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MxHost {
    pub preference: u16,
    pub exchange: String,
}

/// Addresses of a name and the CNAME chain that led to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddressAnswer {
    pub cname_chain: Vec<String>,
    pub addresses: Vec<IpAddr>,
}

/// The resolver every part of exprobe uses.
#[derive(Clone)]
pub struct Dns {
    resolver: Arc<TokioAsyncResolver>,
    /// Bound of every lookup (the resolver itself retries per server).
    timeout: Duration,
    /// The run's deadline: no lookup outlives it.
    deadline: tokio::time::Instant,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dns")
    }
}

fn trim_dot(s: String) -> String {
    s.trim_end_matches('.').to_string()
}

impl Dns {
    /// Resolve through `servers` (UDP, then TCP on truncation), or the system's
    /// configuration when empty.
    pub fn new(
        servers: &[SocketAddr],
        timeout: Duration,
        deadline: tokio::time::Instant,
    ) -> Result<Self, std::io::Error> {
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout.min(Duration::from_secs(5));
        opts.attempts = 2;
        opts.preserve_intermediates = true;
        opts.cache_size = 256;
        opts.ndots = 0;
        let (config, opts) = if servers.is_empty() {
            let (config, sys_opts) = hickory_resolver::system_conf::read_system_conf()?;
            let mut opts2 = sys_opts;
            opts2.timeout = opts.timeout;
            opts2.attempts = opts.attempts;
            opts2.preserve_intermediates = true;
            opts2.ndots = 0;
            (config, opts2)
        } else {
            let mut config = ResolverConfig::new();
            for s in servers {
                config.add_name_server(NameServerConfig::new(*s, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(*s, Protocol::Tcp));
            }
            opts.use_hosts_file = false;
            (config, opts)
        };
        Ok(Dns {
            resolver: Arc::new(TokioAsyncResolver::tokio(config, opts)),
            timeout,
            deadline,
        })
    }

    /// Run one lookup within `--timeout` and the run's deadline, whatever
    /// the servers do (silence, garbage, truncation).
    async fn bounded<T>(
        &self,
        lookup: impl std::future::Future<Output = Result<T, ResolveError>>,
    ) -> Result<T, DnsFailure> {
        let now = tokio::time::Instant::now();
        let by_deadline = self.deadline.saturating_duration_since(now);
        if by_deadline.is_zero() {
            return Err(DnsFailure::Deadline);
        }
        let limit = self.timeout.min(by_deadline);
        match tokio::time::timeout(limit, lookup).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(DnsFailure::from_resolve(&e)),
            Err(_) if limit == by_deadline => Err(DnsFailure::Deadline),
            Err(_) => Err(DnsFailure::Timeout),
        }
    }

    fn fqdn(name: &str) -> String {
        if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        }
    }

    /// A and AAAA of `name`, with the CNAME chain.
    pub async fn addresses(&self, name: &str) -> Result<AddressAnswer, DnsFailure> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(AddressAnswer {
                cname_chain: vec![],
                addresses: vec![ip],
            });
        }
        let fq = Self::fqdn(name);
        let (a, aaaa) = tokio::join!(
            self.bounded(self.resolver.lookup(fq.as_str(), RecordType::A)),
            self.bounded(self.resolver.lookup(fq.as_str(), RecordType::AAAA)),
        );
        let mut answer = AddressAnswer {
            cname_chain: vec![],
            addresses: vec![],
        };
        let mut failures = vec![];
        for result in [a, aaaa] {
            match result {
                // hickory hands back a truncated answer it could not complete
                // over TCP as an empty success; a real "no records" is an error.
                Ok(lookup) if lookup.records().is_empty() => failures.push(DnsFailure::Truncated),
                Ok(lookup) => {
                    for record in lookup.records() {
                        match record.data() {
                            Some(RData::A(a)) => answer.addresses.push(IpAddr::V4(a.0)),
                            Some(RData::AAAA(a)) => answer.addresses.push(IpAddr::V6(a.0)),
                            Some(RData::CNAME(c)) => {
                                let t = trim_dot(c.0.to_string());
                                if !answer.cname_chain.contains(&t) {
                                    answer.cname_chain.push(t);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Err(f) => failures.push(f),
            }
        }
        if answer.addresses.is_empty()
            && failures
                .iter()
                .all(|f| matches!(f, DnsFailure::NoRecords | DnsFailure::Truncated))
            && self.cname_loops(name).await
        {
            return Err(DnsFailure::CnameLoop);
        }
        if answer.addresses.is_empty() {
            // NXDOMAIN wins over "no records": it says the name itself is absent.
            let failure = failures
                .iter()
                .find(|f| f.is_nx_domain())
                .or_else(|| failures.iter().find(|f| **f != DnsFailure::NoRecords))
                .or(failures.first())
                .cloned()
                .unwrap_or(DnsFailure::NoRecords);
            return Err(failure);
        }
        Ok(answer)
    }

    /// Follow `name`'s CNAME records one by one (at most 16): does the chain
    /// come back to a name it passed? Resolvers report a loop as "no records".
    async fn cname_loops(&self, name: &str) -> bool {
        let mut seen = vec![Self::fqdn(name).to_ascii_lowercase()];
        for _ in 0..16 {
            let Some(current) = seen.last().cloned() else {
                return false;
            };
            let Ok(lookup) = self
                .bounded(self.resolver.lookup(current.as_str(), RecordType::CNAME))
                .await
            else {
                return false;
            };
            let next = lookup.records().iter().find_map(|r| match r.data() {
                Some(RData::CNAME(c)) if r.name().to_string().eq_ignore_ascii_case(&current) => {
                    Some(c.0.to_string().to_ascii_lowercase())
                }
                _ => None,
            });
            let Some(next) = next else { return false };
            if seen.contains(&next) {
                return true;
            }
            seen.push(next);
        }
        false
    }

    pub async fn srv(&self, name: &str) -> Result<Vec<SrvTarget>, DnsFailure> {
        let lookup = self.bounded(self.resolver.srv_lookup(Self::fqdn(name))).await?;
        if lookup.as_lookup().records().is_empty() {
            return Err(DnsFailure::Truncated);
        }
        Ok(lookup
            .iter()
            .map(|s| SrvTarget {
                priority: s.priority(),
                weight: s.weight(),
                port: s.port(),
                target: if s.target().is_root() {
                    ".".to_string()
                } else {
                    trim_dot(s.target().to_string())
                },
            })
            .collect())
    }

    pub async fn mx(&self, name: &str) -> Result<Vec<MxHost>, DnsFailure> {
        let lookup = self.bounded(self.resolver.mx_lookup(Self::fqdn(name))).await?;
        if lookup.as_lookup().records().is_empty() {
            return Err(DnsFailure::Truncated);
        }
        let mut hosts: Vec<MxHost> = lookup
            .iter()
            .map(|m| MxHost {
                preference: m.preference(),
                exchange: trim_dot(m.exchange().to_string()),
            })
            .collect();
        hosts.sort_by_key(|m| m.preference);
        Ok(hosts)
    }
}

/// reqwest's resolver for connections to one destination port: applies
/// `--connect-to`, then resolves through [`Dns`].
#[derive(Debug, Clone)]
pub struct ConnectResolver {
    pub dns: Dns,
    pub port: u16,
    pub rules: Arc<Vec<ConnectTo>>,
}

impl ConnectResolver {
    /// Where a connection to `host:port` really goes: (host to resolve, port).
    pub fn route(rules: &[ConnectTo], host: &str, port: u16) -> (String, u16) {
        match rules.iter().find(|r| r.matches(host, port)) {
            Some(rule) => (
                if rule.to_host.is_empty() {
                    host.to_string()
                } else {
                    rule.to_host.clone()
                },
                rule.to_port.unwrap_or(port),
            ),
            None => (host.to_string(), port),
        }
    }
}

impl reqwest::dns::Resolve for ConnectResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let (to_host, to_port) = ConnectResolver::route(&this.rules, &host, this.port);
            match this.dns.addresses(&to_host).await {
                Ok(answer) => {
                    let addrs: Vec<SocketAddr> = answer
                        .addresses
                        .into_iter()
                        .map(|ip| SocketAddr::new(ip, to_port))
                        .collect();
                    Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
                }
                Err(failure) => {
                    Err(Box::new(HostLookupError { host: to_host, failure })
                        as Box<dyn std::error::Error + Send + Sync>)
                }
            }
        })
    }
}
