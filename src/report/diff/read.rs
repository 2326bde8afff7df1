//! Reading a run for `diff` and `--baseline`, with every size capped: a
//! JSON Lines run line by line (a line over [`MAX_LINE_BYTES`] is skipped
//! and named), a JSON report streamed (never held whole; at most
//! [`MAX_DOCUMENT_BYTES`], nesting bounded by serde_json's 128 levels), and
//! only what a comparison needs kept. `/dev/zero` or a binary file is
//! refused at once, not read to the end.

use std::fmt;
use std::io::{BufRead, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::snapshot::Snapshot;
use crate::report::{OverallStatus, Severity};
use crate::terminal::Escaped;

/// The longest line of a JSON Lines run (a mailbox's line with its evidence
/// is a few KiB to a few hundred KiB).
pub const MAX_LINE_BYTES: usize = 16 << 20;
/// The largest JSON report read (larger runs are written as JSON Lines).
pub const MAX_DOCUMENT_BYTES: u64 = 1 << 30;
/// A JSON Lines run starts with a `begin` line shorter than this.
const HEAD_BYTES: usize = 64 << 10;

/// Reads a JSON report or a JSON Lines run.
pub fn read(path: &Path) -> Result<Snapshot, String> {
    let shown = Escaped(&path.display().to_string()).to_string();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut reader = std::io::BufReader::with_capacity(256 << 10, file);
    let mut snapshot = read_from(&mut reader, &shown)?;
    snapshot.label = path.display().to_string();
    Ok(snapshot)
}

/// [`read`] from any reader; `shown` names it in messages.
pub fn read_from(reader: &mut impl BufRead, shown: &str) -> Result<Snapshot, String> {
    let (head, newline) = read_head(reader).map_err(|e| format!("cannot read {shown}: {e}"))?;
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(b) => {
            return Err(format!(
                "{shown}: not an exprobe report (`check --format json` or `--format jsonl`): it starts with byte 0x{b:02x}, not '{{'"
            ))
        }
        None if !newline => return Err(format!("{shown}: empty, not an exprobe report")),
        // A document whose first line is blank: read on as a document.
        None => {}
    }
    let is_jsonl = newline && is_begin_line(&head);
    let mut snapshot = Snapshot::new(shown);
    if is_jsonl {
        let begin = parse_record(&head).map_err(|e| format!("{shown}: line 1: not an exprobe jsonl record: {e}"))?;
        apply(&mut snapshot, begin);
        read_jsonl(&mut snapshot, reader, shown)?;
    } else {
        read_document(&mut snapshot, std::io::Cursor::new(head).chain(reader), shown)?;
    }
    snapshot.close();
    Ok(snapshot)
}

/// The first line, newline included, or the first [`HEAD_BYTES`] of a
/// longer one (a compact JSON report): kept whole, to be read again as
/// the start of a document. True when a newline ended it.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<(Vec<u8>, bool)> {
    let mut head = Vec::new();
    while head.len() < HEAD_BYTES {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let room = HEAD_BYTES - head.len();
        let window = &available[..available.len().min(room)];
        if let Some(i) = window.iter().position(|&b| b == b'\n') {
            head.extend_from_slice(&window[..=i]);
            reader.consume(i + 1);
            return Ok((head, true));
        }
        let n = window.len();
        head.extend_from_slice(window);
        reader.consume(n);
    }
    Ok((head, false))
}

/// A jsonl line's `type`, read without the rest of the line.
#[derive(Deserialize)]
struct Tag<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

fn is_begin_line(line: &[u8]) -> bool {
    serde_json::from_slice::<Tag<'_>>(line).is_ok_and(|t| t.kind == "begin")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineEnd {
    Newline,
    Eof,
    /// The line went on past the cap; what follows it up to its newline was skipped.
    TooLong,
}

