//! The report engine: typed outcomes → findings (catalogue codes, root cause
//! first). Organization rules run once on the shared context; mailbox rules
//! run on each mailbox as it finishes; cross-mailbox facts are tallied and
//! written once at the end. No rule reads or removes another rule's findings.

pub mod advice;
pub use crate::catalogue;
mod code;
mod codes;
mod cross;
mod ews_rules;
mod oauth_rules;
mod readiness;
mod rules;

use std::collections::{BTreeMap, HashSet};

use crate::config::CheckConfig;
use crate::probe::plan::{Authed, MailboxOutcome, Org, Reached};
use crate::report::*;

pub use code::{Code, Stage};
pub use codes::reply_code;
pub use oauth_rules::{aadsts_code, graph_code};
pub use rules::{Affects, Raised};

/// A rule over the organization context.
pub type OrgRule = fn(&CheckConfig, &Org) -> Vec<Raised>;
/// A rule over one mailbox (with the organization context).
pub type MailboxRule = fn(&CheckConfig, &Org, &MailboxOutcome) -> Vec<Raised>;

pub const ORG_RULES: &[OrgRule] = &[rules::input, rules::dns, oauth_rules::cloud, oauth_rules::tokens];
pub const MAILBOX_RULES: &[MailboxRule] = &[
    rules::invalid_address,
    rules::autodiscover,
    ews_rules::impersonation,
    ews_rules::write,
    ews_rules::identity,
    oauth_rules::graph,
    oauth_rules::tenant,
    readiness::rule,
];

/// Orders findings: by severity, then the stage that failed first (root
/// cause first), then the mailbox's input position, code and detail. A total
/// order: the order rules run in cannot change a report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FindingKey {
    pub severity: Severity,
    pub stage: Stage,
    /// Findings about the organization (None) before those of one mailbox.
    pub mailbox: Option<usize>,
    pub code: Code,
    pub detail: String,
}

/// A finding with its place in the report.
#[derive(Debug, Clone)]
pub struct Keyed {
    pub key: FindingKey,
    pub finding: Finding,
}

fn finding_of(r: &Raised, accepted: bool, situation: &advice::Situation) -> Finding {
    let entry = r.code.entry();
    let remediation = advice::remediation(r.code, situation)
        .unwrap_or_else(|| entry.remediation.iter().map(|s| s.to_string()).collect());
    let remediation = advice::for_platform(remediation, situation.platform)
        .iter()
        .map(|step| advice::fill(step, situation))
        .collect();
    Finding {
        accepted,
        code: r.code.to_string(),
        severity: r.severity(),
        mailbox: r.mailbox.clone(),
        title: entry.title.to_string(),
        detail: r.detail.clone(),
        explanation: entry.explanation.to_string(),
        remediation,
        evidence_steps: r.evidence_steps.clone(),
        references: entry.references.iter().map(|s| s.to_string()).collect(),
    }
}

fn keyed(r: &Raised, index: Option<usize>, accepted: bool, situation: &advice::Situation) -> Keyed {
    Keyed {
        key: key_of(r, index),
        finding: finding_of(r, accepted, situation),
    }
}

fn key_of(r: &Raised, index: Option<usize>) -> FindingKey {
    FindingKey {
        severity: r.severity(),
        stage: r.stage,
        mailbox: index,
        code: r.code,
        detail: r.detail.clone(),
    }
}

pub fn status_of(worst: Option<Severity>) -> OverallStatus {
    match worst {
        Some(Severity::Critical) => OverallStatus::Fail,
        Some(Severity::Warning) => OverallStatus::Warn,
        _ => OverallStatus::Pass,
    }
}

/// One mailbox's result, ready for a sink.
#[derive(Debug)]
pub struct MailboxRecord {
    /// Position in the input.
    pub index: usize,
    pub result: MailboxResult,
    pub steps: Vec<Step>,
    /// The findings raised about this mailbox alone.
    pub findings: Vec<Keyed>,
}

/// Turns outcomes into findings as the run goes, keeping only counts.
#[derive(Debug)]
pub struct Diagnoser<'c> {
    config: &'c CheckConfig,
    org_rules: Vec<OrgRule>,
    mailbox_rules: Vec<MailboxRule>,
    /// Findings about the organization, carried by the mailboxes they affect.
    org_raised: Vec<Raised>,
    reach_seen: HashSet<String>,
    auth_seen: bool,
    cross: cross::CrossMailbox,
    counts: Counts,
    worst: Option<Severity>,
    evidence_dropped: usize,
    /// The facts remediation depends on, for findings about the organization.
    situation: advice::Situation,
}

