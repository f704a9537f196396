//! The [`ThrottleGate`]: one per tenant, shared by every thread that calls Graph.
//!
//! Graph meters an app per tenant, so a 429 seen by one thread concerns all of them:
//! the gate holds every thread until the `Retry-After` instant. It also paces requests
//! before Graph has to throttle (RateLimit-* headers, a resource-unit budget and a
//! request-rate cap) and computes the jittered backoff of retries.
//!
//! All state lives behind one mutex with one condvar: [`ThrottleGate::acquire_in`] checks
//! the pause instant and the buckets under the lock immediately before the caller
//! sends, and [`ThrottleGate::on_throttled`] extends the pause under the same lock.

use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex};
use rand::Rng;
use serde::Serialize;

use crate::config::ThrottleConfig;
use crate::error::{Error, Result};

/// First delay of the retry backoff for 5xx answers and transport failures.
const RETRY_BASE: Duration = Duration::from_millis(500);
/// Longest single wait (Retry-After, backoff, bucket refill); guards against absurd values.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);
/// Share of RateLimit-Limit below which the remaining budget is spread out.
const LOW_REMAINING_FRACTION: u64 = 5;
/// Share of `ru_per_minute` the bucket leaves unspent. A request reaches Graph a little
/// after it leaves, and the bucket may run `RU_BURST` ahead: both would push a window
/// that is spent exactly to its limit over it, and one 429 costs far more (every
/// thread waits out Retry-After) than the 2 % kept back.
const RU_HEADROOM: f64 = 0.02;
/// Resource units the bucket holds at most: enough for any request of 1 or 2 RU (delta,
/// list, write) to go at once, and small, so that after an idle spell the engine does
/// not burst into a window that then spends more than its budget.
const RU_BURST: f64 = 2.0;
/// RateLimit-Reset is in whole seconds: the window closes up to this much sooner.
const RESET_GRANULARITY: Duration = Duration::from_secs(1);

/// Request kinds and their resource-unit cost (SharePoint: 1 RU single-item read, delta with token,
/// download; 2 RU list/enumeration pages, delta without token, writes; 5 RU permission operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A delta page fetched with a token (deltaLink or nextLink).
    DeltaWithToken,
    /// The first delta page of a drive, without a token.
    DeltaInitial,
    /// A single-item read.
    Get,
    /// A page of a list or enumeration (`/sites`, `/drives`, ...).
    List,
    /// A create, update or delete.
    Write,
    /// A request of a download: an item's download URL from Graph, or the bytes from
    /// the download host. These go in the [`Lane::Background`].
    Content,
    /// A page of an item's permissions.
    Permission,
}

impl RequestKind {
    /// Resource units Graph charges for one request of this kind.
    pub fn cost(self) -> u32 {
        match self {
            RequestKind::DeltaWithToken | RequestKind::Get | RequestKind::Content => 1,
            RequestKind::DeltaInitial | RequestKind::List | RequestKind::Write => 2,
            RequestKind::Permission => 5,
        }
    }

    /// The gate lane requests of this kind wait in.
    pub fn lane(self) -> Lane {
        match self {
            RequestKind::Content => Lane::Background,
            _ => Lane::Foreground,
        }
    }
}

/// Which requests a request gives way to at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Delta, subscription, discovery and token requests: the engine's own work.
    Foreground,
    /// File downloads: they wait while any foreground request waits, and spend at most
    /// their share of the resource-unit budget.
    Background,
}

/// Counters of the tenant's throttle gate (the one pacer every Graph request of an
/// engine goes through), for status reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ThrottleStats {
    /// Requests let through the gate.
    pub requests: u64,
    /// 429/503 answers Graph sent (each paused every request of the tenant).
    pub throttled: u64,
    /// Requests retried after a 5xx, a reset or a timeout.
    pub retries: u64,
    /// Wall-clock milliseconds covered by pause windows (Retry-After, backoff, exhausted RateLimit).
    pub paused_ms: u64,
    /// Resource units of the requests let through.
    pub ru_spent: u64,
    /// Milliseconds requests spent waiting at the gate, summed over threads.
    pub waited_ms: u64,
}

