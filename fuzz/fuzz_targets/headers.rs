//! Header values: WWW-Authenticate (one and many) and x-ms-diagnostics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = exprobe::protocol::www_authenticate::parse(&text);
    let _ = exprobe::protocol::www_authenticate::parse_all(text.split('\n'));
    let _ = exprobe::protocol::ms_diagnostics::parse(&text);
});
