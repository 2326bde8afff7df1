//! How the lab's web servers answer: the headers every IIS answer carries
//! and the body forms. Every endpoint (autodiscover, EWS, Entra, Graph) and
//! the server's router build their answers here.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(1);

pub fn respond(status: u16, headers: &[(&str, String)], body: Bytes) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("Server", "Microsoft-IIS/10.0")
        .header("X-Powered-By", "ASP.NET")
        .header("X-FEServer", "LABFE01")
        .header(
            "request-id",
            format!(
                "6f9c8a4e-0000-4000-8000-{:012x}",
                REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
        );
    for (n, v) in headers {
        builder = builder.header(*n, v.as_str());
    }
    builder
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

pub fn xml_response(status: u16, body: String) -> Response<Full<Bytes>> {
    respond(
        status,
        &[("Content-Type", "text/xml; charset=utf-8".into())],
        Bytes::from(body),
    )
}

/// A query or form value decoded (`+` and `%XX`), as IIS decodes it.
pub(super) fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| {
            if v.is_empty() {
                k.into_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .collect()
}
