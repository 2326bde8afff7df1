//! The lab's EWS endpoint, driven by the organization model: Basic
//! authentication of service accounts, ExchangeImpersonation checked against
//! the ApplicationImpersonation role, its scope and the server right, aliases
//! resolving to their mailbox, accounts without mailboxes, EWS turned off,
//! and ErrorServerBusy with BackOffMilliseconds — in Exchange's exact shapes.

use std::sync::atomic::Ordering;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

use super::auth::{authorized, unauthorized};
use super::scenario::{HostSpec, Scenario, ServiceAccountSpec, UserSpec};
use super::server::{respond, xml_response};
use super::LabState;
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

/// GetFolder of distinguished folders: one response message per folder, in
/// the order asked, with Exchange's folder element and class for each.
fn folders(user: &UserSpec, asked: &[String]) -> Response<Full<Bytes>> {
    if asked.len() <= 1 && !asked.iter().any(|f| user.denied_folders.contains(f)) {
        return inbox(user);
    }
    let mut messages = String::new();
    for folder in asked {
        if user.denied_folders.iter().any(|d| d.eq_ignore_ascii_case(folder)) {
            messages.push_str("<m:GetFolderResponseMessage ResponseClass=\"Error\"><m:MessageText>Access is denied. Check credentials and try again.</m:MessageText><m:ResponseCode>ErrorAccessDenied</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Folders/></m:GetFolderResponseMessage>");
            continue;
        }
        let (element, class, name) = match folder.as_str() {
            "calendar" => ("CalendarFolder", "IPF.Appointment", "Calendar"),
            "contacts" => ("ContactsFolder", "IPF.Contact", "Contacts"),
            "tasks" => ("TasksFolder", "IPF.Task", "Tasks"),
            "inbox" => ("Folder", "IPF.Note", "Inbox"),
            _ => {
                messages.push_str("<m:GetFolderResponseMessage ResponseClass=\"Error\"><m:MessageText>The specified folder could not be found in the store.</m:MessageText><m:ResponseCode>ErrorFolderNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Folders/></m:GetFolderResponseMessage>");
                continue;
            }
        };
        let id = base64::engine::general_purpose::STANDARD
            .encode(format!("exprobe-lab-{folder}:{}", user.address.to_ascii_lowercase()));
        let _ = std::fmt::Write::write_fmt(&mut messages, format_args!(
            "<m:GetFolderResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:{element}><t:FolderId Id=\"{id}\" ChangeKey=\"AQAAABYAAAA7bxyXx5VvQLQd1uQdCqoKAAAAAAAE\"/><t:FolderClass>{class}</t:FolderClass><t:DisplayName>{name}</t:DisplayName><t:TotalCount>0</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount></t:{element}></m:Folders></m:GetFolderResponseMessage>"
        ));
    }
    self::messages("GetFolder", &messages)
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

fn inbox(user: &UserSpec) -> Response<Full<Bytes>> {
    let id = base64::engine::general_purpose::STANDARD
        .encode(format!("exprobe-lab-inbox:{}", user.address.to_ascii_lowercase()));
    messages(
        "GetFolder",
        &format!("<m:GetFolderResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:Folder><t:FolderId Id=\"{id}\" ChangeKey=\"AQAAABYAAAA7bxyXx5VvQLQd1uQdCqoKAAAAAAAE\"/><t:ParentFolderId Id=\"{id}\" ChangeKey=\"AQAAAA==\"/><t:FolderClass>IPF.Note</t:FolderClass><t:DisplayName>Inbox</t:DisplayName><t:TotalCount>0</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount><t:UnreadCount>0</t:UnreadCount></t:Folder></m:Folders></m:GetFolderResponseMessage>"),
    )
}

/// The one item each distinguished folder holds in the lab: (element, item class, subject).
fn folder_item(folder: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match folder {
        "inbox" => ("Message", "IPM.Note", "Welcome to Contoso"),
        "calendar" => ("CalendarItem", "IPM.Appointment", "Weekly sync"),
        "contacts" => ("Contact", "IPM.Contact", "Pat Lee"),
        "tasks" => ("Task", "IPM.Task", "Renew the certificate"),
        _ => return None,
    })
}

fn item_id(folder: &str, user: &UserSpec) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!(
        "exprobe-lab-item-{folder}:{}",
        user.address.to_ascii_lowercase()
    ))
}

const ITEM_CHANGE_KEY: &str = "CQAAABYAAAA7bxyXx5VvQLQd1uQdCqoKAAAAAAAG";

