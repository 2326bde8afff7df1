//! `--format jsonl`: one JSON object per line, written as the run goes.

use std::io::{self, Write};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::*;
use super::output::{run_exit_code, FormatSink, Out};
use super::sink::{tool_info, Begin, ReportSink, Summary};
use crate::diagnose::{Keyed, MailboxRecord};

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
    /// The summary's status and interruption, for the exit code.
    ended: Option<(OverallStatus, bool)>,
}

/// `--format jsonl`: every event written as it happens.
pub fn sink(out: Out) -> Box<dyn FormatSink> {
    Box::new(JsonlSink::new(io::BufWriter::new(out)))
}

/// Pending bytes that are written without waiting for the run to go idle.
const PENDING_MAX: usize = 64 << 10;

impl<W: Write> JsonlSink<W> {
    pub fn new(out: W) -> Self {
        JsonlSink {
            out,
            pending: Vec::with_capacity(PENDING_MAX + 4096),
            ended: None,
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
        self.ended = Some((summary.status, summary.interrupted));
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

impl<W: Write + Send> FormatSink for JsonlSink<W> {
    fn finish(mut self: Box<Self>) -> io::Result<i32> {
        self.push_out()?;
        let Some((status, interrupted)) = self.ended else {
            return Err(io::Error::other("the run ended without a summary"));
        };
        Ok(run_exit_code(status, interrupted))
    }
}
