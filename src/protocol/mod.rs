//! Pure wire formats, no I/O.

pub mod address;
pub mod autodiscover_v2;
pub mod entra;
pub mod ews;
pub mod graph;
pub mod jwt;
pub mod ms_diagnostics;
pub mod oauth;
pub mod pox;
pub mod soap_autodiscover;
pub mod www_authenticate;
pub mod xml;
