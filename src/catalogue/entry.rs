//! One entry of the diagnosis catalogue: a code with its severity, title,
//! explanation, likely causes, numbered remediation and references.

use crate::report::Severity;

#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub code: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub explanation: &'static str,
    pub causes: &'static [&'static str],
    pub remediation: &'static [&'static str],
    pub references: &'static [&'static str],
}
