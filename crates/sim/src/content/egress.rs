//! The content host's bytes: counted as they are produced, and limited per window
//! when `throttle.egress_bytes_per_hour` is set.
//!
//! A window of `egress_window_secs` opens with the first download after the previous
//! one closed. Once the bytes sent in it reach the budget, download requests get 429
//! with a Retry-After up to the window's end; one that arrives after such a 429 (past
//! the in-flight grace) is a violation, as with the resource-unit budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::throttle::{IN_FLIGHT_GRACE, Verdict, ceil_secs};

#[derive(Debug)]
struct Window {
    start: Instant,
    bytes: u64,
    /// When the first 429 of this window was sent.
    refused_at: Option<Instant>,
}

/// The meter of the content host's body bytes.
#[derive(Debug)]
pub(crate) struct Egress {
    budget: u64,
    length: Duration,
    total: AtomicU64,
    window: Mutex<Window>,
}

impl Window {
    /// Opens a fresh window at `now` when this one has ended.
    fn roll(&mut self, now: Instant, length: Duration) {
        if now.saturating_duration_since(self.start) >= length {
            *self = Window {
                start: now,
                bytes: 0,
                refused_at: None,
            };
        }
    }
}

impl Egress {
    /// `budget` bytes per window of `window_secs` (0: no limit).
    pub fn new(budget: u64, window_secs: u64) -> Egress {
        Egress {
            budget,
            length: Duration::from_secs(window_secs.max(1)),
            total: AtomicU64::new(0),
            window: Mutex::new(Window {
                start: Instant::now(),
                bytes: 0,
                refused_at: None,
            }),
        }
    }

    /// Body bytes produced since the start.
    pub fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }

    /// Counts `n` bytes produced now.
    fn sent(&self, n: u64) {
        self.total.fetch_add(n, Relaxed);
        if self.budget > 0 {
            let mut w = self.window.lock();
            w.roll(Instant::now(), self.length);
            w.bytes += n;
        }
    }

    /// Decides on a download request arriving at `now`.
    pub fn admit(&self, now: Instant) -> Verdict {
        if self.budget == 0 {
            return Verdict::Allow(Vec::new());
        }
        let mut w = self.window.lock();
        w.roll(now, self.length);
        if w.bytes < self.budget {
            return Verdict::Allow(Vec::new());
        }
        let retry_after_secs = ceil_secs((w.start + self.length).saturating_duration_since(now));
        let refused_at = *w.refused_at.get_or_insert(now);
        Verdict::Throttle {
            retry_after_secs,
            violation: now >= refused_at + IN_FLIGHT_GRACE,
        }
    }

    /// `chunks`, each counted as it is produced.
    pub fn meter(
        self: &Arc<Self>,
        chunks: impl Iterator<Item = Vec<u8>> + Send + 'static,
    ) -> impl Iterator<Item = Vec<u8>> + Send + 'static {
        let meter = self.clone();
        chunks.inspect(move |chunk| meter.sent(chunk.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_refuses_until_the_window_ends() {
        let e = Arc::new(Egress::new(100, 10));
        let t0 = Instant::now();
        assert_eq!(e.admit(t0), Verdict::Allow(Vec::new()));
        let n: usize = e
            .meter([vec![0; 60], vec![0; 60]].into_iter())
            .map(|c| c.len())
            .sum();
        assert_eq!((n, e.total()), (120, 120));
        let Verdict::Throttle {
            retry_after_secs,
            violation: false,
        } = e.admit(t0 + Duration::from_secs(1))
        else {
            panic!("over budget")
        };
        assert!((9..=10).contains(&retry_after_secs), "{retry_after_secs}");
        assert!(matches!(
            e.admit(t0 + Duration::from_secs(2)),
            Verdict::Throttle {
                violation: true,
                ..
            }
        ));
        assert_eq!(
            e.admit(t0 + Duration::from_secs(11)),
            Verdict::Allow(Vec::new())
        );
        let unlimited = Egress::new(0, 10);
        unlimited.sent(1 << 40);
        assert_eq!(unlimited.admit(t0), Verdict::Allow(Vec::new()));
    }
}
