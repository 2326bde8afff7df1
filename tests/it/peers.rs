//! A real client agrees with the lab: exchangelib's SOAP autodiscover finds
//! the same EWS URL exprobe reports. Needs Python with exchangelib
//! (`.ci/run` installs it in `.venv`); without it the test says why it skips.

use crate::common::start;
use exprobe::lab::Scenario;

fn python() -> Option<String> {
    python_with("exchangelib")
}

/// A Python that imports `module`; None (the test says it skips) unless
/// `EXPROBE_REQUIRE_PYTHON` is set, as `.ci/run` sets it: there a missing
/// peer fails the test instead of letting it pass green.
fn python_with(module: &str) -> Option<String> {
    let candidates = [
        std::env::var("EXPROBE_PYTHON").ok(),
        Some(format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR"))),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        std::process::Command::new(p)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(
        found.is_some() || std::env::var_os("EXPROBE_REQUIRE_PYTHON").is_none(),
        "EXPROBE_REQUIRE_PYTHON is set but no Python imports {module} (EXPROBE_PYTHON, .venv)"
    );
    found
}

/// exchangelib's own autodiscover of alice@contoso.com against the lab (as
/// `username` with Basic or NTLM, or with the OAuth that `env` sets up): its
/// JSON answer and the process output.
async fn exchangelib_autodiscover(
    python: String,
    running: &crate::common::Running,
    username: Option<&str>,
    env: Vec<(&'static str, String)>,
) -> (serde_json::Value, std::process::Output) {
    let lab = &running.lab;
    let mut args = vec![
        format!("{}/tests/peers/exchangelib_autodiscover.py", env!("CARGO_MANIFEST_DIR")),
        "alice@contoso.com".to_string(),
        lab.dns_addr.ip().to_string(),
        lab.dns_addr.port().to_string(),
        lab.https_addr.port().to_string(),
        lab.http_addr.port().to_string(),
        running.ca.display().to_string(),
    ];
    args.extend(username.map(str::to_string));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(&args)
            .envs(env)
            .output()
            .expect("run python")
    })
    .await
    .expect("thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let theirs = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| {
        panic!(
            "exchangelib printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (theirs, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchangelib_soap_autodiscover_finds_the_ews_url_exprobe_reports() {
    let Some(python) = python() else {
        eprintln!("SKIPPED exchangelib peer test: no Python with exchangelib (set EXPROBE_PYTHON or run .ci/run, which installs tests/peers/requirements.txt)");
        return;
    };
    let running = start(Scenario::builtin("autodiscover-soap-host").expect("scenario")).await;
    let (report, _) = running.check_json(&[]).await;
    let ours = report.mailboxes[0]
        .facts
        .get("ews_url")
        .cloned()
        .expect("exprobe found an EWS URL");

    let lab = &running.lab;
    let password = lab.password().expect("scenario password").expose().to_string();
    let (theirs, out) = exchangelib_autodiscover(
        python,
        &running,
        Some("svc-sync@contoso.com"),
        vec![("EXPROBE_PASSWORD", password)],
    )
    .await;
    assert!(out.status.success(), "exchangelib failed: {theirs}");
    assert_eq!(theirs["ews_url"].as_str(), Some(ours.as_str()));
    assert_eq!(theirs["autodiscover_smtp_address"], "alice@contoso.com");
    // exchangelib really used SOAP on the autodiscover host, with the service account's Basic credentials.
    assert!(lab
        .requests()
        .iter()
        .any(|r| r.path.eq_ignore_ascii_case("/autodiscover/autodiscover.svc")
            && r.host == "autodiscover.contoso.com"
            && r.header("authorization").is_some_and(|a| a.starts_with("Basic "))
            && r.header("user-agent").is_some_and(|u| u.contains("exchangelib"))));
}

async fn exchangelib_impersonation(
    python: String,
    scenario: &str,
    mailbox: &str,
) -> (serde_json::Value, crate::common::Running) {
    exchangelib_impersonation_as(python, scenario, mailbox, "svc-sync@contoso.com", "BASIC").await
}

async fn exchangelib_impersonation_as(
    python: String,
    scenario: &str,
    mailbox: &str,
    username: &str,
    auth: &str,
) -> (serde_json::Value, crate::common::Running) {
    let running = start(Scenario::builtin(scenario).expect("scenario")).await;
    let lab = &running.lab;
    let script = format!(
        "{}/tests/peers/exchangelib_impersonation.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let args = vec![
        script,
        "https://mail.contoso.com/EWS/Exchange.asmx".to_string(),
        mailbox.to_string(),
        username.to_string(),
        lab.dns_addr.ip().to_string(),
        lab.dns_addr.port().to_string(),
        lab.https_addr.port().to_string(),
        running.ca.display().to_string(),
        auth.to_string(),
        // GUESS (a product's default settings) also reads items, as a sync product does.
        if auth == "GUESS" { "ITEMS" } else { "" }.to_string(),
    ];
    let password = lab.password().expect("password").expose().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(&args)
            .env("EXPROBE_PASSWORD", password)
            .output()
            .expect("run python")
    })
    .await
    .expect("thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| {
        panic!(
            "exchangelib printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (value, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchangelib_impersonated_getfolder_succeeds_on_the_healthy_lab() {
    let Some(python) = python() else {
        eprintln!("SKIPPED exchangelib peer test: no Python with exchangelib (set EXPROBE_PYTHON or run .ci/run)");
        return;
    };
    let (value, running) = exchangelib_impersonation(python, "ews-onprem-healthy", "alice@contoso.com").await;
    assert_eq!(value["ok"], true, "{value}");
    assert_eq!(value["name"], "Inbox");
    assert!(
        value["version"].as_str().is_some_and(|v| v.contains("15.0.1497")),
        "exchangelib read ServerVersionInfo: {value}"
    );
    // exchangelib impersonated with the header and X-AnchorMailbox, over https with Basic.
    let requests = running.lab.requests();
    let impersonated: Vec<_> = requests
        .iter()
        .filter(|r| r.body.contains("ExchangeImpersonation"))
        .collect();
    assert!(!impersonated.is_empty());
    assert!(impersonated
        .iter()
        .all(|r| r.scheme == "https" && r.header("authorization").is_some_and(|a| a.starts_with("Basic "))));
}

/// Basic turned off: exchangelib picks NTLM from the challenge by itself and
/// its NTLMv2 handshake (requests_ntlm, pyspnego) passes the lab's IIS-like check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchangelib_signs_in_with_ntlm_where_basic_is_off() {
    let Some(python) = python() else {
        eprintln!("SKIPPED exchangelib peer test: no Python with exchangelib (set EXPROBE_PYTHON or run .ci/run)");
        return;
    };
    let (value, running) = exchangelib_impersonation_as(
        python,
        "ews-ntlm-healthy",
        "alice@contoso.com",
        "CONTOSO\\svc-sync",
        "GUESS",
    )
    .await;
    assert_eq!(value["ok"], true, "{value}");
    assert_eq!(value["auth_type"], "NTLM", "{value}");
    assert_eq!(value["name"], "Inbox");
    // A sync product's first reads: the newest inbox item (FindItem, GetItem) and a calendar view.
    assert_eq!(
        value["inbox_items"],
        serde_json::json!(["Welcome to Contoso"]),
        "{value}"
    );
    assert_eq!(value["calendar_items"], serde_json::json!(["Weekly sync"]), "{value}");
    // The rest of a sync product's loop, answered from the mailbox model.
    let inbox = serde_json::json!(["Welcome to Contoso", "Quarterly report", "Lunch on Friday?"]);
    assert_eq!(value["paged"], inbox, "every item, newest first: {value}");
    assert_eq!(value["paged_by_two"], inbox, "two pages of FindItem: {value}");
    assert_eq!(value["synced"], 3, "SyncFolderItems from no state: {value}");
    assert_eq!(value["synced_again"], 0, "SyncFolderItems from its own state: {value}");
    for folder in [
        "Inbox",
        "Calendar",
        "Contacts",
        "Tasks",
        "Sent Items",
        "Deleted Items",
        "Drafts",
    ] {
        assert!(
            value["folders"]
                .as_array()
                .is_some_and(|f| f.iter().any(|n| n == folder)),
            "FindFolder under msgfolderroot lists {folder}: {value}"
        );
    }
    assert_eq!(value["contacts"], serde_json::json!(["Pat Lee"]), "{value}");
    assert_eq!(value["tasks"], serde_json::json!(["Renew the certificate"]), "{value}");
    assert_eq!(
        value["resolved"],
        serde_json::json!(["alice@contoso.com"]),
        "ResolveNames: {value}"
    );
    assert_eq!(value["free_busy"][0]["events"], 1, "GetUserAvailability: {value}");
    assert!(
        value["free_busy"][0]["merged"]
            .as_str()
            .is_some_and(|m| m.contains('2')),
        "{value}"
    );
    let requests = running.lab.requests();
    for op in [
        "SyncFolderItems",
        "FindFolder",
        "ResolveNames",
        "GetUserAvailabilityRequest",
    ] {
        assert!(requests.iter().any(|r| r.body.contains(op)), "exchangelib sent {op}");
    }
    // exchangelib asked for a schema newer than Exchange 2013 SP1 first and stepped down,
    // as against a real 2013 server.
    assert!(
        value["version"]
            .as_str()
            .is_some_and(|v| v.contains("Exchange2013_SP1")),
        "{value}"
    );
    // It authenticated the connection once (NTLM legs), then sent the
    // impersonated requests on it without a header, as IIS allows.
    assert!(requests
        .iter()
        .any(|r| r.header("authorization").is_some_and(|a| a.starts_with("NTLM "))));
    assert!(requests.iter().any(|r| r.body.contains("ExchangeImpersonation")));
    // The password itself never crosses the wire.
    let password = running.lab.password().expect("password").expose().to_string();
    assert!(requests
        .iter()
        .all(|r| !format!("{:?}{}", r.headers, r.body).contains(&password)));
    // exprobe agrees: the same lab is healthy with --auth ntlm.
    let (report, out) = running.check_json(&[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", crate::common::codes(&report));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchangelib_raises_error_impersonate_user_denied_without_the_role() {
    let Some(python) = python() else {
        eprintln!("SKIPPED exchangelib peer test: no Python with exchangelib (set EXPROBE_PYTHON or run .ci/run)");
        return;
    };
    let (value, running) = exchangelib_impersonation(python, "ews-impersonation-denied", "alice@contoso.com").await;
    assert_eq!(value["ok"], false, "{value}");
    assert_eq!(value["error"], "ErrorImpersonateUserDenied", "{value}");
    // exprobe reports the same thing for the same lab.
    let (report, _) = running.check_json(&[]).await;
    assert!(report
        .findings
        .iter()
        .any(|f| f.code == "impersonation.denied" && f.mailbox.as_deref() == Some("alice@contoso.com")));
}

/// MSAL's client credentials against a scenario's lab, with the secret that scenario's check sends.
async fn msal(scenario: &str) -> (serde_json::Value, crate::common::Running) {
    msal_grant(scenario, "secret").await
}

/// MSAL with `grant` (secret, or certificate: the files the lab's check line names).
async fn msal_grant(scenario: &str, grant: &str) -> (serde_json::Value, crate::common::Running) {
    let python = python_with("msal").expect("checked by the caller");
    let running = start(Scenario::builtin(scenario).expect("scenario")).await;
    let secret = running
        .lab
        .password()
        .map(|p| p.expose().to_string())
        .unwrap_or_default();
    let check = running.check_args(&[]);
    let flag = |name: &str| {
        check
            .iter()
            .find_map(|a| a.strip_prefix(&format!("--{name}=")).map(str::to_string))
            .unwrap_or_default()
    };
    let files = [
        ("EXPROBE_CERT_FILE", flag("certificate")),
        ("EXPROBE_KEY_FILE", flag("private-key")),
        ("EXPROBE_ASSERTION_ALG", flag("assertion-alg")),
    ];
    let lab = &running.lab;
    let args = vec![
        format!("{}/tests/peers/msal_client_credentials.py", env!("CARGO_MANIFEST_DIR")),
        "contoso.com".to_string(),
        "2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f".to_string(),
        "https://outlook.office365.com/.default".to_string(),
        lab.dns_addr.ip().to_string(),
        lab.dns_addr.port().to_string(),
        lab.https_addr.port().to_string(),
        running.ca.display().to_string(),
        "login.microsoftonline.com".to_string(),
        grant.to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(&args)
            .env("EXPROBE_CLIENT_SECRET", secret)
            .envs(files)
            .output()
            .expect("run python")
    })
    .await
    .expect("thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| {
        panic!(
            "MSAL printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (value, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_client_credentials_get_a_token_from_the_lab_authority() {
    if python_with("msal").is_none() {
        eprintln!("SKIPPED MSAL peer test: no Python with msal (set EXPROBE_PYTHON or run .ci/run)");
        return;
    }
    let (value, running) = msal("online-app-healthy").await;
    assert_eq!(value["ok"], true, "{value}");
    let claims = &value["claims"];
    assert_eq!(claims["aud"], "https://outlook.office365.com");
    assert_eq!(claims["tid"], "6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["roles"], serde_json::json!(["full_access_as_app"]));
    // MSAL found the tenant by domain through openid-configuration, then used its token endpoint.
    let paths: Vec<String> = running.lab.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        paths
            .iter()
            .any(|p| p == "/contoso.com/v2.0/.well-known/openid-configuration"),
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p.ends_with("/oauth2/v2.0/token")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_gets_aadsts7000215_for_a_wrong_secret() {
    if python_with("msal").is_none() {
        eprintln!("SKIPPED MSAL peer test: no Python with msal (set EXPROBE_PYTHON or run .ci/run)");
        return;
    }
    let (value, running) = msal("oauth-invalid-secret").await;
    assert_eq!(value["ok"], false);
    assert_eq!(value["error"], "invalid_client");
    assert_eq!(value["error_codes"], serde_json::json!([7000215]));
    assert!(value["error_description"]
        .as_str()
        .is_some_and(|d| d.starts_with("AADSTS7000215:") && d.contains("Trace ID:")));
    // exprobe reports the same for the same lab.
    let (report, _) = running.check_json(&[]).await;
    assert!(report
        .findings
        .iter()
        .any(|f| f.code == "oauth.invalid_client_secret" && f.detail.contains("trace id")));
}

/// `bench/peer_matrix.py` (the peer-agreement matrix) on a sample of scenarios: the real
/// clients fail exactly where exprobe reports a critical finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_matrix_agrees_on_a_sample_of_scenarios() {
    let Some(python) = python_with("exchangelib, msal") else {
        eprintln!("SKIPPED peer matrix: no Python with exchangelib and msal (set EXPROBE_PYTHON or run .ci/run)");
        return;
    };
    let script = format!("{}/bench/peer_matrix.py", env!("CARGO_MANIFEST_DIR"));
    let mut args = vec![
        script,
        "--exprobe".to_string(),
        env!("CARGO_BIN_EXE_exprobe").to_string(),
        "--python".to_string(),
        python.clone(),
    ];
    for s in [
        "ews-onprem-healthy",
        "ews-ntlm-healthy",
        "ews-ntlm-rejected",
        "ews-impersonation-denied",
        "online-app-healthy",
        "oauth-invalid-secret",
        // Every grant and the Graph client: a certificate, a refresh token, a Graph denial;
        // and the NTLM product that meets Windows authentication only inside.
        "online-app-certificate-healthy",
        "seed-mail-api-platform-exo-service-account",
        "graph-access-policy-denied",
        "ews-ntlm-internal-only",
        // Exchange Online since October 2026: RBAC for Applications, and a plain REST Graph
        // client with MSAL's token agreeing with each mailbox's Graph readiness.
        "exo-graph-ready",
        "exo-graph-not-ready",
        "exo-rbac-scope-excludes",
        "seed-crm-exchange-sync-exo-healthy",
    ] {
        args.push("--scenario".into());
        args.push(s.into());
    }
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(&args)
            .output()
            .expect("run the matrix")
    })
    .await
    .expect("thread");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("agreement: 14/14 judged scenarios"), "{table}");
    // Graph readiness was compared for every app-only EWS setup in the sample.
    assert!(table.contains("Graph readiness judged in 7"), "{table}");
    assert!(table.contains("exo-graph-not-ready"), "{table}");
}

/// Exchange Online by its CNAME: exchangelib (which has no Autodiscover v2)
/// meets Microsoft's certificate on autodiscover.contoso.com, follows the
/// plain-HTTP 302 to autodiscover-s.outlook.com and autodiscovers there with
/// its own OAuth token; exprobe finds the same EWS URL (by v2) and no problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchangelib_oauth_autodiscover_follows_the_online_http_redirect() {
    let Some(python) = python() else {
        eprintln!("SKIPPED exchangelib peer test: no Python with exchangelib (set EXPROBE_PYTHON or run .ci/run)");
        return;
    };
    let running = start(Scenario::builtin("autodiscover-online-cname").expect("scenario")).await;
    let (report, _) = running.check_json(&[]).await;
    let ours = report.mailboxes[0]
        .facts
        .get("ews_url")
        .cloned()
        .expect("exprobe found an EWS URL");
    let lab = &running.lab;
    let secret = lab.password().expect("client secret").expose().to_string();
    let (theirs, out) = exchangelib_autodiscover(
        python,
        &running,
        None,
        vec![
            ("EXPROBE_CLIENT_ID", "2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f".to_string()),
            ("EXPROBE_TENANT", "contoso.com".to_string()),
            ("EXPROBE_CLIENT_SECRET", secret),
        ],
    )
    .await;
    assert!(out.status.success(), "exchangelib failed: {theirs}");
    assert_eq!(theirs["ews_url"].as_str(), Some(ours.as_str()));
    let requests = lab.requests();
    // The path it took: the 302 on plain HTTP, then SOAP with a bearer token at autodiscover-s.
    assert!(requests
        .iter()
        .any(|r| r.scheme == "http" && r.host == "autodiscover.contoso.com" && r.header("authorization").is_none()));
    assert!(requests.iter().any(|r| r.host == "autodiscover-s.outlook.com"
        && r.path.eq_ignore_ascii_case("/autodiscover/autodiscover.svc")
        && r.header("authorization").is_some_and(|a| a.starts_with("Bearer "))));
    // Its HTTPS attempt on the alias never got as far as a request (the certificate stopped it).
    assert!(!requests
        .iter()
        .any(|r| r.scheme == "https" && r.host == "autodiscover.contoso.com"));
}

/// MSAL's certificate credential as it sends it: RS256 with a padded base64url
/// `x5t`, and (from a PFX) PS256 with a padded `x5t#S256`; the lab, like Entra,
/// accepts both. Certificates are what exprobe's own assertion uses too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_certificate_credentials_get_a_token_with_padded_thumbprints() {
    if python_with("msal").is_none() {
        eprintln!("SKIPPED MSAL peer test: no Python with msal (set EXPROBE_PYTHON or run .ci/run)");
        return;
    }
    let (value, running) = msal_grant("online-app-certificate-healthy", "certificate").await;
    assert_eq!(value["ok"], true, "{value}");
    assert_eq!(
        value["claims"]["roles"],
        serde_json::json!(["full_access_as_app"]),
        "{value}"
    );
    let assertion = running
        .lab
        .requests()
        .into_iter()
        .find_map(|r| {
            url::form_urlencoded::parse(r.body.as_bytes())
                .find(|(k, _)| k == "client_assertion")
                .map(|(_, v)| v.into_owned())
        })
        .expect("MSAL sent a client assertion");
    let header = jsonwebtoken::decode_header(&assertion).expect("JWT header");
    assert!(
        header.x5t.as_deref().is_some_and(|t| t.ends_with('=')),
        "MSAL pads x5t: {header:?}"
    );
    // exprobe agrees: healthy but for EWS's retirement.
    let (report, _) = running.check_json(&[]).await;
    assert_eq!(crate::common::codes(&report), vec!["exchange_online.ews_retirement"]);
}

