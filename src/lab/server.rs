//! The lab's listeners: HTTPS (certificate chosen per SNI, hosts that hang or
//! reset), plain HTTP (the autodiscover redirect host), request recording,
//! latency, and pinned raw responses.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::autodiscover::{self, AutodiscoverRequest};
use super::response::respond;
use super::scenario::HostBehavior;
use super::{LabState, RecordedRequest};

fn not_found() -> Response<Full<Bytes>> {
    respond(
        404,
        &[("Content-Type", "text/html".into())],
        Bytes::from_static(b"<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\r\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>404 - File or directory not found.</title></head><body><h2>404 - File or directory not found.</h2></body></html>"),
    )
}

async fn route(
    state: Arc<LabState>,
    scheme: &'static str,
    sni: Option<String>,
    conn: Arc<std::sync::Mutex<super::auth::ConnectionAuth>>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map(|(n, _)| n).unwrap_or(h).to_ascii_lowercase())
        .or(sni)
        .unwrap_or_default();
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match Limited::new(req.into_body(), 4 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return respond(413, &[], Bytes::new()),
    };
    let request_headers = headers.clone();
    state.recorder.record(RecordedRequest {
        at_ms: u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        scheme: scheme.to_string(),
        host: host.clone(),
        method: method.to_string(),
        path: match &query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        },
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let scenario = &state.scenario;
    // A CNAME alias is served by the host it leads to (the Host header keeps the alias).
    let spec = scenario.host(&scenario.serving_name(&host));
    let is_ews = spec.is_some_and(|h| h.ews) && path.eq_ignore_ascii_case("/ews/exchange.asmx");
    if let Some(h) = spec.filter(|_| !is_ews) {
        // EWS applies its latency itself, while the request counts as in flight.
        if h.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(h.latency_ms)).await;
        }
    }
    // Rules are asked in order until one answers; each counts the requests
    // it was asked about and matched (what `nth` and `first` count).
    let pinned = scenario.responses.iter().enumerate().find(|(i, r)| {
        r.matches(&host, &path, method.as_str(), &request_headers, &body) && {
            let n = state.response_hits[*i].fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            r.answers(n)
        }
    });
    if let Some((_, raw)) = pinned {
        let body = match (&raw.body, &raw.body_file) {
            (Some(b), _) => Bytes::from(b.clone()),
            (None, Some(f)) => Bytes::from(scenario.bodies.get(f).cloned().unwrap_or_default()),
            (None, None) => Bytes::new(),
        };
        let headers: Vec<(&str, String)> = raw.headers.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        return respond(raw.status, &headers, body);
    }
    let Some(spec) = spec else { return not_found() };
    if scheme == "http" {
        return match &spec.http_redirect {
            // An IIS HTTP redirect on the autodiscover virtual directory answers every
            // path under it (exchangelib asks for autodiscover.svc there, Outlook for .xml).
            Some(r) if path.to_ascii_lowercase().starts_with("/autodiscover/") => {
                let location = if r.keep_path {
                    format!("{}{path}", r.location.trim_end_matches('/'))
                } else {
                    r.location.clone()
                };
                respond(r.status, &[("Location", location)], Bytes::new())
            }
            _ => not_found(),
        };
    }
    if spec.graph {
        return super::graph::answer(&state, &path, query.as_deref(), authorization.as_deref());
    }
    if spec.entra {
        return super::entra::answer(
            scenario,
            &state.tokens,
            &state.device_flows,
            &host,
            &method,
            &path,
            query.as_deref(),
            &body,
        );
    }
    // NTLM and Negotiate legs, bound to this connection (as IIS binds them).
    if let super::auth::NtlmGate::Respond(r) =
        super::auth::ntlm_gate(scenario, &spec.name, authorization.as_deref(), &conn)
    {
        return r;
    }
    let ntlm_account = conn.lock().unwrap_or_else(|p| p.into_inner()).account.clone();
    if is_ews {
        let anchor = request_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-anchormailbox"))
            .map(|(_, v)| v.trim());
        let user_agent = request_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
            .map_or("", |(_, v)| v.as_str());
        let caller = super::ews::Caller {
            authorization: authorization.as_deref(),
            ntlm_account: ntlm_account.as_deref(),
            anchor,
            user_agent,
        };
        return super::ews::answer(&state, spec, caller, &body).await;
    }
    // A valid bearer token for Exchange Online, where Bearer is offered.
    let bearer = authorization
        .as_deref()
        .and_then(|a| a.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .filter(|_| {
            scenario
                .auth_schemes_for(&spec.name)
                .contains(&super::scenario::AuthScheme::Bearer)
        })
        .and_then(|(_, token)| state.tokens.verify(token.trim()).ok())
        .filter(|c| crate::cloud::Cloud::is_ews_resource(c["aud"].as_str().unwrap_or("")));
    let request = AutodiscoverRequest {
        host: spec,
        method: &method,
        path: &path,
        query: query.as_deref(),
        authorization: authorization.as_deref(),
        ntlm_account: ntlm_account.as_deref(),
        bearer: bearer.is_some(),
        bearer_without_role: bearer.as_ref().is_some_and(|c| {
            // An app-only token (no `scp`) that Exchange's RBAC for Applications would have to carry.
            c.get("scp").is_none()
                && !c["roles"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|v| v == "full_access_as_app"))
        }),
        body: &body,
    };
    autodiscover::answer(scenario, &request).unwrap_or_else(not_found)
}

async fn serve_connection<IO>(
    io: IO,
    state: Arc<LabState>,
    scheme: &'static str,
    sni: Option<String>,
    certificate: Option<Vec<u8>>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // What NTLM authenticated lives as long as the connection; with Extended
    // Protection, the handshake must carry this connection's certificate binding.
    let binding = certificate
        .filter(|_| state.scenario.exchange.extended_protection || state.scenario.exchange.extended_protection_required)
        .map(|der| crate::auth::ntlm::tls_server_end_point(&der));
    let conn = Arc::new(std::sync::Mutex::new(super::auth::ConnectionAuth::with_binding(
        binding,
    )));
    let service = service_fn(move |req| {
        let state = state.clone();
        let sni = sni.clone();
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(route(state, scheme, sni, conn, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn hang() {
    // Long enough for any client timeout; the lab's shutdown ends it sooner.
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

async fn tls_connection(tcp: tokio::net::TcpStream, state: Arc<LabState>) {
    let acceptor = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
    let Ok(start) = acceptor.await else { return };
    let sni = start
        .client_hello()
        .server_name()
        .unwrap_or("localhost")
        .to_ascii_lowercase();
    let cert_name = state.scenario.serving_name(&sni);
    match state.scenario.host(&cert_name).map(|h| h.behavior) {
        Some(HostBehavior::Hang) => return hang().await,
        Some(HostBehavior::Reset) => return,
        _ => {}
    }
    let config = match state
        .certs
        .server_config(&cert_name, state.scenario.certificate_for(&cert_name))
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("lab TLS config for {sni}: {e}");
            return;
        }
    };
    let Ok(tls) = start.into_stream(config).await else {
        return;
    };
    let leaf = state
        .certs
        .leaf_der(&cert_name, state.scenario.certificate_for(&cert_name));
    serve_connection(tls, state, "https", Some(sni), leaf).await;
}

pub async fn serve_https(listener: TcpListener, state: Arc<LabState>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((tcp, _)) = accepted {
                    connections.spawn(tls_connection(tcp, state.clone()));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

pub async fn serve_http(listener: TcpListener, state: Arc<LabState>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((tcp, _)) = accepted {
                    connections.spawn(serve_connection(tcp, state.clone(), "http", None, None));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
