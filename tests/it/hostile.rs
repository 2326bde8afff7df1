//! A hostile-server corpus: a small TLS (or raw TCP) server plays one broken
//! or malicious behaviour per case, the real CLI checks against it, and each
//! case asserts: no panic, an exit within deadline + 1 s, exit code 1 or 2, a
//! finding whose words name the problem, and (over all cases) bounded peak
//! memory of the exprobe processes.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use exprobe::lab::Scenario;
use exprobe::report::Report;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const DEADLINE_S: u64 = 4;
const TIMEOUT_S: u64 = 2;
const PASSWORD_ENV: &str = "EXPROBE_HOSTILE_SECRET";
const PASSWORD: &str = "Hostile-Canary-51f0";
const AUTODISCOVER_XML: &str = "/autodiscover/autodiscover.xml";
const EWS: &str = "/EWS/Exchange.asmx";
const TOKEN: &str = "/oauth2/v2.0/token";

/// What the server does with one HTTP request.
#[derive(Debug, Clone)]
enum Act {
    /// Write these bytes, then close.
    Send(Vec<u8>),
    /// Write these bytes, then keep the connection open (until the client leaves).
    SendHang(Vec<u8>),
    /// Write `head`, then one byte of `fill` every `every_ms`, for at most 2,000 bytes.
    Drip { head: Vec<u8>, fill: u8, every_ms: u64 },
    /// Write `head`, then `chunk` as fast as the client reads, up to `max` bytes.
    Flood { head: Vec<u8>, chunk: Vec<u8>, max: usize },
    /// Close without a byte of answer.
    Close,
}

/// What happens before any HTTP: the TLS layer.
#[derive(Debug, Clone)]
enum Layer {
    Tls,
    /// After the ClientHello arrives, write these raw bytes and close.
    RawAfterHello(Vec<u8>),
    /// Accept and never answer the ClientHello.
    Silent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Service account with Basic; autodiscover and EWS.
    Basic,
    /// `--auth app` with a client secret (token endpoint and EWS with the app's token).
    App,
}

/// How the DNS server for this case behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dns {
    /// The lab's DNS: every test host resolves.
    Lab,
    /// Every answer has the TC bit and TCP is refused.
    Truncated,
    /// Every answer is garbage bytes.
    Garbage,
    /// Never answers.
    Silent,
}

#[derive(Debug, Clone)]
struct Case {
    name: &'static str,
    layer: Layer,
    /// (path suffix, what to do); unmatched paths get 404.
    routes: Vec<(&'static str, Act)>,
    mode: Mode,
    dns: Dns,
    extra: Vec<String>,
    /// Lower-cased words of which at least one must appear in a finding
    /// (code, title or detail) of warning or critical severity.
    words: &'static [&'static str],
}

fn case(name: &'static str, path: &'static str, act: Act, words: &'static [&'static str]) -> Case {
    let mut routes = vec![(path, act)];
    if path != AUTODISCOVER_XML {
        routes.push((
            AUTODISCOVER_XML,
            Act::Send(http(200, "text/xml", &pox_settings(EWS_URL))),
        ));
    }
    Case {
        name,
        layer: Layer::Tls,
        routes,
        mode: if path == TOKEN { Mode::App } else { Mode::Basic },
        dns: Dns::Lab,
        extra: vec![],
        words,
    }
}

const EWS_URL: &str = "https://mail.contoso.com/EWS/Exchange.asmx";

fn pox_settings(ews: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\"><Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\"><User><DisplayName>Alice</DisplayName><AutoDiscoverSMTPAddress>alice@contoso.com</AutoDiscoverSMTPAddress></User><Account><AccountType>email</AccountType><Action>settings</Action><Protocol><Type>EXPR</Type><EwsUrl>{ews}</EwsUrl></Protocol></Account></Response></Autodiscover>"
    )
}

fn pox_account(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\"><Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\"><Account>{inner}</Account></Response></Autodiscover>"
    )
}

fn http(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    http_bytes(status, &[("Content-Type", content_type)], body.as_bytes())
}