/// A token bucket that may go into debt, so that a cost above its capacity still passes
/// once the bucket is full.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl Bucket {
    fn new(capacity: f64, per_sec: f64, now: Instant) -> Bucket {
        Bucket {
            capacity,
            per_sec,
            tokens: capacity,
            refilled_at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.refilled_at = now;
    }

    /// When `cost` may be taken (`now` or later).
    fn ready_at(&mut self, cost: f64, now: Instant) -> Instant {
        self.refill(now);
        let need = cost.min(self.capacity);
        if self.tokens >= need {
            now
        } else {
            let wait = Duration::try_from_secs_f64((need - self.tokens) / self.per_sec)
                .unwrap_or(MAX_WAIT);
            now + wait.min(MAX_WAIT)
        }
    }

    fn take(&mut self, cost: f64) {
        self.tokens -= cost;
    }

    /// Makes sure that no more than `limit` units are spent in the next `within`: when
    /// what the bucket holds plus what it refills in that time exceeds `limit`, the
    /// excess becomes debt that is paid back at the refill rate.
    fn cap_spend(&mut self, limit: f64, within: Duration, now: Instant) -> f64 {
        self.refill(now);
        let excess = self.tokens + self.per_sec * within.as_secs_f64() - limit;
        if excess > 0.0 {
            self.tokens -= excess;
        }
        excess.max(0.0)
    }
}

/// Pacing derived from RateLimit-* headers: one resource unit per `per_ru` until `until`.
#[derive(Debug)]
struct Pace {
    per_ru: Duration,
    until: Instant,
    next_slot: Instant,
}

#[derive(Debug)]
struct State {
    stopped: bool,
    paused_until: Option<Instant>,
    consecutive_throttles: u32,
    ru_bucket: Option<Bucket>,
    rate_bucket: Option<Bucket>,
    /// The background lane's share of the resource-unit budget.
    background_bucket: Option<Bucket>,
    /// Foreground requests waiting at the gate (background ones wait for them).
    foreground_waiting: u32,
    pace: Option<Pace>,
    stats: ThrottleStats,
}

impl State {
    /// The earliest instant a request of `cost` may be sent; `now` when it may go at once.
    fn ready_at(&mut self, cost: u32, now: Instant) -> Instant {
        let mut at = now;
        if let Some(until) = self.paused_until {
            at = at.max(until);
        }
        if let Some(pace) = &self.pace {
            if now < pace.until {
                at = at.max(pace.next_slot);
            }
        }
        if let Some(bucket) = &mut self.ru_bucket {
            at = at.max(bucket.ready_at(f64::from(cost), now));
        }
        if let Some(bucket) = &mut self.rate_bucket {
            at = at.max(bucket.ready_at(1.0, now));
        }
        at
    }

    fn admit(&mut self, cost: u32, now: Instant) {
        if let Some(bucket) = &mut self.ru_bucket {
            bucket.take(f64::from(cost));
        }
        if let Some(bucket) = &mut self.rate_bucket {
            bucket.take(1.0);
        }
        if let Some(pace) = &mut self.pace {
            if now < pace.until {
                pace.next_slot =
                    pace.next_slot.max(now) + pace.per_ru.saturating_mul(cost).min(MAX_WAIT);
            } else {
                self.pace = None;
            }
        }
        self.stats.requests += 1;
        self.stats.ru_spent += u64::from(cost);
    }

    fn on_rate_limit(
        &mut self,
        limit: Option<u64>,
        remaining: Option<u64>,
        reset_secs: Option<u64>,
        now: Instant,
    ) {
        let (Some(remaining), Some(reset_secs)) = (remaining, reset_secs) else {
            return;
        };
        let reset = Duration::from_secs(reset_secs).min(MAX_WAIT);
        if remaining == 0 {
            self.pause_for(reset, now);
            return;
        }
        if let Some(bucket) = &mut self.ru_bucket {
            let earliest = reset.saturating_sub(RESET_GRANULARITY);
            let excess = bucket.cap_spend(remaining as f64, earliest, now);
            if excess > 0.0 {
                log::debug!(
                    "RateLimit: {remaining} units left for {reset_secs} s, {excess:.1} fewer than planned; slowing down"
                );
            }
            return;
        }
        let low =
            limit.is_none_or(|limit| remaining.saturating_mul(LOW_REMAINING_FRACTION) <= limit);
        if !low || reset.is_zero() {
            self.pace = None;
            return;
        }
        let per_ru = reset / u32::try_from(remaining).unwrap_or(u32::MAX);
        let next_slot = self.pace.as_ref().map_or(now, |p| p.next_slot);
        log::debug!(
            "RateLimit: {remaining} units left for {reset_secs} s; one unit per {per_ru:?}"
        );
        self.pace = Some(Pace {
            per_ru,
            until: now + reset,
            next_slot,
        });
    }

