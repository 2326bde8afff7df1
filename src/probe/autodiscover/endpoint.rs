//! One autodiscover endpoint: POST (SOAP or POX), the 401 retry with
//! credentials, and the redirect URLs / HTTP 3xx that follow from it.

use url::Url;

use super::model::{AttemptResult, AutodiscoverFailure, Crossing, HopKind, Method, RedirectHop, RedirectKind};
use super::{Decision, Discovery, Found, MAX_REDIRECTS};
use crate::net::{HttpRequest, HttpResponse};
use crate::protocol::pox::{self, PoxAnswer};
use crate::protocol::soap_autodiscover::{self, SoapAnswer};

/// What an endpoint (and the URL redirects it led to) came to.
#[derive(Debug)]
pub enum EndpointResult {
    Decided(Box<Decision>),
    /// Try the next candidate; `host_failed` when the host itself is unusable
    /// (DNS, connection, TLS), so its other paths need not be tried.
    Continue {
        host_failed: bool,
    },
}

/// Redirect URLs followed inside one candidate.
#[derive(Debug, Clone, Default)]
pub struct UrlTrail {
    pub hops_before: u32,
    pub visited: Vec<String>,
    /// Where in `visited` the chain being followed starts: a URL reached
    /// again within the chain is a loop; one an earlier chain of the same
    /// candidate reached (`.svc` and `.xml` redirected to the same place)
    /// was already asked, and is skipped.
    pub chain_start: usize,
    pub hops: Vec<RedirectHop>,
    /// Hops of the path being followed that left the organization's hosts
    /// (kept only for the path that decided).
    pub crossings: Vec<Crossing>,
}

impl UrlTrail {
    pub fn total(&self) -> u32 {
        self.hops_before + self.hops.len() as u32
    }

    /// The first hop of this path to a host not trusted with credentials.
    pub fn untrusted(&self) -> Option<&Crossing> {
        self.crossings.iter().find(|c| c.trusted_by.is_none())
    }
}

/// A redirect's target, when it is one that may be followed at all: at most
/// [`MAX_URL_LEN`](super::MAX_URL_LEN) characters, a URL, no userinfo, https.
/// `Err` says why not. (Each redirect kind adds its own path rule.)
pub fn redirect_target(from: &Url, location: &str) -> Result<Url, String> {
    if location.len() > super::MAX_URL_LEN {
        return Err(format!(
            "the redirect target is {} characters long (more than {})",
            location.len(),
            super::MAX_URL_LEN
        ));
    }
    let target = from
        .join(location)
        .map_err(|e| format!("the Location is not a URL: {e}"))?;
    if !target.username().is_empty() || target.password().is_some() {
        return Err("redirect to a URL with userinfo (user name or password in the URL) refused".into());
    }
    if target.scheme() != "https" {
        return Err(format!(
            "redirect to {}:// refused: only https is followed",
            target.scheme()
        ));
    }
    Ok(target)
}

/// `/autodiscover/(.../)*autodiscover.(xml|svc)`, case-insensitive.
pub fn is_autodiscover_path(url: &Url) -> bool {
    let path = url.path().to_ascii_lowercase();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    segments.len() >= 2
        && segments[0] == "autodiscover"
        && matches!(segments[segments.len() - 1], "autodiscover.xml" | "autodiscover.svc")
}

pub fn method_for(url: &Url) -> Method {
    if url.path().to_ascii_lowercase().ends_with(".svc") {
        Method::Soap
    } else {
        Method::Pox
    }
}

fn host_domain(url: &Url) -> String {
    url.host_str().unwrap_or("").to_ascii_lowercase()
}

/// Whether two hosts belong to different registrable parts of the DNS (a cheap
/// check: neither is the other or a subdomain of it).
pub fn different_domain(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    !(a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}")) || same_parent(&a, &b))
}

fn same_parent(a: &str, b: &str) -> bool {
    let parent = |h: &str| {
        h.split_once('.')
            .map(|(_, p)| p.to_string())
            .filter(|p| p.contains('.'))
    };
    matches!((parent(a), parent(b)), (Some(x), Some(y)) if x == y)
}

