//! Trust follows the path (README, "Security: which hosts receive credentials"): an EWS URL reached
//! through a hop to another domain (HTTP 3xx, the plain-HTTP redirect method, SRV, redirectUrl,
//! redirectAddr) receives no credentials — Basic password, given bearer token, or an app's token —
//! unless `--trust-domain` allows that domain. Every case runs the real CLI against the lab, where
//! `*.evil.example` plays the attacker and the lab records what it received.

use crate::common::{codes, start, Running};
use exprobe::lab::{RecordedRequest, Scenario};
use exprobe::report::{Report, Severity, StepStatus};

const EVIL_EWS: &str = "https://evil.example/EWS/Exchange.asmx";
const EVIL_AUTODISCOVER: &str = "https://autodiscover.evil.example/autodiscover/autodiscover.xml";
const PASSWORD: &str = "Canary-Cross-Domain-9d2e";
const CLIENT_SECRET: &str = "Lab~Secret.Cross_Domain_77";

/// The seven ways the issue found to lead discovery to another domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// The domain root answers the POST with 302 to the other domain.
    Root302,
    /// A 307 to the other domain, only after Basic credentials were accepted.
    Root307AfterAuth,
    /// A POX `redirectUrl` to the other domain.
    RedirectUrl,
    /// A POX `redirectAddr` to `alice@evil.example`.
    RedirectAddr,
    /// The plain-HTTP GET answers 302 to the other domain.
    PlainHttp,
    /// `_autodiscover._tcp.contoso.com` points at the other domain; the
    /// domain's own hosts reset every connection.
    Srv,
}

const PATHS: [Path; 6] = [
    Path::Root302,
    Path::Root307AfterAuth,
    Path::RedirectUrl,
    Path::RedirectAddr,
    Path::PlainHttp,
    Path::Srv,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Basic,
    /// `--auth token` with a token minted by the lab (the seventh case).
    Token,
    /// `--auth app` with a client secret: the app's EWS token is the secret.
    App,
    /// `--auth ntlm` as CONTOSO\\svc-sync: no NTLM message at all to the other domain.
    Ntlm,
}

fn pox_settings(ews: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\r\n  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\r\n    <User>\r\n      <DisplayName>Alice Smith</DisplayName>\r\n      <AutoDiscoverSMTPAddress>alice@contoso.com</AutoDiscoverSMTPAddress>\r\n    </User>\r\n    <Account>\r\n      <AccountType>email</AccountType>\r\n      <Action>settings</Action>\r\n      <Protocol>\r\n        <Type>EXPR</Type>\r\n        <Server>evil.example</Server>\r\n        <SSL>On</SSL>\r\n        <EwsUrl>{ews}</EwsUrl>\r\n      </Protocol>\r\n    </Account>\r\n  </Response>\r\n</Autodiscover>"
    )
}

fn scenario(path: Path, mode: Mode) -> Scenario {
    let text = scenario_text(path, mode);
    Scenario::parse(&text, None).unwrap_or_else(|e| panic!("{path:?}/{mode:?} scenario: {e}"))
}

