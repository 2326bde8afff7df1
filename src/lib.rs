//! exprobe: connectivity diagnostics for Exchange service accounts and apps.
//!
//! Data flow: probes (`probe/`) perform network exchanges through `net/` and
//! return steps with typed observations and redacted evidence; the report
//! engine (`diagnose/`) turns observations into catalogue findings, root cause
//! first; renderers (`report/`) are pure functions of the resulting `Report`.
//! `lab/` is the simulated organization the demo and the tests run against.

pub mod app;
pub mod auth;
pub mod catalogue;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod diagnose;
pub mod engine;
pub mod error;
pub mod ews_timeline;
pub mod exit;
pub mod fleet;
pub mod lab;
pub mod net;
pub mod opath;
pub mod probe;
pub mod protocol;
pub mod report;
pub mod secret;
pub mod serve;
pub mod terminal;