impl Discovery<'_> {
    /// Validate a redirect target; `Err` carries what to do instead of following it.
    fn check_redirect(
        &self,
        candidate: &str,
        address: &str,
        method: Method,
        from: &Url,
        location: &str,
        trail: &UrlTrail,
    ) -> Result<Url, EndpointResult> {
        let refused = |reason: String| {
            self.log_attempt(
                candidate,
                address,
                method,
                from.as_str(),
                AttemptResult::RedirectRefused {
                    location: location.to_string(),
                    reason,
                },
            );
            EndpointResult::Continue { host_failed: false }
        };
        let target = match redirect_target(from, location) {
            Ok(t) => t,
            Err(reason) => return Err(refused(reason)),
        };
        if !is_autodiscover_path(&target) {
            return Err(refused(format!(
                "redirect to {} refused: not an autodiscover path",
                target.path()
            )));
        }
        let key = target.as_str().to_ascii_lowercase();
        let chain = trail.visited.get(trail.chain_start..).unwrap_or_default();
        if key != from.as_str().to_ascii_lowercase() && !chain.contains(&key) && trail.visited.contains(&key) {
            return Err(EndpointResult::Continue { host_failed: false });
        }
        if key == from.as_str().to_ascii_lowercase() || chain.contains(&key) {
            return Err(EndpointResult::Decided(Box::new(Decision::Fail(
                AutodiscoverFailure::RedirectLoop {
                    repeated: target.to_string(),
                },
            ))));
        }
        if trail.total() >= MAX_REDIRECTS {
            return Err(EndpointResult::Decided(Box::new(Decision::Fail(
                AutodiscoverFailure::TooManyRedirects { limit: MAX_REDIRECTS },
            ))));
        }
        Ok(target)
    }

    /// POST to `url`, retrying once with credentials on 401 when allowed.
    async fn post(
        &self,
        candidate: &str,
        address: &str,
        method: Method,
        url: &Url,
    ) -> Result<(HttpResponse, bool), EndpointResult> {
        let request = request_for(method, address, url);
        // The service account's own sign-in (a bearer token is for EWS, not
        // autodiscover's POX and SOAP).
        let basic = self
            .credentials
            .clone()
            .filter(crate::auth::Credentials::signs_in_the_account);
        // Credentials go only to hosts allowed from the start (README, "Security: which hosts
        // receive credentials"), never to one a redirect or an SRV record led to.
        let policy = self.net.credential_policy(url);
        let untrusted_host = url
            .host_str()
            .filter(|host| url.scheme() == "https" && !self.net.is_base_allowed(host))
            .map(str::to_string);
        let withheld = policy.or_else(|| {
            untrusted_host.as_ref().map(|host| {
                format!("{host} was reached by a redirect and is not among the hosts trusted with credentials")
            })
        });
        // A remembered endpoint that wanted credentials gets them on its first
        // request; never a redirect hop after it, never anywhere else.
        let preemptive =
            self.preemptive.swap(false, std::sync::atomic::Ordering::Relaxed) && basic.is_some() && withheld.is_none();
        if !preemptive {
            let response = self.send(candidate, address, method, request.clone()).await?;
            if response.status != 401 {
                return Ok((response, false));
            }
            if basic.is_none() {
                self.log_attempt(candidate, address, method, url.as_str(), AttemptResult::AuthRequired);
                return Err(EndpointResult::Continue { host_failed: false });
            }
            if let Some(reason) = withheld {
                self.log_attempt(
                    candidate,
                    address,
                    method,
                    url.as_str(),
                    AttemptResult::CredentialsWithheld { reason, untrusted_host },
                );
                return Err(EndpointResult::Continue { host_failed: false });
            }
        }
        let mut authed = request;
        authed.credentials = basic;
        let response = self.send(candidate, address, method, authed).await?;
        if response.status == 401 {
            let result = if response.handshake == Some(crate::auth::HandshakeEnd::NoChallenge) {
                let offers = response
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
                    .map(|(_, v)| v.as_str());
                AttemptResult::NtlmNotTaken {
                    negotiate_only: crate::auth::negotiate_without_ntlm(offers),
                }
            } else {
                AttemptResult::CredentialsRejected
            };
            self.log_attempt(candidate, address, method, url.as_str(), result);
            return Err(EndpointResult::Continue { host_failed: false });
        }
        Ok((response, true))
    }

    async fn send(
        &self,
        candidate: &str,
        address: &str,
        method: Method,
        request: HttpRequest,
    ) -> Result<HttpResponse, EndpointResult> {
        let url = request.url.to_string();
        let (result, exchange) = self.net.send(request).await;
        self.log_exchange(exchange);
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                let host_failed = !matches!(e.failure, crate::net::NetFailure::RefusedByPolicy { .. });
                self.log_attempt(
                    candidate,
                    address,
                    method,
                    &url,
                    AttemptResult::Network { failure: e.failure },
                );
                Err(EndpointResult::Continue { host_failed })
            }
        }
    }

    /// Query one endpoint, following redirect URLs and HTTP 3xx from it.
    pub async fn query(&self, candidate: &str, address: &str, start: Url, trail: &mut UrlTrail) -> EndpointResult {
        // Crossings of a path that came to nothing do not taint the next one.
        let mark = trail.crossings.len();
        let result = self.follow(candidate, address, start, trail).await;
        if matches!(result, EndpointResult::Continue { .. }) {
            trail.crossings.truncate(mark);
        }
        result
    }

    /// A hop to `host`: `None` when it stays within the hosts allowed from
    /// the start and outside every `--trust-domain`.
    pub(super) fn crossing(&self, hop: HopKind, from: &str, to: &str, host: &str) -> Option<Crossing> {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        let trusted_by = self
            .settings
            .trust_domains
            .iter()
            .find(|d| h == **d || h.ends_with(&format!(".{d}")))
            .cloned();
        if trusted_by.is_none() && self.net.is_base_allowed(&h) {
            return None;
        }
        Some(Crossing {
            hop,
            from: from.to_string(),
            to: to.to_string(),
            host: h,
            trusted_by,
        })
    }

    async fn follow(&self, candidate: &str, address: &str, start: Url, trail: &mut UrlTrail) -> EndpointResult {
        let mut url = start;
        trail.chain_start = trail.visited.len();
        loop {
            let method = method_for(&url);
            trail.visited.push(url.as_str().to_ascii_lowercase());
            let (response, authenticated) = match self.post(candidate, address, method, &url).await {
                Ok(r) => r,
                Err(outcome) => return outcome,
            };
            let next = match response.status {
                200 => match self.interpret(candidate, address, method, &url, &response) {
                    Interpreted::Done(EndpointResult::Decided(mut decision)) => {
                        if let Decision::Found(found) = decision.as_mut() {
                            found.authenticated = authenticated;
                            // Backstop: whatever the hops said, an answer from a
                            // host outside the allowed set is not trusted.
                            found.answered_by_allowed = self.net.is_base_allowed(url.host_str().unwrap_or(""));
                        }
                        return EndpointResult::Decided(decision);
                    }
                    Interpreted::Done(outcome) => return outcome,
                    Interpreted::FollowUrl(location) => (location, RedirectKind::Url),
                },
                301 | 302 | 303 | 307 | 308 => {
                    // A redirect without a Location says nothing: the next candidate asks.
                    let logged = match response.header("location") {
                        Some(location) => AttemptResult::HttpRedirect {
                            status: response.status,
                            location: location.to_string(),
                        },
                        None => AttemptResult::InvalidResponse {
                            reason: format!("HTTP {} without a Location header", response.status),
                        },
                    };
                    self.log_attempt(candidate, address, method, url.as_str(), logged);
                    match response.header("location") {
                        Some(location) => (location.to_string(), RedirectKind::Http),
                        None => return EndpointResult::Continue { host_failed: false },
                    }
                }
                status => {
                    self.log_attempt(
                        candidate,
                        address,
                        method,
                        url.as_str(),
                        AttemptResult::HttpStatus { status },
                    );
                    return EndpointResult::Continue { host_failed: false };
                }
            };
            let (location, kind) = next;
            let target = match self.check_redirect(candidate, address, method, &url, &location, trail) {
                Ok(t) => t,
                Err(outcome) => return outcome,
            };
            let hop = if kind == RedirectKind::Http {
                HopKind::HttpStatus
            } else {
                HopKind::RedirectUrl
            };
            if let Some(c) = self.crossing(hop, url.as_str(), target.as_str(), &host_domain(&target)) {
                trail.crossings.push(c);
            }
            trail.hops.push(RedirectHop {
                kind,
                from: url.to_string(),
                to: target.to_string(),
                cross_domain: different_domain(&host_domain(&url), &host_domain(&target)),
            });
            url = target;
        }
    }

    fn interpret(
        &self,
        candidate: &str,
        address: &str,
        method: Method,
        url: &Url,
        response: &HttpResponse,
    ) -> Interpreted {
        let log = |result| self.log_attempt(candidate, address, method, url.as_str(), result);
        let invalid = |reason: String| {
            log(AttemptResult::InvalidResponse { reason });
            Interpreted::Done(EndpointResult::Continue { host_failed: false })
        };
        if response.truncated {
            return invalid("the answer is larger than 2 MiB".into());
        }
        let answer = match method {
            Method::Soap => soap_autodiscover::parse_response(&response.body)
                .map(Normalized::from_soap)
                .map_err(|e| e.to_string()),
            _ => pox::parse_response(&response.body)
                .map(Normalized::from_pox)
                .map_err(|e| e.to_string()),
        };
        match answer {
            Ok(answer) => self.decide(candidate, address, method, url, answer),
            Err(reason) => invalid(reason),
        }
    }

    /// What a parsed answer decides: an EWS URL found, a redirect to
    /// follow, the address unknown, or nothing (the next candidate asks).
    fn decide(&self, candidate: &str, address: &str, method: Method, url: &Url, answer: Normalized) -> Interpreted {
        let log = |result| self.log_attempt(candidate, address, method, url.as_str(), result);
        let invalid = |reason: String| {
            log(AttemptResult::InvalidResponse { reason });
            Interpreted::Done(EndpointResult::Continue { host_failed: false })
        };
        match answer {
            Normalized::Settings {
                ews_url: Some(ews_url),
                internal_ews_url,
                primary,
                display_name,
            } => {
                if ews_url.len() > super::MAX_URL_LEN {
                    return invalid(format!(
                        "the EWS URL is {} characters long (more than {}): not a usable endpoint",
                        ews_url.len(),
                        super::MAX_URL_LEN
                    ));
                }
                log(AttemptResult::Settings {
                    ews_url: ews_url.clone(),
                });
                let found = Found {
                    ews_url,
                    internal_ews_url: internal_ews_url
                        .filter(|i| i.starts_with("https://") && i.len() <= super::MAX_URL_LEN),
                    method,
                    url: url.to_string(),
                    candidate: candidate.to_string(),
                    primary,
                    display_name,
                    authenticated: false,
                    answered_by_allowed: false,
                };
                match usable_ews_url(&found.ews_url) {
                    Ok(()) => Interpreted::Done(EndpointResult::Decided(Box::new(Decision::Found(found)))),
                    Err(reason) => invalid(reason),
                }
            }
            Normalized::Settings { ews_url: None, .. } => {
                invalid("settings without an EWS URL (no EwsUrl, ASUrl, ExternalEwsUrl or InternalEwsUrl)".into())
            }
            Normalized::RedirectAddress(to) => {
                if to.eq_ignore_ascii_case(address) {
                    // Following it would ask the same question again: a loop.
                    log(AttemptResult::RedirectAddress { to: to.clone() });
                    return Interpreted::Done(EndpointResult::Decided(Box::new(Decision::Fail(
                        AutodiscoverFailure::RedirectLoop { repeated: to },
                    ))));
                }
                log(AttemptResult::RedirectAddress { to: to.clone() });
                Interpreted::Done(EndpointResult::Decided(Box::new(Decision::RedirectAddress {
                    to,
                    from_url: url.to_string(),
                })))
            }
            Normalized::RedirectUrl(to) => {
                log(AttemptResult::RedirectUrl { to: to.clone() });
                Interpreted::FollowUrl(to)
            }
            Normalized::UserNotFound(message) => {
                log(AttemptResult::UserNotFound {
                    message: message.clone(),
                });
                Interpreted::Done(EndpointResult::Decided(Box::new(Decision::Fail(
                    AutodiscoverFailure::UserNotFound {
                        url: url.to_string(),
                        message,
                    },
                ))))
            }
            Normalized::Error { code, message } => {
                log(AttemptResult::ServiceError { code, message });
                Interpreted::Done(EndpointResult::Continue { host_failed: false })
            }
        }
    }
}

