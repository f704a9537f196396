//! Wall-clock time for subscriptions: a clock tests can move forward. The ISO-8601
//! helpers live in [`crate::time`], shared with the engine.

use std::sync::atomic::{AtomicI64, Ordering};

pub(crate) use crate::time::{format_iso, parse_iso};

/// Milliseconds since the Unix epoch, offset by a skew that tests may advance.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    skew_ms: AtomicI64,
}

impl Clock {
    /// The current time in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        crate::time::now_ms().saturating_add(self.skew_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock forward (tests only: lets lifetimes pass without sleeping).
    #[cfg(test)]
    pub(crate) fn advance(&self, ms: i64) {
        self.skew_ms.fetch_add(ms, Ordering::Relaxed);
    }
}
