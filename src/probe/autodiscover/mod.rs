//! `autodiscover`: the EWS URL of each mailbox and how it was found.
//!
//! Candidates, in Microsoft's order: a URL the user named, Autodiscover v2
//! (Exchange Online), `https://DOMAIN/autodiscover/...`, `https://autodiscover.DOMAIN/...`,
//! the plain-HTTP redirect host, and SRV. They run concurrently and the answer
//! is taken in that order. A higher-precedence candidate still silent when a
//! lower one has answered gets a grace period, then is abandoned: an
//! unreachable host must not add its whole timeout to the run. Address
//! redirects restart discovery for the new address, one level at a time.

mod candidates;
mod endpoint;
mod failure;
pub mod model;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use url::Url;

pub use endpoint::{different_domain, is_autodiscover_path};
use endpoint::{EndpointResult, UrlTrail};
pub use failure::{describe_failure, trust_suggestion};
pub use model::*;

use super::dns::DnsOutcome;
use super::{StepBuilder, StepKind};
use crate::config::Credentials;
use crate::net::Net;
use crate::protocol::address;
use crate::report::{Exchange, Step, StepStatus};

pub const MAX_REDIRECTS: u32 = 10;
/// Longest EWS or redirect URL taken from an answer (browsers and IIS
/// agree on a few KB; hyper refuses URIs past 64 KB with a confusing error).
pub const MAX_URL_LEN: usize = 2048;

/// Candidate labels in precedence order.
pub const CANDIDATE_ORDER: &[&str] = &[
    "autodiscover-url",
    "v2",
    "domain",
    "autodiscover-host",
    "http-redirect",
    "srv",
];

#[derive(Debug, Clone)]
pub struct Found {
    pub ews_url: String,
    /// The internal EWS URL autodiscover also gave, when it differs.
    pub internal_ews_url: Option<String>,
    pub method: Method,
    pub url: String,
    pub candidate: String,
    pub primary: Option<String>,
    pub display_name: Option<String>,
    /// The answer was given to a request that carried the organization's
    /// credentials (so it came from the organization's own server).
    pub authenticated: bool,
    /// The host that gave the answer is one allowed from the start (or v2).
    pub answered_by_allowed: bool,
}

#[derive(Debug, Clone)]
pub enum Decision {
    Found(Found),
    RedirectAddress { to: String, from_url: String },
    Fail(AutodiscoverFailure),
}

/// An endpoint that answered a domain's first mailbox directly (no hop,
/// trusted): later mailboxes of the domain ask it first, with credentials on
/// the first request when it wanted them.
#[derive(Debug, Clone)]
pub struct Remembered {
    pub url: Url,
    pub candidate: String,
    pub wants_credentials: bool,
}

/// What each domain's first discovery taught (shared by a run's mailboxes).
/// The first mailbox of a domain discovers alone; the others wait for it, so
/// a silent candidate costs one grace period per domain, not per mailbox.
#[derive(Debug, Default)]
pub struct DomainMemo {
    domains: Mutex<std::collections::HashMap<String, DomainGate>>,
}

/// `None` until the domain's first discovery ends; then what it taught
/// (`Some(None)`: nothing reusable).
type DomainGate = Arc<tokio::sync::Mutex<Option<Option<Remembered>>>>;

impl DomainMemo {
    fn gate(&self, domain: &str) -> DomainGate {
        let mut map = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(domain.to_ascii_lowercase()).or_default().clone()
    }
}

/// Settings of the probe that do not change per mailbox.
#[derive(Debug, Clone)]
pub struct AutodiscoverSettings {
    pub credentials: Option<Credentials>,
    pub v2_host: String,
    pub user_url: Option<Url>,
    /// `--trust-domain`: crossings into these are followed with credentials.
    pub trust_domains: Vec<String>,
    /// Whether this run holds any credential (password, token, app secret).
    /// Without one an untrusted answer endangers nothing and is used for
    /// discovery, with a warning that a credentialed run would stop there.
    pub credentials_in_play: bool,
    /// How long a silent higher-precedence candidate is awaited once a lower one answered.
    pub grace: Duration,
    /// Per-domain endpoints learned during this run.
    pub memo: Arc<DomainMemo>,
}

