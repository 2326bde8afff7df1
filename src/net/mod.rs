//! The only place that talks to the network: DNS, HTTP, TLS, evidence.

pub mod allowed;
pub mod classify;
pub mod dns;
pub mod evidence;
pub mod http;
pub mod limiter;
pub mod tls;

pub use allowed::AllowedHosts;
pub use classify::{NetFailure, TlsProblem};
pub use http::{HttpRequest, HttpResponse, Net, NetError};
