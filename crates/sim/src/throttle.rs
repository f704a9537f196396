//! Resource-unit budget per app per tenant, with growing Retry-After and violations.
//!
//! The budget is `ru_per_minute` units per window of `window_secs` (Graph: 60 s). A
//! window opens with the first request after the previous one closed. From 80 % use on,
//! answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (whole
//! seconds until the window closes, rounded up, so a client that waits that long always
//! finds a fresh budget).

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::ThrottleConfig;
/// Retry-After never grows beyond this many times the configured base.
const MAX_GROWTH: u64 = 8;
/// Requests arriving this soon after the 429 that opened a Retry-After window may
/// have been sent before the client could read that 429: they are throttled too,
/// but they are in flight, not violations, and do not make Retry-After grow.
pub(crate) const IN_FLIGHT_GRACE: Duration = Duration::from_millis(500);

/// The outcome of charging a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Serve it; the headers (RateLimit-*) go on the response.
    Allow(Vec<(String, String)>),
    /// Answer 429 with this Retry-After; `violation` when a Retry-After was already in force.
    Throttle {
        retry_after_secs: u64,
        violation: bool,
    },
}

#[derive(Debug)]
struct State {
    window_start: Instant,
    used: u64,
    blocked_until: Option<Instant>,
    blocked_at: Instant,
    strikes: u64,
    /// Until then every request is over budget (an injected 429 storm).
    storm_until: Option<Instant>,
}

/// The tenant's meter.
#[derive(Debug)]
pub(crate) struct Throttle {
    config: ThrottleConfig,
    state: Mutex<State>,
}

impl Throttle {
    /// A meter with a fresh window.
    pub fn new(config: ThrottleConfig) -> Throttle {
        Throttle {
            config,
            state: Mutex::new(State {
                window_start: Instant::now(),
                used: 0,
                blocked_until: None,
                blocked_at: Instant::now(),
                strikes: 0,
                storm_until: None,
            }),
        }
    }

    /// The configured costs.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// Treats every request as over budget until `until` (a 429 storm): each one
    /// outside a Retry-After window opens a new window, as an exhausted budget would.
    pub fn storm(&self, until: Instant) {
        self.state.lock().storm_until = Some(until);
    }

    /// Charges `cost` RU at `now` and decides.
    pub fn charge(&self, cost: u64, now: Instant) -> Verdict {
        let budget = self.config.ru_per_minute;
        let mut s = self.state.lock();
        let storming = s.storm_until.is_some_and(|until| now < until);
        if budget == 0 && !storming && s.blocked_until.is_none() {
            return Verdict::Allow(Vec::new());
        }
        let window = Duration::from_secs(self.config.window_secs.max(1));
        if now.saturating_duration_since(s.window_start) >= window {
            s.window_start = now;
            s.used = 0;
        }
        s.used += cost;
        let base = self.config.retry_after_secs.max(1);
        if let Some(until) = s.blocked_until {
            if now < until && now < s.blocked_at + IN_FLIGHT_GRACE {
                return Verdict::Throttle {
                    retry_after_secs: ceil_secs(until.saturating_duration_since(now)),
                    violation: false,
                };
            }
            if now < until {
                s.strikes += 1;
                let secs = base * (1 + s.strikes).min(MAX_GROWTH);
                s.blocked_until = Some(now + Duration::from_secs(secs));
                return Verdict::Throttle {
                    retry_after_secs: secs,
                    violation: true,
                };
            }
            s.blocked_until = None;
            s.strikes = 0;
        }
        if (budget > 0 && s.used > budget) || storming {
            s.blocked_until = Some(now + Duration::from_secs(base));
            s.blocked_at = now;
            return Verdict::Throttle {
                retry_after_secs: base,
                violation: false,
            };
        }
        let mut headers = Vec::new();
        if budget > 0 && s.used * 10 >= budget * 8 {
            let reset = window.saturating_sub(now.saturating_duration_since(s.window_start));
            headers.push(("RateLimit-Limit".to_string(), budget.to_string()));
            headers.push((
                "RateLimit-Remaining".to_string(),
                (budget - s.used).to_string(),
            ));
            headers.push(("RateLimit-Reset".to_string(), ceil_secs(reset).to_string()));
        }
        Verdict::Allow(headers)
    }
}

