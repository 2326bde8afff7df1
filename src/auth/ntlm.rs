//! NTLM (NTLMv2): the client's handshake as typed states ([`handshake`]),
//! its messages through the sspi crate (NEGOTIATE, AUTHENTICATE), and the
//! acceptor the lab uses to check them. No cryptography here: sspi computes
//! and verifies the responses.
//!
//! The AUTHENTICATE message carries a response derived from the password: it
//! is a secret and never reaches evidence or logs (see `redact_headers`).

use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, DataRepresentation, Ntlm, SecurityBuffer,
    SecurityStatus, ServerRequestFlags, Sspi, SspiEx, SspiImpl, Username,
};

use super::{offered, Answer, HandshakeEnd, HandshakeError, Leg};
use crate::secret::Secret;

/// How the account names itself in the AUTHENTICATE message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtlmIdentity {
    /// `svc-sync`, or a whole UPN `svc-sync@contoso.com` (then no domain).
    pub user: String,
    /// The NetBIOS domain (`CONTOSO`), absent with a UPN.
    pub domain: Option<String>,
}

impl NtlmIdentity {
    /// `DOMAIN\user`, `user@domain` (a UPN, sent whole as Windows does), or
    /// a bare `user` with `domain`.
    pub fn parse(account: &str, domain: Option<&str>) -> Result<Self, String> {
        let account = account.trim();
        if let Some((d, u)) = account.split_once('\\') {
            if d.is_empty() || u.is_empty() || u.contains('\\') {
                return Err("expected DOMAIN\\user".into());
            }
            return Ok(NtlmIdentity {
                user: u.to_string(),
                domain: Some(d.to_string()),
            });
        }
        if account.contains('@') {
            // A UPN carries its domain: sent whole, with no NetBIOS domain.
            return Ok(NtlmIdentity {
                user: account.to_string(),
                domain: None,
            });
        }
        if account.is_empty() {
            return Err("the account name is empty".into());
        }
        match domain {
            Some(d) => Ok(NtlmIdentity {
                user: account.to_string(),
                domain: Some(d.to_string()),
            }),
            None => Err(
                "a bare user name needs the domain (--ntlm-domain DOMAIN), or give DOMAIN\\user or user@domain".into(),
            ),
        }
    }

    /// As a person would write it.
    pub fn display(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}\\{}", self.user),
            None => self.user.clone(),
        }
    }
}

/// The account's name as SSPI takes it.
fn username(id: &NtlmIdentity) -> Result<Username, String> {
    Username::new(&id.user, id.domain.as_deref()).map_err(|e| format!("the account name: {e}"))
}

/// The scheme name a handshake's messages travel under: `NTLM`, or
/// `Negotiate` (as Windows sends them) when the server offers only that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carrier {
    Ntlm,
    Negotiate,
}

impl Carrier {
    fn name(self) -> &'static str {
        match self {
            Carrier::Ntlm => "NTLM",
            Carrier::Negotiate => "Negotiate",
        }
    }
}

/// Nothing sent yet.
struct Start<'a> {
    carrier: Carrier,
    identity: &'a NtlmIdentity,
    password: &'a Secret,
    host: &'a str,
}

/// The NEGOTIATE message is out; its answer came back.
struct NegotiateAnswered<A> {
    carrier: Carrier,
    client: NtlmClient,
    answer: A,
}

/// What the answer to NEGOTIATE allows next.
enum AfterNegotiate<A> {
    /// A CHALLENGE: the AUTHENTICATE message can be made.
    Challenged(Box<Challenged>),
    /// 401 without a CHALLENGE under `NTLM`, while the server offers only
    /// `Negotiate`: start again under that name.
    OnlyNegotiateOffered,
    /// The handshake ends here, with this answer.
    Ended(A, HandshakeEnd),
}

/// A CHALLENGE to answer.
struct Challenged {
    carrier: Carrier,
    client: NtlmClient,
    challenge: Vec<u8>,
}

fn b64(t: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(t)
}

