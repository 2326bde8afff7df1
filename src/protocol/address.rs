//! SMTP addresses as exprobe accepts them: `local@domain`, domain normalized
//! (lowercase, IDNA) and required to have at least two labels.

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Address {
    pub local: String,
    pub domain: String,
}

impl Address {
    pub fn as_string(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

pub fn parse(input: &str) -> Result<Address, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty address".into());
    }
    let (local, domain) = s.rsplit_once('@').ok_or("no @ in the address")?;
    if local.is_empty() {
        return Err("nothing before the @".into());
    }
    if local.len() > 64 {
        return Err("the part before the @ is longer than 64 characters".into());
    }
    if local.contains('@')
        || local
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "<>()[],;:\"\\".contains(c))
    {
        return Err(format!(
            "the part before the @ ({local:?}) has characters an address cannot contain"
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the part before the @ has a misplaced dot".into());
    }
    let domain = match url::Host::parse(domain) {
        Ok(url::Host::Domain(d)) => d,
        Ok(_) => return Err("the domain is an IP address literal".into()),
        Err(e) => return Err(format!("the domain {domain:?} is not valid: {e}")),
    };
    let domain = domain.trim_end_matches('.').to_string();
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("the domain {domain:?} has no dot"));
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("the domain {domain:?} has an empty or over-long label"));
        }
        if label.starts_with('-')
            || label.ends_with('-')
            || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!(
                "the domain {domain:?} has a label with characters a host name cannot contain"
            ));
        }
    }
    if domain.len() > 253 {
        return Err("the domain is longer than 253 characters".into());
    }
    Ok(Address {
        local: local.to_string(),
        domain,
    })
}

/// On the public suffix list (ICANN or private section): `co.uk`,
/// `azurewebsites.net`, `github.io`.
pub fn is_public_suffix(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    psl::suffix_str(&d).is_some_and(|s| s == d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let ok = [
            ("Alice@Contoso.COM", "contoso.com"),
            ("a.b+c@sub.contoso.com", "sub.contoso.com"),
            ("x@bücher.de", "xn--bcher-kva.de"),
        ];
        for (input, domain) in ok {
            assert_eq!(parse(input).map(|a| a.domain), Ok(domain.to_string()), "{input}");
        }
        for bad in [
            "",
            "alice",
            "@contoso.com",
            "alice@",
            "alice@localhost",
            "a b@contoso.com",
            "a@b@",
            "a@[127.0.0.1]",
            "a@-x.com",
            "a..b@c.com",
            "a@c_d.com",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
