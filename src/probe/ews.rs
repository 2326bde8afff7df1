//! `ews.reach`, `ews.auth` and `ews.impersonation`.
//!
//! reach: TLS and an unauthenticated POST — which schemes are offered, the
//! server's headers and version. auth: the service account itself (ConvertId
//! needs no mailbox; GetFolder of its own inbox tells whether it has one).
//! impersonation: GetFolder of each mailbox's inbox with ExchangeImpersonation
//! and X-AnchorMailbox, honouring ErrorServerBusy's back-off a bounded number of times.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::{StepBuilder, StepKind};
use crate::config::Credentials;
use crate::net::{HttpRequest, Net, NetFailure};
use crate::protocol::ews::{self, EwsReply, FormPlan, ServerVersion, SidForm};
use crate::report::{Exchange, Step, StepStatus};

/// Headers worth keeping from an EWS answer (they identify the servers involved).
const SERVER_HEADERS: &[&str] = &[
    "server",
    "x-feserver",
    "x-beserver",
    "x-calculatedbetarget",
    "x-owa-version",
    "x-diaginfo",
    "x-cascerrorcode",
    "request-id",
    "x-ms-diagnostics",
];
/// Busy answers honoured per mailbox before it is reported throttled (the
/// run's deadline usually ends the waiting first).
pub const MAX_BUSY_RETRIES: u32 = 20;
use crate::net::limiter::{Limiter, MAX_BACK_OFF};

#[derive(Debug, Clone, Serialize)]
pub struct ReachOutcome {
    pub url: String,
    pub failure: Option<NetFailure>,
    pub http_status: Option<u16>,
    pub reply: Option<EwsReply>,
    /// Schemes offered in `WWW-Authenticate`, as sent.
    pub schemes: Vec<String>,
    pub server_headers: BTreeMap<String, String>,
}

impl ReachOutcome {
    /// NTLM is offered by `NTLM` and by `Negotiate` (which takes an NTLM token).
    pub fn offers(&self, scheme: crate::auth::Scheme) -> bool {
        scheme.taken_by(&self.schemes)
    }