/// Reads one line into `buf` (newline excluded), keeping at most `cap`
/// bytes: the rest of a longer line is read and dropped, never stored.
fn read_line_capped(reader: &mut impl BufRead, buf: &mut Vec<u8>, cap: usize) -> std::io::Result<LineEnd> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if too_long { LineEnd::TooLong } else { LineEnd::Eof });
        }
        let (chunk, found) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i)),
            None => (available, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > cap {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = found.map_or(available.len(), |i| i + 1);
        reader.consume(used);
        if found.is_some() {
            return Ok(if too_long { LineEnd::TooLong } else { LineEnd::Newline });
        }
    }
}

/// The parts of a jsonl record a comparison reads; the rest (steps,
/// evidence) is skipped as it is parsed. Read in two passes over the line
/// ([`parse_record`]): serde's internally tagged enums would first buffer
/// the whole object, evidence included.
enum Record {
    Begin {
        started_at: String,
    },
    Context {
        findings: Vec<FindingPart>,
    },
    Mailbox {
        address: String,
        status: OverallStatus,
        findings: Vec<String>,
        own_findings: Vec<FindingPart>,
    },
    Summary {
        status: OverallStatus,
        findings: Vec<FindingPart>,
        accepted: Vec<String>,
        interrupted: bool,
    },
}

/// The line's `type`, then the variant's own fields.
fn parse_record(line: &[u8]) -> serde_json::Result<Record> {
    #[derive(Deserialize)]
    struct BeginPart {
        started_at: String,
    }
    #[derive(Deserialize)]
    struct ContextPart {
        findings: Vec<FindingPart>,
    }
    #[derive(Deserialize)]
    struct MailboxPart {
        address: String,
        status: OverallStatus,
        findings: Vec<String>,
        own_findings: Vec<FindingPart>,
    }
    #[derive(Deserialize)]
    struct SummaryPart {
        status: OverallStatus,
        findings: Vec<FindingPart>,
        #[serde(default)]
        accepted: Vec<String>,
        #[serde(default)]
        interrupted: bool,
    }
    let tag: Tag<'_> = serde_json::from_slice(line)?;
    Ok(match tag.kind.as_ref() {
        "begin" => {
            let b: BeginPart = serde_json::from_slice(line)?;
            // A time, not a story: at most 64 characters are kept.
            Record::Begin {
                started_at: b.started_at.chars().take(64).collect(),
            }
        }
        "context" => Record::Context {
            findings: serde_json::from_slice::<ContextPart>(line)?.findings,
        },
        "mailbox" => {
            let m: MailboxPart = serde_json::from_slice(line)?;
            Record::Mailbox {
                address: m.address,
                status: m.status,
                findings: m.findings,
                own_findings: m.own_findings,
            }
        }
        "summary" => {
            let s: SummaryPart = serde_json::from_slice(line)?;
            Record::Summary {
                status: s.status,
                findings: s.findings,
                accepted: s.accepted,
                interrupted: s.interrupted,
            }
        }
        other => {
            return Err(serde::de::Error::unknown_variant(
                &other.chars().take(40).collect::<String>(),
                &["begin", "context", "mailbox", "summary"],
            ))
        }
    })
}

#[derive(Deserialize)]
struct FindingPart {
    code: String,
    severity: Severity,
    #[serde(default)]
    mailbox: Option<IgnoredAny>,
    #[serde(default)]
    accepted: bool,
}

fn add(snapshot: &mut Snapshot, findings: &[FindingPart]) {
    for f in findings {
        snapshot.add_finding(&f.code, f.severity, f.accepted, f.mailbox.is_none());
    }
}

