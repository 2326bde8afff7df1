//! Mailbox input: `--mailbox` and `--mailboxes FILE` (plain lists and
//! CSV exports, UTF-8 or UTF-16), validated, deduplicated, with what was
//! refused and why.

use super::*;

/// Mailbox-list lines refused while reading: counted, the first few kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RefusedInput {
    pub count: usize,
    pub examples: Vec<RefusedLine>,
    /// Addresses given more than once (ignoring case): each is checked once.
    #[serde(skip)]
    pub duplicates: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefusedLine {
    /// Where it came from: `line` (of the mailbox list) or `--mailbox` (the Nth one).
    pub source: &'static str,
    /// 1-based line number in the list, or position among the --mailbox arguments.
    pub line: usize,
    /// Length of the line (or the CSV field) in bytes.
    pub length: usize,
}

impl RefusedInput {
    const EXAMPLES: usize = 10;

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn push(&mut self, source: &'static str, line: usize, length: usize) {
        self.count += 1;
        if self.examples.len() < Self::EXAMPLES {
            self.examples.push(RefusedLine { source, line, length });
        }
    }

    pub fn describe(&self) -> String {
        let lines: Vec<String> = self
            .examples
            .iter()
            .map(|r| match r.source {
                "line" => format!("line {}: {} characters", r.line, r.length),
                other => format!("{other} #{}: {} characters", r.line, r.length),
            })
            .collect();
        format!(
            "{} input line{} refused: longer than the {MAX_ADDRESS_LEN} characters an address can have ({}{})",
            self.count,
            if self.count == 1 { "" } else { "s" },
            lines.join(", "),
            if self.count > self.examples.len() { ", …" } else { "" }
        )
    }
}

/// RFC 5321's limit on a forward path: no address is longer.
pub const MAX_ADDRESS_LEN: usize = 254;

/// Largest mailbox list read (a million addresses is ~30 MiB).
pub const MAX_LIST_BYTES: u64 = 256 << 20;

/// `--mailbox` and `--mailboxes`: over-long lines refused and counted,
/// duplicates (ignoring case) dropped, order kept; at least one mailbox.
pub(super) fn mailboxes(args: &CheckArgs) -> Result<(Vec<String>, RefusedInput), ConfigError> {
    let mut mailboxes: Vec<String> = args.mailboxes.iter().map(|m| m.trim().to_string()).collect();
    let mut refused_input = RefusedInput::default();
    for (i, m) in mailboxes.iter().enumerate() {
        if m.len() > MAX_ADDRESS_LEN {
            refused_input.push("--mailbox", i + 1, m.len());
        }
    }
    mailboxes.retain(|m| m.len() <= MAX_ADDRESS_LEN);
    if let Some(path) = &args.mailboxes_file {
        let deadline = std::time::Duration::try_from_secs_f64(args.net.deadline).unwrap_or(std::time::Duration::MAX);
        let text = read_list(path, deadline)?;
        let list = read_mailbox_list(&text)?;
        mailboxes.extend(list.mailboxes);
        refused_input.count += list.refused.count;
        for r in list.refused.examples {
            if refused_input.examples.len() < RefusedInput::EXAMPLES {
                refused_input.examples.push(r);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    mailboxes.retain(|m| !m.is_empty());
    let given = mailboxes.len();
    mailboxes.retain(|m| seen.insert(m.to_ascii_lowercase()));
    refused_input.duplicates = given - mailboxes.len();
    if mailboxes.is_empty() && refused_input.count > 0 {
        return Err(ConfigError::Invalid(refused_input.describe()));
    }
    if mailboxes.is_empty() {
        return Err(ConfigError::NoMailbox);
    }
    Ok((mailboxes, refused_input))
}

/// Only one of the inputs may come from stdin.
pub(super) fn one_reader_of_stdin(args: &CheckArgs) -> Result<(), ConfigError> {
    if args.secrets.password_stdin && args.mailboxes_file.as_deref() == Some(Path::new("-")) {
        return Err(ConfigError::Invalid(
            "--password-stdin and --mailboxes - both read stdin: give the mailboxes in a file, or the password with --password-env VAR or --password-file FILE".into(),
        ));
    }
    Ok(())
}

/// The mailbox list's text, from a file or stdin (`-`), within the run's
/// deadline and [`MAX_LIST_BYTES`], decoded by [`decode_list`].
pub fn read_list(path: &Path, deadline: std::time::Duration) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let shown = if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    let read_err = |source| ConfigError::Read {
        what: "mailboxes",
        path: shown.clone(),
        source,
    };
    let source: Box<dyn std::io::Read + Send> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(read_err)?)
    };
    // A pipe that never closes must not outlive --deadline: read on a thread.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = vec![];
        let result = source.take(MAX_LIST_BYTES + 1).read_to_end(&mut bytes).map(|_| bytes);
        let _ = tx.send(result);
    });
    match rx.recv_timeout(deadline) {
        Ok(Ok(bytes)) if bytes.len() as u64 > MAX_LIST_BYTES => Err(ConfigError::Invalid(format!(
            "the mailbox list {shown} is larger than {} MiB",
            MAX_LIST_BYTES >> 20
        ))),
        Ok(Ok(bytes)) => decode_list(bytes, &shown),
        Ok(Err(source)) => Err(read_err(source)),
        Err(_) => Err(ConfigError::Invalid(format!(
            "the mailbox list {shown} was still being read when the deadline ({} s) passed",
            deadline.as_secs_f64()
        ))),
    }
}

