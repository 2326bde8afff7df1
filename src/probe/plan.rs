//! Runs the probes: first the organization context (input, DNS per domain,
//! realm per domain, tokens per API), done once and shared; then a stream of
//! mailboxes, each through its own pipeline (autodiscover → EWS reach and the
//! service account's sign-in, once per EWS URL → impersonation and Graph →
//! identity) as soon as its prerequisites are known, at most `--concurrency`
//! at a time, in completion order.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::stream::{self, Stream, StreamExt};
use tokio::sync::OnceCell;
use url::Url;

use super::autodiscover::{self, AutodiscoverOutcome, AutodiscoverSettings};
use super::dns::{self as dns_probe, DnsOutcome};
use super::ews::{self, AuthOutcome, ImpersonationOutcome, ReachOutcome};
use super::graph::{self as graph_probe, GraphOutcome};
use super::identity::{self, IdentityOutcome};
use super::input::{self, InputOutcome};
use super::oauth::{self, RealmOutcome, TokenOutcome};
use super::skip::DEADLINE;
use super::{Skip, StepBuilder, StepKind};
use crate::auth::Scheme;
use crate::config::{Auth, CheckConfig, Credentials, GraphCallKind, MailApi};
use crate::net::http::NetSetupError;
use crate::net::limiter::Limiter;
use crate::net::{AllowedHosts, Net};
use crate::report::{Step, StepStatus};
use crate::secret::Secret;

/// Mailboxes (in input order) whose passing steps keep their HTTP evidence.
pub const EVIDENCE_MAILBOXES: usize = 5;

/// What is known about the organization before any mailbox is checked.
#[derive(Debug)]
pub struct Org {
    pub input: InputOutcome,
    pub dns: Vec<DnsOutcome>,
    pub realm: Vec<RealmOutcome>,
    pub tokens: Vec<TokenOutcome>,
    /// input, dns, realm and token steps, in that order.
    pub steps: Vec<Step>,
    pub insecure: bool,
    /// The tenant the tokens were issued by, if any.
    pub token_tenant: Option<String>,
    /// The Graph token an app-only EWS run asked for, for Graph readiness.
    pub readiness_token: Option<TokenOutcome>,
    invalid: HashMap<String, String>,
    dns_index: HashMap<String, usize>,
}

impl Org {
    fn new(
        input: InputOutcome,
        dns: Vec<DnsOutcome>,
        realm: Vec<RealmOutcome>,
        tokens: Vec<TokenOutcome>,
        steps: Vec<Step>,
        insecure: bool,
    ) -> Org {
        let token_tenant = tokens
            .iter()
            .find_map(|t| t.claims.as_ref().and_then(|c| c.tid.clone()));
        let invalid = input
            .invalid
            .iter()
            .map(|i| (i.input.clone(), i.reason.clone()))
            .collect();
        let dns_index = dns.iter().enumerate().map(|(i, d)| (d.domain.clone(), i)).collect();
        Org {
            input,
            dns,
            realm,
            tokens,
            steps,
            insecure,
            token_tenant,
            readiness_token: None,
            invalid,
            dns_index,
        }
    }

    pub fn dns_for(&self, domain: &str) -> Option<&DnsOutcome> {
        self.dns_index.get(domain).map(|&i| &self.dns[i])
    }

    pub fn realm_for(&self, domain: &str) -> Option<&RealmOutcome> {
        self.realm.iter().find(|r| r.domain == domain)
    }

    pub fn token_for(&self, api: MailApi) -> Option<&TokenOutcome> {
        self.tokens.iter().find(|t| t.api == api)
    }

    /// Why `mailbox` is not a valid address, if it is not.
    pub fn invalid_reason(&self, mailbox: &str) -> Option<&str> {
        self.invalid.get(mailbox).map(String::as_str)
    }
}

/// `ews.reach` of one EWS URL, shared by every mailbox on it.
#[derive(Debug)]
pub struct Reached {
    pub outcome: ReachOutcome,
    pub step: Step,
    /// With `--auth ntlm`, when this URL does not offer NTLM: the internal EWS
    /// URL autodiscover gave, reached the same way (without credentials).
    pub internal: Option<ReachOutcome>,
}

/// `ews.auth`: run once, against the first EWS URL a mailbox needed.
#[derive(Debug)]
pub struct Authed {
    pub outcome: Option<AuthOutcome>,
    pub step: Step,
    /// The EWS URL it ran against could not be reached at all.
    pub reach_failed: bool,
}

