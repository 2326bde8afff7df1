//! Typed diagnosis codes and root-cause stages.
//!
//! A [`Code`] can only be built through [`code!`], which checks the string
//! against the catalogue while the program is compiled: a code without an
//! entry does not build.

use crate::catalogue;

/// A diagnosis code that has a catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(&'static str);

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn listed(entries: &[catalogue::Entry], code: &str) -> bool {
    let mut i = 0;
    while i < entries.len() {
        if same(entries[i].code, code) {
            return true;
        }
        i += 1;
    }
    false
}

impl Code {
    /// Only for [`code!`], which evaluates it at compile time.
    #[doc(hidden)]
    pub const fn checked(code: &'static str) -> Code {
        assert!(
            listed(catalogue::CATALOGUE, code) || listed(catalogue::OAUTH_ENTRIES, code),
            "diagnosis code without a catalogue entry"
        );
        Code(code)
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }

    pub fn entry(self) -> &'static catalogue::Entry {
        // Every Code was checked against the catalogue when it was built.
        catalogue::lookup(self.0).unwrap_or(&catalogue::CATALOGUE[0])
    }

    pub fn severity(self) -> crate::report::Severity {
        self.entry().severity
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A catalogue code, checked at compile time: `code!("ews.throttled")`.
#[macro_export]
macro_rules! code {
    ($s:literal) => {{
        const C: $crate::diagnose::Code = $crate::diagnose::Code::checked($s);
        C
    }};
}

/// Where in the chain a finding arose. Earlier stages are closer to the root
/// cause: findings are ordered by severity, then by stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Input,
    Dns,
    Transport,
    Discovery,
    Token,
    Comparison,
    Reach,
    Auth,
    Impersonation,
    Graph,
    Identity,
    /// Advice drawn from several findings (retirements, propagation delays).
    Advice,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_carries_its_catalogue_entry() {
        let c = code!("ews.throttled");
        assert_eq!(c.as_str(), "ews.throttled");
        assert_eq!(c.entry().code, "ews.throttled");
        assert!(listed(catalogue::CATALOGUE, "input.invalid_address"));
        assert!(!listed(catalogue::CATALOGUE, "no.such_code"));
    }
}