impl<'a> Start<'a> {
    async fn send_negotiate<L: Leg>(
        self,
        leg: &mut L,
    ) -> Result<NegotiateAnswered<L::Answer>, HandshakeError<L::Error>> {
        let mut client = NtlmClient::new(self.identity, self.password, self.host).map_err(HandshakeError::Messages)?;
        let negotiate = client.negotiate().map_err(HandshakeError::Messages)?;
        let answer = leg
            .send(&format!("{} {}", self.carrier.name(), b64(&negotiate)))
            .await
            .map_err(HandshakeError::Leg)?;
        Ok(NegotiateAnswered {
            carrier: self.carrier,
            client,
            answer,
        })
    }
}

impl<A: Answer> NegotiateAnswered<A> {
    fn read(self) -> AfterNegotiate<A> {
        let offers = self.answer.www_authenticate();
        if self.answer.status() != 401 {
            // A 200 here: the resource needs no authentication at all.
            return AfterNegotiate::Ended(self.answer, HandshakeEnd::NotAsked);
        }
        if let Some(challenge) = challenge_token(&offers, self.carrier.name()) {
            return AfterNegotiate::Challenged(Box::new(Challenged {
                carrier: self.carrier,
                client: self.client,
                challenge,
            }));
        }
        if self.carrier == Carrier::Ntlm && !offered(offers.iter().copied(), "NTLM") && offered(offers, "Negotiate") {
            return AfterNegotiate::OnlyNegotiateOffered;
        }
        AfterNegotiate::Ended(self.answer, HandshakeEnd::NoChallenge)
    }
}

impl Challenged {
    async fn send_authenticate<L: Leg>(
        mut self,
        leg: &mut L,
    ) -> Result<(L::Answer, HandshakeEnd), HandshakeError<L::Error>> {
        let binding = leg.peer_certificate().map(tls_server_end_point);
        let authenticate = self
            .client
            .authenticate(&self.challenge, binding.as_deref())
            .map_err(HandshakeError::Messages)?;
        let answer = leg
            .send(&format!("{} {}", self.carrier.name(), b64(&authenticate)))
            .await
            .map_err(HandshakeError::Leg)?;
        let end = HandshakeEnd::Answered {
            via_negotiate: self.carrier == Carrier::Negotiate,
        };
        Ok((answer, end))
    }
}

/// NEGOTIATE, CHALLENGE, AUTHENTICATE on one connection: under `NTLM`
/// first, and inside `Negotiate` when the server offers only that. The
/// last answer and how the handshake ended.
pub async fn handshake<L: Leg>(
    leg: &mut L,
    identity: &NtlmIdentity,
    password: &Secret,
    host: &str,
) -> Result<(L::Answer, HandshakeEnd), HandshakeError<L::Error>> {
    let mut carrier = Carrier::Ntlm;
    loop {
        let start = Start {
            carrier,
            identity,
            password,
            host,
        };
        match start.send_negotiate(leg).await?.read() {
            AfterNegotiate::Challenged(c) => return c.send_authenticate(leg).await,
            AfterNegotiate::Ended(answer, end) => return Ok((answer, end)),
            // At most once: the second start is under Negotiate.
            AfterNegotiate::OnlyNegotiateOffered => carrier = Carrier::Negotiate,
        }
    }
}

/// The NTLM CHALLENGE a `WWW-Authenticate: NTLM <token>` (or `Negotiate <token>`) carries.
fn challenge_token(www_authenticate: &[&str], scheme: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    www_authenticate
        .iter()
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let (s, token) = part.trim().split_once(' ')?;
            if !s.eq_ignore_ascii_case(scheme) {
                return None;
            }
            base64::engine::general_purpose::STANDARD.decode(token.trim()).ok()
        })
        .filter(|t| message_type(t) == Some(2))
}

