//! `realm` (tenant discovery without credentials) and `token` (acquire a token
//! for each API probed, decode its claims without trusting them, check them).

use serde::Serialize;
use url::Url;

use super::{StepBuilder, StepKind};
use crate::cloud::Cloud;
use crate::config::{AppCredentials, MailApi};
use crate::net::{HttpRequest, Net, NetFailure};
use crate::protocol::entra::{self, OpenIdConfiguration, UserRealm};
use crate::protocol::jwt::{self, TokenClaims};
use crate::protocol::oauth::{self, TokenError, TokenResponse};
use crate::report::{Step, StepStatus};
use crate::secret::Secret;

/// Exchange Online's application id: an EWS token's audience in any cloud.
pub const EWS_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
/// Microsoft Graph's application id.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The audiences a token for `api` in `cloud` may carry; the first is the
/// one to ask for. A token of another cloud does not pass.
pub fn audiences(api: MailApi, cloud: Cloud) -> Vec<String> {
    match api {
        MailApi::Ews => {
            let mut a = vec![cloud.ews_resource(), EWS_APP_ID.to_string()];
            if cloud == Cloud::Global {
                a.push("https://outlook.office.com".into());
            }
            a
        }
        MailApi::Graph => vec![cloud.graph().to_string(), GRAPH_APP_ID.to_string()],
    }
}
/// Clock skew tolerated before a token counts as not yet valid.
pub const SKEW_SECS: i64 = 300;

#[derive(Debug, Clone, Serialize)]
pub struct RealmOutcome {
    pub domain: String,
    pub openid: Option<OpenIdConfiguration>,
    pub openid_error: Option<TokenError>,
    pub realm: Option<UserRealm>,
    pub failure: Option<NetFailure>,
}

impl RealmOutcome {
    pub fn tenant_id(&self) -> Option<&str> {
        self.openid.as_ref().and_then(|o| o.tenant_id.as_deref())
    }

    /// The cloud the tenant lives in, as its discovery documents tell.
    pub fn cloud(&self) -> Option<crate::cloud::Cloud> {
        let o = self.openid.as_ref()?;
        crate::cloud::Cloud::of_tenant(
            o.cloud_instance_name
                .as_deref()
                .or(self.realm.as_ref().and_then(|r| r.cloud_instance_name.as_deref())),
            o.tenant_region_scope.as_deref(),
            o.tenant_region_sub_scope.as_deref(),
            Some(o.issuer.as_str()),
        )
    }
}

fn authority_url(authority: &Url, path: &str) -> Option<Url> {
    Url::parse(&format!(
        "{}/{}",
        authority.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    ))
    .ok()
}

pub async fn realm(net: &Net, authority: &Url, domain: &str, login: &str) -> (RealmOutcome, Step) {
    let step = StepBuilder::new(StepKind::Realm, Some(domain), None, format!("Tenant of {domain}"));
    let mut outcome = RealmOutcome {
        domain: domain.to_string(),
        openid: None,
        openid_error: None,
        realm: None,
        failure: None,
    };
    let mut evidence = vec![];
    if let Some(url) = authority_url(authority, &format!("{domain}/v2.0/.well-known/openid-configuration")) {
        let (result, ex) = net.send(HttpRequest::get(url)).await;
        evidence.push(ex);
        match result {
            Ok(r) if r.status == 200 => outcome.openid = entra::parse_openid_configuration(&r.body).ok(),
            Ok(r) => {
                if let Ok(TokenResponse::Error(e)) = oauth::parse_token_response(r.status, &r.body) {
                    outcome.openid_error = Some(e);
                }
            }
            Err(e) => outcome.failure = Some(e.failure),
        }
    }
    let mut realm_url = authority_url(authority, "getuserrealm.srf");
    if let Some(u) = realm_url.as_mut() {
        u.query_pairs_mut().append_pair("login", login).append_pair("json", "1");
    }
    if let (Some(url), None) = (realm_url, &outcome.failure) {
        let (result, ex) = net.send(HttpRequest::get(url)).await;
        evidence.push(ex);
        if let Some(r) = result.as_ref().ok().filter(|r| r.status == 200) {
            outcome.realm = entra::parse_user_realm(&r.body).ok();
        }
    }
    let namespace = outcome
        .realm
        .as_ref()
        .map(|r| r.namespace_type.clone())
        .unwrap_or_else(|| "?".into());
    let (status, detail) = match (&outcome.failure, outcome.tenant_id(), &outcome.openid_error) {
        // Tenant discovery informs; its absence blocks nothing.
        (Some(f), _, _) => (StepStatus::Warn, format!("{}: {}", authority, f.describe())),
        (None, Some(tid), _) => (
            StepStatus::Pass,
            match outcome.cloud().filter(|c| *c != crate::cloud::Cloud::Global) {
                Some(c) => format!("tenant {tid}; namespace {namespace}; in {}", c.title()),
                None => format!("tenant {tid}; namespace {namespace}"),
            },
        ),
        (None, None, Some(e)) => (
            StepStatus::Warn,
            format!("no tenant: {}; namespace {namespace}", e.summary()),
        ),
        (None, None, None) => (StepStatus::Warn, format!("no tenant found; namespace {namespace}")),
    };
    (outcome.clone(), step.finish(status, detail, &outcome, evidence))
}

