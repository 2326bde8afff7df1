//! The progress bar of a bulk `check` on a terminal.

/// The progress bar on stderr: done/total, rate, ETA, failures so far.
#[derive(Debug)]
pub struct Progress {
    bar: indicatif::ProgressBar,
    failed: std::sync::atomic::AtomicUsize,
}

impl Progress {
    /// Only when stderr is a terminal and more than one mailbox is checked.
    pub fn for_terminal(total: usize) -> Option<Progress> {
        if total < 2 || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return None;
        }
        let bar = indicatif::ProgressBar::new(total as u64);
        let style =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} mailboxes  {per_sec}  ETA {eta}  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message("0 failing");
        Some(Progress {
            bar,
            failed: Default::default(),
        })
    }

    pub(super) fn add(&self, status: crate::report::OverallStatus) {
        use std::sync::atomic::Ordering;
        if status == crate::report::OverallStatus::Fail {
            let n = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
            self.bar.set_message(format!("{n} failing"));
        }
        self.bar.inc(1);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