/// FindItem: the folder's one item, IdOnly (RootFolder as the FindItem reference describes it;
/// a CalendarView has no IndexedPagingOffset).
fn find_item(user: &UserSpec, request: &EwsRequest, calendar_view: bool) -> Response<Full<Bytes>> {
    let folder = request.parent_folders.first().map(String::as_str).unwrap_or("inbox");
    let Some((element, _, _)) = folder_item(folder) else {
        return response_error(
            "FindItem",
            "ErrorFolderNotFound",
            "The specified folder could not be found in the store.",
            "",
        );
    };
    let paging = if calendar_view {
        ""
    } else {
        " IndexedPagingOffset=\"1\""
    };
    messages(
        "FindItem",
        &format!(
            "<m:FindItemResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:RootFolder{paging} TotalItemsInView=\"1\" IncludesLastItemInRange=\"true\"><t:Items><t:{element}><t:ItemId Id=\"{}\" ChangeKey=\"{ITEM_CHANGE_KEY}\"/></t:{element}></t:Items></m:RootFolder></m:FindItemResponseMessage>",
            item_id(folder, user)
        ),
    )
}

/// GetItem of the lab's items: each id answered (ErrorItemNotFound for others).
fn get_item(user: &UserSpec, request: &EwsRequest) -> Response<Full<Bytes>> {
    let mut out = String::new();
    for id in &request.item_ids {
        let found = ["inbox", "calendar", "contacts", "tasks"]
            .into_iter()
            .find(|f| item_id(f, user) == *id)
            .and_then(|f| folder_item(f).map(|i| (f, i)));
        let Some((folder, (element, class, subject))) = found else {
            out.push_str("<m:GetItemResponseMessage ResponseClass=\"Error\"><m:MessageText>The specified object was not found in the store., The process failed to get the correct properties.</m:MessageText><m:ResponseCode>ErrorItemNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Items/></m:GetItemResponseMessage>");
            continue;
        };
        let extra = match folder {
            "calendar" => "<t:Start>2026-06-01T09:00:00Z</t:Start><t:End>2026-06-01T09:30:00Z</t:End>".to_string(),
            "inbox" => format!(
                "<t:DateTimeReceived>2026-06-01T08:00:00Z</t:DateTimeReceived><t:Sender><t:Mailbox><t:Name>Contoso IT</t:Name><t:EmailAddress>it@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:Sender><t:ToRecipients><t:Mailbox><t:EmailAddress>{}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:ToRecipients><t:IsRead>false</t:IsRead>",
                escape(&user.address)
            ),
            _ => String::new(),
        };
        let _ = std::fmt::Write::write_fmt(&mut out, format_args!(
            "<m:GetItemResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:{element}><t:ItemId Id=\"{id}\" ChangeKey=\"{ITEM_CHANGE_KEY}\"/><t:ItemClass>{class}</t:ItemClass><t:Subject>{subject}</t:Subject>{extra}</t:{element}></m:Items></m:GetItemResponseMessage>"
        ));
    }
    messages("GetItem", &out)
}

struct EwsRequest {
    operation: String,
    /// (element name, value) of ConnectingSID's child.
    impersonate: Option<(String, String)>,
    /// GetFolder's DistinguishedFolderId ids, in order.
    folders: Vec<String>,
    /// FindItem's ParentFolderIds (distinguished ids).
    parent_folders: Vec<String>,
    /// GetItem's and DeleteItem's ItemId ids.
    item_ids: Vec<String>,
    /// FindItem with a CalendarView (no paging offset in the answer).
    calendar_view: bool,
}

