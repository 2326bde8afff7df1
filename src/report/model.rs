//! The report: one value built per run, then rendered by pure functions.
//! This is the JSON contract (`schema_version` 1: only additive changes).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub schema_version: u32,
    pub tool: ToolInfo,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: u64,
    pub target: Target,
    /// Certificate verification was turned off (`--insecure`).
    pub insecure: bool,
    pub status: OverallStatus,
    pub steps: Vec<Step>,
    /// Root cause first.
    pub findings: Vec<Finding>,
    pub mailboxes: Vec<MailboxResult>,
    /// How often each EWS server and the Graph endpoint pushed back
    /// (ErrorServerBusy, 429, 503) on their shared throttling budgets; absent
    /// when none did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttling: Vec<Throttling>,
    /// Set when HTTP evidence was kept only for steps that did not pass and
    /// for the first mailboxes: says how many passing steps carry none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_note: Option<String>,
    /// Mailboxes per status and per finding code (equal to the `mailboxes` records).
    #[serde(default)]
    pub counts: Counts,
    /// The run was interrupted (Ctrl-C, SIGTERM): `mailboxes` holds only those
    /// checked before it stopped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// `--accept`: codes reported but not counted in `status` or the exit code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    /// Mailboxes whose result carries each code.
    pub by_code: BTreeMap<String, usize>,
    /// App-only EWS runs: how many mailboxes the same app can read through
    /// Microsoft Graph (absent on other runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_readiness: Option<ReadinessCounts>,
}

/// "Ready for Graph: N of M mailboxes", and why the others are not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReadinessCounts {
    /// Mailboxes the app read through Graph.
    pub ready: usize,
    /// Mailboxes with a readiness verdict.
    pub checked: usize,
    /// Mailboxes not ready, per reason.
    #[serde(default)]
    pub not_ready: BTreeMap<String, usize>,
}

impl ReadinessCounts {
    /// "ready for Graph: N of M mailboxes".
    pub fn headline(&self) -> String {
        format!(
            "ready for Graph: {} of {} mailbox{}",
            self.ready,
            self.checked,
            if self.checked == 1 { "" } else { "es" }
        )
    }

    /// The reasons mailboxes are not ready, most frequent first.
    pub fn reasons(&self) -> Vec<(&str, usize)> {
        let mut r: Vec<(&str, usize)> = self.not_ready.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        r.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        r
    }
}

/// One mailbox's Graph readiness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Readiness {
    pub ready: bool,
    /// Why not (a reason shared by mailboxes alike), or how the app gets in.
    pub reason: String,
    /// What Graph answered, for this mailbox.
    #[serde(default)]
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Throttling {
    pub host: String,
    /// Busy answers received.
    pub pushed_back: u64,
    /// The smallest number of concurrent requests the budget went down to.
    pub smallest_window: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    pub mailboxes: Vec<String>,
    pub service_account: Option<String>,
    pub auth: String,
    pub tenant: Option<String>,
    pub api: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverallStatus {
    Pass,
    Warn,
    Fail,
}

impl OverallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OverallStatus::Pass => "pass",
            OverallStatus::Warn => "warn",
            OverallStatus::Fail => "fail",
        }
    }

    /// The exit code of a run with this status (Nagios-compatible; see [`crate::exit`]).
    pub fn exit_code(self) -> i32 {
        match self {
            OverallStatus::Pass => crate::exit::PASS,
            OverallStatus::Warn => crate::exit::WARN,
            OverallStatus::Fail => crate::exit::FAIL,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pass => "pass",
            StepStatus::Warn => "warn",
            StepStatus::Fail => "fail",
            StepStatus::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    /// Unique in the report: `probe` or `probe:subject` (a domain or mailbox).
    pub id: String,
    pub probe: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    pub title: String,
    pub status: StepStatus,
    pub duration_ms: u64,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
    /// Typed facts the report engine reasoned over, as JSON.
    #[serde(default)]
    pub observations: serde_json::Value,
    #[serde(default)]
    pub evidence: Vec<Exchange>,
}

/// One network exchange, redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Exchange {
    pub request: RequestRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExchangeError>,
    /// Milliseconds since the run started (for waterfalls).
    #[serde(default)]
    pub started_ms: u64,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestRecord {
    pub method: String,
    pub url: String,
    /// Name/value pairs in order; secrets replaced by `[redacted]`.
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_excerpt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResponseRecord {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body_excerpt: String,
    /// Total body bytes read (capped at 2 MiB).
    #[serde(default)]
    pub body_bytes: u64,
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExchangeError {
    /// `dns`, `connect`, `tls`, `timeout`, `http`, `refused_by_policy`, `deadline`.
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    pub code: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    pub title: String,
    /// What exprobe saw in this run: hosts, numbers, server messages.
    #[serde(default)]
    pub detail: String,
    pub explanation: String,
    pub remediation: Vec<String>,
    pub evidence_steps: Vec<String>,
    pub references: Vec<String>,
    /// Accepted with `--accept`: reported, not counted in the status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accepted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MailboxResult {
    pub address: String,
    pub status: OverallStatus,
    pub findings: Vec<String>,
    /// Extra facts per mailbox, e.g. the EWS URL found.
    #[serde(default)]
    pub facts: BTreeMap<String, String>,
    /// App-only EWS runs: whether the same app reads this mailbox through Graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_readiness: Option<Readiness>,
}
