//! The report model and its renderers (pure functions of one [`Report`]).

pub mod human;
pub mod json;
pub mod model;
pub mod sink;

pub use model::*;