/// An NTLM message type (1, 2 or 3), from its signature and type field.
pub fn message_type(token: &[u8]) -> Option<u32> {
    if token.len() < 12 || &token[..8] != b"NTLMSSP\0" {
        return None;
    }
    Some(u32::from_le_bytes([token[8], token[9], token[10], token[11]]))
}

/// Whether an AUTHENTICATE message carries a channel binding: an NTLMv2
/// response whose AV pairs hold a non-zero `MsvAvChannelBindings` (MS-NLMP
/// 2.2.2.1, 2.2.2.7). The message is only read here (no cryptography): its
/// NtChallengeResponse is the NTProofStr (16 bytes) and the client's blob,
/// whose AV pairs start 28 bytes in.
pub fn carries_channel_binding(authenticate: &[u8]) -> bool {
    const MSV_AV_EOL: u16 = 0;
    const MSV_AV_CHANNEL_BINDINGS: u16 = 0x000A;
    if message_type(authenticate) != Some(3) || authenticate.len() < 28 {
        return false;
    }
    let u16_at = |b: &[u8], i: usize| b.get(i..i + 2).map(|v| u16::from_le_bytes([v[0], v[1]]));
    let (Some(len), Some(offset)) = (
        u16_at(authenticate, 20),
        authenticate
            .get(24..28)
            .map(|v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize),
    ) else {
        return false;
    };
    let Some(response) = authenticate.get(offset..offset.saturating_add(len as usize)) else {
        return false;
    };
    // An NTLMv1 response is 24 bytes and has no AV pairs.
    let mut at = 16 + 28;
    while let (Some(id), Some(n)) = (u16_at(response, at), u16_at(response, at + 2)) {
        let value = response.get(at + 4..at + 4 + n as usize);
        match (id, value) {
            (MSV_AV_EOL, _) | (_, None) => break,
            (MSV_AV_CHANNEL_BINDINGS, Some(v)) => return v.iter().any(|b| *b != 0),
            _ => at += 4 + n as usize,
        }
    }
    false
}

/// An NTLM failure on exprobe's side, in exprobe's words: what it means
/// for the handshake and the SSPI status, never the crate's own text (its
/// internals and, for a hostile CHALLENGE, bytes the server chose).
fn client_err(e: sspi::Error) -> String {
    use sspi::ErrorKind as K;
    let what = match e.error_type {
        K::InvalidToken | K::IllegalMessage | K::IncompleteMessage | K::MessageAltered | K::InvalidParameter => {
            "the server's NTLM CHALLENGE message cannot be read (malformed or cut short)"
        }
        K::OutOfSequence => "the server's NTLM messages came out of order",
        K::LogonDenied
        | K::UnknownCredentials
        | K::NoCredentials
        | K::IncompleteCredentials
        | K::WrongCredentialHandle => "the account name or password cannot be used for NTLM",
        K::BadBindings => "the NTLM channel binding does not match the TLS connection",
        K::AlgorithmMismatch | K::UnsupportedFunction | K::OperationNotSupported | K::UnsupportedPreAuth => {
            "the server asks for an NTLM variant exprobe does not speak (it speaks NTLMv2)"
        }
        K::TimeSkew => "the server's NTLM CHALLENGE carries a time too far from this machine's clock",
        _ => "the NTLM handshake failed on exprobe's side",
    };
    format!("{what} (SSPI status 0x{:08X})", e.error_type as u32)
}

/// The lab's side: the crate's own words are fine in the lab's logs.
fn server_err(e: sspi::Error) -> String {
    format!("{:?}: {}", e.error_type, e.description)
}

