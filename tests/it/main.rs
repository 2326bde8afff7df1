//! The integration tests, one binary (one link, one place for helpers):
//! each module is one area, run against the real binary and the lab on
//! loopback. `cargo test --test it -- MODULE::` runs one area.

mod common;

mod admin;
mod bulk;
mod captures;
mod cli;
mod cross_domain;
mod diff;
mod ews_parsers;
mod exo_access;
mod fleet;
mod graph_readiness;
mod hostile;
mod html;
mod junit;
mod lab_scenarios;
mod nagios;
mod ntlm;
mod oauth_parsers;
mod parsers;
mod peers;
mod product_needs;
mod replay;
mod robustness;
mod security_and_exit_codes;
mod serve;
mod snapshots;
mod streaming;
mod terminal;
