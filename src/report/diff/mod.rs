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

mod read;
mod snapshot;

use std::collections::HashMap;

use serde::Serialize;

pub use read::{read, read_from, MAX_DOCUMENT_BYTES, MAX_LINE_BYTES};
pub use snapshot::{Snapshot, MAX_CODES, MAX_MAILBOXES};

use super::{OverallStatus, Severity};
use crate::terminal::escape;

/// One code in one place.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CodeChange<'a> {
    pub code: &'a str,
    pub severity: Severity,
    /// The mailboxes concerned (none: the organization's own finding).
    pub mailboxes: Vec<&'a str>,
    /// The organization itself carries it (a finding with no mailbox).
    pub organization: bool,
    pub accepted: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CodeCount<'a> {
    pub code: &'a str,
    pub severity: Severity,
    /// Mailboxes carrying the code (the organization's finding counts as none).
    pub old: usize,
    pub new: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusChange<'a> {
    pub mailbox: &'a str,
    /// `null`: not in that run.
    pub old: Option<OverallStatus>,
    pub new: Option<OverallStatus>,
    pub worse: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff<'a> {
    pub old: Side<'a>,
    pub new: Side<'a>,
    /// Something got worse: a new counted finding, a mailbox or the run's status went down.
    pub worse: bool,
    pub new_findings: Vec<CodeChange<'a>>,
    pub resolved_findings: Vec<CodeChange<'a>>,
    pub unchanged_findings: Vec<CodeChange<'a>>,
    pub by_code: Vec<CodeCount<'a>>,
    pub status_changes: Vec<StatusChange<'a>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Side<'a> {
    pub source: &'a str,
    pub started_at: Option<&'a str>,
    pub status: Option<OverallStatus>,
    pub mailboxes: usize,
    pub interrupted: bool,
    /// What reading left out (lines over the cap, mailboxes past the cap):
    /// such a side compares as a partial run.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub cut: &'a [String],
}

fn side(s: &Snapshot) -> Side<'_> {
    Side {
        source: &s.label,
        started_at: s.started_at.as_deref(),
        status: s.status,
        mailboxes: s.mailbox_count(),
        interrupted: s.interrupted,
        cut: &s.cut,
    }
}

/// What one code did across the compared mailboxes.
#[derive(Default)]
struct CodeTally<'a> {
    added: Vec<&'a str>,
    gone: Vec<&'a str>,
    kept: Vec<&'a str>,
    org_added: bool,
    org_gone: bool,
    org_kept: bool,
    old_count: usize,
    new_count: usize,
    /// Carried by the new run (its severity wins).
    in_new: bool,
}

/// Compares two runs in one pass over each side's mailboxes (both are
/// sorted by address): linear in mailboxes times codes, whatever the number
/// of distinct codes.
pub fn compare<'a>(old: &'a Snapshot, new: &'a Snapshot) -> Diff<'a> {
    // A run cut short says nothing of the mailboxes it did not reach: their
    // findings are neither new nor resolved. Whole runs compare whole.
    let partial = old.partial() || new.partial();
    let mut tally: HashMap<&'a str, CodeTally<'a>> = HashMap::new();
    tally_organization(old, new, &mut tally);
    let status_changes = tally_mailboxes(old, new, partial, &mut tally);
    let (new_findings, resolved_findings, unchanged_findings, by_code) = changes(old, new, tally);
    let counts = |c: &CodeChange<'_>| !c.accepted && c.severity != Severity::Info;
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

/// The organization's codes: kept, gone or added.
fn tally_organization<'a>(old: &'a Snapshot, new: &'a Snapshot, tally: &mut HashMap<&'a str, CodeTally<'a>>) {
    for &id in &old.org {
        let code = old.name(id);
        let t = tally.entry(code).or_default();
        match new.id(code).filter(|n| new.org.contains(n)) {
            Some(_) => t.org_kept = true,
            None => t.org_gone = true,
        }
    }
    for &id in &new.org {
        let code = new.name(id);
        let t = tally.entry(code).or_default();
        t.in_new = true;
        if !old.id(code).is_some_and(|o| old.org.contains(&o)) {
            t.org_added = true;
        }
    }
}