/// One mailbox's typed outcomes and steps, by part of the pipeline.
#[derive(Debug)]
pub struct MailboxOutcome {
    /// Position in the input.
    pub index: usize,
    pub mailbox: String,
    pub discovery: Discovered,
    pub ews: EwsChecked,
    pub graph: Option<GraphOutcome>,
    /// An EWS run's Graph readiness: the same app's Graph read of the mailbox.
    pub graph_readiness: Option<GraphOutcome>,
    pub identity: Option<IdentityOutcome>,
    pub record: Record,
}

/// Where a mailbox's EWS is.
#[derive(Debug, Default)]
pub struct Discovered {
    pub autodiscover: Option<AutodiscoverOutcome>,
    /// The EWS URL it is checked against (`--ews-url`, else autodiscover's).
    pub ews_url: Option<String>,
}

/// What EWS said of a mailbox.
#[derive(Debug, Default)]
pub struct EwsChecked {
    /// Its EWS URL's reach (shared with every mailbox on that URL).
    pub reach: Option<Arc<Reached>>,
    pub impersonation: Option<ImpersonationOutcome>,
    /// `--write-test`: the draft saved and deleted.
    pub write: Option<ews::WriteOutcome>,
}

/// What the report carries of a mailbox's run.
#[derive(Debug, Default)]
pub struct Record {
    pub steps: Vec<Step>,
    /// Some step was skipped because the deadline passed.
    pub deadline_skipped: bool,
    /// Not checked at all: the deadline passed before it started.
    pub unchecked: bool,
    /// Passing steps whose HTTP evidence was dropped.
    pub evidence_dropped: usize,
}

impl MailboxOutcome {
    fn new(index: usize, mailbox: &str) -> Self {
        MailboxOutcome {
            index,
            mailbox: mailbox.to_string(),
            discovery: Discovered::default(),
            ews: EwsChecked::default(),
            graph: None,
            graph_readiness: None,
            identity: None,
            record: Record::default(),
        }
    }

    /// A mailbox the deadline left unchecked: no steps, one fact.
    pub fn unchecked(index: usize, mailbox: &str) -> Self {
        let mut m = MailboxOutcome::new(index, mailbox);
        m.record.unchecked = true;
        m.record.deadline_skipped = true;
        m
    }

    fn push(&mut self, step: Step) {
        if step.skipped_because.as_deref() == Some(DEADLINE) {
            self.record.deadline_skipped = true;
        }
        self.record.steps.push(step);
    }
}

/// What the run ends with, once the stream is done.
#[derive(Debug)]
pub struct RunEnd {
    pub duration_ms: u64,
    /// `ews.reach` per EWS URL, by URL.
    pub reached: Vec<Arc<Reached>>,
    pub auth: Arc<Authed>,
    pub throttling: Vec<crate::report::Throttling>,
}

