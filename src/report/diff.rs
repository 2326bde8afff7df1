//! `exprobe diff OLD NEW` and `check --baseline OLD`: what changed between
//! two runs. Either side may be a JSON report (`--format json`, or
//! `/checks/NAME` of `serve`) or a JSON Lines run (`--format jsonl`), read
//! line by line so a large run is never held whole.
//!
//! A finding is identified by its code and the mailbox it concerns (none for
//! the organization's own findings); each mailbox also carries every code its
//! result names. "Worse" means a new finding that counts (critical or
//! warning, not accepted), a mailbox whose status went down, or a worse
//! overall status.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;

use serde::Serialize;

use super::sink::JsonlRecord;
use super::{Finding, MailboxResult, OverallStatus, Report, Severity};

/// What a run says, reduced to what a comparison needs.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub label: String,
    pub started_at: Option<String>,
    pub status: Option<OverallStatus>,
    /// By address, lower-cased.
    mailboxes: BTreeMap<String, Mailbox>,
    /// The organization's findings (no mailbox).
    org: BTreeSet<String>,
    severity: BTreeMap<String, Severity>,
    accepted: BTreeSet<String>,
    pub interrupted: bool,
}

#[derive(Debug, Clone)]
struct Mailbox {
    address: String,
    status: OverallStatus,
    codes: BTreeSet<String>,
}

impl Snapshot {
    pub fn new(label: impl Into<String>) -> Self {
        Snapshot {
            label: label.into(),
            ..Default::default()
        }
    }

    pub fn add_findings<'a>(&mut self, findings: impl IntoIterator<Item = &'a Finding>) {
        for f in findings {
            // Some codes' severity depends on the situation: keep the gravest seen.
            let s = self.severity.entry(f.code.clone()).or_insert(f.severity);
            *s = (*s).min(f.severity);
            if f.accepted {
                self.accepted.insert(f.code.clone());
            }
            if f.mailbox.is_none() {
                self.org.insert(f.code.clone());
            }
        }
    }

    pub fn add_mailbox(&mut self, m: &MailboxResult) {
        self.mailboxes.insert(
            m.address.to_ascii_lowercase(),
            Mailbox {
                address: m.address.clone(),
                status: m.status,
                codes: m.findings.iter().cloned().collect(),
            },
        );
    }

    pub fn finish(&mut self, status: OverallStatus, accepted: &[String], interrupted: bool) {
        self.status = Some(status);
        self.accepted.extend(accepted.iter().cloned());
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
        s
    }

    fn severity_of(&self, code: &str) -> Severity {
        self.severity
            .get(code)
            .copied()
            .or_else(|| crate::diagnose::catalogue::lookup(code).map(|e| e.severity))
            .unwrap_or(Severity::Info)
    }

    /// (code, mailbox) pairs: the organization's findings and every code of
    /// the mailboxes `only` keeps.
    fn pairs(&self, only: &dyn Fn(&str) -> bool) -> BTreeSet<(String, String)> {
        let mut out: BTreeSet<(String, String)> = self.org.iter().map(|c| (c.clone(), String::new())).collect();
        for (key, m) in self.mailboxes.iter().filter(|(k, _)| only(k)) {
            for c in &m.codes {
                out.insert((c.clone(), key.clone()));
            }
        }
        out
    }
}

/// Reads a JSON report or a JSON Lines run.
pub fn read(path: &Path) -> Result<Snapshot, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let label = path.display().to_string();
    // A jsonl run's first line is a whole object with "type": "begin".
    let mut first = String::new();
    reader
        .read_line(&mut first)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let is_jsonl = serde_json::from_str::<serde_json::Value>(first.trim())
        .ok()
        .is_some_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("begin"));
    if is_jsonl {
        return read_jsonl(label, &first, reader);
    }
    let mut text = first;
    std::io::Read::read_to_string(&mut reader, &mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let report: Report = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not an exprobe report (`check --format json` or `--format jsonl`): {e}",
            path.display()
        )
    })?;
    Ok(Snapshot::of_report(label, &report))
}