/// A mailbox list's bytes as text: UTF-8 (a BOM is dropped), or UTF-16
/// with a BOM (what Windows PowerShell 5's `>` and `Out-File` write).
/// Anything else is refused with the line it fails on, never guessed: a
/// replaced byte would make a mangled address that gets probed.
pub fn decode_list(bytes: Vec<u8>, shown: &str) -> Result<String, ConfigError> {
    let shown = crate::terminal::escape(shown);
    let utf16 = |bytes: &[u8], unit: fn([u8; 2]) -> u16| -> Result<String, ConfigError> {
        let units = bytes.chunks(2).map(|c| unit([c[0], *c.get(1).unwrap_or(&0)]));
        let mut text = String::with_capacity(bytes.len() / 2);
        for c in char::decode_utf16(units) {
            match c {
                Ok(c) => text.push(c),
                Err(_) => {
                    let line = text.matches('\n').count() + 1;
                    return Err(ConfigError::Invalid(format!(
                        "the mailbox list {shown}: line {line} is not valid UTF-16 (an unpaired surrogate); save the list as UTF-8"
                    )));
                }
            }
        }
        if bytes.len() % 2 == 1 {
            let line = text.matches('\n').count() + 1;
            return Err(ConfigError::Invalid(format!(
                "the mailbox list {shown}: line {line} ends in half a UTF-16 character (the file is cut short); save the list as UTF-8"
            )));
        }
        Ok(text)
    };
    let text = match bytes.as_slice() {
        [0xff, 0xfe, rest @ ..] => utf16(rest, u16::from_le_bytes)?,
        [0xfe, 0xff, rest @ ..] => utf16(rest, u16::from_be_bytes)?,
        _ => {
            let mut bytes = bytes;
            if bytes.starts_with(&[0xef, 0xbb, 0xbf]) {
                bytes.drain(..3);
            }
            match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let bytes = e.as_bytes();
                    let valid = &bytes[..e.utf8_error().valid_up_to()];
                    let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                    let column = valid.len() - valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
                    let byte = bytes[valid.len()];
                    return Err(ConfigError::Invalid(format!(
                        "the mailbox list {shown}: line {line} is not valid UTF-8 (byte 0x{byte:02x} at byte {column} of the line); save the list as UTF-8, or as UTF-16 with a byte order mark"
                    )));
                }
            }
        }
    };
    if let Some(at) = text.find('\0') {
        let line = text[..at].matches('\n').count() + 1;
        return Err(ConfigError::Invalid(format!(
            "the mailbox list {shown}: line {line} holds NUL bytes (UTF-16 without a byte order mark?); save the list as UTF-8"
        )));
    }
    Ok(text)
}