/// The `tls-server-end-point` channel binding of a server certificate (RFC
/// 5929): "tls-server-end-point:" and the certificate's hash, SHA-256 unless
/// the certificate is signed with SHA-384 or SHA-512 (MD5 and SHA-1 become
/// SHA-256 too).
pub fn tls_server_end_point(certificate_der: &[u8]) -> Vec<u8> {
    // The DER of the signature algorithms' object identifiers.
    const SHA384: &[&[u8]] = &[
        &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c], // sha384WithRSAEncryption
        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],       // ecdsa-with-SHA384
    ];
    const SHA512: &[&[u8]] = &[
        &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d], // sha512WithRSAEncryption
        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],       // ecdsa-with-SHA512
    ];
    // The outer signatureAlgorithm follows the TBSCertificate: the last
    // algorithm identifier before the signature bits at the end.
    let signed_with = |oids: &[&[u8]]| {
        oids.iter()
            .any(|oid| certificate_der.windows(oid.len()).any(|w| w == *oid))
    };
    let algorithm = if signed_with(SHA512) {
        &ring::digest::SHA512
    } else if signed_with(SHA384) {
        &ring::digest::SHA384
    } else {
        &ring::digest::SHA256
    };
    let mut out = b"tls-server-end-point:".to_vec();
    out.extend_from_slice(ring::digest::digest(algorithm, certificate_der).as_ref());
    out
}

/// The client side of one handshake (one connection).
pub struct NtlmClient {
    ntlm: Ntlm,
    creds: <Ntlm as SspiImpl>::CredentialsHandle,
    target: String,
}

impl std::fmt::Debug for NtlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmClient")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl NtlmClient {
    /// `host` names the target (`HTTP/host`), as Windows clients do.
    pub fn new(identity: &NtlmIdentity, password: &Secret, host: &str) -> Result<Self, String> {
        let auth = AuthIdentity {
            username: username(identity)?,
            password: password.expose().to_string().into(),
        };
        let mut ntlm = Ntlm::new();
        let creds = ntlm
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Outbound)
            .with_auth_data(&auth)
            .execute(&mut ntlm)
            .map_err(client_err)?
            .credentials_handle;
        Ok(NtlmClient {
            ntlm,
            creds,
            target: format!("HTTP/{host}"),
        })
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut input_buf = vec![SecurityBuffer::new(
            input.unwrap_or_default().to_vec(),
            BufferType::Token,
        )];
        let mut builder = self
            .ntlm
            .initialize_security_context()
            .with_credentials_handle(&mut self.creds)
            .with_context_requirements(ClientRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name(&self.target)
            .with_output(&mut output);
        if input.is_some() {
            builder = builder.with_input(&mut input_buf);
        }
        self.ntlm
            .initialize_security_context_impl(&mut builder)
            .map_err(client_err)?
            .resolve_to_result()
            .map_err(client_err)?;
        Ok(std::mem::take(&mut output[0].buffer))
    }

    /// The NEGOTIATE message (type 1).
    pub fn negotiate(&mut self) -> Result<Vec<u8>, String> {
        self.step(None)
    }

    /// The AUTHENTICATE message (type 3) answering `challenge`; with the
    /// server certificate's `tls-server-end-point` binding when known
    /// (Extended Protection for Authentication).
    pub fn authenticate(&mut self, challenge: &[u8], channel_binding: Option<&[u8]>) -> Result<Vec<u8>, String> {
        if message_type(challenge) != Some(2) {
            return Err("the server's answer is not an NTLM CHALLENGE message".into());
        }
        if let Some(cb) = channel_binding {
            self.ntlm.set_channel_bindings(cb);
        }
        self.step(Some(challenge))
    }
}

/// The acceptor side (the lab's IIS): one per connection.
pub struct NtlmServer {
    ntlm: Ntlm,
    creds: <Ntlm as SspiImpl>::CredentialsHandle,
}

impl std::fmt::Debug for NtlmServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmServer").finish_non_exhaustive()
    }
}

/// Who an AUTHENTICATE message names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireName {
    pub user: String,
    pub domain: Option<String>,
}

impl NtlmServer {
    fn accept(&mut self, token: &[u8]) -> Result<(Vec<u8>, SecurityStatus), String> {
        let mut input = vec![SecurityBuffer::new(token.to_vec(), BufferType::Token)];
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let builder = self
            .ntlm
            .accept_security_context()
            .with_credentials_handle(&mut self.creds)
            .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_input(&mut input)
            .with_output(&mut output);
        let result = self
            .ntlm
            .accept_security_context_impl(builder)
            .map_err(server_err)?
            .resolve_to_result()
            .map_err(server_err)?;
        Ok((std::mem::take(&mut output[0].buffer), result.status))
    }

