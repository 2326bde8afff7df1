//! `input`: addresses are syntactically valid; domains extracted.

use serde::Serialize;

use super::{StepBuilder, StepKind};
use crate::protocol::address::{self, Address};
use crate::report::{Step, StepStatus};

#[derive(Debug, Clone, Serialize)]
pub struct InvalidAddress {
    pub input: String,
    pub reason: String,
}

/// Addresses and bad inputs shown in the step's observations (the rest are counted).
const SHOWN: usize = 10;

/// What the input step established. Holds nothing per valid mailbox: a
/// bulk run's memory does not grow with the list (the domain of a mailbox is
/// parsed again when asked).
#[derive(Debug, Clone)]
pub struct InputOutcome {
    pub valid: usize,
    pub invalid: Vec<InvalidAddress>,
    pub service_account: Option<Address>,
    pub service_account_invalid: Option<InvalidAddress>,
    /// Mailbox domains then the service account's, deduplicated.
    pub domains: Vec<String>,
    /// Lines of the mailbox list refused while reading (too long).
    pub refused: crate::config::RefusedInput,
    /// The first valid mailbox of each domain, as given.
    pub first_of_domain: std::collections::HashMap<String, String>,
    domain_index: std::collections::HashMap<String, usize>,
}

/// The input step's observations: counts, and the first addresses of each kind.
#[derive(Debug, Serialize)]
struct Observed<'a> {
    valid: usize,
    /// The first valid mailboxes with their parsed form.
    mailboxes: &'a [(String, Address)],
    /// The first invalid inputs; `invalid_count` counts them all.
    invalid: &'a [InvalidAddress],
    invalid_count: usize,
    service_account: &'a Option<Address>,
    service_account_invalid: &'a Option<InvalidAddress>,
    domains: &'a [String],
    #[serde(skip_serializing_if = "crate::config::RefusedInput::is_empty")]
    refused: &'a crate::config::RefusedInput,
    /// Addresses given more than once, checked once.
    #[serde(skip_serializing_if = "is_zero")]
    duplicates: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl InputOutcome {
    /// The domain of a valid mailbox (None for an invalid one).
    pub fn domain_of(&self, mailbox: &str) -> Option<&str> {
        let a = address::parse(mailbox).ok()?;
        self.domain_index.get(&a.domain).map(|&i| self.domains[i].as_str())
    }
}

pub fn run(
    mailboxes: &[String],
    service_account: Option<&str>,
    refused: &crate::config::RefusedInput,
) -> (InputOutcome, Step) {
    let step = StepBuilder::new(StepKind::Input, None, None, "Addresses are valid");
    let mut outcome = InputOutcome {
        valid: 0,
        invalid: vec![],
        service_account: None,
        service_account_invalid: None,
        domains: vec![],
        refused: refused.clone(),
        first_of_domain: std::collections::HashMap::new(),
        domain_index: std::collections::HashMap::new(),
    };
    let mut shown: Vec<(String, Address)> = vec![];
    for m in mailboxes {
        match address::parse(m) {
            Ok(a) => {
                if !outcome.domain_index.contains_key(&a.domain) {
                    outcome.domain_index.insert(a.domain.clone(), outcome.domains.len());
                    outcome.domains.push(a.domain.clone());
                    outcome.first_of_domain.insert(a.domain.clone(), m.clone());
                }
                outcome.valid += 1;
                if shown.len() < SHOWN {
                    shown.push((m.clone(), a));
                }
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
                if !outcome.domain_index.contains_key(&a.domain) {
                    outcome.domain_index.insert(a.domain.clone(), outcome.domains.len());
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
    let detail = describe(&outcome, refused);
    let observed = Observed {
        valid: outcome.valid,
        mailboxes: &shown,
        invalid: &outcome.invalid[..outcome.invalid.len().min(SHOWN)],
        invalid_count: outcome.invalid.len(),
        service_account: &outcome.service_account,
        service_account_invalid: &outcome.service_account_invalid,
        domains: &outcome.domains,
        refused: &outcome.refused,
        duplicates: refused.duplicates,
    };
    let step = step.finish(status, detail, &observed, vec![]);
    (outcome, step)
}

/// The step's detail: counts, the first invalid addresses, what the list reader refused.
fn describe(outcome: &InputOutcome, refused: &crate::config::RefusedInput) -> String {
    let mut detail = format!(
        "{} mailbox{} valid, {} domain{}",
        outcome.valid,
        if outcome.valid == 1 { "" } else { "es" },
        outcome.domains.len(),
        if outcome.domains.len() == 1 { "" } else { "s" },
    );
    // Long lists of bad input: the first few, then a count (the report stays readable).
    let invalid: Vec<&InvalidAddress> = outcome
        .invalid
        .iter()
        .chain(outcome.service_account_invalid.iter())
        .collect();
    for i in invalid.iter().take(SHOWN) {
        detail.push_str(&format!("; {:?} is not an address: {}", i.input, i.reason));
    }
    if invalid.len() > SHOWN {
        detail.push_str(&format!("; and {} more invalid addresses", invalid.len() - SHOWN));
    }
    if refused.count > 0 {
        detail.push_str(&format!("; {}", refused.describe()));
    }
    if refused.duplicates > 0 {
        detail.push_str(&format!(
            "; {} address{} given more than once, checked once",
            refused.duplicates,
            if refused.duplicates == 1 { "" } else { "es" }
        ));
    }
    detail
}
