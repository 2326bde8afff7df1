//! Sinks: where a run's results go as they arrive. [`Collector`] builds the
//! whole [`Report`] (for `json`, `junit` and `serve`, which need every
//! mailbox in input order); [`super::digest::DigestSink`] keeps what the
//! rendered formats show; [`super::jsonl::JsonlSink`] writes one line per
//! event and keeps nothing.

use std::collections::BTreeMap;
use std::io;

use super::model::*;
use crate::diagnose::{Keyed, MailboxRecord};
use crate::probe::StepKind;

/// What is known when a run starts.
#[derive(Debug, Clone)]
pub struct Begin<'a> {
    pub started_at: String,
    pub mailboxes: &'a [String],
    pub service_account: Option<String>,
    pub auth: String,
    pub tenant: Option<String>,
    pub api: String,
    pub insecure: bool,
}

/// What a run ends with.
#[derive(Debug, Clone)]
pub struct Summary {
    pub status: OverallStatus,
    pub duration_ms: u64,
    pub counts: Counts,
    pub throttling: Vec<Throttling>,
    /// Findings drawn from several mailboxes (and the interruption).
    pub findings: Vec<Keyed>,
    pub evidence_note: Option<String>,
    pub interrupted: bool,
    /// Mailboxes with a result.
    pub checked: usize,
    /// `--accept`: codes reported but not counted in the status.
    pub accepted: Vec<String>,
}

/// Receives a run's events in the order they happen.
pub trait ReportSink {
    fn begin(&mut self, begin: &Begin<'_>) -> io::Result<()>;
    /// Steps and findings about the organization (DNS, tokens, an EWS URL's
    /// reach, the service account's sign-in), before the first mailbox that
    /// carries them.
    fn context(&mut self, steps: &[Step], findings: &[Keyed]) -> io::Result<()>;
    /// One mailbox, in completion order.
    fn mailbox(&mut self, record: MailboxRecord) -> io::Result<()>;
    fn summary(&mut self, summary: Summary) -> io::Result<()>;
    /// Nothing new is ready: a good moment to push out what is buffered.
    fn idle(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Builds the whole [`Report`]: steps and mailboxes in input order, findings root cause first.
#[derive(Debug, Default)]
pub struct Collector {
    begin: Option<(String, Target, bool)>,
    org_steps: Vec<Step>,
    reach_steps: Vec<Step>,
    auth_steps: Vec<Step>,
    findings: Vec<Keyed>,
    records: BTreeMap<usize, (MailboxResult, Vec<Step>)>,
    report: Option<Report>,
}

impl Collector {
    pub fn new() -> Self {
        Collector::default()
    }

    /// The report, once [`ReportSink::summary`] has been called.
    pub fn into_report(self) -> Option<Report> {
        self.report
    }
}

impl ReportSink for Collector {
    fn begin(&mut self, begin: &Begin<'_>) -> io::Result<()> {
        let target = Target {
            mailboxes: begin.mailboxes.to_vec(),
            service_account: begin.service_account.clone(),
            auth: begin.auth.clone(),
            tenant: begin.tenant.clone(),
            api: begin.api.clone(),
        };
        self.begin = Some((begin.started_at.clone(), target, begin.insecure));
        Ok(())
    }

    fn context(&mut self, steps: &[Step], findings: &[Keyed]) -> io::Result<()> {
        sort_context_steps(steps, &mut self.org_steps, &mut self.reach_steps, &mut self.auth_steps);
        self.findings.extend(findings.iter().cloned());
        Ok(())
    }

    fn mailbox(&mut self, record: MailboxRecord) -> io::Result<()> {
        self.findings.extend(record.findings);
        self.records.insert(record.index, (record.result, record.steps));
        Ok(())
    }

    fn summary(&mut self, summary: Summary) -> io::Result<()> {
        let Some((started_at, target, insecure)) = self.begin.take() else {
            return Err(io::Error::other("summary before begin"));
        };
        self.findings.extend(summary.findings);
        let mut findings = std::mem::take(&mut self.findings);
        findings.sort_by(|a, b| a.key.cmp(&b.key));
        self.reach_steps.sort_by(|a, b| a.id.cmp(&b.id));
        let mut steps = std::mem::take(&mut self.org_steps);
        steps.append(&mut self.reach_steps);
        steps.append(&mut self.auth_steps);
        let mut mailboxes = Vec::with_capacity(self.records.len());
        for (_, (result, mut s)) in std::mem::take(&mut self.records) {
            steps.append(&mut s);
            mailboxes.push(result);
        }
        self.report = Some(Report {
            schema_version: SCHEMA_VERSION,
            tool: tool_info(),
            started_at,
            duration_ms: summary.duration_ms,
            target,
            insecure,
            status: summary.status,
            steps,
            findings: findings.into_iter().map(|k| k.finding).collect(),
            mailboxes,
            throttling: summary.throttling,
            evidence_note: summary.evidence_note,
            counts: summary.counts,
            interrupted: summary.interrupted,
            accepted: summary.accepted,
        });
        Ok(())
    }
}

/// Context steps in the report's order: the organization's, then each EWS
/// URL's reach (sorted by id at the end), then the service account's sign-in.
pub(super) fn sort_context_steps(steps: &[Step], org: &mut Vec<Step>, reach: &mut Vec<Step>, auth: &mut Vec<Step>) {
    for s in steps {
        let p = s.probe.as_str();
        if p == StepKind::EwsReach.as_str() {
            reach.push(s.clone());
        } else if p == StepKind::EwsAuth.as_str() {
            auth.push(s.clone());
        } else {
            org.push(s.clone());
        }
    }
}

pub fn tool_info() -> ToolInfo {
    ToolInfo {
        name: "exprobe".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}
