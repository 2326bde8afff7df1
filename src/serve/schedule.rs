//! When a check's scheduled runs start. The first starts at once, each next
//! one on the next tick of `interval` counted from the first; a run that
//! outlasts the interval covers the ticks it overlapped, which are skipped
//! (and counted), so a check never runs twice at once and never catches up in
//! a burst. A drain (SIGTERM) ends the schedule at once between runs.
//!
//! The time comes from a [`Clock`]: tokio's in `serve`, a manual one in the
//! tests below, which prove the timing without waiting for it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// What the scheduler reads the time from and waits on.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep_until(&self, at: Instant) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Tokio's clock: the one `serve` runs on.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, at: Instant) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep_until(at))
    }
}

/// The ticks of one schedule.
#[derive(Debug, Clone, Copy)]
pub struct Ticks {
    interval: Duration,
    next: Instant,
}

impl Ticks {
    /// The first tick is `start`.
    pub fn new(start: Instant, interval: Duration) -> Self {
        Ticks { interval, next: start }
    }

    pub fn next(&self) -> Instant {
        self.next
    }

    /// After a run that ended at `now`: moves to the next tick not yet past
    /// and answers how many ticks the run covered (skipped runs).
    pub fn after_run(&mut self, now: Instant) -> u64 {
        self.next += self.interval;
        if self.next >= now {
            return 0;
        }
        let behind = (now - self.next).as_nanos();
        let interval = self.interval.as_nanos().max(1);
        let missed = u64::try_from(behind / interval).unwrap_or(u64::MAX).saturating_add(1);
        // The first tick after `now`, on the schedule's phase.
        let to_next = u64::try_from(interval - behind % interval).unwrap_or(u64::MAX);
        self.next = now + Duration::from_nanos(to_next);
        missed
    }
}

/// Whether the schedule goes on after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Continue,
    /// The run saw the drain begin: no further tick.
    Stop,
}

