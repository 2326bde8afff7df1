//! `graph.mailbox`: per mailbox, the inbox (`mailFolders/inbox?$select=id`)
//! and the user (`?$select=mail,userPrincipalName,proxyAddresses`) with an
//! app token; Graph error codes parsed, `Retry-After` honoured a few times.

use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::{StepBuilder, StepKind};
use crate::config::{Credentials, GraphCallKind};
use crate::net::limiter::Limiter;
use crate::net::{HttpRequest, Net, NetFailure};
use crate::protocol::graph::{self, GraphError, GraphUser};
use crate::report::{Exchange, Step, StepStatus};
use crate::secret::Secret;

const MAX_RETRIES: u32 = 3;
const MAX_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize)]
pub struct GraphCall {
    pub url: String,
    pub status: Option<u16>,
    pub error: Option<GraphError>,
    pub failure: Option<NetFailure>,
    pub retries: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GraphOutcome {
    pub mailbox: String,
    pub inbox: GraphCall,
    pub inbox_id: Option<String>,
    pub user_call: GraphCall,
    pub user: Option<GraphUser>,
    /// `GET /users/{id}/calendar`, made when `--graph-calls` names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar: Option<GraphCall>,
    /// The calls the product needs (`--graph-calls`).
    pub required: Vec<GraphCallKind>,
}

impl GraphOutcome {
    /// Each call made, with what it is.
    pub fn calls(&self) -> Vec<(GraphCallKind, &GraphCall)> {
        let mut calls = vec![
            (GraphCallKind::Inbox, &self.inbox),
            (GraphCallKind::User, &self.user_call),
        ];
        if let Some(c) = &self.calendar {
            calls.push((GraphCallKind::Calendar, c));
        }
        calls
    }

    pub fn is_required(&self, kind: GraphCallKind) -> bool {
        self.required.contains(&kind)
    }
}

impl GraphCall {
    fn unmade(url: String) -> GraphCall {
        GraphCall {
            url,
            status: None,
            error: None,
            failure: None,
            retries: vec![],
        }
    }

