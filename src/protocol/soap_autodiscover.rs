//! SOAP autodiscover (`GetUserSettings`): request envelope and response parser.

use std::collections::BTreeMap;

use super::pox::escape;
use super::xml::{self, XmlError};

pub const SOAP_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const AUTODISCOVER_NS: &str = "http://schemas.microsoft.com/exchange/2010/Autodiscover";
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
pub const ACTION_GET_USER_SETTINGS: &str =
    "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings";

pub const REQUESTED_SETTINGS: &[&str] = &[
    "ExternalEwsUrl",
    "InternalEwsUrl",
    "AutoDiscoverSMTPAddress",
    "UserDisplayName",
    "EwsSupportedSchemas",
];

pub fn request_body(mailbox: &str, endpoint: &str) -> String {
    let settings: String = REQUESTED_SETTINGS
        .iter()
        .map(|s| format!("          <a:Setting>{s}</a:Setting>\n"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
<soap:Envelope xmlns:a=\"{AUTODISCOVER_NS}\" xmlns:wsa=\"{WSA_NS}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:soap=\"{SOAP_ENVELOPE_NS}\">\n\
  <soap:Header>\n\
    <a:RequestedServerVersion>Exchange2013</a:RequestedServerVersion>\n\
    <wsa:Action>{ACTION_GET_USER_SETTINGS}</wsa:Action>\n\
    <wsa:To>{}</wsa:To>\n\
  </soap:Header>\n\
  <soap:Body>\n\
    <a:GetUserSettingsRequestMessage xmlns:a=\"{AUTODISCOVER_NS}\">\n\
      <a:Request>\n\
        <a:Users>\n\
          <a:User>\n\
            <a:Mailbox>{}</a:Mailbox>\n\
          </a:User>\n\
        </a:Users>\n\
        <a:RequestedSettings>\n{settings}        </a:RequestedSettings>\n\
      </a:Request>\n\
    </a:GetUserSettingsRequestMessage>\n\
  </soap:Body>\n\
</soap:Envelope>\n",
        escape(endpoint),
        escape(mailbox)
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapAnswer {
    Settings {
        ews_url: Option<String>,
        settings: BTreeMap<String, String>,
    },
    RedirectAddress(String),
    RedirectUrl(String),
    InvalidUser(String),
    /// Any other error code, at request or user level, or a SOAP fault.
    Error {
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("not a SOAP envelope: root is {0}")]
    NotEnvelope(String),
    #[error("missing element {0}")]
    Missing(&'static str),
    #[error("GetUserSettingsResponseMessage in namespace {found:?}, expected {AUTODISCOVER_NS}")]
    WrongNamespace { found: Option<String> },
    #[error("unknown ErrorCode {0:?}")]
    UnknownErrorCode(String),
}

pub fn parse_response(body: &[u8]) -> Result<SoapAnswer, SoapError> {
    let doc = xml::parse(body)?;
    let root = &doc.root;
    if !root.is(SOAP_ENVELOPE_NS, "Envelope") {
        return Err(SoapError::NotEnvelope(format!("{:?} {}", root.ns, root.name)));
    }
    let body = root.child("Body").ok_or(SoapError::Missing("Body"))?;
    if let Some(fault) = body.child("Fault") {
        let code = fault.child_text("faultcode").unwrap_or("");
        let code = code.rsplit(':').next().unwrap_or(code);
        return Ok(SoapAnswer::Error {
            code: code.to_string(),
            message: fault.child_text("faultstring").unwrap_or("").to_string(),
        });
    }
    let message = body
        .child("GetUserSettingsResponseMessage")
        .ok_or(SoapError::Missing("GetUserSettingsResponseMessage"))?;
    if message.ns.as_deref() != Some(AUTODISCOVER_NS) {
        return Err(SoapError::WrongNamespace {
            found: message.ns.clone(),
        });
    }
    let response = message.child("Response").ok_or(SoapError::Missing("Response"))?;
    let code = response.child_text("ErrorCode").unwrap_or("NoError");
    if code != "NoError" {
        return Ok(
            classify_code(code, response.child_text("ErrorMessage").unwrap_or(""), None)?.unwrap_or_else(|| {
                SoapAnswer::Error {
                    code: code.to_string(),
                    message: response.child_text("ErrorMessage").unwrap_or("").to_string(),
                }
            }),
        );
    }
    let user = response
        .path(&["UserResponses", "UserResponse"])
        .ok_or(SoapError::Missing("UserResponse"))?;
    let user_code = user.child_text("ErrorCode").unwrap_or("NoError");
    let user_message = user.child_text("ErrorMessage").unwrap_or("");
    let target = user.child_text("RedirectTarget");
    if user_code != "NoError" {
        if let Some(answer) = classify_code(user_code, user_message, target)? {
            return Ok(answer);
        }
    }
    let mut settings = BTreeMap::new();
    if let Some(list) = user.child("UserSettings") {
        for s in list.children_named("UserSetting") {
            if let (Some(name), Some(value)) = (s.child_text("Name"), s.child_text("Value")) {
                settings.insert(name.to_string(), value.to_string());
            }
        }
    }
    let ews_url = settings
        .get("ExternalEwsUrl")
        .or_else(|| settings.get("InternalEwsUrl"))
        .cloned();
    Ok(SoapAnswer::Settings { ews_url, settings })
}

fn classify_code(code: &str, message: &str, target: Option<&str>) -> Result<Option<SoapAnswer>, SoapError> {
    const KNOWN: &[&str] = &[
        "InvalidRequest",
        "InvalidSetting",
        "SettingIsNotAvailable",
        "ServerBusy",
        "InvalidDomain",
        "NotFederated",
        "InternalServerError",
    ];
    Ok(match code {
        "RedirectAddress" => Some(SoapAnswer::RedirectAddress(
            target.ok_or(SoapError::Missing("RedirectTarget"))?.to_string(),
        )),
        "RedirectUrl" => Some(SoapAnswer::RedirectUrl(
            target.ok_or(SoapError::Missing("RedirectTarget"))?.to_string(),
        )),
        "InvalidUser" => Some(SoapAnswer::InvalidUser(message.to_string())),
        c if KNOWN.contains(&c) => Some(SoapAnswer::Error {
            code: c.to_string(),
            message: message.to_string(),
        }),
        other => return Err(SoapError::UnknownErrorCode(other.to_string())),
    })
}