/// The POX or SOAP request asking for `address`'s settings at `url`.
fn request_for(method: Method, address: &str, url: &Url) -> HttpRequest {
    let body = match method {
        Method::Soap => soap_autodiscover::request_body(address, url.as_str()),
        _ => pox::request_body(address),
    };
    let request =
        HttpRequest::post(url.clone(), "text/xml; charset=utf-8", body.into_bytes()).header("Accept", "text/xml");
    if method == Method::Soap {
        request.header(
            "SOAPAction",
            "\"http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings\"",
        )
    } else {
        request
    }
}

/// Why an EWS URL from an answer cannot be used, if it cannot: credentials
/// in it, not https, not a URL.
fn usable_ews_url(ews_url: &str) -> Result<(), String> {
    match Url::parse(ews_url) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            Err("the EWS URL carries a user name or password (userinfo): refused".into())
        }
        Ok(u) if u.scheme() == "https" => Ok(()),
        Ok(u) => Err(format!("the EWS URL uses {}://, not https", u.scheme())),
        Err(e) => Err(format!("the EWS URL {ews_url:?} is not a URL: {e}")),
    }
}

enum Interpreted {
    Done(EndpointResult),
    FollowUrl(String),
}

/// POX and SOAP answers in one shape.
enum Normalized {
    Settings {
        ews_url: Option<String>,
        /// The internal EWS URL (POX `EXCH`, SOAP `InternalEwsUrl`) when it differs.
        internal_ews_url: Option<String>,
        primary: Option<String>,
        display_name: Option<String>,
    },
    RedirectAddress(String),
    RedirectUrl(String),
    UserNotFound(String),
    Error {
        code: String,
        message: String,
    },
}

