//! What the rendered formats (`human`, `html`, `nagios`) show of a run, kept
//! as the run goes. They show counts, each code's first few mailboxes and a
//! bounded set of step trees, so their memory does not grow with the mailbox
//! list beyond the trees they draw: a million mailboxes are a
//! million counts, not a million results.
//!
//! A [`Digest`] comes from a finished [`Report`] ([`Digest::of_report`], the
//! demo and the tests) or from a run's events ([`DigestSink`]); both give the
//! same picture, which `tests/it/streaming.rs` holds them to.

use std::collections::{BTreeMap, HashMap};
use std::io;

use super::model::*;
use super::sink::{Begin, ReportSink, Summary};
use crate::diagnose::{FindingKey, Keyed, MailboxRecord};

/// Above this many mailboxes a run is a bulk run: its rendered report is a
/// summary (counts, each code once with the mailboxes it affects).
pub const BULK: usize = 10;

/// Mailboxes a renderer names per code at most (then a count).
pub const NAMED_MAX: usize = 20;

/// How many mailboxes' step trees a digest of a bulk run keeps, the first
/// ones in input order among those with steps, by whether they passed (a
/// run of at most [`BULK`] mailboxes is kept whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    pub passing_trees: usize,
    pub other_trees: usize,
}

impl Keep {
    pub const ALL: Keep = Keep {
        passing_trees: usize::MAX,
        other_trees: usize::MAX,
    };
    pub const NO_TREES: Keep = Keep {
        passing_trees: 0,
        other_trees: 0,
    };
}

/// The mailboxes carrying one code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Affected {
    pub count: usize,
    /// The first [`NAMED_MAX`], in input order.
    pub first: Vec<String>,
}

/// Mailboxes by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
}

impl Tally {
    fn add(&mut self, status: OverallStatus) {
        match status {
            OverallStatus::Pass => self.pass += 1,
            OverallStatus::Warn => self.warn += 1,
            OverallStatus::Fail => self.fail += 1,
        }
    }
}

/// A report as the rendered formats see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// The report, cut down: `target.mailboxes` holds the first
    /// [`NAMED_MAX`] of the list; `mailboxes` and the mailbox steps those
    /// whose trees were kept (every mailbox when the run has at most
    /// [`BULK`]); in a bulk run `findings` holds the first finding (root
    /// cause first) of each code, severity, acceptance and whether it is
    /// about the organization, which is all a bulk rendering shows.
    pub report: Report,
    /// Mailboxes given.
    pub total: usize,
    /// Mailboxes with a result.
    pub checked: usize,
    pub tally: Tally,
    /// Per code, the mailboxes whose result carries it.
    pub affected: HashMap<String, Affected>,
    /// Findings per code in the whole run.
    pub findings_per_code: HashMap<String, usize>,
    /// Mailboxes with steps whose tree was not kept.
    pub dropped_passing_trees: usize,
    pub dropped_other_trees: usize,
}

impl Digest {
    /// Whether this is a bulk run (more than [`BULK`] mailboxes given).
    pub fn bulk(&self) -> bool {
        self.total > BULK
    }

    /// The digest of a whole report, every tree kept.
    pub fn of_report(report: &Report) -> Digest {
        let total = report.target.mailboxes.len();
        let mut tally = Tally::default();
        let mut affected: HashMap<String, Affected> = HashMap::new();
        for m in &report.mailboxes {
            tally.add(m.status);
            for code in &m.findings {
                let a = affected.entry(code.clone()).or_default();
                a.count += 1;
                if a.first.len() < NAMED_MAX {
                    a.first.push(m.address.clone());
                }
            }
        }
        let mut findings_per_code: HashMap<String, usize> = HashMap::new();
        for f in &report.findings {
            *findings_per_code.entry(f.code.clone()).or_default() += 1;
        }
        let bulk = total > BULK;
        let mut cut = report.clone_without_lists();
        cut.target.mailboxes = report.target.mailboxes.iter().take(NAMED_MAX).cloned().collect();
        cut.steps = report.steps.clone();
        // A bulk rendering draws the trees of mailboxes with steps only.
        let with_steps: std::collections::HashSet<&str> =
            report.steps.iter().filter_map(|s| s.mailbox.as_deref()).collect();
        cut.mailboxes = report
            .mailboxes
            .iter()
            .filter(|m| !bulk || with_steps.contains(m.address.as_str()))
            .cloned()
            .collect();
        cut.findings = if bulk {
            let mut seen = std::collections::HashSet::new();
            report
                .findings
                .iter()
                .filter(|f| seen.insert(Group::of(f)))
                .cloned()
                .collect()
        } else {
            report.findings.clone()
        };
        Digest {
            report: cut,
            total,
            checked: report.mailboxes.len(),
            tally,
            affected,
            findings_per_code,
            dropped_passing_trees: 0,
            dropped_other_trees: 0,
        }
    }
}

