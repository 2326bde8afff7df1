//! Runs the probes in dependency order, concurrently where they do not
//! depend on each other: input → dns (per domain) → autodiscover (per
//! mailbox) → ews.reach (per EWS URL) → ews.auth → ews.impersonation (per
//! mailbox) → identity (per mailbox).

use std::collections::BTreeMap;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use url::Url;

use super::autodiscover::{self, AutodiscoverOutcome, AutodiscoverSettings};
use super::dns::{self as dns_probe, DnsOutcome};
use super::ews::{self, AuthOutcome, ImpersonationOutcome, ReachOutcome};
use super::identity::{self, IdentityOutcome};
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
    /// The EWS URL each mailbox is checked against (`--ews-url`, else autodiscover's).
    pub ews_urls: BTreeMap<String, String>,
    pub ews_reach: Vec<ReachOutcome>,
    pub ews_auth: Option<AuthOutcome>,
    pub impersonation: Vec<ImpersonationOutcome>,
    pub identity: Vec<IdentityOutcome>,
    pub steps: Vec<Step>,
    pub insecure: bool,
}

impl RunOutcome {
    pub fn dns_for(&self, domain: &str) -> Option<&DnsOutcome> {
        self.dns.iter().find(|d| d.domain == domain)
    }

    pub fn autodiscover_for(&self, mailbox: &str) -> Option<&AutodiscoverOutcome> {
        self.autodiscover.iter().find(|a| a.mailbox == mailbox)
    }

