//! The lab's EWS endpoint, driven by the organization model: Basic
//! authentication of service accounts, ExchangeImpersonation checked against
//! the ApplicationImpersonation role, its scope and the server right, aliases
//! resolving to their mailbox, accounts without mailboxes, EWS turned off,
//! and ErrorServerBusy with BackOffMilliseconds — in Exchange's exact shapes.
//! Exchange Online: no ApplicationImpersonation (removed in February 2025);
//! app-only tokens reach mailboxes by consent or RBAC for Applications
//! ([`super::access`]).

use std::sync::atomic::Ordering;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

use super::access::{self, Api};
use super::auth::{authorized, unauthorized};
use super::response::{respond, xml_response};
use super::scenario::{HostSpec, Scenario, ServiceAccountSpec, UserSpec};
use super::{mailstore, switches, LabState};
use crate::protocol::ews::{ERRORS_NS, MESSAGES_NS, SOAP_NS, TYPES_NS};
use crate::protocol::pox::escape;
use crate::protocol::xml;

const SERVER_VERSION: &str = "<h:ServerVersionInfo MajorVersion=\"15\" MinorVersion=\"0\" MajorBuildNumber=\"1497\" MinorBuildNumber=\"2\" Version=\"Exchange2013_SP1\" xmlns:h=\"http://schemas.microsoft.com/exchange/services/2006/types\" xmlns=\"http://schemas.microsoft.com/exchange/services/2006/types\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>";

fn fault(code: &str, message: &str, values: &[(&str, String)]) -> Response<Full<Bytes>> {
    let xml_values = if values.is_empty() {
        String::new()
    } else {
        let inner: String = values
            .iter()
            .map(|(n, v)| format!("<t:Value Name=\"{n}\">{}</t:Value>", escape(v)))
            .collect();
        format!("<t:MessageXml xmlns:t=\"{TYPES_NS}\">{inner}</t:MessageXml>")
    };
    let message = escape(message);
    xml_response(
        500,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{SOAP_NS}\"><s:Body><s:Fault><faultcode xmlns:a=\"{TYPES_NS}\">a:{code}</faultcode><faultstring xml:lang=\"en-US\">{message}</faultstring><detail><e:ResponseCode xmlns:e=\"{ERRORS_NS}\">{code}</e:ResponseCode><e:Message xmlns:e=\"{ERRORS_NS}\">{message}</e:Message>{xml_values}</detail></s:Fault></s:Body></s:Envelope>"
        ),
    )
}

fn envelope(body: &str) -> Response<Full<Bytes>> {
    xml_response(
        200,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{SOAP_NS}\"><s:Header>{SERVER_VERSION}</s:Header><s:Body xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">{body}</s:Body></s:Envelope>"
        ),
    )
}

fn response_error(operation: &str, code: &str, text: &str, tail: &str) -> Response<Full<Bytes>> {
    envelope(&format!(
        "<m:{operation}Response xmlns:m=\"{MESSAGES_NS}\" xmlns:t=\"{TYPES_NS}\"><m:ResponseMessages><m:{operation}ResponseMessage ResponseClass=\"Error\"><m:MessageText>{}</m:MessageText><m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{tail}</m:{operation}ResponseMessage></m:ResponseMessages></m:{operation}Response>",
        escape(text)
    ))
}

/// An `{operation}Response` envelope around these response messages.
fn messages(operation: &str, messages: &str) -> Response<Full<Bytes>> {
    envelope(&format!(
        "<m:{operation}Response xmlns:m=\"{MESSAGES_NS}\" xmlns:t=\"{TYPES_NS}\"><m:ResponseMessages>{messages}</m:ResponseMessages></m:{operation}Response>"
    ))
}

/// CreateItem of a draft (SaveOnly): its new ItemId.
fn created(user: &UserSpec) -> Response<Full<Bytes>> {
    let id = base64::engine::general_purpose::STANDARD
        .encode(format!("exprobe-lab-draft:{}", user.address.to_ascii_lowercase()));
    messages(
        "CreateItem",
        &format!("<m:CreateItemResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Message><t:ItemId Id=\"{id}\" ChangeKey=\"CQAAABYAAAA7bxyXx5VvQLQd1uQdCqoKAAAAAAAF\"/></t:Message></m:Items></m:CreateItemResponseMessage>"),
    )
}

