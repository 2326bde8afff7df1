//! Autodiscover v2 (JSON, Exchange Online, no authentication).

use serde::Deserialize;

pub fn request_path(smtp: &str) -> String {
    format!("/autodiscover/autodiscover.json/v1.0/{smtp}?Protocol=EWS")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Answer {
    Url(String),
    Error { code: String, message: String },
}

#[derive(Debug, Deserialize)]
struct Raw {
    #[serde(rename = "Protocol")]
    protocol: Option<String>,
    #[serde(rename = "Url")]
    url: Option<String>,
    #[serde(rename = "ErrorCode")]
    error_code: Option<String>,
    #[serde(rename = "ErrorMessage")]
    error_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V2Error {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("neither Url nor ErrorCode in the answer")]
    Empty,
    #[error("answer is for protocol {0:?}, not EWS")]
    WrongProtocol(String),
}

pub fn parse_response(body: &[u8]) -> Result<V2Answer, V2Error> {
    let raw: Raw = serde_json::from_slice(body).map_err(|e| V2Error::NotJson(e.to_string()))?;
    if let Some(code) = raw.error_code {
        return Ok(V2Answer::Error {
            code,
            message: raw.error_message.unwrap_or_default(),
        });
    }
    if let Some(p) = &raw.protocol {
        if !p.eq_ignore_ascii_case("EWS") {
            return Err(V2Error::WrongProtocol(p.clone()));
        }
    }
    raw.url.map(V2Answer::Url).ok_or(V2Error::Empty)
}
