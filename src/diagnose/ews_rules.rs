//! Rules for the EWS steps and identity: reach, auth, impersonation per
//! mailbox, alias and domain checks, Exchange Online's retired paths, and the
//! propagation advice attached to privilege denials.

use std::fmt::Write as _;

use url::Url;

use super::code::{Code, Stage};
use super::codes::{net_code, reply_code, response_code};
use super::rules::{Affects, Raised};
use crate::code;
use crate::config::{AuthMode, CheckConfig, MailApi};
use crate::ews_timeline::Phase;
use crate::probe::ews::{AuthOutcome, ImpersonationOutcome, ReachOutcome};
use crate::probe::plan::{MailboxOutcome, Org};
use crate::probe::StepKind;
use crate::protocol::ews::{self, EwsReply};

fn host(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

fn describe(reply: &EwsReply) -> String {
    match reply {
        EwsReply::Error { error, .. } => {
            let mut d = format!("{}: {}", error.code, error.message);
            if error.effective_code() != error.code {
                d.push_str(&format!(" (inner {})", error.effective_code()));
            }
            for (k, v) in &error.values {
                d.push_str(&format!("; {k}={v}"));
            }
            d
        }
        EwsReply::Unauthorized { diagnostics, ntlm, .. } => format!(
            "HTTP 401{}{}",
            match ntlm {
                Some(ews::NtlmStage::NoChallenge) => " to the NTLM NEGOTIATE message: no CHALLENGE came back",
                Some(ews::NtlmStage::Rejected { via_negotiate: false }) => " to the NTLM AUTHENTICATE message: the account or its password was not accepted",
                Some(ews::NtlmStage::Rejected { via_negotiate: true }) => " to the NTLM AUTHENTICATE message sent inside Negotiate: the account or its password was not accepted",
                None => "",
            },
            diagnostics
                .as_ref()
                .and_then(|d| d.reason.clone())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        EwsReply::Forbidden {
            diagnostics,
            policy_reason,
            ..
        } => format!(
            "HTTP 403{}{}",
            policy_reason
                .as_ref()
                .map(|r| format!(", X-EWS-Policy-Reason \"{r}\""))
                .unwrap_or_default(),
            diagnostics
                .as_ref()
                .and_then(|d| d.reason.clone())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        EwsReply::Success { operation, .. } => format!("{operation} succeeded"),
        EwsReply::Locked => "HTTP 456: the account is locked".into(),
        EwsReply::Throttled { status, retry_after } => format!(
            "HTTP {status}: the server is busy{}",
            retry_after.map(|s| format!(" (Retry-After {s} s)")).unwrap_or_default()
        ),
        EwsReply::Redirected { status, location } => format!(
            "HTTP {status} redirect to {}",
            location.as_deref().unwrap_or("(no Location)")
        ),
        EwsReply::NotSoap {
            http_status,
            body,
            reason,
        } => format!(
            "HTTP {http_status} with {}, not a SOAP answer: {reason}",
            body.describe()
        ),
    }
}

/// The code for an EWS answer on the run's day: from 1 April 2027 a refusal
/// by Exchange Online's EWS access controls is the switch-off itself.
fn ews_code(config: &CheckConfig, reply: &EwsReply) -> Option<Code> {
    let code = reply_code(reply)?;
    let refused = code == code!("exchange_online.ews_disabled") || code == code!("exchange_online.ews_app_not_allowed");
    if refused && Phase::on(config.today) == Phase::ShutDown {
        return Some(code!("exchange_online.ews_shut_down"));
    }
    Some(code)
}

/// The mailbox is on Exchange Online, by DNS, autodiscover or its EWS host.
pub fn is_exchange_online(org: &Org, m: &MailboxOutcome) -> bool {
    let domain = org.input.domain_of(&m.mailbox).unwrap_or("");
    let by_dns = org.dns_for(domain).is_some_and(|d| d.exchange_online);
    let by_autodiscover = m
        .discovery
        .autodiscover
        .as_ref()
        .is_some_and(|a| a.method == Some(crate::probe::autodiscover::Method::V2));
    let by_host = m
        .discovery
        .ews_url
        .as_deref()
        .is_some_and(|u| crate::cloud::Cloud::is_exchange_online_host(&host(u)));
    by_dns || by_autodiscover || by_host
}

/// `ews.reach` of one EWS URL: carried by every mailbox checked against it.
/// `internal`: the internal EWS URL's reach, when NTLM was missing here.
pub fn reach(config: &CheckConfig, reach: &ReachOutcome, internal: Option<&ReachOutcome>) -> Vec<Raised> {
    let step = StepKind::EwsReach.id(&host(&reach.url));
    let raise = |code: Code, detail: String| {
        vec![Raised::org(
            code,
            Stage::Reach,
            Affects::EwsUrl(reach.url.clone()),
            detail,
            vec![step.clone()],
        )]
    };
    if let Some(f) = &reach.failure {
        raise(net_code(f), format!("{}: {}", reach.url, f.describe()))
    } else if let Some(reply) = reach.reply.as_ref().filter(|_| !reach.is_ews()) {
        raise(
            reply_code(reply).unwrap_or(code!("server.error")),
            format!("{}: {}", reach.url, describe(reply)),
        )
    } else if let Some(c) = config
        .auth
        .credentials()
        .filter(|c| !reach.schemes.is_empty() && !reach.offers(c.scheme()))
    {
        let detail = format!(
            "{} offers {} but not {}",
            reach.url,
            reach.schemes.join(", "),
            c.scheme()
        );
        match internal {
            // Windows authentication only on the internal name: the product must sign in there.
            // (Its answer is in this step's detail: the internal name has no step of its own.)
            Some(i) if i.failure.is_none() && i.offers(crate::auth::Scheme::Ntlm) => raise(
                code!("ews.ntlm_internal_only"),
                format!(
                    "{detail}; the internal EWS URL {} (autodiscover's internal setting) offers {}",
                    i.url,
                    i.schemes.join(", ")
                ),
            ),
            Some(i) => raise(
                code!("ews.auth_scheme_unavailable"),
                match &i.failure {
                    Some(f) => format!(
                        "{detail}; autodiscover's internal EWS URL {} is not reachable from here ({}): NTLM may be enabled only there",
                        i.url,
                        f.describe()
                    ),
                    None => format!("{detail}; autodiscover's internal EWS URL {} does not offer it either", i.url),
                },
            ),
            None => raise(code!("ews.auth_scheme_unavailable"), detail),
        }
    } else {
        vec![]
    }
}

/// `ews.auth`: the service account's sign-in, carried by every mailbox with an EWS URL.
pub fn auth(config: &CheckConfig, auth: &AuthOutcome, reach_failed: bool) -> Vec<Raised> {
    let mut raised = vec![];
    let account = config.service_account.as_deref().unwrap_or("");
    if let (Some(f), false) = (&auth.failure, reach_failed) {
        raised.push(Raised::org(
            net_code(f),
            Stage::Auth,
            Affects::HasEwsUrl,
            f.describe(),
            vec![StepKind::EwsAuth.as_str().into()],
        ));
    }
    if let Some(code) = auth
        .probe
        .as_ref()
        .filter(|_| !auth.credentials_accepted())
        .and_then(|r| ews_code(config, r))
    {
        let detail = auth.probe.as_ref().map(describe).unwrap_or_default();
        raised.push(Raised::org(
            code,
            Stage::Auth,
            Affects::HasEwsUrl,
            format!("{account}: {detail}"),
            vec![StepKind::EwsAuth.as_str().into()],
        ));
    }
    if auth.has_mailbox == Some(false) {
        raised.push(Raised::org(
            code!("service_account.no_mailbox"),
            Stage::Auth,
            Affects::Nobody,
            format!(
                "{account}: {}",
                auth.own_inbox.as_ref().map(describe).unwrap_or_default()
            ),
            vec![StepKind::EwsAuth.as_str().into()],
        ));
    }
    raised
}

/// Whether the run reaches mailboxes as an account (a password or a
/// delegated token), not as an app.
pub fn signs_in_as_account(config: &CheckConfig, org: &Org) -> bool {
    match config.auth.mode() {
        AuthMode::Basic | AuthMode::Ntlm | AuthMode::RefreshToken | AuthMode::PasswordGrant => true,
        AuthMode::Token => org
            .token_for(MailApi::Ews)
            .and_then(|t| t.claims.as_ref())
            .is_some_and(|c| !c.is_app_only()),
        AuthMode::App | AuthMode::None => false,
    }
}

/// The code for an impersonated request's answer: on Exchange Online an
/// account's denial is the retired role, not a missing assignment; an app's
/// bare 403 (Exchange Online's EWS switches send X-EWS-Policy-Reason) is its
/// RBAC scope or application access policy leaving the mailbox out.
fn impersonation_code(config: &CheckConfig, org: &Org, m: &MailboxOutcome, reply: &EwsReply) -> Option<Code> {
    let code = ews_code(config, reply)?;
    if !is_exchange_online(org, m) {
        return Some(code);
    }
    Some(match code.as_str() {
        "impersonation.denied" if signs_in_as_account(config, org) => {
            code!("exchange_online.application_impersonation_retired")
        }
        "ews.disabled" if !signs_in_as_account(config, org) => {
            code!("exchange_online.app_scope_excludes")
        }
        _ => code,
    })
}

/// `ews.impersonation` of one mailbox.
pub fn impersonation(config: &CheckConfig, org: &Org, m: &MailboxOutcome) -> Vec<Raised> {
    let Some(imp) = &m.ews.impersonation else {
        return vec![];
    };
    if matches!(imp.reply, Some(EwsReply::Success { .. })) && imp.failure.is_none() {
        return folder_findings(m, imp);
    }
    let (code, detail) = match (&imp.failure, &imp.reply) {
        (Some(f), _) => (net_code(f), f.describe()),
        (None, Some(reply)) => match impersonation_code(config, org, m, reply) {
            Some(code) if code != code!("mailbox.alias_not_primary") => (code, describe(reply)),
            // The identity rule reports aliases with the primary address.
            _ => return vec![],
        },
        (None, None) => return vec![],
    };
    let detail = if imp.back_offs.is_empty() {
        detail
    } else {
        format!("{detail} (after {} back-off(s))", imp.back_offs.len())
    };
    vec![Raised::mailbox(
        m,
        code,
        Stage::Impersonation,
        detail,
        vec![StepKind::EwsImpersonation.id(&imp.mailbox)],
    )]
}

/// `ews.write` (`--write-test`): the product cannot write (critical, the
/// product was said to need it), or the draft stayed behind (warning).
pub fn write(config: &CheckConfig, _org: &Org, m: &MailboxOutcome) -> Vec<Raised> {
    let Some(w) = &m.ews.write else {
        return vec![];
    };
    let step = vec![StepKind::EwsWrite.id(&w.mailbox)];
    if !w.created() {
        let (code, detail) = match (&w.failure, &w.create) {
            (Some(f), _) => (net_code(f), f.describe()),
            (None, Some(reply)) => (
                ews_code(config, reply).unwrap_or(code!("server.error")),
                describe(reply),
            ),
            (None, None) => return vec![],
        };
        return vec![Raised::mailbox(
            m,
            code,
            Stage::Impersonation,
            format!(
                "the write test's CreateItem (a draft in Drafts): {detail}: the mailbox can be read but not written"
            ),
            step,
        )];
    }
    if w.deleted() {
        return vec![];
    }
    let detail = match (&w.failure, &w.delete) {
        (Some(f), _) => f.describe(),
        (None, Some(reply)) => describe(reply),
        (None, None) => "no ItemId to delete".into(),
    };
    vec![Raised::mailbox(
        m,
        code!("ews.access_denied"),
        Stage::Impersonation,
        format!(
            "the write test's draft was saved but not deleted ({detail}): delete \"{}\" from the mailbox's Drafts folder",
            crate::probe::ews::WRITE_TEST_SUBJECT
        ),
        step,
    )
    .with_severity(crate::report::Severity::Warning)]
}

/// Folders (`--folders`) the impersonated GetFolder could not open while the
/// mailbox itself could be impersonated: the product needs them.
fn folder_findings(m: &MailboxOutcome, imp: &ImpersonationOutcome) -> Vec<Raised> {
    let mut raised: Vec<Raised> = vec![];
    for f in imp.folders.iter().filter(|f| !f.works) {
        let code = response_code(&f.code);
        let detail = format!("the {} folder: {}", f.folder, f.code);
        match raised.iter_mut().find(|r| r.code == code) {
            Some(r) => {
                let _ = write!(r.detail, "; {detail}");
            }
            None => raised.push(Raised::mailbox(
                m,
                code,
                Stage::Impersonation,
                format!("impersonation works, but {detail}"),
                vec![StepKind::EwsImpersonation.id(&imp.mailbox)],
            )),
        }
    }
    raised
}

/// `identity`: an alias instead of the primary address, a service account of another domain.
pub fn identity(config: &CheckConfig, _org: &Org, m: &MailboxOutcome) -> Vec<Raised> {
    let mut raised = vec![];
    let Some(id) = &m.identity else {
        return raised;
    };
    let step = StepKind::Identity.id(&id.mailbox);
    if id.alias {
        let mut detail = format!(
            "{} is an alias; the primary SMTP address is {} (from {})",
            id.mailbox,
            id.primary_smtp_address.as_deref().unwrap_or("?"),
            id.primary_source.as_deref().unwrap_or("?")
        );
        let mut evidence = vec![step.clone()];
        if let Some(imp) = &m.ews.impersonation {
            if let Some(failed) = imp.failed_form() {
                let _ = write!(
                    detail,
                    "; impersonation works with ConnectingSID {}, fails with {} ({}): products that impersonate by PrimarySmtpAddress (exchangelib among them) break on this address",
                    imp.form.element(),
                    failed.form.element(),
                    failed.answer
                );
                evidence.push(StepKind::EwsImpersonation.id(&imp.mailbox));
            } else if imp.form == crate::protocol::ews::SidForm::PrimarySmtpAddress {
                let _ = write!(detail, "; the product impersonates by PrimarySmtpAddress (--connecting-sid primary): it cannot reach this mailbox by this address");
                evidence.push(StepKind::EwsImpersonation.id(&imp.mailbox));
            }
        }
        let r = Raised::mailbox(m, code!("mailbox.alias_not_primary"), Stage::Identity, detail, evidence);
        // Critical for a product that impersonates by PrimarySmtpAddress: it breaks.
        raised.push(if config.connecting_sid == crate::config::ConnectingSid::Primary {
            r.with_severity(crate::report::Severity::Critical)
        } else {
            r
        });
    }
    if id.domain_mismatch {
        raised.push(Raised::mailbox(
            m,
            code!("account.domain_mismatch"),
            Stage::Identity,
            format!(
                "service account domain {} ≠ mailbox domain {}",
                id.service_account_domain.as_deref().unwrap_or("?"),
                id.mailbox_domain
            ),
            vec![step],
        ));
    }
    raised
}