    /// Extends the pause to `now + d` (never shortens it) and accounts the added time.
    fn pause_for(&mut self, d: Duration, now: Instant) {
        let until = now + d.min(MAX_WAIT);
        let current = self.paused_until.map_or(now, |p| p.max(now));
        if until > current {
            self.stats.paused_ms += duration_ms(until - current);
            self.paused_until = Some(until);
        }
    }
}

/// Called with the end of the pause (wall clock) each time a 429/503 sets it, so that
/// the engine can save it and a restarted process still honours it.
pub type PauseHook = Box<dyn Fn(SystemTime) + Send + Sync>;

/// The optional [`PauseHook`] (a newtype, for `Debug`).
#[derive(Default)]
struct PauseHookSlot(Mutex<Option<PauseHook>>);

impl std::fmt::Debug for PauseHookSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.lock().is_some() {
            "PauseHook"
        } else {
            "None"
        })
    }
}

/// Holds every thread of one tenant while Graph asks us to wait, and paces requests
/// before it has to.
#[derive(Debug)]
pub struct ThrottleGate {
    config: ThrottleConfig,
    state: Mutex<State>,
    wake: Condvar,
    on_pause: PauseHookSlot,
}

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ThrottleGate>();
};

impl ThrottleGate {
    /// A gate with the budgets of `cfg` (a zero budget means no bucket).
    pub fn new(cfg: &crate::config::ThrottleConfig) -> ThrottleGate {
        let now = Instant::now();
        // The budget flows at a steady rate just under the limit, with a burst of one
        // request: spent evenly, any window of Graph's gets at most its budget.
        let ru_bucket = (cfg.ru_per_minute > 0).then(|| {
            let per_sec = f64::from(cfg.ru_per_minute) * (1.0 - RU_HEADROOM) / 60.0;
            Bucket::new(RU_BURST, per_sec, now)
        });
        let rate_bucket = (cfg.requests_per_second > 0.0 && cfg.requests_per_second.is_finite())
            .then(|| {
                Bucket::new(
                    cfg.requests_per_second.max(1.0),
                    cfg.requests_per_second,
                    now,
                )
            });
        ThrottleGate {
            config: cfg.clone(),
            state: Mutex::new(State {
                stopped: false,
                paused_until: None,
                consecutive_throttles: 0,
                ru_bucket,
                rate_bucket,
                background_bucket: None,
                foreground_waiting: 0,
                pace: None,
                stats: ThrottleStats::default(),
            }),
            wake: Condvar::new(),
            on_pause: PauseHookSlot::default(),
        }
    }

    /// Sets the hook told about every pause a 429/503 sets.
    pub fn set_pause_hook(&self, hook: PauseHook) {
        *self.on_pause.0.lock() = Some(hook);
    }

    /// Pauses every request until `at` (a Retry-After received by an earlier process);
    /// an instant in the past does nothing.
    pub fn pause_until(&self, at: SystemTime) {
        if let Ok(wait) = at.duration_since(SystemTime::now()) {
            let mut state = self.state.lock();
            state.pause_for(wait, Instant::now());
        }
    }

    /// Lets the background lane spend at most `share` (in `(0, 1]`) of the
    /// resource-unit budget; without a budget (`ru_per_minute` 0) it changes nothing.
    pub fn with_background_share(self, share: f64) -> ThrottleGate {
        if self.config.ru_per_minute > 0 && share > 0.0 && share < 1.0 {
            let per_sec = f64::from(self.config.ru_per_minute) * (1.0 - RU_HEADROOM) / 60.0 * share;
            self.state.lock().background_bucket =
                Some(Bucket::new(RU_BURST, per_sec, Instant::now()));
        }
        self
    }