/// Each mailbox's codes on both sides (kept, gone, added) and its status change.
fn tally_mailboxes<'a>(
    old: &'a Snapshot,
    new: &'a Snapshot,
    partial: bool,
    tally: &mut HashMap<&'a str, CodeTally<'a>>,
) -> Vec<StatusChange<'a>> {
    let mut status_changes = vec![];
    for (key, o, n) in merge(old, new) {
        if partial && (o.is_none() || n.is_none()) {
            continue;
        }
        if let Some(o) = o {
            let address = old.address(key, o);
            for &id in o.codes.iter() {
                let code = old.name(id);
                let t = tally.entry(code).or_default();
                t.old_count += 1;
                let still = n.is_some_and(|n| new.id(code).is_some_and(|nid| n.codes.binary_search(&nid).is_ok()));
                if !still {
                    t.gone.push(address);
                }
            }
        }
        if let Some(n) = n {
            let address = new.address(key, n);
            for &id in n.codes.iter() {
                let code = new.name(id);
                let t = tally.entry(code).or_default();
                t.new_count += 1;
                t.in_new = true;
                let before = o.is_some_and(|o| old.id(code).is_some_and(|oid| o.codes.binary_search(&oid).is_ok()));
                if before {
                    t.kept.push(address);
                } else {
                    t.added.push(address);
                }
            }
        }
        status_changes.extend(status_change(old, new, (key, o, n)));
    }
    status_changes
}

/// A mailbox whose status differs between the runs (worse when it got worse or appeared failing).
fn status_change<'a>(old: &'a Snapshot, new: &'a Snapshot, (key, o, n): Pair<'a>) -> Option<StatusChange<'a>> {
    let (os, ns) = (o.map(|m| m.status), n.map(|m| m.status));
    if os == ns {
        return None;
    }
    let worse = match (os, ns) {
        (Some(a), Some(b)) => b > a,
        (None, Some(b)) => b != OverallStatus::Pass,
        _ => false,
    };
    let mailbox = match (o, n) {
        (_, Some(n)) => new.address(key, n),
        (Some(o), None) => old.address(key, o),
        (None, None) => key,
    };
    Some(StatusChange {
        mailbox,
        old: os,
        new: ns,
        worse,
    })
}

type Changes<'a> = (
    Vec<CodeChange<'a>>,
    Vec<CodeChange<'a>>,
    Vec<CodeChange<'a>>,
    Vec<CodeCount<'a>>,
);

/// The tallies as new, resolved and unchanged findings and counts per code, most severe first.
fn changes<'a>(old: &'a Snapshot, new: &'a Snapshot, tally: HashMap<&'a str, CodeTally<'a>>) -> Changes<'a> {
    let change = |from: &'a Snapshot, code: &'a str, mailboxes: Vec<&'a str>, organization: bool| {
        let id = from.id(code);
        CodeChange {
            code,
            severity: id.map_or(Severity::Info, |i| from.severity_of(i)),
            mailboxes,
            organization,
            accepted: id.is_some_and(|i| from.accepted(i)),
        }
    };
    let (mut new_findings, mut resolved_findings, mut unchanged_findings, mut by_code) =
        (vec![], vec![], vec![], vec![]);
    for (code, t) in tally {
        if !t.added.is_empty() || t.org_added {
            new_findings.push(change(new, code, t.added, t.org_added));
        }
        if !t.gone.is_empty() || t.org_gone {
            resolved_findings.push(change(old, code, t.gone, t.org_gone));
        }
        if !t.kept.is_empty() || t.org_kept {
            unchanged_findings.push(change(new, code, t.kept, t.org_kept));
        }
        let from = if t.in_new { new } else { old };
        by_code.push(CodeCount {
            code,
            severity: from.id(code).map_or(Severity::Info, |i| from.severity_of(i)),
            old: t.old_count,
            new: t.new_count,
        });
    }
    for list in [&mut new_findings, &mut resolved_findings, &mut unchanged_findings] {
        list.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.code.cmp(b.code)));
    }
    by_code.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.code.cmp(b.code)));
    (new_findings, resolved_findings, unchanged_findings, by_code)
}

type Pair<'a> = (&'a str, Option<&'a snapshot::Mailbox>, Option<&'a snapshot::Mailbox>);