/// A mailbox list as read: the candidate addresses (validated later by the
/// `input` probe) and the lines refused outright for their length.
#[derive(Debug, Clone, Default)]
pub struct MailboxList {
    pub mailboxes: Vec<String>,
    pub refused: RefusedInput,
}

/// CSV columns that hold the address, in order of preference (case-insensitive):
/// exprobe's own, then what Exchange PowerShell and Entra exports call it.
pub(super) const ADDRESS_COLUMNS: &[&str] = &[
    "mailbox",
    "primarysmtpaddress",
    "emailaddress",
    "windowsemailaddress",
    "email",
    "mail",
    "userprincipalname",
    "address",
];

/// One address per line with `#` comments, or CSV with a header naming the
/// address column (`mailbox`, `PrimarySmtpAddress`, `EmailAddress`, `Email`,
/// `UserPrincipalName`, `WindowsEmailAddress`, …): comma, semicolon or tab
/// separated, quoted fields, a BOM, CRLF, and PowerShell's `#TYPE` line.
/// Lines (or CSV fields) longer than an address can be are refused and counted.
pub fn read_mailbox_list(text: &str) -> Result<MailboxList, ConfigError> {
    let mut list = MailboxList::default();
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((first_no, first)) = lines.next() else {
        return Ok(list);
    };
    let unquote = |f: &str| f.trim().trim_matches('"').trim().to_string();
    // A CSV header is short, and names a known column or has separators.
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| first.bytes().filter(|b| b == d).count())
        .filter(|d| first.as_bytes().contains(d));
    let single_column = ADDRESS_COLUMNS.contains(&unquote(first).to_ascii_lowercase().as_str());
    if first.len() <= 4096 && (delimiter.is_some() || single_column) {
        return read_csv(text, first_no, delimiter.unwrap_or(b','), list);
    }
    for (no, l) in std::iter::once((first_no, first)).chain(lines) {
        let l = unquote(l);
        if l.len() > MAX_ADDRESS_LEN {
            list.refused.push("line", no, l.len());
        } else if !l.is_empty() {
            list.mailboxes.push(l);
        }
    }
    Ok(list)
}