    /// The endpoint answered like EWS (a 401 challenge or a SOAP answer).
    pub fn is_ews(&self) -> bool {
        matches!(
            self.reply,
            Some(EwsReply::Unauthorized { .. } | EwsReply::Success { .. } | EwsReply::Error { .. })
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthOutcome {
    pub url: String,
    pub failure: Option<NetFailure>,
    /// The ConvertId probe's answer: credentials accepted or not.
    pub probe: Option<EwsReply>,
    /// GetFolder of the service account's own inbox.
    pub own_inbox: Option<EwsReply>,
    pub server_version: Option<ServerVersion>,
    pub has_mailbox: Option<bool>,
    /// NTLM: the server answered the NEGOTIATE message itself (no 401), so
    /// the credentials were never checked.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub credentials_unverified: bool,
}

impl AuthOutcome {
    pub fn credentials_accepted(&self) -> bool {
        matches!(self.probe, Some(EwsReply::Success { .. } | EwsReply::Error { .. }))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BackOff {
    pub code: String,
    pub back_off_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImpersonationOutcome {
    pub mailbox: String,
    pub url: String,
    /// The form of the first (deciding) request.
    pub form: SidForm,
    pub failure: Option<NetFailure>,
    pub reply: Option<EwsReply>,
    /// Busy answers honoured before the final one.
    pub back_offs: Vec<BackOff>,
    /// Each ConnectingSID form tried and whether Exchange accepted it.
    pub forms: Vec<FormResult>,
    /// The primary SMTP address an ErrorNonPrimarySmtpAddress answer named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_from_ews: Option<String>,
    /// Each folder of `--folders` in the deciding answer (when it succeeded).
    pub folders: Vec<FolderResult>,
}

/// One distinguished folder's response message.
#[derive(Debug, Clone, Serialize)]
pub struct FolderResult {
    pub folder: String,
    pub works: bool,
    /// The response code (`NoError`, `ErrorAccessDenied`, ...).
    pub code: String,
}

/// One ConnectingSID form's answer.
#[derive(Debug, Clone, Serialize)]
pub struct FormResult {
    pub form: SidForm,
    pub works: bool,
    /// The response code, or how the request failed.
    pub answer: String,
}

impl ImpersonationOutcome {
    /// A form Exchange refused while another worked.
    pub fn failed_form(&self) -> Option<&FormResult> {
        if !self.forms.iter().any(|f| f.works) {
            return None;
        }
        self.forms.iter().find(|f| !f.works)
    }
}

fn server_headers(headers: &[(String, String)]) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(n, _)| SERVER_HEADERS.contains(&n.to_ascii_lowercase().as_str()))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect()
}

/// [`ews::classify`], with how a handshake ended.
fn classify(response: &crate::net::http::HttpResponse) -> EwsReply {
    let mut reply = ews::classify(response.status, &response.headers, &response.body);
    if let (EwsReply::Unauthorized { ntlm, .. }, Some(end)) = (&mut reply, response.handshake) {
        *ntlm = end.stage();
    }
    reply
}

fn soap_request(url: &Url, body: String) -> HttpRequest {
    HttpRequest::post(url.clone(), "text/xml; charset=utf-8", body.into_bytes()).header("Accept", "text/xml")
}

fn describe_reply(reply: &EwsReply) -> String {
    match reply {
        EwsReply::Success { operation, .. } => format!("{operation}: NoError"),
        EwsReply::Error { http_status, error, .. } => {
            let inner = if error.effective_code() != error.code {
                format!(" (inner {})", error.effective_code())
            } else {
                String::new()
            };
            format!("HTTP {http_status} {}{inner}: {}", error.code, error.message)
        }
        EwsReply::Unauthorized {
            challenges,
            diagnostics,
            ntlm,
        } => {
            let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
            let diag = diagnostics
                .as_ref()
                .and_then(|d| d.reason.clone())
                .map(|r| format!("; x-ms-diagnostics: {r}"))
                .unwrap_or_default();
            let ntlm = match ntlm {
                Some(ews::NtlmStage::NoChallenge) => "; NTLM NEGOTIATE got no CHALLENGE",
                Some(ews::NtlmStage::Rejected { .. }) => "; NTLM AUTHENTICATE refused",
                None => "",
            };
            format!(
                "HTTP 401{ntlm}, offers {}{diag}",
                if schemes.is_empty() {
                    "no scheme".to_string()
                } else {
                    schemes.join(", ")
                }
            )
        }
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
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        EwsReply::Locked => "HTTP 456: account locked (or MFA required)".into(),
        EwsReply::Throttled { status, retry_after } => format!(
            "HTTP {status}{}",
            retry_after.map(|r| format!(", Retry-After {r} s")).unwrap_or_default()
        ),
        EwsReply::Redirected { status, location } => {
            format!("HTTP {status} to {}", location.as_deref().unwrap_or("(no Location)"))
        }
        EwsReply::NotSoap {
            http_status,
            body,
            reason,
        } => format!("HTTP {http_status} with {}, not SOAP: {reason}", body.describe()),
    }
}

pub async fn reach(net: &Net, url: &Url) -> (ReachOutcome, Step) {
    let host = url.host_str().unwrap_or("").to_string();
    let step = StepBuilder::new(
        StepKind::EwsReach,
        Some(&host),
        None,
        format!("EWS endpoint {url} answers"),
    );
    let (result, exchange) = net.send(soap_request(url, ews::convert_id_probe())).await;
    let mut outcome = ReachOutcome {
        url: url.to_string(),
        failure: None,
        http_status: None,
        reply: None,
        schemes: vec![],
        server_headers: BTreeMap::new(),
    };
    let (status, detail) = match result {
        Err(e) => {
            let d = format!("{e}");
            outcome.failure = Some(e.failure);
            (StepStatus::Fail, d)
        }
        Ok(response) => {
            let reply = classify(&response);
            outcome.http_status = Some(response.status);
            outcome.server_headers = server_headers(&response.headers);
            if let EwsReply::Unauthorized { challenges, .. } = &reply {
                outcome.schemes = challenges.iter().map(|c| c.scheme.clone()).collect();
            }
            let d = describe_reply(&reply);
            outcome.reply = Some(reply);
            (
                if outcome.is_ews() {
                    StepStatus::Pass
                } else {
                    StepStatus::Fail
                },
                d,
            )
        }
    };
    let step = step.finish(status, detail, &outcome, vec![exchange]);
    (outcome, step)
}

pub async fn auth(net: &Net, url: &Url, credentials: &Credentials, account: &str) -> (AuthOutcome, Step) {
    let step = StepBuilder::new(StepKind::EwsAuth, None, None, format!("{account} signs in to EWS"));
    let mut evidence = vec![];
    let mut outcome = AuthOutcome {
        url: url.to_string(),
        failure: None,
        probe: None,
        own_inbox: None,
        server_version: None,
        has_mailbox: None,
        credentials_unverified: false,
    };
    let mut request = soap_request(url, ews::convert_id_probe());
    request.credentials = Some(credentials.clone());
    let (result, exchange) = net.send(request).await;
    evidence.push(exchange);
    let response = match result {
        Err(e) => {
            let detail = e.to_string();
            outcome.failure = Some(e.failure);
            return (
                outcome.clone(),
                step.finish(StepStatus::Fail, detail, &outcome, evidence),
            );
        }
        Ok(r) => r,
    };
    let probe = classify(&response);
    // NTLM: an answer to the NEGOTIATE message itself verified nothing.
    let unverified = response.handshake == Some(crate::auth::HandshakeEnd::NotAsked);
    outcome.credentials_unverified = unverified;
    if let EwsReply::Success { server_version, .. } | EwsReply::Error { server_version, .. } = &probe {
        outcome.server_version = server_version.clone();
    }
    outcome.probe = Some(probe.clone());
    if !outcome.credentials_accepted() {
        let detail = describe_reply(&probe);
        return (
            outcome.clone(),
            step.finish(StepStatus::Fail, detail, &outcome, evidence),
        );
    }
    let mut request = soap_request(url, ews::get_inbox(None));
    request.credentials = Some(credentials.clone());
    let (result, exchange) = net.send(request).await;
    evidence.push(exchange);
    let (status, detail) = match result {
        Err(e) => (
            StepStatus::Warn,
            format!("credentials accepted; own inbox not checked: {e}"),
        ),
        Ok(response) => own_inbox(&mut outcome, &response, unverified),
    };
    (outcome.clone(), step.finish(status, detail, &outcome, evidence))
}

/// The service account's own inbox, once its credentials were accepted:
/// whether it has a mailbox, and the step's status and detail.
fn own_inbox(
    outcome: &mut AuthOutcome,
    response: &crate::net::http::HttpResponse,
    unverified: bool,
) -> (StepStatus, String) {
    let own = classify(response);
    outcome.has_mailbox = match &own {
        EwsReply::Success { .. } => Some(true),
        EwsReply::Error { error, .. }
            if matches!(
                error.effective_code(),
                "ErrorMissingEmailAddress" | "ErrorNonExistentMailbox" | "ErrorMailboxNotFound"
            ) =>
        {
            Some(false)
        }
        _ => None,
    };
    let version = outcome
        .server_version
        .as_ref()
        .and_then(|v| v.version.clone())
        .map(|v| format!(" (server {v})"))
        .unwrap_or_default();
    let d = match outcome.has_mailbox {
        Some(true) => format!("credentials accepted{version}; the service account has a mailbox"),
        Some(false) => format!(
            "credentials accepted{version}; the service account has no mailbox ({})",
            describe_reply(&own)
        ),
        None => format!("credentials accepted{version}; own inbox: {}", describe_reply(&own)),
    };
    outcome.own_inbox = Some(own);
    let d = if unverified {
        format!("{d}; the server answered without asking for NTLM authentication, so the credentials were not checked")
    } else {
        d
    };
    let status = if outcome.has_mailbox == Some(true) && !unverified {
        StepStatus::Pass
    } else {
        StepStatus::Warn
    };
    (status, d)
}

/// `ews.impersonation`: GetFolder of the mailbox's inbox, naming it in the
/// ConnectingSID forms `plan` says; one form decides the step, another may
/// be asked to tell which forms a product may use.
pub async fn impersonate(
    net: &Net,
    limiter: &Limiter,
    url: &Url,
    credentials: &Credentials,
    mailbox: &str,
    plan: FormPlan,
    folders: &[&str],
) -> (ImpersonationOutcome, Step) {
    let step = StepBuilder::new(
        StepKind::EwsImpersonation,
        Some(mailbox),
        Some(mailbox),
        format!("Impersonate {mailbox} over EWS"),
    );
    let mut evidence: Vec<Exchange> = vec![];
    let target = Target {
        url,
        credentials,
        mailbox,
    };
    let mut outcome = ImpersonationOutcome {
        mailbox: mailbox.to_string(),
        url: url.to_string(),
        form: SidForm::SmtpAddress,
        failure: None,
        reply: None,
        back_offs: vec![],
        forms: vec![],
        primary_from_ews: None,
        folders: vec![],
    };
    let (first, second) = match plan {
        FormPlan::One(f) => (f, None),
        FormPlan::SmtpThenPrimary => (SidForm::SmtpAddress, Some(SidForm::PrimarySmtpAddress)),
        FormPlan::PrimaryThenSmtpIfAlias => (SidForm::PrimarySmtpAddress, Some(SidForm::SmtpAddress)),
    };
    let attempt = impersonate_once(net, limiter, &target, first, folders, &mut evidence).await;
    let (works, alias, attempt) = try_form(first, &mut outcome, attempt);
    let detail = match (plan, second) {
        // PrimarySmtpAddress refused as an alias: SmtpAddress decides.
        (FormPlan::PrimaryThenSmtpIfAlias, Some(then)) if alias => {
            let next = impersonate_once(net, limiter, &target, then, folders, &mut evidence).await;
            let (_, _, next) = try_form(then, &mut outcome, next);
            decide(&mut outcome, then, next)
        }
        (FormPlan::SmtpThenPrimary, Some(then)) if works => {
            let detail = decide(&mut outcome, first, attempt);
            let next = impersonate_once(net, limiter, &target, then, folders, &mut evidence).await;
            // Only Exchange's own answer tells what a form does; a timeout or a
            // busy server says nothing about it.
            let transient = next.failure.is_some()
                || matches!(&next.reply, Some(EwsReply::Throttled { .. }))
                || matches!(&next.reply, Some(EwsReply::Error { error, .. }) if ews::THROTTLING_CODES.contains(&error.effective_code()));
            if !transient {
                try_form(then, &mut outcome, next);
            }
            detail
        }
        _ => decide(&mut outcome, first, attempt),
    };
    let (status, detail) = judge_impersonation(&outcome, detail, folders);
    (outcome.clone(), step.finish(status, detail, &outcome, evidence))
}

/// One ConnectingSID form's attempt, recorded: whether it worked, and
/// whether Exchange refused the address as an alias (then the primary it named).
fn try_form(form: SidForm, outcome: &mut ImpersonationOutcome, attempt: Attempt) -> (bool, bool, Attempt) {
    let works = matches!(attempt.reply, Some(EwsReply::Success { .. }));
    let answer = match (&attempt.failure, &attempt.reply) {
        (Some(f), _) => f.describe(),
        (None, Some(r)) => short_answer(r),
        (None, None) => "no answer".into(),
    };
    let alias = matches!(&attempt.reply, Some(EwsReply::Error { error, .. }) if error.effective_code() == "ErrorNonPrimarySmtpAddress");
    if let (true, Some(EwsReply::Error { error, .. })) = (alias, &attempt.reply) {
        outcome.primary_from_ews = error.values.get("Primary").cloned();
    }
    outcome.forms.push(FormResult { form, works, answer });
    (works, alias, attempt)
}

/// The form whose attempt decides the step; its detail.
fn decide(outcome: &mut ImpersonationOutcome, form: SidForm, attempt: Attempt) -> String {
    outcome.form = form;
    outcome.failure = attempt.failure;
    outcome.reply = attempt.reply;
    outcome.back_offs = attempt.back_offs;
    outcome.folders = attempt.folders;
    attempt.detail
}

/// The impersonation step's status (a folder that did not open, or a
/// ConnectingSID form that failed, lowers it) and its detail.
fn judge_impersonation(outcome: &ImpersonationOutcome, mut detail: String, folders: &[&str]) -> (StepStatus, String) {
    let closed: Vec<String> = outcome
        .folders
        .iter()
        .filter(|f| !f.works)
        .map(|f| format!("{}: {}", f.folder, f.code))
        .collect();
    let status = match (&outcome.reply, outcome.failed_form()) {
        (Some(EwsReply::Success { .. }), _) if !closed.is_empty() => StepStatus::Fail,
        (Some(EwsReply::Success { .. }), None) => StepStatus::Pass,
        (Some(EwsReply::Success { .. }), Some(_)) => StepStatus::Warn,
        _ => StepStatus::Fail,
    };
    if folders.len() > 1 && matches!(outcome.reply, Some(EwsReply::Success { .. })) {
        detail = if closed.is_empty() {
            format!("{detail}; folders {} open", folders.join(", "))
        } else {
            format!("{detail}; folders not opened: {}", closed.join(", "))
        };
    }
    if outcome.forms.len() > 1 {
        let forms: Vec<String> = outcome
            .forms
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f.form.element(),
                    if f.works {
                        "works".to_string()
                    } else {
                        format!("fails ({})", f.answer)
                    }
                )
            })
            .collect();
        detail = format!("{detail}; ConnectingSID: {}", forms.join(", "));
    } else {
        detail = format!("{detail} (ConnectingSID {})", outcome.form.element());
    }
    (status, detail)
}

/// A reply's response code (or HTTP status) alone.
fn short_answer(reply: &EwsReply) -> String {
    match reply {
        EwsReply::Success { .. } => "NoError".into(),
        EwsReply::Error { error, .. } => error.effective_code().to_string(),
        other => describe_reply(other),
    }
}

/// What one impersonated request ended with (after honoured back-offs).
struct Attempt {
    failure: Option<NetFailure>,
    reply: Option<EwsReply>,
    back_offs: Vec<BackOff>,
    detail: String,
    folders: Vec<FolderResult>,
}

/// Where an impersonated request goes, with what, for whom.
struct Target<'a> {
    url: &'a Url,
    credentials: &'a Credentials,
    mailbox: &'a str,
}

