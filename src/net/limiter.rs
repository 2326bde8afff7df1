//! A shared throttling budget per server (AIMD): every request to one EWS
//! host takes a slot; a busy answer (ErrorServerBusy, 429, 503) halves the
//! window, each success grows it by one slot per window. A request that was
//! told to back off waits *without* a slot, so the other mailboxes go on at
//! the rate the server accepts instead of each sleeping on its own.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
    changed: Notify,
    max: f64,
}

#[derive(Debug)]
struct State {
    window: f64,
    in_flight: usize,
    pushed_back: u64,
    smallest_window: f64,
    /// The last decrease: busy answers to requests already in flight then
    /// say nothing new (one decrease per back-off period, as TCP per RTT).
    last_decrease: Option<Instant>,
}

/// A slot; given back when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.limiter.state.lock() {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.limiter.changed.notify_waiters();
    }
}

impl Limiter {
    pub fn new(max: usize) -> Self {
        let max = max.max(1) as f64;
        Limiter {
            state: Mutex::new(State {
                window: max,
                in_flight: 0,
                pushed_back: 0,
                smallest_window: max,
                last_decrease: None,
            }),
            changed: Notify::new(),
            max,
        }
    }

    /// Wait for a slot until `deadline`; `None` when the deadline came first.
    pub async fn acquire(&self, deadline: Instant) -> Option<Permit<'_>> {
        // Bounded: every pass either takes a slot or waits for a change or the deadline.
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if (s.in_flight as f64) < s.window.floor().max(1.0) {
                    s.in_flight += 1;
                    return Some(Permit { limiter: self });
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    /// The server pushed back and asked for `back_off`: shrink the window by
    /// a quarter (never below one slot), once per back-off period.
    pub fn busy(&self, back_off: Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.pushed_back += 1;
            let now = Instant::now();
            if s.last_decrease.is_some_and(|t| now.duration_since(t) < back_off) {
                return;
            }
            s.last_decrease = Some(now);
            s.window = (s.window * 0.75).max(1.0);
            s.smallest_window = s.smallest_window.min(s.window);
        }
    }

    /// A request went through: grow by one slot per window's worth of successes.
    pub fn success(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.window = (s.window + 1.0 / s.window).min(self.max);
        }
        self.changed.notify_waiters();
    }

    /// How often the server pushed back, and the smallest window it forced.
    pub fn pressure(&self) -> (u64, usize) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.pushed_back, s.smallest_window.floor() as usize)
    }
}

/// The longest single back-off honoured (a server asking for more is capped).
pub const MAX_BACK_OFF: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn window_halves_on_busy_and_grows_back() {
        let l = Limiter::new(8);
        let far = Instant::now() + Duration::from_secs(5);
        let permits: Vec<_> = futures::future::join_all((0..8).map(|_| l.acquire(far))).await;
        assert!(permits.iter().all(Option::is_some));
        // A ninth waits until the deadline: no slot.
        assert!(l.acquire(Instant::now() + Duration::from_millis(20)).await.is_none());
        drop(permits);
        l.busy(Duration::ZERO);
        l.busy(Duration::ZERO);
        l.busy(Duration::ZERO);
        l.busy(Duration::ZERO);
        // Within one back-off period only the first busy answer shrinks the window.
        l.busy(Duration::from_secs(60));
        assert_eq!(l.pressure(), (5, 2));
        let two: Vec<_> = futures::future::join_all((0..2).map(|_| l.acquire(far))).await;
        assert!(two.iter().all(Option::is_some));
        assert!(l.acquire(Instant::now() + Duration::from_millis(20)).await.is_none());
        drop(two);
        for _ in 0..200 {
            l.success();
        }
        let all: Vec<_> = futures::future::join_all((0..8).map(|_| l.acquire(far))).await;
        assert!(all.iter().all(Option::is_some), "grown back to the maximum");
    }

    #[tokio::test]
    async fn a_released_slot_wakes_a_waiter() {
        let l = std::sync::Arc::new(Limiter::new(1));
        let far = Instant::now() + Duration::from_secs(5);
        let first = l.acquire(far).await;
        let l2 = l.clone();
        let waiter = tokio::spawn(async move { l2.acquire(far).await.is_some() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        assert!(waiter.await.expect("join"));
    }
}