    /// Blocks until a request of `cost` RU may be sent in `lane` (pause window,
    /// buckets); a background request also waits while any foreground request waits,
    /// and for its share of the budget. Err(Stopped) after stop().
    ///
    /// Call it immediately before sending: the request counts as sent when this returns.
    pub fn acquire_in(&self, cost: u32, lane: Lane) -> Result<()> {
        let mut state = self.state.lock();
        let mut blocked_since: Option<Instant> = None;
        let mut counted = false;
        let result = loop {
            if state.stopped {
                break Err(Error::Stopped);
            }
            let now = Instant::now();
            let mut ready = state.ready_at(cost, now);
            if lane == Lane::Background {
                if let Some(bucket) = &mut state.background_bucket {
                    ready = ready.max(bucket.ready_at(f64::from(cost), now));
                }
                if state.foreground_waiting > 0 {
                    blocked_since.get_or_insert(now);
                    self.wake.wait(&mut state);
                    continue;
                }
            }
            if ready <= now {
                if let Some(since) = blocked_since {
                    state.stats.waited_ms += duration_ms(now - since);
                }
                state.admit(cost, now);
                if lane == Lane::Background {
                    if let Some(bucket) = &mut state.background_bucket {
                        bucket.take(f64::from(cost));
                    }
                }
                break Ok(());
            }
            if lane == Lane::Foreground && !counted {
                state.foreground_waiting += 1;
                counted = true;
            }
            blocked_since.get_or_insert(now);
            self.wake.wait_until(&mut state, ready);
        };
        if counted {
            state.foreground_waiting -= 1;
            if state.foreground_waiting == 0 {
                self.wake.notify_all();
            }
        }
        result
    }

    /// Records a 429/503: pause everyone until now + retry_after (or backoff when None).
    pub fn on_throttled(&self, retry_after: Option<std::time::Duration>) {
        let mut state = self.state.lock();
        let now = Instant::now();
        state.stats.throttled += 1;
        state.consecutive_throttles = state.consecutive_throttles.saturating_add(1);
        let wait = retry_after.unwrap_or_else(|| {
            backoff(
                Duration::from_secs(self.config.default_retry_after_secs),
                state.consecutive_throttles,
                self.max_backoff(),
                rand::rng().random(),
            )
        });
        state.pause_for(wait, now);
        let until = state
            .paused_until
            .map(|until| SystemTime::now() + until.saturating_duration_since(now));
        drop(state);
        log::warn!(
            "Graph throttled this tenant (Retry-After {:?}); every request waits {wait:?}",
            retry_after
        );
        if let (Some(until), Some(hook)) = (until, self.on_pause.0.lock().as_ref()) {
            hook(until);
        }
    }

    /// Records RateLimit-* headers of any response (Graph sends them from about 80 %
    /// use of the budget on).
    ///
    /// No units left pauses everyone until the reset. With a configured budget
    /// (`ru_per_minute`) the bucket already spreads the budget evenly; the headers only
    /// correct it when Graph counts more use than the bucket knows of (another client
    /// of the same app, or a budget set too high): the bucket then spends no more than
    /// `remaining` before the earliest possible reset. Without a configured budget the
    /// remaining units are spread evenly until the reset once they are low (below a
    /// fifth of the limit, or whenever the limit is unknown).
    pub fn on_rate_limit(
        &self,
        limit: Option<u64>,
        remaining: Option<u64>,
        reset_secs: Option<u64>,
    ) {
        self.state
            .lock()
            .on_rate_limit(limit, remaining, reset_secs, Instant::now());
    }

    /// Records a successful answer without RateLimit-* headers: Graph is not near the
    /// limit (a new window has begun), so pacing learnt from earlier headers ends.
    pub fn on_no_rate_limit(&self) {
        self.state.lock().pace = None;
    }

    /// Records a response that was not throttled: resets the consecutive-throttle backoff.
    pub fn on_success(&self) {
        self.state.lock().consecutive_throttles = 0;
    }