impl AutodiscoverSettings {
    pub fn grace_for(timeout: Duration) -> Duration {
        (timeout / 5).min(Duration::from_secs(2))
    }
}

/// One mailbox's discovery: the logs every candidate writes to.
#[derive(Debug)]
pub struct Discovery<'a> {
    net: &'a Net,
    credentials: Option<Credentials>,
    /// Send Basic credentials on the first request (a remembered endpoint that wants them).
    preemptive: std::sync::atomic::AtomicBool,
    settings: &'a AutodiscoverSettings,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    evidence: Arc<Mutex<Vec<Exchange>>>,
}

struct GroupOutcome {
    decision: Option<Decision>,
    trail: UrlTrail,
}

impl GroupOutcome {
    /// A decision reached on a path that left the trusted hosts, not
    /// confirmed by an authenticated answer of the organization's server:
    /// used only when no trusted candidate decides.
    fn tainted(&self, inherited: bool) -> bool {
        let untrusted = inherited || self.trail.untrusted().is_some();
        match &self.decision {
            None => false,
            Some(Decision::Found(f)) => (untrusted || !f.answered_by_allowed) && !f.authenticated,
            Some(_) => untrusted,
        }
    }
}

/// What one level of discovery (one address) came to.
struct LevelOutcome {
    decision: Decision,
    trail: UrlTrail,
    /// The decision is usable only without credentials.
    tainted: bool,
    /// Untrusted answers set aside for a trusted one.
    set_aside: Vec<UntrustedAnswer>,
}

#[derive(Debug, Clone)]
enum Candidate {
    Endpoints {
        label: &'static str,
        urls: Vec<Url>,
    },
    V2 {
        url: Url,
    },
    HttpRedirect {
        domain: String,
    },
    Srv {
        domain: String,
        known: Option<Vec<crate::net::dns::SrvTarget>>,
    },
}

impl Candidate {
    fn label(&self) -> &'static str {
        match self {
            Candidate::Endpoints { label, .. } => label,
            Candidate::V2 { .. } => "v2",
            Candidate::HttpRedirect { .. } => "http-redirect",
            Candidate::Srv { .. } => "srv",
        }
    }
}

fn endpoints(host: &str) -> Vec<Url> {
    ["svc", "xml"]
        .iter()
        .filter_map(|ext| Url::parse(&format!("https://{host}/autodiscover/autodiscover.{ext}")).ok())
        .collect()
}

impl<'a> Discovery<'a> {
    pub fn new(net: &'a Net, settings: &'a AutodiscoverSettings) -> Self {
        Discovery {
            net,
            credentials: settings.credentials.clone(),
            preemptive: std::sync::atomic::AtomicBool::new(false),
            settings,
            attempts: Arc::default(),
            evidence: Arc::default(),
        }
    }

    fn log_attempt(&self, candidate: &str, address: &str, method: Method, url: &str, result: AttemptResult) {
        tracing::debug!(candidate, url, ?result, "autodiscover attempt");
        if let Ok(mut a) = self.attempts.lock() {
            a.push(Attempt {
                candidate: candidate.to_string(),
                address: address.to_string(),
                method,
                url: url.to_string(),
                result,
            });
        }
    }

    /// Once `winner` decided, attempts of lower-precedence candidates for this
    /// address were speculative: whether they finished is a race, and they did
    /// not shape the answer. Their exchanges stay in the evidence.
    fn discard_speculative(&self, address: &str, winner: &str) {
        let rank = |c: &str| CANDIDATE_ORDER.iter().position(|x| *x == c).unwrap_or(usize::MAX);
        let limit = rank(winner);
        if let Ok(mut a) = self.attempts.lock() {
            a.retain(|at| !at.address.eq_ignore_ascii_case(address) || rank(&at.candidate) <= limit);
        }
    }

