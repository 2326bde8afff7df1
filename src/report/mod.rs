//! The report model, the sinks a run's events go to, and the output formats
//! ([`format::Format`]); each renderer is a pure function of what its sink kept.

pub mod diff;
pub mod digest;
pub mod format;
pub mod formats;
pub mod html;
pub mod human;
pub mod json;
pub mod jsonl;
pub mod junit;
pub mod model;
pub mod nagios;
pub mod output;
pub mod safe;
pub mod sink;

pub use model::*;
