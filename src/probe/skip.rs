//! Why a step did not run. Each step of the pipeline has one gate that
//! either lets it run or names a [`Skip`]; the report shows the skip as the
//! step it waited for (`skipped_because`) and the words here.

use super::StepKind;
use crate::config::MailApi;

/// `skipped_because` of a mailbox step the run's deadline left unchecked.
pub const DEADLINE: &str = "deadline";

/// Why a step did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not asked for, or nothing to check it with: no step to blame.
    NotProbed(&'static str),
    /// The mailbox's address could not be read, or not used for this call.
    Address(&'static str),
    /// The mailbox's domain failed in DNS.
    Dns { domain: String, why: &'static str },
    /// No usable token for this API, or its tenant is not the one the token is for.
    Token { api: MailApi, why: String },
    /// Autodiscover (of this mailbox, or of the first one) gave no usable EWS URL.
    Discovery { after: String, why: &'static str },
    /// The EWS endpoint cannot take this check (not EWS, or not the scheme).
    Endpoint { reach_step: String, why: String },
    /// The service account did not sign in to EWS.
    SignIn(&'static str),
    /// The run's deadline passed first.
    Deadline,
}

impl Skip {
    /// The step whose failure this skip follows (`None`: nothing failed).
    pub fn because(&self) -> Option<String> {
        Some(match self {
            Skip::NotProbed(_) => return None,
            Skip::Address(_) => StepKind::Input.as_str().to_string(),
            Skip::Dns { domain, .. } => StepKind::Dns.id(domain),
            Skip::Token { api, .. } => StepKind::Token.id(api.as_str()),
            Skip::Discovery { after, .. } => after.clone(),
            Skip::Endpoint { reach_step, .. } => reach_step.clone(),
            Skip::SignIn(_) => StepKind::EwsAuth.as_str().to_string(),
            Skip::Deadline => DEADLINE.to_string(),
        })
    }

    /// What the report says.
    pub fn detail(&self) -> String {
        match self {
            Skip::NotProbed(why)
            | Skip::Address(why)
            | Skip::Dns { why, .. }
            | Skip::Discovery { why, .. }
            | Skip::SignIn(why) => why.to_string(),
            Skip::Token { why, .. } | Skip::Endpoint { why, .. } => why.clone(),
            Skip::Deadline => "the run's deadline was reached before this mailbox was checked".into(),
        }
    }
}