impl Normalized {
    fn from_pox(a: PoxAnswer) -> Self {
        match a {
            PoxAnswer::Settings(s) => Normalized::Settings {
                internal_ews_url: s
                    .protocols
                    .iter()
                    .filter(|p| p.kind == "EXCH")
                    .find_map(|p| p.ews_url.clone().or_else(|| p.as_url.clone()))
                    .filter(|internal| Some(internal) != s.ews_url.as_ref()),
                ews_url: s.ews_url,
                primary: s.autodiscover_smtp_address,
                display_name: s.display_name,
            },
            PoxAnswer::RedirectAddr(a) => Normalized::RedirectAddress(a),
            PoxAnswer::RedirectUrl(u) => Normalized::RedirectUrl(u),
            // 500: unknown address; 501: known, but nothing to configure (no mailbox).
            PoxAnswer::Error { code, message } if code == "500" => Normalized::UserNotFound(message),
            PoxAnswer::Error { code, message } if code == "501" => Normalized::UserNotFound(format!(
                "{message} (error 501: {})",
                crate::protocol::pox::error_meaning("501").unwrap_or_default()
            )),
            PoxAnswer::Error { code, message } => Normalized::Error { code, message },
        }
    }

    fn from_soap(a: SoapAnswer) -> Self {
        match a {
            SoapAnswer::Settings { ews_url, settings } => Normalized::Settings {
                internal_ews_url: settings
                    .get("InternalEwsUrl")
                    .cloned()
                    .filter(|internal| Some(internal) != ews_url.as_ref()),
                ews_url,
                primary: settings.get("AutoDiscoverSMTPAddress").cloned(),
                display_name: settings.get("UserDisplayName").cloned(),
            },
            SoapAnswer::RedirectAddress(a) => Normalized::RedirectAddress(a),
            SoapAnswer::RedirectUrl(u) => Normalized::RedirectUrl(u),
            SoapAnswer::InvalidUser(m) => Normalized::UserNotFound(m),
            SoapAnswer::Error { code, message } => Normalized::Error { code, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autodiscover_paths() {
        let ok = |s: &str| is_autodiscover_path(&Url::parse(s).expect("url"));
        assert!(ok("https://a.b/autodiscover/autodiscover.xml"));
        assert!(ok("https://a.b/Autodiscover/AutoDiscover.svc"));
        assert!(ok("https://a.b/autodiscover/x/y/autodiscover.xml"));
        assert!(!ok("https://a.b/owa/"));
        assert!(!ok("https://a.b/autodiscover.xml"));
        assert!(!ok("https://a.b/x/autodiscover/autodiscover.xml"));
    }

    #[test]
    fn cross_domain() {
        assert!(!different_domain("contoso.com", "autodiscover.contoso.com"));
        assert!(!different_domain("mail.contoso.com", "autodiscover.contoso.com"));
        assert!(different_domain("contoso.com", "autodiscover-s.outlook.com"));
    }
}