/// The lines after the begin line.
fn read_jsonl(snapshot: &mut Snapshot, reader: &mut impl BufRead, shown: &str) -> Result<(), String> {
    let mut summary = false;
    let mut line = Vec::new();
    let mut skipped: Vec<usize> = vec![];
    for number in 2usize.. {
        let end =
            read_line_capped(reader, &mut line, MAX_LINE_BYTES).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if end == LineEnd::TooLong {
            skipped.push(number);
            continue;
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            let record =
                parse_record(&line).map_err(|e| format!("{shown}: line {number}: not an exprobe jsonl record: {e}"))?;
            summary |= apply(snapshot, record);
        }
        if end == LineEnd::Eof {
            break;
        }
    }
    if !skipped.is_empty() {
        let first: Vec<String> = skipped.iter().take(5).map(usize::to_string).collect();
        snapshot.cut.push(format!(
            "{} line{} longer than {} MiB skipped (line {}{})",
            skipped.len(),
            if skipped.len() == 1 { "" } else { "s" },
            MAX_LINE_BYTES >> 20,
            first.join(", "),
            if skipped.len() > 5 { ", …" } else { "" }
        ));
    }
    if !summary {
        // A run cut short (Ctrl-C, a crash): its mailbox lines still count.
        snapshot.interrupted = true;
    }
    Ok(())
}

/// Adds one record; true for the summary.
fn apply(s: &mut Snapshot, record: Record) -> bool {
    match record {
        Record::Begin { started_at } => s.started_at = Some(started_at),
        Record::Context { findings } => add(s, &findings),
        Record::Mailbox {
            address,
            status,
            findings,
            own_findings,
        } => {
            add(s, &own_findings);
            s.add_mailbox_parts(&address, status, findings.iter().map(String::as_str));
        }
        Record::Summary {
            status,
            findings,
            accepted,
            interrupted,
        } => {
            add(s, &findings);
            s.finish(status, &accepted, interrupted);
            return true;
        }
    }
    false
}

fn read_document(snapshot: &mut Snapshot, reader: impl Read, shown: &str) -> Result<(), String> {
    let mut capped = reader.take(MAX_DOCUMENT_BYTES);
    let mut de = serde_json::Deserializer::from_reader(&mut capped);
    let parsed = DocumentSeed(snapshot).deserialize(&mut de).and_then(|()| de.end());
    if let Err(e) = parsed {
        if capped.limit() == 0 {
            return Err(format!(
                "{shown}: larger than {} MiB, not read (write runs that large with --format jsonl)",
                MAX_DOCUMENT_BYTES >> 20
            ));
        }
        return Err(format!(
            "{shown}: not an exprobe report (`check --format json` or `--format jsonl`): {e}"
        ));
    }
    Ok(())
}

/// Streams a JSON report into a [`Snapshot`]: findings and mailboxes are
/// added as they are parsed, steps and evidence skipped.
struct DocumentSeed<'a>(&'a mut Snapshot);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an exprobe JSON report")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let s = self.0;
        let (mut status, mut accepted, mut interrupted) = (None, Vec::<String>::new(), false);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "started_at" => s.started_at = Some(map.next_value::<String>()?.chars().take(64).collect()),
                "status" => status = Some(map.next_value::<OverallStatus>()?),
                "findings" => map.next_value_seed(Each(s, Part::Finding))?,
                "mailboxes" => map.next_value_seed(Each(s, Part::Mailbox))?,
                "accepted" => accepted = map.next_value()?,
                "interrupted" => interrupted = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let status = status.ok_or_else(|| de::Error::missing_field("status"))?;
        s.finish(status, &accepted, interrupted);
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Part {
    Finding,
    Mailbox,
}

/// One array of the report, each element added as it is parsed.
struct Each<'a>(&'a mut Snapshot, Part);

