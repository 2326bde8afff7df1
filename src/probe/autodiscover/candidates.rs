//! The candidates that are not a plain endpoint POST: Autodiscover v2 JSON,
//! the unauthenticated plain-HTTP redirect host, and SRV records.

use url::Url;

use super::endpoint::{different_domain, is_autodiscover_path, redirect_target, EndpointResult, UrlTrail};
use super::model::{AttemptResult, HopKind, Method, RedirectHop, RedirectKind};
use super::{endpoints, Decision, Discovery, Found};
use crate::net::HttpRequest;
use crate::probe::dns::srv_order;
use crate::protocol::autodiscover_v2::{self, V2Answer};

impl Discovery<'_> {
    pub(super) async fn v2(&self, address: &str, base: Url) -> Option<Decision> {
        let Ok(url) = base.join(&autodiscover_v2::request_path(address)) else {
            self.log_attempt(
                "v2",
                address,
                Method::V2,
                base.as_str(),
                AttemptResult::InvalidResponse {
                    reason: "cannot build the v2 URL for this address".into(),
                },
            );
            return None;
        };
        let (result, exchange) = self
            .net
            .send(HttpRequest::get(url.clone()).header("Accept", "application/json"))
            .await;
        self.log_exchange(exchange);
        let log = |r| self.log_attempt("v2", address, Method::V2, url.as_str(), r);
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                log(AttemptResult::Network { failure: e.failure });
                return None;
            }
        };
        if response.status != 200 {
            log(AttemptResult::HttpStatus {
                status: response.status,
            });
            return None;
        }
        match autodiscover_v2::parse_response(&response.body) {
            Ok(V2Answer::Url(ews_url)) if ews_url.len() > super::MAX_URL_LEN => {
                log(AttemptResult::InvalidResponse {
                    reason: format!(
                        "the EWS URL is {} characters long (more than {})",
                        ews_url.len(),
                        super::MAX_URL_LEN
                    ),
                });
                None
            }
            Ok(V2Answer::Url(ews_url)) if ews_url.starts_with("https://") => {
                log(AttemptResult::Settings {
                    ews_url: ews_url.clone(),
                });
                Some(Decision::Found(Found {
                    ews_url,
                    internal_ews_url: None,
                    method: Method::V2,
                    url: url.to_string(),
                    candidate: "v2".into(),
                    primary: None,
                    display_name: None,
                    authenticated: false,
                    // Microsoft's v2 endpoint, named by --autodiscover-v2-host.
                    answered_by_allowed: true,
                }))
            }
            Ok(V2Answer::Url(other)) => {
                log(AttemptResult::InvalidResponse {
                    reason: format!("EWS URL {other:?} is not https"),
                });
                None
            }
            Ok(V2Answer::Error { code, message }) => {
                log(AttemptResult::ServiceError { code, message });
                None
            }
            Err(e) => {
                log(AttemptResult::InvalidResponse { reason: e.to_string() });
                None
            }
        }
    }

    /// The unauthenticated GET on `http://autodiscover.DOMAIN/autodiscover/autodiscover.xml`.
    pub(super) async fn http_redirect(&self, address: &str, domain: &str, trail: &mut UrlTrail) -> Option<Decision> {
        let label = "http-redirect";
        let Ok(url) = Url::parse(&format!("http://autodiscover.{domain}/autodiscover/autodiscover.xml")) else {
            return None;
        };
        let (result, exchange) = self.net.send(HttpRequest::get(url.clone())).await;
        self.log_exchange(exchange);
        let log = |r| self.log_attempt(label, address, Method::HttpRedirect, url.as_str(), r);
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                log(AttemptResult::Network { failure: e.failure });
                return None;
            }
        };
        if !matches!(response.status, 301 | 302 | 303 | 307) {
            log(AttemptResult::HttpStatus {
                status: response.status,
            });
            return None;
        }
        let Some(location) = response.header("location") else {
            log(AttemptResult::InvalidResponse {
                reason: format!("HTTP {} without a Location header", response.status),
            });
            return None;
        };
        log(AttemptResult::HttpRedirect {
            status: response.status,
            location: location.to_string(),
        });
        let refuse = |reason: String| {
            log(AttemptResult::RedirectRefused {
                location: location.to_string(),
                reason,
            });
            None
        };
        let target = match redirect_target(&url, location) {
            Ok(t) => t,
            Err(reason) => return refuse(reason),
        };
        if !is_autodiscover_path(&target) || !target.path().to_ascii_lowercase().ends_with(".xml") {
            return refuse(format!(
                "redirect to {} refused: not an autodiscover.xml path",
                target.path()
            ));
        }
        // Anyone on the path can forge this plain-HTTP answer: its target is
        // trusted only when it is one of the organization's own hosts.
        if let Some(c) = self.crossing(
            HopKind::HttpRedirectMethod,
            url.as_str(),
            target.as_str(),
            target.host_str().unwrap_or(""),
        ) {
            trail.crossings.push(c);
        }
        trail.hops.push(RedirectHop {
            kind: RedirectKind::Http,
            from: url.to_string(),
            to: target.to_string(),
            cross_domain: different_domain(domain, target.host_str().unwrap_or("")),
        });
        match self.query(label, address, target, trail).await {
            EndpointResult::Decided(d) => Some(*d),
            EndpointResult::Continue { .. } => None,
        }
    }

    pub(super) async fn srv(
        &self,
        address: &str,
        domain: &str,
        known: Option<Vec<crate::net::dns::SrvTarget>>,
        trail: &mut UrlTrail,
    ) -> Option<Decision> {
        let name = format!("_autodiscover._tcp.{domain}");
        let records = match known {
            Some(r) => r,
            None => match self.net.dns.srv(&name).await {
                Ok(r) => r,
                Err(f) => {
                    self.log_attempt(
                        "srv",
                        address,
                        Method::Pox,
                        &name,
                        AttemptResult::Skipped {
                            reason: format!("no SRV record: {}", f.describe()),
                        },
                    );
                    return None;
                }
            },
        };
        let usable = self.usable_srv(address, &name, &records);
        for record in usable {
            // Only plain host names: a label with escaped bytes ("\\040") would
            // be read differently by the URL parser than by the trust check.
            let plain = !record.target.is_empty()
                && record
                    .target
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
            let urls = endpoints(&record.target);
            let parsed_host = urls.first().and_then(|u| u.host_str()).map(str::to_ascii_lowercase);
            if !plain || parsed_host.as_deref() != Some(record.target.to_ascii_lowercase().as_str()) {
                self.log_attempt(
                    "srv",
                    address,
                    Method::Pox,
                    &format!("{}:{}", record.target, record.port),
                    AttemptResult::Skipped {
                        reason: format!("SRV target {:?} is not a plain host name", record.target),
                    },
                );
                continue;
            }
            // An SRV record is an unauthenticated DNS answer: a target outside
            // the organization's hosts is followed without credentials.
            let mark = trail.crossings.len();
            if let Some(c) = self.crossing(
                HopKind::Srv,
                &name,
                &format!("{}:{}", record.target, record.port),
                parsed_host.as_deref().unwrap_or(""),
            ) {
                trail.crossings.push(c);
            }
            for url in urls {
                match self.query("srv", address, url, trail).await {
                    EndpointResult::Decided(d) => return Some(*d),
                    EndpointResult::Continue { host_failed: true } => break,
                    EndpointResult::Continue { host_failed: false } => {}
                }
            }
            trail.crossings.truncate(mark);
        }
        None
    }

    /// The records on port 443, in SRV order; the others logged as skipped.
    fn usable_srv(
        &self,
        address: &str,
        name: &str,
        records: &[crate::net::dns::SrvTarget],
    ) -> Vec<crate::net::dns::SrvTarget> {
        let (usable, skipped) = srv_order(records);
        for r in skipped {
            self.log_attempt(
                "srv",
                address,
                Method::Pox,
                &format!("{}:{}", r.target, r.port),
                AttemptResult::Skipped {
                    reason: if r.target == "." {
                        "SRV target \".\": the domain says the service is not offered".to_string()
                    } else {
                        format!("SRV target on port {}: only port 443 is used", r.port)
                    },
                },
            );
        }
        if usable.is_empty() && records.is_empty() {
            self.log_attempt(
                "srv",
                address,
                Method::Pox,
                name,
                AttemptResult::Skipped {
                    reason: "no SRV record".into(),
                },
            );
        }
        usable
    }
}