/// Runs `run` on the ticks of `interval` until `draining` is set (or `run`
/// answers [`After::Stop`]); `skipped` hears of the ticks a run covered.
pub async fn every<C, R, F>(
    clock: &C,
    interval: Duration,
    mut draining: watch::Receiver<bool>,
    mut run: R,
    mut skipped: impl FnMut(u64),
) where
    C: Clock,
    R: FnMut() -> F,
    F: Future<Output = After>,
{
    let mut ticks = Ticks::new(clock.now(), interval);
    loop {
        if *draining.borrow() || run().await == After::Stop {
            return;
        }
        let missed = ticks.after_run(clock.now());
        if missed > 0 {
            skipped(missed);
        }
        tokio::select! {
            _ = clock.sleep_until(ticks.next()) => {}
            _ = draining.wait_for(|d| *d) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A clock that moves only when told: a sleep moves it to the wake-up
    /// time at once, except past `horizon`, where it waits for ever (so a
    /// test can stop the schedule in the middle of a wait).
    struct Manual {
        base: Instant,
        at: Mutex<Duration>,
        horizon: Duration,
    }

    impl Manual {
        fn new(horizon: Duration) -> Arc<Self> {
            Arc::new(Manual {
                base: Instant::now(),
                at: Mutex::new(Duration::ZERO),
                horizon,
            })
        }

        fn elapsed(&self) -> Duration {
            *self.at.lock().expect("clock")
        }

        fn advance(&self, by: Duration) {
            *self.at.lock().expect("clock") += by;
        }
    }

    impl Clock for Manual {
        fn now(&self) -> Instant {
            self.base + self.elapsed()
        }

        fn sleep_until(&self, at: Instant) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            let target = at.saturating_duration_since(self.base);
            if target > self.horizon {
                return Box::pin(std::future::pending());
            }
            let mut now = self.at.lock().expect("clock");
            *now = (*now).max(target);
            Box::pin(std::future::ready(()))
        }
    }

    #[derive(Debug, Default)]
    struct Seen {
        /// (start, end) of each run, from the clock's zero.
        runs: Vec<(Duration, Duration)>,
        skipped: Vec<u64>,
    }

    /// Schedules runs that each take `takes` (on the manual clock) at
    /// `interval`, stopping after `runs` runs.
    async fn schedule(interval: Duration, takes: &[Duration], runs: usize) -> Seen {
        let clock = Manual::new(Duration::MAX);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (_tx, draining) = watch::channel(false);
        let mut n = 0;
        every(
            &*clock,
            interval,
            draining,
            || {
                let started = clock.elapsed();
                clock.advance(takes[n % takes.len()]);
                seen.lock().expect("seen").runs.push((started, clock.elapsed()));
                n += 1;
                let after = if n == runs { After::Stop } else { After::Continue };
                async move { after }
            },
            |missed| seen.lock().expect("seen").skipped.push(missed),
        )
        .await;
        Arc::try_unwrap(seen).expect("one owner").into_inner().expect("seen")
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn starts(seen: &Seen) -> Vec<Duration> {
        seen.runs.iter().map(|r| r.0).collect()
    }

    #[tokio::test]
    async fn runs_start_at_once_and_then_on_each_tick() {
        let seen = schedule(s(1.0), &[s(0.3)], 4).await;
        assert_eq!(starts(&seen), [s(0.0), s(1.0), s(2.0), s(3.0)]);
        assert!(seen.skipped.is_empty(), "{seen:?}");
    }

    #[tokio::test]
    async fn a_run_that_ends_on_the_tick_skips_nothing() {
        let seen = schedule(s(1.0), &[s(1.0)], 3).await;
        assert_eq!(starts(&seen), [s(0.0), s(1.0), s(2.0)]);
        assert!(seen.skipped.is_empty(), "{seen:?}");
    }

    #[tokio::test]
    async fn a_run_longer_than_the_interval_skips_the_ticks_it_covered_and_never_overlaps() {
        // Runs of 2.5 s every second: the ticks at 1 s and 2 s fall in the
        // first run; the next run starts on the tick at 3 s.
        let seen = schedule(s(1.0), &[s(2.5)], 3).await;
        assert_eq!(starts(&seen), [s(0.0), s(3.0), s(6.0)]);
        // (The last run ends the test: no tick is counted after it.)
        assert_eq!(seen.skipped, [2, 2]);
        for pair in seen.runs.windows(2) {
            assert!(pair[1].0 >= pair[0].1, "overlap: {seen:?}");
        }
    }

    #[tokio::test]
    async fn the_schedule_keeps_its_phase_after_a_slow_run() {
        // A 1.5 s run, then fast ones: back on the whole-second ticks.
        let seen = schedule(s(1.0), &[s(1.5), s(0.1), s(0.1)], 3).await;
        assert_eq!(starts(&seen), [s(0.0), s(2.0), s(3.0)]);
        assert_eq!(seen.skipped, [1]);
    }

    #[test]
    fn an_overrun_of_many_intervals_is_counted_not_overflowed() {
        let start = Instant::now();
        let mut ticks = Ticks::new(start, Duration::from_nanos(1));
        let missed = ticks.after_run(start + Duration::from_secs(3600));
        assert_eq!(missed, 3_600_000_000_000);
        assert!(ticks.next() > start + Duration::from_secs(3600));
    }

    #[tokio::test]
    async fn a_drain_during_the_wait_ends_the_schedule_at_once() {
        // Hourly: after the first run the schedule waits past the horizon.
        let clock = Manual::new(s(60.0));
        let (tx, draining) = watch::channel(false);
        let mut runs = 0;
        let schedule = every(
            &*clock,
            s(3600.0),
            draining,
            || {
                runs += 1;
                async { After::Continue }
            },
            |_| {},
        );
        let drained = async {
            tokio::task::yield_now().await;
            let _ = tx.send(true);
        };
        tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(schedule, drained) })
            .await
            .expect("the drain ends the schedule");
        assert_eq!(runs, 1);
        assert_eq!(clock.elapsed(), Duration::ZERO, "no run after the drain");
    }

    #[tokio::test]
    async fn a_drain_before_the_first_tick_runs_nothing() {
        let clock = Manual::new(Duration::MAX);
        let (_tx, draining) = watch::channel(true);
        let mut runs = 0;
        every(
            &*clock,
            s(1.0),
            draining,
            || {
                runs += 1;
                async { After::Continue }
            },
            |_| {},
        )
        .await;
        assert_eq!(runs, 0);
    }
}
