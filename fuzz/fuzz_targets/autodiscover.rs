//! Autodiscover answers: POX, SOAP GetUserSettings, v2 JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = exprobe::protocol::pox::parse_response(data);
    let _ = exprobe::protocol::soap_autodiscover::parse_response(data);
    let _ = exprobe::protocol::autodiscover_v2::parse_response(data);
});
