//! The report model and its renderers (pure functions of one [`Report`]).

pub mod diff;
pub mod html;
pub mod human;
pub mod json;
pub mod model;
pub mod nagios;
pub mod safe;
pub mod sink;

pub use model::*;
