//! The set of hosts that may receive credentials (README, "Security: which
//! hosts receive credentials"): the mailbox and service-account domains and
//! their subdomains, hosts the user named, and EWS hosts from validated
//! autodiscover answers. Never a parent domain or a TLD.

use std::collections::BTreeSet;

#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    domains: BTreeSet<String>,
    hosts: BTreeSet<String>,
}

impl AllowedHosts {
    /// `domain` and every name under it.
    pub fn add_domain(&mut self, domain: &str) {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        // A TLD ("com") or a public suffix ("co.uk", "github.io") is never a
        // credential domain: it would allow every registrant under it.
        if d.contains('.') && !crate::protocol::address::is_public_suffix(&d) {
            self.domains.insert(d);
        }
    }

    pub fn add_host(&mut self, host: &str) {
        self.hosts.insert(host.trim_end_matches('.').to_ascii_lowercase());
    }

    pub fn allows(&self, host: &str) -> bool {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&h)
            || self.domains.iter().any(|d| {
                h == *d || (h.len() > d.len() && h.ends_with(d.as_str()) && h[..h.len() - d.len()].ends_with('.'))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_yes_parents_no() {
        let mut a = AllowedHosts::default();
        a.add_domain("sub.contoso.com");
        a.add_domain("com");
        a.add_host("outlook.office365.com");
        assert!(a.allows("sub.contoso.com"));
        assert!(a.allows("autodiscover.sub.contoso.com"));
        assert!(a.allows("OUTLOOK.office365.com."));
        assert!(!a.allows("contoso.com"));
        assert!(!a.allows("autodiscover.contoso.com"));
        assert!(!a.allows("evilsub.contoso.com"));
        assert!(!a.allows("example.com"));
        for suffix in ["co.uk", "github.io", "azurewebsites.net"] {
            a.add_domain(suffix);
            assert!(!a.allows(&format!("evil.{suffix}")), "{suffix}");
        }
        a.add_domain("contoso.co.uk");
        assert!(a.allows("autodiscover.contoso.co.uk"));
    }
}
