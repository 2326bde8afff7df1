//! The lab's autodiscover answers (POX, SOAP GetUserSettings, v2 JSON),
//! built from the organization model in the shapes Exchange answers with (Microsoft's samples in `fixtures/samples/`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response};

use super::auth::{authorized, unauthorized};
use super::response::{respond, xml_response};
use super::scenario::{AutodiscoverAuth, Endpoint, HostSpec, Scenario, UserSpec};
use crate::protocol::pox::{escape, OUTLOOK_RESPONSE_NS, REQUEST_NS, RESPONSE_NS};
use crate::protocol::soap_autodiscover::{AUTODISCOVER_NS, SOAP_ENVELOPE_NS};
use crate::protocol::xml;

pub struct AutodiscoverRequest<'a> {
    pub host: &'a HostSpec,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub authorization: Option<&'a str>,
    /// The service account NTLM authenticated on this connection.
    pub ntlm_account: Option<&'a str>,
    /// A valid bearer token for Exchange Online came (where Bearer is offered),
    /// as Exchange Online's autodiscover accepts OAuth.
    pub bearer: bool,
    /// That token is app-only and holds no `full_access_as_app`: Autodiscover
    /// cannot be called with RBAC application roles (see [`super::access`]).
    pub bearer_without_role: bool,
    pub body: &'a [u8],
}

/// The answer for an autodiscover path on this host, or `None` when the host
/// does not serve that endpoint.
pub fn answer(scenario: &Scenario, req: &AutodiscoverRequest<'_>) -> Option<Response<Full<Bytes>>> {
    let path = req.path.to_ascii_lowercase();
    let serves = |e| req.host.autodiscover.contains(&e);
    let legacy = (path == "/autodiscover/autodiscover.xml" && serves(Endpoint::Pox))
        || (path == "/autodiscover/autodiscover.svc" && serves(Endpoint::Soap));
    if legacy && req.bearer_without_role {
        return Some(respond(
            403,
            &[(
                "x-ms-diagnostics",
                "2000008;reason=\"The token contains not enough scope to make this call.\";error_category=\"invalid_grant\"".to_string(),
            )],
            Bytes::new(),
        ));
    }
    if path == "/autodiscover/autodiscover.xml" && serves(Endpoint::Pox) {
        return Some(pox(scenario, req));
    }
    if path == "/autodiscover/autodiscover.svc" && serves(Endpoint::Soap) {
        return Some(soap(scenario, req));
    }
    if path.starts_with("/autodiscover/autodiscover.json") && serves(Endpoint::V2) {
        return Some(v2(scenario, req));
    }
    None
}

fn auth_gate(scenario: &Scenario, req: &AutodiscoverRequest<'_>) -> Option<Response<Full<Bytes>>> {
    match scenario.exchange.autodiscover_auth {
        AutodiscoverAuth::None => None,
        AutodiscoverAuth::Basic
            if req.bearer || authorized(scenario, &req.host.name, req.authorization, req.ntlm_account).is_some() =>
        {
            None
        }
        AutodiscoverAuth::Basic => Some(unauthorized(scenario, &req.host.name)),
    }
}

fn redirect(req: &AutodiscoverRequest<'_>, authenticated: bool) -> Option<Response<Full<Bytes>>> {
    let r = req
        .host
        .post_redirect
        .as_ref()
        .filter(|r| r.after_auth == authenticated)?;
    Some(respond(r.status, &[("Location", r.location.clone())], Bytes::new()))
}

/// The internal EWS URL and its server: `exchange.internal_ews_url`, else the external ones.
fn internal_of(scenario: &Scenario, external: &str) -> (String, String) {
    let url = scenario
        .exchange
        .internal_ews_url
        .clone()
        .unwrap_or_else(|| external.to_string());
    let server = url::Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    (url, server)
}

fn legacy_dn(user: &UserSpec) -> String {
    let local = user.address.split('@').next().unwrap_or("user");
    format!("/o=ExprobeLab/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={local}")
}

const DEPLOYMENT_ID: &str = "644560b8-a1ce-429c-8ace-23395843f701";