    fn log_exchange(&self, exchange: Exchange) {
        if let Ok(mut e) = self.evidence.lock() {
            e.push(exchange);
        }
    }

    fn candidates(&self, domain: &str, dns: Option<&DnsOutcome>, first_level: bool) -> Vec<Candidate> {
        let mut list = vec![];
        if first_level {
            if let Some(u) = &self.settings.user_url {
                list.push(Candidate::Endpoints {
                    label: "autodiscover-url",
                    urls: vec![u.clone()],
                });
            }
        }
        if dns.is_some_and(|d| d.exchange_online) {
            if let Ok(url) = Url::parse(&format!("https://{}", self.settings.v2_host)) {
                list.push(Candidate::V2 { url });
            }
        }
        list.push(Candidate::Endpoints {
            label: "domain",
            urls: endpoints(domain),
        });
        list.push(Candidate::Endpoints {
            label: "autodiscover-host",
            urls: endpoints(&format!("autodiscover.{domain}")),
        });
        list.push(Candidate::HttpRedirect {
            domain: domain.to_string(),
        });
        list.push(Candidate::Srv {
            domain: domain.to_string(),
            known: dns.and_then(|d| d.srv.answer().cloned()),
        });
        list
    }

    async fn run_candidate(&self, candidate: Candidate, address: String, hops_before: u32) -> GroupOutcome {
        let mut trail = UrlTrail {
            hops_before,
            ..UrlTrail::default()
        };
        let label = candidate.label();
        let decision = match candidate {
            Candidate::Endpoints { urls, .. } => {
                let mut decision = None;
                for url in urls {
                    match self.query(label, &address, url, &mut trail).await {
                        EndpointResult::Decided(d) => {
                            decision = Some(*d);
                            break;
                        }
                        EndpointResult::Continue { host_failed: true } => break,
                        EndpointResult::Continue { host_failed: false } => {}
                    }
                }
                decision
            }
            Candidate::V2 { url } => self.v2(&address, url).await,
            Candidate::HttpRedirect { domain } => self.http_redirect(&address, &domain, &mut trail).await,
            Candidate::Srv { domain, known } => self.srv(&address, &domain, known, &mut trail).await,
        };
        GroupOutcome { decision, trail }
    }