impl Report {
    /// The report's scalar parts, its lists empty.
    fn clone_without_lists(&self) -> Report {
        Report {
            schema_version: self.schema_version,
            tool: self.tool.clone(),
            started_at: self.started_at.clone(),
            duration_ms: self.duration_ms,
            target: Target {
                mailboxes: vec![],
                service_account: self.target.service_account.clone(),
                auth: self.target.auth.clone(),
                tenant: self.target.tenant.clone(),
                api: self.target.api.clone(),
            },
            insecure: self.insecure,
            status: self.status,
            steps: vec![],
            findings: vec![],
            mailboxes: vec![],
            throttling: self.throttling.clone(),
            evidence_note: self.evidence_note.clone(),
            counts: self.counts.clone(),
            interrupted: self.interrupted,
            accepted: self.accepted.clone(),
        }
    }
}

/// Findings a bulk rendering tells apart: the first of each group is shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Group {
    code: String,
    severity: Severity,
    accepted: bool,
    organization: bool,
}

impl Group {
    fn of(f: &Finding) -> Group {
        Group {
            code: f.code.clone(),
            severity: f.severity,
            accepted: f.accepted,
            organization: f.mailbox.is_none(),
        }
    }
}

/// A finding and its place: the report's order, then arrival (as a stable sort keeps it).
type Placed = ((FindingKey, u64), Finding);

/// Builds a [`Digest`] from a run's events, keeping what [`Keep`] says.
#[derive(Debug)]
pub struct DigestSink {
    keep: Keep,
    head: Option<Report>,
    total: usize,
    org_steps: Vec<Step>,
    reach_steps: Vec<Step>,
    auth_steps: Vec<Step>,
    /// Every finding (at most [`BULK`] mailboxes) or the first of each group.
    findings: Vec<Placed>,
    groups: HashMap<Group, usize>,
    arrived: u64,
    findings_per_code: HashMap<String, usize>,
    /// Results without a kept tree (at most [`BULK`] mailboxes only).
    results: BTreeMap<usize, MailboxResult>,
    passing_trees: BTreeMap<usize, (MailboxResult, Vec<Step>)>,
    other_trees: BTreeMap<usize, (MailboxResult, Vec<Step>)>,
    dropped_passing_trees: usize,
    dropped_other_trees: usize,
    checked: usize,
    tally: Tally,
    affected: HashMap<String, (usize, Vec<(usize, String)>)>,
    digest: Option<Digest>,
}

impl DigestSink {
    pub fn new(keep: Keep) -> Self {
        DigestSink {
            keep,
            head: None,
            total: 0,
            org_steps: vec![],
            reach_steps: vec![],
            auth_steps: vec![],
            findings: vec![],
            groups: HashMap::new(),
            arrived: 0,
            findings_per_code: HashMap::new(),
            results: BTreeMap::new(),
            passing_trees: BTreeMap::new(),
            other_trees: BTreeMap::new(),
            dropped_passing_trees: 0,
            dropped_other_trees: 0,
            checked: 0,
            tally: Tally::default(),
            affected: HashMap::new(),
            digest: None,
        }
    }

    /// The digest, once [`ReportSink::summary`] has been called.
    pub fn into_digest(self) -> Option<Digest> {
        self.digest
    }

    fn bulk(&self) -> bool {
        self.total > BULK
    }

    fn add_findings(&mut self, findings: impl IntoIterator<Item = Keyed>) {
        for k in findings {
            *self.findings_per_code.entry(k.finding.code.clone()).or_default() += 1;
            let place = (k.key, self.arrived);
            self.arrived += 1;
            if !self.bulk() {
                self.findings.push((place, k.finding));
                continue;
            }
            match self.groups.entry(Group::of(&k.finding)) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(self.findings.len());
                    self.findings.push((place, k.finding));
                }
                std::collections::hash_map::Entry::Occupied(o) => {
                    let kept = &mut self.findings[*o.get()];
                    if place < kept.0 {
                        *kept = (place, k.finding);
                    }
                }
            }
        }
    }

    fn add_affected(&mut self, index: usize, result: &MailboxResult) {
        for code in &result.findings {
            let (count, first) = self.affected.entry(code.clone()).or_default();
            *count += 1;
            if first.len() < NAMED_MAX || first.last().is_some_and(|(i, _)| index < *i) {
                let at = first.partition_point(|(i, _)| *i < index);
                first.insert(at, (index, result.address.clone()));
                first.truncate(NAMED_MAX);
            }
        }
    }

    fn add_tree(&mut self, index: usize, result: MailboxResult, steps: Vec<Step>) {
        let bulk = self.bulk();
        let (trees, limit, dropped) = if result.status == OverallStatus::Pass {
            (
                &mut self.passing_trees,
                self.keep.passing_trees,
                &mut self.dropped_passing_trees,
            )
        } else {
            (
                &mut self.other_trees,
                self.keep.other_trees,
                &mut self.dropped_other_trees,
            )
        };
        // A run of at most BULK mailboxes is kept whole.
        let limit = if bulk { limit } else { usize::MAX };
        if steps.is_empty() {
            if !bulk {
                self.results.insert(index, result);
            }
            return;
        }
        trees.insert(index, (result, steps));
        if trees.len() > limit {
            if let Some((i, (result, _))) = trees.pop_last() {
                *dropped += 1;
                if !bulk {
                    self.results.insert(i, result);
                }
            }
        }
    }
}