fn pox_error(code: u16, message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns=\"{RESPONSE_NS}\">\r\n  <Response>\r\n    <Error Time=\"10:15:42.8890000\" Id=\"2776632896\">\r\n      <ErrorCode>{code}</ErrorCode>\r\n      <Message>{}</Message>\r\n      <DebugData />\r\n    </Error>\r\n  </Response>\r\n</Autodiscover>",
        escape(message)
    );
    xml_response(200, body)
}

fn pox_account(inner: &str) -> Response<Full<Bytes>> {
    xml_response(
        200,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns=\"{RESPONSE_NS}\">\r\n  <Response xmlns=\"{OUTLOOK_RESPONSE_NS}\">\r\n{inner}  </Response>\r\n</Autodiscover>"
        ),
    )
}

fn pox(scenario: &Scenario, req: &AutodiscoverRequest<'_>) -> Response<Full<Bytes>> {
    if req.method == Method::POST {
        if let Some(r) = redirect(req, false) {
            return r;
        }
    }
    if let Some(denied) = auth_gate(scenario, req) {
        return denied;
    }
    if req.method == Method::POST {
        if let Some(r) = redirect(req, true) {
            return r;
        }
    }
    if req.method != Method::POST {
        return pox_error(600, "Invalid Request");
    }
    let Some(email) = pox_request_address(req.body) else {
        return pox_error(600, "Invalid Request");
    };
    let Some(user) = scenario.user(&email) else {
        return pox_error(500, "The email address can't be found.");
    };
    if let Some(to) = &user.redirect_addr {
        return pox_account(&format!(
            "    <Account>\r\n      <Action>redirectAddr</Action>\r\n      <RedirectAddr>{}</RedirectAddr>\r\n    </Account>\r\n",
            escape(to)
        ));
    }
    if let Some(to) = &user.redirect_url {
        return pox_account(&format!(
            "    <Account>\r\n      <Action>redirectUrl</Action>\r\n      <RedirectUrl>{}</RedirectUrl>\r\n    </Account>\r\n",
            escape(to)
        ));
    }
    if !user.mailbox {
        return pox_error(500, "The email address can't be found.");
    }
    let ews = escape(&scenario.ews_url_for(user));
    let server = url::Url::parse(&scenario.ews_url_for(user))
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let display = escape(user.display_name.as_deref().unwrap_or(&user.address));
    let (internal, internal_server) = internal_of(scenario, &scenario.ews_url_for(user));
    let (internal, internal_server) = (escape(&internal), escape(&internal_server));
    pox_account(&format!(
        "    <User>\r\n      <DisplayName>{display}</DisplayName>\r\n      <LegacyDN>{}</LegacyDN>\r\n      <AutoDiscoverSMTPAddress>{}</AutoDiscoverSMTPAddress>\r\n      <DeploymentId>{DEPLOYMENT_ID}</DeploymentId>\r\n    </User>\r\n    <Account>\r\n      <AccountType>email</AccountType>\r\n      <Action>settings</Action>\r\n      <MicrosoftOnline>{}</MicrosoftOnline>\r\n      <Protocol>\r\n        <Type>EXCH</Type>\r\n        <Server>{internal_server}</Server>\r\n        <ServerVersion>73C1850E</ServerVersion>\r\n        <ASUrl>{internal}</ASUrl>\r\n        <EwsUrl>{internal}</EwsUrl>\r\n        <OOFUrl>{internal}</OOFUrl>\r\n      </Protocol>\r\n      <Protocol>\r\n        <Type>EXPR</Type>\r\n        <Server>{server}</Server>\r\n        <SSL>On</SSL>\r\n        <AuthPackage>Basic</AuthPackage>\r\n        <ASUrl>{ews}</ASUrl>\r\n        <EwsUrl>{ews}</EwsUrl>\r\n        <OOFUrl>{ews}</OOFUrl>\r\n      </Protocol>\r\n    </Account>\r\n",
        escape(&legacy_dn(user)),
        escape(&user.address),
        if scenario.exchange.online { "True" } else { "False" },
    ))
}

fn pox_request_address(body: &[u8]) -> Option<String> {
    let doc = xml::parse(body).ok()?;
    if !doc.root.is(REQUEST_NS, "Autodiscover") {
        return None;
    }
    doc.root
        .path(&["Request", "EMailAddress"])
        .map(|e| e.text.trim().to_string())
        .filter(|s| !s.is_empty())
}