async fn impersonate_once(
    net: &Net,
    limiter: &Limiter,
    target: &Target<'_>,
    form: SidForm,
    folders: &[&str],
    evidence: &mut Vec<Exchange>,
) -> Attempt {
    let Target {
        url,
        credentials,
        mailbox,
    } = *target;
    let mut back_offs: Vec<BackOff> = vec![];
    loop {
        let mut request =
            soap_request(url, ews::get_folders(Some((mailbox, form)), folders)).header("X-AnchorMailbox", mailbox);
        request.credentials = Some(credentials.clone());
        let deadline = tokio::time::Instant::now() + net.remaining();
        let Some(permit) = limiter.acquire(deadline).await else {
            return Attempt {
                failure: Some(NetFailure::Deadline),
                reply: None,
                back_offs,
                detail: "the run's deadline passed while waiting for a slot in the server's throttling budget".into(),
                folders: vec![],
            };
        };
        let (result, exchange) = net.send(request).await;
        drop(permit);
        evidence.push(exchange);
        let response = match result {
            Err(e) => {
                return Attempt {
                    detail: e.to_string(),
                    failure: Some(e.failure),
                    reply: None,
                    back_offs,
                    folders: vec![],
                }
            }
            Ok(r) => r,
        };
        let reply = folders_reply(classify(&response), &response.body, folders.len());
        // Busy: wait as told, a bounded number of times, within the run's deadline.
        if let Some((code, back_off)) = busy(&reply) {
            let back_off = back_off.min(MAX_BACK_OFF);
            limiter.busy(back_off);
            if (back_offs.len() as u32) < MAX_BUSY_RETRIES && back_off < net.remaining() {
                back_offs.push(BackOff {
                    code,
                    back_off_ms: u64::try_from(back_off.as_millis()).unwrap_or(u64::MAX),
                });
                // The slot was given back: others go on while this one waits.
                tokio::time::sleep(back_off).await;
                continue;
            }
        } else {
            limiter.success();
        }
        let mut detail = describe_reply(&reply);
        if !back_offs.is_empty() {
            let waits: Vec<String> = back_offs
                .iter()
                .map(|b| format!("{} {} ms", b.code, b.back_off_ms))
                .collect();
            detail = format!("{detail} after backing off: {}", waits.join(", "));
        }
        let folders = folder_results(&reply, &response.body, folders);
        return Attempt {
            failure: None,
            reply: Some(reply),
            back_offs,
            detail,
            folders,
        };
    }
}