/// Whole seconds, rounded up, at least 1.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(ru: u64) -> Throttle {
        Throttle::new(ThrottleConfig {
            ru_per_minute: ru,
            retry_after_secs: 5,
            ..ThrottleConfig::default()
        })
    }

    #[test]
    fn budget_headers_429_and_growing_retry_after() {
        let t = meter(10);
        let now = Instant::now();
        for _ in 0..7 {
            assert_eq!(t.charge(1, now), Verdict::Allow(Vec::new()));
        }
        let Verdict::Allow(h) = t.charge(1, now) else {
            panic!("allowed")
        };
        assert!(
            h.iter()
                .any(|(k, v)| k == "RateLimit-Remaining" && v == "2")
        );
        t.charge(2, now);
        assert_eq!(
            t.charge(1, now),
            Verdict::Throttle {
                retry_after_secs: 5,
                violation: false
            }
        );
        // Within the grace the request may have been in flight: throttled, not a violation.
        assert_eq!(
            t.charge(1, now + Duration::from_millis(100)),
            Verdict::Throttle {
                retry_after_secs: 5,
                violation: false
            }
        );
        let after_grace = now + IN_FLIGHT_GRACE;
        assert_eq!(
            t.charge(1, after_grace),
            Verdict::Throttle {
                retry_after_secs: 10,
                violation: true
            }
        );
        assert_eq!(
            t.charge(1, after_grace),
            Verdict::Throttle {
                retry_after_secs: 15,
                violation: true
            }
        );
        // After the window resets and the Retry-After has passed, requests go through.
        let later = now + Duration::from_secs(60 + 20);
        assert_eq!(t.charge(1, later), Verdict::Allow(Vec::new()));
    }

    fn header<'a>(verdict: &'a Verdict, name: &str) -> Option<&'a str> {
        let Verdict::Allow(headers) = verdict else {
            return None;
        };
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_scaled_window_resets_the_budget_and_reset_rounds_up() {
        let t = Throttle::new(ThrottleConfig {
            ru_per_minute: 10,
            window_secs: 6,
            ..ThrottleConfig::default()
        });
        let t0 = Instant::now();
        for _ in 0..7 {
            assert_eq!(t.charge(1, t0), Verdict::Allow(Vec::new()));
        }
        assert_eq!(header(&t.charge(1, t0), "RateLimit-Reset"), Some("6"));
        // 1.8 s left: a client told "1" would come back 0.8 s too early.
        let v = t.charge(1, t0 + Duration::from_millis(4200));
        assert_eq!(header(&v, "RateLimit-Reset"), Some("2"));
        assert_eq!(header(&v, "RateLimit-Remaining"), Some("1"));
        assert_eq!(
            header(
                &t.charge(1, t0 + Duration::from_millis(5999)),
                "RateLimit-Reset"
            ),
            Some("1")
        );
        assert!(matches!(
            t.charge(1, t0 + Duration::from_millis(5999)),
            Verdict::Throttle { .. }
        ));
        // The 429 asked for 10 s; once that is over, a fresh window serves again.
        let fresh = t0 + Duration::from_secs(16);
        assert_eq!(t.charge(5, fresh), Verdict::Allow(Vec::new()));
        assert_eq!(
            header(&t.charge(3, fresh), "RateLimit-Remaining"),
            Some("2")
        );
    }

    #[test]
    fn storm_throttles_without_a_budget_and_counts_violations() {
        let t = meter(0);
        let now = Instant::now();
        t.storm(now + Duration::from_secs(30));
        let opened = Verdict::Throttle {
            retry_after_secs: 5,
            violation: false,
        };
        assert_eq!(t.charge(1, now), opened);
        assert!(matches!(
            t.charge(1, now + IN_FLIGHT_GRACE),
            Verdict::Throttle {
                violation: true,
                ..
            }
        ));
        // Past the (grown) Retry-After but still in the storm: a new window, no violation.
        assert_eq!(t.charge(1, now + Duration::from_secs(20)), opened);
        // After the storm and its last window, requests go through.
        let after = now + Duration::from_secs(40);
        assert_eq!(t.charge(1, after), Verdict::Allow(Vec::new()));
        assert_eq!(t.charge(1, after), Verdict::Allow(Vec::new()));
    }

    #[test]
    fn zero_budget_never_throttles() {
        let t = meter(0);
        for _ in 0..1000 {
            assert_eq!(t.charge(5, Instant::now()), Verdict::Allow(Vec::new()));
        }
    }
}