    /// Records that a request is being retried (for [`ThrottleStats::retries`]).
    pub fn on_retry(&self) {
        self.state.lock().stats.retries += 1;
    }

    /// Whether a 429/503 (or no units left) holds every request at this moment: work
    /// of this tenant is better given to a worker later.
    pub fn is_paused(&self) -> bool {
        self.state
            .lock()
            .paused_until
            .is_some_and(|until| until > Instant::now())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ThrottleStats {
        self.state.lock().stats
    }

    /// Wakes every waiter; from now on [`acquire_in`](Self::acquire_in) and
    /// [`sleep`](Self::sleep) return `Err(Error::Stopped)`.
    pub fn stop(&self) {
        self.state.lock().stopped = true;
        self.wake.notify_all();
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.state.lock().stopped
    }

    /// Sleeps `d` unless stopped (for retry backoff) — Err(Stopped) when stopped.
    pub fn sleep(&self, d: Duration) -> Result<()> {
        let deadline = Instant::now() + d.min(MAX_WAIT);
        let mut state = self.state.lock();
        loop {
            if state.stopped {
                return Err(Error::Stopped);
            }
            if Instant::now() >= deadline {
                return Ok(());
            }
            self.wake.wait_until(&mut state, deadline);
        }
    }

    /// Attempts per request for retryable failures (`throttle.max_attempts`, at least 1).
    pub fn max_attempts(&self) -> u32 {
        self.config.max_attempts.max(1)
    }

    /// Jittered exponential delay before retry number `attempt` (1-based) of a 5xx or
    /// transport failure, capped at `throttle.max_backoff_secs`.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        backoff(
            RETRY_BASE,
            attempt,
            self.max_backoff(),
            rand::rng().random(),
        )
    }

    fn max_backoff(&self) -> Duration {
        Duration::from_secs(self.config.max_backoff_secs).min(MAX_WAIT)
    }
}