    /// Run one level's candidates concurrently; decide in precedence order.
    /// Decisions reached through an untrusted hop count only when no trusted
    /// candidate decides.
    async fn level(
        &self,
        address: &str,
        domain: &str,
        dns: Option<&DnsOutcome>,
        first_level: bool,
        hops_before: u32,
        inherited_taint: bool,
    ) -> Option<LevelOutcome> {
        let candidates = self.candidates(domain, dns, first_level);
        let labels: Vec<&'static str> = candidates.iter().map(Candidate::label).collect();
        let n = candidates.len();
        let mut futures: FuturesUnordered<BoxFuture<'_, (usize, GroupOutcome)>> = candidates
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let address = address.to_string();
                async move { (i, self.run_candidate(c, address, hops_before).await) }.boxed()
            })
            .collect();
        let mut results: Vec<Option<GroupOutcome>> = (0..n).map(|_| None).collect();
        let mut grace_until: Option<tokio::time::Instant> = None;
        let trusted = |r: &GroupOutcome| r.decision.is_some() && !r.tainted(inherited_taint);
        let decided = |r: &GroupOutcome| r.decision.is_some();
        // With credentials at stake an untrusted answer must not cut a
        // trusted candidate short: only a usable answer starts the grace period.
        let credentials = self.settings.credentials_in_play;
        let usable = |r: &GroupOutcome| if credentials { trusted(r) } else { decided(r) };
        loop {
            // The first candidate still running or trusted-decided.
            let first_open = (0..n).find(|&i| results[i].as_ref().is_none_or(trusted));
            let chosen = match first_open {
                Some(p) if results[p].is_some() => Some(p),
                Some(_) => None,
                // Every candidate finished without a trusted decision.
                None => match (0..n).find(|&i| results[i].as_ref().is_some_and(decided)) {
                    Some(j) => Some(j),
                    None => return None,
                },
            };
            if let Some(p) = chosen {
                return self.take_decision(address, &labels, &mut results, p, inherited_taint);
            }
            let p = first_open?;
            if grace_until.is_none() && (p + 1..n).any(|j| results[j].as_ref().is_some_and(usable)) {
                grace_until = Some(tokio::time::Instant::now() + self.settings.grace);
            }
            let sleep = async {
                match grace_until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => futures::future::pending::<()>().await,
                }
            };
            tokio::select! {
                next = futures.next() => match next {
                    Some((i, r)) => results[i] = Some(r),
                    None => return None,
                },
                _ = sleep => {
                    // Abandon the silent ones; the best decision so far wins.
                    let j = (0..n)
                        .find(|&j| results[j].as_ref().is_some_and(trusted))
                        .or_else(|| (0..n).find(|&j| results[j].as_ref().is_some_and(usable)))?;
                    for (i, label) in labels.iter().enumerate() {
                        if results[i].is_none() && (i < j || !results[j].as_ref().is_some_and(trusted)) {
                            self.log_attempt(label, address, Method::Pox, "", AttemptResult::Abandoned {
                                grace_ms: u64::try_from(self.settings.grace.as_millis()).unwrap_or(u64::MAX),
                            });
                        }
                    }
                    return self.take_decision(address, &labels, &mut results, j, inherited_taint);
                }
            }
        }
    }

    fn take_decision(
        &self,
        address: &str,
        labels: &[&'static str],
        results: &mut [Option<GroupOutcome>],
        chosen: usize,
        inherited_taint: bool,
    ) -> Option<LevelOutcome> {
        let r = results.get_mut(chosen)?.take()?;
        let tainted = r.tainted(inherited_taint);
        // Untrusted answers of higher precedence, set aside for this one.
        let set_aside = if tainted {
            vec![]
        } else {
            results[..chosen]
                .iter()
                .flatten()
                .filter(|o| o.tainted(inherited_taint))
                .filter_map(|o| match (&o.decision, o.trail.untrusted()) {
                    (Some(Decision::Found(f)), Some(c)) => Some(UntrustedAnswer {
                        ews_url: f.ews_url.clone(),
                        crossing: c.clone(),
                    }),
                    _ => None,
                })
                .collect()
        };
        self.discard_speculative(address, labels[chosen]);
        Some(LevelOutcome {
            decision: r.decision?,
            trail: r.trail,
            tainted,
            set_aside,
        })
    }

    /// The first level, through the domain's memo: the remembered endpoint
    /// when there is one (falling back to every candidate if it does not
    /// decide), else the full race — alone, if this mailbox is the domain's first.
    async fn first_level(
        &self,
        address: &str,
        domain: &str,
        dns: Option<&DnsOutcome>,
        outcome: &mut AutodiscoverOutcome,
    ) -> Option<LevelOutcome> {
        let gate = self.settings.memo.gate(domain);
        let mut learned = gate.lock().await;
        if let Some(remembered) = learned.clone() {
            drop(learned);
            if let Some(r) = remembered {
                if let Some(level) = self.ask_remembered(address, &r).await {
                    outcome.reused = Some(r.url.to_string());
                    return Some(level);
                }
            }
            return self.level(address, domain, dns, true, 0, false).await;
        }
        // The domain's first mailbox: discover while the others wait.
        let level = self.level(address, domain, dns, true, 0, false).await;
        let remember = level.as_ref().and_then(|l| match &l.decision {
            Decision::Found(f) if !l.tainted && l.trail.hops.is_empty() && l.trail.crossings.is_empty() => {
                let url = Url::parse(&f.url).ok()?;
                self.net
                    .is_base_allowed(url.host_str().unwrap_or(""))
                    .then(|| Remembered {
                        url,
                        candidate: f.candidate.clone(),
                        wants_credentials: f.authenticated,
                    })
            }
            _ => None,
        });
        *learned = Some(remember);
        level
    }

    /// Ask a remembered endpoint; `None` when it did not decide (fall back).
    async fn ask_remembered(&self, address: &str, r: &Remembered) -> Option<LevelOutcome> {
        let preemptive = r.wants_credentials
            && self.credentials.as_ref().is_some_and(Credentials::signs_in_the_account)
            && self.net.credential_policy(&r.url).is_none()
            && self.net.is_base_allowed(r.url.host_str().unwrap_or(""));
        self.preemptive.store(preemptive, std::sync::atomic::Ordering::Relaxed);
        let mut trail = UrlTrail::default();
        let result = self.query(&r.candidate, address, r.url.clone(), &mut trail).await;
        self.preemptive.store(false, std::sync::atomic::Ordering::Relaxed);
        match result {
            EndpointResult::Decided(d) => {
                let probe = GroupOutcome {
                    decision: Some(*d),
                    trail,
                };
                let tainted = probe.tainted(false);
                Some(LevelOutcome {
                    decision: probe.decision?,
                    trail: probe.trail,
                    tainted,
                    set_aside: vec![],
                })
            }
            EndpointResult::Continue { .. } => None,
        }
    }

    /// The whole discovery for one mailbox.
    pub async fn run(&self, mailbox: &str, domain: &str, dns: Option<&DnsOutcome>) -> AutodiscoverOutcome {
        let mut outcome = AutodiscoverOutcome::new(mailbox);
        let mut walk = Walk {
            address: mailbox.to_string(),
            domain: domain.to_string(),
            visited: vec![mailbox.to_ascii_lowercase()],
            hops: 0,
            tainted: false,
        };
        let mut first = true;
        let failure = loop {
            let dns_here = if walk.domain.eq_ignore_ascii_case(domain) {
                dns
            } else {
                None
            };
            let decided = if first {
                self.first_level(&walk.address, &walk.domain, dns_here, &mut outcome)
                    .await
            } else {
                self.level(&walk.address, &walk.domain, dns_here, first, walk.hops, walk.tainted)
                    .await
            };
            first = false;
            let Some(level) = decided else {
                break Some(self.rank_failure(&walk.address));
            };
            let LevelOutcome {
                decision,
                trail,
                tainted,
                set_aside,
            } = level;
            walk.hops = trail.total();
            outcome.redirects.extend(trail.hops);
            outcome.crossings.extend(trail.crossings);
            outcome.untrusted_alternatives.extend(set_aside);
            walk.tainted = tainted;
            match decision {
                Decision::Found(found) => break self.found(&mut outcome, found, walk.tainted),
                Decision::Fail(f) => break Some(f),
                Decision::RedirectAddress { to, from_url } => {
                    if let Some(f) = self.redirect_address(&mut walk, &mut outcome, to, from_url) {
                        break Some(f);
                    }
                }
            }
        };
        outcome.resolved_address = walk.address;
        outcome.failure = failure;
        outcome.attempts = self.attempts_in_order(&walk.visited);
        outcome
    }

    /// An EWS URL found: used, unless it came across an untrusted hop while
    /// credentials are in play (then that crossing is the failure).
    fn found(&self, outcome: &mut AutodiscoverOutcome, found: Found, tainted: bool) -> Option<AutodiscoverFailure> {
        outcome.method = Some(found.method);
        outcome.found_at = Some(found.url.clone());
        outcome.candidate = Some(found.candidate);
        if tainted && self.settings.credentials_in_play {
            let crossing = outcome
                .crossings
                .iter()
                .find(|c| c.trusted_by.is_none())
                .cloned()
                .unwrap_or_else(|| Crossing {
                    hop: HopKind::RedirectUrl,
                    from: found.url.clone(),
                    to: found.ews_url.clone(),
                    host: String::new(),
                    trusted_by: None,
                });
            return Some(AutodiscoverFailure::CrossDomainRedirect {
                ews_url: found.ews_url,
                crossing,
            });
        }
        if tainted {
            outcome.untrusted_used = outcome.crossings.iter().find(|c| c.trusted_by.is_none()).cloned();
        }
        outcome.ews_url = Some(found.ews_url);
        outcome.internal_ews_url = found.internal_ews_url;
        outcome.primary_smtp_address = found.primary;
        outcome.display_name = found.display_name;
        None
    }

    /// A redirectAddr answer: the walk goes on with the new address, unless
    /// it loops, goes too far or is not an address (then that failure).
    fn redirect_address(
        &self,
        walk: &mut Walk,
        outcome: &mut AutodiscoverOutcome,
        to: String,
        from_url: String,
    ) -> Option<AutodiscoverFailure> {
        if walk.visited.contains(&to.to_ascii_lowercase()) {
            return Some(AutodiscoverFailure::RedirectLoop { repeated: to });
        }
        if walk.hops >= MAX_REDIRECTS {
            return Some(AutodiscoverFailure::TooManyRedirects { limit: MAX_REDIRECTS });
        }
        let parsed = match address::parse(&to) {
            Ok(a) => a,
            Err(reason) => {
                return Some(AutodiscoverFailure::InvalidResponse {
                    url: from_url,
                    reason: format!("redirect to {to:?}, which is not an address: {reason}"),
                })
            }
        };
        walk.hops += 1;
        let crossing = (!parsed.domain.eq_ignore_ascii_case(&walk.domain))
            .then(|| self.crossing(HopKind::RedirectAddress, &walk.address, &to, &parsed.domain))
            .flatten();
        if let Some(c) = crossing {
            walk.tainted |= c.trusted_by.is_none();
            outcome.crossings.push(c);
        }
        outcome.redirects.push(RedirectHop {
            kind: RedirectKind::Address,
            from: walk.address.clone(),
            to: to.clone(),
            cross_domain: different_domain(&walk.domain, &parsed.domain),
        });
        walk.visited.push(to.to_ascii_lowercase());
        walk.domain = parsed.domain;
        walk.address = to;
        None
    }

    /// Every attempt, by the address it was for (in the walk's order), then
    /// candidate precedence: concurrent candidates finish in any order.
    fn attempts_in_order(&self, visited: &[String]) -> Vec<Attempt> {
        let mut attempts = self.attempts.lock().map(|a| a.clone()).unwrap_or_default();
        let level = |a: &Attempt| {
            visited
                .iter()
                .position(|v| v.eq_ignore_ascii_case(&a.address))
                .unwrap_or(usize::MAX)
        };
        attempts.sort_by_key(|a| {
            (
                level(a),
                CANDIDATE_ORDER
                    .iter()
                    .position(|c| *c == a.candidate)
                    .unwrap_or(usize::MAX),
            )
        });
        attempts
    }

    pub fn take_evidence(&self) -> Vec<Exchange> {
        self.evidence
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }
}

