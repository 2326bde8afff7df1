//! Typed outcome of the autodiscover probe (also its JSON observations).

use serde::Serialize;

use crate::net::{NetFailure, TlsProblem};

/// Which autodiscover protocol answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Pox,
    Soap,
    V2,
    /// The unauthenticated GET on the plain-HTTP redirect host.
    HttpRedirect,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Pox => "POX",
            Method::Soap => "SOAP",
            Method::V2 => "v2 JSON",
            Method::HttpRedirect => "HTTP redirect",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectKind {
    /// POX `redirectAddr` or SOAP `RedirectAddress`.
    Address,
    /// POX `redirectUrl` or SOAP `RedirectUrl`.
    Url,
    /// An HTTP 3xx `Location`.
    Http,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedirectHop {
    pub kind: RedirectKind,
    pub from: String,
    pub to: String,
    /// The redirect leaves the domain it came from.
    pub cross_domain: bool,
}

/// The kinds of hop that can lead discovery from one host to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HopKind {
    /// An HTTP 301/302/303/307/308 answer to an autodiscover POST.
    HttpStatus,
    /// The unauthenticated plain-HTTP GET on `http://autodiscover.DOMAIN/...`.
    HttpRedirectMethod,
    /// An `_autodiscover._tcp` SRV record.
    Srv,
    /// POX `redirectUrl` or SOAP `RedirectUrl`.
    RedirectUrl,
    /// POX `redirectAddr` or SOAP `RedirectAddress`.
    RedirectAddress,
}

impl HopKind {
    pub fn describe(self) -> &'static str {
        match self {
            HopKind::HttpStatus => "an HTTP redirect",
            HopKind::HttpRedirectMethod => "the unauthenticated plain-HTTP redirect",
            HopKind::Srv => "an SRV record",
            HopKind::RedirectUrl => "a redirectUrl answer",
            HopKind::RedirectAddress => "a redirectAddr answer",
        }
    }
}

/// A hop to a host outside the organization's own domains and the hosts
/// named on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Crossing {
    pub hop: HopKind,
    pub from: String,
    pub to: String,
    /// The host (or, for an address redirect, the domain) the hop leads to.
    pub host: String,
    /// The `--trust-domain` that allows credentials there; `None`: not trusted.
    pub trusted_by: Option<String>,
}

impl Crossing {
    pub fn describe(&self) -> String {
        format!(
            "{} from {} to {} ({})",
            self.hop.describe(),
            self.from,
            self.to,
            self.host
        )
    }
}

/// An EWS URL found on a path that left the trusted hosts and was not
/// confirmed by an authenticated answer of the organization's own server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UntrustedAnswer {
    pub ews_url: String,
    pub crossing: Crossing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AttemptResult {
    Settings {
        ews_url: String,
    },
    RedirectAddress {
        to: String,
    },
    RedirectUrl {
        to: String,
    },
    HttpRedirect {
        status: u16,
        location: String,
    },
    UserNotFound {
        message: String,
    },
    /// 401 and no credentials to offer.
    AuthRequired,
    /// 401 and exprobe would not send credentials here.
    CredentialsWithheld {
        reason: String,
        /// The host, when it is outside the hosts trusted with credentials
        /// (a redirect or an SRV record led there).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        untrusted_host: Option<String>,
    },
    /// 401 even with credentials.
    CredentialsRejected,
    /// 401 to the NTLM NEGOTIATE message, without a CHALLENGE: the host
    /// takes no NTLM (only Kerberos when it offers only Negotiate).
    NtlmNotTaken {
        negotiate_only: bool,
    },
    InvalidResponse {
        reason: String,
    },
    /// An autodiscover-level error code (POX 600..603, SOAP ServerBusy, ...).
    ServiceError {
        code: String,
        message: String,
    },
    HttpStatus {
        status: u16,
    },
    Network {
        failure: NetFailure,
    },
    RedirectRefused {
        location: String,
        reason: String,
    },
    Skipped {
        reason: String,
    },
    /// Still running when a lower-precedence candidate had answered and the grace period ended.
    Abandoned {
        grace_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// Which candidate: `autodiscover-url`, `v2`, `domain`, `autodiscover-host`, `http-redirect`, `srv`.
    pub candidate: String,
    /// The address asked about.
    pub address: String,
    pub method: Method,
    pub url: String,
    #[serde(flatten)]
    pub result: AttemptResult,
}

/// Why autodiscover produced no EWS URL. The report engine maps each to a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AutodiscoverFailure {
    UserNotFound {
        url: String,
        message: String,
    },
    RedirectLoop {
        repeated: String,
    },
    TooManyRedirects {
        limit: u32,
    },
    InsecureRedirect {
        url: String,
        location: String,
        reason: String,
    },
    InvalidResponse {
        url: String,
        reason: String,
    },
    Tls {
        url: String,
        problem: TlsProblem,
        message: String,
    },
    ServerError {
        url: String,
        detail: String,
    },
    Unreachable {
        url: String,
        failure: NetFailure,
    },
    CredentialsRejected {
        urls: Vec<String>,
    },
    /// Every host that asked for authentication took no NTLM.
    NtlmNotTaken {
        urls: Vec<String>,
        negotiate_only: bool,
    },
    AuthRequired {
        urls: Vec<String>,
    },
    /// A hop led outside the trusted hosts, and the host there asked for
    /// credentials: none were sent, and discovery found nothing else.
    CredentialsAskedAcrossDomains {
        url: String,
        host: String,
    },
    /// The only EWS URL found came through a hop outside the trusted hosts:
    /// it receives no credentials.
    CrossDomainRedirect {
        ews_url: String,
        crossing: Crossing,
    },
    NotFound,
}

#[derive(Debug, Clone, Serialize)]
pub struct AutodiscoverOutcome {
    pub mailbox: String,
    pub ews_url: Option<String>,
    /// The internal EWS URL (POX `EXCH`, SOAP `InternalEwsUrl`) when it differs from `ews_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_ews_url: Option<String>,
    pub method: Option<Method>,
    pub found_at: Option<String>,
    pub candidate: Option<String>,
    /// `AutoDiscoverSMTPAddress` (POX/SOAP), when the server told it.
    pub primary_smtp_address: Option<String>,
    pub display_name: Option<String>,
    /// The address autodiscover finally answered for (after redirectAddr hops).
    pub resolved_address: String,
    pub redirects: Vec<RedirectHop>,
    /// Hops of the chosen path that left the organization's hosts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub crossings: Vec<Crossing>,
    /// Answers ignored because a trusted path answered too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub untrusted_alternatives: Vec<UntrustedAnswer>,
    /// A run without credentials used an answer reached through this
    /// untrusted hop (a credentialed run would not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untrusted_used: Option<Crossing>,
    /// The endpoint remembered from the domain's first mailbox that answered this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused: Option<String>,
    pub attempts: Vec<Attempt>,
    pub failure: Option<AutodiscoverFailure>,
}
