//! `dns`: per domain, A/AAAA of the domain and of `autodiscover.<domain>`
//! (with the CNAME chain), SRV `_autodiscover._tcp`, and MX.

use serde::Serialize;

use super::{StepBuilder, StepKind};
use crate::net::dns::{AddressAnswer, Dns, DnsFailure, MxHost, SrvTarget};
use crate::report::{Step, StepStatus};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lookup<T> {
    Answer(T),
    Failure(DnsFailure),
}

impl<T> Lookup<T> {
    fn from(r: Result<T, DnsFailure>) -> Self {
        match r {
            Ok(v) => Lookup::Answer(v),
            Err(f) => Lookup::Failure(f),
        }
    }

    pub fn answer(&self) -> Option<&T> {
        match self {
            Lookup::Answer(v) => Some(v),
            Lookup::Failure(_) => None,
        }
    }

    pub fn failure(&self) -> Option<&DnsFailure> {
        match self {
            Lookup::Answer(_) => None,
            Lookup::Failure(f) => Some(f),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DnsOutcome {
    pub domain: String,
    pub domain_addresses: Lookup<AddressAnswer>,
    pub autodiscover_host: Lookup<AddressAnswer>,
    pub srv: Lookup<Vec<SrvTarget>>,
    pub mx: Lookup<Vec<MxHost>>,
    /// MX under mail.protection.outlook.com, or autodiscover CNAME to autodiscover.outlook.com.
    pub exchange_online: bool,
}

impl DnsOutcome {
    /// NXDOMAIN for the domain itself (its MX lookup agrees).
    pub fn domain_not_found(&self) -> bool {
        self.domain_addresses.failure().is_some_and(DnsFailure::is_nx_domain)
            && self.mx.failure().is_some_and(DnsFailure::is_nx_domain)
    }

    /// Every lookup timed out or failed at the server: the DNS servers are the problem.
    pub fn servers_failed(&self) -> bool {
        let bad = |f: Option<&DnsFailure>| {
            matches!(
                f,
                Some(
                    DnsFailure::Timeout
                        | DnsFailure::Deadline
                        | DnsFailure::Truncated
                        | DnsFailure::ServFail
                        | DnsFailure::Refused
                        | DnsFailure::Other(_)
                )
            )
        };
        bad(self.domain_addresses.failure()) && bad(self.mx.failure()) && bad(self.autodiscover_host.failure())
    }

    /// No DNS-based way to reach autodiscover.
    pub fn no_autodiscover_records(&self) -> bool {
        let srv_443 = self.srv.answer().is_some_and(|s| s.iter().any(|r| r.port == 443));
        self.domain_addresses.answer().is_none() && self.autodiscover_host.answer().is_none() && !srv_443
    }
}

/// Exchange Online (in any of Microsoft's clouds) by its MX or autodiscover CNAME.
fn is_exchange_online(mx: &Lookup<Vec<MxHost>>, autodiscover: &Lookup<AddressAnswer>) -> bool {
    let mx_online = mx.answer().is_some_and(|m| {
        m.iter()
            .any(|h| crate::cloud::Cloud::is_exchange_online_mx(&h.exchange))
    });
    let cname_online = autodiscover.answer().is_some_and(|a| {
        a.cname_chain
            .iter()
            .any(|c| crate::cloud::Cloud::is_exchange_online_autodiscover(c))
    });
    mx_online || cname_online
}

fn show_addresses(l: &Lookup<AddressAnswer>) -> String {
    match l {
        Lookup::Answer(a) => {
            let ips: Vec<String> = a.addresses.iter().map(|i| i.to_string()).collect();
            if a.cname_chain.is_empty() {
                ips.join(", ")
            } else {
                format!("CNAME {} → {}", a.cname_chain.join(" → "), ips.join(", "))
            }
        }
        Lookup::Failure(f) => f.describe(),
    }
}

pub async fn run(dns: &Dns, domain: &str) -> (DnsOutcome, Step) {
    let step = StepBuilder::new(StepKind::Dns, Some(domain), None, format!("DNS records of {domain}"));
    let auto = format!("autodiscover.{domain}");
    let srv_name = format!("_autodiscover._tcp.{domain}");
    let (a, ad, srv, mx) = tokio::join!(
        dns.addresses(domain),
        dns.addresses(&auto),
        dns.srv(&srv_name),
        dns.mx(domain)
    );
    let domain_addresses = Lookup::from(a);
    let autodiscover_host = Lookup::from(ad);
    let mx = Lookup::from(mx);
    let exchange_online = is_exchange_online(&mx, &autodiscover_host);
    let outcome = DnsOutcome {
        domain: domain.to_string(),
        domain_addresses,
        autodiscover_host,
        srv: Lookup::from(srv),
        mx,
        exchange_online,
    };
    let status = if outcome.domain_not_found() || outcome.servers_failed() {
        StepStatus::Fail
    } else if outcome.no_autodiscover_records() {
        StepStatus::Warn
    } else {
        StepStatus::Pass
    };
    let srv_text = match &outcome.srv {
        Lookup::Answer(s) => s
            .iter()
            .map(|r| format!("{} {} {}:{}", r.priority, r.weight, r.target, r.port))
            .collect::<Vec<_>>()
            .join(", "),
        Lookup::Failure(f) => f.describe(),
    };
    let mx_text = match &outcome.mx {
        Lookup::Answer(m) => m.iter().map(|h| h.exchange.clone()).collect::<Vec<_>>().join(", "),
        Lookup::Failure(f) => f.describe(),
    };
    let detail = if outcome.domain_not_found() {
        format!("{domain} does not exist in DNS (NXDOMAIN)")
    } else {
        format!(
            "{domain}: {}; {auto}: {}; SRV: {srv_text}; MX: {mx_text}{}",
            show_addresses(&outcome.domain_addresses),
            show_addresses(&outcome.autodiscover_host),
            if exchange_online { " (Exchange Online)" } else { "" }
        )
    };
    let step = step.finish(status, detail, &outcome, vec![]);
    (outcome, step)
}

/// RFC 2782 order of the port-443 records: lowest priority first; among
/// equal priorities the heavier weight first (deterministic, so two runs of a
/// diagnostic agree; RFC 2782 picks randomly by weight).
pub fn srv_order(records: &[SrvTarget]) -> (Vec<SrvTarget>, Vec<SrvTarget>) {
    let (mut usable, skipped): (Vec<_>, Vec<_>) =
        records.iter().cloned().partition(|r| r.port == 443 && r.target != ".");
    usable.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(b.weight.cmp(&a.weight))
            .then(a.target.cmp(&b.target))
    });
    (usable, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_lowest_priority_first_and_443_only() {
        let r = |p, w, port, t: &str| SrvTarget {
            priority: p,
            weight: w,
            port,
            target: t.into(),
        };
        let (usable, skipped) = srv_order(&[
            r(20, 0, 443, "b"),
            r(10, 5, 443, "a"),
            r(5, 0, 8443, "c"),
            r(10, 50, 443, "d"),
        ]);
        let order: Vec<&str> = usable.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(order, ["d", "a", "b"]);
        assert_eq!(skipped.len(), 1);
    }
}