/// The CSV whose header is on line `header_no` (1-based) of `text`.
pub(super) fn read_csv(
    text: &str,
    header_no: usize,
    delimiter: u8,
    mut list: MailboxList,
) -> Result<MailboxList, ConfigError> {
    // Start at the header: the lines before it are comments or blank.
    let skip: usize = text.split_inclusive('\n').take(header_no - 1).map(str::len).sum();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(&text.as_bytes()[skip..]);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ConfigError::Invalid(format!("mailboxes CSV: the header cannot be read: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let column = ADDRESS_COLUMNS
        .iter()
        .find_map(|want| header.iter().position(|h| h == want))
        .ok_or_else(|| {
            // Column names are shown only when they look like column names: a
            // secret file given as the list (a password with a comma) is not echoed.
            let names_like = |h: &String| {
                h.len() <= 40 && h.chars().all(|c| c.is_ascii_alphanumeric() || " _-.".contains(c))
            };
            let named = if header.iter().all(names_like) {
                format!(
                    "its header names {}",
                    header.iter().take(8).map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ")
                )
            } else {
                format!(
                    "its first line has {} fields (not shown: they do not look like column names, and might be a secret)",
                    header.len()
                )
            };
            ConfigError::Invalid(format!(
                "mailboxes CSV has no address column: {named}; expected one of mailbox, PrimarySmtpAddress, EmailAddress, WindowsEmailAddress, Email, Mail, UserPrincipalName, Address"
            ))
        })?;
    for record in reader.records() {
        let record = record.map_err(|e| ConfigError::Invalid(format!("mailboxes CSV: {e}")))?;
        let line = header_no - 1 + record.position().map_or(0, |p| p.line() as usize);
        let Some(m) = record.get(column) else { continue };
        if m.len() > MAX_ADDRESS_LEN {
            list.refused.push("line", line, m.len());
        } else if !m.is_empty() && !m.starts_with('#') {
            list.mailboxes.push(m.to_string());
        }
    }
    Ok(list)
}

/// The accepted addresses of [`read_mailbox_list`].
pub fn parse_mailbox_list(text: &str) -> Result<Vec<String>, ConfigError> {
    read_mailbox_list(text).map(|l| l.mailboxes)
}

#[cfg(test)]
mod list_tests {
    use super::*;

    #[test]
    fn mailbox_lists_decode_utf16_with_a_bom_and_refuse_invalid_bytes() {
        let text = "PrimarySmtpAddress\r\nalice@contoso.com\r\nbjörn@contoso.com\r\n";
        let mut le = vec![0xff, 0xfe];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let mut be = vec![0xfe, 0xff];
        be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        for bytes in [le, be] {
            let list = parse_mailbox_list(&decode_list(bytes, "l.csv").expect("ok")).expect("ok");
            assert_eq!(list, ["alice@contoso.com", "björn@contoso.com"]);
        }
        let mut bom = vec![0xef, 0xbb, 0xbf];
        bom.extend(b"a@contoso.com\n");
        assert_eq!(decode_list(bom, "l").expect("ok"), "a@contoso.com\n");
        let e = decode_list(b"a@contoso.com\nb\xe9@contoso.com\n".to_vec(), "l.txt")
            .expect_err("an error")
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("0xe9") && e.contains("byte 2"),
            "{e}"
        );
        // UTF-16 without a BOM: NUL bytes, named.
        let bare: Vec<u8> = "a@contoso.com\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let e = decode_list(bare, "l").expect_err("an error").to_string();
        assert!(e.contains("NUL") && e.contains("line 1"), "{e}");
        // An unpaired surrogate and an odd length.
        let e = decode_list(vec![0xff, 0xfe, b'a', 0, b'\n', 0, 0x00, 0xd8, b'b', 0], "l")
            .expect_err("an error")
            .to_string();
        assert!(e.contains("line 2") && e.contains("surrogate"), "{e}");
        assert!(decode_list(vec![0xff, 0xfe, b'a', 0, b'b'], "l")
            .expect_err("an error")
            .to_string()
            .contains("half"));
    }

    #[test]
    fn mailbox_lists_refuse_over_long_lines_and_fields() {
        let long = "a".repeat(255);
        let cases: &[(&str, usize, usize)] = &[
            ("a@b.c\nb@b.c\n", 2, 0),
            ("# c\n\na@b.c\n", 1, 0),
            (&format!("{long}\na@b.c\n"), 1, 1),
            (&format!("name,mailbox\nx,a@b.c\ny,{long}\n"), 1, 1),
            ("name;mailbox\nx;\"a@b.c\"\n", 1, 0),
            // A first line too long to be a CSV header is data, refused.
            (&format!("{},{}\n", "x".repeat(5000), "y"), 0, 1),
        ];
        for (text, ok, refused) in cases {
            let list = read_mailbox_list(text).expect("parses");
            assert_eq!(list.mailboxes.len(), *ok, "{text:.40}");
            assert_eq!(list.refused.count, *refused, "{text:.40}");
        }
        let many: String = (0..50).map(|_| format!("{long}\n")).collect();
        let list = read_mailbox_list(&many).expect("parses");
        assert_eq!(list.refused.count, 50);
        assert_eq!(list.refused.examples.len(), RefusedInput::EXAMPLES);
        assert!(list.refused.describe().ends_with(", …)"));
    }
}
