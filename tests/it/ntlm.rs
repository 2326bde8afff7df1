//! `--auth ntlm` against the lab's IIS-like NTLM: the handshake bound to one
//! connection, the password never on the wire nor in any output, and the
//! AUTHENTICATE message (a response derived from the password) never in
//! evidence or logs.

use std::sync::Arc;

use crate::common::start;
use base64::Engine as _;
use exprobe::auth::ntlm::{message_type, NtlmClient, NtlmIdentity};
use exprobe::lab::Scenario;
use exprobe::secret::Secret;

const CONVERT_ID: &str = r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2013_SP1"/></soap:Header><soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>"#;

/// One TLS connection to the lab's mail.contoso.com (no pool: the test
/// decides which connection each request goes on).
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    /// This connection's `tls-server-end-point` channel binding.
    binding: Vec<u8>,
}

async fn connection(lab: &crate::common::Running) -> Conn {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(&lab.ca).expect("ca");
    for c in rustls_pemfile::certs(&mut &ca[..]) {
        roots.add(c.expect("cert")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(lab.lab.https_addr)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("mail.contoso.com").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("tls");
    let leaf = tls.get_ref().1.peer_certificates().expect("certificate")[0].to_vec();
    let binding = exprobe::auth::ntlm::tls_server_end_point(&leaf);
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .expect("http");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Conn { sender, binding }
}

impl Conn {
    async fn post(&mut self, authorization: Option<String>) -> (u16, Vec<String>, String) {
        use http_body_util::BodyExt as _;
        let mut b = hyper::Request::builder()
            .method("POST")
            .uri("/EWS/Exchange.asmx")
            .header("Host", "mail.contoso.com")
            .header("Content-Type", "text/xml; charset=utf-8");
        if let Some(a) = authorization {
            b = b.header("Authorization", a);
        }
        let req = b
            .body(http_body_util::Full::new(bytes::Bytes::from_static(
                CONVERT_ID.as_bytes(),
            )))
            .expect("request");
        self.sender.ready().await.expect("ready");
        let r = self.sender.send_request(req).await.expect("POST");
        let status = r.status().as_u16();
        let challenges = r
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let body = r.into_body().collect().await.expect("body").to_bytes();
        (status, challenges, String::from_utf8_lossy(&body).into_owned())
    }

    /// The CHALLENGE a NEGOTIATE message gets on this connection.
    async fn challenge(&mut self, client: &mut NtlmClient) -> Vec<u8> {
        let (status, challenges, _) = self
            .post(Some(format!("NTLM {}", b64(&client.negotiate().expect("t1")))))
            .await;
        assert_eq!(status, 401);
        let token = challenges
            .iter()
            .find_map(|c| c.strip_prefix("NTLM "))
            .expect("a CHALLENGE");
        let challenge = base64::engine::general_purpose::STANDARD.decode(token).expect("base64");
        assert_eq!(message_type(&challenge), Some(2));
        challenge
    }
}

fn b64(t: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_is_bound_to_its_connection_as_on_iis() {
    let lab = start(Scenario::builtin("ews-ntlm-healthy").expect("scenario")).await;
    let id = NtlmIdentity::parse("CONTOSO\\svc-sync", None).expect("id");
    let password = lab.lab.password().expect("password");

    // Without credentials: the challenge lists Negotiate and NTLM, no Basic.
    let mut a = connection(&lab).await;
    let (status, offered, _) = a.post(None).await;
    assert_eq!(status, 401);
    assert_eq!(offered, ["Negotiate", "NTLM"]);

    // CHALLENGE on connection A, AUTHENTICATE on connection B: refused.
    let mut client = NtlmClient::new(&id, &password, "mail.contoso.com").expect("ntlm");
    let challenge = a.challenge(&mut client).await;
    let authenticate = client.authenticate(&challenge, None).expect("t3");
    let mut b = connection(&lab).await;
    let (status, _, _) = b.post(Some(format!("NTLM {}", b64(&authenticate)))).await;
    assert_eq!(status, 401, "an AUTHENTICATE on another connection must fail");

    // Extended Protection is required (as Exchange 2019 CU14 turns it on): no binding, no entry.
    let mut client = NtlmClient::new(&id, &password, "mail.contoso.com").expect("ntlm");
    let challenge = a.challenge(&mut client).await;
    let unbound = client.authenticate(&challenge, None).expect("t3");
    let (status, _, _) = a.post(Some(format!("NTLM {}", b64(&unbound)))).await;
    assert_eq!(status, 401, "an AUTHENTICATE without a channel binding");

    // The whole handshake on one connection, bound to it: accepted, and the
    // connection stays authenticated for the next request without a header.
    let mut client = NtlmClient::new(&id, &password, "mail.contoso.com").expect("ntlm");
    let challenge = a.challenge(&mut client).await;
    let t3 = client.authenticate(&challenge, Some(&a.binding)).expect("t3");
    let (status, _, body) = a.post(Some(format!("NTLM {}", b64(&t3)))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("GetFolderResponseMessage"), "{body}");
    let (status, _, _) = a.post(None).await;
    assert_eq!(status, 200, "the connection is authenticated");
    // ...and another connection is not; nor is the same AUTHENTICATE replayed there.
    let (status, _, _) = b.post(None).await;
    assert_eq!(status, 401);
    let mut c = connection(&lab).await;
    let (status, _, _) = c.post(Some(format!("NTLM {}", b64(&t3)))).await;
    assert_eq!(status, 401, "a replayed AUTHENTICATE");

    // Extended Protection: a channel binding of another certificate (a relay
    // through another TLS connection) is refused; the real one passes.
    let mut client = NtlmClient::new(&id, &password, "mail.contoso.com").expect("ntlm");
    let mut e = connection(&lab).await;
    let challenge = e.challenge(&mut client).await;
    let relayed = exprobe::auth::ntlm::tls_server_end_point(b"the relay's certificate");
    let t3 = client.authenticate(&challenge, Some(&relayed)).expect("t3");
    let (status, _, _) = e.post(Some(format!("NTLM {}", b64(&t3)))).await;
    assert_eq!(status, 401, "a foreign channel binding");

    // The right password under another domain is another account: refused.
    let evil = NtlmIdentity::parse("EVIL\\svc-sync", None).expect("id");
    let mut client = NtlmClient::new(&evil, &password, "mail.contoso.com").expect("ntlm");
    let mut f = connection(&lab).await;
    let challenge = f.challenge(&mut client).await;
    let t3 = client.authenticate(&challenge, Some(&f.binding)).expect("t3");
    let (status, _, _) = f.post(Some(format!("NTLM {}", b64(&t3)))).await;
    assert_eq!(status, 401, "another domain's svc-sync");

    // The right handshake with the wrong password: refused.
    let mut client = NtlmClient::new(&id, &Secret::new("Old-Pa55word!"), "mail.contoso.com").expect("ntlm");
    let mut d = connection(&lab).await;
    let challenge = d.challenge(&mut client).await;
    let t3 = client.authenticate(&challenge, Some(&d.binding)).expect("t3");
    let (status, _, _) = d.post(Some(format!("NTLM {}", b64(&t3)))).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_and_the_authenticate_message_reach_no_output_and_no_wire() {
    let lab = start(Scenario::builtin("ews-ntlm-healthy").expect("scenario")).await;
    let password = lab.lab.password().expect("password").expose().to_string();
    // "NTLMSSP\0" + type 3, as base64: the start of any AUTHENTICATE message.
    let type3 = b64(b"NTLMSSP\0\x03\0\0\0");
    let type3 = &type3[..14];
    let mut outputs = vec![];
    for extra in [
        vec!["--format=json".to_string()],
        vec!["--format=jsonl".to_string()],
        vec!["--format=html".to_string()],
        vec![
            "--format=human".to_string(),
            "--show-http".to_string(),
            "-vv".to_string(),
        ],
    ] {
        let args = lab.check_args(&extra.iter().map(String::as_str).collect::<Vec<_>>());
        let out = lab.run_cli(args).await;
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        outputs.push(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Even with every log on: sspi's own traces (its buffers) are never written.
    let out = lab
        .run_cli_env(lab.check_args(&["--format=json"]), &[("EXPROBE_LOG", "trace")])
        .await;
    let traced = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(traced.contains("TRACE") || traced.contains("DEBUG"), "the log is on");
    assert!(!traced.contains("sspi"), "sspi logged");
    outputs.push(traced);
    for text in &outputs {
        assert!(!text.contains(&password), "the password reached an output");
        assert!(!text.contains(type3), "an AUTHENTICATE message reached an output");
    }
    // The evidence shows the scheme, redacted.
    let json = &outputs[0];
    assert!(json.contains("NTLM [redacted]"), "{json}");
    // On the wire: NTLM only over https, and never the password itself.
    let requests = lab.lab.requests();
    assert!(requests
        .iter()
        .any(|r| r.header("authorization").is_some_and(|a| a.starts_with("NTLM "))));
    for r in &requests {
        assert!(
            !format!("{:?}{}", r.headers, r.body).contains(&password),
            "{} {}",
            r.host,
            r.path
        );
        if r.header("authorization").is_some() {
            assert_eq!(r.scheme, "https", "{} {}", r.host, r.path);
        }
    }
}

#[test]
fn account_forms_for_ntlm() {
    let run = |args: &[&str]| {
        let mut a: Vec<String> = [
            "check",
            "--mailbox=alice@contoso.com",
            "--auth=ntlm",
            "--password-env=PW",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(args.iter().map(|s| s.to_string()));
        a.push("--deadline=0.5".into());
        a.push("--dns-server=127.0.0.1:9".into());
        crate::common::run_exprobe_env(&a, None, &[("PW".into(), "x".into())])
    };
    // A bare name needs its domain.
    let out = run(&["--service-account=svc-sync"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ntlm-domain"));
    // DOMAIN\user, user@domain and a bare name with --ntlm-domain are accepted.
    for form in [
        vec!["--service-account=CONTOSO\\svc-sync"],
        vec!["--service-account=svc-sync@contoso.com"],
        vec!["--service-account=svc-sync", "--ntlm-domain=CONTOSO"],
    ] {
        let out = run(&form);
        assert_ne!(
            out.status.code(),
            Some(3),
            "{form:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Graph needs OAuth.
    let out = run(&["--service-account=CONTOSO\\svc-sync", "--api=graph"]);
    assert_eq!(out.status.code(), Some(3));
}

/// Windows authentication only on the internal name: exprobe asks the
/// internal EWS URL autodiscover gave for its challenge (without credentials),
/// reports `ews.ntlm_internal_only` with both answers, and neither host gets
/// an NTLM message (the external one does not offer NTLM, the internal one is
/// only asked for its challenge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntlm_offered_only_on_the_internal_name_is_diagnosed_without_sending_credentials() {
    let running = start(Scenario::builtin("ews-ntlm-internal-only").expect("scenario")).await;
    let (report, out) = running.check_json(&[]).await;
    assert_eq!(out.status.code(), Some(2), "{:?}", crate::common::codes(&report));
    assert_eq!(crate::common::codes(&report), vec!["ews.ntlm_internal_only"]);
    let finding = &report.findings[0];
    assert!(
        finding.detail.contains("exch01.corp.contoso.com") && finding.detail.contains("offers Basic but not NTLM"),
        "{}",
        finding.detail
    );
    let requests = running.lab.requests();
    let internal: Vec<_> = requests
        .iter()
        .filter(|r| r.host == "exch01.corp.contoso.com")
        .collect();
    assert!(!internal.is_empty(), "the internal name was asked for its challenge");
    assert!(
        internal.iter().all(|r| r.header("authorization").is_none()),
        "{internal:?}"
    );
    assert!(requests
        .iter()
        .filter(|r| r.host == "mail.contoso.com")
        .all(|r| r.header("authorization").is_none()));
    // With --ews-url the product's URL is fixed: the internal name is not asked.
    let fixed = running
        .check_json(&["--ews-url=https://mail.contoso.com/EWS/Exchange.asmx"])
        .await
        .0;
    assert_eq!(crate::common::codes(&fixed), vec!["ews.auth_scheme_unavailable"]);
}

/// The internal EWS URL is whatever autodiscover says: a hostile one (another
/// domain) is asked only for its challenge and receives no credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_internal_ews_url_receives_nothing() {
    let text = exprobe::lab::scenario::BUILTIN
        .iter()
        .find(|(n, _)| *n == "ews-ntlm-internal-only")
        .expect("scenario")
        .1
        .replace("exch01.corp.contoso.com", "evil.example");
    let running = start(crate::common::scenario_from_text(&text)).await;
    let (report, _) = running.check_json(&[]).await;
    assert_eq!(crate::common::codes(&report), vec!["ews.ntlm_internal_only"]);
    let password = running.lab.password().expect("password").expose().to_string();
    let evil: Vec<_> = running
        .lab
        .requests()
        .into_iter()
        .filter(|r| r.host == "evil.example")
        .collect();
    assert!(!evil.is_empty(), "the internal URL was asked for its challenge");
    for r in &evil {
        assert!(r.header("authorization").is_none(), "{r:?}");
        assert!(!format!("{:?}{}", r.headers, r.body).contains(&password));
    }
}

/// Extended Protection "Require" (ews-ntlm-healthy): an AUTHENTICATE that binds nothing to the
/// TLS connection is refused (as IIS does), one with the connection's
/// `tls-server-end-point` binding passes, and exprobe (which always binds) is healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protection_required_refuses_an_authenticate_without_a_channel_binding() {
    let lab = start(Scenario::builtin("ews-ntlm-healthy").expect("scenario")).await;
    let id = NtlmIdentity::parse("CONTOSO\\svc-sync", None).expect("id");
    let password = lab.lab.password().expect("password");
    let mut a = connection(&lab).await;
    let mut client = NtlmClient::new(&id, &password, "mail.contoso.com").expect("ntlm");
    let challenge = a.challenge(&mut client).await;
    let t3 = client.authenticate(&challenge, None).expect("t3");
    assert!(!exprobe::auth::ntlm::carries_channel_binding(&t3));
    let (status, _, _) = a.post(Some(format!("NTLM {}", b64(&t3)))).await;
    assert_eq!(status, 401, "no channel binding under Require");
    let (report, out) = lab.check_json(&[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", crate::common::codes(&report));
    // exprobe's AUTHENTICATE messages carried a binding (read from the lab's recording).
    let bound = lab
        .lab
        .requests()
        .iter()
        .filter_map(|r| {
            r.header("authorization")
                .and_then(|a| a.strip_prefix("NTLM "))
                .map(str::to_string)
        })
        .filter_map(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .filter(|t| message_type(t) == Some(3))
        .map(|t| exprobe::auth::ntlm::carries_channel_binding(&t))
        .collect::<Vec<_>>();
    // The first is this test's own unbound message; every one exprobe sent is bound.
    assert!(
        bound.len() > 1 && !bound[0] && bound[1..].iter().all(|b| *b),
        "{bound:?}"
    );
}

/// A server that answers the NEGOTIATE message itself with 200 (anonymous
/// EWS, or a proxy that authenticates some other way) verified nothing:
/// `ews.auth` says the credentials were not checked instead of "accepted".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_to_the_negotiate_message_is_not_reported_as_accepted_credentials() {
    let mut text = exprobe::lab::scenario::BUILTIN
        .iter()
        .find(|(n, _)| *n == "ews-ntlm-healthy")
        .expect("scenario")
        .1
        .to_string();
    let convert_id = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/ews/response-convertid-invalid-smtp.xml"
    ))
    .expect("fixture");
    text.push_str(&format!(
        "\n[[responses]]\nhost = \"mail.contoso.com\"\npath = \"/EWS/Exchange.asmx\"\nmethod = \"POST\"\nbody_contains = \"ConvertId\"\nstatus = 200\nheaders = {{ \"Content-Type\" = \"text/xml; charset=utf-8\" }}\nbody = '''{}'''\n",
        convert_id.trim()
    ));
    let running = start(crate::common::scenario_from_text(&text)).await;
    let (report, _) = running.check_json(&[]).await;
    let auth = report.steps.iter().find(|s| s.id == "ews.auth").expect("ews.auth step");
    assert!(auth.detail.contains("credentials were not checked"), "{}", auth.detail);
    assert_ne!(auth.status, exprobe::report::StepStatus::Pass, "{}", auth.detail);
}
