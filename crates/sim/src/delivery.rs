//! Webhook delivery for the simulator: per-endpoint queues drained by a few worker
//! threads that POST `{"value":[...]}` batches, retry failures with capped
//! exponential backoff, and inject the faults configured in [`NotificationConfig`].
//!
//! Enqueueing only takes a short lock, so it is safe on HTTP request threads. Each
//! endpoint has at most one POST in flight; with several workers a slow endpoint
//! holds one worker for at most `response_deadline_ms` and never stalls the others.
//!
//! One pool of workers serves every tenant of a simulator: each tenant has a
//! *channel* ([`Delivery::sibling`]) with its own knobs, fault generator, counters
//! and queues, so a thousand tenants cost no more threads than one. The workers
//! start with the first notification queued, and stop when the last channel shuts down.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Worker threads per simulator (all tenants); endpoints beyond this many slow ones
/// still progress.
const WORKERS: usize = 4;
/// Connect timeout of every outgoing POST.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound of any configured delay (one day), so instants never overflow.
const MAX_DELAY_MS: u64 = 86_400_000;
/// How much of a notification reply is read (and discarded) to keep connections reusable.
const MAX_REPLY_BYTES: u64 = 64 * 1024;
/// Idle workers re-check the queues at least this often (enqueue also wakes them).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// Knobs for notification delivery (part of SimConfig.notifications and of /_sim/faults "notifications").
///
/// Fault knobs (`drop`, `duplicate`, `delay_*`) apply to change notifications only;
/// lifecycle notifications are retried but never faulted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationConfig {
    /// Probability (0..1) that a change notification is silently lost.
    pub drop: f64,
    /// Probability (0..1) that a change notification is delivered twice.
    pub duplicate: f64,
    /// Probability (0..1) that a batch goes out reversed, or (single-notification
    /// batches) swaps places with the next queued notification.
    pub reorder: f64,
    /// Fixed delay before a change notification may be sent.
    pub delay_ms: u64,
    /// Extra random delay, uniform in `0..=delay_jitter_ms`.
    pub delay_jitter_ms: u64,
    /// How long the first ready notification of an endpoint waits for others to join its POST.
    pub batch_window_ms: u64,
    /// Most notifications in one POST.
    pub max_batch: usize,
    /// A POST not answered with 2xx within this long counts as failed.
    pub response_deadline_ms: u64,
    /// Backoff before the first retry; doubles with each further attempt.
    pub retry_base_ms: u64,
    /// Longest backoff between two attempts.
    pub retry_max_ms: u64,
    /// Attempts per notification (including the first) before it is dropped.
    pub max_attempts: u32,
    /// `reauthorizationRequired` is sent this long before a subscription expires.
    pub lifecycle_lead_secs: u64,
    /// Send `subscriptionRemoved` to the lifecycle URL when a subscription expires.
    pub send_removed_on_expire: bool,
    /// Seed of the fault generator; random when absent.
    pub seed: Option<u64>,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        NotificationConfig {
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            delay_ms: 0,
            delay_jitter_ms: 0,
            batch_window_ms: 0,
            max_batch: 100,
            response_deadline_ms: 3000,
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            max_attempts: 6,
            lifecycle_lead_secs: 600,
            send_removed_on_expire: false,
            seed: None,
        }
    }
}

