//! What a check asks of the mail API: EWS, Graph or both, the impersonation
//! header forms, the Graph calls and the folders read.

use super::*;

/// `--connect-to HOST:PORT:ADDR:PORT` (curl semantics).
/// Which mailbox APIs are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Ews,
    Graph,
    Both,
}

/// One mailbox API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailApi {
    Ews,
    Graph,
}

impl MailApi {
    pub fn as_str(self) -> &'static str {
        match self {
            MailApi::Ews => "ews",
            MailApi::Graph => "graph",
        }
    }

    /// The resource its tokens are issued for, in `cloud`.
    pub fn resource(self, cloud: Cloud) -> String {
        match self {
            MailApi::Ews => cloud.ews_resource(),
            MailApi::Graph => cloud.graph().to_string(),
        }
    }
}

impl std::fmt::Display for MailApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Api {
    /// The APIs probed.
    pub fn apis(self) -> Vec<MailApi> {
        [MailApi::Ews, MailApi::Graph]
            .into_iter()
            .filter(|a| match a {
                MailApi::Ews => self.ews(),
                MailApi::Graph => self.graph(),
            })
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Api::Ews => "ews",
            Api::Graph => "graph",
            Api::Both => "both",
        }
    }
    pub fn ews(self) -> bool {
        matches!(self, Api::Ews | Api::Both)
    }
    pub fn graph(self) -> bool {
        matches!(self, Api::Graph | Api::Both)
    }
}

/// `--connecting-sid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectingSid {
    /// The product sends PrimarySmtpAddress (exchangelib among them).
    Primary,
    /// The product sends SmtpAddress.
    Smtp,
    /// Not known: SmtpAddress, and PrimarySmtpAddress when the address may be an alias.
    Both,
}

impl ConnectingSid {
    /// How to impersonate `mailbox`, whose primary address autodiscover may have told.
    pub fn plan(self, mailbox: &str, primary: Option<&str>) -> crate::protocol::ews::FormPlan {
        use crate::protocol::ews::{FormPlan, SidForm};
        match (self, primary) {
            (ConnectingSid::Primary, _) => FormPlan::One(SidForm::PrimarySmtpAddress),
            (ConnectingSid::Smtp, _) => FormPlan::One(SidForm::SmtpAddress),
            // The primary address itself: both forms resolve it alike.
            (ConnectingSid::Both, Some(p)) if p.eq_ignore_ascii_case(mailbox) => FormPlan::One(SidForm::SmtpAddress),
            // A known alias: SmtpAddress decides, PrimarySmtpAddress tells what breaks.
            (ConnectingSid::Both, Some(_)) => FormPlan::SmtpThenPrimary,
            // Not known (Autodiscover v2 does not say): PrimarySmtpAddress first,
            // SmtpAddress only when Exchange answers that it is an alias.
            (ConnectingSid::Both, None) => FormPlan::PrimaryThenSmtpIfAlias,
        }
    }
}

/// One Graph call of the `graph.mailbox` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphCallKind {
    Inbox,
    User,
    Calendar,
}

impl GraphCallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GraphCallKind::Inbox => "inbox",
            GraphCallKind::User => "user",
            GraphCallKind::Calendar => "calendar",
        }
    }
}

/// `--folders` as EWS distinguished folder ids, each once, in the given order.
pub(super) fn folders(args: &CheckArgs) -> Vec<&'static str> {
    let mut out = vec![];
    for f in &args.folders {
        let id = match f {
            crate::cli::FolderArg::Inbox => "inbox",
            crate::cli::FolderArg::Calendar => "calendar",
            crate::cli::FolderArg::Contacts => "contacts",
            crate::cli::FolderArg::Tasks => "tasks",
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// `--graph-calls`, each once, in the given order.
pub(super) fn graph_calls(args: &CheckArgs) -> Vec<GraphCallKind> {
    let mut out = vec![];
    for c in &args.graph_calls {
        let c = match c {
            crate::cli::GraphCallArg::Inbox => GraphCallKind::Inbox,
            crate::cli::GraphCallArg::User => GraphCallKind::User,
            crate::cli::GraphCallArg::Calendar => GraphCallKind::Calendar,
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// `--api`, else both APIs for OAuth grants and EWS otherwise; Graph needs OAuth.
pub(super) fn api(args: &CheckArgs, mode: AuthMode) -> Result<Api, ConfigError> {
    let api = match (args.api, mode) {
        (Some(crate::cli::ApiArg::Ews), _) => Api::Ews,
        (Some(crate::cli::ApiArg::Graph), _) => Api::Graph,
        (Some(crate::cli::ApiArg::Both), _)
        | (None, AuthMode::App | AuthMode::RefreshToken | AuthMode::PasswordGrant) => Api::Both,
        (None, _) => Api::Ews,
    };
    if api.graph() && matches!(mode, AuthMode::Basic | AuthMode::Ntlm) {
        return Err(ConfigError::Invalid(
            "--api graph needs an OAuth mode (--auth app or --auth token)".into(),
        ));
    }
    Ok(api)
}
