//! The EWS answer classifier and the per-message reader (folders, item ids):
//! status, headers and body from the wire.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First two bytes: the HTTP status; then header lines up to a blank line; then the body.
    if data.len() < 2 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
    let rest = &data[2..];
    let split = rest.windows(2).position(|w| w == b"\n\n").unwrap_or(0);
    let (head, body) = rest.split_at(split);
    let headers: Vec<(String, String)> = String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let _ = exprobe::protocol::ews::parse_soap(body);
    let _ = exprobe::protocol::ews::classify(status, &headers, body);
    let _ = exprobe::protocol::ews::response_messages(body);
});
