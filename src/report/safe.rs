//! A [`Report`] (or [`Digest`]) as the text renderers (`human`, `nagios`) may show it: every
//! string a server or a file may have written escaped for a terminal (see
//! [`crate::terminal`]). The JSON renderers never use this: JSON keeps the
//! exact text.

use std::borrow::Cow;

use super::digest::Digest;
use super::model::*;
use crate::terminal;

/// Calls `$f` on every string of a report that a renderer may show, by
/// reference or (with `mut`) by mutable reference: one list of fields for
/// both the check and the rewrite, so they cannot disagree.
macro_rules! each_string {
    ($report:expr, $f:expr, $($m:tt)?) => {{
        let r = $report;
        let f = $f;
        f(& $($m)? r.started_at);
        for m in & $($m)? r.target.mailboxes { f(m); }
        if let Some(s) = & $($m)? r.target.service_account { f(s); }
        f(& $($m)? r.target.auth);
        if let Some(t) = & $($m)? r.target.tenant { f(t); }
        f(& $($m)? r.target.api);
        for s in & $($m)? r.steps {
            f(& $($m)? s.id);
            f(& $($m)? s.probe);
            if let Some(m) = & $($m)? s.mailbox { f(m); }
            f(& $($m)? s.title);
            f(& $($m)? s.detail);
            if let Some(b) = & $($m)? s.skipped_because { f(b); }
            for ex in & $($m)? s.evidence {
                f(& $($m)? ex.request.method);
                f(& $($m)? ex.request.url);
                for (n, v) in & $($m)? ex.request.headers { f(n); f(v); }
                if let Some(b) = & $($m)? ex.request.body_excerpt { f(b); }
                if let Some(resp) = & $($m)? ex.response {
                    for (n, v) in & $($m)? resp.headers { f(n); f(v); }
                    f(& $($m)? resp.body_excerpt);
                }
                if let Some(e) = & $($m)? ex.error {
                    f(& $($m)? e.kind);
                    f(& $($m)? e.message);
                }
            }
        }
        for x in & $($m)? r.findings {
            f(& $($m)? x.code);
            if let Some(m) = & $($m)? x.mailbox { f(m); }
            f(& $($m)? x.title);
            f(& $($m)? x.detail);
            f(& $($m)? x.explanation);
            for s in & $($m)? x.remediation { f(s); }
            for s in & $($m)? x.evidence_steps { f(s); }
            for s in & $($m)? x.references { f(s); }
        }
        for m in & $($m)? r.mailboxes {
            f(& $($m)? m.address);
            for c in & $($m)? m.findings { f(c); }
            for (_, v) in & $($m)? m.facts { f(v); }
        }
        for t in & $($m)? r.throttling { f(& $($m)? t.host); }
        if let Some(n) = & $($m)? r.evidence_note { f(n); }
        for a in & $($m)? r.accepted { f(a); }
    }};
}

/// `report` with every shown string escaped for a terminal; borrowed when
/// nothing needed escaping (the common case costs one scan, no copy).
/// Map keys (`counts.by_code`, `facts`) are codes and fact names exprobe
/// writes itself and are not shown from a foreign source.
pub fn for_terminal(report: &Report) -> Cow<'_, Report> {
    let mut unsafe_text = false;
    each_string!(report, &mut |s: &String| unsafe_text |= terminal::needs_escape(s),);
    if !unsafe_text {
        return Cow::Borrowed(report);
    }
    let mut copy = report.clone();
    each_string!(&mut copy, &mut |s: &mut String| terminal::escape_in_place(s), mut);
    Cow::Owned(copy)
}

/// [`for_terminal`] for a [`Digest`]: its report and the addresses it names per code.
pub fn digest_for_terminal(digest: &Digest) -> Cow<'_, Digest> {
    let report = for_terminal(&digest.report);
    let names_unsafe = digest
        .affected
        .values()
        .any(|a| a.first.iter().any(|s| terminal::needs_escape(s)));
    if matches!(report, Cow::Borrowed(_)) && !names_unsafe {
        return Cow::Borrowed(digest);
    }
    let mut copy = digest.clone();
    copy.report = report.into_owned();
    for a in copy.affected.values_mut() {
        for s in &mut a.first {
            terminal::escape_in_place(s);
        }
    }
    Cow::Owned(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_are_escaped_and_clean_reports_borrowed() {
        let step = Step {
            id: "ews.impersonation:a@contoso.com".into(),
            probe: "ews.impersonation".into(),
            mailbox: Some("a@contoso.com".into()),
            title: "impersonation".into(),
            status: StepStatus::Fail,
            duration_ms: 1,
            detail: "denied".into(),
            skipped_because: None,
            observations: serde_json::Value::Null,
            evidence: vec![],
        };
        let finding = Finding {
            code: "impersonation.denied".into(),
            severity: Severity::Critical,
            mailbox: Some("a@contoso.com".into()),
            title: "denied".into(),
            detail: String::new(),
            explanation: String::new(),
            remediation: vec![],
            evidence_steps: vec![],
            references: vec![],
            accepted: false,
        };
        let mut report = Report {
            schema_version: SCHEMA_VERSION,
            tool: super::super::sink::tool_info(),
            started_at: "2026-12-03T00:00:00Z".into(),
            duration_ms: 1,
            target: Target {
                mailboxes: vec!["a@contoso.com".into()],
                service_account: None,
                auth: "basic".into(),
                tenant: None,
                api: "ews".into(),
            },
            insecure: false,
            status: OverallStatus::Fail,
            steps: vec![step],
            findings: vec![finding],
            mailboxes: vec![],
            throttling: vec![],
            evidence_note: None,
            counts: Counts::default(),
            interrupted: false,
            accepted: vec![],
        };
        assert!(matches!(for_terminal(&report), Cow::Borrowed(_)));
        report.steps[0].detail = "ok\r\x1b[32m✓ pass\u{202e}".into();
        report.findings[0].detail = "\x1b]8;;http://evil\x07link".into();
        let safe = for_terminal(&report);
        assert!(matches!(safe, Cow::Owned(_)));
        let mut any = false;
        each_string!(&*safe, &mut |s: &String| any |= terminal::needs_escape(s),);
        assert!(!any);
        assert_eq!(safe.steps[0].detail, "ok\\r\\x1b[32m✓ pass\\u{202e}");
    }
}