/// Several folders: the classification reads the first message only; a
/// folder-level error there while another folder opened means the mailbox
/// was impersonated (the folders say which did not open).
fn folders_reply(reply: EwsReply, body: &[u8], folders: usize) -> EwsReply {
    if folders > 1 {
        if let EwsReply::Error {
            error, server_version, ..
        } = &reply
        {
            if error.form == ews::ErrorForm::ResponseMessage
                && ews::response_messages(body).iter().any(|m| m.code == "NoError")
            {
                return EwsReply::Success {
                    operation: "GetFolderResponseMessage".into(),
                    server_version: server_version.clone(),
                };
            }
        }
    }
    reply
}

/// A busy answer: its code and how long the server asked to wait.
fn busy(reply: &EwsReply) -> Option<(String, Duration)> {
    match reply {
        EwsReply::Error { error, .. } if ews::THROTTLING_CODES.contains(&error.effective_code()) => Some((
            error.effective_code().to_string(),
            error
                .back_off_ms()
                .map(Duration::from_millis)
                .unwrap_or(Duration::from_secs(1)),
        )),
        EwsReply::Throttled { status, retry_after } => {
            Some((format!("HTTP {status}"), Duration::from_secs(retry_after.unwrap_or(1))))
        }
        _ => None,
    }
}