struct SoapRequest {
    mailbox: String,
    settings: Vec<String>,
}

fn soap_request(body: &[u8]) -> Option<SoapRequest> {
    let doc = xml::parse(body).ok()?;
    if !doc.root.is(SOAP_ENVELOPE_NS, "Envelope") {
        return None;
    }
    let request = doc.root.path(&["Body", "GetUserSettingsRequestMessage", "Request"])?;
    let mailbox = request.path(&["Users", "User", "Mailbox"])?.text.trim().to_string();
    let settings = request
        .child("RequestedSettings")
        .map(|r| r.children_named("Setting").map(|s| s.text.trim().to_string()).collect())
        .unwrap_or_default();
    Some(SoapRequest { mailbox, settings })
}

fn soap_envelope(response_inner: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"{SOAP_ENVELOPE_NS}\" xmlns:a=\"http://www.w3.org/2005/08/addressing\"><s:Header><a:Action s:mustUnderstand=\"1\">http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse</a:Action><h:ServerVersionInfo xmlns:h=\"{AUTODISCOVER_NS}\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><h:MajorVersion>15</h:MajorVersion><h:MinorVersion>0</h:MinorVersion><h:MajorBuildNumber>1497</h:MajorBuildNumber><h:MinorBuildNumber>2</h:MinorBuildNumber><h:Version>Exchange2013_SP1</h:Version></h:ServerVersionInfo></s:Header><s:Body><GetUserSettingsResponseMessage xmlns=\"{AUTODISCOVER_NS}\"><Response xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><ErrorCode>NoError</ErrorCode><ErrorMessage/><UserResponses><UserResponse>{response_inner}</UserResponse></UserResponses></Response></GetUserSettingsResponseMessage></s:Body></s:Envelope>"
    )
}

fn soap_user_error(code: &str, message: &str, target: Option<&str>) -> Response<Full<Bytes>> {
    let target = match target {
        Some(t) => format!("<RedirectTarget>{}</RedirectTarget>", escape(t)),
        None => "<RedirectTarget i:nil=\"true\"/>".into(),
    };
    xml_response(
        200,
        soap_envelope(&format!(
            "<ErrorCode>{code}</ErrorCode><ErrorMessage>{}</ErrorMessage>{target}<UserSettingErrors/><UserSettings/>",
            escape(message)
        )),
    )
}

