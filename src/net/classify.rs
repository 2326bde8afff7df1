//! Error classification by walking the source chain down to the io, rustls
//! and resolver causes (the habit of hickory's `is_nx_domain()` helpers).

use std::error::Error as StdError;

use rustls::CertificateError;
use serde::{Deserialize, Serialize};

use super::dns::{DnsFailure, HostLookupError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsProblem {
    CertificateExpired,
    CertificateNotYetValid,
    NameMismatch,
    Untrusted,
    Handshake,
    /// The server negotiated (or only offers) TLS older than 1.2.
    ProtocolVersion,
}

/// Why an exchange produced no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NetFailure {
    Dns {
        failure: DnsFailure,
    },
    ConnectionRefused,
    /// Reset, aborted, or closed before an answer (including mid-handshake).
    ConnectionReset,
    Unreachable {
        message: String,
    },
    Tls {
        problem: TlsProblem,
        message: String,
    },
    Timeout,
    /// The run's `--deadline` left no time for this request.
    Deadline,
    /// exprobe would not send this request (credentials over http, host not allowed).
    RefusedByPolicy {
        reason: String,
    },
    Protocol {
        message: String,
    },
}

impl NetFailure {
    pub fn kind(&self) -> &'static str {
        match self {
            NetFailure::Dns { .. } => "dns",
            NetFailure::ConnectionRefused | NetFailure::ConnectionReset | NetFailure::Unreachable { .. } => "connect",
            NetFailure::Tls { .. } => "tls",
            NetFailure::Timeout => "timeout",
            NetFailure::Deadline => "deadline",
            NetFailure::RefusedByPolicy { .. } => "refused_by_policy",
            NetFailure::Protocol { .. } => "http",
        }
    }

    pub fn is_certificate_expired(&self) -> bool {
        matches!(
            self,
            NetFailure::Tls {
                problem: TlsProblem::CertificateExpired,
                ..
            }
        )
    }

    pub fn describe(&self) -> String {
        match self {
            NetFailure::Dns { failure } => failure.describe(),
            NetFailure::ConnectionRefused => "connection refused".into(),
            NetFailure::ConnectionReset => "connection reset or closed before an answer".into(),
            NetFailure::Unreachable { message } => message.clone(),
            NetFailure::Tls { message, .. } => format!("TLS: {message}"),
            NetFailure::Timeout => "no answer before the timeout".into(),
            NetFailure::Deadline => "the run's deadline was reached".into(),
            NetFailure::RefusedByPolicy { reason } => format!("not sent: {reason}"),
            NetFailure::Protocol { message } => message.clone(),
        }
    }
}

fn date(t: rustls::pki_types::UnixTime) -> String {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|d| format!("{}", d.date()))
        .unwrap_or_else(|_| format!("{secs} (UNIX)"))
}

fn days_between(a: rustls::pki_types::UnixTime, b: rustls::pki_types::UnixTime) -> u64 {
    a.as_secs().abs_diff(b.as_secs()) / 86_400
}

/// A message an admin can act on, without the volatile verification timestamp.
fn tls_message(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::ExpiredContext { time, not_after } => format!(
                "certificate expired on {} ({} days ago)",
                date(*not_after),
                days_between(*time, *not_after)
            ),
            CertificateError::NotValidYetContext { time, not_before } => format!(
                "certificate not valid before {} ({} days from now)",
                date(*not_before),
                days_between(*time, *not_before)
            ),
            CertificateError::NotValidForNameContext { expected, presented } => format!(
                "certificate is for {}, not {}",
                if presented.is_empty() {
                    "no DNS name".to_string()
                } else {
                    presented.join(", ")
                },
                expected.to_str()
            ),
            CertificateError::UnknownIssuer => "certificate issued by an authority this machine does not trust".into(),
            CertificateError::BadSignature => "certificate signature does not verify".into(),
            other => format!("invalid certificate: {other:?}"),
        },
        rustls::Error::PeerIncompatible(rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13) => {
            "the server offers only TLS 1.0 or 1.1 (protocol version too old; TLS 1.2 or 1.3 is required)".into()
        }
        rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion) => {
            "the server refused every TLS protocol version offered (TLS 1.2 and 1.3): protocol version alert".into()
        }
        rustls::Error::InvalidMessage(m) => {
            format!("the server's TLS answer is invalid ({m:?}): not TLS, or a broken TLS stack")
        }
        other => other.to_string(),
    }
}

fn from_rustls(err: &rustls::Error) -> NetFailure {
    let message = tls_message(err);
    let problem = match err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => TlsProblem::CertificateExpired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsProblem::CertificateNotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsProblem::NameMismatch
            }
            CertificateError::UnknownIssuer | CertificateError::BadSignature => TlsProblem::Untrusted,
            _ => TlsProblem::Handshake,
        },
        rustls::Error::PeerIncompatible(rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13)
        | rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion) => TlsProblem::ProtocolVersion,
        _ => TlsProblem::Handshake,
    };
    NetFailure::Tls { problem, message }
}

fn from_io(err: &std::io::Error) -> Option<NetFailure> {
    use std::io::ErrorKind::*;
    if let Some(inner) = err.get_ref() {
        if let Some(found) = classify_one(inner) {
            return Some(found);
        }
    }
    Some(match err.kind() {
        ConnectionRefused => NetFailure::ConnectionRefused,
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected => NetFailure::ConnectionReset,
        TimedOut => NetFailure::Timeout,
        HostUnreachable | NetworkUnreachable | AddrNotAvailable => NetFailure::Unreachable {
            message: err.to_string(),
        },
        _ => return None,
    })
}

fn classify_one(err: &(dyn StdError + 'static)) -> Option<NetFailure> {
    if let Some(lookup) = err.downcast_ref::<HostLookupError>() {
        return Some(NetFailure::Dns {
            failure: lookup.failure.clone(),
        });
    }
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(from_rustls(tls));
    }
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        return from_io(io);
    }
    None
}

/// Walk `err` and its sources; the deepest recognizable cause wins over
/// reqwest's generic wrappers.
pub fn classify(err: &(dyn StdError + 'static)) -> NetFailure {
    let mut current = Some(err);
    let mut generic_timeout = false;
    while let Some(e) = current {
        if let Some(found) = classify_one(e) {
            return found;
        }
        if let Some(r) = e.downcast_ref::<reqwest::Error>() {
            generic_timeout |= r.is_timeout();
        }
        current = e.source();
    }
    if generic_timeout {
        return NetFailure::Timeout;
    }
    NetFailure::Protocol {
        message: chain_message(err),
    }
}

/// "a: b: c" from an error chain, for messages.
pub fn chain_message(err: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![];
    let mut current = Some(err);
    while let Some(e) = current {
        let s = e.to_string();
        if parts.last() != Some(&s) {
            parts.push(s);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_inside_io_is_found() {
        let err = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        );
        assert!(classify(&err).is_certificate_expired());
        let err = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert!(matches!(
            classify(&err),
            NetFailure::Tls {
                problem: TlsProblem::Untrusted,
                ..
            }
        ));
    }

    #[test]
    fn io_kinds() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(&refused), NetFailure::ConnectionRefused);
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert_eq!(classify(&eof), NetFailure::ConnectionReset);
    }

    #[test]
    fn lookup_error_is_dns() {
        let err = HostLookupError {
            host: "nx.example".into(),
            failure: DnsFailure::NxDomain,
        };
        let io = std::io::Error::other(err);
        assert_eq!(
            classify(&io),
            NetFailure::Dns {
                failure: DnsFailure::NxDomain
            }
        );
    }
}