impl<'c> Diagnoser<'c> {
    pub fn new(config: &'c CheckConfig) -> Self {
        Diagnoser::with_rules(config, ORG_RULES.to_vec(), MAILBOX_RULES.to_vec())
    }

    /// With the rules in another order (tests prove the order does not matter).
    pub fn with_rules(config: &'c CheckConfig, org_rules: Vec<OrgRule>, mailbox_rules: Vec<MailboxRule>) -> Self {
        Diagnoser {
            config,
            org_rules,
            mailbox_rules,
            org_raised: vec![],
            reach_seen: HashSet::new(),
            auth_seen: false,
            cross: Default::default(),
            counts: Counts {
                graph_readiness: readiness::judged(config).then(ReadinessCounts::default),
                ..Counts::default()
            },
            worst: None,
            evidence_dropped: 0,
            situation: advice::Situation::of(config, advice::Platform::Unknown),
        }
    }

    /// `--accept`ed: reported, not counted in a status.
    fn accepted(&self, code: Code) -> bool {
        self.config.accepted.iter().any(|a| a == code.as_str())
    }

    /// Counts findings toward the run's status (accepted codes aside).
    fn count(&mut self, found: &[Keyed]) {
        for k in found.iter().filter(|k| !k.finding.accepted) {
            self.worst = Some(self.worst.map_or(k.key.severity, |w| w.min(k.key.severity)));
        }
    }

    fn keyed(&self, r: &Raised, index: Option<usize>) -> Keyed {
        keyed(r, index, self.accepted(r.code), &self.situation)
    }

    fn note(&mut self, raised: Vec<Raised>) -> Vec<Keyed> {
        let out: Vec<Keyed> = raised.iter().map(|r| self.keyed(r, None)).collect();
        self.count(&out);
        self.org_raised.extend(raised);
        out
    }

    /// Findings about the organization context.
    pub fn org(&mut self, org: &Org) -> Vec<Keyed> {
        // OAuth tokens come from Entra ID: their mailboxes are on Exchange Online
        // (hybrid modern authentication aside), as are domains whose DNS says so.
        let online = self.config.auth.mode().is_oauth() || org.dns.iter().any(|d| d.exchange_online);
        if online {
            self.situation.platform = advice::Platform::ExchangeOnline;
        }
        let raised: Vec<Raised> = self.org_rules.iter().flat_map(|rule| rule(self.config, org)).collect();
        self.note(raised)
    }

    /// Findings of one EWS URL's reach, the first time it is seen.
    pub fn reach(&mut self, reached: &Reached) -> Option<Vec<Keyed>> {
        if !self.reach_seen.insert(reached.outcome.url.clone()) {
            return None;
        }
        Some(self.note(ews_rules::reach(
            self.config,
            &reached.outcome,
            reached.internal.as_ref(),
        )))
    }

    /// Findings of the service account's sign-in, the first time it is seen.
    pub fn auth(&mut self, authed: &Authed) -> Option<Vec<Keyed>> {
        if std::mem::replace(&mut self.auth_seen, true) {
            return None;
        }
        let raised = match &authed.outcome {
            Some(a) => ews_rules::auth(self.config, a, authed.reach_failed),
            None => vec![],
        };
        Some(self.note(raised))
    }

    fn carries(&self, org: &Org, m: &MailboxOutcome, r: &Raised) -> bool {
        match &r.affects {
            Affects::Mailbox | Affects::Nobody => false,
            Affects::All => true,
            Affects::Valid => org.invalid_reason(&m.mailbox).is_none(),
            Affects::Domain(d) => org.input.domain_of(&m.mailbox) == Some(d.as_str()),
            Affects::EwsUrl(u) => m.discovery.ews_url.as_deref() == Some(u.as_str()),
            Affects::HasEwsUrl => m.discovery.ews_url.is_some(),
        }
    }