fn parse_request(body: &[u8]) -> Option<EwsRequest> {
    let doc = xml::parse(body).ok()?;
    if !doc.root.is(SOAP_NS, "Envelope") {
        return None;
    }
    let operation = doc.root.child("Body")?.children.first()?.name.clone();
    let impersonate = doc
        .root
        .child("Header")
        .and_then(|h| h.child("ExchangeImpersonation"))
        .and_then(|i| i.child("ConnectingSID"))
        .and_then(|c| c.children.first())
        .map(|e| (e.name.clone(), e.text.trim().to_string()));
    let folders = doc
        .root
        .child("Body")
        .and_then(|b| b.children.first())
        .and_then(|op| op.child("FolderIds"))
        .map(|ids| {
            ids.children_named("DistinguishedFolderId")
                .filter_map(|f| f.attr("Id").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let op = doc.root.child("Body").and_then(|b| b.children.first());
    let parent_folders = op
        .and_then(|op| op.child("ParentFolderIds"))
        .map(|ids| {
            ids.children_named("DistinguishedFolderId")
                .filter_map(|f| f.attr("Id").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let item_ids = op
        .and_then(|op| op.child("ItemIds"))
        .map(|ids| {
            ids.children_named("ItemId")
                .filter_map(|f| f.attr("Id").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let calendar_view = op.is_some_and(|op| op.child("CalendarView").is_some());
    Some(EwsRequest {
        operation,
        impersonate,
        folders,
        parent_folders,
        item_ids,
        calendar_view,
    })
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

/// EWS as the organization's servers answer it: Exchange Server 2013 SP1's
/// version on premises, Exchange Online's 15.20.x online.
pub async fn answer(
    state: &LabState,
    host: &HostSpec,
    authorization: Option<&str>,
    ntlm_account: Option<&str>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let response = answer_model(state, host, authorization, ntlm_account, body).await;
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

async fn answer_model(
    state: &LabState,
    host: &HostSpec,
    authorization: Option<&str>,
    ntlm_account: Option<&str>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let scenario = &state.scenario;
    let principal = match bearer(state, authorization) {
        Some(Ok(p)) => p,
        Some(Err(rejected)) => return rejected,
        None => match authorized(scenario, authorization, ntlm_account) {
            Some(account) => Principal::Account(account),
            None => return unauthorized(scenario, &host.name),
        },
    };
    if !scenario.exchange.ews_enabled {
        return respond(403, &[], Bytes::new());
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
    match &request.impersonate {
        Some((kind, value)) => {
            let n = state.ews_impersonations.fetch_add(1, Ordering::SeqCst);
            if n < scenario.exchange.busy_first_impersonations {
                return busy(scenario);
            }
            impersonated(scenario, &principal, &request, kind, value)
        }
        None => match principal {
            Principal::Account(account) | Principal::Delegated(account) => own(scenario, account, &request.operation),
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
    /// An app-only token the lab issued, for tenant `tid`.
    App {
        tid: String,
    },
    /// A delegated token the lab issued for a service account.
    Delegated(&'a ServiceAccountSpec),
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
    authorization: Option<&str>,
) -> Option<Result<Principal<'a>, Response<Full<Bytes>>>> {
    let (scheme, token) = authorization?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer")
        || !state
            .scenario
            .exchange
            .auth_schemes
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
            Some(account) => Some(Ok(Principal::Delegated(account))),
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
    if !roles.contains(&"full_access_as_app") {
        return not_enough();
    }
    Some(Ok(Principal::App {
        tid: claims["tid"].as_str().unwrap_or("").to_string(),
    }))
}

/// A request as the service account itself.
fn own(scenario: &Scenario, account: &ServiceAccountSpec, operation: &str) -> Response<Full<Bytes>> {
    match operation {
        "ConvertId" => response_error(
            "ConvertId",
            "ErrorInvalidSmtpAddress",
            "The SMTP address format is invalid.",
            "",
        ),
        "GetFolder" if account.mailbox => inbox(&UserSpec {
            address: account.address.clone(),
            aliases: vec![],
            display_name: None,
            mailbox: true,
            redirect_addr: None,
            redirect_url: None,
            ews_url: None,
            groups: vec![],
            denied_folders: vec![],
        }),
        "GetFolder" => response_error(
            "GetFolder",
            "ErrorMissingEmailAddress",
            "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folder Ids.",
            "<m:Folders/>",
        ),
        _ => {
            let _ = scenario;
            fault("ErrorInvalidRequest", "The request is invalid.", &[])
        }
    }
}

fn impersonated(
    scenario: &Scenario,
    principal: &Principal<'_>,
    request: &EwsRequest,
    kind: &str,
    value: &str,
) -> Response<Full<Bytes>> {
    let operation = request.operation.as_str();
    let account = match principal {
        Principal::Account(a) | Principal::Delegated(a) => Some(*a),
        Principal::App { .. } => None,
    };
    if account.is_some_and(|a| !a.server_impersonation) {
        return fault(
            "ErrorImpersonationDenied",
            "The server to which the application is connected cannot impersonate the requested user due to insufficient permission.",
            &[],
        );
    }
    let user = match kind {
        "SmtpAddress" | "PrimarySmtpAddress" | "PrincipalName" => scenario.user(value).filter(|u| u.mailbox),
        _ => None,
    };
    // An app's token sees only the mailboxes of its own tenant.
    let user = user.filter(|u| match principal {
        Principal::App { tid } => scenario
            .tenant_of_address(&u.address)
            .is_some_and(|t| t.id.eq_ignore_ascii_case(tid.as_str())),
        Principal::Account(_) | Principal::Delegated(_) => true,
    });
    let Some(user) = user else {
        return fault(
            "ErrorNonExistentMailbox",
            "The SMTP address has no mailbox associated with it.",
            &[("SmtpAddress", value.to_string())],
        );
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
        !account.application_impersonation || !in_scope
    });
    if denied {
        return fault(
            "ErrorImpersonateUserDenied",
            "The account does not have permission to impersonate the requested user.",
            &[],
        );
    }
    match operation {
        "GetFolder" => folders(user, &request.folders),
        "CreateItem" if account.is_some_and(|a| a.write_denied) => response_error(
            "CreateItem",
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
            "<m:Items/>",
        ),
        "CreateItem" => created(user),
        "DeleteItem" => deleted(),
        "FindItem" => find_item(user, request, request.calendar_view),
        "GetItem" => get_item(user, request),
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
