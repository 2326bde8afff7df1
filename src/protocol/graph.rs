//! Microsoft Graph: error JSON and the two mailbox answers exprobe reads.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GraphError {
    pub http_status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub date: Option<String>,
}

#[derive(Deserialize)]
struct RawError {
    error: RawInner,
}

#[derive(Deserialize)]
struct RawInner {
    code: Option<String>,
    message: Option<String>,
    #[serde(rename = "innerError", alias = "innererror")]
    inner: Option<RawInnerError>,
}

#[derive(Deserialize)]
struct RawInnerError {
    #[serde(rename = "request-id")]
    request_id: Option<String>,
    date: Option<String>,
}

pub fn parse_error(status: u16, body: &[u8]) -> Option<GraphError> {
    let raw: RawError = serde_json::from_slice(body).ok()?;
    Some(GraphError {
        http_status: status,
        code: raw.error.code.unwrap_or_default(),
        message: raw.error.message.unwrap_or_default(),
        request_id: raw.error.inner.as_ref().and_then(|i| i.request_id.clone()),
        date: raw.error.inner.and_then(|i| i.date),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GraphUser {
    pub mail: Option<String>,
    #[serde(rename = "userPrincipalName")]
    pub user_principal_name: Option<String>,
    #[serde(rename = "proxyAddresses", default)]
    pub proxy_addresses: Vec<String>,
}

impl GraphUser {
    /// The primary SMTP address: the `SMTP:` (upper case) proxy address, else `mail`.
    pub fn primary_smtp(&self) -> Option<String> {
        self.proxy_addresses
            .iter()
            .find_map(|p| p.strip_prefix("SMTP:").map(str::to_string))
            .or_else(|| self.mail.clone())
    }
}

pub fn parse_user(body: &[u8]) -> Option<GraphUser> {
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_users() {
        let e = parse_error(403, br#"{"error":{"code":"ErrorAccessDenied","message":"Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.","innerError":{"request-id":"r1","date":"2026-11-22T05:00:00","client-request-id":"c1"}}}"#).expect("error");
        assert_eq!(
            (e.code.as_str(), e.request_id.as_deref()),
            ("ErrorAccessDenied", Some("r1"))
        );
        assert!(parse_error(500, b"<html>").is_none());
        let u = parse_user(br#"{"mail":"alice@contoso.com","userPrincipalName":"alice@contoso.com","proxyAddresses":["smtp:a.smith@contoso.com","SMTP:alice@contoso.com"]}"#).expect("user");
        assert_eq!(u.primary_smtp().as_deref(), Some("alice@contoso.com"));
    }
}
