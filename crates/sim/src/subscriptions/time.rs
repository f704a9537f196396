//! Wall-clock time for subscriptions: a clock tests can move forward, and the
//! ISO-8601 timestamps of `expirationDateTime` (Graph's form, seven fraction digits).

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;

/// Formats milliseconds since the epoch the way Graph does (`...T18:00:00.0000000Z`).
pub(crate) fn format_iso(ms: i64) -> String {
    let ts = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MAX);
    ts.strftime("%Y-%m-%dT%H:%M:%S%.7fZ").to_string()
}

/// Parses an ISO-8601 timestamp with a zone to milliseconds since the epoch.
pub(crate) fn parse_iso(s: &str) -> Option<i64> {
    s.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

/// Milliseconds since the Unix epoch, offset by a skew that tests may advance.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    skew_ms: AtomicI64,
}

impl Clock {
    /// The current time in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        Timestamp::now()
            .as_millisecond()
            .saturating_add(self.skew_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock forward (tests only: lets lifetimes pass without sleeping).
    #[cfg(test)]
    pub(crate) fn advance(&self, ms: i64) {
        self.skew_ms.fetch_add(ms, Ordering::Relaxed);
    }
}
