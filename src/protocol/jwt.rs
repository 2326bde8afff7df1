//! JWT claims, decoded without verification: Exchange and Graph tokens are
//! opaque to third parties (Graph's carry a header nonce), so exprobe reads
//! claims to explain a failure and never trusts them for anything else.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};

pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("a JWT has three dot-separated parts; this has {0}")]
    Segments(usize),
    #[error("the {0} is not base64url")]
    Base64(&'static str),
    #[error("the {0} is not a JSON object")]
    Json(&'static str),
    #[error("the token is larger than 64 KiB")]
    TooLarge,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => vec![],
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// The claims exprobe reasons over; everything else is ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenClaims {
    #[serde(default, deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub iss: Option<String>,
    pub tid: Option<String>,
    pub appid: Option<String>,
    pub azp: Option<String>,
    pub app_displayname: Option<String>,
    pub oid: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub roles: Vec<String>,
    pub scp: Option<String>,
    pub upn: Option<String>,
    pub unique_name: Option<String>,
    pub preferred_username: Option<String>,
    pub idtyp: Option<String>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub ver: Option<String>,
}

impl TokenClaims {
    /// App-only (client credentials) rather than delegated.
    pub fn is_app_only(&self) -> bool {
        self.idtyp.as_deref() == Some("app") || (self.scp.is_none() && self.upn.is_none() && self.unique_name.is_none())
    }

    pub fn client_id(&self) -> Option<&str> {
        self.appid.as_deref().or(self.azp.as_deref())
    }

    pub fn scopes(&self) -> Vec<&str> {
        self.scp
            .as_deref()
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default()
    }
}

fn part(segment: &str, what: &'static str) -> Result<serde_json::Value, JwtError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| JwtError::Base64(what))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::Json(what))?;
    if !value.is_object() {
        return Err(JwtError::Json(what));
    }
    Ok(value)
}

/// The header (algorithm, x5t, nonce...) and the claims. The signature is not checked.
pub fn decode(token: &str) -> Result<(serde_json::Value, TokenClaims), JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge);
    }
    let segments: Vec<&str> = token.trim().split('.').collect();
    if segments.len() != 3 {
        return Err(JwtError::Segments(segments.len()));
    }
    let header = part(segments[0], "header")?;
    let payload = part(segments[1], "payload")?;
    let claims: TokenClaims = serde_json::from_value(payload).map_err(|_| JwtError::Json("payload"))?;
    Ok((header, claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn claims_and_malformed_tokens() {
        let token = format!(
            "{}.{}.sig",
            b64(r#"{"typ":"JWT","alg":"RS256","x5t":"abc","nonce":"n"}"#),
            b64(
                r#"{"aud":"https://outlook.office365.com","tid":"t","appid":"a","roles":["full_access_as_app"],"idtyp":"app","exp":1,"ver":"1.0"}"#
            )
        );
        let (header, claims) = decode(&token).expect("decode");
        assert_eq!(header["nonce"], "n");
        assert_eq!(claims.aud, ["https://outlook.office365.com"]);
        assert_eq!(claims.roles, ["full_access_as_app"]);
        assert!(claims.is_app_only());
        assert_eq!(decode("a.b"), Err(JwtError::Segments(2)));
        assert_eq!(decode("!!.e30.x"), Err(JwtError::Base64("header")));
        assert_eq!(
            decode(&format!("{}.{}.x", b64("{}"), b64("not json"))),
            Err(JwtError::Json("payload"))
        );
        assert_eq!(
            decode(&format!("{}.{}.x", b64("[]"), b64("{}"))),
            Err(JwtError::Json("header"))
        );
        assert_eq!(decode(&"a".repeat(MAX_TOKEN_BYTES + 1)), Err(JwtError::TooLarge));
        let delegated = format!(
            "{}.{}.",
            b64("{}"),
            b64(r#"{"scp":"EWS.AccessAsUser.All","upn":"svc@contoso.com","aud":["x","y"]}"#)
        );
        let (_, c) = decode(&delegated).expect("decode");
        assert!(!c.is_app_only());
        assert_eq!(c.scopes(), ["EWS.AccessAsUser.All"]);
        assert_eq!(c.aud.len(), 2);
    }
}
