//! `x-ms-diagnostics`: `2000008;reason="...";error_category="invalid_grant"`
//! (the docs write `error_type=`; both are accepted).

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct MsDiagnostics {
    pub id: Option<u32>,
    pub reason: Option<String>,
    pub category: Option<String>,
}

pub fn parse(value: &str) -> MsDiagnostics {
    let mut out = MsDiagnostics {
        id: None,
        reason: None,
        category: None,
    };
    let mut rest = value.trim();
    let (first, tail) = rest.split_once(';').unwrap_or((rest, ""));
    out.id = first.trim().parse().ok();
    rest = tail;
    while !rest.is_empty() {
        let rest_trim = rest.trim_start_matches([';', ' ']);
        let Some((key, after)) = rest_trim.split_once('=') else {
            break;
        };
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "reason" => out.reason = Some(val),
            "error_category" | "error_type" => out.category = Some(val),
            _ => {}
        }
        rest = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings() {
        let d = parse(
            r#"2000008;reason="The token contains not enough scope to make this call.";error_category="invalid_grant""#,
        );
        assert_eq!(d.id, Some(2000008));
        assert_eq!(
            d.reason.as_deref(),
            Some("The token contains not enough scope to make this call.")
        );
        assert_eq!(d.category.as_deref(), Some("invalid_grant"));
        let d = parse(r#"2000003;reason="The audience claim value is invalid 'x'.";error_type="invalid_resource""#);
        assert_eq!(d.category.as_deref(), Some("invalid_resource"));
        let d = parse("garbage");
        assert_eq!(d.id, None);
        let _ = parse(r#"1;reason="unterminated"#);
    }
}
