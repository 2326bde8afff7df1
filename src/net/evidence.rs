//! Redaction of recorded exchanges (README, "Security: which hosts receive credentials"): headers,
//! form fields and JSON fields that carry secrets are replaced before anything is stored.

const REDACTED: &str = "[redacted]";
const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "set-cookie"];
const SECRET_FORM_FIELDS: &[&str] = &[
    "password",
    "client_secret",
    "client_assertion",
    "refresh_token",
    "code",
    "assertion",
    "access_token",
];
const SECRET_JSON_FIELDS: &[&str] = &["access_token", "refresh_token", "id_token", "client_secret", "password"];
/// Characters of a body kept in evidence.
pub const EXCERPT_CHARS: usize = 4096;

pub fn redact_header(name: &str, value: &str) -> String {
    if SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        // Keep the scheme ("Basic", "Bearer"): it is evidence, the rest is not.
        match value.split_once(' ') {
            Some((scheme, _)) if name.eq_ignore_ascii_case("authorization") => format!("{scheme} {REDACTED}"),
            _ => REDACTED.to_string(),
        }
    } else {
        value.to_string()
    }
}

pub fn redact_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers.iter().map(|(n, v)| (n.clone(), redact_header(n, v))).collect()
}

fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if SECRET_JSON_FIELDS.contains(&k.as_str()) {
                    *v = serde_json::Value::String(REDACTED.into());
                } else {
                    redact_json(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

fn redact_form(body: &str) -> String {
    body.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_FORM_FIELDS.contains(&k) => format!("{k}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A redacted, bounded excerpt of a body for evidence.
pub fn body_excerpt(content_type: Option<&str>, body: &[u8]) -> String {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let text = String::from_utf8_lossy(body);
    let redacted = if ct.contains("json") || text.trim_start().starts_with('{') {
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(mut v) => {
                redact_json(&mut v);
                v.to_string()
            }
            Err(_) => text.into_owned(),
        }
    } else if ct.contains("x-www-form-urlencoded") {
        redact_form(&text)
    } else {
        text.into_owned()
    };
    if redacted.chars().count() > EXCERPT_CHARS {
        let cut: String = redacted.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    } else {
        redacted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_scheme_only() {
        assert_eq!(redact_header("Authorization", "Basic dXNlcjpwYXNz"), "Basic [redacted]");
        assert_eq!(redact_header("set-cookie", "a=b"), "[redacted]");
        assert_eq!(redact_header("X-FEServer", "FE1"), "FE1");
    }

    #[test]
    fn form_and_json_fields() {
        let form = body_excerpt(
            Some("application/x-www-form-urlencoded"),
            b"grant_type=password&username=a&password=s3cret&client_secret=xyz",
        );
        assert!(!form.contains("s3cret") && !form.contains("xyz"));
        assert!(form.contains("username=a"));
        let json = body_excerpt(
            Some("application/json"),
            br#"{"access_token":"eyJ.x.y","nested":{"refresh_token":"r"}}"#,
        );
        assert!(!json.contains("eyJ") && !json.contains("\"r\""));
    }
}
