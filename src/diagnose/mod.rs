//! The report engine: typed observations → findings (catalogue codes, root
//! cause first) → the [`Report`].

pub mod catalogue;
mod catalogue_oauth;
mod ews_rules;
mod oauth_rules;
mod rules;

use std::collections::BTreeMap;

use crate::config::CheckConfig;
use crate::probe::plan::RunOutcome;
use crate::report::*;

pub use oauth_rules::{aadsts_code, graph_code};
pub use rules::Raised;

fn finding_of(r: &Raised) -> Finding {
    let entry = catalogue::lookup(r.code);
    Finding {
        code: r.code.to_string(),
        severity: r.severity.or(entry.map(|e| e.severity)).unwrap_or(Severity::Critical),
        mailbox: r.mailbox.clone(),
        title: entry.map(|e| e.title.to_string()).unwrap_or_else(|| r.code.to_string()),
        detail: r.detail.clone(),
        explanation: entry.map(|e| e.explanation.to_string()).unwrap_or_default(),
        remediation: entry
            .map(|e| e.remediation.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        evidence_steps: r.evidence_steps.clone(),
        references: entry
            .map(|e| e.references.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
    }
}

fn status_of(findings: &[&Finding]) -> OverallStatus {
    if findings.iter().any(|f| f.severity == Severity::Critical) {
        OverallStatus::Fail
    } else if findings.iter().any(|f| f.severity == Severity::Warning) {
        OverallStatus::Warn
    } else {
        OverallStatus::Pass
    }
}

pub fn build_report(config: &CheckConfig, outcome: RunOutcome) -> Report {
    let mut raised = rules::evaluate(config, &outcome);
    ews_rules::evaluate(config, &outcome, &mut raised);
    oauth_rules::evaluate(config, &outcome, &mut raised);
    // Root cause first: by severity, then by the stage that failed first.
    raised.sort_by_key(|r| {
        let sev = r
            .severity
            .or(catalogue::lookup(r.code).map(|e| e.severity))
            .unwrap_or(Severity::Critical);
        (sev, r.stage)
    });
    let findings: Vec<Finding> = raised.iter().map(finding_of).collect();
    // Which findings affect each mailbox, in one pass (bulk runs stay linear).
    let mut affecting: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, r) in raised.iter().enumerate() {
        for a in &r.affects {
            let list = affecting.entry(a.as_str()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    let autodiscover_index: std::collections::HashMap<&str, usize> = outcome
        .autodiscover
        .iter()
        .enumerate()
        .map(|(i, a)| (a.mailbox.as_str(), i))
        .collect();
    let mailboxes: Vec<MailboxResult> = config
        .mailboxes
        .iter()
        .map(|m| {
            let mine: Vec<&Finding> = affecting
                .get(m.as_str())
                .map(|ids| ids.iter().map(|&i| &findings[i]).collect())
                .unwrap_or_default();
            let mut codes: Vec<String> = vec![];
            for f in &mine {
                if !codes.contains(&f.code) {
                    codes.push(f.code.clone());
                }
            }
            let mut facts = BTreeMap::new();
            if let Some(a) = autodiscover_index.get(m.as_str()).map(|&i| &outcome.autodiscover[i]) {
                if let Some(u) = &a.ews_url {
                    facts.insert("ews_url".to_string(), u.clone());
                }
                if let Some(p) = &a.primary_smtp_address {
                    facts.insert("primary_smtp_address".to_string(), p.clone());
                }
            }
            MailboxResult {
                address: m.clone(),
                status: status_of(&mine),
                findings: codes,
                facts,
            }
        })
        .collect();
    let all: Vec<&Finding> = findings.iter().collect();
    let mut counts = Counts::default();
    for m in &mailboxes {
        match m.status {
            OverallStatus::Pass => counts.pass += 1,
            OverallStatus::Warn => counts.warn += 1,
            OverallStatus::Fail => counts.fail += 1,
        }
        for c in &m.findings {
            *counts.by_code.entry(c.clone()).or_default() += 1;
        }
    }
    let throttling = outcome.throttling.clone();
    let evidence_note = (outcome.evidence_dropped > 0).then(|| {
        format!(
            "HTTP evidence is kept for every step that did not pass and for the first {} mailboxes; {} passing steps of later mailboxes carry none",
            crate::probe::plan::EVIDENCE_MAILBOXES,
            outcome.evidence_dropped
        )
    });
    Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "exprobe".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        started_at: outcome
            .started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        duration_ms: outcome.duration_ms,
        target: Target {
            mailboxes: config.mailboxes.clone(),
            service_account: config.service_account.clone(),
            auth: config.auth.as_str().into(),
            tenant: config.app.as_ref().map(|a| a.tenant.clone()),
            api: config.api.as_str().into(),
        },
        insecure: outcome.insecure,
        status: status_of(&all),
        steps: outcome.steps,
        findings,
        mailboxes,
        throttling,
        evidence_note,
        counts,
    }
}