    pub fn reach_for(&self, url: &str) -> Option<&ReachOutcome> {
        self.ews_reach.iter().find(|r| r.url == url)
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

fn host_of(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// Why the EWS steps cannot run against `url`, as (step that failed, detail).
fn ews_blocked(config: &CheckConfig, reach: Option<&ReachOutcome>) -> Option<(String, String)> {
    let reach = reach?;
    let step = format!("ews.reach:{}", host_of(&reach.url));
    if !reach.is_ews() {
        return Some((step, "the EWS endpoint did not answer like EWS".into()));
    }
    if let Some(c) = &config.credentials {
        if !reach.schemes.is_empty() && !reach.offers(c.scheme()) {
            return Some((
                step,
                format!("the endpoint does not offer {} authentication", c.scheme()),
            ));
        }
    }
    None
}

pub async fn run(config: &CheckConfig) -> Result<RunOutcome, NetSetupError> {
    let began = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let (input, input_step) = input::run(&config.mailboxes, config.service_account.as_deref());
    let net = Net::new(&config.net, allowed_hosts(config, &input))?;
    let mut global_steps = vec![input_step];
    let mut mailbox_steps: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    let mut push = |m: &str, s: Step| mailbox_steps.entry(m.to_string()).or_default().push(s);

    let dns_results: Vec<(DnsOutcome, Step)> =
        futures::future::join_all(input.domains.iter().map(|d| dns_probe::run(&net.dns, d))).await;
    let mut dns = vec![];
    for (o, s) in dns_results {
        dns.push(o);
        global_steps.push(s);
    }

    let settings = AutodiscoverSettings {
        credentials: config.credentials.clone(),
        v2_host: config.endpoints.autodiscover_v2_host.clone(),
        user_url: config.endpoints.autodiscover_url.clone(),
        grace: AutodiscoverSettings::grace_for(config.net.timeout),
    };
    let per_mailbox: Vec<(String, Option<AutodiscoverOutcome>, Step)> = stream::iter(config.mailboxes.iter())
        .map(|mailbox| {
            let (net, settings, dns, input) = (&net, &settings, &dns, &input);
            async move {
                let step = StepBuilder::new(
                    "autodiscover",
                    Some(mailbox),
                    Some(mailbox),
                    format!("Autodiscover for {mailbox}"),
                );
                let Some(domain) = input.domain_of(mailbox) else {
                    return (mailbox.clone(), None, step.skip("input", "not a valid address"));
                };
                let dns_outcome = dns.iter().find(|d| d.domain == domain);
                if let Some(d) = dns_outcome.filter(|d| d.domain_not_found() || d.servers_failed()) {
                    let why = if d.domain_not_found() {
                        "the domain does not exist in DNS"
                    } else {
                        "the DNS servers did not answer"
                    };
                    return (mailbox.clone(), None, step.skip(&format!("dns:{domain}"), why));
                }
                let (o, s) = autodiscover::run(net, settings, mailbox, domain, dns_outcome).await;
                (mailbox.clone(), Some(o), s)
            }
        })
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    let mut autodiscover = vec![];
    let mut ews_urls = BTreeMap::new();
    for (m, o, s) in per_mailbox {
        let skipped = s.skipped_because.clone();
        push(&m, s);
        if skipped.is_some() {
            continue;
        }
        if let Some(o) = o {
            let url = config
                .endpoints
                .ews_url
                .as_ref()
                .map(Url::to_string)
                .or_else(|| o.ews_url.clone());
            if let Some(u) = url {
                ews_urls.insert(m.clone(), u);
            }
            autodiscover.push(o);
        }
    }

    // ews.reach, once per distinct EWS URL.
    let mut distinct: Vec<String> = ews_urls.values().cloned().collect();
    distinct.sort();
    distinct.dedup();
    let reach_results: Vec<(ReachOutcome, Step)> =
        futures::future::join_all(distinct.iter().filter_map(|u| Url::parse(u).ok()).map(|u| {
            let net = &net;
            async move { ews::reach(net, &u).await }
        }))
        .await;
    let mut ews_reach = vec![];
    for (o, mut s) in reach_results {
        // Reachable, but not for this mode: the step fails here, not later.
        if let Some(c) = config
            .credentials
            .as_ref()
            .filter(|c| o.is_ews() && !o.schemes.is_empty() && !o.offers(c.scheme()))
        {
            s.status = crate::report::StepStatus::Fail;
            s.detail
                .push_str(&format!("; {} (this check's scheme) is not offered", c.scheme()));
        }
        ews_reach.push(o);
        global_steps.push(s);
    }

    // ews.auth, once, as the service account against the first mailbox's EWS URL.
    let first_url = config.mailboxes.iter().find_map(|m| ews_urls.get(m)).cloned();
    let auth_step = StepBuilder::new("ews.auth", None, None, "The service account signs in to EWS");
    let mut ews_auth = None;
    match (&config.credentials, &first_url) {
        (None, _) => global_steps.push(auth_step.skip_without_cause("no credentials given: discovery only")),
        (Some(_), None) => {
            let because = config
                .mailboxes
                .first()
                .map(|m| format!("autodiscover:{m}"))
                .unwrap_or_else(|| "input".into());
            global_steps.push(auth_step.skip(&because, "no EWS URL is known"));
        }
        (Some(credentials), Some(url)) => {
            let reach = ews_reach.iter().find(|r| &r.url == url);
            match ews_blocked(config, reach) {
                Some((because, why)) => global_steps.push(auth_step.skip(&because, why)),
                None => {
                    if let Ok(u) = Url::parse(url) {
                        let account = config.service_account.clone().unwrap_or_default();
                        let (o, s) = ews::auth(&net, &u, credentials, &account).await;
                        ews_auth = Some(o);
                        global_steps.push(s);
                    }
                }
            }
        }
    }

    // ews.impersonation per mailbox.
    let auth_ok = ews_auth.as_ref().is_some_and(AuthOutcome::credentials_accepted);
    let impersonations: Vec<(String, Option<ImpersonationOutcome>, Step)> = stream::iter(config.mailboxes.iter())
        .map(|mailbox| {
            let (net, ews_urls, ews_reach, input) = (&net, &ews_urls, &ews_reach, &input);
            let auth_ran = ews_auth.is_some();
            async move {
                let step = StepBuilder::new(
                    "ews.impersonation",
                    Some(mailbox),
                    Some(mailbox),
                    format!("Impersonate {mailbox} over EWS"),
                );
                if input.domain_of(mailbox).is_none() {
                    return (mailbox.clone(), None, step.skip("input", "not a valid address"));
                }
                let Some(credentials) = &config.credentials else {
                    return (
                        mailbox.clone(),
                        None,
                        step.skip_without_cause("no credentials given: discovery only"),
                    );
                };
                let Some(url) = ews_urls.get(mailbox) else {
                    return (
                        mailbox.clone(),
                        None,
                        step.skip(&format!("autodiscover:{mailbox}"), "no EWS URL for this mailbox"),
                    );
                };
                if let Some((because, why)) = ews_blocked(config, ews_reach.iter().find(|r| &r.url == url)) {
                    return (mailbox.clone(), None, step.skip(&because, why));
                }
                if !auth_ok {
                    let why = if auth_ran {
                        "the service account could not sign in"
                    } else {
                        "the service account was not checked"
                    };
                    return (mailbox.clone(), None, step.skip("ews.auth", why));
                }
                let Ok(u) = Url::parse(url) else {
                    return (
                        mailbox.clone(),
                        None,
                        step.skip(&format!("autodiscover:{mailbox}"), "the EWS URL is not a URL"),
                    );
                };
                let (o, s) = ews::impersonate(net, &u, credentials, mailbox).await;
                (mailbox.clone(), Some(o), s)
            }
        })
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    let mut impersonation = vec![];
    for (m, o, s) in impersonations {
        push(&m, s);
        impersonation.extend(o);
    }

    // identity per valid mailbox.
    let mut identities = vec![];
    for (mailbox, _) in &input.mailboxes {
        let ad = autodiscover.iter().find(|a| &a.mailbox == mailbox);
        let imp = impersonation.iter().find(|i| &i.mailbox == mailbox);
        let (o, s) = identity::run(mailbox, config.service_account.as_deref(), ad, imp);
        push(mailbox, s);
        identities.push(o);
    }

    let mut steps = global_steps;
    for m in &config.mailboxes {
        steps.extend(mailbox_steps.remove(m).unwrap_or_default());
    }
    Ok(RunOutcome {
        started_at,
        duration_ms: crate::net::http::ms(began.elapsed()),
        input,
        dns,
        autodiscover,
        ews_urls,
        ews_reach,
        ews_auth,
        impersonation,
        identity: identities,
        steps,
        insecure: config.net.insecure,
    })
}
