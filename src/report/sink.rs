//! Sinks: where a run's results go as they arrive. [`Collector`] builds the
//! whole [`Report`] (for `human` and `json`, which need every mailbox in
//! input order); [`JsonlSink`] writes one line per event and keeps nothing.

use std::collections::BTreeMap;
use std::io::{self, Write};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
        for s in steps {
            let p = s.probe.as_str();
            if p == StepKind::EwsReach.as_str() {
                self.reach_steps.push(s.clone());
            } else if p == StepKind::EwsAuth.as_str() {
                self.auth_steps.push(s.clone());
            } else {
                self.org_steps.push(s.clone());
            }
        }
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

pub fn tool_info() -> ToolInfo {
    ToolInfo {
        name: "exprobe".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The run's target without the mailbox list (`begin` gives its length).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JsonlTarget {
    pub mailbox_count: usize,
    pub service_account: Option<String>,
    pub auth: String,
    pub tenant: Option<String>,
    pub api: String,
}

/// One line of `--format jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum JsonlRecord {
    /// First line: what is checked.
    Begin {
        schema_version: u32,
        tool: ToolInfo,
        /// RFC 3339, UTC.
        started_at: String,
        target: JsonlTarget,
        insecure: bool,
    },
    /// Steps and findings about the organization (DNS, realm, tokens, an EWS
    /// URL's reach, the service account's sign-in). Written before the first
    /// mailbox record that carries one of these findings' codes.
    Context { steps: Vec<Step>, findings: Vec<Finding> },
    /// One mailbox, as it finishes: its result (status and every code it
    /// carries), its steps and the findings raised about it alone.
    Mailbox {
        /// Position in the input (0-based); lines come in completion order.
        index: usize,
        #[serde(flatten)]
        result: MailboxResult,
        steps: Vec<Step>,
        /// The findings raised about this mailbox alone (`findings` lists
        /// every code it carries, including those of `context` lines).
        own_findings: Vec<Finding>,
    },
    /// Last line: the run's status and counts (equal to the mailbox lines).
    Summary {
        status: OverallStatus,
        duration_ms: u64,
        counts: Counts,
        /// Mailbox lines written.
        checked: usize,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        throttling: Vec<Throttling>,
        /// Findings drawn from several mailboxes (deadline, retirements, propagation advice).
        findings: Vec<Finding>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence_note: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        interrupted: bool,
        /// `--accept`: codes reported but not counted in `status`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        accepted: Vec<String>,
    },
}

/// A [`JsonlRecord`] as it is written: borrowed, so writing a line copies nothing.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line<'a> {
    Begin {
        schema_version: u32,
        tool: ToolInfo,
        started_at: &'a str,
        target: JsonlTarget,
        insecure: bool,
    },
    Context {
        steps: &'a [Step],
        findings: Vec<&'a Finding>,
    },
    Mailbox {
        index: usize,
        #[serde(flatten)]
        result: &'a MailboxResult,
        steps: &'a [Step],
        own_findings: Vec<&'a Finding>,
    },
    Summary {
        status: OverallStatus,
        duration_ms: u64,
        counts: &'a Counts,
        checked: usize,
        #[serde(skip_serializing_if = "<[Throttling]>::is_empty")]
        throttling: &'a [Throttling],
        findings: Vec<&'a Finding>,
        #[serde(skip_serializing_if = "Option::is_none")]
        evidence_note: &'a Option<String>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        interrupted: bool,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        accepted: &'a [String],
    },
}

/// `--format jsonl`: one JSON object per line. Lines are written whole (a
/// write never ends inside a line), as soon as the run waits for the network
/// or 64 KiB are pending, so a file cut short (Ctrl-C, a crash) is valid line
/// by line and a busy run does not pay one system call per line. Nothing of
/// a mailbox is kept once its line is out.
#[derive(Debug)]
pub struct JsonlSink<W: Write> {
    out: W,
    pending: Vec<u8>,
}

/// Pending bytes that are written without waiting for the run to go idle.
const PENDING_MAX: usize = 64 << 10;

impl<W: Write> JsonlSink<W> {
    pub fn new(out: W) -> Self {
        JsonlSink {
            out,
            pending: Vec::with_capacity(PENDING_MAX + 4096),
        }
    }

    fn line(&mut self, line: &Line<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.pending, line).map_err(io::Error::other)?;
        self.pending.push(b'\n');
        if self.pending.len() >= PENDING_MAX {
            self.push_out()?;
        }
        Ok(())
    }

    fn push_out(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.out.write_all(&self.pending)?;
            self.pending.clear();
        }
        self.out.flush()
    }
}

fn sorted(findings: &[Keyed]) -> Vec<&Finding> {
    let mut keyed: Vec<&Keyed> = findings.iter().collect();
    keyed.sort_by(|a, b| a.key.cmp(&b.key));
    keyed.into_iter().map(|k| &k.finding).collect()
}

impl<W: Write> ReportSink for JsonlSink<W> {
    fn begin(&mut self, begin: &Begin<'_>) -> io::Result<()> {
        self.line(&Line::Begin {
            schema_version: SCHEMA_VERSION,
            tool: tool_info(),
            started_at: &begin.started_at,
            target: JsonlTarget {
                mailbox_count: begin.mailboxes.len(),
                service_account: begin.service_account.clone(),
                auth: begin.auth.clone(),
                tenant: begin.tenant.clone(),
                api: begin.api.clone(),
            },
            insecure: begin.insecure,
        })?;
        self.push_out()
    }

    fn context(&mut self, steps: &[Step], findings: &[Keyed]) -> io::Result<()> {
        self.line(&Line::Context {
            steps,
            findings: sorted(findings),
        })
    }

    fn idle(&mut self) -> io::Result<()> {
        self.push_out()
    }

    fn mailbox(&mut self, record: MailboxRecord) -> io::Result<()> {
        self.line(&Line::Mailbox {
            index: record.index,
            result: &record.result,
            steps: &record.steps,
            own_findings: record.findings.iter().map(|k| &k.finding).collect(),
        })
    }

    fn summary(&mut self, summary: Summary) -> io::Result<()> {
        self.line(&Line::Summary {
            status: summary.status,
            duration_ms: summary.duration_ms,
            counts: &summary.counts,
            checked: summary.checked,
            throttling: &summary.throttling,
            findings: sorted(&summary.findings),
            evidence_note: &summary.evidence_note,
            interrupted: summary.interrupted,
            accepted: &summary.accepted,
        })?;
        self.push_out()
    }
}