/// Both sides' mailboxes by address, in address order.
fn merge<'a>(old: &'a Snapshot, new: &'a Snapshot) -> impl Iterator<Item = Pair<'a>> {
    let mut a = old.mailboxes.iter().peekable();
    let mut b = new.mailboxes.iter().peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some((ka, _)), Some((kb, _))) => match ka.cmp(kb) {
            std::cmp::Ordering::Less => a.next().map(|(k, m)| (&**k, Some(m), None)),
            std::cmp::Ordering::Greater => b.next().map(|(k, m)| (&**k, None, Some(m))),
            std::cmp::Ordering::Equal => {
                let (k, m) = a.next()?;
                let (_, n) = b.next()?;
                Some((&**k, Some(m), Some(n)))
            }
        },
        (Some(_), None) => a.next().map(|(k, m)| (&**k, Some(m), None)),
        (None, Some(_)) => b.next().map(|(k, m)| (&**k, None, Some(m))),
        (None, None) => None,
    })
}

fn status_word(s: Option<OverallStatus>) -> &'static str {
    s.map_or("absent", |s| s.as_str())
}

/// Mailboxes named in a line: the first few, then how many more.
fn some(names: &[&str], org: bool) -> String {
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = vec![];
    if org {
        parts.push("organization".into());
    }
    parts.extend(names.iter().take(SHOWN).map(|n| escape(n).into_owned()));
    let mut s = parts.join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// The comparison for people.
/// Every string that came from a file (paths, codes, addresses, times) is
/// shown escaped for a terminal.
pub fn render_human(d: &Diff<'_>, width: usize) -> String {
    let mut out = head(d);
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
            let first = format!("  {:<8}  {}{acc}  ", c.severity.as_str(), escape(c.code));
            out.push_str(&super::human::wrap(
                &some(&c.mailboxes, c.organization),
                width,
                &first,
                "            ",
            ));
        }
    }
    status_changes_and_counts(&mut out, d);
    out
}

/// Which runs, the verdict, and what limits the comparison.
fn head(d: &Diff<'_>) -> String {
    let mut out = String::new();
    let when = |s: &Side<'_>| s.started_at.map(|t| format!(", {}", escape(t))).unwrap_or_default();
    out.push_str(&format!(
        "Compared {} ({}{}) with {} ({}{})\n",
        escape(d.old.source),
        status_word(d.old.status),
        when(&d.old),
        escape(d.new.source),
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
        for note in s.cut {
            out.push_str(&format!(
                "Note: reading the {which} run, {}: only the mailboxes both runs hold are compared.\n",
                escape(note)
            ));
        }
    }
    out
}

/// The mailboxes whose status changed, then the count of mailboxes per code on each side.
fn status_changes_and_counts(out: &mut String, d: &Diff<'_>) {
    if !d.status_changes.is_empty() {
        out.push_str(&format!(
            "\nMailboxes whose status changed ({}):\n",
            d.status_changes.len()
        ));
        for s in &d.status_changes {
            out.push_str(&format!(
                "  {}  {} -> {}{}\n",
                escape(s.mailbox),
                status_word(s.old),
                status_word(s.new),
                if s.worse { "  (worse)" } else { "" }
            ));
        }
    }
    if !d.by_code.is_empty() {
        out.push_str("\nMailboxes per code (old -> new):\n");
        let w = d
            .by_code
            .iter()
            .map(|c| escape(c.code).chars().count())
            .max()
            .unwrap_or(0);
        for c in &d.by_code {
            let delta = c.new as i64 - c.old as i64;
            out.push_str(&format!(
                "  {:<w$}  {:>6} -> {:<6} {}\n",
                escape(c.code),
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
}

pub fn render_json(d: &Diff<'_>) -> String {
    serde_json::to_string_pretty(d).unwrap_or_default() + "\n"
}

/// [`render_json`] written straight into `w` (a large comparison is never one string).
pub fn write_json(d: &Diff<'_>, w: &mut impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, d).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::MailboxResult;

    fn mailbox(a: &str, s: OverallStatus, codes: &[&str]) -> MailboxResult {
        MailboxResult {
            address: a.into(),
            status: s,
            findings: codes.iter().map(|c| c.to_string()).collect(),
            facts: Default::default(),
            graph_readiness: None,
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
