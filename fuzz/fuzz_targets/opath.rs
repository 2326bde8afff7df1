//! Management-scope recipient filters (OPATH): parse, print and read back,
//! evaluate with some properties unknown. Never a panic; a filter that parses
//! prints as one that parses to the same tree.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(filter) = exprobe::opath::Filter::parse(&text) {
        let again = exprobe::opath::Filter::parse(&filter.to_string()).expect("a printed filter parses");
        assert_eq!(again, filter);
        let known = |p: &str| match p.to_ascii_lowercase().as_str() {
            "department" => Some(vec!["Sales".to_string()]),
            "memberofgroup" => Some(vec!["CN=Sync,OU=Groups".to_string(), String::new()]),
            _ => None,
        };
        let _ = filter.evaluate(&known);
        let _ = filter.matches(&|_| vec!["x".to_string()]);
    }
});
