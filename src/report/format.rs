//! The output formats a run can be written in, and what they take from the
//! command line. This file is a leaf (the CLI and the configuration read
//! it); how each format keeps and writes a run is in its own file, picked in [`super::formats`].
//! A new format is one variant here, one arm in
//! `Format::sink` ([`super::formats`]), and one file for its renderer and sink.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// One JSON object per line: begin, context, one per mailbox as it finishes, summary.
    Jsonl,
    /// One self-contained HTML file (no external assets, no JavaScript) to attach to a ticket.
    Html,
    /// A monitoring plugin's output (Nagios, Icinga, Zabbix): a status line with perfdata.
    Nagios,
    /// JUnit XML for CI systems that show test reports: one test case per mailbox and step.
    Junit,
}

/// What the formats take from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormatOptions {
    pub human: HumanOptions,
    /// `--warning` / `--critical` (nagios).
    pub thresholds: Thresholds,
}

/// `--format human`: colour, `--show-http`, `-v` and the width to fit.
#[derive(Debug, Clone, Copy)]
pub struct HumanOptions {
    pub color: bool,
    pub show_http: bool,
    /// Bulk runs: every mailbox's step tree, not only the failing ones (`-v`).
    pub all_mailboxes: bool,
    /// Columns to fit (the terminal's, or [`DEFAULT_WIDTH`] for files and pipes).
    pub width: usize,
}

impl Default for HumanOptions {
    fn default() -> Self {
        HumanOptions {
            color: false,
            show_http: false,
            all_mailboxes: false,
            width: DEFAULT_WIDTH,
        }
    }
}

/// The width of a report that does not go to a terminal.
pub const DEFAULT_WIDTH: usize = 80;

/// `--warning` / `--critical`: failing mailboxes that make the run so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub warning: usize,
    pub critical: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning: 1,
            critical: 1,
        }
    }
}

impl Format {
    /// Time a run keeps per mailbox at the end of `--deadline` to record
    /// the mailboxes it left unchecked and write this format, as measured by
    /// `bench/deadline.py` on a 2-core machine (1,000,000 mailboxes): the
    /// formats that hold the whole report need more than those that keep a
    /// digest or nothing.
    pub fn reserve_per_mailbox(self) -> Duration {
        Duration::from_nanos(match self {
            Format::Jsonl | Format::Human | Format::Html | Format::Nagios => 1_000,
            Format::Json => 2_000,
            // Every mailbox becomes a test suite and a test case first.
            Format::Junit => 4_000,
        })
    }
}
