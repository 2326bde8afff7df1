//! Address syntax and the mailbox-list reader (one per line or CSV).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = exprobe::protocol::address::parse(&text);
    if let Ok(list) = exprobe::config::read_mailbox_list(&text) {
        let _ = exprobe::probe::input::run(&list.mailboxes, None, &list.refused);
    }
});
