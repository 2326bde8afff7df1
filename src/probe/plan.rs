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
use super::graph::{self as graph_probe, GraphOutcome};
use super::identity::{self, IdentityOutcome};
use super::input::{self, InputOutcome};
use super::oauth::{self, RealmOutcome, TokenOutcome};
use super::StepBuilder;
use crate::config::{AuthMode, CheckConfig, Credentials};
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
    pub realm: Vec<RealmOutcome>,
    pub tokens: Vec<TokenOutcome>,
    pub graph: Vec<GraphOutcome>,
    pub steps: Vec<Step>,
    pub insecure: bool,
    /// Per EWS host: busy answers and the smallest window they forced.
    pub throttling: Vec<crate::report::Throttling>,
    /// Passing steps whose HTTP evidence was not kept (past the first mailboxes).
    pub evidence_dropped: usize,
}

impl RunOutcome {
    pub fn dns_for(&self, domain: &str) -> Option<&DnsOutcome> {
        self.dns.iter().find(|d| d.domain == domain)
    }

    pub fn autodiscover_for(&self, mailbox: &str) -> Option<&AutodiscoverOutcome> {
        self.autodiscover.iter().find(|a| a.mailbox == mailbox)
    }

    pub fn token_for(&self, api: &str) -> Option<&TokenOutcome> {
        self.tokens.iter().find(|t| t.api == api)
    }

    pub fn reach_for(&self, url: &str) -> Option<&ReachOutcome> {
        self.ews_reach.iter().find(|r| r.url == url)
    }
}

/// Run `f` for each item, at most `n` at a time, in completion order (a slow
/// mailbox holds up no other); the results come back in input order.
async fn each_unordered<T, R, F, Fut>(items: impl Iterator<Item = T>, n: usize, mut f: F) -> Vec<R>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let mut out: Vec<(usize, R)> = stream::iter(items.enumerate())
        .map(|(i, t)| {
            let fut = f(t);
            async move { (i, fut.await) }
        })
        .buffer_unordered(n)
        .collect()
        .await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Mailboxes (in input order) whose passing steps keep their HTTP evidence.
pub const EVIDENCE_MAILBOXES: usize = 5;

/// `skipped_because` of a mailbox step the run's deadline left unchecked.
pub const DEADLINE: &str = "deadline";
const DEADLINE_DETAIL: &str = "the run's deadline was reached before this mailbox was checked";