fn deleted() -> Response<Full<Bytes>> {
    messages(
        "DeleteItem",
        "<m:DeleteItemResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode></m:DeleteItemResponseMessage>",
    )
}

struct EwsRequest {
    operation: String,
    /// (element name, value) of ConnectingSID's child.
    impersonate: Option<(String, String)>,
    /// RequestServerVersion's Version.
    version: Option<String>,
    /// The operation's element (the Body's first child).
    op: xml::Element,
}

fn parse_request(body: &[u8]) -> Option<EwsRequest> {
    let doc = xml::parse(body).ok()?;
    if !doc.root.is(SOAP_NS, "Envelope") {
        return None;
    }
    let header = doc.root.child("Header");
    let impersonate = header
        .and_then(|h| h.child("ExchangeImpersonation"))
        .and_then(|i| i.child("ConnectingSID"))
        .and_then(|c| c.children.first())
        .map(|e| (e.name.clone(), e.text.trim().to_string()));
    let version = header
        .and_then(|h| h.child("RequestServerVersion"))
        .map(|v| v.attr("Version").unwrap_or("").trim().to_string());
    let op = doc.root.child("Body")?.children.first()?.clone();
    Some(EwsRequest {
        operation: op.name.clone(),
        impersonate,
        version,
        op,
    })
}

/// The schema versions a RequestServerVersion may name: Exchange Server 2013
/// SP1 knows those up to its own; Exchange Online also the later ones.
const ONPREM_VERSIONS: &[&str] = &[
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
];
const ONLINE_ONLY_VERSIONS: &[&str] = &[
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
    "V2017_01_07",
    "V2017_04_14",
    "V2017_07_11",
    "V2017_10_09",
    "V2018_01_08",
];

fn version_known(scenario: &Scenario, version: &str) -> bool {
    ONPREM_VERSIONS.contains(&version) || (scenario.exchange.online && ONLINE_ONLY_VERSIONS.contains(&version))
}

fn busy(scenario: &Scenario) -> Response<Full<Bytes>> {
    fault(
        "ErrorServerBusy",
        "The server cannot service this request right now. Try again later.",
        &[("BackOffMilliseconds", scenario.exchange.busy_back_off_ms.to_string())],
    )
}

/// Decrements the in-flight count when the request is answered.
struct InFlight<'a>(&'a std::sync::atomic::AtomicU32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Exchange Online's ServerVersionInfo: 15.20.x with a `V2018_01_08` schema
/// name (as served to thunderbird/ews-rs's test account, 15.20.8769.35).
const ONLINE_SERVER_VERSION: &str = "<h:ServerVersionInfo MajorVersion=\"15\" MinorVersion=\"20\" MajorBuildNumber=\"8769\" MinorBuildNumber=\"35\" Version=\"V2018_01_08\" xmlns:h=\"http://schemas.microsoft.com/exchange/services/2006/types\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>";

/// What the lab knows of the caller of one EWS request.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub authorization: Option<&'a str>,
    /// The account this connection's NTLM handshake signed in.
    pub ntlm_account: Option<&'a str>,
    /// The X-AnchorMailbox header.
    pub anchor: Option<&'a str>,
    /// The User-Agent header (EwsAllowList / EwsBlockList match it).
    pub user_agent: &'a str,
}

/// A refusal by the EWS switches: 403, with Exchange Online's reason header.
fn refused(scenario: &Scenario, refusal: switches::Refusal) -> Response<Full<Bytes>> {
    let headers: Vec<(&str, String)> = refusal
        .header(scenario.exchange.online)
        .map(|h| ("X-EWS-Policy-Reason", h.to_string()))
        .into_iter()
        .collect();
    respond(403, &headers, Bytes::new())
}

