//! The `json` renderer and the JSON Schema of the report.

use std::io::Write as _;

use super::output::{closed_pipe_is_fine, report_sink, run_exit_code, FormatSink, Out};
use super::Report;

pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// The same document as [`render`], serialized straight into `w`.
pub fn write(report: &Report, w: &mut impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, report).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

/// `--format json`: the whole report, written once the run has ended.
pub fn sink(out: Out) -> Box<dyn FormatSink> {
    report_sink(out, |report, out| {
        let mut w = std::io::BufWriter::new(out);
        closed_pipe_is_fine(write(report, &mut w).and_then(|_| w.flush()))?;
        Ok(run_exit_code(report.status, report.interrupted))
    })
}

pub fn render_many(reports: &[Report]) -> String {
    let mut s = serde_json::to_string_pretty(reports).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

pub fn schema() -> String {
    let schema = schemars::schema_for!(Report);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The JSON Schema of one `--format jsonl` line.
pub fn jsonl_schema() -> String {
    let schema = schemars::schema_for!(super::jsonl::JsonlRecord);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
