//! The admin view's sign-in (issue 20): `exprobe admin sign-in` with the
//! device authorization grant against the lab's Entra ID, through the real
//! binary: the person at the browser approves, declines or lets the code
//! expire; `slow_down` is honoured; the device code and the token go only to
//! the authority over https and never reach the output.

use crate::common::{scenario_from_text, start, Running};

const ADMIN_CLIENT: &str = "5a9e2d1c-3b4f-4e6a-8c7d-9e0f1a2b3c4d";

pub fn admin_scenario(answer: &str, pending: u32, slow_down: u32) -> String {
    format!(
        r#"name = "admin-device-code"
description = "An admin signs in with the device code flow"

[check]
mailboxes = ["alice@contoso.com"]

[[hosts]]
name = "login.microsoftonline.com"
entra = true

[[hosts]]
name = "graph.microsoft.com"
graph = true

[[tenants]]
id = "6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f"
name = "Contoso"
domains = ["contoso.com"]

[[apps]]
client_id = "{ADMIN_CLIENT}"
tenant = "6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f"
display_name = "exprobe admin"
public_client = true

[[users]]
address = "alice@contoso.com"

[admin]
client_id = "{ADMIN_CLIENT}"
account = "admin@contoso.com"
device_answer = "{answer}"
pending_polls = {pending}
slow_down_polls = {slow_down}
interval = 1
"#
    )
}

/// `exprobe admin sign-in` against this lab: (exit code, stdout, stderr, seconds).
async fn sign_in(running: &Running, client: &str) -> (Option<i32>, String, String, f64) {
    let mut args: Vec<String> = vec![
        "admin".into(),
        "sign-in".into(),
        "--tenant=contoso.com".into(),
        format!("--admin-client-id={client}"),
    ];
    args.extend(
        running.check_args(&[]).into_iter().filter(|a| {
            a.starts_with("--dns-server=") || a.starts_with("--connect-to=") || a.starts_with("--ca-file=")
        }),
    );
    let began = std::time::Instant::now();
    let out = running.run_cli(args).await;
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        began.elapsed().as_secs_f64(),
    )
}

fn assert_only_the_authority_was_asked(running: &Running) {
    let requests = running.lab.requests();
    assert!(!requests.is_empty());
    for r in requests {
        assert_eq!(r.scheme, "https", "{r:?}");
        assert_eq!(r.host, "login.microsoftonline.com", "{r:?}");
        assert_eq!(r.method, "POST", "only the devicecode and token requests: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_sign_in_names_the_admin_and_never_the_token() {
    let running = start(scenario_from_text(&admin_scenario("approve", 2, 0))).await;
    let (code, stdout, stderr, _) = sign_in(&running, ADMIN_CLIENT).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code"
        ),
        "{stderr}"
    );
    assert!(
        stdout.contains("signed in as admin@contoso.com (tenant 6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("RoleManagement.Read.Exchange Application.Read.All"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("eyJ") && !stderr.contains("eyJ"),
        "a token in the output"
    );
    assert!(!stderr.contains("DAQABAAE"), "the device code in the output");
    let polls = running
        .lab
        .requests()
        .iter()
        .filter(|r| r.body.contains("grant_type=urn"))
        .count();
    assert_eq!(polls, 3, "two pending answers, then the token");
    assert_only_the_authority_was_asked(&running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_adds_five_seconds_to_the_interval() {
    let running = start(scenario_from_text(&admin_scenario("approve", 0, 1))).await;
    let (code, stdout, stderr, took) = sign_in(&running, ADMIN_CLIENT).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    // A first wait of 1 s, slow_down, then 1 + 5 s.
    assert!(took >= 6.9, "took {took} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_or_expired_sign_in_fails_and_says_why() {
    for (answer, words) in [
        ("decline", "declined at the browser"),
        ("expire", "expired before anyone signed in"),
    ] {
        let running = start(scenario_from_text(&admin_scenario(answer, 1, 0))).await;
        let (code, stdout, stderr, _) = sign_in(&running, ADMIN_CLIENT).await;
        assert_eq!(code, Some(2), "{answer}: {stdout}{stderr}");
        assert!(stderr.contains(words), "{answer}: {stderr}");
        assert!(stdout.is_empty(), "{answer}: {stdout}");
        assert_only_the_authority_was_asked(&running);
    }
    // A client the tenant does not know: Entra's own error, no polling.
    let running = start(scenario_from_text(&admin_scenario("approve", 1, 0))).await;
    let (code, stdout, stderr, _) = sign_in(&running, "11111111-2222-3333-4444-555555555555").await;
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("AADSTS700016"), "{stderr}");
    assert_eq!(running.lab.requests().len(), 1, "no polling after the refusal");
}