fn read_jsonl(label: String, first: &str, reader: impl BufRead) -> Result<Snapshot, String> {
    let mut s = Snapshot::new(label.clone());
    let mut summary = false;
    let lines = std::iter::once(Ok(first.to_string())).chain(reader.lines());
    for (i, line) in lines.enumerate() {
        let line = line.map_err(|e| format!("cannot read {label}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: JsonlRecord = serde_json::from_str(&line)
            .map_err(|e| format!("{label}: line {}: not an exprobe jsonl record: {e}", i + 1))?;
        match record {
            JsonlRecord::Begin { started_at, .. } => s.started_at = Some(started_at),
            JsonlRecord::Context { findings, .. } => s.add_findings(&findings),
            JsonlRecord::Mailbox {
                result, own_findings, ..
            } => {
                s.add_findings(&own_findings);
                s.add_mailbox(&result);
            }
            JsonlRecord::Summary {
                status,
                findings,
                accepted,
                interrupted,
                ..
            } => {
                s.add_findings(&findings);
                s.finish(status, &accepted, interrupted);
                summary = true;
            }
        }
    }
    if !summary {
        // A run cut short (Ctrl-C, a crash): its mailbox lines still count.
        s.interrupted = true;
    }
    Ok(s)
}

/// One code in one place.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CodeChange {
    pub code: String,
    pub severity: Severity,
    /// The mailboxes concerned (none: the organization's own finding).
    pub mailboxes: Vec<String>,
    /// The organization itself carries it (a finding with no mailbox).
    pub organization: bool,
    pub accepted: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CodeCount {
    pub code: String,
    pub severity: Severity,
    /// Mailboxes carrying the code (the organization's finding counts as none).
    pub old: usize,
    pub new: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusChange {
    pub mailbox: String,
    /// `null`: not in that run.
    pub old: Option<OverallStatus>,
    pub new: Option<OverallStatus>,
    pub worse: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub old: Side,
    pub new: Side,
    /// Something got worse: a new counted finding, a mailbox or the run's status went down.
    pub worse: bool,
    pub new_findings: Vec<CodeChange>,
    pub resolved_findings: Vec<CodeChange>,
    pub unchanged_findings: Vec<CodeChange>,
    pub by_code: Vec<CodeCount>,
    pub status_changes: Vec<StatusChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub source: String,
    pub started_at: Option<String>,
    pub status: Option<OverallStatus>,
    pub mailboxes: usize,
    pub interrupted: bool,
}

fn side(s: &Snapshot) -> Side {
    Side {
        source: s.label.clone(),
        started_at: s.started_at.clone(),
        status: s.status,
        mailboxes: s.mailboxes.len(),
        interrupted: s.interrupted,
    }
}

fn group(pairs: &BTreeSet<(String, String)>, from: &Snapshot, accepted: &BTreeSet<String>) -> Vec<CodeChange> {
    let mut by_code: BTreeMap<&str, CodeChange> = BTreeMap::new();
    for (code, key) in pairs {
        let entry = by_code.entry(code).or_insert_with(|| CodeChange {
            code: code.clone(),
            severity: from.severity_of(code),
            mailboxes: vec![],
            organization: false,
            accepted: accepted.contains(code),
        });
        if key.is_empty() {
            entry.organization = true;
        } else if let Some(m) = from.mailboxes.get(key) {
            entry.mailboxes.push(m.address.clone());
        }
    }
    let mut out: Vec<CodeChange> = by_code.into_values().collect();
    out.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.code.cmp(&b.code)));
    out
}

pub fn compare(old: &Snapshot, new: &Snapshot) -> Diff {
    // A run cut short says nothing of the mailboxes it did not reach: their
    // findings are neither new nor resolved. Whole runs compare whole.
    let partial = old.interrupted || new.interrupted;
    let in_both = |k: &str| !partial || (old.mailboxes.contains_key(k) && new.mailboxes.contains_key(k));
    let (po, pn) = (old.pairs(&in_both), new.pairs(&in_both));
    let added: BTreeSet<_> = pn.difference(&po).cloned().collect();
    let gone: BTreeSet<_> = po.difference(&pn).cloned().collect();
    let kept: BTreeSet<_> = pn.intersection(&po).cloned().collect();
    let new_findings = group(&added, new, &new.accepted);
    let resolved_findings = group(&gone, old, &old.accepted);
    let unchanged_findings = group(&kept, new, &new.accepted);

    let codes: BTreeSet<&String> = po.iter().chain(pn.iter()).map(|(c, _)| c).collect();
    let count = |pairs: &BTreeSet<(String, String)>, code: &str| {
        pairs.iter().filter(|(c, k)| c == code && !k.is_empty()).count()
    };
    let mut by_code: Vec<CodeCount> = codes
        .into_iter()
        .map(|c| CodeCount {
            code: c.clone(),
            severity: if pn.iter().any(|(x, _)| x == c) {
                new.severity_of(c)
            } else {
                old.severity_of(c)
            },
            old: count(&po, c),
            new: count(&pn, c),
        })
        .collect();
    by_code.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.code.cmp(&b.code)));

    let keys: BTreeSet<&String> = old.mailboxes.keys().chain(new.mailboxes.keys()).collect();
    let mut status_changes = vec![];
    for k in keys {
        let (o, n) = (old.mailboxes.get(k), new.mailboxes.get(k));
        let (os, ns) = (o.map(|m| m.status), n.map(|m| m.status));
        if os == ns || !in_both(k) {
            continue;
        }
        let worse = match (os, ns) {
            (Some(a), Some(b)) => b > a,
            (None, Some(b)) => b != OverallStatus::Pass,
            _ => false,
        };
        status_changes.push(StatusChange {
            mailbox: n.or(o).map(|m| m.address.clone()).unwrap_or_else(|| k.clone()),
            old: os,
            new: ns,
            worse,
        });
    }
    let counts = |c: &CodeChange| !c.accepted && c.severity != Severity::Info;
    let worse = new_findings.iter().any(counts)
        || status_changes.iter().any(|s| s.worse)
        || matches!((old.status, new.status), (Some(a), Some(b)) if b > a);
    Diff {
        old: side(old),
        new: side(new),
        worse,
        new_findings,
        resolved_findings,
        unchanged_findings,
        by_code,
        status_changes,
    }
}