fn http_bytes(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\n", body.len()).into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn redirect(status: u16, location: &str) -> Act {
    Act::Send(http_bytes(status, &[("Location", location)], b""))
}

fn gzip_bomb() -> Vec<u8> {
    // 64 MiB of zeros compress to ~64 KiB: sent as Content-Encoding: gzip.
    let mut raw = vec![];
    {
        let mut enc = flate2::write::GzEncoder::new(&mut raw, flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).expect("gzip");
        }
        enc.finish().expect("gzip");
    }
    raw
}

fn deflate_bomb() -> Vec<u8> {
    let mut raw = vec![];
    {
        let mut enc = flate2::write::ZlibEncoder::new(&mut raw, flate2::Compression::best());
        let zeros = vec![b'<'; 1 << 20];
        for _ in 0..32 {
            enc.write_all(&zeros).expect("deflate");
        }
        enc.finish().expect("deflate");
    }
    raw
}

fn huge_jwt() -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let claims = format!(
        "{{\"aud\":\"https://outlook.office365.com\",\"tid\":\"6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f\",\"pad\":\"{}\"}}",
        "x".repeat(1_500_000)
    );
    format!("{}.{}.c2ln", b64("{\"typ\":\"JWT\",\"alg\":\"RS256\"}"), b64(&claims))
}

