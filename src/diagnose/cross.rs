//! Facts across mailboxes: each mailbox adds to a tally as it finishes (and
//! its result carries the code); one finding per tally is written at the end.
//! The tallies keep counts and a few evidence step ids, never per-mailbox
//! state, so a streamed run stays flat in memory.

use std::collections::{BTreeMap, BTreeSet};

use super::code::{Code, Stage};
use super::ews_rules::is_exchange_online;
use super::oauth_rules::{claim_finding, shown_by_the_api, PRIVILEGE_DENIALS};
use super::rules::{Affects, Raised};
use crate::code;
use crate::config::{AuthMode, CheckConfig, MailApi};
use crate::ews_timeline::{days_until, written, Phase, ENFORCEMENT, SHUTDOWN};
use crate::probe::oauth::ClaimProblem;
use crate::probe::plan::{MailboxOutcome, Org};
use crate::probe::StepKind;

/// Evidence step ids kept per tally (the smallest, so the result does not
/// depend on the order mailboxes finished in).
const EVIDENCE_KEPT: usize = 20;

#[derive(Debug, Default)]
struct Tally {
    count: usize,
    evidence: BTreeSet<String>,
}

impl Tally {
    fn add(&mut self, evidence: impl IntoIterator<Item = String>) {
        self.count += 1;
        for e in evidence {
            self.evidence.insert(e);
            if self.evidence.len() > EVIDENCE_KEPT {
                self.evidence.pop_last();
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct CrossMailbox {
    deadline: Tally,
    basic_online: Tally,
    ews_online: Tally,
    /// (token index, problem index) → mailboxes whose API was not called.
    claims: BTreeMap<(usize, usize), Tally>,
    denied: Tally,
    /// Mailboxes EWS let in with an app token that has no full_access_as_app
    /// (RBAC for Applications), whose EWS URL came from autodiscover.
    rbac_autodiscover: Tally,
}

/// How long EWS has left in Exchange Online, counted from the run's day.
fn retirement_detail(count: usize, today: time::Date) -> String {
    let left = |until| match days_until(today, until) {
        1 => "1 day left".to_string(),
        n => format!("{n} days left"),
    };
    let when = match Phase::on(today) {
        Phase::Permissive => format!(
            "from {} ({}) only apps on the tenant's EwsAllowedAppIDs may use EWS; on {} ({}) it is switched off",
            written(ENFORCEMENT),
            left(ENFORCEMENT),
            written(SHUTDOWN),
            left(SHUTDOWN)
        ),
        Phase::Enforcement => format!(
            "EWS in Exchange Online is switched off on {}: {}",
            written(SHUTDOWN),
            left(SHUTDOWN)
        ),
        Phase::ShutDown => format!("EWS in Exchange Online was switched off on {}", written(SHUTDOWN)),
    };
    format!("{count} mailbox(es) checked over EWS on Exchange Online; {when}")
}

fn marker(code: Code, stage: Stage) -> Raised {
    Raised::org(code, stage, Affects::Mailbox, String::new(), vec![])
}

impl CrossMailbox {
    /// Tallies one mailbox; returns the codes its result carries because of
    /// these facts. `carried` are the findings it carries already.
    pub fn observe(&mut self, config: &CheckConfig, org: &Org, m: &MailboxOutcome, carried: &[&Raised]) -> Vec<Raised> {
        let mut marks = vec![];
        if m.record.deadline_skipped {
            self.deadline.add([]);
            marks.push(marker(code!("run.deadline_reached"), Stage::Transport));
        }
        if m.record.unchecked || org.invalid_reason(&m.mailbox).is_some() {
            return marks;
        }
        let online = m.discovery.ews_url.is_some() && is_exchange_online(org, m);
        // Exchange Online and a password: the ApplicationImpersonation path is gone.
        if online && matches!(config.auth.mode(), AuthMode::Basic | AuthMode::Ntlm) {
            self.basic_online.add([StepKind::Autodiscover.id(&m.mailbox)]);
            marks.push(marker(
                code!("exchange_online.application_impersonation_retired"),
                Stage::Reach,
            ));
        }
        // EWS against Exchange Online: the retirement dates, or once EWS is
        // switched off, the switch-off (whatever else failed first).
        if let (true, Some(r)) = (online, &m.ews.reach) {
            self.ews_online.add([r.step.id.clone()]);
            marks.push(match Phase::on(config.today) {
                Phase::ShutDown => marker(code!("exchange_online.ews_shut_down"), Stage::Reach),
                _ => marker(code!("exchange_online.ews_retirement"), Stage::Advice),
            });
        }
        // EWS let an app in that holds no full_access_as_app: an RBAC role,
        // which a product that autodiscovers with its token cannot use.
        let rbac_token = org.token_for(MailApi::Ews).is_some_and(|t| {
            t.claims.as_ref().is_some_and(|c| c.is_app_only())
                && t.problems.iter().any(|p| matches!(p, ClaimProblem::MissingRole { .. }))
        });
        let let_in = m.ews.impersonation.as_ref().is_some_and(|i| {
            i.failure.is_none() && matches!(i.reply, Some(crate::protocol::ews::EwsReply::Success { .. }))
        });
        if online && rbac_token && let_in && config.endpoints.ews_url.is_none() && m.discovery.autodiscover.is_some() {
            self.rbac_autodiscover.add([
                StepKind::Autodiscover.id(&m.mailbox),
                StepKind::EwsImpersonation.id(&m.mailbox),
            ]);
        }
        // A missing role or scope the API did not get to show for this mailbox.
        for (ti, t) in org.tokens.iter().enumerate() {
            if t.error.is_some() || t.failure.is_some() || t.unexpected_answer.is_some() {
                continue;
            }
            let called = if t.api == MailApi::Ews {
                m.ews.impersonation.is_some()
            } else {
                m.graph.is_some()
            };
            if called {
                continue;
            }
            for (pi, p) in t.problems.iter().enumerate().filter(|(_, p)| shown_by_the_api(p)) {
                self.claims
                    .entry((ti, pi))
                    .or_default()
                    .add([StepKind::Token.id(t.api.as_str())]);
                let f = claim_finding(t, p, Affects::Mailbox);
                let mut mark = marker(f.code, f.stage);
                mark.evidence_steps = f.evidence_steps;
                marks.push(mark);
            }
        }
        // Every privilege denial carries the propagation advice.
        let denials: Vec<&Raised> = carried
            .iter()
            .copied()
            .chain(marks.iter())
            .filter(|r| PRIVILEGE_DENIALS.contains(&r.code))
            .collect();
        if !denials.is_empty() {
            let evidence: Vec<String> = denials.iter().flat_map(|r| r.evidence_steps.clone()).collect();
            self.denied.add(evidence);
            marks.push(marker(code!("permissions.recently_changed"), Stage::Advice));
        }
        marks
    }

    /// One finding per fact that any mailbox showed.
    pub fn finish(self, config: &CheckConfig, org: &Org, total: usize) -> Vec<Raised> {
        let mut raised = vec![];
        let push = |raised: &mut Vec<Raised>, tally: &Tally, code: Code, stage: Stage, detail: String| {
            if tally.count > 0 {
                raised.push(Raised::org(
                    code,
                    stage,
                    Affects::Nobody,
                    detail,
                    tally.evidence.iter().cloned().collect(),
                ));
            }
        };
        push(
            &mut raised,
            &self.deadline,
            code!("run.deadline_reached"),
            Stage::Transport,
            format!(
                "{} of {total} mailboxes were not fully checked before the deadline ({} s)",
                self.deadline.count,
                config.net.deadline.as_secs_f64()
            ),
        );
        push(
            &mut raised,
            &self.basic_online,
            code!("exchange_online.application_impersonation_retired"),
            Stage::Reach,
            format!(
                "{} mailbox(es) on Exchange Online checked with a service account password",
                self.basic_online.count
            ),
        );
        for (&(ti, pi), tally) in &self.claims {
            if let Some(p) = org.tokens.get(ti).and_then(|t| t.problems.get(pi)) {
                let mut f = claim_finding(&org.tokens[ti], p, Affects::Nobody);
                f.evidence_steps = tally.evidence.iter().cloned().collect();
                raised.push(f);
            }
        }
        let (code, stage) = match Phase::on(config.today) {
            Phase::ShutDown => (code!("exchange_online.ews_shut_down"), Stage::Reach),
            _ => (code!("exchange_online.ews_retirement"), Stage::Advice),
        };
        push(
            &mut raised,
            &self.ews_online,
            code,
            stage,
            retirement_detail(self.ews_online.count, config.today),
        );
        push(
            &mut raised,
            &self.rbac_autodiscover,
            code!("exchange_online.rbac_autodiscover"),
            Stage::Advice,
            format!(
                "{} mailbox(es) reached over EWS with an app token without full_access_as_app (an RBAC for Applications role); the EWS URL came from Autodiscover, which does not accept that role",
                self.rbac_autodiscover.count
            ),
        );
        push(
            &mut raised,
            &self.denied,
            code!("permissions.recently_changed"),
            Stage::Advice,
            "if a role, consent or policy changed in the last two hours, wait and re-run".into(),
        );
        raised
    }
}