impl NotificationConfig {
    /// Checks the knobs; the error names the first field out of range.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("drop", self.drop),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "notifications.{name} must be a probability in 0..1"
                ));
            }
        }
        for (name, ms) in [
            ("delay_ms", self.delay_ms),
            ("delay_jitter_ms", self.delay_jitter_ms),
            ("batch_window_ms", self.batch_window_ms),
            ("response_deadline_ms", self.response_deadline_ms),
            ("retry_base_ms", self.retry_base_ms),
            ("retry_max_ms", self.retry_max_ms),
        ] {
            if ms > MAX_DELAY_MS {
                return Err(format!(
                    "notifications.{name} must not exceed {MAX_DELAY_MS}"
                ));
            }
        }
        if self.max_batch == 0 || self.max_attempts == 0 || self.response_deadline_ms == 0 {
            return Err(
                "notifications.max_batch, max_attempts and response_deadline_ms must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }

    /// The same knobs forced into range, so that bad values can never panic or hang.
    fn sanitized(mut self) -> NotificationConfig {
        let probability = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self.drop = probability(self.drop);
        self.duplicate = probability(self.duplicate);
        self.reorder = probability(self.reorder);
        for ms in [
            &mut self.delay_ms,
            &mut self.delay_jitter_ms,
            &mut self.batch_window_ms,
            &mut self.response_deadline_ms,
            &mut self.retry_base_ms,
            &mut self.retry_max_ms,
        ] {
            *ms = (*ms).min(MAX_DELAY_MS);
        }
        self.response_deadline_ms = self.response_deadline_ms.max(1);
        self.max_batch = self.max_batch.max(1);
        self.max_attempts = self.max_attempts.max(1);
        self
    }

    /// Backoff after `failures` failed attempts.
    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u64 << failures.saturating_sub(1).min(30);
        Duration::from_millis(
            self.retry_base_ms
                .saturating_mul(factor)
                .min(self.retry_max_ms),
        )
    }
}

/// Which stream a notification belongs to; the two never share a POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A change notification (`changeType: updated`).
    Change,
    /// A lifecycle notification (`lifecycleEvent`).
    Lifecycle,
}

/// Delivery counters, reported by [`Delivery::stats`].
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct DeliveryStats {
    /// Change notifications delivered (their POST answered 2xx in time).
    pub notifications_sent: u64,
    /// Lifecycle notifications delivered.
    pub lifecycle_sent: u64,
    /// POSTs made, successful or not.
    pub posts_sent: u64,
    /// POSTs that failed (non-2xx, connection error, past the deadline).
    pub posts_failed: u64,
    /// Notifications queued again after a failed POST.
    pub retried: u64,
    /// Notifications accepted into the queues (duplicates included).
    pub queued: u64,
    /// Notifications lost to the `drop` fault.
    pub dropped_by_fault: u64,
    /// Notifications given up after `max_attempts` failed POSTs.
    pub dropped_after_retries: u64,
    /// Extra copies made by the `duplicate` fault.
    pub duplicated: u64,
    /// Batches affected by the `reorder` fault.
    pub reordered: u64,
    /// Queued notifications discarded because their subscription went away.
    pub cancelled: u64,
    /// Notifications waiting in the queues now.
    pub pending: u64,
}

/// One queued notification.
struct Pending {
    subscription_id: String,
    body: Value,
    ready_at: Instant,
    failures: u32,
}

/// The queue of one (kind, URL) endpoint, sorted by `ready_at`.
#[derive(Default)]
struct Endpoint {
    pending: VecDeque<Pending>,
    busy: bool,
}

impl Endpoint {
    /// Inserts after every notification ready no later (stable for equal instants).
    fn insert_sorted(&mut self, p: Pending) {
        let at = self
            .pending
            .iter()
            .rposition(|q| q.ready_at <= p.ready_at)
            .map_or(0, |i| i + 1);
        self.pending.insert(at, p);
    }
}

/// (channel, stream, URL): tenants never share a POST, even to the same URL.
type EndpointKey = (usize, Kind, String);

/// A batch taken off an endpoint's queue by a worker.
struct Batch {
    key: EndpointKey,
    items: Vec<Pending>,
    deadline: Duration,
}

/// One tenant's share of the pool.
struct Channel {
    config: NotificationConfig,
    rng: ChaCha8Rng,
    stats: DeliveryStats,
    /// False once its [`Delivery`] shut down: new work is refused.
    open: bool,
}

