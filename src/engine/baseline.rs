//! `check --baseline`: the run compared with an earlier one as it goes.

use crate::report::diff::Snapshot;
use crate::report::sink::{Begin, ReportSink, Summary};

/// `check --baseline`: a sink that passes everything on and keeps what a comparison needs.
pub struct Tee<'a> {
    pub inner: &'a mut (dyn ReportSink + Send),
    pub snapshot: Snapshot,
}

impl std::fmt::Debug for Tee<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tee")
            .field("snapshot", &self.snapshot)
            .finish_non_exhaustive()
    }
}

impl ReportSink for Tee<'_> {
    fn begin(&mut self, begin: &Begin<'_>) -> std::io::Result<()> {
        self.snapshot.started_at = Some(begin.started_at.clone());
        self.inner.begin(begin)
    }
    fn context(&mut self, steps: &[crate::report::Step], findings: &[crate::diagnose::Keyed]) -> std::io::Result<()> {
        self.snapshot.add_findings(findings.iter().map(|k| &k.finding));
        self.inner.context(steps, findings)
    }
    fn mailbox(&mut self, record: crate::diagnose::MailboxRecord) -> std::io::Result<()> {
        self.snapshot.add_findings(record.findings.iter().map(|k| &k.finding));
        self.snapshot.add_mailbox(&record.result);
        self.inner.mailbox(record)
    }
    fn summary(&mut self, summary: Summary) -> std::io::Result<()> {
        self.snapshot.add_findings(summary.findings.iter().map(|k| &k.finding));
        self.snapshot
            .finish(summary.status, &summary.accepted, summary.interrupted);
        self.snapshot.close();
        self.inner.summary(summary)
    }
    fn idle(&mut self) -> std::io::Result<()> {
        self.inner.idle()
    }
}