fn soap(scenario: &Scenario, req: &AutodiscoverRequest<'_>) -> Response<Full<Bytes>> {
    if req.method == Method::POST {
        if let Some(r) = redirect(req, false) {
            return r;
        }
    }
    if let Some(denied) = auth_gate(scenario, req) {
        return denied;
    }
    if req.method == Method::POST {
        if let Some(r) = redirect(req, true) {
            return r;
        }
    }
    if req.method != Method::POST {
        return respond(405, &[("Allow", "POST".into())], Bytes::new());
    }
    let Some(request) = soap_request(req.body) else {
        return xml_response(
            500,
            format!("<s:Envelope xmlns:s=\"{SOAP_ENVELOPE_NS}\"><s:Body><s:Fault><faultcode xmlns:a=\"http://schemas.microsoft.com/exchange/services/2006/types\">a:ErrorSchemaValidation</faultcode><faultstring xml:lang=\"en-US\">The request failed schema validation.</faultstring></s:Fault></s:Body></s:Envelope>"),
        );
    };
    let Some(user) = scenario.user(&request.mailbox) else {
        return soap_user_error("InvalidUser", &format!("Invalid user '{}'.", request.mailbox), None);
    };
    if let Some(to) = &user.redirect_addr {
        return soap_user_error("RedirectAddress", "Redirection address.", Some(to));
    }
    if let Some(to) = &user.redirect_url {
        return soap_user_error("RedirectUrl", "Redirection URL.", Some(to));
    }
    if !user.mailbox {
        return soap_user_error("InvalidUser", &format!("Invalid user '{}'.", request.mailbox), None);
    }
    let ews = scenario.ews_url_for(user);
    let server = url::Url::parse(&ews)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let value = |name: &str| -> Option<String> {
        Some(match name {
            "ExternalEwsUrl" => ews.clone(),
            "InternalEwsUrl" => internal_of(scenario, &ews).0,
            "AutoDiscoverSMTPAddress" => user.address.clone(),
            "UserDisplayName" => user.display_name.clone().unwrap_or_else(|| user.address.clone()),
            "EwsSupportedSchemas" => "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, Exchange2013, Exchange2013_SP1".into(),
            "UserDN" => legacy_dn(user),
            "UserDeploymentId" => DEPLOYMENT_ID.into(),
            "CasVersion" => "15.00.1497.002".into(),
            "ExternalMailboxServer" => server.clone(),
            "InternalMailboxServer" => internal_of(scenario, &ews).1,
            "ActiveDirectoryServer" => format!("dc.{}", user.address.rsplit('@').next().unwrap_or("")),
            "MailboxDN" => format!("/o=ExprobeLab/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn={server}/cn=Microsoft Private MDB"),
            "GroupingInformation" => "LAB-1".into(),
            _ => return None,
        })
    };
    let mut settings = String::new();
    let mut errors = String::new();
    for name in &request.settings {
        match value(name) {
            Some(v) => settings.push_str(&format!(
                "<UserSetting i:type=\"StringSetting\"><Name>{}</Name><Value>{}</Value></UserSetting>",
                escape(name),
                escape(&v)
            )),
            None => errors.push_str(&format!(
                "<UserSettingError><ErrorCode>SettingIsNotAvailable</ErrorCode><ErrorMessage>User setting '{0}' is not available. </ErrorMessage><SettingName>{0}</SettingName></UserSettingError>",
                escape(name)
            )),
        }
    }
    let errors = if errors.is_empty() {
        "<UserSettingErrors/>".to_string()
    } else {
        format!("<UserSettingErrors>{errors}</UserSettingErrors>")
    };
    xml_response(
        200,
        soap_envelope(&format!(
            "<ErrorCode>NoError</ErrorCode><ErrorMessage>No error.</ErrorMessage><RedirectTarget i:nil=\"true\"/>{errors}<UserSettings>{settings}</UserSettings>"
        )),
    )
}

fn json(status: u16, body: serde_json::Value) -> Response<Full<Bytes>> {
    respond(
        status,
        &[("Content-Type", "application/json; charset=utf-8".into())],
        Bytes::from(body.to_string()),
    )
}

fn v2(scenario: &Scenario, req: &AutodiscoverRequest<'_>) -> Response<Full<Bytes>> {
    let rest = req.path.get("/autodiscover/autodiscover.json".len()..).unwrap_or("");
    let Some(address) = rest.strip_prefix("/v1.0/").filter(|a| a.contains('@')) else {
        return json(
            400,
            serde_json::json!({"ErrorCode": "InvalidUser", "ErrorMessage": "A valid SMTP address must be specified."}),
        );
    };
    let protocol = req.query.unwrap_or("").split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.eq_ignore_ascii_case("protocol").then(|| v.to_string())
    });
    let Some(protocol) = protocol else {
        return json(
            400,
            serde_json::json!({"ErrorCode": "MandatoryParameterMissing", "ErrorMessage": "A valid value must be provided for the query parameter 'Protocol'."}),
        );
    };
    if !protocol.eq_ignore_ascii_case("ews") {
        return json(
            400,
            serde_json::json!({"ErrorCode": "InvalidProtocol", "ErrorMessage": format!("The given protocol value '{protocol}' is invalid. Supported values are 'AutodiscoverV1, ActiveSync, Ews, Rest, Substrate, SubstrateSearchService, SubstrateNotificationService, OutlookMeetingScheduler, OutlookPay, Actions, Connectors, ConnectorsProcessors, ConnectorsWebhook, NotesClient, OwaPoweredExperience, ToDo, Weve, OutlookLocationsService, OutlookCloudSettingsService, OutlookTailoredExperiences, OwaPoweredExperienceV2'")}),
        );
    }
    // Exchange Online answers with its EWS endpoint without confirming the mailbox exists.
    let url = scenario
        .user(address)
        .map(|u| scenario.ews_url_for(u))
        .or_else(|| scenario.exchange.ews_url.clone())
        .unwrap_or_else(|| "https://outlook.office365.com/EWS/Exchange.asmx".into());
    json(200, serde_json::json!({"Protocol": "EWS", "Url": url}))
}