impl Channel {
    fn new(config: NotificationConfig) -> Channel {
        let config = config.sanitized();
        Channel {
            rng: new_rng(config.seed),
            config,
            stats: DeliveryStats::default(),
            open: true,
        }
    }
}

struct State {
    endpoints: HashMap<EndpointKey, Endpoint>,
    channels: Vec<Channel>,
    stopping: bool,
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

fn new_rng(seed: Option<u64>) -> ChaCha8Rng {
    match seed {
        Some(s) => ChaCha8Rng::seed_from_u64(s),
        None => ChaCha8Rng::from_os_rng(),
    }
}

impl State {
    /// Takes the most overdue batch, or says how long until one may be due.
    fn take_due(&mut self, now: Instant) -> Result<Batch, Option<Duration>> {
        let mut best: Option<(&EndpointKey, Instant)> = None;
        let mut next_due: Option<Instant> = None;
        for (key, ep) in &self.endpoints {
            let Some(front) = ep.pending.front() else {
                continue;
            };
            if ep.busy {
                continue;
            }
            let window = Duration::from_millis(self.channels[key.0].config.batch_window_ms);
            let due = front.ready_at + window;
            if due > now {
                next_due = Some(next_due.map_or(due, |t| t.min(due)));
            } else if best.is_none_or(|(_, t)| due < t) {
                best = Some((key, due));
            }
        }
        let Some((key, _)) = best else {
            return Err(next_due.map(|t| t - now));
        };
        let key = key.clone();
        let State {
            endpoints,
            channels,
            ..
        } = self;
        let Channel {
            config, rng, stats, ..
        } = &mut channels[key.0];
        let Some(ep) = endpoints.get_mut(&key) else {
            return Err(next_due.map(|t| t - now));
        };
        ep.busy = true;
        let mut items = Vec::new();
        while items.len() < config.max_batch
            && ep.pending.front().is_some_and(|p| p.ready_at <= now)
        {
            items.extend(ep.pending.pop_front());
        }
        if key.1 == Kind::Change && chance(rng, config.reorder) {
            if items.len() >= 2 {
                items.reverse();
                stats.reordered += 1;
            } else if let Some(next) = ep.pending.front_mut() {
                // Swap with the next batch: the next notification goes now, this one
                // takes its place in the queue (which therefore stays sorted).
                if let Some(held) = items.first_mut() {
                    std::mem::swap(held, next);
                    std::mem::swap(&mut held.ready_at, &mut next.ready_at);
                    stats.reordered += 1;
                }
            }
        }
        Ok(Batch {
            key,
            items,
            deadline: Duration::from_millis(config.response_deadline_ms),
        })
    }