/// EWS as the organization's servers answer it: Exchange Server 2013 SP1's
/// version on premises, Exchange Online's 15.20.x online.
pub async fn answer(state: &LabState, host: &HostSpec, caller: Caller<'_>, body: &[u8]) -> Response<Full<Bytes>> {
    let response = answer_model(state, host, caller, body).await;
    if !state.scenario.exchange.online {
        return response;
    }
    let (parts, full) = response.into_parts();
    let bytes = http_body_util::BodyExt::collect(full)
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let bytes = if text.contains(SERVER_VERSION) {
        Bytes::from(text.replace(SERVER_VERSION, ONLINE_SERVER_VERSION))
    } else {
        bytes
    };
    let mut out = Response::from_parts(parts, Full::new(bytes.clone()));
    if let Ok(len) = hyper::header::HeaderValue::from_str(&bytes.len().to_string()) {
        out.headers_mut().insert(hyper::header::CONTENT_LENGTH, len);
    }
    out
}

async fn answer_model(state: &LabState, host: &HostSpec, caller: Caller<'_>, body: &[u8]) -> Response<Full<Bytes>> {
    let scenario = &state.scenario;
    let principal = match bearer(state, &host.name, caller.authorization) {
        Some(Ok(p)) => p,
        Some(Err(rejected)) => return rejected,
        None => match authorized(scenario, &host.name, caller.authorization, caller.ntlm_account) {
            Some(account) => Principal::Account(account),
            None => return unauthorized(scenario, &host.name),
        },
    };
    let app = match &principal {
        Principal::App { app, .. } | Principal::Delegated(_, Some(app)) => Some(app.as_str()),
        _ => None,
    };
    let tenant = match &principal {
        Principal::App { tid, .. } => scenario.tenant(tid),
        Principal::Account(a) | Principal::Delegated(a, _) => scenario.tenant_of_address(&a.address),
    };
    if let Err(refusal) = switches::organization(scenario, tenant, state.phase(), app, caller.user_agent) {
        return refused(scenario, refusal);
    }
    let in_flight = state.ews_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InFlight(&state.ews_in_flight);
    if host.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(host.latency_ms)).await;
    }
    if scenario
        .exchange
        .concurrency_limit
        .is_some_and(|limit| in_flight > limit)
    {
        return busy(scenario);
    }
    let Some(request) = parse_request(body) else {
        return fault("ErrorSchemaValidation", "The request failed schema validation.", &[]);
    };
    if let Some(version) = &request.version {
        if !version_known(scenario, version) {
            // The fault exchangelib's version guessing steps down on.
            return fault(
                "ErrorInvalidServerVersion",
                "The specified server version is invalid.",
                &[],
            );
        }
    }
    // Exchange Online's front end routes by X-AnchorMailbox: an anchor that
    // names no mailbox is answered before the request reaches one.
    if let (true, Some(anchor)) = (scenario.exchange.online, caller.anchor) {
        // A bare SMTP address or `SMTP:address`; other forms (`Oid:…@tenant`, `UPN:`…) are not checked.
        let smtp = match anchor.split_once(':') {
            Some((kind, rest)) if kind.eq_ignore_ascii_case("smtp") => Some(rest.trim()),
            Some(_) => None,
            None => Some(anchor),
        };
        if let Some(anchor) = smtp
            .filter(|a| a.contains('@'))
            .filter(|a| scenario.user(a).is_none_or(|u| !u.mailbox))
        {
            return fault(
                "ErrorNonExistentMailbox",
                "The SMTP address has no mailbox associated with it.",
                &[("SmtpAddress", anchor.to_string())],
            );
        }
    }
    match &request.impersonate {
        Some((kind, value)) => {
            let n = state.ews_impersonations.fetch_add(1, Ordering::SeqCst);
            if n < scenario.exchange.busy_first_impersonations {
                return busy(scenario);
            }
            impersonated(scenario, &principal, &request, kind, value)
        }
        None => match principal {
            Principal::Account(account) | Principal::Delegated(account, _) => own(scenario, account, &request),
            Principal::App { .. } => fault(
                "ErrorInvalidExchangeImpersonationHeaderData",
                "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
                &[],
            ),
        },
    }
}

