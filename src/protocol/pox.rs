//! POX autodiscover (Outlook provider schema): request body and response parser.

use super::xml::{self, Element, XmlError};

pub const REQUEST_NS: &str = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
pub const RESPONSE_NS: &str = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
pub const OUTLOOK_RESPONSE_NS: &str = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// Escape text for an XML element body.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

pub fn request_body(email: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"{REQUEST_NS}\">\n  <Request>\n    <EMailAddress>{}</EMailAddress>\n    <AcceptableResponseSchema>{OUTLOOK_RESPONSE_NS}</AcceptableResponseSchema>\n  </Request>\n</Autodiscover>\n",
        escape(email)
    )
}

/// One `Account/Protocol` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct PoxProtocol {
    pub kind: String,
    pub ews_url: Option<String>,
    pub as_url: Option<String>,
    pub server: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoxSettings {
    pub display_name: Option<String>,
    pub autodiscover_smtp_address: Option<String>,
    pub protocols: Vec<PoxProtocol>,
    pub microsoft_online: Option<bool>,
    /// EXPR before EXCH; `EwsUrl` before `ASUrl`.
    pub ews_url: Option<String>,
    /// Where the EWS URL came from, e.g. `EXPR/EwsUrl`.
    pub ews_url_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoxAnswer {
    Settings(PoxSettings),
    RedirectAddr(String),
    RedirectUrl(String),
    Error { code: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoxError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("unexpected root element {found} (expected Autodiscover in {RESPONSE_NS})")]
    WrongRoot { found: String },
    #[error("element {element} is in namespace {found:?}, expected {expected}")]
    WrongNamespace {
        element: String,
        found: Option<String>,
        expected: &'static str,
    },
    #[error("missing element {0}")]
    Missing(&'static str),
    #[error("unknown Action {0:?}")]
    UnknownAction(String),
}

fn describe(e: &Element) -> String {
    match &e.ns {
        Some(ns) => format!("{{{ns}}}{}", e.name),
        None => e.name.clone(),
    }
}

/// What a POX `<ErrorCode>` means ([MS-OXDSCLI] 2.2.4.2.2.4.2, ErrorCode).
pub fn error_meaning(code: &str) -> Option<&'static str> {
    Some(match code.trim() {
        "500" => "the email address cannot be found: the server cannot determine how to provide configuration for it",
        "501" => "bad address: the server recognizes the address, but it has no configuration options (no mailbox)",
        "600" => "invalid request: the server found the XML request improperly formatted (a proxy or filter changed it, or this is not Exchange's autodiscover)",
        "601" => "the server cannot provide configuration information of the requested type (the schema asked for)",
        "602" => "bad address: the server recognizes the address but cannot provide its configuration because of configuration errors",
        "603" => "the autodiscover server threw an internal error",
        _ => return None,
    })
}

pub fn parse_response(body: &[u8]) -> Result<PoxAnswer, PoxError> {
    let doc = xml::parse(body)?;
    let root = &doc.root;
    if root.name != "Autodiscover" {
        return Err(PoxError::WrongRoot { found: describe(root) });
    }
    if root.ns.as_deref() != Some(RESPONSE_NS) {
        return Err(PoxError::WrongNamespace {
            element: "Autodiscover".into(),
            found: root.ns.clone(),
            expected: RESPONSE_NS,
        });
    }
    let response = root.child("Response").ok_or(PoxError::Missing("Response"))?;
    let ns = response.ns.as_deref();
    if ns != Some(OUTLOOK_RESPONSE_NS) && ns != Some(RESPONSE_NS) {
        return Err(PoxError::WrongNamespace {
            element: "Response".into(),
            found: response.ns.clone(),
            expected: OUTLOOK_RESPONSE_NS,
        });
    }
    if let Some(error) = response.child("Error") {
        return Ok(PoxAnswer::Error {
            code: error.child_text("ErrorCode").unwrap_or("").to_string(),
            message: error.child_text("Message").unwrap_or("").to_string(),
        });
    }
    let account = response.child("Account").ok_or(PoxError::Missing("Account"))?;
    let action = account.child_text("Action").ok_or(PoxError::Missing("Action"))?;
    match action {
        "redirectAddr" => account
            .child_text("RedirectAddr")
            .map(|a| PoxAnswer::RedirectAddr(a.to_string()))
            .ok_or(PoxError::Missing("RedirectAddr")),
        "redirectUrl" => account
            .child_text("RedirectUrl")
            .or_else(|| account.child_text("RedirectURL"))
            .map(|u| PoxAnswer::RedirectUrl(u.to_string()))
            .ok_or(PoxError::Missing("RedirectUrl")),
        "settings" => Ok(PoxAnswer::Settings(settings(response, account))),
        other => Err(PoxError::UnknownAction(other.to_string())),
    }
}

fn settings(response: &Element, account: &Element) -> PoxSettings {
    let user = response.child("User");
    let protocols: Vec<PoxProtocol> = account
        .children_named("Protocol")
        .map(|p| PoxProtocol {
            kind: p.child_text("Type").unwrap_or("").to_string(),
            ews_url: p.child_text("EwsUrl").map(str::to_string),
            as_url: p.child_text("ASUrl").map(str::to_string),
            server: p.child_text("Server").map(str::to_string),
        })
        .collect();
    let mut ews_url = None;
    let mut ews_url_source = None;
    'pick: for kind in ["EXPR", "EXCH"] {
        for p in protocols.iter().filter(|p| p.kind == kind) {
            for (field, value) in [("EwsUrl", &p.ews_url), ("ASUrl", &p.as_url)] {
                if let Some(v) = value {
                    ews_url = Some(v.clone());
                    ews_url_source = Some(format!("{kind}/{field}"));
                    break 'pick;
                }
            }
        }
    }
    PoxSettings {
        display_name: user.and_then(|u| u.child_text("DisplayName")).map(str::to_string),
        autodiscover_smtp_address: user
            .and_then(|u| u.child_text("AutoDiscoverSMTPAddress"))
            .map(str::to_string),
        protocols,
        microsoft_online: account
            .child_text("MicrosoftOnline")
            .map(|v| v.eq_ignore_ascii_case("true")),
        ews_url,
        ews_url_source,
    }
}