impl<'de> DeserializeSeed<'de> for Each<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Each<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        #[derive(Deserialize)]
        struct MailboxPart {
            address: String,
            status: OverallStatus,
            findings: Vec<String>,
        }
        match self.1 {
            Part::Finding => {
                while let Some(f) = seq.next_element::<FindingPart>()? {
                    add(self.0, std::slice::from_ref(&f));
                }
            }
            Part::Mailbox => {
                while let Some(m) = seq.next_element::<MailboxPart>()? {
                    self.0
                        .add_mailbox_parts(&m.address, m.status, m.findings.iter().map(String::as_str));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_bytes(bytes: &[u8]) -> Result<Snapshot, String> {
        read_from(&mut std::io::BufReader::new(bytes), "test")
    }

    #[test]
    fn zeros_and_binary_are_refused_at_once() {
        let zeros = vec![0u8; 1 << 20];
        let e = read_bytes(&zeros).expect_err("an error");
        assert!(e.contains("byte 0x00"), "{e}");
        assert!(read_bytes(b"").expect_err("an error").contains("empty"));
    }

    #[test]
    fn an_over_long_line_is_skipped_and_named() {
        let mut run = String::from("{\"type\":\"begin\",\"started_at\":\"t\"}\n");
        run.push_str(&format!(
            "{{\"type\":\"mailbox\",\"address\":\"a@x.com\",\"status\":\"pass\",\"findings\":[],\"own_findings\":[],\"pad\":\"{}\"}}\n",
            "x".repeat(MAX_LINE_BYTES)
        ));
        run.push_str("{\"type\":\"mailbox\",\"address\":\"b@x.com\",\"status\":\"fail\",\"findings\":[\"impersonation.denied\"],\"own_findings\":[]}\n");
        run.push_str("{\"type\":\"summary\",\"status\":\"fail\",\"findings\":[]}\n");
        let s = read_bytes(run.as_bytes()).expect("ok");
        assert_eq!(s.mailbox_count(), 1);
        assert_eq!(s.cut.len(), 1);
        assert!(s.cut[0].contains("line 2"), "{:?}", s.cut);
        assert!(s.partial());
    }

    #[test]
    fn over_long_addresses_and_codes_are_left_out_and_said() {
        let run = format!(
            "{{\"type\":\"begin\",\"started_at\":\"{}\"}}\n{{\"type\":\"mailbox\",\"address\":\"{}@x.com\",\"status\":\"pass\",\"findings\":[],\"own_findings\":[]}}\n{{\"type\":\"mailbox\",\"address\":\"b@x.com\",\"status\":\"fail\",\"findings\":[\"{}\"],\"own_findings\":[]}}\n{{\"type\":\"summary\",\"status\":\"fail\",\"findings\":[]}}\n",
            "t".repeat(10_000),
            "a".repeat(5_000),
            "c".repeat(1_000)
        );
        let s = read_bytes(run.as_bytes()).expect("read");
        assert_eq!(s.mailbox_count(), 1);
        assert_eq!(s.started_at.as_deref().map(str::len), Some(64));
        assert_eq!(s.cut.len(), 2, "{:?}", s.cut);
        let e =
            read_bytes(b"{\"type\":\"begin\",\"started_at\":\"t\"}\n{\"type\":\"other\"}\n").expect_err("unknown type");
        assert!(e.contains("line 2") && e.contains("unknown variant"), "{e}");
    }

    #[test]
    fn a_compact_document_is_streamed() {
        let doc = r#"{"schema_version":1,"steps":[{"id":"x","evidence":[[[[1]]]]}],"status":"warn",
            "findings":[{"code":"account.domain_mismatch","severity":"warning","mailbox":"a@x.com"}],
            "mailboxes":[{"address":"A@x.com","status":"warn","findings":["account.domain_mismatch"]}]}"#;
        let s = read_bytes(doc.as_bytes()).expect("ok");
        assert_eq!(s.status, Some(OverallStatus::Warn));
        assert_eq!(s.mailbox_count(), 1);
        assert!(s.org.is_empty());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // Skipped parts are skipped without recursion; parsed parts have a fixed shape.
        let doc = format!("{{\"steps\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let e = read_bytes(doc.as_bytes()).expect_err("an error");
        assert!(e.contains("missing field `status`"), "{e}");
        let doc = format!("{{\"findings\":[{}", "[".repeat(100_000));
        let e = read_bytes(doc.as_bytes()).expect_err("an error");
        assert!(e.contains("not an exprobe report"), "{e}");
    }
}
