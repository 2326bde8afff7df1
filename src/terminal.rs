//! Text that a server or a file controls, made safe to show on a terminal
//! or in a log line.
//!
//! A server's `MessageText`, a SOAP `faultstring`, an AADSTS description, an
//! `x-ms-diagnostics` reason, a display name or URL from autodiscover, a line
//! of a mailbox list or a report given to `diff` may carry bytes a terminal
//! obeys: ESC sequences (clear the screen, set the window title, OSC 8
//! links), CR and backspace (overwrite a line with a fake "pass"), C1
//! controls (8-bit CSI), bidi overrides (reorder what is read), a newline
//! (forge a log line). Every human-facing output shows such characters as
//! visible escapes (`\x1b`, `\r`, `\u{202e}`); JSON keeps the exact text.
//! Backslashes are kept as they are (`CONTOSO\svc` stays readable).

use std::borrow::Cow;
use std::fmt;

use tracing_subscriber::field::MakeExt as _;

/// Whether `c` must not reach a terminal raw: C0 and C1 controls, DEL, the
/// bidi embedding, override and isolate controls and marks, and the Unicode
/// line and paragraph separators.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
    )
}

/// `s` with every [`is_unsafe`] character written as a visible escape;
/// borrowed when there is none (the common case).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    push_escaped(&mut out, s);
    Cow::Owned(out)
}

/// Appends `s` to `out`, escaped as [`escape`] does.
pub fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        if !is_unsafe(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                use fmt::Write as _;
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                use fmt::Write as _;
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
}

/// Escapes `s` in place (no allocation when there is nothing to escape).
pub fn escape_in_place(s: &mut String) {
    if let Cow::Owned(e) = escape(s) {
        *s = e;
    }
}

/// Displays a string escaped: `format!("{}", Escaped(&text))`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// Whether any character of `s` would be escaped.
pub fn needs_escape(s: &str) -> bool {
    s.chars().any(is_unsafe)
}

/// The `tracing` field formatter of exprobe's logs: every value (the message
/// included) escaped, so a URL or a `/probe` target with a newline cannot
/// forge a log line and a server's ESC sequence cannot reach the terminal.
pub fn log_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static {
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = format!("{value:?}");
        if field.name() == "message" {
            write!(w, "{}", Escaped(&text))
        } else {
            write!(w, "{}={}", field.name(), Escaped(&text))
        }
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_family_is_escaped() {
        let hostile = "a\x1b[2J\x1b]0;title\x07\x1b]8;;http://evil\x1b\\x\r✓ pass\x08\x08\u{9b}31m\u{202e}gnp\u{2066}\u{2028}\u{7f}\0";
        let shown = escape(hostile);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        assert!(shown.contains("\\x1b[2J"), "{shown}");
        assert!(shown.contains("\\r"), "{shown}");
        assert!(shown.contains("\\u{9b}"), "{shown}");
        assert!(shown.contains("\\u{202e}"), "{shown}");
        assert!(shown.contains("\\x00"), "{shown}");
    }

    #[test]
    fn plain_text_is_borrowed_and_backslashes_kept() {
        assert!(matches!(escape("CONTOSO\\svc — ✓ 日本"), Cow::Borrowed(_)));
        let mut s = String::from("line\nforged");
        escape_in_place(&mut s);
        assert_eq!(s, "line\\nforged");
    }
}
