//! EWS: the request envelopes exprobe sends and one parser for every answer
//! EWS gives — SOAP faults (HTTP 500), `ResponseClass="Error"` messages
//! (HTTP 200), successes with `ServerVersionInfo`, and the non-SOAP answers
//! (401 challenges, 403, 456, HTML error pages, empty bodies, redirects).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ms_diagnostics::{self, MsDiagnostics};
use super::pox::escape;
use super::www_authenticate::{self, Challenge};
use super::xml::{self, Element, XmlError};

pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
pub const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
pub const ERRORS_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";
pub const REQUEST_SERVER_VERSION: &str = "Exchange2013_SP1";

fn envelope(header_extra: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP_NS}\" xmlns:t=\"{TYPES_NS}\" xmlns:m=\"{MESSAGES_NS}\">\n <soap:Header>\n  <t:RequestServerVersion Version=\"{REQUEST_SERVER_VERSION}\"/>\n{header_extra} </soap:Header>\n <soap:Body>{body}</soap:Body>\n</soap:Envelope>\n"
    )
}

/// How `ExchangeImpersonation` names the mailbox (`ConnectingSID`'s child).
/// Exchange resolves `SmtpAddress` against every proxy address, while
/// `PrimarySmtpAddress` must be the primary one (an alias gets
/// ErrorNonPrimarySmtpAddress): products differ in which they send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum SidForm {
    SmtpAddress,
    PrimarySmtpAddress,
}

impl SidForm {
    pub fn element(self) -> &'static str {
        match self {
            SidForm::SmtpAddress => "SmtpAddress",
            SidForm::PrimarySmtpAddress => "PrimarySmtpAddress",
        }
    }
}

/// Which ConnectingSID forms to send, and which one decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPlan {
    /// This form alone.
    One(SidForm),
    /// SmtpAddress decides; PrimarySmtpAddress is asked too when it worked.
    SmtpThenPrimary,
    /// PrimarySmtpAddress; if Exchange answers ErrorNonPrimarySmtpAddress,
    /// SmtpAddress decides.
    PrimaryThenSmtpIfAlias,
}

fn impersonation_header(impersonate: Option<(&str, SidForm)>) -> String {
    match impersonate {
        Some((smtp, form)) => format!(
            "  <t:ExchangeImpersonation><t:ConnectingSID><t:{e}>{}</t:{e}></t:ConnectingSID></t:ExchangeImpersonation>\n",
            escape(smtp),
            e = form.element()
        ),
        None => String::new(),
    }
}

/// GetFolder of the inbox, `IdOnly`; impersonating the address in the given form.
pub fn get_inbox(impersonate: Option<(&str, SidForm)>) -> String {
    get_folders(impersonate, &["inbox"])
}

/// GetFolder of these distinguished folders in one request (one response
/// message per folder, in order), `IdOnly`.
pub fn get_folders(impersonate: Option<(&str, SidForm)>, folders: &[&str]) -> String {
    let ids: String = folders
        .iter()
        .map(|f| format!("<t:DistinguishedFolderId Id=\"{}\"/>", escape(f)))
        .collect();
    envelope(
        &impersonation_header(impersonate),
        &format!(
            "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>{ids}</m:FolderIds></m:GetFolder>"
        ),
    )
}

/// The write test: a draft saved in the Drafts folder (never sent).
pub fn create_draft(impersonate: (&str, SidForm), subject: &str) -> String {
    envelope(
        &impersonation_header(Some(impersonate)),
        &format!(
            "<m:CreateItem MessageDisposition=\"SaveOnly\"><m:SavedItemFolderId><t:DistinguishedFolderId Id=\"drafts\"/></m:SavedItemFolderId><m:Items><t:Message><t:Subject>{}</t:Subject><t:Body BodyType=\"Text\">Written by exprobe --write-test to check write access; deleted at once. Safe to delete.</t:Body></t:Message></m:Items></m:CreateItem>",
            escape(subject)
        ),
    )
}

/// Deletes the write test's draft for good.
pub fn delete_item(impersonate: (&str, SidForm), id: &str, change_key: Option<&str>) -> String {
    let ck = change_key
        .map(|c| format!(" ChangeKey=\"{}\"", escape(c)))
        .unwrap_or_default();
    envelope(
        &impersonation_header(Some(impersonate)),
        &format!(
            "<m:DeleteItem DeleteType=\"HardDelete\"><m:ItemIds><t:ItemId Id=\"{}\"{ck}/></m:ItemIds></m:DeleteItem>",
            escape(id)
        ),
    )
}

