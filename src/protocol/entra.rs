//! Tenant discovery without credentials: openid-configuration and getuserrealm.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    /// From the issuer `https://login.microsoftonline.com/{tid}/v2.0`.
    pub tenant_id: Option<String>,
    pub token_endpoint: Option<String>,
    pub tenant_region_scope: Option<String>,
    /// `DODCON` (GCC High), `DOD`, `GCC`: which government cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_region_sub_scope: Option<String>,
    pub cloud_instance_name: Option<String>,
}

#[derive(Deserialize)]
struct RawOpenId {
    issuer: Option<String>,
    token_endpoint: Option<String>,
    tenant_region_scope: Option<String>,
    tenant_region_sub_scope: Option<String>,
    cloud_instance_name: Option<String>,
}

/// The tenant id in an issuer URL (v1 `https://sts.windows.net/{tid}/` or v2 `.../{tid}/v2.0`).
pub fn tenant_of_issuer(issuer: &str) -> Option<String> {
    let rest = issuer.split_once("://")?.1;
    let mut parts = rest.trim_end_matches('/').split('/');
    parts.next()?;
    parts
        .next()
        .filter(|t| !t.is_empty() && *t != "v2.0")
        .map(str::to_string)
}

pub fn parse_openid_configuration(body: &[u8]) -> Result<OpenIdConfiguration, String> {
    let raw: RawOpenId = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let issuer = raw.issuer.ok_or("no issuer")?;
    Ok(OpenIdConfiguration {
        tenant_id: tenant_of_issuer(&issuer),
        issuer,
        token_endpoint: raw.token_endpoint,
        tenant_region_scope: raw.tenant_region_scope,
        tenant_region_sub_scope: raw.tenant_region_sub_scope,
        cloud_instance_name: raw.cloud_instance_name,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserRealm {
    /// `Managed`, `Federated` or `Unknown`.
    #[serde(rename = "NameSpaceType")]
    pub namespace_type: String,
    #[serde(rename = "DomainName", default)]
    pub domain_name: Option<String>,
    #[serde(rename = "FederationBrandName", default)]
    pub federation_brand_name: Option<String>,
    #[serde(rename = "CloudInstanceName", default)]
    pub cloud_instance_name: Option<String>,
    #[serde(rename = "AuthURL", default)]
    pub auth_url: Option<String>,
}

pub fn parse_user_realm(body: &[u8]) -> Result<UserRealm, String> {
    serde_json::from_slice(body).map_err(|e| format!("not a getuserrealm answer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_and_realms() {
        assert_eq!(
            tenant_of_issuer("https://login.microsoftonline.com/72f9-aa/v2.0").as_deref(),
            Some("72f9-aa")
        );
        assert_eq!(
            tenant_of_issuer("https://sts.windows.net/72f9-aa/").as_deref(),
            Some("72f9-aa")
        );
        assert_eq!(tenant_of_issuer("https://login.microsoftonline.com/v2.0"), None);
        let realm = parse_user_realm(br#"{"State":4,"UserState":1,"Login":"a@contoso.com","NameSpaceType":"Managed","DomainName":"contoso.com","FederationBrandName":"Contoso","CloudInstanceName":"microsoftonline.com"}"#).expect("realm");
        assert_eq!(realm.namespace_type, "Managed");
        assert!(parse_user_realm(b"<html>").is_err());
    }
}
