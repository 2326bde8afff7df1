//! Secrets never reach any output; credentials never go over http; exit codes 0/1/2/3.

use crate::common::{codes, run_exprobe, scenario_from_text, start};
use base64::Engine as _;

const CANARY: &str = "Canary-7f3a9c-Pa55";

/// Autodiscover demands Basic; the root redirects to plain http after a 401
/// would have been answered with credentials; the autodiscover host works.
fn canary_scenario() -> String {
    format!(
        r#"
name = "canary"
description = "credentials in play on https, an http redirect on offer"
expect = []
[check]
mailboxes = ["alice@contoso.com"]
service_account = "svc-sync@contoso.com"
[exchange]
ews_url = "https://mail.contoso.com/EWS/Exchange.asmx"
autodiscover_auth = "basic"
[dns]
mx = [{{ name = "contoso.com", exchange = "mail.contoso.com" }}]
[[hosts]]
name = "contoso.com"
autodiscover = ["pox", "soap"]
post_redirect = {{ status = 302, location = "http://mail.contoso.com/autodiscover/autodiscover.xml" }}
[[hosts]]
name = "autodiscover.contoso.com"
autodiscover = ["pox"]
http_redirect = {{ location = "http://mail.contoso.com/autodiscover/autodiscover.xml" }}
[[hosts]]
name = "mail.contoso.com"
autodiscover = ["pox"]
ews = true
[[users]]
address = "alice@contoso.com"
[[service_accounts]]
address = "svc-sync@contoso.com"
password = "{CANARY}"
application_impersonation = true
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_password_never_appears_in_any_output() {
    let running = start(scenario_from_text(&canary_scenario())).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("svc-sync@contoso.com:{CANARY}"));
    let out_file = running.dir.path().join("report.json");
    // Every format, every log level, evidence shown; the last one turns on
    // trace logs of every crate (hyper, reqwest, rustls) too.
    type Variant<'a> = (Vec<String>, &'a [(&'a str, &'a str)]);
    let variants: Vec<Variant> = vec![
        (running.check_args(&["--format=human", "--show-http", "-vv"]), &[]),
        (running.check_args(&["--format=json", "-vv"]), &[]),
        (
            running.check_args(&["--format=json", &format!("--output={}", out_file.display())]),
            &[],
        ),
        (running.check_args(&["--format=human", "--show-http", "-v"]), &[]),
        (
            running.check_args(&["--format=human", "--show-http"]),
            &[("EXPROBE_LOG", "trace")],
        ),
    ];
    for (args, env) in variants {
        let out = running.run_cli_env(args.clone(), env).await;
        let all = [
            out.stdout.clone(),
            out.stderr.clone(),
            std::fs::read(&out_file).unwrap_or_default(),
        ]
        .concat();
        let text = String::from_utf8_lossy(&all);
        assert!(!text.contains(CANARY), "canary leaked with {args:?}");
        assert!(!text.contains(&encoded), "base64 credentials leaked with {args:?}");
        if args.iter().any(|a| a == "--show-http") {
            assert!(
                text.contains("Authorization: Basic [redacted]"),
                "--show-http shows the redacted header"
            );
        }
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // The test can fail: the password really was sent, over https, to the lab.
    let requests = running.lab.requests();
    assert!(requests
        .iter()
        .any(|r| r.scheme == "https" && r.header("authorization") == Some(format!("Basic {encoded}").as_str())));
    for r in &requests {
        if r.scheme == "http" {
            assert!(
                r.header("authorization").is_none(),
                "credentials over http to {}{}",
                r.host,
                r.path
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_redirect_is_never_followed_with_or_without_credentials() {
    let text = canary_scenario().replace(
        "[[hosts]]\nname = \"autodiscover.contoso.com\"\nautodiscover = [\"pox\"]\n",
        "[[hosts]]\nname = \"autodiscover.contoso.com\"\n",
    );
    let running = start(scenario_from_text(&text)).await;
    let (report, out) = running.check_json(&[]).await;
    assert_eq!(codes(&report), ["autodiscover.insecure_redirect_refused"]);
    assert_eq!(out.status.code(), Some(2));
    let requests = running.lab.requests();
    assert!(
        !requests.iter().any(|r| r.scheme == "http" && r.method == "POST"),
        "an http Location was followed"
    );
    assert!(requests
        .iter()
        .all(|r| r.scheme == "https" || r.header("authorization").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_pass_warn_fail() {
    let healthy = start(exprobe::lab::Scenario::builtin("autodiscover-pox-root").expect("scenario")).await;
    let out = healthy.run_cli(healthy.check_args(&[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    // A warning only: the EWS URL given (which works) differs from autodiscover's.
    let mismatch = start(exprobe::lab::Scenario::builtin("ews-url-mismatch").expect("scenario")).await;
    let out = mismatch.run_cli(mismatch.check_args(&[])).await;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("autodiscover.ews_url_mismatch"));

    let broken = start(exprobe::lab::Scenario::builtin("tls-expired").expect("scenario")).await;
    let out = broken.run_cli(broken.check_args(&[])).await;
    assert_eq!(out.status.code(), Some(2));
}

/// A forgotten password stops the run (exit 3, naming where it goes); a
/// secret typed where its variable's name belongs is never repeated.
#[test]
fn forgotten_or_misplaced_secrets_exit_3_without_echo() {
    let forgotten: Vec<String> = ["check", "--mailbox=a@contoso.com", "--service-account=s@contoso.com"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = run_exprobe(&forgotten, None);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has no password") && stderr.contains("EXPROBE_PASSWORD") && stderr.contains("--auth none"),
        "{stderr}"
    );
    for (flag, mode) in [
        ("--password-env", "basic"),
        ("--client-secret-env", "app"),
        ("--access-token-env", "token"),
        ("--refresh-token-env", "refresh-token"),
    ] {
        let args: Vec<String> = vec![
            "check".into(),
            "--mailbox=a@contoso.com".into(),
            "--service-account=s@contoso.com".into(),
            "--tenant=contoso.com".into(),
            "--client-id=2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f".into(),
            format!("--auth={mode}"),
            format!("{flag}=Tr0ub4dor&3-canary"),
        ];
        let out = run_exprobe(&args, None);
        assert_eq!(out.status.code(), Some(3), "{flag}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("Tr0ub4dor"), "{flag}: the value was echoed: {all}");
        assert!(all.contains("not a variable name"), "{flag}: {all}");
    }
}

#[test]
fn exit_code_3_for_usage_and_input_errors() {
    let cases: &[&[&str]] = &[
        &["check", "--bogus-flag"],
        &["check"],
        &["check", "--mailbox=a@contoso.com", "--auth=basic"],
        &[
            "check",
            "--mailbox=a@contoso.com",
            "--service-account=s@contoso.com",
            "--password-env=EXPROBE_UNSET_VAR_FOR_TEST",
        ],
        &["check", "--mailbox=a@contoso.com", "--connect-to=a:b:c:d"],
        &[
            "check",
            "--mailbox=a@contoso.com",
            "--ews-url=http://mail.contoso.com/EWS/Exchange.asmx",
        ],
        &["check", "--mailbox=a@contoso.com", "--ca-file=/nonexistent/ca.pem"],
        &["check", "--mailboxes=/nonexistent/list.txt"],
        &["check", "--mailbox=a@contoso.com", "--timeout=0"],
        &["explain", "no.such_code"],
        &["demo", "--scenario=no-such-scenario"],
        &["lab", "serve", "--scenario=autodiscover-pox-root", "--bind=192.0.2.1"],
        &["nonsense"],
    ];
    for args in cases {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = run_exprobe(&args, None);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}: errors go to stderr");
        assert!(!out.stderr.is_empty(), "{args:?}: a message explains the error");
    }
    for ok in [
        &["--help"][..],
        &["--version"],
        &["explain"],
        &["explain", "tls.certificate_expired"],
        &["lab", "list"],
        &["schema"],
        &["completions", "bash"],
    ] {
        let args: Vec<String> = ok.iter().map(|s| s.to_string()).collect();
        let out = run_exprobe(&args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn invalid_mailbox_is_a_finding_not_a_crash() {
    let args: Vec<String> = [
        "check",
        "--mailbox=not-an-address",
        "--format=json",
        "--dns-server=127.0.0.1:9",
        "--timeout=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = run_exprobe(&args, None);
    let report: exprobe::report::Report = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(codes(&report), ["input.invalid_address"]);
    assert_eq!(
        report
            .steps
            .iter()
            .find(|s| s.probe == "autodiscover")
            .and_then(|s| s.skipped_because.clone())
            .as_deref(),
        Some("input")
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_describes_the_report() {
    let out = run_exprobe(&["schema".to_string()], None);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    for field in ["schema_version", "steps", "findings", "mailboxes", "insecure", "status"] {
        assert!(schema["properties"][field].is_object(), "schema has {field}");
    }
}

/// A bearer token given by env goes only to EWS over https, never to output;
/// Exchange Online's rejection (401 + x-ms-diagnostics) is explained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_access_token_is_sent_as_bearer_and_never_printed() {
    // Well-formed claims for EWS, a forged signature: sent, then rejected by the server.
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let token_owned = format!(
        "{}.{}.{}",
        b64(r#"{"typ":"JWT","alg":"RS256","x5t":"canary"}"#),
        b64(
            r#"{"aud":"https://outlook.office365.com","tid":"6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f","appid":"canary-app","roles":["full_access_as_app"],"idtyp":"app","exp":4102444800,"nbf":0,"ver":"1.0"}"#
        ),
        b64("Canary-signature-9d4e-not-real")
    );
    let token: &str = &token_owned;
    let running = start(exprobe::lab::Scenario::builtin("autodiscover-v2-online").expect("scenario")).await;
    let args: Vec<String> = running
        .check_args(&[
            "--auth=token",
            "--access-token-env=EXPROBE_TEST_TOKEN",
            "--show-http",
            "-vv",
        ])
        .into_iter()
        .collect();
    let mut json_args = args.clone();
    json_args.push("--format=json".into());
    for a in [args, json_args] {
        let out = running
            .run_cli_env(a.clone(), &[("EXPROBE_TEST_TOKEN", token), ("EXPROBE_LOG", "trace")])
            .await;
        let text = String::from_utf8_lossy(&[out.stdout.clone(), out.stderr.clone()].concat()).into_owned();
        for part in token.split('.') {
            assert!(!text.contains(part), "a part of the token leaked with {a:?}");
        }
        assert!(text.contains("ews.credentials_rejected"), "{text}");
        assert!(
            text.contains("The token has an invalid signature."),
            "x-ms-diagnostics reason shown"
        );
        assert_eq!(out.status.code(), Some(2));
    }
    let requests = running.lab.requests();
    let bearer: Vec<_> = requests
        .iter()
        .filter(|r| r.header("authorization") == Some(&format!("Bearer {token}")))
        .collect();
    assert!(!bearer.is_empty(), "the token was really sent");
    assert!(bearer.iter().all(|r| r.scheme == "https"
        && r.host == "outlook.office365.com"
        && r.path.eq_ignore_ascii_case("/EWS/Exchange.asmx")));
}

/// The client secret goes only in the token request body to the authority,
/// over https; no output shows it, at any log level or format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_client_secret_never_appears_in_any_output() {
    const SECRET: &str = "Canary~Client.Secret_5e7f";
    let text = std::fs::read_to_string(format!(
        "{}/fixtures/scenarios/online-app-healthy.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
    .replace("Lab~Secret.Value_123", SECRET);
    let running = start(scenario_from_text(&text)).await;
    let out_file = running.dir.path().join("r.json");
    for extra in [
        vec!["--format=human", "--show-http", "-vv"],
        vec!["--format=json"],
        vec!["--format=json", "--output"],
    ] {
        let mut args: Vec<&str> = extra.clone();
        let output_arg = format!("--output={}", out_file.display());
        if let Some(last) = args.last_mut().filter(|a| **a == "--output") {
            *last = &output_arg;
        }
        let out = running
            .run_cli_env(running.check_args(&args), &[("EXPROBE_LOG", "trace")])
            .await;
        let all = [
            out.stdout.clone(),
            out.stderr.clone(),
            std::fs::read(&out_file).unwrap_or_default(),
        ]
        .concat();
        let text = String::from_utf8_lossy(&all);
        assert!(!text.contains(SECRET), "client secret leaked with {extra:?}");
        assert!(
            !text.contains("Canary~Client"),
            "part of the client secret leaked with {extra:?}"
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "healthy but for the EWS retirement warning: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let requests = running.lab.requests();
    let with_secret: Vec<_> = requests
        .iter()
        .filter(|r| r.body.contains("client_secret=Canary"))
        .collect();
    assert!(!with_secret.is_empty(), "the secret was really sent");
    assert!(with_secret
        .iter()
        .all(|r| r.scheme == "https" && r.host == "login.microsoftonline.com"));
    // Tokens went as Bearer to EWS and Graph only.
    for r in requests
        .iter()
        .filter(|r| r.header("authorization").is_some_and(|a| a.starts_with("Bearer ")))
    {
        assert!(
            r.host == "outlook.office365.com" || r.host == "graph.microsoft.com",
            "a token went to {}",
            r.host
        );
    }
}

/// Refresh tokens and ROPC passwords go only in token request bodies to the
/// authority over https; no output shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_refresh_token_and_grant_password_never_appear() {
    for (fixture, from, canary) in [
        (
            "seed-mail-api-platform-exo-service-account",
            "0.AXEAlab-refresh-token-for-svc-sync",
            "0.Canary-refresh-8c1d",
        ),
        ("oauth-mfa-required", "Lab-Pa55word!", "Canary-grant-Pa55-3b7a"),
    ] {
        let text = std::fs::read_to_string(format!(
            "{}/fixtures/scenarios/{fixture}.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
        .replace(from, canary);
        let running = start(scenario_from_text(&text)).await;
        for extra in [vec!["--format=human", "--show-http", "-vv"], vec!["--format=json"]] {
            let out = running
                .run_cli_env(running.check_args(&extra), &[("EXPROBE_LOG", "trace")])
                .await;
            let all = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
            assert!(!all.contains(canary), "{fixture}: the secret leaked with {extra:?}");
            assert!(
                !all.contains(&canary.replace('.', "%2E")),
                "{fixture}: the secret leaked url-encoded"
            );
        }
        let requests = running.lab.requests();
        let carrying: Vec<_> = requests.iter().filter(|r| r.body.contains(&canary[2..])).collect();
        assert!(!carrying.is_empty(), "{fixture}: the secret was really sent");
        assert!(
            carrying
                .iter()
                .all(|r| r.scheme == "https" && r.host == "login.microsoftonline.com"),
            "{fixture}"
        );
    }
}

/// Certificate mode: the signed client assertion and the private key never
/// reach output; the assertion went to the authority only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_assertion_and_private_key_never_appear() {
    let running = start(exprobe::lab::Scenario::builtin("online-app-certificate-healthy").expect("scenario")).await;
    let key_line = exprobe::lab::keys::client("app-client")
        .expect("keys")
        .private_key
        .lines()
        .nth(3)
        .expect("a key line")
        .to_string();
    for extra in [vec!["--format=human", "--show-http", "-vv"], vec!["--format=json"]] {
        let out = running
            .run_cli_env(running.check_args(&extra), &[("EXPROBE_LOG", "trace")])
            .await;
        let text = String::from_utf8_lossy(&[out.stdout.clone(), out.stderr.clone()].concat()).into_owned();
        assert!(!text.contains(&key_line), "private key leaked with {extra:?}");
        assert!(
            !text.contains("client_assertion=eyJ"),
            "client assertion leaked with {extra:?}"
        );
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    }
    let requests = running.lab.requests();
    let assertions: Vec<_> = requests
        .iter()
        .filter(|r| r.body.contains("client_assertion=eyJ"))
        .collect();
    assert!(!assertions.is_empty());
    assert!(assertions
        .iter()
        .all(|r| r.scheme == "https" && r.host == "login.microsoftonline.com"));
}

/// `--accept CODE`: a known warning (Exchange Online's EWS retirement on a
/// healthy tenant) is still reported, marked accepted, and no longer raises
/// the exit code; an unknown code is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_codes_are_reported_but_do_not_raise_the_exit_code() {
    let running = start(exprobe::lab::Scenario::builtin("online-app-healthy").expect("scenario")).await;
    let (plain, out) = running.check_json(&[]).await;
    assert_eq!(codes(&plain), ["exchange_online.ews_retirement"]);
    assert_eq!(out.status.code(), Some(1), "a warning without --accept");

    let (report, out) = running.check_json(&["--accept=exchange_online.ews_retirement"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report.status, exprobe::report::OverallStatus::Pass);
    assert_eq!(report.accepted, ["exchange_online.ews_retirement"]);
    let f = &report.findings[0];
    assert!(f.code == "exchange_online.ews_retirement" && f.accepted, "{f:?}");
    assert!(report
        .mailboxes
        .iter()
        .all(|m| m.status == exprobe::report::OverallStatus::Pass && m.findings == ["exchange_online.ews_retirement"]));
    let mut args = running.check_args(&["--accept=exchange_online.ews_retirement"]);
    args.push("--format=human".into());
    let human = String::from_utf8_lossy(&running.run_cli(args).await.stdout).to_string();
    assert!(
        human.contains("accepted (reported, not counted in the status): exchange_online.ews_retirement"),
        "{human}"
    );
    assert!(human.contains("warning (accepted)"), "{human}");

    let out = running
        .run_cli(running.check_args(&["--accept=exchange_online.ews_retired"]))
        .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a diagnosis code"));

    // The same from a config file's [accept] list; its errors name the file and the line.
    let file = running.dir.path().join("exprobe.toml");
    std::fs::write(&file, "[accept]\ncodes = [\"Exchange_Online.EWS_Retirement\"]\n").expect("config");
    let config = format!("--config={}", file.display());
    let (report, out) = running.check_json(&[&config]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report.accepted, ["exchange_online.ews_retirement"]);
    for (text, says) in [
        (
            "[accept]\ncodes = [\"no.such_code\"]\n",
            "[accept] \"no.such_code\": not a diagnosis code",
        ),
        ("[accept]\ncodes = [\"tls.certificate_expired\"]\nlevel = 3\n", "line 3"),
        ("[acept]\ncodes = []\n", "unknown field `acept`"),
        // A secret file given as --config by mistake: not echoed.
        ("S3cr3t-Value!\n", "line 1"),
        ("[accept]\ncodes = \"S3cr3t-Value!\"\n", "line 2"),
    ] {
        std::fs::write(&file, text).expect("config");
        let out = running.run_cli(running.check_args(&[&config])).await;
        assert_eq!(out.status.code(), Some(3), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says) && err.contains("exprobe.toml"), "{text}: {err}");
        assert!(!err.contains("S3cr3t"), "{text}: the file's content echoed: {err}");
    }
}