fn scenario_text(path: Path, mode: Mode) -> String {
    let auth = match mode {
        Mode::Basic => "service_account = \"svc-sync@contoso.com\"\napi = \"ews\"",
        Mode::Token => "auth = \"token\"\napi = \"ews\"\ntoken = { client_id = \"2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f\", audience = \"https://outlook.office365.com\" }",
        Mode::App => "auth = \"app\"\ntenant = \"contoso.com\"\nclient_id = \"2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f\"\napi = \"ews\"",
        Mode::Ntlm => "auth = \"ntlm\"\nservice_account = \"CONTOSO\\\\svc-sync\"\nservice_account_smtp = \"svc-sync@contoso.com\"\napi = \"ews\"",
    };
    let schemes = if mode == Mode::Ntlm {
        "[\"negotiate\", \"ntlm\", \"bearer\"]"
    } else {
        "[\"basic\", \"bearer\"]"
    };
    let autodiscover_auth = if path == Path::Root307AfterAuth {
        "basic"
    } else {
        "none"
    };
    let contoso = match path {
        Path::Root302 => format!(
            "autodiscover = [\"pox\", \"soap\"]\npost_redirect = {{ status = 302, location = \"{EVIL_AUTODISCOVER}\" }}"
        ),
        Path::Root307AfterAuth => format!(
            "autodiscover = [\"pox\"]\npost_redirect = {{ status = 307, location = \"{EVIL_AUTODISCOVER}\", after_auth = true }}"
        ),
        Path::RedirectUrl | Path::RedirectAddr => "autodiscover = [\"pox\"]".to_string(),
        Path::PlainHttp => "autodiscover = []".to_string(),
        Path::Srv => "behavior = \"reset\"".to_string(),
    };
    let user_redirect = match path {
        Path::RedirectUrl => format!("redirect_url = \"{EVIL_AUTODISCOVER}\""),
        Path::RedirectAddr => "redirect_addr = \"alice@evil.example\"".to_string(),
        _ => String::new(),
    };
    let autodiscover_host = match path {
        Path::PlainHttp => format!(
            "[[hosts]]\nname = \"autodiscover.contoso.com\"\nhttp_redirect = {{ status = 302, location = \"{EVIL_AUTODISCOVER}\" }}\n"
        ),
        _ => String::new(),
    };
    let srv = if path == Path::Srv {
        "srv = [{ name = \"_autodiscover._tcp.contoso.com\", priority = 0, weight = 0, port = 443, target = \"autodiscover.evil.example\" }]"
    } else {
        ""
    };
    let text = format!(
        r#"
name = "cross-domain"
description = "autodiscover leads to evil.example"
expect = []

[check]
mailboxes = ["alice@contoso.com"]
{auth}

[exchange]
autodiscover_auth = "{autodiscover_auth}"
auth_schemes = {schemes}
ews_url = "https://mail.contoso.com/EWS/Exchange.asmx"

[dns]
a = ["contoso.com"]
{srv}

[[hosts]]
name = "contoso.com"
{contoso}

{autodiscover_host}

[[hosts]]
name = "mail.contoso.com"
ews = true

[[hosts]]
name = "autodiscover.evil.example"

[[hosts]]
name = "evil.example"
ews = true

[[hosts]]
name = "login.microsoftonline.com"
entra = true

[[responses]]
host = "autodiscover.evil.example"
path = "/autodiscover/autodiscover.xml"
method = "POST"
status = 200
headers = {{ "Content-Type" = "text/xml; charset=utf-8" }}
body = '''{pox}'''

[[tenants]]
id = "6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f"
name = "Contoso"
domains = ["contoso.com", "evil.example"]

[[apps]]
client_id = "2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f"
tenant = "6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f"
display_name = "CRM Sync"
roles = ["full_access_as_app"]
secrets = [{{ value = "{CLIENT_SECRET}", expired = false }}]

[[users]]
address = "alice@contoso.com"
display_name = "Alice Smith"
{user_redirect}

[[users]]
address = "alice@evil.example"
display_name = "Alice Evil"

[[service_accounts]]
address = "svc-sync@contoso.com"
logon = "CONTOSO\\svc-sync"
password = "{PASSWORD}"
application_impersonation = true
"#,
        pox = pox_settings(EVIL_EWS),
    );
    text
}

fn at_attacker(requests: &[RecordedRequest]) -> Vec<&RecordedRequest> {
    requests
        .iter()
        .filter(|r| r.host == "evil.example" || r.host.ends_with(".evil.example"))
        .collect()
}