pub fn allowed_hosts(config: &CheckConfig, input: &InputOutcome) -> AllowedHosts {
    let mut allowed = AllowedHosts::default();
    for d in input.domains.iter().chain(&config.endpoints.trust_domains) {
        allowed.add_domain(d);
    }
    if config.auth.is_oauth() {
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
fn ews_blocked(credentials: Option<&Credentials>, reach: Option<&ReachOutcome>) -> Option<Skip> {
    let reach = reach?;
    let reach_step = StepKind::EwsReach.id(&host_of(&reach.url));
    if !reach.is_ews() {
        return Some(Skip::Endpoint {
            reach_step,
            why: "the EWS endpoint did not answer like EWS".into(),
        });
    }
    if let Some(c) = credentials {
        if !reach.schemes.is_empty() && !reach.offers(c.scheme()) {
            return Some(Skip::Endpoint {
                reach_step,
                why: format!("the endpoint does not offer {} authentication", c.scheme()),
            });
        }
    }
    None
}

/// Each domain with the address its realm is asked for: the domain's first
/// mailbox, else a made-up user.
fn realm_logins(input: &InputOutcome) -> Vec<(String, String)> {
    input
        .domains
        .iter()
        .map(|d| {
            let login = input
                .first_of_domain
                .get(d.as_str())
                .cloned()
                .unwrap_or_else(|| format!("user@{d}"));
            (d.clone(), login)
        })
        .collect()
}

/// The outcomes of probes run side by side; their steps appended to `steps`.
fn outcomes<T>(results: Vec<(T, Step)>, steps: &mut Vec<Step>) -> Vec<T> {
    results
        .into_iter()
        .map(|(o, s)| {
            steps.push(s);
            o
        })
        .collect()
}

/// Every token outcome (steps appended to `steps`), and the usable EWS and Graph tokens.
fn usable_tokens(
    tokens: impl Iterator<Item = (TokenOutcome, Option<Secret>, Step)>,
    steps: &mut Vec<Step>,
) -> (Vec<TokenOutcome>, Option<Secret>, Option<Secret>) {
    let mut outcomes: Vec<TokenOutcome> = vec![];
    let (mut ews, mut graph) = (None, None);
    for (o, token, s) in tokens {
        if o.usable() {
            if o.api == MailApi::Ews {
                ews = token
            } else {
                graph = token
            }
        }
        outcomes.push(o);
        steps.push(s);
    }
    (outcomes, ews, graph)
}

/// What every mailbox's autodiscover shares.
fn autodiscover_settings(config: &CheckConfig) -> AutodiscoverSettings {
    AutodiscoverSettings {
        credentials: config.auth.credentials(),
        v2_host: config.endpoints.autodiscover_v2_host.clone(),
        user_url: config.endpoints.autodiscover_url.clone(),
        trust_domains: config.endpoints.trust_domains.clone(),
        memo: Default::default(),
        credentials_in_play: config.auth.holds_secret(),
        grace: AutodiscoverSettings::grace_for(config.net.timeout),
    }
}

/// A run in progress: the organization context and what mailboxes share.
#[derive(Debug)]
pub struct Run<'c> {
    config: &'c CheckConfig,
    pub org: Org,
    net: Net,
    began: Instant,
    settings: AutodiscoverSettings,
    /// What EWS is called with: the Basic or given credentials, or the app's EWS token.
    ews_credentials: Option<Credentials>,
    graph_token: Option<Secret>,
    /// The same app's Graph token for an EWS run's Graph readiness.
    readiness_token: Option<Secret>,
    ews_token_usable: bool,
    /// App-only tokens act only by impersonating a mailbox: no sign-in of their own.
    ews_app_only: bool,
    reach: Mutex<BTreeMap<String, Arc<OnceCell<Arc<Reached>>>>>,
    auth: OnceCell<Arc<Authed>>,
    limiters: Mutex<HashMap<String, Arc<Limiter>>>,
    stop: AtomicBool,
}

impl<'c> Run<'c> {
    /// The organization context: input, DNS and realm per domain, tokens per API.
    pub async fn prepare(config: &'c CheckConfig) -> Result<Run<'c>, NetSetupError> {
        let began = Instant::now();
        let (input, input_step) = input::run(
            &config.mailboxes,
            config.service_account_smtp.as_deref(),
            &config.refused_input,
        );
        let net = Net::new(&config.net, allowed_hosts(config, &input))?;
        let oauth_mode = config.auth.is_oauth();
        let authority = &config.endpoints.authority;
        let realm_domains = if oauth_mode { realm_logins(&input) } else { vec![] };
        let apis = config.api.apis();
        // Graph readiness: an app-only EWS run also asks for the same app's Graph token.
        let readiness = config.graph_readiness && matches!(config.auth, Auth::App(_));
        let wanted: Vec<MailApi> = apis
            .iter()
            .copied()
            .chain(readiness.then_some(MailApi::Graph))
            .collect();
        let grant = match &config.auth {
            Auth::App(app) => Some(oauth::Grant::App(app)),
            Auth::Delegated(d) => Some(oauth::Grant::Delegated(d)),
            _ => None,
        };
        type Stepped<T> = Vec<(T, Step)>;
        let acquire = async {
            match grant {
                Some(grant) => {
                    futures::future::join_all(
                        wanted
                            .iter()
                            .map(|&api| oauth::acquire(&net, authority, grant, api, config.endpoints.cloud)),
                    )
                    .await
                }
                None => vec![],
            }
        };
        let (dns_results, realm_results, acquired): (Stepped<DnsOutcome>, Stepped<RealmOutcome>, _) = tokio::join!(
            futures::future::join_all(input.domains.iter().map(|d| dns_probe::run(&net.dns, d))),
            futures::future::join_all(
                realm_domains
                    .iter()
                    .map(|(d, login)| oauth::realm(&net, authority, d, login))
            ),
            acquire
        );
        let mut steps = vec![input_step];
        let dns = outcomes(dns_results, &mut steps);
        let realm = outcomes(realm_results, &mut steps);
        // Tokens: acquired (app, delegated grants) or given (token), one per API probed.
        let given = match (&grant, &config.auth) {
            (None, Auth::Token { token }) => apis
                .iter()
                .map(|&api| {
                    let (o, s) = oauth::given(api, config.endpoints.cloud, token);
                    (o, Some(token.clone()), s)
                })
                .collect(),
            _ => vec![],
        };
        // The readiness token is no token of the product's: its problems are
        // readiness reasons (a warning step), not findings of their own.
        let (for_readiness, acquired): (Vec<_>, Vec<_>) = acquired
            .into_iter()
            .partition(|(o, _, _)| readiness && o.api == MailApi::Graph);
        let mut readiness_token = None;
        let mut readiness_outcome = None;
        for (o, token, mut step) in for_readiness {
            if step.status == StepStatus::Fail {
                step.status = StepStatus::Warn;
            }
            step.title = format!("{} (ready for Graph?)", step.title);
            steps.push(step);
            if o.usable() {
                readiness_token = token;
            }
            readiness_outcome = Some(o);
        }
        let (tokens, ews_token, graph_token) = usable_tokens(acquired.into_iter().chain(given), &mut steps);
        let ews_app_only = tokens
            .iter()
            .any(|t| t.api == MailApi::Ews && t.claims.as_ref().is_some_and(|c| c.is_app_only()));
        let ews_token_usable = ews_token.is_some();
        let ews_credentials = if oauth_mode {
            ews_token.map(|token| Credentials::Bearer { token })
        } else {
            config.auth.credentials()
        };
        let settings = autodiscover_settings(config);
        let mut org = Org::new(input, dns, realm, tokens, steps, config.net.insecure);
        org.readiness_token = readiness_outcome;
        Ok(Run {
            config,
            org,
            readiness_token,
            net,
            began,
            settings,
            ews_credentials,
            graph_token,
            ews_token_usable,
            ews_app_only,
            reach: Mutex::new(BTreeMap::new()),
            auth: OnceCell::new(),
            limiters: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
        })
    }

    /// Start no further mailboxes (Ctrl-C); those under way go on.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The mailboxes, each through its pipeline, in completion order. Stops
    /// starting mailboxes when the deadline passes or [`Run::stop`] is called;
    /// [`Run::not_started`] says which were left.
    pub fn mailboxes(&self) -> impl Stream<Item = MailboxOutcome> + '_ {
        stream::iter(self.config.mailboxes.iter().enumerate())
            .take_while(move |_| {
                let go = !self.stop.load(Ordering::SeqCst) && !self.net.remaining().is_zero();
                futures::future::ready(go)
            })
            .map(move |(i, m)| self.mailbox(i, m))
            .buffer_unordered(self.config.concurrency.max(1))
    }

    /// `ews.auth`, if it has run (or been decided) already.
    pub fn auth_done(&self) -> Option<Arc<Authed>> {
        self.auth.get().cloned()
    }

    /// Whether the deadline has passed.
    pub fn deadline_passed(&self) -> bool {
        self.net.remaining().is_zero()
    }

    /// The tenant in which the token cannot reach `mailbox`, if so.
    fn tenant_blocked(&self, domain: &str) -> Option<String> {
        let mailbox_tenant = self.org.realm_for(domain)?.tenant_id()?;
        let tid = self.org.token_tenant.as_deref()?;
        (!tid.eq_ignore_ascii_case(mailbox_tenant))
            .then(|| format!("the token is for tenant {tid}; the mailbox is in tenant {mailbox_tenant}"))
    }

    async fn reach_of(&self, url: &str, internal: Option<&str>) -> Option<Arc<Reached>> {
        let u = Url::parse(url).ok()?;
        let cell = {
            let mut map = self.reach.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(url.to_string()).or_default().clone()
        };
        let reached = cell
            .get_or_init(|| async {
                let (o, mut s) = ews::reach(&self.net, &u).await;
                // Reachable, but not for this mode: the step fails here, not later.
                if let Some(c) = self
                    .config
                    .auth
                    .credentials()
                    .filter(|c| o.is_ews() && !o.schemes.is_empty() && !o.offers(c.scheme()))
                {
                    s.status = StepStatus::Fail;
                    s.detail
                        .push_str(&format!("; {} (this check's scheme) is not offered", c.scheme()));
                }
                // NTLM missing here: is it offered on the internal name autodiscover gave?
                // Asked without credentials (a bare POST, as the reach probe is), so
                // the internal host receives nothing secret whoever it is.
                let ntlm_missing = self
                    .config
                    .auth
                    .credentials()
                    .is_some_and(|c| c.scheme() == Scheme::Ntlm && o.is_ews() && !o.offers(Scheme::Ntlm));
                let internal = match internal
                    .and_then(|i| Url::parse(i).ok())
                    .filter(|i| ntlm_missing && i.scheme() == "https" && i.host_str() != u.host_str())
                {
                    Some(i) => {
                        let (io, internal_step) = ews::reach(&self.net, &i).await;
                        // Shown with this step: the internal host has no step of its own.
                        s.evidence.extend(internal_step.evidence);
                        let what = match (&io.failure, io.offers(Scheme::Ntlm)) {
                            (Some(f), _) => format!("not reachable from here ({})", f.describe()),
                            (None, true) => format!("offers {}", io.schemes.join(", ")),
                            (None, false) if io.schemes.is_empty() => "offers no challenge either".to_string(),
                            (None, false) => format!("offers {} (no NTLM either)", io.schemes.join(", ")),
                        };
                        s.detail.push_str(&format!("; the internal EWS URL {} {what}", io.url));
                        Some(io)
                    }
                    None => None,
                };
                Arc::new(Reached {
                    outcome: o,
                    step: s,
                    internal,
                })
            })
            .await;
        Some(reached.clone())
    }

    /// `ews.auth`, once: as the service account against `url` (the first
    /// EWS URL a mailbox needed), or the reason it was not run.
    async fn auth_with(&self, url: Option<&str>) -> Arc<Authed> {
        self.auth
            .get_or_init(|| async {
                let step = StepBuilder::new(StepKind::EwsAuth, None, None, "The service account signs in to EWS");
                let (credentials, u, reach) = match self.auth_gate(url).await {
                    Ok(ready) => ready,
                    Err(skip) => {
                        return Arc::new(Authed {
                            outcome: None,
                            step: step.skipped(&skip),
                            reach_failed: false,
                        })
                    }
                };
                let account = self.config.service_account.clone().unwrap_or_default();
                let (o, s) = ews::auth(&self.net, &u, credentials, &account).await;
                Arc::new(Authed {
                    outcome: Some(o),
                    step: s,
                    reach_failed: reach.is_some_and(|r| r.outcome.failure.is_some()),
                })
            })
            .await
            .clone()
    }

    /// Whether `ews.auth` can run: what it signs in with, where, and that URL's reach.
    async fn auth_gate(&self, url: Option<&str>) -> Result<(&Credentials, Url, Option<Arc<Reached>>), Skip> {
        let config = self.config;
        if !config.api.ews() {
            return Err(Skip::NotProbed("EWS is not probed (--api graph)"));
        }
        if config.auth.is_oauth() && (self.ews_app_only || !self.ews_token_usable) {
            return Err(if self.ews_token_usable {
                Skip::NotProbed("app-only tokens reach mailboxes only by impersonating them: see ews.impersonation")
            } else {
                Skip::Token {
                    api: MailApi::Ews,
                    why: "no usable EWS token".into(),
                }
            });
        }
        let Some(credentials) = &self.ews_credentials else {
            return Err(Skip::NotProbed("no credentials given: discovery only"));
        };
        let Some(url) = url else {
            let after = config
                .mailboxes
                .first()
                .map(|m| StepKind::Autodiscover.id(m))
                .unwrap_or_else(|| StepKind::Input.as_str().into());
            return Err(Skip::Discovery {
                after,
                why: "no EWS URL is known",
            });
        };
        let reach = self.reach_of(url, None).await;
        if let Some(skip) = ews_blocked(self.ews_credentials.as_ref(), reach.as_ref().map(|r| &r.outcome)) {
            return Err(skip);
        }
        let Ok(u) = Url::parse(url) else {
            return Err(Skip::Address("the EWS URL is not a URL"));
        };
        Ok((credentials, u, reach))
    }

    fn limiter(&self, host: &str) -> Arc<Limiter> {
        let mut map = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(host.to_string())
            .or_insert_with(|| Arc::new(Limiter::new(self.config.concurrency.max(1))))
            .clone()
    }

    /// One mailbox's pipeline.
    async fn mailbox(&self, index: usize, mailbox: &str) -> MailboxOutcome {
        let mut out = MailboxOutcome::new(index, mailbox);
        let config = self.config;
        let domain = self.org.input.domain_of(mailbox).map(str::to_string);
        let builder = |probe: StepKind, title: String| StepBuilder::new(probe, Some(mailbox), Some(mailbox), title);

        let ad_step = builder(StepKind::Autodiscover, format!("Autodiscover for {mailbox}"));
        let Some(domain) = domain else {
            let invalid = Skip::Address("not a valid address");
            out.push(ad_step.skipped(&invalid));
            let imp = builder(StepKind::EwsImpersonation, format!("Impersonate {mailbox} over EWS"));
            out.push(imp.skipped(&invalid));
            if config.api.graph() {
                let g = builder(
                    StepKind::GraphMailbox,
                    format!("Read {mailbox} through Microsoft Graph"),
                );
                out.push(g.skipped(&invalid));
            }
            return out;
        };
        if self.net.remaining().is_zero() {
            return MailboxOutcome::unchecked(index, mailbox);
        }
        self.discover(&mut out, ad_step, &domain).await;

        // EWS and Graph, side by side.
        let tenant_blocked = self.tenant_blocked(&domain);
        let (imp, graph) = tokio::join!(
            self.impersonation(
                mailbox,
                &mut out.ews.reach,
                out.discovery.ews_url.as_deref(),
                // The internal URL counts only where autodiscover chose the URL.
                out.discovery
                    .autodiscover
                    .as_ref()
                    .filter(|_| config.endpoints.ews_url.is_none())
                    .and_then(|a| a.internal_ews_url.as_deref()),
                out.discovery
                    .autodiscover
                    .as_ref()
                    .and_then(|a| a.primary_smtp_address.as_deref()),
                tenant_blocked.as_deref()
            ),
            self.graph(mailbox, tenant_blocked.as_deref())
        );
        let (imp_outcome, imp_step) = imp;
        out.push(imp_step);
        out.ews.impersonation = imp_outcome;
        if let Some((w, w_step)) = self.write_test(out.ews.impersonation.as_ref()).await {
            out.push(w_step);
            out.ews.write = Some(w);
        }
        if let Some((g_outcome, g_step)) = graph {
            out.push(g_step);
            if self.config.api.graph() {
                out.graph = g_outcome;
            } else {
                out.graph_readiness = g_outcome;
            }
        }

        self.identity(&mut out, &domain);
        self.trim_evidence(out)
    }

    /// `autodiscover` for the mailbox (unless its domain failed in DNS), and
    /// the EWS URL it is checked against: `--ews-url`, else autodiscover's.
    async fn discover(&self, out: &mut MailboxOutcome, step: StepBuilder, domain: &str) {
        let dns = self.org.dns_for(domain);
        if let Some(d) = dns.filter(|d| d.domain_not_found() || d.servers_failed()) {
            let why = if d.domain_not_found() {
                "the domain does not exist in DNS"
            } else {
                "the DNS servers did not answer"
            };
            out.push(step.skipped(&Skip::Dns {
                domain: domain.to_string(),
                why,
            }));
            return;
        }
        let (o, s) = autodiscover::run(&self.net, &self.settings, &out.mailbox, domain, dns).await;
        let skipped = s.skipped_because.is_some();
        out.push(s);
        if !skipped {
            out.discovery.ews_url = self
                .config
                .endpoints
                .ews_url
                .as_ref()
                .map(Url::to_string)
                .or_else(|| o.ews_url.clone());
            out.discovery.autodiscover = Some(o);
        }
    }

    /// `identity`: the address against what autodiscover, EWS and Graph said, and the tenants.
    fn identity(&self, out: &mut MailboxOutcome, domain: &str) {
        let tenants = identity::Tenants {
            mailbox: self
                .org
                .realm_for(domain)
                .and_then(|r| r.tenant_id().map(str::to_string)),
            token: self.org.token_tenant.clone(),
        };
        let (o, s) = identity::run(
            &out.mailbox,
            self.config.service_account_smtp.as_deref(),
            out.discovery.autodiscover.as_ref(),
            out.ews.impersonation.as_ref(),
            out.graph.as_ref().and_then(|g| g.user.as_ref()),
            &tenants,
        );
        out.push(s);
        out.identity = Some(o);
    }

    /// HTTP evidence is kept for every step that did not pass, and for the
    /// first mailboxes' passing steps; a bulk run does not carry the rest.
    fn trim_evidence(&self, mut out: MailboxOutcome) -> MailboxOutcome {
        if out.index >= EVIDENCE_MAILBOXES {
            for s in out.record.steps.iter_mut().filter(|s| s.status == StepStatus::Pass) {
                if !s.evidence.is_empty() {
                    s.evidence.clear();
                    out.record.evidence_dropped += 1;
                }
            }
        }
        out
    }

    async fn impersonation(
        &self,
        mailbox: &str,
        reach_slot: &mut Option<Arc<Reached>>,
        url: Option<&str>,
        internal: Option<&str>,
        primary: Option<&str>,
        tenant_blocked: Option<&str>,
    ) -> (Option<ImpersonationOutcome>, Step) {
        let step = StepBuilder::new(
            StepKind::EwsImpersonation,
            Some(mailbox),
            Some(mailbox),
            format!("Impersonate {mailbox} over EWS"),
        );
        let gate = self
            .impersonation_gate(mailbox, reach_slot, url, internal, tenant_blocked)
            .await;
        let (credentials, u, limiter) = match gate {
            Ok(ready) => ready,
            Err(skip) => return (None, step.skipped(&skip)),
        };
        let config = self.config;
        let plan = config.connecting_sid.plan(mailbox, primary);
        let (o, s) = ews::impersonate(&self.net, &limiter, &u, credentials, mailbox, plan, &config.folders).await;
        (Some(o), s)
    }

    /// Whether `ews.impersonation` can run for `mailbox`: what it is called
    /// with, where, and the EWS server's shared budget. The EWS URL is
    /// reached (and the service account signs in) once per URL, whoever
    /// needs it first; later mailboxes share the answer.
    async fn impersonation_gate(
        &self,
        mailbox: &str,
        reach_slot: &mut Option<Arc<Reached>>,
        url: Option<&str>,
        internal: Option<&str>,
        tenant_blocked: Option<&str>,
    ) -> Result<(&Credentials, Url, Arc<Limiter>), Skip> {
        let config = self.config;
        if !config.api.ews() {
            return Err(Skip::NotProbed("EWS is not probed (--api graph)"));
        }
        if let Some(u) = url {
            *reach_slot = self.reach_of(u, internal).await;
        }
        if url.is_some() && self.ews_credentials.is_some() {
            self.auth_with(url).await;
        }
        let Some(credentials) = &self.ews_credentials else {
            if config.auth.is_oauth() {
                return Err(Skip::Token {
                    api: MailApi::Ews,
                    why: "no usable EWS token".into(),
                });
            }
            return Err(Skip::NotProbed("no credentials given: discovery only"));
        };
        if let Some(why) = tenant_blocked {
            return Err(Skip::Token {
                api: MailApi::Ews,
                why: why.into(),
            });
        }
        let after = StepKind::Autodiscover.id(mailbox);
        let Some(url) = url else {
            return Err(Skip::Discovery {
                after,
                why: "no EWS URL for this mailbox",
            });
        };
        if let Some(skip) = ews_blocked(Some(credentials), reach_slot.as_ref().map(|r| &r.outcome)) {
            return Err(skip);
        }
        let auth = self.auth_with(Some(url)).await;
        // App-only tokens skip ews.auth: a usable token stands for it.
        let auth_ok = auth.outcome.as_ref().is_some_and(AuthOutcome::credentials_accepted)
            || (self.ews_app_only && self.ews_token_usable);
        if !auth_ok {
            return Err(Skip::SignIn(if auth.outcome.is_some() {
                "the service account could not sign in"
            } else {
                "the service account was not checked"
            }));
        }
        let Ok(u) = Url::parse(url) else {
            return Err(Skip::Discovery {
                after,
                why: "the EWS URL is not a URL",
            });
        };
        if self.net.remaining().is_zero() {
            return Err(Skip::Deadline);
        }
        let host = host_of(url);
        if host.is_empty() {
            return Err(Skip::Discovery {
                after,
                why: "the EWS URL has no host",
            });
        }
        Ok((credentials, u, self.limiter(&host)))
    }

    /// `--write-test`, once the mailbox could be impersonated.
    async fn write_test(&self, imp: Option<&ImpersonationOutcome>) -> Option<(ews::WriteOutcome, Step)> {
        if !self.config.write_test || self.net.remaining().is_zero() {
            return None;
        }
        let imp = imp.filter(|i| matches!(i.reply, Some(crate::protocol::ews::EwsReply::Success { .. })))?;
        let credentials = self.ews_credentials.as_ref()?;
        let url = Url::parse(&imp.url).ok()?;
        let limiter = self.limiter(&host_of(&imp.url));
        Some(ews::write_test(&self.net, &limiter, &url, credentials, &imp.mailbox, imp.form).await)
    }

    /// `graph.mailbox`: the product's Graph calls, or an EWS run's Graph
    /// readiness (the inbox with the same app; a failure is a warning).
    async fn graph(&self, mailbox: &str, tenant_blocked: Option<&str>) -> Option<(Option<GraphOutcome>, Step)> {
        let readiness = !self.config.api.graph() && self.config.graph_readiness;
        if !self.config.api.graph() && !readiness {
            return None;
        }
        let title = if readiness {
            format!("Read {mailbox} through Microsoft Graph (ready for Graph?)")
        } else {
            format!("Read {mailbox} through Microsoft Graph")
        };
        let step = StepBuilder::new(StepKind::GraphMailbox, Some(mailbox), Some(mailbox), title.clone());
        let token = if readiness {
            &self.readiness_token
        } else {
            &self.graph_token
        };
        let token = match self.graph_gate(token.as_ref(), tenant_blocked) {
            Ok(token) => token,
            Err(skip) => return Some((None, step.skipped(&skip))),
        };
        let required: &[GraphCallKind] = if readiness {
            &[GraphCallKind::Inbox]
        } else {
            &self.config.graph_calls
        };
        // One budget for the app's Graph calls (Graph throttles per app and tenant).
        let host = self.config.endpoints.graph_url.host_str().unwrap_or("graph");
        let limiter = self.limiter(host);
        let (o, s) = graph_probe::mailbox(
            &self.net,
            &limiter,
            &self.config.endpoints.graph_url,
            token,
            mailbox,
            required,
        )
        .await;
        let s = if readiness {
            Step {
                title,
                status: match s.status {
                    StepStatus::Fail => StepStatus::Warn,
                    other => other,
                },
                ..s
            }
        } else {
            s
        };
        Some((Some(o), s))
    }

    /// Whether `graph.mailbox` can run: the token it is called with.
    fn graph_gate<'t>(&self, token: Option<&'t Secret>, tenant_blocked: Option<&str>) -> Result<&'t Secret, Skip> {
        let Some(token) = token else {
            return Err(Skip::Token {
                api: MailApi::Graph,
                why: "no usable Graph token".into(),
            });
        };
        if let Some(why) = tenant_blocked {
            return Err(Skip::Token {
                api: MailApi::Graph,
                why: why.into(),
            });
        }
        if self.net.remaining().is_zero() {
            return Err(Skip::Deadline);
        }
        Ok(token)
    }

    /// The shared steps that ran during the stream, and the throttling seen.
    pub async fn finish(&self) -> RunEnd {
        let auth = self.auth_with(None).await;
        let cells: Vec<Arc<OnceCell<Arc<Reached>>>> = {
            let map = self.reach.lock().unwrap_or_else(|e| e.into_inner());
            map.values().cloned().collect()
        };
        let reached = cells.iter().filter_map(|c| c.get().cloned()).collect();
        let mut throttling: Vec<crate::report::Throttling> = {
            let map = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
            map.iter()
                .map(|(host, l)| (host.clone(), l.pressure()))
                .filter(|(_, (pushed_back, _))| *pushed_back > 0)
                .map(|(host, (pushed_back, smallest_window))| crate::report::Throttling {
                    host,
                    pushed_back,
                    smallest_window,
                })
                .collect()
        };
        throttling.sort_by(|a, b| a.host.cmp(&b.host));
        RunEnd {
            duration_ms: crate::net::http::ms(self.began.elapsed()),
            reached,
            auth,
            throttling,
        }
    }
}
