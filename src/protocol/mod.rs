//! Pure wire formats, no I/O.

pub mod address;
pub mod autodiscover_v2;
pub mod ews;
pub mod ms_diagnostics;
pub mod pox;
pub mod soap_autodiscover;
pub mod www_authenticate;
pub mod xml;