/// Run the probe for one mailbox and build its step.
pub async fn run(
    net: &Net,
    settings: &AutodiscoverSettings,
    mailbox: &str,
    domain: &str,
    dns: Option<&DnsOutcome>,
) -> (AutodiscoverOutcome, Step) {
    let step = StepBuilder::new(
        StepKind::Autodiscover,
        Some(mailbox),
        Some(mailbox),
        format!("Autodiscover for {mailbox}"),
    );
    let discovery = Discovery::new(net, settings);
    let outcome = discovery.run(mailbox, domain, dns).await;
    // Only a trusted answer's EWS host joins the allowed set.
    if let Some(url) = outcome.ews_url.as_ref().filter(|_| outcome.untrusted_used.is_none()) {
        if let Ok(u) = Url::parse(url) {
            if let Some(h) = u.host_str() {
                net.allow_host(h);
            }
        }
    }
    let (status, detail) = match (&outcome.ews_url, &outcome.failure) {
        (Some(url), _) => found_detail(&outcome, url, settings),
        (None, Some(f)) => (StepStatus::Fail, describe_failure(f)),
        (None, None) => (StepStatus::Fail, "no EWS URL found".to_string()),
    };
    let step = step.finish(status, detail, &outcome, discovery.take_evidence());
    (outcome, step)
}