pub fn allowed_hosts(config: &CheckConfig, input: &InputOutcome) -> AllowedHosts {
    let mut allowed = AllowedHosts::default();
    for d in input.domains.iter().chain(&config.endpoints.trust_domains) {
        allowed.add_domain(d);
    }
    if matches!(
        config.auth,
        AuthMode::App | AuthMode::Token | AuthMode::RefreshToken | AuthMode::PasswordGrant
    ) {
        for url in [&config.endpoints.authority, &config.endpoints.graph_url] {
            if let Some(h) = url.host_str() {
                allowed.add_host(h);
            }
        }
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
fn ews_blocked(credentials: Option<&Credentials>, reach: Option<&ReachOutcome>) -> Option<(String, String)> {
    let reach = reach?;
    let step = format!("ews.reach:{}", host_of(&reach.url));
    if !reach.is_ews() {
        return Some((step, "the EWS endpoint did not answer like EWS".into()));
    }
    if let Some(c) = credentials {
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
    let (input, input_step) = input::run(
        &config.mailboxes,
        config.service_account.as_deref(),
        &config.refused_input,
    );
    let net = Net::new(&config.net, allowed_hosts(config, &input))?;
    let mut global_steps = vec![input_step];
    let mut mailbox_steps: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    let mut push = |m: &str, s: Step| mailbox_steps.entry(m.to_string()).or_default().push(s);

    let oauth_mode = matches!(
        config.auth,
        AuthMode::App | AuthMode::Token | AuthMode::RefreshToken | AuthMode::PasswordGrant
    );
    let authority = &config.endpoints.authority;
    let realm_domains: Vec<(String, String)> = if oauth_mode {
        input
            .domains
            .iter()
            .map(|d| {
                let login = input
                    .mailboxes
                    .iter()
                    .find(|(_, a)| &a.domain == d)
                    .map(|(m, _)| m.clone())
                    .unwrap_or_else(|| format!("user@{d}"));
                (d.clone(), login)
            })
            .collect()
    } else {
        vec![]
    };
    type Stepped<T> = Vec<(T, Step)>;
    let (dns_results, realm_results): (Stepped<DnsOutcome>, Stepped<RealmOutcome>) = tokio::join!(
        futures::future::join_all(input.domains.iter().map(|d| dns_probe::run(&net.dns, d))),
        futures::future::join_all(
            realm_domains
                .iter()
                .map(|(d, login)| oauth::realm(&net, authority, d, login))
        )
    );
    let mut dns = vec![];
    for (o, s) in dns_results {
        dns.push(o);
        global_steps.push(s);
    }
    let mut realm = vec![];
    for (o, s) in realm_results {
        realm.push(o);
        global_steps.push(s);
    }

    let settings = AutodiscoverSettings {
        credentials: config.credentials.clone(),
        v2_host: config.endpoints.autodiscover_v2_host.clone(),
        user_url: config.endpoints.autodiscover_url.clone(),
        trust_domains: config.endpoints.trust_domains.clone(),
        memo: Default::default(),
        credentials_in_play: config.credentials.is_some() || config.app.is_some() || config.delegated.is_some(),
        grace: AutodiscoverSettings::grace_for(config.net.timeout),
    };
    let per_mailbox: Vec<(String, Option<AutodiscoverOutcome>, Step)> =
        each_unordered(config.mailboxes.iter(), config.concurrency.max(1), |mailbox| {
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
                if net.remaining().is_zero() {
                    return (mailbox.clone(), None, step.skip(DEADLINE, DEADLINE_DETAIL));
                }
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
        .await;
    let mut autodiscover = vec![];
    let mut ews_urls = BTreeMap::new();
    // Mailboxes the deadline left unchecked: one skipped step says so; their
    // later steps would only repeat it (and cost time in a bulk run).
    let mut unchecked: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (m, o, s) in per_mailbox {
        let skipped = s.skipped_because.clone();
        if skipped.as_deref() == Some(DEADLINE) {
            unchecked.insert(m.clone());
        }
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

    // token: acquired (app) or given (token), one per API probed.
    let mut tokens: Vec<TokenOutcome> = vec![];
    let mut ews_token = None;
    let mut graph_token = None;
    let apis: Vec<(&str, &str)> = [
        ("ews", "https://outlook.office365.com"),
        ("graph", "https://graph.microsoft.com"),
    ]
    .into_iter()
    .filter(|(api, _)| {
        if *api == "ews" {
            config.api.ews()
        } else {
            config.api.graph()
        }
    })
    .collect();
    let grant = match (&config.app, &config.delegated) {
        (Some(app), _) => Some(oauth::Grant::App(app)),
        (None, Some(d)) => Some(oauth::Grant::Delegated(d)),
        (None, None) => None,
    };
    if let Some(grant) = grant {
        let results = futures::future::join_all(
            apis.iter()
                .map(|(api, resource)| oauth::acquire(&net, authority, grant, api, resource)),
        )
        .await;
        for (o, token, s) in results {
            if o.usable() {
                if o.api == "ews" {
                    ews_token = token
                } else {
                    graph_token = token
                }
            }
            tokens.push(o);
            global_steps.push(s);
        }
    } else if let Some(Credentials::Bearer { token }) = &config.credentials {
        for (api, _) in &apis {
            let (o, s) = oauth::given(api, token);
            if o.usable() {
                if *api == "ews" {
                    ews_token = Some(token.clone())
                } else {
                    graph_token = Some(token.clone())
                }
            }
            tokens.push(o);
            global_steps.push(s);
        }
    }
    let token_tenant: Option<String> = tokens
        .iter()
        .find_map(|t| t.claims.as_ref().and_then(|c| c.tid.clone()));
    // A token of another tenant than the mailbox's: its calls cannot work; say why once.
    let tenant_blocked = |mailbox: &str| -> Option<String> {
        let domain = input.domain_of(mailbox)?;
        let mailbox_tenant = realm.iter().find(|r| r.domain == domain)?.tenant_id()?;
        let tid = token_tenant.as_deref()?;
        (!tid.eq_ignore_ascii_case(mailbox_tenant))
            .then(|| format!("the token is for tenant {tid}; the mailbox is in tenant {mailbox_tenant}"))
    };
    // What EWS is called with: the Basic or given credentials, or the app's EWS token.
    let ews_credentials: Option<Credentials> = match config.auth {
        AuthMode::App | AuthMode::Token | AuthMode::RefreshToken | AuthMode::PasswordGrant => {
            ews_token.clone().map(|token| Credentials::Bearer { token })
        }
        _ => config.credentials.clone(),
    };
    // App-only tokens act only by impersonating a mailbox: no sign-in of their own.
    let ews_app_only = tokens
        .iter()
        .any(|t| t.api == "ews" && t.claims.as_ref().is_some_and(|c| c.is_app_only()));

    // ews.reach, once per distinct EWS URL.
    // Graph only: EWS is not touched at all.
    let mut distinct: Vec<String> = if config.api.ews() {
        ews_urls.values().cloned().collect()
    } else {
        vec![]
    };
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
    match (&ews_credentials, &first_url) {
        _ if !config.api.ews() => global_steps.push(auth_step.skip_without_cause("EWS is not probed (--api graph)")),
        _ if oauth_mode && (ews_app_only || ews_token.is_none()) => {
            if ews_token.is_some() {
                global_steps.push(auth_step.skip_without_cause(
                    "app-only tokens reach mailboxes only by impersonating them: see ews.impersonation",
                ))
            } else {
                global_steps.push(auth_step.skip("token:ews", "no usable EWS token"))
            }
        }
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
            match ews_blocked(ews_credentials.as_ref(), reach) {
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
    // App-only tokens skip ews.auth: a usable token stands for it.
    let auth_ok =
        ews_auth.as_ref().is_some_and(AuthOutcome::credentials_accepted) || (ews_app_only && ews_token.is_some());
    // One throttling budget per EWS host, shared by every mailbox on it.
    let limiters: std::collections::HashMap<String, crate::net::limiter::Limiter> = ews_urls
        .values()
        .map(|u| host_of(u))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|h| (h, crate::net::limiter::Limiter::new(config.concurrency.max(1))))
        .collect();
    let impersonations: Vec<(String, Option<ImpersonationOutcome>, Step)> =
        each_unordered(config.mailboxes.iter(), config.concurrency.max(1), |mailbox| {
            let (net, ews_urls, ews_reach, input, limiters) = (&net, &ews_urls, &ews_reach, &input, &limiters);
            let auth_ran = ews_auth.is_some();
            let (ews_credentials, tenant_blocked) = (&ews_credentials, &tenant_blocked);
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
                if !config.api.ews() {
                    return (
                        mailbox.clone(),
                        None,
                        step.skip_without_cause("EWS is not probed (--api graph)"),
                    );
                }
                let Some(credentials) = ews_credentials else {
                    if oauth_mode {
                        return (mailbox.clone(), None, step.skip("token:ews", "no usable EWS token"));
                    }
                    return (
                        mailbox.clone(),
                        None,
                        step.skip_without_cause("no credentials given: discovery only"),
                    );
                };
                if let Some(why) = tenant_blocked(mailbox) {
                    return (mailbox.clone(), None, step.skip("token:ews", why));
                }
                let Some(url) = ews_urls.get(mailbox) else {
                    return (
                        mailbox.clone(),
                        None,
                        step.skip(&format!("autodiscover:{mailbox}"), "no EWS URL for this mailbox"),
                    );
                };
                if let Some((because, why)) = ews_blocked(Some(credentials), ews_reach.iter().find(|r| &r.url == url)) {
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
                if net.remaining().is_zero() {
                    return (mailbox.clone(), None, step.skip(DEADLINE, DEADLINE_DETAIL));
                }
                let Some(limiter) = limiters.get(&host_of(url)) else {
                    return (
                        mailbox.clone(),
                        None,
                        step.skip(&format!("autodiscover:{mailbox}"), "the EWS URL has no host"),
                    );
                };
                let (o, s) = ews::impersonate(net, limiter, &u, credentials, mailbox).await;
                (mailbox.clone(), Some(o), s)
            }
        })
        .await;
    let mut throttling: Vec<crate::report::Throttling> = limiters
        .iter()
        .map(|(host, l)| (host, l.pressure()))
        .filter(|(_, (pushed_back, _))| *pushed_back > 0)
        .map(|(host, (pushed_back, smallest_window))| crate::report::Throttling {
            host: host.clone(),
            pushed_back,
            smallest_window,
        })
        .collect();
    throttling.sort_by(|a, b| a.host.cmp(&b.host));
    let mut impersonation = vec![];
    for (m, o, s) in impersonations {
        if unchecked.contains(&m) {
            continue;
        }
        push(&m, s);
        impersonation.extend(o);
    }

    // graph.mailbox per mailbox.
    let graph_results: Vec<(String, Option<GraphOutcome>, Step)> = each_unordered(
        config.mailboxes.iter().filter(|_| config.api.graph()),
        config.concurrency.max(1),
        |mailbox| {
            let (net, input, graph_token, tenant_blocked) = (&net, &input, &graph_token, &tenant_blocked);
            async move {
                let step = StepBuilder::new(
                    "graph.mailbox",
                    Some(mailbox),
                    Some(mailbox),
                    format!("Read {mailbox} through Microsoft Graph"),
                );
                if input.domain_of(mailbox).is_none() {
                    return (mailbox.clone(), None, step.skip("input", "not a valid address"));
                }
                let Some(token) = graph_token else {
                    return (mailbox.clone(), None, step.skip("token:graph", "no usable Graph token"));
                };
                if let Some(why) = tenant_blocked(mailbox) {
                    return (mailbox.clone(), None, step.skip("token:graph", why));
                }
                if net.remaining().is_zero() {
                    return (mailbox.clone(), None, step.skip(DEADLINE, DEADLINE_DETAIL));
                }
                let (o, s) = graph_probe::mailbox(net, &config.endpoints.graph_url, token, mailbox).await;
                (mailbox.clone(), Some(o), s)
            }
        },
    )
    .await;
    let mut graph = vec![];
    for (m, o, s) in graph_results {
        if unchecked.contains(&m) {
            continue;
        }
        push(&m, s);
        graph.extend(o);
    }

    // identity per valid mailbox (indexes: bulk runs stay linear).
    let by_mailbox = |m: &str| m.to_string();
    let ad_index: std::collections::HashMap<String, usize> = autodiscover
        .iter()
        .enumerate()
        .map(|(i, a)| (by_mailbox(&a.mailbox), i))
        .collect();
    let imp_index: std::collections::HashMap<String, usize> = impersonation
        .iter()
        .enumerate()
        .map(|(i, a)| (by_mailbox(&a.mailbox), i))
        .collect();
    let graph_index: std::collections::HashMap<String, usize> = graph
        .iter()
        .enumerate()
        .map(|(i, a)| (by_mailbox(&a.mailbox), i))
        .collect();
    let mut identities = vec![];
    for (mailbox, _) in input.mailboxes.iter().filter(|(m, _)| !unchecked.contains(m)) {
        let ad = ad_index.get(mailbox).map(|&i| &autodiscover[i]);
        let imp = imp_index.get(mailbox).map(|&i| &impersonation[i]);
        let graph_user = graph_index.get(mailbox).and_then(|&i| graph[i].user.as_ref());
        let domain = input.domain_of(mailbox).unwrap_or("");
        let mailbox_tenant = realm
            .iter()
            .find(|r| r.domain == domain)
            .and_then(|r| r.tenant_id().map(str::to_string));
        let tenants = identity::Tenants {
            mailbox: mailbox_tenant,
            token: token_tenant.clone(),
        };
        let (o, s) = identity::run(
            mailbox,
            config.service_account.as_deref(),
            ad,
            imp,
            graph_user,
            &tenants,
        );
        push(mailbox, s);
        identities.push(o);
    }

    let mut steps = global_steps;
    // HTTP evidence is kept for every step that did not pass, and for the
    // first mailboxes' passing steps; a bulk run does not carry the rest.
    let mut evidence_dropped = 0usize;
    for (i, m) in config.mailboxes.iter().enumerate() {
        let mut mine = mailbox_steps.remove(m).unwrap_or_default();
        if i >= EVIDENCE_MAILBOXES {
            for s in mine.iter_mut().filter(|s| s.status == crate::report::StepStatus::Pass) {
                if !s.evidence.is_empty() {
                    s.evidence.clear();
                    evidence_dropped += 1;
                }
            }
        }
        steps.extend(mine);
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
        realm,
        tokens,
        graph,
        steps,
        insecure: config.net.insecure,
        throttling,
        evidence_dropped,
    })
}
