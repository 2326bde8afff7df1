//! Which file writes each [`Format`]: the one table a new format is added to
//! (with its variant in [`super::format`] and its own file).

use super::format::{Format, FormatOptions};
use super::output::{FormatSink, Out};

impl Format {
    /// The sink that writes this format to `out`.
    pub fn sink(self, options: FormatOptions, out: Out) -> Box<dyn FormatSink> {
        match self {
            Format::Human => super::human::sink(options.human, out),
            Format::Json => super::json::sink(out),
            Format::Jsonl => super::jsonl::sink(out),
            Format::Html => super::html::sink(out),
            Format::Nagios => super::nagios::sink(options.thresholds, out),
            Format::Junit => super::junit::sink(out),
        }
    }
}
