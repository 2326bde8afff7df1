//! Exchange Online's access model in the lab (issue 19, item 2): an app-only
//! token reaches a mailbox by the tenant-wide Entra consent or by an RBAC for
//! Applications role assignment, whose scope decides per mailbox; the two add
//! up; Autodiscover refuses a token that only an RBAC role backs; no account
//! impersonates any more. Asked over the wire, as a product would.

use crate::common::{start, Running};
use exprobe::lab::Scenario;

const TENANT: &str = "6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f";
const APP: &str = "2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f";
const SECRET: &str = "Lab~Secret.Value_123";

fn client(running: &Running) -> reqwest::Client {
    let lab = &running.lab;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&running.ca).expect("ca")).expect("pem");
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20));
    for host in [
        "login.microsoftonline.com",
        "outlook.office365.com",
        "autodiscover.outlook.com",
        "graph.microsoft.com",
    ] {
        b = b.resolve(host, lab.https_addr);
    }
    b.build().expect("client")
}

/// A client-credentials token for `resource` from the lab's Entra ID.
async fn app_token(client: &reqwest::Client, resource: &str) -> String {
    let r = client
        .post(format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("scope", &format!("{resource}/.default")),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status().as_u16(), 200, "token endpoint");
    let body: serde_json::Value = serde_json::from_str(&r.text().await.expect("body")).expect("token json");
    body["access_token"].as_str().expect("access_token").to_string()
}

/// GetFolder of `mailbox`'s inbox as the app, impersonating it: the status.
async fn ews_inbox(client: &reqwest::Client, token: &str, mailbox: &str) -> (u16, String) {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header>
    <t:RequestServerVersion Version="Exchange2016"/>
    <t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>{mailbox}</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>
  </soap:Header>
  <soap:Body>
    <m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
      <m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>
  </soap:Body>
</soap:Envelope>"#
    );
    let r = client
        .post("https://outlook.office365.com/EWS/Exchange.asmx")
        .bearer_auth(token)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("X-AnchorMailbox", mailbox)
        .body(body)
        .send()
        .await
        .expect("EWS");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// GetUserSettings from Exchange Online's SOAP Autodiscover with the token: the status and x-ms-diagnostics.
async fn soap_autodiscover(client: &reqwest::Client, token: &str, mailbox: &str) -> (u16, String) {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Header>
    <a:RequestedServerVersion>Exchange2013</a:RequestedServerVersion>
    <wsa:Action>http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings</wsa:Action>
    <wsa:To>https://autodiscover.outlook.com/autodiscover/autodiscover.svc</wsa:To>
  </soap:Header>
  <soap:Body>
    <a:GetUserSettingsRequestMessage><a:Request>
      <a:Users><a:User><a:Mailbox>{mailbox}</a:Mailbox></a:User></a:Users>
      <a:RequestedSettings><a:Setting>ExternalEwsUrl</a:Setting></a:RequestedSettings>
    </a:Request></a:GetUserSettingsRequestMessage>
  </soap:Body>
</soap:Envelope>"#
    );
    let r = client
        .post("https://autodiscover.outlook.com/autodiscover/autodiscover.svc")
        .bearer_auth(token)
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("autodiscover");
    let diagnostics = r
        .headers()
        .get("x-ms-diagnostics")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (r.status().as_u16(), diagnostics)
}

/// A Graph inbox read: the status and the error code.
async fn graph_inbox(client: &reqwest::Client, token: &str, mailbox: &str) -> (u16, String) {
    let r = client
        .get(format!(
            "https://graph.microsoft.com/v1.0/users/{mailbox}/mailFolders/inbox"
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("graph");
    let status = r.status().as_u16();
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or_default();
    (status, body["error"]["code"].as_str().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rbac_scope_lets_in_only_its_mailboxes_and_autodiscover_refuses_the_token() {
    let running = start(Scenario::builtin("exo-rbac-scope-excludes").expect("scenario")).await;
    let client = client(&running);
    let token = app_token(&client, "https://outlook.office365.com").await;
    // No full_access_as_app in the token: EWS lets the app in by its RBAC role, per mailbox.
    let (alice, body) = ews_inbox(&client, &token, "alice@contoso.com").await;
    assert_eq!(alice, 200, "alice is in the Sales scope: {body}");
    assert!(body.contains("NoError"), "{body}");
    let (bob, body) = ews_inbox(&client, &token, "bob@contoso.com").await;
    assert_eq!(bob, 403, "bob (Finance) is outside the scope: {body}");
    assert!(body.is_empty(), "the out-of-scope 403 has no body: {body}");
    // Autodiscover does not accept the RBAC role.
    let (status, diagnostics) = soap_autodiscover(&client, &token, "alice@contoso.com").await;
    assert_eq!(status, 403);
    assert!(diagnostics.starts_with("2000008;"), "{diagnostics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_wide_consent_reaches_the_mailbox_the_rbac_scope_leaves_out() {
    let running = start(Scenario::builtin("exo-consent-overrides-scope").expect("scenario")).await;
    let client = client(&running);
    let token = app_token(&client, "https://outlook.office365.com").await;
    for mailbox in ["alice@contoso.com", "bob@contoso.com"] {
        let (status, body) = ews_inbox(&client, &token, mailbox).await;
        assert_eq!(status, 200, "{mailbox}: the consent reaches every mailbox: {body}");
    }
    // The consented token is welcome at Autodiscover too.
    let (status, diagnostics) = soap_autodiscover(&client, &token, "alice@contoso.com").await;
    assert_eq!(status, 200, "{diagnostics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_decides_mail_access_from_the_rbac_scope() {
    // The scope-excludes tenant, with Graph's RBAC role beside the EWS one.
    let text = std::fs::read_to_string(format!(
        "{}/fixtures/scenarios/exo-rbac-scope-excludes.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let text = format!(
        "{text}\n[[role_assignments]]\nname = \"mail-sales\"\napp = \"{APP}\"\nrole = \"Application Mail.Read\"\nscope = \"Sync mailboxes\"\n"
    );
    let running = start(crate::common::scenario_from_text(&text)).await;
    let client = client(&running);
    let token = app_token(&client, "https://graph.microsoft.com").await;
    assert_eq!(
        graph_inbox(&client, &token, "alice@contoso.com").await,
        (200, String::new())
    );
    assert_eq!(
        graph_inbox(&client, &token, "bob@contoso.com").await,
        (403, "ErrorAccessDenied".to_string())
    );
    // Without the Graph role: nothing grants Mail, for anyone.
    let running = start(Scenario::builtin("exo-rbac-scope-excludes").expect("scenario")).await;
    let client = self::client(&running);
    let token = app_token(&client, "https://graph.microsoft.com").await;
    assert_eq!(
        graph_inbox(&client, &token, "alice@contoso.com").await,
        (403, "ErrorAccessDenied".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_account_impersonates_on_exchange_online_whatever_role_it_was_given() {
    let running = start(Scenario::builtin("seed-mail-api-platform-exo-service-account").expect("scenario")).await;
    let client = client(&running);
    // The service account's refresh token, redeemed as the platform does.
    let r = client
        .post("https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", APP),
            ("refresh_token", "0.AXEAlab-refresh-token-for-svc-sync"),
            (
                "scope",
                "https://outlook.office365.com/EWS.AccessAsUser.All offline_access",
            ),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
    let token = body["access_token"].as_str().expect("access_token");
    let (status, body) = ews_inbox(&client, token, "alice@contoso.com").await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("ErrorImpersonateUserDenied"), "{body}");
}
