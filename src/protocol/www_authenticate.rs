//! `WWW-Authenticate` (RFC 9110 §11.6.1): several challenges per header and
//! several headers, quoted parameters, token68 — and Bearer's parameters
//! (`client_id`, `trusted_issuers`, `authorization_uri`, `error`).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Challenge {
    /// As sent (`Negotiate`, `NTLM`, `Basic`, `Bearer`).
    pub scheme: String,
    /// Parameter names lowercased.
    pub params: BTreeMap<String, String>,
    pub token68: Option<String>,
}

impl Challenge {
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

impl Cursor<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && (self.s[self.pos] == b' ' || self.s[self.pos] == b'\t') {
            self.pos += 1;
        }
    }
    fn skip_ws_commas(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b',') {
            self.pos += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn token(&mut self) -> String {
        let start = self.pos;
        while self.pos < self.s.len() && is_tchar(self.s[self.pos]) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }
    fn token68(&mut self) -> String {
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || b"-._~+/".contains(&self.s[self.pos]))
        {
            self.pos += 1;
        }
        while self.pos < self.s.len() && self.s[self.pos] == b'=' {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }
    fn quoted(&mut self) -> String {
        // Assumes the opening quote is at pos.
        self.pos += 1;
        let mut out = Vec::new();
        while self.pos < self.s.len() {
            match self.s[self.pos] {
                b'\\' if self.pos + 1 < self.s.len() => {
                    out.push(self.s[self.pos + 1]);
                    self.pos += 2;
                }
                b'"' => {
                    self.pos += 1;
                    break;
                }
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Parse one header value (which may hold several challenges).
pub fn parse(value: &str) -> Vec<Challenge> {
    let mut c = Cursor {
        s: value.as_bytes(),
        pos: 0,
    };
    let mut out = vec![];
    loop {
        c.skip_ws_commas();
        if c.peek().is_none() {
            break;
        }
        let scheme = c.token();
        if scheme.is_empty() {
            // Not a token: skip one byte so malformed input cannot loop.
            c.pos += 1;
            continue;
        }
        let mut challenge = Challenge {
            scheme,
            params: BTreeMap::new(),
            token68: None,
        };
        loop {
            c.skip_ws();
            let save = c.pos;
            let name = c.token();
            c.skip_ws();
            if !name.is_empty() && c.peek() == Some(b'=') && c.s.get(c.pos + 1) != Some(&b'=') {
                c.pos += 1;
                c.skip_ws();
                let v = if c.peek() == Some(b'"') { c.quoted() } else { c.token() };
                challenge.params.insert(name.to_ascii_lowercase(), v);
                c.skip_ws();
                if c.peek() == Some(b',') {
                    c.pos += 1;
                    continue;
                }
                break;
            }
            c.pos = save;
            if challenge.params.is_empty()
                && challenge.token68.is_none()
                && !name.is_empty()
                && c.peek().is_some_and(|b| b != b',')
            {
                let t = c.token68();
                if !t.is_empty() {
                    challenge.token68 = Some(t);
                }
            }
            break;
        }
        out.push(challenge);
    }
    out
}

/// All challenges of every `WWW-Authenticate` header value.
pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    values.into_iter().flat_map(parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_online_bearer_and_friends() {
        let v = r#"Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*", token_types="app_asserted_user_v1 service_asserted_app_v1", authorization_uri="https://login.windows.net/common/oauth2/authorize", error="invalid_token",Basic Realm="",Negotiate, NTLM"#;
        let c = parse(v);
        let schemes: Vec<&str> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Bearer", "Basic", "Negotiate", "NTLM"]);
        assert_eq!(c[0].param("client_id"), Some("00000002-0000-0ff1-ce00-000000000000"));
        assert_eq!(
            c[0].param("authorization_uri"),
            Some("https://login.windows.net/common/oauth2/authorize")
        );
        assert_eq!(c[0].param("error"), Some("invalid_token"));
        assert_eq!(c[1].param("realm"), Some(""));
    }

    #[test]
    fn token68_escapes_and_garbage() {
        let c = parse("Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6i==");
        assert_eq!(
            c[0].token68.as_deref(),
            Some("YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6i==")
        );
        let c = parse(r#"Basic realm="a \"quoted\" realm", charset="UTF-8""#);
        assert_eq!(c[0].param("realm"), Some(r#"a "quoted" realm"#));
        assert_eq!(c[0].param("charset"), Some("UTF-8"));
        for junk in ["", ",,,", "=\"", "\"unterminated", "Basic realm=\"x", "🙂 ; ="] {
            let _ = parse(junk);
        }
        assert_eq!(parse_all(["NTLM", "Basic realm=\"x\""]).len(), 2);
    }
}