/// The step of a mailbox whose EWS URL was found: how it was found, the
/// redirects and crossings on the way, what was ignored; a warning when an
/// untrusted hop was used or set aside.
fn found_detail(outcome: &AutodiscoverOutcome, url: &str, settings: &AutodiscoverSettings) -> (StepStatus, String) {
    let mut d = format!(
        "EWS URL {url} via {} at {} (candidate {})",
        outcome.method.map(Method::as_str).unwrap_or("?"),
        outcome.found_at.as_deref().unwrap_or("?"),
        outcome.candidate.as_deref().unwrap_or("?"),
    );
    let addresses: Vec<&str> = std::iter::once(outcome.mailbox.as_str())
        .chain(
            outcome
                .redirects
                .iter()
                .filter(|h| h.kind == RedirectKind::Address)
                .map(|h| h.to.as_str()),
        )
        .collect();
    if addresses.len() > 1 {
        d.push_str(&format!("; address redirects {}", addresses.join(" → ")));
    }
    let url_hops = outcome
        .redirects
        .iter()
        .filter(|h| h.kind != RedirectKind::Address)
        .count();
    if url_hops > 0 {
        d.push_str(&format!("; {url_hops} URL redirect(s)"));
    }
    if let Some(p) = &outcome.primary_smtp_address {
        d.push_str(&format!("; primary SMTP address {p}"));
    }
    if outcome.reused.is_some() {
        d.push_str("; asked first where an earlier mailbox of this domain was answered");
    }
    if let Some(hop) = outcome.redirects.iter().find(|h| h.cross_domain) {
        d.push_str(&format!("; redirected to another domain ({} → {})", hop.from, hop.to));
    }
    for c in outcome.crossings.iter().filter(|c| c.trusted_by.is_some()) {
        d.push_str(&format!(
            "; {} followed with credentials: --trust-domain {}",
            c.describe(),
            c.trusted_by.as_deref().unwrap_or("")
        ));
    }
    if let Some(c) = &outcome.untrusted_used {
        d.push_str(&format!(
            "; reached through {}, not trusted with credentials (none were given)",
            c.describe()
        ));
    }
    for a in &outcome.untrusted_alternatives {
        d.push_str(&format!(
            "; ignored {} from {} (not trusted)",
            a.ews_url,
            a.crossing.describe()
        ));
    }
    let abandoned: Vec<&str> = outcome
        .attempts
        .iter()
        .filter(|a| matches!(a.result, AttemptResult::Abandoned { .. }))
        .map(|a| a.candidate.as_str())
        .collect();
    if !abandoned.is_empty() {
        d.push_str(&format!(
            "; no answer from candidate {} within {} ms of a later one answering: abandoned",
            abandoned.join(", "),
            settings.grace.as_millis()
        ));
    }
    let status = if outcome.untrusted_used.is_some() || !outcome.untrusted_alternatives.is_empty() {
        StepStatus::Warn
    } else {
        StepStatus::Pass
    };
    (status, d)
}

/// Where a mailbox's walk through redirectAddr hops stands.
struct Walk {
    address: String,
    domain: String,
    /// Addresses asked so far, lowercased (a second visit is a loop).
    visited: Vec<String>,
    hops: u32,
    /// Set once the path leaves the trusted hosts (an untrusted hop).
    tainted: bool,
}

impl AutodiscoverOutcome {
    fn new(mailbox: &str) -> AutodiscoverOutcome {
        AutodiscoverOutcome {
            mailbox: mailbox.to_string(),
            ews_url: None,
            internal_ews_url: None,
            method: None,
            found_at: None,
            candidate: None,
            primary_smtp_address: None,
            display_name: None,
            resolved_address: mailbox.to_string(),
            redirects: vec![],
            crossings: vec![],
            untrusted_alternatives: vec![],
            untrusted_used: None,
            reused: None,
            attempts: vec![],
            failure: None,
        }
    }
}
