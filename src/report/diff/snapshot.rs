//! What a run says, reduced to what a comparison needs, compactly: a
//! million mailboxes on each side of a `diff` fit the shipped CronJob's
//! 512 MiB (codes are interned, an address already in lower case is kept
//! once).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::report::{Finding, MailboxResult, OverallStatus, Report, Severity};

/// A code's number within one [`Snapshot`].
pub(super) type CodeId = u32;

/// The most mailboxes one side of a comparison keeps; past it, mailboxes
/// are left out and the comparison says so.
pub const MAX_MAILBOXES: usize = 5_000_000;
/// The most distinct codes one side keeps.
pub const MAX_CODES: usize = 1_000_000;
/// Longer codes are not codes: left out and counted.
pub const MAX_CODE_BYTES: usize = 256;
/// Longer addresses are not addresses (an address has at most 254
/// characters, up to 4 bytes each): left out and counted.
pub const MAX_ADDRESS_BYTES: usize = 1024;

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub label: String,
    pub started_at: Option<String>,
    pub status: Option<OverallStatus>,
    pub interrupted: bool,
    /// What reading left out (a line over the cap, mailboxes past
    /// [`MAX_MAILBOXES`]); a snapshot with notes compares as a partial run.
    pub cut: Vec<String>,
    codes: Vec<Code>,
    ids: HashMap<Box<str>, CodeId>,
    /// By address, lower-cased.
    pub(super) mailboxes: BTreeMap<Box<str>, Mailbox>,
    /// The organization's findings (no mailbox).
    pub(super) org: BTreeSet<CodeId>,
    dropped_mailboxes: usize,
    dropped_codes: usize,
}

#[derive(Debug, Clone)]
struct Code {
    name: Box<str>,
    /// The gravest severity a finding gave it (none: only named by a mailbox).
    severity: Option<Severity>,
    accepted: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Mailbox {
    /// The address as written, when it differs from the lower-cased key.
    written: Option<Box<str>>,
    pub(super) status: OverallStatus,
    /// Sorted, without repeats.
    pub(super) codes: Box<[CodeId]>,
}

impl Snapshot {
    pub fn new(label: impl Into<String>) -> Self {
        Snapshot {
            label: label.into(),
            ..Default::default()
        }
    }

    fn intern(&mut self, code: &str) -> Option<CodeId> {
        if let Some(id) = self.ids.get(code) {
            return Some(*id);
        }
        if self.codes.len() >= MAX_CODES || code.len() > MAX_CODE_BYTES {
            self.dropped_codes += 1;
            return None;
        }
        let id = CodeId::try_from(self.codes.len()).ok()?;
        self.codes.push(Code {
            name: code.into(),
            severity: None,
            accepted: false,
        });
        self.ids.insert(code.into(), id);
        Some(id)
    }

    pub fn add_findings<'a>(&mut self, findings: impl IntoIterator<Item = &'a Finding>) {
        for f in findings {
            self.add_finding(&f.code, f.severity, f.accepted, f.mailbox.is_none());
        }
    }

    pub(super) fn add_finding(&mut self, code: &str, severity: Severity, accepted: bool, organization: bool) {
        let Some(id) = self.intern(code) else { return };
        let entry = &mut self.codes[id as usize];
        // Some codes' severity depends on the situation: keep the gravest seen.
        entry.severity = Some(entry.severity.map_or(severity, |s| s.min(severity)));
        entry.accepted |= accepted;
        if organization {
            self.org.insert(id);
        }
    }

    pub fn add_mailbox(&mut self, m: &MailboxResult) {
        self.add_mailbox_parts(&m.address, m.status, m.findings.iter().map(String::as_str));
    }

    pub(super) fn add_mailbox_parts<'a>(
        &mut self,
        address: &str,
        status: OverallStatus,
        codes: impl Iterator<Item = &'a str>,
    ) {
        if address.len() > MAX_ADDRESS_BYTES {
            self.dropped_mailboxes += 1;
            return;
        }
        let key = address.to_ascii_lowercase();
        if self.mailboxes.len() >= MAX_MAILBOXES && !self.mailboxes.contains_key(key.as_str()) {
            self.dropped_mailboxes += 1;
            return;
        }
        let mut ids: Vec<CodeId> = codes.filter_map(|c| self.intern(c)).collect();
        ids.sort_unstable();
        ids.dedup();
        let written = (key != address).then(|| address.into());
        self.mailboxes.insert(
            key.into_boxed_str(),
            Mailbox {
                written,
                status,
                codes: ids.into_boxed_slice(),
            },
        );
    }

    pub fn finish(&mut self, status: OverallStatus, accepted: &[String], interrupted: bool) {
        self.status = Some(status);
        for a in accepted {
            if let Some(id) = self.intern(a) {
                self.codes[id as usize].accepted = true;
            }
        }
        self.interrupted = interrupted;
    }

    pub fn of_report(label: impl Into<String>, report: &Report) -> Self {
        let mut s = Snapshot::new(label);
        s.started_at = Some(report.started_at.clone());
        s.add_findings(&report.findings);
        for m in &report.mailboxes {
            s.add_mailbox(m);
        }
        s.finish(report.status, &report.accepted, report.interrupted);
        s.close();
        s
    }

    /// Reading is over: what was left out becomes notes.
    pub fn close(&mut self) {
        if self.dropped_mailboxes > 0 {
            self.cut.push(format!(
                "{} mailboxes were not read (past the first {MAX_MAILBOXES}, or an address over {MAX_ADDRESS_BYTES} bytes)",
                self.dropped_mailboxes
            ));
        }
        if self.dropped_codes > 0 {
            self.cut.push(format!(
                "{} codes were not read (past the first {MAX_CODES} distinct codes, or over {MAX_CODE_BYTES} bytes)",
                self.dropped_codes
            ));
        }
    }

    /// Only some mailboxes are known: interrupted, or cut while reading.
    pub(super) fn partial(&self) -> bool {
        self.interrupted || !self.cut.is_empty()
    }

    pub(super) fn name(&self, id: CodeId) -> &str {
        &self.codes[id as usize].name
    }

    pub(super) fn id(&self, code: &str) -> Option<CodeId> {
        self.ids.get(code).copied()
    }

    pub(super) fn accepted(&self, id: CodeId) -> bool {
        self.codes[id as usize].accepted
    }

    pub(super) fn severity_of(&self, id: CodeId) -> Severity {
        let code = &self.codes[id as usize];
        code.severity
            .or_else(|| crate::catalogue::lookup(&code.name).map(|e| e.severity))
            .unwrap_or(Severity::Info)
    }

    pub(super) fn address<'a>(&'a self, key: &'a str, m: &'a Mailbox) -> &'a str {
        m.written.as_deref().unwrap_or(key)
    }

    pub fn mailbox_count(&self) -> usize {
        self.mailboxes.len()
    }
}