impl ReportSink for DigestSink {
    fn begin(&mut self, begin: &Begin<'_>) -> io::Result<()> {
        self.total = begin.mailboxes.len();
        self.head = Some(Report {
            schema_version: SCHEMA_VERSION,
            tool: super::sink::tool_info(),
            started_at: begin.started_at.clone(),
            duration_ms: 0,
            target: Target {
                mailboxes: begin.mailboxes.iter().take(NAMED_MAX).cloned().collect(),
                service_account: begin.service_account.clone(),
                auth: begin.auth.clone(),
                tenant: begin.tenant.clone(),
                api: begin.api.clone(),
            },
            insecure: begin.insecure,
            status: OverallStatus::Pass,
            steps: vec![],
            findings: vec![],
            mailboxes: vec![],
            throttling: vec![],
            evidence_note: None,
            counts: Counts::default(),
            interrupted: false,
            accepted: vec![],
        });
        Ok(())
    }

    fn context(&mut self, steps: &[Step], findings: &[Keyed]) -> io::Result<()> {
        super::sink::sort_context_steps(steps, &mut self.org_steps, &mut self.reach_steps, &mut self.auth_steps);
        self.add_findings(findings.iter().cloned());
        Ok(())
    }

    fn mailbox(&mut self, record: MailboxRecord) -> io::Result<()> {
        self.checked += 1;
        self.tally.add(record.result.status);
        self.add_affected(record.index, &record.result);
        self.add_findings(record.findings);
        self.add_tree(record.index, record.result, record.steps);
        Ok(())
    }

    fn summary(&mut self, summary: Summary) -> io::Result<()> {
        let Some(mut report) = self.head.take() else {
            return Err(io::Error::other("summary before begin"));
        };
        self.add_findings(summary.findings);
        let mut findings = std::mem::take(&mut self.findings);
        findings.sort_by(|a, b| a.0.cmp(&b.0));
        self.reach_steps.sort_by(|a, b| a.id.cmp(&b.id));
        let mut steps = std::mem::take(&mut self.org_steps);
        steps.append(&mut self.reach_steps);
        steps.append(&mut self.auth_steps);
        let mut kept: BTreeMap<usize, (MailboxResult, Vec<Step>)> = std::mem::take(&mut self.passing_trees);
        kept.append(&mut self.other_trees);
        for (i, result) in std::mem::take(&mut self.results) {
            kept.insert(i, (result, vec![]));
        }
        let mut mailboxes = Vec::with_capacity(kept.len());
        for (_, (result, mut s)) in kept {
            steps.append(&mut s);
            mailboxes.push(result);
        }
        report.duration_ms = summary.duration_ms;
        report.status = summary.status;
        report.steps = steps;
        report.findings = findings.into_iter().map(|(_, f)| f).collect();
        report.mailboxes = mailboxes;
        report.throttling = summary.throttling;
        report.evidence_note = summary.evidence_note;
        report.counts = summary.counts;
        report.interrupted = summary.interrupted;
        report.accepted = summary.accepted;
        let affected = std::mem::take(&mut self.affected)
            .into_iter()
            .map(|(code, (count, first))| {
                (
                    code,
                    Affected {
                        count,
                        first: first.into_iter().map(|(_, a)| a).collect(),
                    },
                )
            })
            .collect();
        self.digest = Some(Digest {
            report,
            total: self.total,
            checked: self.checked,
            tally: self.tally,
            affected,
            findings_per_code: std::mem::take(&mut self.findings_per_code),
            dropped_passing_trees: self.dropped_passing_trees,
            dropped_other_trees: self.dropped_other_trees,
        });
        Ok(())
    }
}