/// MSAL's device flow against the lab: its JSON answer.
async fn msal_device_flow(python: String, text: &str) -> (serde_json::Value, crate::common::Running) {
    let running = start(crate::common::scenario_from_text(text)).await;
    let lab = &running.lab;
    let args = vec![
        format!("{}/tests/peers/msal_device_flow.py", env!("CARGO_MANIFEST_DIR")),
        "contoso.com".to_string(),
        "5a9e2d1c-3b4f-4e6a-8c7d-9e0f1a2b3c4d".to_string(),
        "https://graph.microsoft.com/RoleManagement.Read.Exchange".to_string(),
        lab.dns_addr.ip().to_string(),
        lab.dns_addr.port().to_string(),
        lab.https_addr.port().to_string(),
        running.ca.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(&args)
            .output()
            .expect("run python")
    })
    .await
    .expect("thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (value, running)
}

/// The lab's device authorization grant satisfies MSAL for Python: the flow's
/// fields as Entra ID announces them, pending then a token for the admin;
/// slow_down honoured (MSAL adds 5 s); a declined and an expired sign-in end
/// the polling with their errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_device_flow_agrees_with_the_lab() {
    let Some(python) = python_with("msal") else {
        eprintln!("SKIPPED MSAL device flow: no Python with msal (set EXPROBE_PYTHON or run .ci/run)");
        return;
    };
    let (approved, running) = msal_device_flow(python.clone(), &crate::admin::admin_scenario("approve", 2, 0)).await;
    assert_eq!(approved["ok"], true, "{approved}");
    assert_eq!(approved["claims"]["upn"], "admin@contoso.com");
    assert_eq!(approved["claims"]["scp"], "RoleManagement.Read.Exchange");
    assert_eq!(approved["claims"]["aud"], "https://graph.microsoft.com");
    assert_eq!(
        approved["flow"]["verification_uri"],
        "https://microsoft.com/devicelogin"
    );
    assert_eq!(approved["flow"]["expires_in"], 900);
    assert!(approved["flow"]["message"]
        .as_str()
        .is_some_and(|m| m.contains(approved["flow"]["user_code"].as_str().unwrap_or("?"))));
    let polls = running
        .lab
        .requests()
        .iter()
        .filter(|r| r.body.contains("device_code"))
        .count();
    assert_eq!(polls, 3, "two pending answers, then the token");
    // Polled no faster than the interval: two waits of at least a second.
    assert!(approved["seconds"].as_f64().is_some_and(|s| s >= 1.9), "{approved}");

    let (slowed, _) = msal_device_flow(python.clone(), &crate::admin::admin_scenario("approve", 0, 1)).await;
    assert_eq!(slowed["ok"], true, "{slowed}");
    assert!(
        slowed["seconds"].as_f64().is_some_and(|s| s >= 5.9),
        "slow_down adds 5 s: {slowed}"
    );

    let (declined, _) = msal_device_flow(python.clone(), &crate::admin::admin_scenario("decline", 1, 0)).await;
    assert_eq!(declined["error"], "authorization_declined", "{declined}");
    let (expired, _) = msal_device_flow(python, &crate::admin::admin_scenario("expire", 1, 0)).await;
    assert_eq!(expired["error"], "expired_token", "{expired}");
    assert_eq!(expired["error_codes"], serde_json::json!([70019]));
}
