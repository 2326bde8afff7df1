//! The lab's certificate authority (generated at start) and per-host leaf
//! certificates in the scenario's state: valid, expired, wrong name, or
//! issued by a second CA the client is never told about (untrusted).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use super::scenario::CertState;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("TLS server setup: {0}")]
    Rustls(#[from] rustls::Error),
}

struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Authority {
    fn new(name: &str, now: OffsetDateTime) -> Result<Self, CertError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.distinguished_name.push(DnType::OrganizationName, "exprobe lab");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - Duration::days(400);
        params.not_after = now + Duration::days(800);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Authority { cert, key })
    }
}

/// Issues and caches one TLS server configuration per (host, state).
pub struct LabCertificates {
    trusted: Authority,
    rogue: Authority,
    cache: Mutex<HashMap<(String, CertState), Arc<rustls::ServerConfig>>>,
    /// The leaf certificate (DER) of each configuration, for channel bindings.
    leaves: Mutex<HashMap<(String, CertState), Vec<u8>>>,
    /// The lab's day at noon, when a scenario is set on one; else the clock.
    day: Option<OffsetDateTime>,
}

impl std::fmt::Debug for LabCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LabCertificates")
    }
}

impl LabCertificates {
    /// Certificates valid around `day` (a scenario set on another day), or around now.
    pub fn new(day: Option<time::Date>) -> Result<Self, CertError> {
        let day = day.map(|d| d.midnight().assume_utc() + Duration::hours(12));
        let now = OffsetDateTime::now_utc();
        Ok(LabCertificates {
            trusted: Authority::new("exprobe lab CA", now)?,
            rogue: Authority::new("exprobe lab untrusted CA", now)?,
            cache: Mutex::new(HashMap::new()),
            leaves: Mutex::new(HashMap::new()),
            day,
        })
    }

    /// PEM of the CA a client should trust (`--ca-file`).
    pub fn ca_pem(&self) -> String {
        self.trusted.cert.pem()
    }

    pub fn server_config(&self, host: &str, state: CertState) -> Result<Arc<rustls::ServerConfig>, CertError> {
        let key = (host.to_ascii_lowercase(), state);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let names = match state {
            CertState::WrongName => vec!["wrong-host.exprobe-lab.invalid".to_string()],
            _ => vec![key.0.clone()],
        };
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, key.0.clone());
        // Valid today and on the lab's day, whichever comes first: a check
        // in-process runs on the clock, one under faketime on the lab's day.
        let now = OffsetDateTime::now_utc();
        let (first, last) = match self.day {
            Some(day) => (now.min(day), now.max(day)),
            None => (now, now),
        };
        match state {
            CertState::Expired => {
                params.not_before = first - Duration::days(400);
                params.not_after = first - Duration::days(30);
            }
            _ => {
                params.not_before = first - Duration::days(1);
                params.not_after = last + Duration::days(90);
            }
        }
        let leaf_key = KeyPair::generate()?;
        let issuer = if state == CertState::Untrusted {
            &self.rogue
        } else {
            &self.trusted
        };
        let leaf = params.signed_by(&leaf_key, &issuer.cert, &issuer.key)?;
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), issuer.cert.der().clone()];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(crate::net::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, private)?;
        let config = Arc::new(config);
        self.leaves
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), leaf.der().to_vec());
        cache.insert(key, config.clone());
        Ok(config)
    }

    /// The leaf certificate [`Self::server_config`] serves for `host` (DER).
    pub fn leaf_der(&self, host: &str, state: CertState) -> Option<Vec<u8>> {
        self.leaves
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(host.to_ascii_lowercase(), state))
            .cloned()
    }
}
