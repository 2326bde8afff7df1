//! Runs the probes in dependency order, concurrently where they do not
//! depend on each other: input → dns (per domain) → autodiscover (per mailbox).

use std::time::Instant;

use futures::stream::{self, StreamExt};

use super::autodiscover::{self, AutodiscoverOutcome, AutodiscoverSettings};
use super::dns::{self as dns_probe, DnsOutcome};
use super::input::{self, InputOutcome};
use super::StepBuilder;
use crate::config::CheckConfig;
use crate::net::http::NetSetupError;
use crate::net::{AllowedHosts, Net};
use crate::report::Step;

/// Every typed outcome of a run, for the report engine.
#[derive(Debug)]
pub struct RunOutcome {
    pub started_at: time::OffsetDateTime,
    pub duration_ms: u64,
    pub input: InputOutcome,
    pub dns: Vec<DnsOutcome>,
    pub autodiscover: Vec<AutodiscoverOutcome>,
    pub steps: Vec<Step>,
    pub insecure: bool,
}

impl RunOutcome {
    pub fn dns_for(&self, domain: &str) -> Option<&DnsOutcome> {
        self.dns.iter().find(|d| d.domain == domain)
    }
}

pub fn allowed_hosts(config: &CheckConfig, input: &InputOutcome) -> AllowedHosts {
    let mut allowed = AllowedHosts::default();
    for d in &input.domains {
        allowed.add_domain(d);
    }
    for url in [&config.endpoints.ews_url, &config.endpoints.autodiscover_url]
        .into_iter()
        .flatten()
    {
        if let Some(h) = url.host_str() {
            allowed.add_host(h);
        }
    }
    allowed
}

pub async fn run(config: &CheckConfig) -> Result<RunOutcome, NetSetupError> {
    let began = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let (input, input_step) = input::run(&config.mailboxes, config.service_account.as_deref());
    let net = Net::new(&config.net, allowed_hosts(config, &input))?;
    let mut steps = vec![input_step];

    let dns_results: Vec<(DnsOutcome, Step)> =
        futures::future::join_all(input.domains.iter().map(|d| dns_probe::run(&net.dns, d))).await;
    let mut dns = vec![];
    for (o, s) in dns_results {
        dns.push(o);
        steps.push(s);
    }

    let settings = AutodiscoverSettings {
        credentials: config.credentials.clone(),
        v2_host: config.endpoints.autodiscover_v2_host.clone(),
        user_url: config.endpoints.autodiscover_url.clone(),
        grace: AutodiscoverSettings::grace_for(config.net.timeout),
    };
    let per_mailbox: Vec<(Option<AutodiscoverOutcome>, Step)> = stream::iter(config.mailboxes.iter())
        .map(|mailbox| {
            let net = &net;
            let settings = &settings;
            let dns = &dns;
            let input = &input;
            async move {
                let Some(domain) = input.domain_of(mailbox) else {
                    let step = StepBuilder::new(
                        "autodiscover",
                        Some(mailbox),
                        Some(mailbox),
                        format!("Autodiscover for {mailbox}"),
                    );
                    return (None, step.skip("input", "not a valid address"));
                };
                let dns_outcome = dns.iter().find(|d| d.domain == domain);
                if let Some(d) = dns_outcome.filter(|d| d.domain_not_found() || d.servers_failed()) {
                    let step = StepBuilder::new(
                        "autodiscover",
                        Some(mailbox),
                        Some(mailbox),
                        format!("Autodiscover for {mailbox}"),
                    );
                    let why = if d.domain_not_found() {
                        "the domain does not exist in DNS"
                    } else {
                        "the DNS servers did not answer"
                    };
                    return (None, step.skip(&format!("dns:{domain}"), why));
                }
                let (o, s) = autodiscover::run(net, settings, mailbox, domain, dns_outcome).await;
                (Some(o), s)
            }
        })
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    let mut autodiscover = vec![];
    for (o, s) in per_mailbox {
        autodiscover.extend(o);
        steps.push(s);
    }
    Ok(RunOutcome {
        started_at,
        duration_ms: crate::net::http::ms(began.elapsed()),
        input,
        dns,
        autodiscover,
        steps,
        insecure: config.net.insecure,
    })
}
