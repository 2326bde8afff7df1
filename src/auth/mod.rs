//! Authentication, one owner: the credentials a request may carry, the
//! schemes a server offers, and each scheme's exchange. The network layer
//! asks [`Credentials::plan`] how a request goes out: with one
//! `Authorization` header (Basic, Bearer), or through a handshake on one
//! connection of its own (NTLM), which runs over the [`Leg`] that `net`
//! provides and ends in a [`HandshakeEnd`] the diagnosis reads. Whether a
//! host may receive credentials at all is not decided here: `net` refuses
//! before any plan is made (README, "Security: which hosts receive
//! credentials").
//!
//! Adding a scheme (Kerberos next) touches:
//!
//! - `src/auth/SCHEME.rs`: its messages and, when it takes more than one
//!   request, its handshake as typed states (as `ntlm.rs` does);
//! - `src/auth/mod.rs`: a [`Scheme`] and a [`Credentials`] variant, its arm
//!   in [`Credentials::plan`] and, for a handshake, its [`HandshakeEnd`]s;
//! - `src/cli.rs` and `src/config/auth.rs`: the `--auth` value and the
//!   credentials it reads;
//! - `src/catalogue/` and `src/diagnose/codes.rs`: the codes its failures
//!   get, named from its [`HandshakeEnd`]s;
//! - its tests: `tests/it/SCHEME.rs`, and the lab's side of the exchange
//!   (`src/lab/auth.rs`) for the end-to-end ones.
//!
//! Nothing in `net/` or `probe/` changes: they carry [`Credentials`] and
//! compare [`Scheme`]s, never scheme names.

pub mod device_code;
pub mod ntlm;

use std::future::Future;

pub use ntlm::NtlmIdentity;

use crate::protocol::ews::NtlmStage;
use crate::secret::Secret;

/// An HTTP authentication scheme, as `WWW-Authenticate` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    Bearer,
    Ntlm,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Basic => "Basic",
            Scheme::Bearer => "Bearer",
            Scheme::Ntlm => "NTLM",
        }
    }

    /// Whether a server offering `schemes` (the `WWW-Authenticate` scheme
    /// names, any case) takes this one: NTLM also travels inside `Negotiate`.
    pub fn taken_by(self, schemes: &[String]) -> bool {
        schemes.iter().any(|s| {
            s.eq_ignore_ascii_case(self.name()) || (self == Scheme::Ntlm && s.eq_ignore_ascii_case("Negotiate"))
        })
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether `WWW-Authenticate` values offer the scheme called `name`
/// (`NTLM`, or `NTLM <token>`; values may list several, comma-separated).
pub fn offered<'a>(www_authenticate: impl IntoIterator<Item = &'a str>, name: &str) -> bool {
    www_authenticate.into_iter().flat_map(|v| v.split(',')).any(|part| {
        let s = part.trim();
        s.eq_ignore_ascii_case(name) || s.split_once(' ').is_some_and(|(x, _)| x.eq_ignore_ascii_case(name))
    })
}

/// Whether `WWW-Authenticate` values offer `Negotiate` without `NTLM`:
/// behind it is Kerberos, which exprobe does not speak (yet).
pub fn negotiate_without_ntlm<'a>(www_authenticate: impl IntoIterator<Item = &'a str>) -> bool {
    let schemes: Vec<String> = crate::protocol::www_authenticate::parse_all(www_authenticate)
        .into_iter()
        .map(|c| c.scheme.to_ascii_lowercase())
        .collect();
    schemes.iter().any(|s| s == "negotiate") && !schemes.iter().any(|s| s == "ntlm")
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
        identity: NtlmIdentity,
        password: Secret,
    },
}

/// How a request with credentials goes out.
#[derive(Debug)]
pub enum Plan<'a> {
    /// One request carrying this `Authorization` value (a secret: never logged).
    Header(Secret),
    /// An NTLM handshake on one connection of its own ([`ntlm::handshake`]).
    Ntlm {
        identity: &'a NtlmIdentity,
        password: &'a Secret,
    },
}

impl Credentials {
    /// The `WWW-Authenticate` scheme these credentials need.
    pub fn scheme(&self) -> Scheme {
        match self {
            Credentials::Basic { .. } => Scheme::Basic,
            Credentials::Bearer { .. } => Scheme::Bearer,
            Credentials::Ntlm { .. } => Scheme::Ntlm,
        }
    }

    /// Whether these sign the service account itself in (its password, as
    /// Basic or proven by NTLM), as autodiscover's POX and SOAP take it; a
    /// bearer token is for EWS and Graph only.
    pub fn signs_in_the_account(&self) -> bool {
        match self {
            Credentials::Basic { .. } | Credentials::Ntlm { .. } => true,
            Credentials::Bearer { .. } => false,
        }
    }

    /// How a request carrying these credentials is sent.
    pub fn plan(&self) -> Plan<'_> {
        use base64::Engine as _;
        match self {
            Credentials::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                Plan::Header(Secret::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )))
            }
            Credentials::Bearer { token } => Plan::Header(Secret::new(format!("Bearer {}", token.expose()))),
            Credentials::Ntlm { identity, password } => Plan::Ntlm { identity, password },
        }
    }

    /// What the evidence shows for a handshake's own `Authorization`
    /// headers, which the recorded request does not carry: the scheme only.
    pub fn handshake_evidence(&self) -> Option<(String, String)> {
        match self {
            Credentials::Ntlm { .. } => Some(("Authorization".into(), "NTLM [redacted]".into())),
            Credentials::Basic { .. } | Credentials::Bearer { .. } => None,
        }
    }
}

/// How a handshake ended, for the diagnosis: the status alone cannot tell a
/// server that takes no NTLM from one that rejected the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeEnd {
    /// The NEGOTIATE message got no CHALLENGE back (the answer is this response).
    NoChallenge,
    /// The AUTHENTICATE message was answered (this response), inside
    /// `Negotiate` when the server offered only that.
    Answered { via_negotiate: bool },
    /// The NEGOTIATE message was answered with something else than a 401:
    /// the server did not ask for authentication, so nothing was verified.
    NotAsked,
}

impl HandshakeEnd {
    /// Where a handshake answered 401 stopped, as an EWS reply records it
    /// (`None` when it did not stop at a 401).
    pub fn stage(self) -> Option<NtlmStage> {
        match self {
            HandshakeEnd::NoChallenge => Some(NtlmStage::NoChallenge),
            HandshakeEnd::Answered { via_negotiate } => Some(NtlmStage::Rejected { via_negotiate }),
            HandshakeEnd::NotAsked => None,
        }
    }
}

/// An answer as a handshake reads it.
pub trait Answer {
    fn status(&self) -> u16;
    /// Every `WWW-Authenticate` header value.
    fn www_authenticate(&self) -> Vec<&str>;
}

/// The one connection a handshake runs on: the same request sent again
/// with each `Authorization` value the handshake makes.
pub trait Leg {
    type Answer: Answer + Send;
    type Error: Send;
    fn send(&mut self, authorization: &str) -> impl Future<Output = Result<Self::Answer, Self::Error>> + Send;
    /// The server's certificate (DER), for the channel binding.
    fn peer_certificate(&self) -> Option<&[u8]>;
}

/// Why a handshake could not go on.
#[derive(Debug)]
pub enum HandshakeError<E> {
    /// The connection failed (DNS, connect, TLS, HTTP).
    Leg(E),
    /// The messages could not be made, or the challenge could not be read.
    Messages(String),
}
