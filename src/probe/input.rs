//! `input`: addresses are syntactically valid; domains extracted.

use serde::Serialize;

use super::StepBuilder;
use crate::protocol::address::{self, Address};
use crate::report::{Step, StepStatus};

#[derive(Debug, Clone, Serialize)]
pub struct InvalidAddress {
    pub input: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputOutcome {
    /// Valid mailboxes as given (trimmed), with their parsed form.
    pub mailboxes: Vec<(String, Address)>,
    pub invalid: Vec<InvalidAddress>,
    pub service_account: Option<Address>,
    pub service_account_invalid: Option<InvalidAddress>,
    /// Mailbox domains then the service account's, deduplicated.
    pub domains: Vec<String>,
    /// Lines of the mailbox list refused while reading (too long).
    #[serde(skip_serializing_if = "crate::config::RefusedInput::is_empty")]
    pub refused: crate::config::RefusedInput,
    /// Position of each valid mailbox in `mailboxes` (lookups stay O(1) in bulk runs).
    #[serde(skip)]
    pub index: std::collections::HashMap<String, usize>,
}

impl InputOutcome {
    pub fn domain_of(&self, mailbox: &str) -> Option<&str> {
        self.index
            .get(mailbox)
            .and_then(|&i| self.mailboxes.get(i))
            .map(|(_, a)| a.domain.as_str())
    }
}

pub fn run(
    mailboxes: &[String],
    service_account: Option<&str>,
    refused: &crate::config::RefusedInput,
) -> (InputOutcome, Step) {
    let step = StepBuilder::new("input", None, None, "Addresses are valid");
    let mut outcome = InputOutcome {
        mailboxes: vec![],
        invalid: vec![],
        service_account: None,
        service_account_invalid: None,
        domains: vec![],
        refused: refused.clone(),
        index: std::collections::HashMap::new(),
    };
    let mut domains = std::collections::HashSet::new();
    for m in mailboxes {
        match address::parse(m) {
            Ok(a) => {
                if domains.insert(a.domain.clone()) {
                    outcome.domains.push(a.domain.clone());
                }
                outcome.index.insert(m.clone(), outcome.mailboxes.len());
                outcome.mailboxes.push((m.clone(), a));
            }
            Err(reason) => outcome.invalid.push(InvalidAddress {
                input: m.clone(),
                reason,
            }),
        }
    }
    if let Some(sa) = service_account {
        match address::parse(sa) {
            Ok(a) => {
                if !outcome.domains.contains(&a.domain) {
                    outcome.domains.push(a.domain.clone());
                }
                outcome.service_account = Some(a);
            }
            Err(reason) => {
                outcome.service_account_invalid = Some(InvalidAddress {
                    input: sa.to_string(),
                    reason,
                })
            }
        }
    }
    let bad = outcome.invalid.len() + usize::from(outcome.service_account_invalid.is_some()) + refused.count;
    let status = if bad == 0 { StepStatus::Pass } else { StepStatus::Fail };
    let mut detail = format!(
        "{} mailbox{} valid, {} domain{}",
        outcome.mailboxes.len(),
        if outcome.mailboxes.len() == 1 { "" } else { "es" },
        outcome.domains.len(),
        if outcome.domains.len() == 1 { "" } else { "s" },
    );
    // Long lists of bad input: the first few, then a count (the report stays readable).
    let invalid: Vec<&InvalidAddress> = outcome
        .invalid
        .iter()
        .chain(outcome.service_account_invalid.iter())
        .collect();
    for i in invalid.iter().take(10) {
        detail.push_str(&format!("; {:?} is not an address: {}", i.input, i.reason));
    }
    if invalid.len() > 10 {
        detail.push_str(&format!("; and {} more invalid addresses", invalid.len() - 10));
    }
    if refused.count > 0 {
        detail.push_str(&format!("; {}", refused.describe()));
    }
    let step = step.finish(status, detail, &outcome, vec![]);
    (outcome, step)
}