/// One response message per folder, in the order asked (one folder: the
/// classification already read its message); none when the call failed.
fn folder_results(reply: &EwsReply, body: &[u8], folders: &[&str]) -> Vec<FolderResult> {
    if !matches!(reply, EwsReply::Success { .. }) {
        return vec![];
    }
    if folders.len() == 1 {
        return vec![FolderResult {
            folder: folders[0].to_string(),
            works: true,
            code: "NoError".into(),
        }];
    }
    let messages = ews::response_messages(body);
    folders
        .iter()
        .zip(
            messages
                .iter()
                .map(|m| m.code.clone())
                .chain(std::iter::repeat("no answer".to_string())),
        )
        .map(|(f, code)| FolderResult {
            folder: (*f).to_string(),
            works: code == "NoError",
            code,
        })
        .collect()
}

/// `ews.write` (`--write-test`): what the draft's save and delete answered.
#[derive(Debug, Clone, Serialize)]
pub struct WriteOutcome {
    pub mailbox: String,
    pub failure: Option<NetFailure>,
    /// CreateItem's answer.
    pub create: Option<EwsReply>,
    /// DeleteItem's answer, when a draft was created.
    pub delete: Option<EwsReply>,
}

impl WriteOutcome {
    pub fn created(&self) -> bool {
        matches!(self.create, Some(EwsReply::Success { .. }))
    }