/// A claims check that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ClaimProblem {
    Expired { exp: i64, now: i64 },
    NotYetValid { nbf: i64, now: i64 },
    WrongAudience { audience: Vec<String>, expected: String },
    MissingRole { roles: Vec<String>, needed: String },
    MissingScope { scopes: Vec<String>, needed: String },
    WrongTenant { tid: String, expected: String },
    Malformed { reason: String },
}

/// A tenant given as an id (GUID), not a domain.
fn tenant_id(tenant: &str) -> Option<&str> {
    let ok = tenant.len() == 36
        && tenant.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    ok.then_some(tenant)
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenOutcome {
    pub api: MailApi,
    pub scope: String,
    pub error: Option<TokenError>,
    pub failure: Option<NetFailure>,
    pub unexpected_answer: Option<String>,
    /// Decoded, not verified: Exchange and Graph tokens cannot be verified by third parties.
    pub header: Option<serde_json::Value>,
    pub claims: Option<TokenClaims>,
    pub problems: Vec<ClaimProblem>,
}

impl TokenOutcome {
    /// Worth calling the API with. Roles and scopes do not decide it: with
    /// RBAC for Applications, Exchange grants access that no `roles` claim
    /// shows, so the server's answer is the authority there.
    pub fn usable(&self) -> bool {
        self.claims.is_some()
            && self
                .problems
                .iter()
                .all(|p| matches!(p, ClaimProblem::MissingRole { .. } | ClaimProblem::MissingScope { .. }))
    }

    /// An app-only token with no roles at all: nothing was consented.
    pub fn has_no_roles(&self) -> bool {
        self.claims
            .as_ref()
            .is_some_and(|c| c.is_app_only() && c.roles.is_empty())
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Check a token's claims for one API.
pub fn check_claims(api: MailApi, cloud: Cloud, claims: &TokenClaims, now: i64) -> Vec<ClaimProblem> {
    let mut problems = vec![];
    if let Some(exp) = claims.exp.filter(|exp| *exp <= now) {
        problems.push(ClaimProblem::Expired { exp, now });
    }
    if let Some(nbf) = claims.nbf.filter(|nbf| *nbf > now + SKEW_SECS) {
        problems.push(ClaimProblem::NotYetValid { nbf, now });
    }
    let audiences = audiences(api, cloud);
    if !claims.aud.iter().any(|a| {
        audiences
            .iter()
            .any(|x| a.trim_end_matches('/').eq_ignore_ascii_case(x))
    }) {
        problems.push(ClaimProblem::WrongAudience {
            audience: claims.aud.clone(),
            expected: audiences[0].clone(),
        });
        return problems;
    }
    if claims.is_app_only() {
        let ok = if api == MailApi::Ews {
            claims
                .roles
                .iter()
                .any(|r| r == "full_access_as_app" || r == "EWS.AccessAsApp")
        } else {
            claims.roles.iter().any(|r| r.starts_with("Mail."))
        };
        if !ok {
            problems.push(ClaimProblem::MissingRole {
                roles: claims.roles.clone(),
                needed: if api == MailApi::Ews {
                    "full_access_as_app".into()
                } else {
                    "Mail.Read (or another Mail.* application permission)".into()
                },
            });
        }
    } else {
        let scopes: Vec<String> = claims.scopes().iter().map(|s| s.to_string()).collect();
        let ok = if api == MailApi::Ews {
            scopes.iter().any(|s| s == "EWS.AccessAsUser.All")
        } else {
            scopes.iter().any(|s| s.starts_with("Mail."))
        };
        if !ok {
            problems.push(ClaimProblem::MissingScope {
                scopes,
                needed: if api == MailApi::Ews {
                    "EWS.AccessAsUser.All".into()
                } else {
                    "Mail.Read".into()
                },
            });
        }
    }
    problems
}

/// The start of an answer that is not a token response, for the finding:
/// printable characters only, never past a field that could hold a token.
fn body_excerpt(r: &crate::net::HttpResponse) -> String {
    const MAX: usize = 160;
    let text = String::from_utf8_lossy(&r.body);
    if text.trim().is_empty() {
        return "the body is empty".into();
    }
    let cut = ["access_token", "refresh_token", "id_token"]
        .iter()
        .filter_map(|f| text.find(f))
        .min()
        .unwrap_or(text.len());
    let mut excerpt: String = text[..cut]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if excerpt.len() < text.len() {
        excerpt.push('…');
    }
    let mut s = format!("the body begins \"{excerpt}\"");
    if let Some(ra) = r.header("retry-after") {
        s.push_str(&format!(" (Retry-After: {})", ra.chars().take(40).collect::<String>()));
    }
    s
}

pub fn describe_problem(p: &ClaimProblem) -> String {
    match p {
        ClaimProblem::Expired { exp, now } => format!("expired {} s ago", now - exp),
        ClaimProblem::NotYetValid { nbf, now } => format!("not valid for another {} s (clock skew?)", nbf - now),
        ClaimProblem::WrongAudience { audience, expected } => {
            format!("audience {} is not {expected}", audience.join(", "))
        }
        ClaimProblem::MissingRole { roles, needed } => {
            format!(
                "no {needed} in roles [{}]: no tenant-wide admin consent (an RBAC for Applications role grants access no roles claim shows: the API's answer decides)",
                roles.join(", ")
            )
        }
        ClaimProblem::MissingScope { scopes, needed } => format!("no {needed} in scopes [{}]", scopes.join(", ")),
        ClaimProblem::WrongTenant { tid, expected } => format!("issued by tenant {tid}, not {expected}"),
        ClaimProblem::Malformed { reason } => reason.clone(),
    }
}

/// Decode a token and check it; the outcome never holds the token itself.
pub fn inspect(api: MailApi, cloud: Cloud, scope: &str, token: &Secret) -> TokenOutcome {
    let mut outcome = TokenOutcome {
        api,
        scope: scope.into(),
        error: None,
        failure: None,
        unexpected_answer: None,
        header: None,
        claims: None,
        problems: vec![],
    };
    match jwt::decode(token.expose()) {
        Ok((header, claims)) => {
            // Only the fields that explain a failure; the signature is never shown.
            outcome.header = Some(
                serde_json::json!({"alg": header.get("alg"), "typ": header.get("typ"), "x5t": header.get("x5t"), "has_nonce": header.get("nonce").is_some()}),
            );
            outcome.problems = check_claims(api, cloud, &claims, now());
            outcome.claims = Some(claims);
        }
        Err(e) => outcome.problems.push(ClaimProblem::Malformed { reason: e.to_string() }),
    }
    outcome
}

fn summary(outcome: &TokenOutcome) -> (StepStatus, String) {
    if let Some(e) = &outcome.error {
        return (
            StepStatus::Fail,
            format!(
                "{} ({}; trace {}, correlation {})",
                e.summary(),
                e.error,
                e.trace_id.as_deref().unwrap_or("-"),
                e.correlation_id.as_deref().unwrap_or("-")
            ),
        );
    }
    if let Some(f) = &outcome.failure {
        return (StepStatus::Fail, f.describe());
    }
    if let Some(a) = &outcome.unexpected_answer {
        return (StepStatus::Fail, a.clone());
    }
    let Some(c) = &outcome.claims else {
        return (
            StepStatus::Fail,
            outcome
                .problems
                .iter()
                .map(describe_problem)
                .collect::<Vec<_>>()
                .join("; "),
        );
    };
    let who = if c.is_app_only() {
        format!(
            "app-only for {}",
            c.app_displayname.as_deref().or(c.client_id()).unwrap_or("?")
        )
    } else {
        format!(
            "delegated for {}",
            c.upn.as_deref().or(c.unique_name.as_deref()).unwrap_or("?")
        )
    };
    let base = format!(
        "{who}; aud {}; tenant {}; roles [{}]{}; claims decoded, not verified (only Microsoft can verify Exchange and Graph tokens)",
        c.aud.join(", "),
        c.tid.as_deref().unwrap_or("?"),
        c.roles.join(", "),
        c.scp.as_deref().map(|s| format!("; scp {s}")).unwrap_or_default()
    );
    // A missing role alone is not a failure yet: Exchange's RBAC for
    // Applications grants what no roles claim shows.
    let only_roles = outcome
        .problems
        .iter()
        .all(|p| matches!(p, ClaimProblem::MissingRole { .. }));
    if outcome.problems.is_empty() {
        (StepStatus::Pass, base)
    } else {
        (
            if only_roles { StepStatus::Warn } else { StepStatus::Fail },
            format!(
                "{}; {base}",
                outcome
                    .problems
                    .iter()
                    .map(describe_problem)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    }
}

/// How to ask for a token.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    App(&'a AppCredentials),
    Delegated(&'a crate::config::DelegatedCredentials),
}

impl Grant<'_> {
    fn tenant(&self) -> &str {
        match self {
            Grant::App(a) => &a.tenant,
            Grant::Delegated(d) => &d.tenant,
        }
    }

    /// Scope for `resource`: `/.default` for apps; the delegated permission otherwise.
    fn scope(&self, api: MailApi, resource: &str) -> String {
        let resource = resource.trim_end_matches('/');
        match self {
            Grant::App(_) => format!("{resource}/.default"),
            Grant::Delegated(_) if api == MailApi::Ews => format!("{resource}/EWS.AccessAsUser.All offline_access"),
            Grant::Delegated(_) => format!("{resource}/Mail.Read offline_access"),
        }
    }

    fn form(&self, scope: &str, token_url: &str) -> Result<String, String> {
        Ok(match self {
            Grant::App(a) => match &a.credential {
                crate::config::AppCredential::Secret(secret) => {
                    oauth::client_credentials_secret(&a.client_id, scope, secret)
                }
                crate::config::AppCredential::Certificate {
                    certificate_der,
                    private_key_pem,
                    pss,
                } => {
                    let assertion = oauth::client_assertion(
                        &a.client_id,
                        token_url,
                        certificate_der,
                        private_key_pem,
                        *pss,
                        now(),
                    )?;
                    oauth::client_credentials_assertion(&a.client_id, scope, &assertion)
                }
            },
            Grant::Delegated(d) => match &d.grant {
                crate::config::DelegatedGrant::RefreshToken(t) => {
                    oauth::refresh_token_grant(&d.client_id, scope, t, d.client_secret.as_ref())
                }
                crate::config::DelegatedGrant::Password { username, password } => {
                    oauth::password_grant(&d.client_id, scope, username, password, d.client_secret.as_ref())
                }
            },
        })
    }
}

/// Acquire a token for `api` (`ews` or `graph`) with `grant`.
pub async fn acquire(
    net: &Net,
    authority: &Url,
    grant: Grant<'_>,
    api: MailApi,
    cloud: Cloud,
) -> (TokenOutcome, Option<Secret>, Step) {
    let resource = api.resource(cloud);
    let step = StepBuilder::new(
        StepKind::Token,
        Some(api.as_str()),
        None,
        format!(
            "Token for {}",
            if api == MailApi::Ews { "EWS" } else { "Microsoft Graph" }
        ),
    );
    let scope = grant.scope(api, &resource);
    let mut outcome = inspect(api, cloud, &scope, &Secret::new(""));
    outcome.problems.clear();
    let mut evidence = vec![];
    let mut token = None;
    match authority_url(authority, &format!("{}/oauth2/v2.0/token", grant.tenant())) {
        None => outcome.unexpected_answer = Some(format!("cannot build a token URL from tenant {:?}", grant.tenant())),
        Some(url) => {
            let body = match grant.form(&scope, url.as_str()) {
                Ok(b) => b,
                Err(why) => {
                    outcome.unexpected_answer = Some(why);
                    let (status, detail) = summary(&outcome);
                    return (outcome.clone(), None, step.finish(status, detail, &outcome, evidence));
                }
            };
            let mut request = HttpRequest::post(url, "application/x-www-form-urlencoded", body.into_bytes());
            request.headers.push(("Accept".into(), "application/json".into()));
            let (result, ex) = net.send_secret_body(request).await;
            evidence.push(ex);
            match result {
                Err(e) => outcome.failure = Some(e.failure),
                Ok(r) => match oauth::parse_token_response(r.status, &r.body) {
                    Ok(TokenResponse::Error(e)) => outcome.error = Some(e),
                    Ok(TokenResponse::Success(s)) => {
                        let inspected = inspect(api, cloud, &scope, &s.access_token);
                        outcome.header = inspected.header;
                        outcome.problems = inspected.problems;
                        // Asked of one tenant by id: the token must come from it.
                        if let (Some(expected), Some(tid)) = (
                            tenant_id(grant.tenant()),
                            inspected.claims.as_ref().and_then(|c| c.tid.clone()),
                        ) {
                            if !tid.eq_ignore_ascii_case(expected) {
                                outcome.problems.push(ClaimProblem::WrongTenant {
                                    tid,
                                    expected: expected.to_string(),
                                });
                            }
                        }
                        outcome.claims = inspected.claims;
                        token = Some(s.access_token);
                    }
                    Err(e) => {
                        outcome.unexpected_answer = Some(format!("{e}; {}", body_excerpt(&r)));
                    }
                },
            }
        }
    }
    let (status, detail) = summary(&outcome);
    let step = step.finish(status, detail, &outcome, evidence);
    (outcome, token, step)
}

/// A token the user gave (`--auth token`): checked for `api`, never shown.
pub fn given(api: MailApi, cloud: Cloud, token: &Secret) -> (TokenOutcome, Step) {
    let step = StepBuilder::new(
        StepKind::Token,
        Some(api.as_str()),
        None,
        "The access token given".to_string(),
    );
    let outcome = inspect(api, cloud, "", token);
    let (status, detail) = summary(&outcome);
    let step = step.finish(status, detail, &outcome, vec![]);
    (outcome, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(aud: &str, roles: &[&str], exp: i64) -> TokenClaims {
        TokenClaims {
            aud: vec![aud.into()],
            roles: roles.iter().map(|s| s.to_string()).collect(),
            exp: Some(exp),
            nbf: Some(0),
            idtyp: Some("app".into()),
            ..TokenClaims::default()
        }
    }

    #[test]
    fn tenant_ids_and_domains() {
        assert_eq!(
            tenant_id("6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f"),
            Some("6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f")
        );
        assert_eq!(tenant_id("contoso.onmicrosoft.com"), None);
        assert_eq!(tenant_id("6f3c3f2a_9d41-4c1e-9a57-1b2f3c4d5e6f"), None);
    }

    #[test]
    fn claims_checks_table() {
        let now = 1_000_000;
        assert!(check_claims(
            MailApi::Ews,
            Cloud::Global,
            &claims("https://outlook.office365.com", &["full_access_as_app"], now + 60),
            now
        )
        .is_empty());
        assert!(check_claims(
            MailApi::Graph,
            Cloud::Global,
            &claims("00000003-0000-0000-c000-000000000000", &["Mail.Read"], now + 60),
            now
        )
        .is_empty());
        assert!(matches!(
            check_claims(
                MailApi::Ews,
                Cloud::Global,
                &claims("https://outlook.office365.com", &["full_access_as_app"], now - 1),
                now
            )[..],
            [ClaimProblem::Expired { .. }]
        ));
        assert!(matches!(
            check_claims(
                MailApi::Ews,
                Cloud::Global,
                &claims("https://graph.microsoft.com", &["Mail.Read"], now + 60),
                now
            )[..],
            [ClaimProblem::WrongAudience { .. }]
        ));
        assert!(matches!(
            check_claims(
                MailApi::Ews,
                Cloud::Global,
                &claims("https://outlook.office365.com", &[], now + 60),
                now
            )[..],
            [ClaimProblem::MissingRole { .. }]
        ));
        assert!(matches!(
            check_claims(
                MailApi::Graph,
                Cloud::Global,
                &claims("https://graph.microsoft.com", &["User.Read.All"], now + 60),
                now
            )[..],
            [ClaimProblem::MissingRole { .. }]
        ));
        let mut future = claims("https://outlook.office365.com", &["full_access_as_app"], now + 9999);
        future.nbf = Some(now + SKEW_SECS + 60);
        assert!(matches!(
            check_claims(MailApi::Ews, Cloud::Global, &future, now)[..],
            [ClaimProblem::NotYetValid { .. }]
        ));
    }
}