    /// One mailbox: its findings, the codes it carries, its status.
    pub fn mailbox(&mut self, org: &Org, m: MailboxOutcome) -> MailboxRecord {
        let own: Vec<Raised> = self
            .mailbox_rules
            .iter()
            .flat_map(|rule| rule(self.config, org, &m))
            .collect();
        let mut carried: Vec<&Raised> = self.org_raised.iter().filter(|r| self.carries(org, &m, r)).collect();
        carried.extend(own.iter());
        let marks = self.cross.observe(self.config, org, &m, &carried);
        carried.extend(marks.iter());
        let mut keys: Vec<FindingKey> = carried.iter().map(|r| key_of(r, Some(m.index))).collect();
        keys.sort();
        let mut codes: Vec<String> = vec![];
        for k in &keys {
            if !codes.iter().any(|c| c == k.code.as_str()) {
                codes.push(k.code.to_string());
            }
        }
        let worst = keys.iter().find(|k| !self.accepted(k.code)).map(|k| k.severity);
        let status = status_of(worst);
        match status {
            OverallStatus::Pass => self.counts.pass += 1,
            OverallStatus::Warn => self.counts.warn += 1,
            OverallStatus::Fail => self.counts.fail += 1,
        }
        for c in &codes {
            *self.counts.by_code.entry(c.clone()).or_default() += 1;
        }
        // The mailbox's own platform decides its advice; only a mailbox with
        // findings of its own needs one (a bulk run has many without).
        let mut findings: Vec<Keyed> = if own.is_empty() {
            vec![]
        } else {
            let platform = if ews_rules::is_exchange_online(org, &m) {
                advice::Platform::ExchangeOnline
            } else if m.discovery.ews_url.is_some() {
                advice::Platform::ExchangeServer
            } else {
                self.situation.platform
            };
            let situation = advice::Situation {
                platform,
                mailbox: Some(m.mailbox.clone()),
                ..self.situation.clone()
            };
            own.iter()
                .map(|r| keyed(r, Some(m.index), self.accepted(r.code), &situation))
                .collect()
        };
        findings.sort_by(|a, b| a.key.cmp(&b.key));
        self.count(&findings);
        self.evidence_dropped += m.record.evidence_dropped;
        let graph_readiness = readiness::of(self.config, org, &m);
        if let (Some(r), Some(c)) = (&graph_readiness, self.counts.graph_readiness.as_mut()) {
            c.checked += 1;
            if r.ready {
                c.ready += 1;
            } else {
                *c.not_ready.entry(r.reason.clone()).or_default() += 1;
            }
        }
        let mut facts = BTreeMap::new();
        if let Some(a) = &m.discovery.autodiscover {
            if let Some(u) = &a.ews_url {
                facts.insert("ews_url".to_string(), u.clone());
            }
            if let Some(p) = &a.primary_smtp_address {
                facts.insert("primary_smtp_address".to_string(), p.clone());
            }
        }
        MailboxRecord {
            index: m.index,
            result: MailboxResult {
                address: m.mailbox,
                status,
                findings: codes,
                facts,
                graph_readiness,
            },
            steps: m.record.steps,
            findings,
        }
    }

    /// The findings drawn from several mailboxes, once all are in.
    pub fn finish(&mut self, org: &Org, total: usize) -> Vec<Keyed> {
        let cross = std::mem::take(&mut self.cross).finish(self.config, org, total);
        let out: Vec<Keyed> = cross.iter().map(|r| self.keyed(r, None)).collect();
        self.count(&out);
        out
    }

    /// The run was interrupted after `checked` of `total` mailboxes.
    pub fn interrupted(&mut self, checked: usize, total: usize) -> Vec<Keyed> {
        let r = Raised::org(
            crate::code!("run.interrupted"),
            Stage::Transport,
            Affects::Nobody,
            format!("the run was interrupted after {checked} of {total} mailboxes had a result; the others were not checked"),
            vec![],
        );
        let out = vec![self.keyed(&r, None)];
        self.count(&out);
        out
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The run's status: its worst finding.
    pub fn status(&self) -> OverallStatus {
        status_of(self.worst)
    }

    pub fn evidence_note(&self) -> Option<String> {
        (self.evidence_dropped > 0).then(|| {
            format!(
                "HTTP evidence is kept for every step that did not pass and for the first {} mailboxes; {} passing steps of later mailboxes carry none",
                crate::probe::plan::EVIDENCE_MAILBOXES,
                self.evidence_dropped
            )
        })
    }
}
