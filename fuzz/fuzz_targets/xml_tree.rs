//! The bounded XML tree every XML answer goes through.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = exprobe::protocol::xml::parse(data);
});