/// `base * 2^(attempt-1)`, stretched by up to a quarter by `jitter` (in `[0, 1)`), capped at `cap`.
fn backoff(base: Duration, attempt: u32, cap: Duration, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let plain = base.saturating_mul(1 << exponent).min(cap);
    plain.mul_f64(1.0 + jitter.clamp(0.0, 1.0) / 4.0).min(cap)
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (relative to `now`).
/// A date in the past means "now"; anything else is `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_WAIT));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_WAIT),
    )
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    fn config() -> ThrottleConfig {
        ThrottleConfig {
            default_retry_after_secs: 1,
            max_backoff_secs: 8,
            ..ThrottleConfig::default()
        }
    }

    #[test]
    fn costs_follow_sharepoint_resource_units() {
        assert_eq!(RequestKind::DeltaWithToken.cost(), 1);
        assert_eq!(RequestKind::DeltaInitial.cost(), 2);
        assert_eq!(RequestKind::List.cost(), 2);
        assert_eq!(RequestKind::Write.cost(), 2);
        assert_eq!(RequestKind::Content.cost(), 1);
        assert_eq!(RequestKind::Content.lane(), Lane::Background);
        assert_eq!(RequestKind::Permission.cost(), 5);
        assert_eq!(RequestKind::Permission.lane(), Lane::Foreground);
        assert_eq!(RequestKind::DeltaWithToken.lane(), Lane::Foreground);
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_WAIT)
        );
        for garbage in ["", "soon", "-5", "1.5", "12s", "Tue, 99 Foo 2024"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter_and_is_capped() {
        let base = Duration::from_secs(2);
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(base, 1, cap, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(base, 2, cap, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(base, 4, cap, 0.0), Duration::from_secs(16));
        assert_eq!(
            backoff(base, 3, cap, 0.999),
            Duration::from_secs(8).mul_f64(1.0 + 0.999 / 4.0)
        );
        assert_eq!(backoff(base, 6, cap, 0.0), cap);
        assert_eq!(backoff(base, 6, cap, 0.9), cap);
        assert_eq!(backoff(base, u32::MAX, cap, 0.5), cap);
        assert_eq!(backoff(base, 0, cap, 0.0), base);
    }

    #[test]
    fn throttle_holds_every_thread_until_retry_after() {
        let gate = Arc::new(ThrottleGate::new(&config()));
        let start = Instant::now();
        gate.on_throttled(Some(Duration::from_millis(400)));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let gate = Arc::clone(&gate);
                thread::spawn(move || {
                    gate.acquire_in(1, Lane::Foreground).unwrap();
                    Instant::now()
                })
            })
            .collect();
        for w in waiters {
            assert!(w.join().unwrap() >= start + Duration::from_millis(400));
        }
        let stats = gate.stats();
        assert_eq!((stats.requests, stats.throttled, stats.ru_spent), (3, 1, 3));
        assert!(stats.paused_ms >= 300, "{stats:?}");
    }

    #[test]
    fn background_requests_give_way_to_waiting_foreground_ones() {
        let gate = Arc::new(ThrottleGate::new(&config()));
        gate.on_throttled(Some(Duration::from_millis(300)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let spawn = |lane: Lane, name: &'static str| {
            let (gate, order) = (Arc::clone(&gate), Arc::clone(&order));
            thread::spawn(move || {
                gate.acquire_in(1, lane).unwrap();
                order.lock().push(name);
            })
        };
        let background = spawn(Lane::Background, "background");
        // The foreground request arrives second, during the pause, yet goes first.
        let foreground = spawn(Lane::Foreground, "foreground");
        while gate.state.lock().foreground_waiting == 0 {
            thread::yield_now();
        }
        foreground.join().unwrap();
        background.join().unwrap();
        assert_eq!(*order.lock(), vec!["foreground", "background"]);
    }

    #[test]
    fn the_background_lane_spends_only_its_share_of_the_budget() {
        let gate = ThrottleGate::new(&ThrottleConfig {
            ru_per_minute: 6000,
            ..config()
        })
        .with_background_share(0.25);
        let state = gate.state.lock();
        let (all, background) = (
            state.ru_bucket.as_ref().unwrap().per_sec,
            state.background_bucket.as_ref().unwrap().per_sec,
        );
        assert!(
            (background / all - 0.25).abs() < 1e-9,
            "{background} of {all}"
        );
        drop(state);
        // Without a budget there is nothing to share.
        let unbudgeted = ThrottleGate::new(&config()).with_background_share(0.25);
        assert!(unbudgeted.state.lock().background_bucket.is_none());
        // Taking from the background lane drains both buckets.
        gate.acquire_in(1, Lane::Background).unwrap();
        let state = gate.state.lock();
        assert!(state.background_bucket.as_ref().unwrap().tokens < RU_BURST);
        assert!(state.ru_bucket.as_ref().unwrap().tokens < RU_BURST);
    }

    #[test]
    fn a_shorter_retry_after_never_shortens_the_pause() {
        let gate = ThrottleGate::new(&config());
        let start = Instant::now();
        gate.on_throttled(Some(Duration::from_millis(300)));
        gate.on_throttled(Some(Duration::ZERO));
        gate.acquire_in(1, Lane::Foreground).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn missing_retry_after_pauses_for_the_default_and_grows() {
        let gate = ThrottleGate::new(&config());
        let start = Instant::now();
        gate.on_throttled(None);
        gate.acquire_in(1, Lane::Foreground).unwrap();
        assert!(start.elapsed() >= Duration::from_secs(1));
        // A second throttle in a row doubles the default (2 s); a success resets it.
        gate.on_throttled(None);
        let paused = gate.stats().paused_ms;
        assert!(paused >= 3_000, "{paused}");
        gate.stop();
        gate.on_success();
        assert_eq!(gate.state.lock().consecutive_throttles, 0);
    }

    #[test]
    fn stop_wakes_every_waiter() {
        let gate = Arc::new(ThrottleGate::new(&config()));
        gate.on_throttled(Some(Duration::from_secs(120)));
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let gate = Arc::clone(&gate);
                thread::spawn(move || {
                    if i == 0 {
                        gate.sleep(Duration::from_secs(120))
                    } else {
                        gate.acquire_in(1, Lane::Foreground)
                    }
                })
            })
            .collect();
        // Waiting before stop() is not required for correctness: a late waiter sees `stopped`.
        thread::sleep(Duration::from_millis(50));
        gate.stop();
        for w in waiters {
            assert!(matches!(w.join().unwrap(), Err(Error::Stopped)));
        }
        assert!(gate.is_stopped());
        assert!(matches!(gate.sleep(Duration::ZERO), Err(Error::Stopped)));
    }

    #[test]
    fn extreme_settings_do_not_panic() {
        let gate = ThrottleGate::new(&ThrottleConfig {
            requests_per_second: 1e-300,
            ru_per_minute: u32::MAX,
            default_retry_after_secs: u64::MAX,
            max_backoff_secs: u64::MAX,
            max_attempts: u32::MAX,
        });
        gate.acquire_in(u32::MAX, Lane::Foreground).unwrap();
        gate.on_throttled(None);
        gate.on_throttled(Some(Duration::MAX));
        gate.on_rate_limit(Some(u64::MAX), Some(1), Some(u64::MAX));
        assert!(gate.retry_delay(u32::MAX) <= MAX_WAIT);
        let state = gate.state.lock();
        assert!(state.paused_until.unwrap() <= Instant::now() + MAX_WAIT);
    }

    proptest::proptest! {
        #[test]
        fn retry_after_parsing_never_panics(value in ".{0,40}") {
            let now = SystemTime::now();
            if let Some(d) = parse_retry_after(&value, now) {
                proptest::prop_assert!(d <= MAX_WAIT);
            }
        }

        #[test]
        fn delay_seconds_round_trip(secs in 0u64..=86_400) {
            let parsed = parse_retry_after(&secs.to_string(), SystemTime::now());
            proptest::prop_assert_eq!(parsed, Some(Duration::from_secs(secs)));
        }
    }

    #[test]
    fn sleep_returns_after_the_duration() {
        let gate = ThrottleGate::new(&config());
        let start = Instant::now();
        gate.sleep(Duration::from_millis(50)).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    /// Admission times of a client that sends requests of `cost` as fast as `state`
    /// lets it, from `from` until `until` (explicit instants: no sleeping).
    fn greedy(state: &mut State, cost: u32, from: Instant, until: Instant) -> Vec<Instant> {
        let mut sent = Vec::new();
        let mut t = from;
        loop {
            t = state.ready_at(cost, t);
            if t >= until {
                return sent;
            }
            state.admit(cost, t);
            sent.push(t);
        }
    }

    /// Most requests admitted in any span of `window`.
    fn densest(sent: &[Instant], window: Duration) -> usize {
        (0..sent.len())
            .map(|i| {
                sent[i..]
                    .iter()
                    .take_while(|&&t| t < sent[i] + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn ru_bucket_spends_the_budget_evenly_and_never_overfills_a_window() {
        // 600 RU per minute: a greedy client gets 98 % of it, and no span gets more than
        // its share of the budget once that share is 100 RU or more (the headroom then
        // covers the burst; Graph's budgets are 1,200 RU per minute and up).
        let gate = ThrottleGate::new(&ThrottleConfig {
            ru_per_minute: 600,
            ..config()
        });
        let t0 = Instant::now();
        let mut state = gate.state.lock();
        let sent = greedy(&mut state, 1, t0, t0 + Duration::from_secs(60));
        assert!((585..=600).contains(&sent.len()), "{}", sent.len());
        for window in [10, 30, 60] {
            let span = Duration::from_secs(window);
            let most = densest(&sent, span);
            assert!(most <= 600 * window as usize / 60, "{most} RU in {span:?}");
        }
        assert_eq!(state.stats.ru_spent, sent.len() as u64);
    }

    #[test]
    fn an_idle_bucket_bursts_only_one_request() {
        let gate = ThrottleGate::new(&ThrottleConfig {
            ru_per_minute: 600,
            ..config()
        });
        let t0 = Instant::now() + Duration::from_secs(3600);
        let mut state = gate.state.lock();
        let sent = greedy(&mut state, 2, t0, t0 + Duration::from_secs(1));
        // 2 RU at once, then 9.8 RU/s: 2 + 9.8 < 12 RU, five requests of 2.
        assert_eq!(sent.len(), 5, "{sent:?}");
        assert_eq!(sent[0], t0);
    }

    #[test]
    fn rate_limit_headers_cap_the_bucket_when_graph_counts_more() {
        let gate = ThrottleGate::new(&ThrottleConfig {
            ru_per_minute: 600,
            ..config()
        });
        let t0 = Instant::now();
        let mut state = gate.state.lock();
        // Graph has 5 units left and resets within 2 to 3 s (another client spent the
        // rest): at most 5 more may go before the earliest reset, then the steady rate.
        state.on_rate_limit(Some(600), Some(5), Some(3), t0);
        let sent = greedy(&mut state, 1, t0, t0 + Duration::from_secs(4));
        let before_reset = sent
            .iter()
            .filter(|&&t| t < t0 + Duration::from_secs(2))
            .count();
        assert!((4..=5).contains(&before_reset), "{sent:?}");
        assert!(
            sent.len() >= 5 + 9,
            "the steady rate resumes: {}",
            sent.len()
        );
    }

    #[test]
    fn rate_limit_headers_that_agree_with_the_bucket_change_nothing() {
        let gate = ThrottleGate::new(&ThrottleConfig {
            ru_per_minute: 600,
            ..config()
        });
        let t0 = Instant::now();
        let mut state = gate.state.lock();
        // 40 units left with at most 3 s to go: the bucket plans 2 + 9.8 * 2 < 40.
        state.on_rate_limit(Some(600), Some(40), Some(3), t0);
        assert_eq!(state.ru_bucket.as_ref().map(|b| b.tokens), Some(RU_BURST));
        assert!(state.pace.is_none());
        assert_eq!(state.ready_at(2, t0), t0);
    }

    #[test]
    fn a_success_without_headers_ends_header_pacing() {
        let gate = ThrottleGate::new(&config());
        gate.on_rate_limit(Some(100), Some(4), Some(30));
        assert!(gate.state.lock().pace.is_some());
        gate.on_no_rate_limit();
        let now = Instant::now();
        assert!(gate.state.lock().pace.is_none());
        assert_eq!(gate.state.lock().ready_at(1, now), now);
    }

    #[test]
    fn a_cost_above_the_capacity_passes_once_the_bucket_is_full() {
        let gate = ThrottleGate::new(&ThrottleConfig {
            ru_per_minute: 20,
            ..config()
        });
        gate.acquire_in(5, Lane::Foreground).unwrap();
        let bucket = gate
            .state
            .lock()
            .ru_bucket
            .as_ref()
            .map(|b| b.tokens)
            .unwrap();
        assert!((bucket - -3.0).abs() < 0.01, "{bucket}");
    }

    #[test]
    fn request_rate_bucket_spaces_requests() {
        let start = Instant::now();
        let gate = ThrottleGate::new(&ThrottleConfig {
            requests_per_second: 20.0,
            ..config()
        });
        for _ in 0..25 {
            gate.acquire_in(1, Lane::Foreground).unwrap();
        }
        // A burst of 20, then 5 more at 20/s.
        assert!(
            start.elapsed() >= Duration::from_millis(240),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn low_rate_limit_remaining_spreads_the_budget() {
        let gate = ThrottleGate::new(&config());
        // 4 units left for 1 s: one unit per 250 ms.
        gate.on_rate_limit(Some(100), Some(4), Some(1));
        let start = Instant::now();
        for _ in 0..3 {
            gate.acquire_in(1, Lane::Foreground).unwrap();
        }
        assert!(
            start.elapsed() >= Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        // Plenty left: pacing ends.
        gate.on_rate_limit(Some(100), Some(90), Some(1));
        assert!(gate.state.lock().pace.is_none());
    }

    #[test]
    fn exhausted_rate_limit_pauses_until_reset() {
        let gate = ThrottleGate::new(&config());
        let start = Instant::now();
        gate.on_rate_limit(None, Some(0), Some(1));
        gate.acquire_in(1, Lane::Foreground).unwrap();
        assert!(start.elapsed() >= Duration::from_secs(1));
        assert_eq!(gate.stats().throttled, 0);
        // Incomplete headers change nothing.
        gate.on_rate_limit(Some(10), Some(0), None);
        assert!(gate.state.lock().paused_until.unwrap() <= Instant::now());
    }
}