    pub fn deleted(&self) -> bool {
        matches!(self.delete, Some(EwsReply::Success { .. }))
    }
}

/// The subject of the write test's draft (what an admin finds if it stays).
pub const WRITE_TEST_SUBJECT: &str = "exprobe write test (safe to delete)";

/// `--write-test`: save a draft in the mailbox's Drafts folder as the
/// product would write (CreateItem, SaveOnly: never sent), then delete it for
/// good (DeleteItem, HardDelete). Impersonating as the deciding form did.
pub async fn write_test(
    net: &Net,
    limiter: &Limiter,
    url: &Url,
    credentials: &Credentials,
    mailbox: &str,
    form: SidForm,
) -> (WriteOutcome, Step) {
    let step = StepBuilder::new(
        StepKind::EwsWrite,
        Some(mailbox),
        Some(mailbox),
        format!("Save and delete a draft in {mailbox} (--write-test)"),
    );
    let mut evidence = vec![];
    let mut outcome = WriteOutcome {
        mailbox: mailbox.to_string(),
        failure: None,
        create: None,
        delete: None,
    };
    let draft = Draft {
        net,
        limiter,
        url,
        credentials,
        mailbox,
        form,
    };
    let (status, detail) = match draft.create(&mut outcome, &mut evidence).await {
        Err(ended) => ended,
        Ok((id, change_key)) => {
            draft
                .delete(&id, change_key.as_deref(), &mut outcome, &mut evidence)
                .await
        }
    };
    (outcome.clone(), step.finish(status, detail, &outcome, evidence))
}