    /// Answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none() && self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// One Graph call inside the app's shared throttling budget: a 429 or 503
/// shrinks the budget and the call waits as told (Retry-After), without its slot.
async fn call(
    net: &Net,
    limiter: &Limiter,
    url: Url,
    token: &Secret,
    evidence: &mut Vec<Exchange>,
) -> (GraphCall, Option<Vec<u8>>) {
    let mut outcome = GraphCall {
        url: url.to_string(),
        status: None,
        error: None,
        failure: None,
        retries: vec![],
    };
    loop {
        let mut request = HttpRequest::get(url.clone()).header("Accept", "application/json");
        request.credentials = Some(Credentials::Bearer { token: token.clone() });
        let deadline = tokio::time::Instant::now() + net.remaining();
        let Some(permit) = limiter.acquire(deadline).await else {
            outcome.failure = Some(NetFailure::Deadline);
            return (outcome, None);
        };
        let (result, ex) = net.send(request).await;
        drop(permit);
        evidence.push(ex);
        let response = match result {
            Err(e) => {
                outcome.failure = Some(e.failure);
                return (outcome, None);
            }
            Ok(r) => r,
        };
        outcome.status = Some(response.status);
        if matches!(response.status, 429 | 503) && (outcome.retries.len() as u32) < MAX_RETRIES {
            let wait = response
                .header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(1))
                .min(MAX_WAIT);
            limiter.busy(wait);
            if wait < net.remaining() {
                outcome
                    .retries
                    .push(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
                tokio::time::sleep(wait).await;
                continue;
            }
        }
        if response.status == 200 {
            limiter.success();
            return (outcome, Some(response.body));
        }
        outcome.error = Some(
            graph::parse_error(response.status, &response.body).unwrap_or(GraphError {
                http_status: response.status,
                code: String::new(),
                message: String::from_utf8_lossy(&response.body[..response.body.len().min(200)]).into_owned(),
                request_id: None,
                date: None,
            }),
        );
        return (outcome, None);
    }
}

fn users_url(base: &Url, mailbox: &str, tail: &str) -> Option<Url> {
    Url::parse(&format!(
        "{}/v1.0/users/{}{tail}",
        base.as_str().trim_end_matches('/'),
        mailbox
    ))
    .ok()
}

fn describe(c: &GraphCall) -> String {
    match (&c.failure, &c.error) {
        (Some(f), _) => f.describe(),
        (None, Some(e)) => format!("HTTP {} {}: {}", e.http_status, e.code, e.message),
        (None, None) => "ok".into(),
    }
}

pub async fn mailbox(
    net: &Net,
    limiter: &Limiter,
    graph_url: &Url,
    token: &Secret,
    mailbox: &str,
    required: &[GraphCallKind],
) -> (GraphOutcome, Step) {
    let step = StepBuilder::new(
        StepKind::GraphMailbox,
        Some(mailbox),
        Some(mailbox),
        format!("Read {mailbox} through Microsoft Graph"),
    );
    let mut evidence = vec![];
    let inbox_url = users_url(graph_url, mailbox, "/mailFolders/inbox?$select=id");
    let user_url = users_url(graph_url, mailbox, "?$select=mail,userPrincipalName,proxyAddresses");
    let calendar_url = users_url(graph_url, mailbox, "/calendar?$select=id");
    let (Some(inbox_url), Some(user_url), Some(calendar_url)) = (inbox_url, user_url, calendar_url) else {
        return (
            GraphOutcome {
                mailbox: mailbox.into(),
                inbox: GraphCall::unmade(String::new()),
                inbox_id: None,
                user_call: GraphCall::unmade(String::new()),
                user: None,
                calendar: None,
                required: required.to_vec(),
            },
            step.skipped(&super::Skip::Address("cannot build a Graph URL for this address")),
        );
    };
    let (inbox, inbox_body) = call(net, limiter, inbox_url, token, &mut evidence).await;
    let (user_call, user_body) = call(net, limiter, user_url, token, &mut evidence).await;
    let calendar = if required.contains(&GraphCallKind::Calendar) {
        Some(call(net, limiter, calendar_url, token, &mut evidence).await.0)
    } else {
        None
    };
    let inbox_id = inbox_body
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string));
    let user = user_body.and_then(|b| graph::parse_user(&b));
    let outcome = GraphOutcome {
        mailbox: mailbox.into(),
        inbox,
        inbox_id,
        user_call,
        user,
        calendar,
        required: required.to_vec(),
    };
    let (status, detail) = judge(&outcome);
    (outcome.clone(), step.finish(status, detail, &outcome, evidence))
}

/// The step's status (a call the product needs failed: fail; another
/// failed: warn) and one part of the detail per call made.
fn judge(outcome: &GraphOutcome) -> (StepStatus, String) {
    let ok = |kind: GraphCallKind| match kind {
        GraphCallKind::Inbox => outcome.inbox_id.is_some(),
        GraphCallKind::User => outcome.user.is_some(),
        GraphCallKind::Calendar => outcome.calendar.as_ref().is_some_and(GraphCall::succeeded),
    };
    let mut parts = vec![];
    for (kind, c) in outcome.calls() {
        let what = match kind {
            GraphCallKind::User => match &outcome.user {
                Some(u) => format!("primary {}", u.primary_smtp().unwrap_or_else(|| "?".into())),
                None => describe(c),
            },
            _ if ok(kind) => "readable".into(),
            _ => describe(c),
        };
        let needed = if outcome.is_required(kind) || ok(kind) {
            ""
        } else {
            " (not needed by the product)"
        };
        parts.push(format!("{}: {what}{needed}", kind.as_str()));
    }
    let made: Vec<GraphCallKind> = outcome.calls().into_iter().map(|(k, _)| k).collect();
    let status = if made.iter().any(|k| outcome.is_required(*k) && !ok(*k)) {
        StepStatus::Fail
    } else if made.iter().any(|k| !ok(*k)) {
        StepStatus::Warn
    } else {
        StepStatus::Pass
    };
    (status, parts.join("; "))
}