    /// Records the outcome of a POST and requeues or drops a failed batch.
    fn finish(&mut self, batch: Batch, delivered: bool, now: Instant) {
        let State {
            endpoints,
            channels,
            ..
        } = self;
        let Channel {
            config,
            stats,
            open,
            ..
        } = &mut channels[batch.key.0];
        stats.posts_sent += 1;
        if !*open {
            // The tenant's channel closed while this POST was in flight.
            endpoints.remove(&batch.key);
            return;
        }
        let ep = endpoints.entry(batch.key.clone()).or_default();
        ep.busy = false;
        if delivered {
            let n = batch.items.len() as u64;
            match batch.key.1 {
                Kind::Change => stats.notifications_sent += n,
                Kind::Lifecycle => stats.lifecycle_sent += n,
            }
        } else {
            stats.posts_failed += 1;
            for mut item in batch.items {
                item.failures += 1;
                if item.failures >= config.max_attempts {
                    stats.dropped_after_retries += 1;
                } else {
                    stats.retried += 1;
                    item.ready_at = now + config.backoff(item.failures);
                    ep.insert_sorted(item);
                }
            }
        }
        if ep.pending.is_empty() {
            endpoints.remove(&batch.key);
        }
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Empty until the first notification is queued (an idle tenant costs no thread).
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// Starts the worker threads unless they run (or the pool stopped).
    fn ensure_workers(self: &Arc<Self>) {
        let mut workers = self.workers.lock();
        if !workers.is_empty() || self.state.lock().stopping {
            return;
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .redirects(0)
            .build();
        workers.extend((0..WORKERS).filter_map(|i| {
            let (shared, agent) = (Arc::clone(self), agent.clone());
            std::thread::Builder::new()
                .name(format!("sim-webhook-{i}"))
                .spawn(move || work(&shared, &agent))
                .map_err(|e| log::error!("cannot start a webhook delivery thread: {e}"))
                .ok()
        }));
    }
}

/// One tenant's channel of the delivery engine (queues plus worker threads shared by
/// every channel of the pool). Stops on [`Delivery::shutdown`] or drop; the workers
/// stop with the last channel.
pub(crate) struct Delivery {
    shared: Arc<Shared>,
    channel: usize,
}

impl Delivery {
    /// A new pool with one channel; its workers start with the first notification.
    pub(crate) fn new(config: NotificationConfig) -> Delivery {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                endpoints: HashMap::new(),
                channels: vec![Channel::new(config)],
                stopping: false,
            }),
            wake: Condvar::new(),
            workers: Mutex::new(Vec::new()),
        });
        Delivery { shared, channel: 0 }
    }

    /// Another channel (another tenant) of the same pool, with its own knobs, queues
    /// and counters. A pool that stopped gives a channel that refuses work.
    pub(crate) fn sibling(&self, config: NotificationConfig) -> Delivery {
        let mut st = self.shared.state.lock();
        let mut channel = Channel::new(config);
        channel.open = !st.stopping;
        st.channels.push(channel);
        Delivery {
            shared: Arc::clone(&self.shared),
            channel: st.channels.len() - 1,
        }
    }

    /// Queues one notification for `url`, applying the fault knobs to change notifications.
    pub(crate) fn enqueue(&self, url: &str, kind: Kind, subscription_id: &str, body: Value) {
        let mut guard = self.shared.state.lock();
        let st = &mut *guard;
        let Channel {
            config,
            rng,
            stats,
            open,
        } = &mut st.channels[self.channel];
        if st.stopping || !*open {
            return;
        }
        let mut copies = 1;
        if kind == Kind::Change {
            if chance(rng, config.drop) {
                stats.dropped_by_fault += 1;
                return;
            }
            if chance(rng, config.duplicate) {
                stats.duplicated += 1;
                copies = 2;
            }
        }
        let now = Instant::now();
        let ep = st
            .endpoints
            .entry((self.channel, kind, url.to_string()))
            .or_default();
        stats.queued += copies;
        for _ in 0..copies {
            let delay = match kind {
                Kind::Change => config.delay_ms + rng.random_range(0..=config.delay_jitter_ms),
                Kind::Lifecycle => 0,
            };
            ep.insert_sorted(Pending {
                subscription_id: subscription_id.to_string(),
                body: body.clone(),
                ready_at: now + Duration::from_millis(delay),
                failures: 0,
            });
        }
        drop(guard);
        self.shared.ensure_workers();
        self.shared.wake.notify_one();
    }

    /// Discards queued change notifications of a subscription that no longer exists.
    pub(crate) fn cancel(&self, subscription_id: &str) {
        let mut guard = self.shared.state.lock();
        let st = &mut *guard;
        let mut removed = 0;
        st.endpoints.retain(|(channel, kind, _), ep| {
            if *channel == self.channel && *kind == Kind::Change {
                let before = ep.pending.len();
                ep.pending.retain(|p| p.subscription_id != subscription_id);
                removed += before - ep.pending.len();
            }
            ep.busy || !ep.pending.is_empty()
        });
        st.channels[self.channel].stats.cancelled += removed as u64;
    }

    /// The knobs in force.
    pub(crate) fn config(&self) -> NotificationConfig {
        self.shared.state.lock().channels[self.channel]
            .config
            .clone()
    }

    /// Replaces the knobs; a new `seed` restarts the fault generator.
    pub(crate) fn set_config(&self, config: NotificationConfig) {
        let config = config.sanitized();
        let mut st = self.shared.state.lock();
        let channel = &mut st.channels[self.channel];
        if config.seed.is_some() && config.seed != channel.config.seed {
            channel.rng = new_rng(config.seed);
        }
        channel.config = config;
        drop(st);
        self.shared.wake.notify_all();
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> DeliveryStats {
        let st = self.shared.state.lock();
        let mut stats = st.channels[self.channel].stats.clone();
        stats.pending = st
            .endpoints
            .iter()
            .filter(|(key, _)| key.0 == self.channel)
            .map(|(_, e)| e.pending.len() as u64)
            .sum();
        stats
    }

    /// Closes the channel: its queued notifications are discarded and new ones
    /// refused. The last channel to close stops the workers and waits for them; a
    /// POST in flight finishes first (bounded by its deadline). Idempotent.
    pub(crate) fn shutdown(&self) {
        {
            let mut st = self.shared.state.lock();
            st.channels[self.channel].open = false;
            let channel = self.channel;
            st.endpoints.retain(|key, ep| key.0 != channel || ep.busy);
            if st.channels.iter().any(|c| c.open) {
                return;
            }
            st.stopping = true;
        }
        self.shared.wake.notify_all();
        for worker in std::mem::take(&mut *self.shared.workers.lock()) {
            if worker.join().is_err() {
                log::error!("a webhook delivery thread panicked");
            }
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A worker: take a due batch, POST it, record the outcome; until shutdown.
fn work(shared: &Shared, agent: &ureq::Agent) {
    loop {
        let batch = {
            let mut st = shared.state.lock();
            loop {
                if st.stopping {
                    return;
                }
                match st.take_due(Instant::now()) {
                    Ok(batch) => break batch,
                    Err(wait) => {
                        let wait = wait.unwrap_or(IDLE_WAIT).min(IDLE_WAIT);
                        shared.wake.wait_for(&mut st, wait);
                    }
                }
            }
        };
        let delivered = match post(agent, &batch) {
            Ok(()) => true,
            Err(e) => {
                log::debug!("webhook POST to {} failed: {e}", batch.key.2);
                false
            }
        };
        shared.state.lock().finish(batch, delivered, Instant::now());
        shared.wake.notify_all();
    }
}

/// POSTs a batch; `Ok` only for a 2xx answer within the deadline.
fn post(agent: &ureq::Agent, batch: &Batch) -> Result<(), String> {
    let values: Vec<&Value> = batch.items.iter().map(|p| &p.body).collect();
    let body = json!({ "value": values }).to_string();
    let reply = agent
        .post(&batch.key.2)
        .timeout(batch.deadline)
        .set("Content-Type", "application/json")
        .send_string(&body);
    match reply {
        Ok(r) => {
            let status = r.status();
            // Drain (bounded) so the connection can be reused; the content is irrelevant.
            let _ = std::io::copy(
                &mut r.into_reader().take(MAX_REPLY_BYTES),
                &mut std::io::sink(),
            );
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(format!("answered {status}"))
            }
        }
        Err(ureq::Error::Status(code, _)) => Err(format!("answered {code}")),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::test_receiver::Endpoint;

    fn numbers(post: &Value) -> Vec<u64> {
        post["value"]
            .as_array()
            .map(|v| v.iter().filter_map(|n| n["n"].as_u64()).collect())
            .unwrap_or_default()
    }

    fn send(d: &Delivery, hook: &Endpoint, n: u64) {
        d.enqueue(hook.url(), Kind::Change, "sub", json!({ "n": n }));
    }

    /// Holds the endpoint's replies; POST 0 goes out and blocks, then 1..=count queue up.
    fn queue_behind_a_blocked_post(
        d: &Delivery,
        hook: &Endpoint,
        count: u64,
    ) -> crossbeam_channel::Sender<()> {
        let (release, gate) = crossbeam_channel::unbounded();
        hook.configure(|b| b.gate = Some(gate));
        send(d, hook, 0);
        hook.wait_until("the first POST", |p| !p.is_empty());
        for n in 1..=count {
            send(d, hook, n);
        }
        release
    }

    #[test]
    fn notifications_queued_behind_a_post_go_out_together() {
        let hook = Endpoint::start();
        let d = Delivery::new(NotificationConfig::default());
        let release = queue_behind_a_blocked_post(&d, &hook, 5);
        drop(release);
        let posts = hook.wait_until("6 notifications", |p| {
            p.iter().map(|x| numbers(x).len()).sum::<usize>() == 6
        });
        let batches: Vec<Vec<u64>> = posts.iter().map(numbers).collect();
        assert_eq!(batches, vec![vec![0], vec![1, 2, 3, 4, 5]]);
    }

    #[test]
    fn batches_respect_max_batch() {
        let hook = Endpoint::start();
        let d = Delivery::new(NotificationConfig {
            max_batch: 2,
            ..NotificationConfig::default()
        });
        drop(queue_behind_a_blocked_post(&d, &hook, 5));
        let posts = hook.wait_until("4 POSTs", |p| p.len() == 4);
        let batches: Vec<Vec<u64>> = posts.iter().map(numbers).collect();
        assert_eq!(batches, vec![vec![0], vec![1, 2], vec![3, 4], vec![5]]);
    }

    #[test]
    fn reorder_reverses_batches_or_swaps_single_notifications() {
        let hook = Endpoint::start();
        let d = Delivery::new(NotificationConfig {
            reorder: 1.0,
            ..NotificationConfig::default()
        });
        drop(queue_behind_a_blocked_post(&d, &hook, 3));
        let posts = hook.wait_until("2 POSTs", |p| p.len() == 2);
        assert_eq!(numbers(&posts[1]), vec![3, 2, 1]);

        let hook = Endpoint::start();
        let d = Delivery::new(NotificationConfig {
            reorder: 1.0,
            max_batch: 1,
            ..NotificationConfig::default()
        });
        drop(queue_behind_a_blocked_post(&d, &hook, 2));
        let posts = hook.wait_until("3 POSTs", |p| p.len() == 3);
        let order: Vec<Vec<u64>> = posts.iter().map(numbers).collect();
        assert_eq!(order, vec![vec![0], vec![2], vec![1]]);
        assert_eq!(d.stats().reordered, 1);
    }

    #[test]
    fn a_blocked_endpoint_does_not_stall_others() {
        let slow = Endpoint::start();
        let fast = Endpoint::start();
        let d = Delivery::new(NotificationConfig {
            response_deadline_ms: 60_000,
            ..NotificationConfig::default()
        });
        let release = queue_behind_a_blocked_post(&d, &slow, 1);
        send(&d, &fast, 7);
        // Arrives while the slow endpoint still holds its POST.
        let posts = fast.wait_until("the other endpoint's POST", |p| !p.is_empty());
        assert_eq!(numbers(&posts[0]), vec![7]);
        assert_eq!(slow.posts().len(), 1);
        drop(release);
        slow.wait_until("the queued POST", |p| p.len() == 2);
    }

    #[test]
    fn the_batch_window_gathers_notifications() {
        let hook = Endpoint::start();
        let hour = NotificationConfig {
            batch_window_ms: 3_600_000,
            ..NotificationConfig::default()
        };
        let d = Delivery::new(hour);
        for n in 1..=3 {
            send(&d, &hook, n);
        }
        assert_eq!(
            d.stats().pending,
            3,
            "nothing leaves before the window closes"
        );
        d.set_config(NotificationConfig::default());
        let posts = hook.wait_until("the gathered POST", |p| !p.is_empty());
        assert_eq!(numbers(&posts[0]), vec![1, 2, 3]);
    }

    #[test]
    fn delayed_notifications_wait_and_can_be_cancelled() {
        let d = Delivery::new(NotificationConfig {
            delay_ms: 3_600_000,
            ..NotificationConfig::default()
        });
        // Only change notifications are delayed (a lifecycle one may leave at once, so
        // it would make the pending count racy).
        d.enqueue("http://127.0.0.1:9/never", Kind::Change, "a", json!({}));
        d.enqueue("http://127.0.0.1:9/never", Kind::Change, "b", json!({}));
        assert_eq!(d.stats().pending, 2);
        d.cancel("a");
        let stats = d.stats();
        assert_eq!((stats.pending, stats.cancelled), (1, 1));
    }

    #[test]
    fn channels_share_the_workers_but_not_their_knobs_or_counters() {
        let hook = Endpoint::start();
        let d = Delivery::new(NotificationConfig::default());
        let e = d.sibling(NotificationConfig {
            delay_ms: 3_600_000,
            ..NotificationConfig::default()
        });
        assert!(
            d.shared.workers.lock().is_empty(),
            "no thread before the first notification"
        );
        send(&e, &hook, 2);
        send(&d, &hook, 1);
        let posts = hook.wait_until("the undelayed channel's POST", |p| !p.is_empty());
        assert_eq!(numbers(&posts[0]), vec![1]);
        assert_eq!(d.shared.workers.lock().len(), WORKERS, "one pool for both");
        assert_eq!((d.stats().queued, e.stats().queued), (1, 1));
        assert_eq!(e.stats().pending, 1, "the other channel's delay holds");
        // Closing one channel drops its queue and leaves the other working.
        e.shutdown();
        assert_eq!(e.stats().pending, 0);
        send(&e, &hook, 4);
        assert_eq!(e.stats().queued, 1, "a closed channel refuses work");
        send(&d, &hook, 3);
        hook.wait_until("the open channel's second POST", |p| p.len() == 2);
        d.shutdown();
        assert!(
            d.shared.workers.lock().is_empty(),
            "the last channel stops the pool"
        );
    }

    #[test]
    fn shutdown_is_idempotent_and_refuses_new_work() {
        for _ in 0..10 {
            let d = Delivery::new(NotificationConfig::default());
            d.shutdown();
            d.shutdown();
            d.enqueue("http://127.0.0.1:9/x", Kind::Change, "a", json!({}));
            assert_eq!(d.stats().queued, 0);
        }
    }

    #[test]
    fn config_defaults_parsing_and_validation() {
        let c: NotificationConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, NotificationConfig::default());
        assert_eq!(c.response_deadline_ms, 3000);
        assert_eq!(c.lifecycle_lead_secs, 600);
        assert!(c.validate().is_ok());
        let c: NotificationConfig = serde_json::from_str(r#"{"drop":0.5,"seed":7}"#).unwrap();
        assert_eq!((c.drop, c.seed), (0.5, Some(7)));
        assert!(serde_json::from_str::<NotificationConfig>(r#"{"dorp":0.5}"#).is_err());
        for bad in [
            NotificationConfig {
                drop: 1.5,
                ..NotificationConfig::default()
            },
            NotificationConfig {
                reorder: f64::NAN,
                ..NotificationConfig::default()
            },
            NotificationConfig {
                max_batch: 0,
                ..NotificationConfig::default()
            },
            NotificationConfig {
                delay_ms: u64::MAX,
                ..NotificationConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
            assert!(bad.sanitized().validate().is_ok());
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = NotificationConfig {
            retry_base_ms: 100,
            retry_max_ms: 1000,
            ..NotificationConfig::default()
        };
        let ms: Vec<u128> = (1..=6).map(|f| c.backoff(f).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(c.backoff(u32::MAX).as_millis(), 1000);
    }
}