    /// Answers a NEGOTIATE message with a CHALLENGE (type 2). With `binding`
    /// (Extended Protection), an AUTHENTICATE message carrying another
    /// connection's channel binding fails.
    pub fn challenge(negotiate: &[u8], binding: Option<&[u8]>) -> Result<(NtlmServer, Vec<u8>), String> {
        if message_type(negotiate) != Some(1) {
            return Err("not an NTLM NEGOTIATE message".into());
        }
        let mut ntlm = Ntlm::new();
        if let Some(b) = binding {
            ntlm.set_channel_bindings(b);
        }
        // A placeholder: the account is looked up from the AUTHENTICATE message.
        let placeholder = AuthIdentity {
            username: Username::new("lab", None).map_err(|e| e.to_string())?,
            password: String::new().into(),
        };
        let creds = ntlm
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Inbound)
            .with_auth_data(&placeholder)
            .execute(&mut ntlm)
            .map_err(server_err)?
            .credentials_handle;
        let mut server = NtlmServer { ntlm, creds };
        let (challenge, _) = server.accept(negotiate)?;
        Ok((server, challenge))
    }

    /// Checks an AUTHENTICATE message: `password_of` gives the password of
    /// the account it names (none: unknown account). The response must have
    /// been computed with that password, against this connection's challenge.
    pub fn verify(
        mut self,
        authenticate: &[u8],
        password_of: impl Fn(&WireName) -> Option<String>,
    ) -> Result<WireName, String> {
        if message_type(authenticate) != Some(3) {
            return Err("not an NTLM AUTHENTICATE message".into());
        }
        self.accept(authenticate)?;
        let names = self.ntlm.query_context_names().map_err(server_err)?;
        let wire = match names.username.parts() {
            sspi::UsernameParts::UserPrincipalName(p) => WireName {
                user: p.upn().to_string(),
                domain: None,
            },
            sspi::UsernameParts::DownLevelLogonName(p) => WireName {
                user: p.account_name().to_string(),
                domain: p.netbios_domain().map(str::to_string),
            },
        };
        let password = password_of(&wire).ok_or_else(|| format!("unknown account {}", wire.user))?;
        let identity = AuthIdentity {
            username: Username::new(&wire.user, wire.domain.as_deref()).map_err(|e| e.to_string())?,
            password: password.into(),
        };
        self.ntlm
            .custom_set_auth_identities(vec![identity])
            .map_err(server_err)?;
        self.ntlm.complete_auth_token(&mut []).map_err(server_err)?;
        Ok(wire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hostile or broken CHALLENGE is named in exprobe's words (what it
    /// means and the SSPI status), never the crate's internals or the
    /// server's bytes.
    #[test]
    fn a_malformed_challenge_is_named_in_exprobes_words() {
        let id = NtlmIdentity::parse("CONTOSO\\svc", None).expect("id");
        for challenge in [
            // Type 2, cut short after the header.
            b"NTLMSSP\0\x02\0\0\0\x1b[2J".to_vec(),
            // Type 2 with offsets pointing past the end.
            [b"NTLMSSP\0\x02\0\0\0".as_slice(), &[0xff; 40]].concat(),
        ] {
            let mut client =
                NtlmClient::new(&id, &Secret::new("Pw-Long-Enough-1"), "mail.contoso.com").expect("client");
            client.negotiate().expect("negotiate");
            let e = client
                .authenticate(&challenge, None)
                .expect_err("a malformed challenge fails");
            assert!(e.contains("SSPI status 0x"), "{e}");
            assert!(e.starts_with("the "), "{e}");
            assert!(
                !e.contains('\x1b') && !e.contains("Error") && !e.contains("Read"),
                "{e}"
            );
        }
    }

    fn handshake(client_pw: &str, server_pw: &str, id: &NtlmIdentity) -> Result<WireName, String> {
        let mut c = NtlmClient::new(id, &Secret::new(client_pw), "mail.contoso.com")?;
        let t1 = c.negotiate()?;
        assert_eq!(message_type(&t1), Some(1));
        let (server, t2) = NtlmServer::challenge(&t1, None)?;
        assert_eq!(message_type(&t2), Some(2));
        let t3 = c.authenticate(&t2, None)?;
        assert_eq!(message_type(&t3), Some(3));
        // The password is not in the message (a long one: a byte or two occur by chance).
        if client_pw.len() >= 8 {
            assert!(!t3.windows(client_pw.len()).any(|w| w == client_pw.as_bytes()));
        }
        server.verify(&t3, |_| Some(server_pw.to_string()))
    }

    #[test]
    fn the_right_password_passes_and_a_wrong_one_fails() {
        let id = NtlmIdentity::parse("CONTOSO\\svc-sync", None).expect("id");
        let wire = handshake("Pa55-word!", "Pa55-word!", &id).expect("accepted");
        assert_eq!(wire.user.to_ascii_lowercase(), "svc-sync");
        assert_eq!(
            wire.domain.as_deref().map(str::to_ascii_uppercase).as_deref(),
            Some("CONTOSO")
        );
        assert!(handshake("Pa55-word!", "other", &id).is_err());
        let upn = NtlmIdentity::parse("svc-sync@contoso.com", None).expect("upn");
        assert!(handshake("Upn-Pa55word!", "Upn-Pa55word!", &upn).is_ok());
    }

    #[test]
    fn a_challenge_from_another_connection_does_not_verify() {
        let id = NtlmIdentity::parse("CONTOSO\\svc-sync", None).expect("id");
        let pw = Secret::new("pw");
        let mut c = NtlmClient::new(&id, &pw, "mail.contoso.com").expect("client");
        let t1 = c.negotiate().expect("t1");
        let (_first, t2) = NtlmServer::challenge(&t1, None).expect("challenge");
        let t3 = c.authenticate(&t2, None).expect("t3");
        // Another connection's acceptor issued another challenge.
        let mut c2 = NtlmClient::new(&id, &pw, "mail.contoso.com").expect("client");
        let (other, _) = NtlmServer::challenge(&c2.negotiate().expect("t1"), None).expect("challenge");
        assert!(other.verify(&t3, |_| Some("pw".into())).is_err());
    }

    #[test]
    fn a_channel_binding_of_another_certificate_fails() {
        let id = NtlmIdentity::parse("CONTOSO\\svc-sync", None).expect("id");
        let pw = Secret::new("pw");
        let ours = tls_server_end_point(b"certificate A");
        let theirs = tls_server_end_point(b"certificate B");
        for (sent, expected_ok) in [(&ours, true), (&theirs, false)] {
            let mut c = NtlmClient::new(&id, &pw, "mail.contoso.com").expect("client");
            let t1 = c.negotiate().expect("t1");
            let (server, t2) = NtlmServer::challenge(&t1, Some(&ours)).expect("challenge");
            let t3 = c.authenticate(&t2, Some(sent)).expect("t3");
            assert_eq!(server.verify(&t3, |_| Some("pw".into())).is_ok(), expected_ok);
        }
        assert!(ours.starts_with(b"tls-server-end-point:") && ours.len() == 21 + 32);
    }

    #[test]
    fn identities() {
        assert_eq!(
            NtlmIdentity::parse("svc", Some("CONTOSO")).expect("bare").display(),
            "CONTOSO\\svc"
        );
        assert!(NtlmIdentity::parse("svc", None).is_err());
        assert!(NtlmIdentity::parse("\\svc", None).is_err());
        assert_eq!(message_type(b"NTLMSSP\0\x02\0\0\0rest"), Some(2));
        assert_eq!(message_type(b"garbage"), None);
    }
}
