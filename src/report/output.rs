//! What every format's sink is built from: the [`FormatSink`] trait, the
//! sinks that write at the end of a run from a [`Digest`] or the whole
//! [`super::Report`], and the exit code rule most formats follow. The
//! formats' files use it; [`super::formats`] picks one per [`Format`].

use std::io::{self, Write};

use super::digest::Digest;
pub use super::format::{Format, FormatOptions};
use super::sink::{Begin, ReportSink, Summary};
use super::OverallStatus;
use crate::diagnose::{Keyed, MailboxRecord};
use crate::exit;

/// Where a format writes: stdout or the `--output` file.
pub type Out = Box<dyn Write + Send>;

/// A format's sink: it receives the run's events, then writes what is left
/// and gives the run's exit code under the format's rule. Every format but
/// `nagios` follows the worst finding ([`run_exit_code`]); `nagios` follows
/// its thresholds ([`super::nagios::status_of`]); an interrupted run is
/// [`exit::INTERRUPTED`] whatever the format.
pub trait FormatSink: ReportSink + Send {
    fn finish(self: Box<Self>) -> io::Result<i32>;
}

/// A run's exit code from its status (the worst finding) or its interruption.
pub fn run_exit_code(status: OverallStatus, interrupted: bool) -> i32 {
    if interrupted {
        return exit::INTERRUPTED;
    }
    status.exit_code()
}

/// Writes `bytes`; a reader that went away (`| head`) after the run is not an error.
pub fn put(out: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
    closed_pipe_is_fine(out.write_all(bytes).and_then(|_| out.flush()))
}

/// `result`, with a closed pipe counted as success.
pub fn closed_pipe_is_fine(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes what a sink kept (`T`) at the end of a run; gives the exit code.
type WriteAtEnd<T> = Box<dyn FnOnce(&T, &mut Out) -> io::Result<i32> + Send>;

/// A format written once the run has ended, from what its sink `K` kept.
pub struct AtEnd<K, T> {
    kept: K,
    out: Out,
    take: fn(K) -> Option<T>,
    write: WriteAtEnd<T>,
}

impl<K: std::fmt::Debug, T> std::fmt::Debug for AtEnd<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtEnd")
            .field("kept", &self.kept)
            .finish_non_exhaustive()
    }
}

impl<K, T> AtEnd<K, T> {
    pub fn new(
        kept: K,
        out: Out,
        take: fn(K) -> Option<T>,
        write: impl FnOnce(&T, &mut Out) -> io::Result<i32> + Send + 'static,
    ) -> Self {
        AtEnd {
            kept,
            out,
            take,
            write: Box::new(write),
        }
    }
}

/// The digest formats (human, html, nagios) write from a [`Digest`].
pub fn digest_sink(
    keep: super::digest::Keep,
    out: Out,
    write: impl FnOnce(&Digest, &mut Out) -> io::Result<i32> + Send + 'static,
) -> Box<dyn FormatSink> {
    Box::new(AtEnd::new(
        super::digest::DigestSink::new(keep),
        out,
        super::digest::DigestSink::into_digest,
        write,
    ))
}

/// The whole-report formats (json, junit) write from a [`super::Report`].
pub fn report_sink(
    out: Out,
    write: impl FnOnce(&super::Report, &mut Out) -> io::Result<i32> + Send + 'static,
) -> Box<dyn FormatSink> {
    Box::new(AtEnd::new(
        super::sink::Collector::new(),
        out,
        super::sink::Collector::into_report,
        write,
    ))
}

impl<K: ReportSink, T> ReportSink for AtEnd<K, T> {
    fn begin(&mut self, begin: &Begin<'_>) -> io::Result<()> {
        self.kept.begin(begin)
    }
    fn context(&mut self, steps: &[super::Step], findings: &[Keyed]) -> io::Result<()> {
        self.kept.context(steps, findings)
    }
    fn mailbox(&mut self, record: MailboxRecord) -> io::Result<()> {
        self.kept.mailbox(record)
    }
    fn summary(&mut self, summary: Summary) -> io::Result<()> {
        self.kept.summary(summary)
    }
    fn idle(&mut self) -> io::Result<()> {
        self.kept.idle()
    }
}

impl<K: ReportSink + Send, T> FormatSink for AtEnd<K, T> {
    fn finish(self: Box<Self>) -> io::Result<i32> {
        let AtEnd {
            kept,
            mut out,
            take,
            write,
        } = *self;
        let Some(value) = take(kept) else {
            return Err(io::Error::other("the run ended without a summary"));
        };
        let code = write(&value, &mut out);
        // The process exits next: freeing a million mailboxes' report one
        // allocation at a time would only delay the exit.
        std::mem::forget(value);
        code
    }
}