/// Who a request runs as.
enum Principal<'a> {
    Account(&'a ServiceAccountSpec),
    /// An app-only token the lab issued to client `app`, for tenant `tid`.
    App {
        tid: String,
        app: String,
        /// The token's consented roles.
        roles: Vec<String>,
    },
    /// A delegated token the lab issued for a service account (and the client it names).
    Delegated(&'a ServiceAccountSpec, Option<String>),
}

/// A refused token: a 401 challenges again (`error="invalid_token"`); a 403
/// carries no challenge, only x-ms-diagnostics.
fn bearer_failure(status: u16, id: u32, reason: &str, category: &str) -> Response<Full<Bytes>> {
    let mut headers = vec![];
    if status == 401 {
        headers.push((
            "WWW-Authenticate",
            format!("{}, error=\"invalid_token\"", super::auth::BEARER_CHALLENGE),
        ));
    }
    headers.push((
        "x-ms-diagnostics",
        format!("{id};reason=\"{reason}\";error_category=\"{category}\""),
    ));
    respond(status, &headers, Bytes::new())
}

/// A bearer token, checked as Exchange Online does: signature, lifetime,
/// audience, and for app-only tokens the full_access_as_app role.
fn bearer<'a>(
    state: &'a LabState,
    host: &str,
    authorization: Option<&str>,
) -> Option<Result<Principal<'a>, Response<Full<Bytes>>>> {
    let (scheme, token) = authorization?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer")
        || !state
            .scenario
            .auth_schemes_for(host)
            .contains(&super::scenario::AuthScheme::Bearer)
    {
        return None;
    }
    let claims = match state.tokens.verify(token.trim()) {
        Ok(c) => c,
        Err(super::entra::TokenRejection::Expired) => {
            return Some(Err(bearer_failure(
                401,
                2000002,
                "The token has expired.",
                "invalid_token",
            )))
        }
        Err(_) => {
            return Some(Err(bearer_failure(
                401,
                2000001,
                "The token has an invalid signature.",
                "invalid_signature",
            )))
        }
    };
    let aud = claims["aud"].as_str().unwrap_or("");
    if !crate::cloud::Cloud::is_ews_resource(aud) {
        return Some(Err(bearer_failure(
            401,
            2000003,
            &format!("The audience claim value is invalid '{aud}'."),
            "invalid_resource",
        )));
    }
    let not_enough = || {
        Some(Err(if state.scenario.exchange.missing_permission_status == 401 {
            // As captured from Exchange Online (otris/ews-cpp#148): a 401.
            bearer_failure(
                401,
                2000008,
                "The token contains no permissions, or permissions can not be understood.",
                "invalid_grant",
            )
        } else {
            bearer_failure(
                403,
                2000008,
                "The token contains not enough scope to make this call.",
                "invalid_grant",
            )
        }))
    };
    if claims["idtyp"] == "user" || claims.get("scp").is_some() {
        // Delegated: the account itself, with EWS.AccessAsUser.All.
        let scopes = claims["scp"].as_str().unwrap_or("");
        if !scopes.split_whitespace().any(|s| s == "EWS.AccessAsUser.All") {
            return not_enough();
        }
        let upn = claims["upn"].as_str().unwrap_or("");
        return match state.scenario.service_account(upn) {
            Some(account) => Some(Ok(Principal::Delegated(
                account,
                claims["appid"].as_str().map(str::to_string),
            ))),
            None => Some(Err(bearer_failure(
                401,
                2000005,
                "The user specified by the user-context in the token does not exist.",
                "invalid_user",
            ))),
        };
    }
    let roles: Vec<&str> = claims["roles"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let app = claims["appid"].as_str().unwrap_or("").to_string();
    // Exchange Online also lets in an app whose RBAC for Applications role
    // grants EWS (no `roles` claim shows it); which mailboxes is decided per mailbox.
    let rbac = state.scenario.exchange.online && access::has_rbac_role(&state.scenario, &app, Api::Ews);
    if !roles.contains(&"full_access_as_app") && !rbac {
        return not_enough();
    }
    Some(Ok(Principal::App {
        app,
        tid: claims["tid"].as_str().unwrap_or("").to_string(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }))
}

/// A request as the service account itself: its own mailbox when it has
/// one; directory operations (ResolveNames, free/busy) either way.
fn own(scenario: &Scenario, account: &ServiceAccountSpec, request: &EwsRequest) -> Response<Full<Bytes>> {
    let directory = matches!(
        request.operation.as_str(),
        "ResolveNames" | "GetUserAvailabilityRequest" | "GetServerTimeZones"
    );
    if request.operation == "ConvertId" {
        return response_error(
            "ConvertId",
            "ErrorInvalidSmtpAddress",
            "The SMTP address format is invalid.",
            "",
        );
    }
    if !account.mailbox && !directory {
        let (operation, tail) = match request.operation.as_str() {
            "GetFolder" => ("GetFolder", "<m:Folders/>"),
            "FindFolder" | "FindItem" | "SyncFolderItems" => (request.operation.as_str(), ""),
            _ => return fault("ErrorInvalidRequest", "The request is invalid.", &[]),
        };
        return response_error(
            operation,
            "ErrorMissingEmailAddress",
            "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folder Ids.",
            tail,
        );
    }
    if let Err(refusal) = switches::mailbox(scenario, scenario.user(&account.address)) {
        return refused(scenario, refusal);
    }
    let mailbox = UserSpec {
        address: account.address.clone(),
        aliases: vec![],
        display_name: None,
        mailbox: true,
        redirect_addr: None,
        redirect_url: None,
        ews_url: None,
        groups: vec![],
        denied_folders: vec![],
        upn: None,
        sid: None,
        ews_enabled: None,
        properties: Default::default(),
    };
    operation(scenario, None, Some(account), &mailbox, request)
}

/// An operation on `user`'s mailbox, by an account (or an app of tenant `tid`).
fn operation(
    scenario: &Scenario,
    tid: Option<&str>,
    account: Option<&ServiceAccountSpec>,
    user: &UserSpec,
    request: &EwsRequest,
) -> Response<Full<Bytes>> {
    let op = &request.op;
    // Mail-enabled users the caller's directory shows: an app's token only its tenant's;
    // an account only its own tenant's, where it has one (Exchange Online).
    let own_tenant = account
        .and_then(|a| scenario.tenant_of_address(&a.address))
        .map(|t| t.id.as_str());
    let tid = tid.or(own_tenant);
    let visible = |u: &UserSpec| {
        u.mailbox
            && tid.is_none_or(|tid| {
                scenario
                    .tenant_of_address(&u.address)
                    .is_some_and(|t| t.id.eq_ignore_ascii_case(tid))
            })
    };
    match request.operation.as_str() {
        "GetFolder" => messages("GetFolder", &mailstore::get_folder(user, op)),
        "FindFolder" => messages("FindFolder", &mailstore::clients::find_folder(user, op)),
        "FindItem" => messages("FindItem", &mailstore::clients::find_item(user, op)),
        "GetItem" => messages("GetItem", &mailstore::clients::get_item(user, op)),
        "SyncFolderItems" => messages("SyncFolderItems", &mailstore::clients::sync_folder_items(user, op)),
        "ResolveNames" => {
            let candidates: Vec<&UserSpec> = scenario.users.iter().filter(|u| visible(u)).collect();
            messages("ResolveNames", &mailstore::clients::resolve_names(&candidates, op))
        }
        "GetUserAvailabilityRequest" => {
            match mailstore::clients::get_user_availability(op, |a| scenario.user(a).filter(|u| visible(u))) {
                Ok(body) => envelope(&body),
                Err((code, text)) => fault(code, text, &[]),
            }
        }
        "GetServerTimeZones" => messages("GetServerTimeZones", &mailstore::clients::server_time_zones(op)),
        "CreateItem" if account.is_some_and(|a| a.write_denied) => response_error(
            "CreateItem",
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
            "<m:Items/>",
        ),
        "CreateItem" => created(user),
        "DeleteItem" => deleted(),
        // exchangelib's version probe: a DUMMY id in a DUMMY mailbox. Exchange answers
        // with a response message (and its ServerVersionInfo), not a fault.
        "ConvertId" => response_error(
            "ConvertId",
            "ErrorInvalidSmtpAddress",
            "The SMTP address format is invalid.",
            "",
        ),
        _ => fault("ErrorInvalidRequest", "The request is invalid.", &[]),
    }
}

fn impersonated(
    scenario: &Scenario,
    principal: &Principal<'_>,
    request: &EwsRequest,
    kind: &str,
    value: &str,
) -> Response<Full<Bytes>> {
    let (account, tid) = match principal {
        Principal::Account(a) | Principal::Delegated(a, _) => (Some(*a), None),
        Principal::App { tid, .. } => (None, Some(tid.as_str())),
    };
    if account.is_some_and(|a| !a.server_impersonation) {
        return fault(
            "ErrorImpersonationDenied",
            "The server to which the application is connected cannot impersonate the requested user due to insufficient permission.",
            &[],
        );
    }
    // ConnectingSID as Exchange resolves it: SmtpAddress any proxy address,
    // PrimarySmtpAddress the primary one (an alias is refused below),
    // PrincipalName the UPN, SID the security identifier.
    let user = match kind {
        "SmtpAddress" | "PrimarySmtpAddress" => scenario.user(value),
        "PrincipalName" => scenario.users.iter().find(|u| u.upn().eq_ignore_ascii_case(value)),
        "SID" => scenario.users.iter().find(|u| u.sid().eq_ignore_ascii_case(value)),
        _ => None,
    }
    .filter(|u| u.mailbox);
    // An app's token sees only the mailboxes of its own tenant.
    let user = user.filter(|u| {
        tid.is_none_or(|tid| {
            scenario
                .tenant_of_address(&u.address)
                .is_some_and(|t| t.id.eq_ignore_ascii_case(tid))
        })
    });
    let Some(user) = user else {
        return match kind {
            "SmtpAddress" | "PrimarySmtpAddress" => fault(
                "ErrorNonExistentMailbox",
                "The SMTP address has no mailbox associated with it.",
                &[("SmtpAddress", value.to_string())],
            ),
            // The codes the ResponseCode reference gives for a UPN or SID that
            // names no one in the directory (the texts are the lab's own).
            "PrincipalName" => fault(
                "ErrorInvalidUserPrincipalName",
                "The user principal name in the ExchangeImpersonation header is not in the directory.",
                &[],
            ),
            _ => fault(
                "ErrorInvalidUserSid",
                "The security identifier in the ExchangeImpersonation header is invalid.",
                &[],
            ),
        };
    };
    if kind == "PrimarySmtpAddress" && !user.address.eq_ignore_ascii_case(value) {
        return fault(
            "ErrorNonPrimarySmtpAddress",
            "The SMTP address provided isn't the primary address of the mailbox.",
            &[("Primary", user.address.clone())],
        );
    }
    let denied = account.is_some_and(|account| {
        let in_scope = match &account.impersonation_scope_group {
            None => true,
            Some(group) => user.groups.iter().any(|g| g.eq_ignore_ascii_case(group)),
        };
        // The role was removed from Exchange Online in February 2025: no
        // account impersonates there any more, whatever it was assigned.
        scenario.exchange.online || !account.application_impersonation || !in_scope
    });
    if denied {
        return fault(
            "ErrorImpersonateUserDenied",
            "The account does not have permission to impersonate the requested user.",
            &[],
        );
    }
    if let Principal::App { app, roles, .. } = principal {
        if access::decide(scenario, app, roles, Api::Ews, user).is_err() {
            // Outside the consent's access policy or the RBAC scope: an empty 403 (see access.rs).
            return respond(403, &[], Bytes::new());
        }
    }
    if let Err(refusal) = switches::mailbox(scenario, Some(user)) {
        return refused(scenario, refusal);
    }
    operation(scenario, tid, account, user, request)
}