fn status_word(s: Option<OverallStatus>) -> &'static str {
    s.map_or("absent", |s| s.as_str())
}

/// Mailboxes named in a line: the first few, then how many more.
fn some(names: &[String], org: bool) -> String {
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = vec![];
    if org {
        parts.push("organization".into());
    }
    parts.extend(names.iter().take(SHOWN).cloned());
    let mut s = parts.join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// The comparison for people.
pub fn render_human(d: &Diff, width: usize) -> String {
    let mut out = String::new();
    let when = |s: &Side| s.started_at.clone().map(|t| format!(", {t}")).unwrap_or_default();
    out.push_str(&format!(
        "Compared {} ({}{}) with {} ({}{})\n",
        d.old.source,
        status_word(d.old.status),
        when(&d.old),
        d.new.source,
        status_word(d.new.status),
        when(&d.new)
    ));
    let improved = matches!((d.old.status, d.new.status), (Some(a), Some(b)) if b < a);
    let verdict = if d.worse {
        "WORSE"
    } else if improved || !d.resolved_findings.is_empty() {
        "better"
    } else {
        "no worse"
    };
    out.push_str(&format!(
        "Status: {} -> {} ({verdict}); mailboxes {} -> {}\n",
        status_word(d.old.status),
        status_word(d.new.status),
        d.old.mailboxes,
        d.new.mailboxes
    ));
    for (s, which) in [(&d.old, "old"), (&d.new, "new")] {
        if s.interrupted {
            out.push_str(&format!(
                "Note: the {which} run was interrupted: only the mailboxes both runs checked are compared.\n"
            ));
        }
    }
    for (title, list) in [
        ("New findings", &d.new_findings),
        ("Resolved findings", &d.resolved_findings),
        ("Unchanged findings", &d.unchanged_findings),
    ] {
        out.push_str(&format!("\n{title} ({}):\n", list.len()));
        if list.is_empty() {
            out.push_str("  none\n");
        }
        for c in list {
            let acc = if c.accepted { " [accepted]" } else { "" };
            let first = format!("  {:<8}  {}{acc}  ", c.severity.as_str(), c.code);
            out.push_str(&super::human::wrap(
                &some(&c.mailboxes, c.organization),
                width,
                &first,
                "            ",
            ));
        }
    }
    if !d.status_changes.is_empty() {
        out.push_str(&format!(
            "\nMailboxes whose status changed ({}):\n",
            d.status_changes.len()
        ));
        for s in &d.status_changes {
            out.push_str(&format!(
                "  {}  {} -> {}{}\n",
                s.mailbox,
                status_word(s.old),
                status_word(s.new),
                if s.worse { "  (worse)" } else { "" }
            ));
        }
    }
    if !d.by_code.is_empty() {
        out.push_str("\nMailboxes per code (old -> new):\n");
        let w = d.by_code.iter().map(|c| c.code.len()).max().unwrap_or(0);
        for c in &d.by_code {
            let delta = c.new as i64 - c.old as i64;
            out.push_str(&format!(
                "  {:<w$}  {:>6} -> {:<6} {}\n",
                c.code,
                c.old,
                c.new,
                match delta {
                    0 => String::new(),
                    d if d > 0 => format!("+{d}"),
                    d => d.to_string(),
                }
            ));
        }
    }
    out
}

pub fn render_json(d: &Diff) -> String {
    serde_json::to_string_pretty(d).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(a: &str, s: OverallStatus, codes: &[&str]) -> MailboxResult {
        MailboxResult {
            address: a.into(),
            status: s,
            findings: codes.iter().map(|c| c.to_string()).collect(),
            facts: Default::default(),
        }
    }

    #[test]
    fn a_new_critical_code_is_worse_and_a_resolved_one_is_not() {
        let mut old = Snapshot::new("old");
        old.add_mailbox(&mailbox("a@x.com", OverallStatus::Pass, &[]));
        old.add_mailbox(&mailbox("b@x.com", OverallStatus::Fail, &["impersonation.denied"]));
        old.finish(OverallStatus::Fail, &[], false);
        let mut new = Snapshot::new("new");
        new.add_mailbox(&mailbox("A@x.com", OverallStatus::Fail, &["ews.mailbox_not_found"]));
        new.add_mailbox(&mailbox("b@x.com", OverallStatus::Pass, &[]));
        new.finish(OverallStatus::Fail, &[], false);
        let d = compare(&old, &new);
        assert!(d.worse);
        assert_eq!(d.new_findings.len(), 1);
        assert_eq!(d.new_findings[0].mailboxes, ["A@x.com"]);
        assert_eq!(d.resolved_findings[0].code, "impersonation.denied");
        assert_eq!(d.status_changes.len(), 2);
        assert!(d.status_changes.iter().any(|s| s.mailbox == "A@x.com" && s.worse));
        // The same runs the other way round: b got worse.
        assert!(compare(&new, &old).worse);
        // Identical runs: nothing new, nothing worse.
        let same = compare(&new, &new);
        assert!(!same.worse && same.new_findings.is_empty() && same.status_changes.is_empty());
    }

    #[test]
    fn an_interrupted_run_resolves_nothing_it_did_not_reach() {
        let mut old = Snapshot::new("old");
        old.add_mailbox(&mailbox("a@x.com", OverallStatus::Fail, &["impersonation.denied"]));
        old.add_mailbox(&mailbox("b@x.com", OverallStatus::Fail, &["impersonation.denied"]));
        old.finish(OverallStatus::Fail, &[], false);
        // Cut short after one mailbox, no summary.
        let mut new = Snapshot::new("new");
        new.add_mailbox(&mailbox("a@x.com", OverallStatus::Fail, &["impersonation.denied"]));
        new.interrupted = true;
        let d = compare(&old, &new);
        assert!(d.resolved_findings.is_empty(), "{:?}", d.resolved_findings);
        assert!(d.status_changes.is_empty());
        assert!(!d.worse);
        assert!(!render_human(&d, 80).contains("(better)"));
    }

    #[test]
    fn an_accepted_new_code_is_not_worse() {
        let mut old = Snapshot::new("old");
        old.add_mailbox(&mailbox("a@x.com", OverallStatus::Pass, &[]));
        old.finish(OverallStatus::Pass, &[], false);
        let mut new = Snapshot::new("new");
        new.add_mailbox(&mailbox(
            "a@x.com",
            OverallStatus::Pass,
            &["exchange_online.ews_retirement"],
        ));
        new.finish(OverallStatus::Pass, &["exchange_online.ews_retirement".into()], false);
        let d = compare(&old, &new);
        assert_eq!(d.new_findings.len(), 1);
        assert!(d.new_findings[0].accepted);
        assert!(!d.worse);
    }
}