/// Everything secret the check holds in this mode.
fn secrets(running: &Running) -> Vec<String> {
    let mut s = vec![PASSWORD.to_string(), CLIENT_SECRET.to_string()];
    if let Some(p) = running.lab.password() {
        s.push(p.expose().to_string());
    }
    s
}

fn leaked(running: &Running, requests: &[&RecordedRequest]) -> Vec<String> {
    let secrets = secrets(running);
    let mut found = vec![];
    for r in requests {
        if let Some(a) = r.header("authorization") {
            found.push(format!("Authorization {a:.12}… to {}{}", r.host, r.path));
        }
        let all = format!("{:?}{}", r.headers, r.body);
        for s in &secrets {
            if all.contains(s.as_str()) {
                found.push(format!("a secret in a request to {}{}", r.host, r.path));
            }
        }
    }
    found
}

fn autodiscover_step(report: &Report) -> &exprobe::report::Step {
    report
        .steps
        .iter()
        .find(|s| s.id.starts_with("autodiscover"))
        .expect("an autodiscover step")
}

async fn run(path: Path, mode: Mode, extra: &[&str]) -> (Running, Report, i32) {
    let running = start(scenario(path, mode)).await;
    let (report, out) = running.check_json(extra).await;
    let code = out.status.code().unwrap_or(-1);
    (running, report, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_another_domain_on_any_path_in_any_mode() {
    for mode in [Mode::Basic, Mode::Token, Mode::App, Mode::Ntlm] {
        for path in PATHS {
            let (running, report, exit) = run(path, mode, &[]).await;
            let requests = running.lab.requests();
            let attacker = at_attacker(&requests);
            let leaks = leaked(&running, &attacker);
            assert!(leaks.is_empty(), "{path:?}/{mode:?}: {leaks:?}");
            // Credentials withheld is not silence: the path is reported.
            let reached = attacker.iter().any(|r| r.host == "autodiscover.evil.example");
            // The 307 comes only after a password sign-in (Basic, NTLM): the OAuth modes never see it.
            let password_mode = matches!(mode, Mode::Basic | Mode::Ntlm);
            let expect_reached = path != Path::Root307AfterAuth || password_mode;
            assert_eq!(
                reached, expect_reached,
                "{path:?}/{mode:?}: the attacker's autodiscover was asked"
            );
            if reached {
                let f = report
                    .findings
                    .iter()
                    .find(|f| f.code == "autodiscover.cross_domain_redirect")
                    .unwrap_or_else(|| panic!("{path:?}/{mode:?}: no cross-domain finding in {:?}", codes(&report)));
                assert_eq!(f.severity, Severity::Critical, "{path:?}/{mode:?}: the only path");
                assert!(f.detail.contains("evil.example"), "{path:?}/{mode:?}: {}", f.detail);
                assert!(f.detail.contains("--trust-domain"), "{path:?}/{mode:?}: {}", f.detail);
                assert_eq!(autodiscover_step(&report).status, StepStatus::Fail, "{path:?}/{mode:?}");
                // The attacker's EWS endpoint is never even contacted.
                assert!(
                    !attacker
                        .iter()
                        .any(|r| r.path.to_ascii_lowercase().starts_with("/ews/")),
                    "{path:?}/{mode:?}: the untrusted EWS URL was contacted"
                );
            }
            assert_eq!(exit, 2, "{path:?}/{mode:?}: {:?}", codes(&report));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_domain_sends_credentials_and_says_so() {
    for mode in [Mode::Basic, Mode::Token, Mode::App, Mode::Ntlm] {
        for path in PATHS {
            if path == Path::Root307AfterAuth && !matches!(mode, Mode::Basic | Mode::Ntlm) {
                continue;
            }
            let (running, report, _) = run(path, mode, &["--trust-domain=evil.example"]).await;
            let requests = running.lab.requests();
            let ews_posts: Vec<&RecordedRequest> = at_attacker(&requests)
                .into_iter()
                .filter(|r| r.host == "evil.example" && r.path.eq_ignore_ascii_case("/EWS/Exchange.asmx"))
                .collect();
            let scheme = match mode {
                Mode::Basic => "Basic ",
                Mode::Ntlm => "NTLM ",
                Mode::Token | Mode::App => "Bearer ",
            };
            assert!(
                ews_posts
                    .iter()
                    .any(|r| r.header("authorization").is_some_and(|a| a.starts_with(scheme))),
                "{path:?}/{mode:?}: --trust-domain allows credentials to evil.example"
            );
            let f = report
                .findings
                .iter()
                .find(|f| f.code == "autodiscover.cross_domain_redirect")
                .unwrap_or_else(|| panic!("{path:?}/{mode:?}: the report says so: {:?}", codes(&report)));
            assert_eq!(f.severity, Severity::Info, "{path:?}/{mode:?}");
            assert!(f.detail.contains("--trust-domain evil.example"), "{}", f.detail);
            let step = autodiscover_step(&report);
            assert_eq!(step.status, StepStatus::Pass, "{path:?}/{mode:?}: {}", step.detail);
            assert!(step.detail.contains("--trust-domain evil.example"), "{}", step.detail);
        }
    }
}

/// A cross-domain path beside a trusted one: the trusted answer is used, the
/// other reported as a warning; still nothing secret to the other domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_path_wins_over_an_untrusted_one() {
    let text = r#"
name = "cross-domain-beside-trusted"
description = "the root redirects away, autodiscover.contoso.com answers"
expect = []
[check]
mailboxes = ["alice@contoso.com"]
service_account = "svc-sync@contoso.com"
[exchange]
ews_url = "https://mail.contoso.com/EWS/Exchange.asmx"
[dns]
a = ["contoso.com"]
[[hosts]]
name = "contoso.com"
autodiscover = ["pox"]
post_redirect = { status = 302, location = "https://autodiscover.evil.example/autodiscover/autodiscover.xml" }
[[hosts]]
name = "autodiscover.contoso.com"
autodiscover = ["pox"]
[[hosts]]
name = "mail.contoso.com"
ews = true
[[hosts]]
name = "autodiscover.evil.example"
[[hosts]]
name = "evil.example"
ews = true
[[responses]]
host = "autodiscover.evil.example"
path = "/autodiscover/autodiscover.xml"
method = "POST"
status = 200
body = '''BODY'''
[[users]]
address = "alice@contoso.com"
[[service_accounts]]
address = "svc-sync@contoso.com"
password = "PASSWORD"
application_impersonation = true
"#
    .replace("BODY", &pox_settings(EVIL_EWS))
    .replace("PASSWORD", PASSWORD);
    let running = start(Scenario::parse(&text, None).expect("scenario")).await;
    let (report, out) = running.check_json(&[]).await;
    let requests = running.lab.requests();
    assert!(leaked(&running, &at_attacker(&requests)).is_empty());
    assert_eq!(codes(&report), ["autodiscover.cross_domain_redirect"]);
    assert_eq!(report.findings[0].severity, Severity::Warning);
    assert_eq!(out.status.code(), Some(1));
    let step = autodiscover_step(&report);
    assert!(
        step.detail.contains("https://mail.contoso.com/EWS/Exchange.asmx"),
        "{}",
        step.detail
    );
    assert!(requests
        .iter()
        .any(|r| r.host == "mail.contoso.com" && r.header("authorization").is_some()));
}

#[test]
fn trust_domain_rejects_tlds_and_ip_literals() {
    for bad in [
        "com",
        "co.uk",
        "github.io",
        "10.0.0.1",
        "evil..example",
        "-x.example",
        "a b.example",
        "evil.example/x",
    ] {
        let args: Vec<String> = [
            "check".to_string(),
            "--mailbox=a@contoso.com".into(),
            format!("--trust-domain={bad}"),
        ]
        .to_vec();
        let out = crate::common::run_exprobe(&args, None);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{bad}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("--trust-domain"), "{bad}");
    }
}

/// The attacker's autodiscover asks for credentials (401 Basic): none are sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_asking_for_credentials_gets_none() {
    for path in [Path::Root302, Path::PlainHttp, Path::Srv] {
        let text = scenario_text(path, Mode::Basic).replace(
            "method = \"POST\"\nstatus = 200\nheaders = { \"Content-Type\" = \"text/xml; charset=utf-8\" }",
            "method = \"POST\"\nstatus = 401\nheaders = { \"WWW-Authenticate\" = \"Basic realm=\\\"autodiscover.evil.example\\\"\" }",
        );
        assert!(text.contains("status = 401"), "the 401 is in the scenario");
        let running = start(Scenario::parse(&text, None).expect("scenario")).await;
        let (report, _) = running.check_json(&[]).await;
        let requests = running.lab.requests();
        let attacker = at_attacker(&requests);
        assert!(
            attacker.iter().any(|r| r.host == "autodiscover.evil.example"),
            "{path:?}: the attacker was asked"
        );
        let leaks = leaked(&running, &attacker);
        assert!(leaks.is_empty(), "{path:?}: {leaks:?}");
        let withheld = autodiscover_step(&report).observations.to_string();
        assert!(
            withheld.contains("credentials_withheld"),
            "{path:?}: the withholding is recorded: {withheld:.300}"
        );
        // Diagnosed as the cross-domain redirect it is, not "autodiscover not found".
        let codes = codes(&report);
        assert!(
            codes.contains(&"autodiscover.cross_domain_redirect".to_string())
                && !codes.contains(&"autodiscover.not_found".to_string()),
            "{path:?}: {codes:?}"
        );
    }
}

/// An SRV target whose labels hold escaped bytes (`\\.`, `\\040`) is not a host
/// name: the URL parser would read a different host than the trust check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_targets_with_escaped_labels_are_skipped() {
    let text = scenario_text(Path::Srv, Mode::Basic).replace(
        "target = \"autodiscover.evil.example\"",
        "target = \"autodiscover.evil\\\\.example.contoso.com\"",
    );
    assert!(text.contains("evil\\\\.example"), "{text:.100}");
    let running = start(Scenario::parse(&text, None).expect("scenario")).await;
    let (report, _) = running.check_json(&[]).await;
    let requests = running.lab.requests();
    let attacker = at_attacker(&requests);
    assert!(
        attacker.is_empty(),
        "nothing goes to evil.example: {:?}",
        attacker.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    let obs = autodiscover_step(&report).observations.to_string();
    assert!(
        obs.contains("not a plain host name"),
        "{}",
        &obs[obs.len().saturating_sub(900)..]
    );
}

/// A fast untrusted answer does not cut a slower trusted candidate short
/// when credentials are at stake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_untrusted_answer_does_not_beat_a_slow_trusted_one() {
    let text = scenario_text(Path::PlainHttp, Mode::Basic)
        .replace(
            "[[hosts]]\nname = \"autodiscover.contoso.com\"\n",
            "[[hosts]]\nname = \"autodiscover.contoso.com\"\nautodiscover = [\"pox\"]\nlatency_ms = 900\n",
        )
        .replace("[check]\n", "[check]\ntimeout = 5.0\n");
    let running = start(Scenario::parse(&text, None).expect("scenario")).await;
    let (report, out) = running.check_json(&[]).await;
    let step = autodiscover_step(&report);
    assert!(
        step.detail.contains("https://mail.contoso.com/EWS/Exchange.asmx"),
        "{}",
        step.detail
    );
    assert!(
        !codes(&report).contains(&"autodiscover.cross_domain_redirect".to_string()),
        "{:?}",
        codes(&report)
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", codes(&report));
    assert!(leaked(&running, &at_attacker(&running.lab.requests())).is_empty());
}