/// The write test's two calls, each taking a slot in the server's budget.
struct Draft<'a> {
    net: &'a Net,
    limiter: &'a Limiter,
    url: &'a Url,
    credentials: &'a Credentials,
    mailbox: &'a str,
    form: SidForm,
}

impl Draft<'_> {
    fn request(&self, body: String) -> HttpRequest {
        let mut request = soap_request(self.url, body).header("X-AnchorMailbox", self.mailbox);
        request.credentials = Some(self.credentials.clone());
        request
    }

    /// CreateItem of a draft in Drafts: its id and change key, or how the step ends.
    async fn create(
        &self,
        outcome: &mut WriteOutcome,
        evidence: &mut Vec<Exchange>,
    ) -> Result<(String, Option<String>), (StepStatus, String)> {
        let deadline = tokio::time::Instant::now() + self.net.remaining();
        let Some(permit) = self.limiter.acquire(deadline).await else {
            outcome.failure = Some(NetFailure::Deadline);
            return Err((
                StepStatus::Fail,
                "the run's deadline passed before the write test".into(),
            ));
        };
        let body = ews::create_draft((self.mailbox, self.form), WRITE_TEST_SUBJECT);
        let (result, ex) = self.net.send(self.request(body)).await;
        drop(permit);
        evidence.push(ex);
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                let detail = format!("CreateItem: {e}");
                outcome.failure = Some(e.failure);
                return Err((StepStatus::Fail, detail));
            }
        };
        let create = classify(&response);
        let item = ews::response_messages(&response.body).into_iter().next();
        outcome.create = Some(create.clone());
        if !matches!(create, EwsReply::Success { .. }) {
            let detail = format!("CreateItem (a draft in Drafts): {}", describe_reply(&create));
            return Err((StepStatus::Fail, detail));
        }
        let Some(id) = item.as_ref().and_then(|m| m.id.clone()) else {
            let detail = "CreateItem answered NoError without an ItemId: the draft cannot be deleted".to_string();
            return Err((StepStatus::Warn, detail));
        };
        Ok((id, item.and_then(|m| m.change_key)))
    }

    /// DeleteItem of the draft: the step's status and detail.
    async fn delete(
        &self,
        id: &str,
        change_key: Option<&str>,
        outcome: &mut WriteOutcome,
        evidence: &mut Vec<Exchange>,
    ) -> (StepStatus, String) {
        // The delete takes a slot in the server's budget too (or fails at the deadline).
        let deadline = tokio::time::Instant::now() + self.net.remaining();
        let Some(permit) = self.limiter.acquire(deadline).await else {
            outcome.failure = Some(NetFailure::Deadline);
            let detail = format!(
                "the draft was saved, but the run's deadline passed before DeleteItem: delete \"{WRITE_TEST_SUBJECT}\" from Drafts"
            );
            return (StepStatus::Warn, detail);
        };
        let body = ews::delete_item((self.mailbox, self.form), id, change_key);
        let (result, ex) = self.net.send(self.request(body)).await;
        drop(permit);
        evidence.push(ex);
        match result {
            Err(e) => {
                let d = format!(
                    "the draft was saved, but DeleteItem failed ({e}): delete \"{WRITE_TEST_SUBJECT}\" from Drafts"
                );
                outcome.failure = Some(e.failure);
                (StepStatus::Warn, d)
            }
            Ok(r) => {
                let delete = classify(&r);
                let ok = matches!(delete, EwsReply::Success { .. });
                let d = if ok {
                    "a draft was saved in Drafts (CreateItem) and deleted (DeleteItem): the product can write"
                        .to_string()
                } else {
                    format!(
                        "the draft was saved, but DeleteItem answered {}: delete \"{WRITE_TEST_SUBJECT}\" from Drafts",
                        describe_reply(&delete)
                    )
                };
                outcome.delete = Some(delete);
                (if ok { StepStatus::Pass } else { StepStatus::Warn }, d)
            }
        }
    }
}