/// A ServerHello that negotiates TLS 1.0 (what a TLS-1.0-only server sends).
fn tls10_server_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01];
    body.extend_from_slice(&[0x42; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    body.push(0); // compression
    let mut hs = vec![0x02, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01, 0, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

fn cases() -> Vec<Case> {
    let xml = |body: &str| Act::Send(http(200, "text/xml; charset=utf-8", body));
    let pox_ok = pox_settings(EWS_URL);
    let mut v = vec![
        // XML bodies
        case("malformed-xml", AUTODISCOVER_XML, xml("<Autodiscover><Response></Autodiscover>"), &["not well-formed", "malformed"]),
        case(
            "truncated-xml",
            AUTODISCOVER_XML,
            xml(&pox_ok[..pox_ok.len() / 2]),
            &["ends before", "truncat", "end of input"],
        ),
        case(
            "wrong-namespace",
            AUTODISCOVER_XML,
            xml(&pox_ok.replace("responseschema/2006\"", "responseschema/1999\"")),
            &["namespace"],
        ),
        case(
            "dtd-entities",
            AUTODISCOVER_XML,
            xml("<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"xxxxxxxxxx\"><!ENTITY y \"&x;&x;&x;&x;&x;&x;&x;&x;\">]><Autodiscover>&y;</Autodiscover>"),
            &["document type"],
        ),
        case(
            "external-entity",
            AUTODISCOVER_XML,
            xml("<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Autodiscover>&x;</Autodiscover>"),
            &["document type"],
        ),
        case("deep-nesting", AUTODISCOVER_XML, xml(&"<a>".repeat(100_000)), &["nesting", "deeper"]),
        case(
            "attribute-flood",
            AUTODISCOVER_XML,
            xml(&format!(
                "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\"><Response {}/></Autodiscover>",
                (0..100_000).map(|i| format!("a{i}=\"v\"")).collect::<Vec<_>>().join(" ")
            )),
            &["attributes"],
        ),
        case(
            "element-flood",
            AUTODISCOVER_XML,
            xml(&format!("<Autodiscover>{}</Autodiscover>", "<b/>".repeat(200_000))),
            &["elements", "larger than"],
        ),
        case(
            "oversize-body",
            AUTODISCOVER_XML,
            xml(&format!("<Autodiscover>{}</Autodiscover>", "x".repeat(3 << 20))),
            &["2 mib", "larger than"],
        ),
        case(
            "endless-chunked",
            AUTODISCOVER_XML,
            Act::Flood {
                head: b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                chunk: b"4000\r\n".iter().copied().chain(std::iter::repeat_n(b'x', 0x4000)).chain(b"\r\n".iter().copied()).collect(),
                max: 64 << 20,
            },
            &["2 mib", "larger than"],
        ),
        case(
            "endless-with-length",
            AUTODISCOVER_XML,
            Act::Flood {
                head: b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 999999999999\r\n\r\n".to_vec(),
                chunk: vec![b'x'; 1 << 16],
                max: 64 << 20,
            },
            &["2 mib", "larger than"],
        ),
        case(
            "gzip-bomb",
            AUTODISCOVER_XML,
            Act::Send(http_bytes(
                200,
                &[("Content-Type", "text/xml"), ("Content-Encoding", "gzip")],
                &gzip_bomb(),
            )),
            &["content-encoding", "compressed"],
        ),
        case(
            "deflate-bomb",
            AUTODISCOVER_XML,
            Act::Send(http_bytes(
                200,
                &[("Content-Type", "text/xml"), ("Content-Encoding", "deflate")],
                &deflate_bomb(),
            )),
            &["content-encoding", "compressed"],
        ),
        case(
            "slow-drip-body",
            AUTODISCOVER_XML,
            Act::Drip {
                head: b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n<".to_vec(),
                fill: b' ',
                every_ms: 200,
            },
            &["timeout", "deadline"],
        ),
        case(
            "slow-drip-headers",
            AUTODISCOVER_XML,
            Act::Drip {
                head: b"HTTP/1.1 200 OK\r\nX-Slow: ".to_vec(),
                fill: b'a',
                every_ms: 200,
            },
            &["timeout", "deadline"],
        ),
        case(
            "endless-header",
            AUTODISCOVER_XML,
            Act::Flood {
                head: b"HTTP/1.1 200 OK\r\nX-Endless: ".to_vec(),
                chunk: vec![b'a'; 4096],
                max: 8 << 20,
            },
            &["header", "http.protocol_error"],
        ),
        case(
            "header-flood",
            AUTODISCOVER_XML,
            Act::Send({
                let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
                for i in 0..20_000 {
                    h.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
                }
                h.extend_from_slice(b"Content-Length: 0\r\n\r\n");
                h
            }),
            &["http", "header"],
        ),
        case(
            "invalid-utf8",
            AUTODISCOVER_XML,
            Act::Send(http_bytes(200, &[("Content-Type", "text/xml")], b"<Autodiscover>\xff\xfe\xc3\x28</Autodiscover>")),
            &["utf-8", "utf8"],
        ),
        case(
            "reset-mid-body",
            AUTODISCOVER_XML,
            Act::Send(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 4000\r\n\r\n<Autodiscover>".to_vec()),
            &["closed", "reset", "body"],
        ),
        case("no-answer-close", AUTODISCOVER_XML, Act::Close, &["closed", "reset"]),
        case(
            "stall-after-headers",
            AUTODISCOVER_XML,
            Act::SendHang(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 900\r\n\r\n<Autodiscover>".to_vec()),
            &["timeout", "deadline"],
        ),
        case(
            "garbage-status-line",
            AUTODISCOVER_XML,
            Act::Send(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
            &["status", "http.protocol_error"],
        ),
        case(
            "not-http",
            AUTODISCOVER_XML,
            Act::Send(b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec()),
            &["status", "http.protocol_error"],
        ),
        case(
            "bad-content-length",
            AUTODISCOVER_XML,
            Act::Send(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n<a/>".to_vec()),
            &["content-length", "http.protocol_error"],
        ),
        case(
            "conflicting-content-length",
            AUTODISCOVER_XML,
            Act::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 9\r\n\r\n<a/>".to_vec()),
            &["content-length", "http.protocol_error"],
        ),
        case("html-body", AUTODISCOVER_XML, Act::Send(http(200, "text/html", "<html><body>Hello</body></html>")), &["html", "autodiscover.invalid_response"]),
        case("json-body", AUTODISCOVER_XML, Act::Send(http(200, "application/json", "{\"not\":\"xml\"}")), &["not well-formed", "autodiscover.invalid_response"]),
        case("empty-200", AUTODISCOVER_XML, Act::Send(http(200, "text/xml", "")), &["empty"]),
        // Redirect games
        case("redirect-http", AUTODISCOVER_XML, redirect(302, "http://autodiscover.contoso.com/autodiscover/autodiscover.xml"), &["http://", "only https"]),
        case(
            "redirect-ip-literal",
            AUTODISCOVER_XML,
            redirect(302, "https://127.0.0.1/autodiscover/autodiscover.xml"),
            &["127.0.0.1"],
        ),
        case(
            "redirect-userinfo",
            AUTODISCOVER_XML,
            redirect(302, "https://user:pass@autodiscover.contoso.com/autodiscover/autodiscover.xml"),
            &["userinfo"],
        ),
        case("redirect-307-self", AUTODISCOVER_XML, redirect(307, "/autodiscover/autodiscover.xml"), &["loop"]),
        case("redirect-no-location", AUTODISCOVER_XML, Act::Send(http_bytes(302, &[], b"")), &["location"]),
        case("redirect-garbage-location", AUTODISCOVER_XML, redirect(302, "ht!tp://\u{1}"), &["location", "header"]),
        case("redirect-not-autodiscover-path", AUTODISCOVER_XML, redirect(302, "https://autodiscover.contoso.com/owa/"), &["autodiscover path"]),
        case(
            "redirect-other-domain",
            AUTODISCOVER_XML,
            redirect(302, "https://autodiscover.evil.example/autodiscover/autodiscover.xml"),
            &["evil.example"],
        ),
        case(
            "basic-401-loop",
            AUTODISCOVER_XML,
            Act::Send(http_bytes(401, &[("WWW-Authenticate", "Basic realm=\"x\"")], b"")),
            &["401", "rejected"],
        ),
        // Autodiscover answers with hostile content
        case(
            "oversize-ews-url",
            AUTODISCOVER_XML,
            xml(&pox_settings(&format!("https://mail.contoso.com/{}", "a".repeat(200_000)))),
            &["characters long"],
        ),
        case("ews-url-http", AUTODISCOVER_XML, xml(&pox_settings("http://mail.contoso.com/EWS/Exchange.asmx")), &["http://", "not https"]),
        case("ews-url-javascript", AUTODISCOVER_XML, xml(&pox_settings("javascript:alert(1)")), &["javascript", "not https"]),
        case(
            "redirect-addr-garbage",
            AUTODISCOVER_XML,
            xml(&pox_account("<Action>redirectAddr</Action><RedirectAddr>not an address</RedirectAddr>")),
            &["not an address"],
        ),
        case(
            "redirect-url-http",
            AUTODISCOVER_XML,
            xml(&pox_account("<Action>redirectUrl</Action><RedirectUrl>http://evil.example/autodiscover/autodiscover.xml</RedirectUrl>")),
            &["http://", "only https"],
        ),
        case(
            "retry-after-huge",
            AUTODISCOVER_XML,
            Act::Send(http_bytes(503, &[("Retry-After", "999999")], b"")),
            &["503"],
        ),
        // EWS endpoint
        case("ews-html-500", EWS, Act::Send(http(500, "text/html", "<html>Runtime Error</html>")), &["http 500", "html"]),
        case("ews-empty-200", EWS, Act::Send(http(200, "text/xml", "")), &["empty"]),
        case("ews-malformed-soap", EWS, xml("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"), &["not soap", "not a soap", "ends before"]),
        case("ews-retry-after-huge", EWS, Act::Send(http_bytes(503, &[("Retry-After", "999999")], b"")), &["503"]),
        case("ews-reset", EWS, Act::Close, &["closed", "reset"]),
        // Token endpoint (app mode)
        case("token-html", TOKEN, Act::Send(http(200, "text/html", "<html>Sign in</html>")), &["oauth.invalid_response"]),
        case("token-error-number", TOKEN, Act::Send(http(400, "application/json", "{\"error\":5}")), &["oauth.invalid_response"]),
        case("token-empty-200", TOKEN, Act::Send(http(200, "application/json", "")), &["oauth.invalid_response"]),
        case("token-not-jwt", TOKEN, Act::Send(http(200, "application/json", "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"abc\"}")), &["token.malformed", "jwt"]),
        case(
            "token-huge-jwt",
            TOKEN,
            Act::Send(http(200, "application/json", &format!("{{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"{}\"}}", huge_jwt()))),
            &["2 mib", "larger than", "64 kib"],
        ),
        case("token-retry-after-huge", TOKEN, Act::Send(http_bytes(429, &[("Retry-After", "999999")], b"")), &["429"]),
    ];
    // TLS layer games
    for (name, layer, words) in [
        (
            "tls-1.0-only",
            Layer::RawAfterHello(tls10_server_hello()),
            &["tls 1.0", "protocol version"][..],
        ),
        (
            "tls-plain-http",
            Layer::RawAfterHello(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
            &["not tls", "tls.handshake_failed"],
        ),
        (
            "tls-garbage",
            Layer::RawAfterHello(vec![0x42; 64]),
            &["not tls", "tls.handshake_failed"],
        ),
        (
            "tls-close-after-hello",
            Layer::RawAfterHello(vec![]),
            &["closed", "reset"],
        ),
        ("tls-silent", Layer::Silent, &["timeout", "deadline"]),
    ] {
        let mut c = case(name, AUTODISCOVER_XML, Act::Close, words);
        c.layer = layer;
        v.push(c);
    }
    // DNS games
    for (name, dns, words) in [
        ("dns-truncated", Dns::Truncated, &["truncated"][..]),
        ("dns-garbage", Dns::Garbage, &["dns servers", "dns answer", "malformed"]),
        ("dns-silent", Dns::Silent, &["dns timeout", "deadline"]),
    ] {
        let mut c = case(name, AUTODISCOVER_XML, xml(&pox_ok), words);
        c.dns = dns;
        v.push(c);
    }
    let mut cname_loop = case(
        "dns-cname-loop",
        AUTODISCOVER_XML,
        xml(&pox_ok),
        &["cname loop", "dns.cname_loop"],
    );
    cname_loop.extra = vec!["--mailbox=bob@loop.example".into()];
    v.push(cname_loop);
    v
}

// ---------------------------------------------------------------------------
// The server

struct Pki {
    server: Arc<rustls::ServerConfig>,
    ca_pem: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hostile test CA");
    let ca_key = KeyPair::generate().expect("key");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let names: Vec<String> = [
        "contoso.com",
        "autodiscover.contoso.com",
        "mail.contoso.com",
        "loop.example",
        "autodiscover.loop.example",
        "evil.example",
        "autodiscover.evil.example",
        "login.microsoftonline.com",
        "graph.microsoft.com",
        "outlook.office365.com",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(names)
        .expect("params")
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf");
    let key =
        rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(exprobe::net::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .expect("server config");
    Pki {
        server: Arc::new(server),
        ca_pem: ca.pem(),
    }
}

/// Read one HTTP request (head and Content-Length body), bounded.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    let mut buf = vec![];
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
        .min(4 << 20);
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    head.split_whitespace()
        .nth(1)
        .map(|p| p.split('?').next().unwrap_or(p).to_string())
}

async fn act<S: tokio::io::AsyncWrite + Unpin>(s: &mut S, act: &Act) {
    match act {
        Act::Send(bytes) => {
            let _ = s.write_all(bytes).await;
            let _ = s.flush().await;
        }
        Act::SendHang(bytes) => {
            let _ = s.write_all(bytes).await;
            let _ = s.flush().await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Act::Drip { head, fill, every_ms } => {
            if s.write_all(head).await.is_err() {
                return;
            }
            for _ in 0..2000 {
                let _ = s.flush().await;
                tokio::time::sleep(Duration::from_millis(*every_ms)).await;
                if s.write_all(&[*fill]).await.is_err() {
                    return;
                }
            }
        }
        Act::Flood { head, chunk, max } => {
            if s.write_all(head).await.is_err() {
                return;
            }
            let mut sent = 0;
            while sent < *max {
                if s.write_all(chunk).await.is_err() {
                    return;
                }
                sent += chunk.len();
            }
        }
        Act::Close => {}
    }
    let _ = s.shutdown().await;
}

async fn serve_http<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S, routes: &[(&'static str, Act)]) {
    // Keep-alive: answer requests until the client leaves (bounded).
    for _ in 0..64 {
        let Some(path) = read_request(&mut s).await else { return };
        let found = routes
            .iter()
            .find(|(suffix, _)| path.to_ascii_lowercase().ends_with(&suffix.to_ascii_lowercase()));
        match found {
            Some((_, a)) => {
                act(&mut s, a).await;
                return;
            }
            None => {
                if s.write_all(&http(404, "text/plain", "not here")).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn connection(tcp: TcpStream, case: Arc<Case>, tls: Arc<rustls::ServerConfig>) {
    match &case.layer {
        Layer::Tls => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                serve_http(s, &case.routes).await;
            }
        }
        Layer::RawAfterHello(bytes) => {
            let mut tcp = tcp;
            let mut hello = [0u8; 4096];
            let _ = tcp.read(&mut hello).await;
            let _ = tcp.write_all(bytes).await;
            let _ = tcp.shutdown().await;
        }
        Layer::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
    }
}

async fn start_server(case: Arc<Case>, tls: Arc<rustls::ServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        // Bounded: a check makes a few dozen connections at most.
        for _ in 0..500 {
            let Ok((tcp, _)) = listener.accept().await else { return };
            tokio::spawn(connection(tcp, case.clone(), tls.clone()));
        }
    });
    addr
}

/// A DNS server that misbehaves on UDP (TCP on its port is refused).
async fn start_bad_dns(kind: Dns) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        for _ in 0..10_000 {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let reply = match kind {
                Dns::Truncated if n >= 12 => {
                    let mut r = buf[..12].to_vec();
                    r[2] = 0x80 | 0x02 | (buf[2] & 0x01); // QR, TC, RD copied
                    r[3] = 0x80;
                    r[4..12].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
                    r
                }
                Dns::Garbage if n >= 2 => {
                    let mut r = buf[..2].to_vec();
                    r.extend_from_slice(&[0xff; 40]);
                    r
                }
                _ => continue,
            };
            let _ = socket.send_to(&reply, from).await;
        }
    });
    addr
}

fn dns_scenario() -> Scenario {
    let text = r#"
name = "hostile-dns"
description = "names for the hostile corpus"
expect = []
[check]
mailboxes = ["alice@contoso.com"]
[dns]
a = ["contoso.com", "autodiscover.contoso.com", "mail.contoso.com", "login.microsoftonline.com", "autodiscover.evil.example", "evil.example"]
cname = [
  { name = "loop.example", target = "a.loop.example" },
  { name = "a.loop.example", target = "b.loop.example" },
  { name = "b.loop.example", target = "a.loop.example" },
  { name = "autodiscover.loop.example", target = "a.loop.example" },
]
"#;
    Scenario::parse(text, None).expect("dns scenario")
}

struct Outcome {
    name: &'static str,
    elapsed: Duration,
    exit: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

async fn run_case(case: Case, pki: &Pki, lab_dns: SocketAddr, dir: &std::path::Path) -> Outcome {
    let case = Arc::new(case);
    let server = start_server(case.clone(), pki.server.clone()).await;
    let dns = match case.dns {
        Dns::Lab => lab_dns,
        other => start_bad_dns(other).await,
    };
    let ca = dir.join("ca.pem");
    let mut args: Vec<String> = vec![
        "check".into(),
        "--format=json".into(),
        format!("--dns-server={dns}"),
        format!("--connect-to=:443:127.0.0.1:{}", server.port()),
        // Port 80 (the plain-HTTP redirect method) goes to the same server: not TLS.
        format!("--connect-to=:80:127.0.0.1:{}", server.port()),
        format!("--ca-file={}", ca.display()),
        format!("--timeout={TIMEOUT_S}"),
        format!("--deadline={DEADLINE_S}"),
    ];
    if !case.extra.iter().any(|a| a.starts_with("--mailbox")) {
        args.push("--mailbox=alice@contoso.com".into());
    }
    match case.mode {
        Mode::Basic => {
            args.push("--service-account=svc-sync@contoso.com".into());
            args.push(format!("--password-env={PASSWORD_ENV}"));
        }
        Mode::App => {
            args.extend([
                "--auth=app".into(),
                "--tenant=contoso.com".into(),
                "--client-id=2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f".into(),
                format!("--client-secret-env={PASSWORD_ENV}"),
                "--api=ews".into(),
                format!("--ews-url={EWS_URL}"),
            ]);
        }
    }
    args.extend(case.extra.iter().cloned());
    let name = case.name;
    tokio::task::spawn_blocking(move || {
        let began = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_exprobe"))
            .args(&args)
            .env_remove("EXPROBE_LOG")
            .env("NO_COLOR", "1")
            .env(PASSWORD_ENV, PASSWORD)
            .output()
            .expect("run exprobe");
        Outcome {
            name,
            elapsed: began.elapsed(),
            exit: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    })
    .await
    .expect("CLI thread")
}

fn check(case: &Case, out: &Outcome) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("panicked") {
        return Err(format!("panic: {stderr}"));
    }
    if out.elapsed > Duration::from_secs(DEADLINE_S + 1) {
        return Err(format!("took {:?} (deadline {DEADLINE_S} s)", out.elapsed));
    }
    if !matches!(out.exit, Some(1 | 2)) {
        return Err(format!("exit {:?}; stderr {stderr}", out.exit));
    }
    let report: Report = serde_json::from_slice(&out.stdout).map_err(|e| format!("not a report: {e}"))?;
    let text: String = report
        .findings
        .iter()
        .filter(|f| f.severity != exprobe::report::Severity::Info)
        .map(|f| format!("{} {} {}\n", f.code, f.title, f.detail))
        .collect::<String>()
        .to_ascii_lowercase();
    if !case.words.iter().any(|w| text.contains(w)) {
        let shown: String = text.chars().take(600).collect();
        return Err(format!("no finding says any of {:?}; findings:\n{shown}", case.words));
    }
    if text.contains(PASSWORD.to_ascii_lowercase().as_str()) {
        return Err("the secret is in a finding".into());
    }
    // No Rust Debug dump in a detail.
    for f in &report.findings {
        if f.detail.contains(" { ") && f.detail.contains(": ") && f.detail.contains(" }") {
            return Err(format!("a Debug dump in a detail: {:.600}", f.detail));
        }
    }
    Ok(())
}

/// The largest peak RSS of any child this test process waited for (KiB).
fn peak_child_rss_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss())
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_yield_named_findings_within_the_deadline() {
    let cases = cases();
    assert!(cases.len() >= 50, "{} hostile behaviours", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are distinct");

    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).expect("CA");
    let lab = exprobe::lab::Lab::start(dns_scenario(), std::net::IpAddr::from([127, 0, 0, 1]), None)
        .await
        .expect("lab");
    let lab_dns = lab.dns_addr;

    use futures::stream::{self, StreamExt};
    let outcomes: Vec<(Case, Outcome)> = stream::iter(cases)
        .map(|c| {
            let (pki, dir) = (&pki, dir.path());
            async move {
                let out = run_case(c.clone(), pki, lab_dns, dir).await;
                (c, out)
            }
        })
        .buffer_unordered(3)
        .collect()
        .await;
    let mut failures = vec![];
    for (case, out) in &outcomes {
        if let Err(e) = check(case, out) {
            failures.push(format!("{}: {e}", out.name));
        }
    }
    let rss = peak_child_rss_kib();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n\n")
    );
    assert!(rss < 256 * 1024, "peak RSS of an exprobe run: {rss} KiB");
}