/// One response message of a successful SOAP answer: its response code and
/// the ids it names (folder or item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MessageResult {
    pub code: String,
    pub text: Option<String>,
    /// `Id` of the first `FolderId` or `ItemId` in the message.
    pub id: Option<String>,
    pub change_key: Option<String>,
}

/// Every response message of a SOAP answer, in order (empty for a fault or
/// what is not SOAP).
pub fn response_messages(body: &[u8]) -> Vec<MessageResult> {
    let Ok(doc) = xml::parse(body) else { return vec![] };
    let Some(response) = doc.root.child("Body").and_then(|b| b.children.first()) else {
        return vec![];
    };
    let Some(messages) = response.child("ResponseMessages") else {
        return vec![];
    };
    messages
        .children
        .iter()
        .map(|m| {
            let ids = m.find("FolderId").or_else(|| m.find("ItemId"));
            MessageResult {
                code: m.child_text("ResponseCode").unwrap_or("NoError").trim().to_string(),
                text: m.child_text("MessageText").map(|t| t.trim().to_string()),
                id: ids.and_then(|i| i.attr("Id")).map(str::to_string),
                change_key: ids.and_then(|i| i.attr("ChangeKey")).map(str::to_string),
            }
        })
        .collect()
}

/// A request that needs no mailbox: answered with `ErrorInvalidSmtpAddress`
/// and the server's `ServerVersionInfo` once the credentials are accepted.
pub fn convert_id_probe() -> String {
    envelope(
        "",
        "<m:ConvertId DestinationFormat=\"EwsId\"><m:SourceIds><t:AlternateId Format=\"EwsId\" Id=\"AAMkAGZhN2IxYTA0LWNiNzItN=\" Mailbox=\"DUMMY\"/></m:SourceIds></m:ConvertId>",
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServerVersion {
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub major_build: Option<u32>,
    pub minor_build: Option<u32>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorForm {
    /// SOAP fault, HTTP 500.
    Fault,
    /// `ResponseClass="Error"`, HTTP 200.
    ResponseMessage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EwsError {
    pub form: ErrorForm,
    /// Response code, prefix stripped (`ErrorImpersonateUserDenied`).
    pub code: String,
    pub message: String,
    /// `MessageXml` values by name (`BackOffMilliseconds`, `SmtpAddress`, `InnerErrorResponseCode`, ...).
    pub values: BTreeMap<String, String>,
}

impl EwsError {
    /// The code that matters: for ErrorInternalServerError, the inner one when given.
    pub fn effective_code(&self) -> &str {
        if self.code == "ErrorInternalServerError" {
            if let Some(inner) = self.values.get("InnerErrorResponseCode") {
                return inner;
            }
        }
        &self.code
    }

    pub fn back_off_ms(&self) -> Option<u64> {
        self.values
            .get("BackOffMilliseconds")
            .and_then(|v| v.trim().parse().ok())
    }
}

/// A SOAP answer: success (with the operation's message name) or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapReply {
    Success {
        operation: String,
        server_version: Option<ServerVersion>,
    },
    Error {
        error: EwsError,
        server_version: Option<ServerVersion>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EwsParseError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("not a SOAP envelope")]
    NotSoap,
    #[error("SOAP envelope without a Body")]
    NoBody,
    #[error("no response message in the SOAP body")]
    NoResponseMessage,
}

fn u32_attr(e: &Element, name: &str) -> Option<u32> {
    e.attr(name).and_then(|v| v.parse().ok())
}

fn server_version(root: &Element) -> Option<ServerVersion> {
    let info = root.child("Header")?.child("ServerVersionInfo")?;
    Some(ServerVersion {
        major: u32_attr(info, "MajorVersion"),
        minor: u32_attr(info, "MinorVersion"),
        major_build: u32_attr(info, "MajorBuildNumber"),
        minor_build: u32_attr(info, "MinorBuildNumber"),
        version: info.attr("Version").map(str::to_string),
    })
}

fn message_xml_values(e: Option<&Element>) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let Some(xml) = e else { return values };
    for v in xml.children.iter() {
        match v.attr("Name") {
            Some(name) => {
                values.insert(name.to_string(), v.text.trim().to_string());
            }
            // Some codes carry typed elements instead of t:Value (e.g. ErrorNonPrimarySmtpAddress's Primary).
            None if !v.text.trim().is_empty() => {
                values.insert(v.name.clone(), v.text.trim().to_string());
            }
            None => {}
        }
    }
    values
}

/// Response codes exprobe classifies (the rest are `server.error`).
pub const KNOWN_CODES: &[&str] = &[
    "ErrorImpersonateUserDenied",
    "ErrorImpersonationDenied",
    "ErrorInvalidExchangeImpersonationHeaderData",
    "ErrorNonExistentMailbox",
    "ErrorInvalidUser",
    "ErrorMailboxNotFound",
    "ErrorInvalidSmtpAddress",
    "ErrorNonPrimarySmtpAddress",
    "ErrorAccessDenied",
    "ErrorFolderNotFound",
    "ErrorItemSave",
    "ErrorCreateItemAccessDenied",
    "ErrorMissingEmailAddress",
    "ErrorInternalServerError",
    "ErrorSchemaValidation",
    "ErrorInvalidServerVersion",
    "ErrorInvalidRequest",
];

/// A code exprobe classifies: [`KNOWN_CODES`], the rediscovery and throttling codes.
pub fn is_known_code(code: &str) -> bool {
    KNOWN_CODES.contains(&code) || REDISCOVER_CODES.contains(&code) || THROTTLING_CODES.contains(&code)
}

/// Parse a SOAP answer body (any HTTP status).
pub fn parse_soap(body: &[u8]) -> Result<SoapReply, EwsParseError> {
    let doc = xml::parse(body)?;
    let root = &doc.root;
    if !root.is(SOAP_NS, "Envelope") {
        return Err(EwsParseError::NotSoap);
    }
    let version = server_version(root);
    let body = root.child("Body").ok_or(EwsParseError::NoBody)?;
    if let Some(fault) = body.child("Fault") {
        let detail = fault.child("detail");
        // `a:ErrorX`, or `ErrorX` without a prefix; `s:Client` names no EWS code.
        let faultcode = fault.child_text("faultcode").unwrap_or("");
        let fault_code = faultcode.rsplit(':').next().unwrap_or(faultcode).trim();
        let response_code = detail.and_then(|d| d.child_text("ResponseCode"));
        // ResponseCode first; the faultcode when ResponseCode is absent, or is
        // a code exprobe does not know while the faultcode is one it does.
        let code = match response_code {
            Some(rc) if is_known_code(rc) => rc,
            Some(_) if is_known_code(fault_code) => fault_code,
            Some(rc) => rc,
            None => fault_code,
        };
        let message = detail
            .and_then(|d| d.child_text("Message"))
            .or_else(|| fault.child_text("faultstring"))
            .unwrap_or("");
        return Ok(SoapReply::Error {
            error: EwsError {
                form: ErrorForm::Fault,
                code: code.to_string(),
                message: message.to_string(),
                values: message_xml_values(detail.and_then(|d| d.child("MessageXml"))),
            },
            server_version: version,
        });
    }
    // <XResponse><ResponseMessages><XResponseMessage ResponseClass=...>
    let response = body.children.first().ok_or(EwsParseError::NoResponseMessage)?;
    let message = response
        .child("ResponseMessages")
        .and_then(|m| m.children.first())
        .ok_or(EwsParseError::NoResponseMessage)?;
    let class = message.attr("ResponseClass").unwrap_or("Success");
    let code = message.child_text("ResponseCode").unwrap_or("NoError");
    // Warnings still carry a usable answer; anything else not NoError is an error.
    if class == "Error" || (class != "Warning" && code != "NoError") {
        return Ok(SoapReply::Error {
            error: EwsError {
                form: ErrorForm::ResponseMessage,
                code: code.to_string(),
                message: message.child_text("MessageText").unwrap_or("").to_string(),
                values: message_xml_values(message.child("MessageXml")),
            },
            server_version: version,
        });
    }
    Ok(SoapReply::Success {
        operation: message.name.clone(),
        server_version: version,
    })
}

/// Where an NTLM handshake answered 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum NtlmStage {
    /// The NEGOTIATE message got no CHALLENGE: the server takes no NTLM here.
    NoChallenge,
    /// The AUTHENTICATE message was refused (the password, a locked or
    /// disabled account, or a channel binding the server required).
    Rejected { via_negotiate: bool },
}

/// Everything an EWS endpoint can answer, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EwsReply {
    Success {
        operation: String,
        server_version: Option<ServerVersion>,
    },
    Error {
        http_status: u16,
        error: EwsError,
        server_version: Option<ServerVersion>,
    },
    Unauthorized {
        challenges: Vec<Challenge>,
        diagnostics: Option<MsDiagnostics>,
        /// With NTLM: where the handshake stopped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ntlm: Option<NtlmStage>,
    },
    Forbidden {
        diagnostics: Option<MsDiagnostics>,
        body: String,
        /// Exchange Online's `X-EWS-Policy-Reason`: why its EWS access
        /// controls refused the request ("EWS is disabled for this user or
        /// tenant", "EWS is blocked by policy for this user or tenant").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy_reason: Option<String>,
    },
    /// HTTP 456: the account is locked (Exchange Online: MFA required).
    Locked,
    Throttled {
        status: u16,
        retry_after: Option<u64>,
    },
    /// 3xx, typically to an error page.
    Redirected {
        status: u16,
        location: Option<String>,
    },
    /// Not SOAP: an HTML page, an empty body, or something else.
    NotSoap {
        http_status: u16,
        body: BodyKind,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyKind {
    Empty,
    Html,
    Other,
}

impl BodyKind {
    /// In a sentence: "HTTP 500 with an HTML page".
    pub fn describe(self) -> &'static str {
        match self {
            BodyKind::Empty => "an empty body",
            BodyKind::Html => "an HTML page",
            BodyKind::Other => "a body",
        }
    }
}

fn body_kind(body: &[u8]) -> BodyKind {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    let t = text.trim_start();
    if t.is_empty() {
        BodyKind::Empty
    } else if t.starts_with("<!doctype html") || t.starts_with("<html") || t.contains("<body") {
        BodyKind::Html
    } else {
        BodyKind::Other
    }
}

/// Classify an HTTP answer from an EWS endpoint. `header` looks up a header (case-insensitive).
pub fn classify(status: u16, headers: &[(String, String)], body: &[u8]) -> EwsReply {
    let all = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let diagnostics = all("x-ms-diagnostics").first().map(|v| ms_diagnostics::parse(v));
    match status {
        401 => {
            return EwsReply::Unauthorized {
                challenges: www_authenticate::parse_all(all("www-authenticate")),
                diagnostics,
                ntlm: None,
            }
        }
        403 => {
            return EwsReply::Forbidden {
                diagnostics,
                body: String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string(),
                policy_reason: all("x-ews-policy-reason").first().map(|v| v.trim().to_string()),
            }
        }
        456 => return EwsReply::Locked,
        429 => {
            return EwsReply::Throttled {
                status,
                retry_after: all("retry-after").first().and_then(|v| v.trim().parse().ok()),
            }
        }
        300..=399 => {
            return EwsReply::Redirected {
                status,
                location: all("location").first().map(|s| s.to_string()),
            }
        }
        _ => {}
    }
    match parse_soap(body) {
        Ok(SoapReply::Success {
            operation,
            server_version,
        }) if status == 200 => EwsReply::Success {
            operation,
            server_version,
        },
        Ok(SoapReply::Success { .. }) => EwsReply::NotSoap {
            http_status: status,
            body: BodyKind::Other,
            reason: format!("a success message with HTTP {status}"),
        },
        Ok(SoapReply::Error { error, server_version }) => EwsReply::Error {
            http_status: status,
            error,
            server_version,
        },
        Err(_) if status == 503 => EwsReply::Throttled {
            status,
            retry_after: all("retry-after").first().and_then(|v| v.trim().parse().ok()),
        },
        Err(e) => EwsReply::NotSoap {
            http_status: status,
            body: body_kind(body),
            reason: e.to_string(),
        },
    }
}

/// Codes after which the client must run autodiscover again.
pub const REDISCOVER_CODES: &[&str] = &[
    "ErrorAutoDiscoverFailed",
    "ErrorConnectionFailed",
    "ErrorMailboxMoveInProgress",
    "ErrorMailboxStoreUnavailable",
    "ErrorProxyRequestNotAllowed",
    "ErrorNameResolutionNoMailbox",
    "ErrorIncorrectSchemaVersion",
];

/// Throttling codes.
pub const THROTTLING_CODES: &[&str] = &[
    "ErrorServerBusy",
    "ErrorExceededConnectionCount",
    "ErrorTimeoutExpired",
    "ErrorTooManyObjectsOpened",
];
