//! Probes: one module per step. Each returns a [`Step`] (status, detail,
//! observations, evidence) and a typed outcome the report engine reasons over.
//!
//! One shape for every probe: `async fn NAME(net, [limiter,] inputs) ->
//! (Outcome, Step)` — the network first (the DNS resolver for `dns`, none for
//! the pure `input`, `identity` and a given token), then what the step needs,
//! and the outcome with its step back (a token acquisition adds the token it
//! got, which never enters an outcome). Whether a step runs at all is decided
//! before it is called, by its gate in `plan.rs`, which names a [`Skip`]
//! otherwise; `plan.rs` also groups each mailbox's outcomes by part
//! ([`plan::MailboxOutcome`]: discovery, EWS, Graph, identity, the record).

pub mod autodiscover;
pub mod dns;
pub mod ews;
pub mod graph;
pub mod identity;
pub mod input;
pub mod oauth;
pub mod plan;
pub mod skip;

pub use skip::Skip;

use std::time::Instant;

use serde::Serialize;

use crate::net::http::ms;
use crate::report::{Exchange, Step, StepStatus};

/// The kinds of step. A step id is `kind` or `kind:subject` (a domain, an
/// EWS host, an API or a mailbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    Input,
    Dns,
    Realm,
    Token,
    Autodiscover,
    EwsReach,
    EwsAuth,
    EwsImpersonation,
    EwsWrite,
    GraphMailbox,
    Identity,
}

impl StepKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            StepKind::Input => "input",
            StepKind::Dns => "dns",
            StepKind::Realm => "realm",
            StepKind::Token => "token",
            StepKind::Autodiscover => "autodiscover",
            StepKind::EwsReach => "ews.reach",
            StepKind::EwsAuth => "ews.auth",
            StepKind::EwsImpersonation => "ews.impersonation",
            StepKind::EwsWrite => "ews.write",
            StepKind::GraphMailbox => "graph.mailbox",
            StepKind::Identity => "identity",
        }
    }

    /// The id of this kind of step about `subject`.
    pub fn id(self, subject: &str) -> String {
        format!("{}:{subject}", self.as_str())
    }
}

/// Builds a [`Step`] while a probe runs.
#[derive(Debug)]
pub struct StepBuilder {
    id: String,
    probe: StepKind,
    mailbox: Option<String>,
    title: String,
    began: Instant,
}

impl StepBuilder {
    pub fn new(probe: StepKind, subject: Option<&str>, mailbox: Option<&str>, title: impl Into<String>) -> Self {
        StepBuilder {
            id: match subject {
                Some(s) => probe.id(s),
                None => probe.as_str().to_string(),
            },
            probe,
            mailbox: mailbox.map(str::to_string),
            title: title.into(),
            began: Instant::now(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn finish(
        self,
        status: StepStatus,
        detail: impl Into<String>,
        observations: &impl Serialize,
        evidence: Vec<Exchange>,
    ) -> Step {
        Step {
            id: self.id,
            probe: self.probe.as_str().to_string(),
            mailbox: self.mailbox,
            title: self.title,
            status,
            duration_ms: ms(self.began.elapsed()),
            detail: detail.into(),
            skipped_because: None,
            observations: serde_json::to_value(observations).unwrap_or(serde_json::Value::Null),
            evidence,
        }
    }

    /// Not run, for this reason.
    pub fn skipped(self, skip: &Skip) -> Step {
        let mut step = self.skip(&skip.because().unwrap_or_default(), skip.detail());
        if skip.because().is_none() {
            step.skipped_because = None;
        }
        step
    }

    /// Not run because the step `because` failed.
    fn skip(self, because: &str, detail: impl Into<String>) -> Step {
        Step {
            id: self.id,
            probe: self.probe.as_str().to_string(),
            mailbox: self.mailbox,
            title: self.title,
            status: StepStatus::Skip,
            duration_ms: 0,
            detail: detail.into(),
            skipped_because: Some(because.to_string()),
            observations: serde_json::Value::Null,
            evidence: vec![],
        }
    }
}
