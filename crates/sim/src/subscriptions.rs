//! Simulated Graph subscriptions on drive roots, `/sites` and groups:
//! `/v1.0/subscriptions` (create with validation handshake, list, get, renew, delete,
//! reauthorize), expiry with each resource's maximum lifetime, lifecycle
//! notifications, and change notifications queued for [`crate::delivery`].
//!
//! Lock order: the subscription table may be held while enqueueing into the delivery
//! engine, never the other way round; no lock is held during a validation handshake.
//!
//! Every tenant of a simulator has its own [`Subscriptions`] ([`Subscriptions::sibling`]),
//! but they share one timer thread (started with the first subscription) and one
//! pool of delivery workers, so idle tenants cost no threads.

mod handshake;
mod record;
mod target;
#[cfg(test)]
pub(crate) mod test_receiver;
#[cfg(test)]
mod tests;
mod time;
mod validate;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;
use serde_json::{Value, json};

pub use crate::delivery::NotificationConfig;
use crate::delivery::{Delivery, Kind};
use crate::request::SimRequest;
use crate::response::SimResponse;
use record::{LifecycleEvent, Subscription};
pub use target::{GroupChange, Target};
use time::Clock;

/// How often the timer thread expires subscriptions and sends due lifecycle notifications.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// Timeout of the validation handshake's connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What kind of change happened on a drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOrigin {
    /// Items were created, modified, renamed, moved or deleted.
    Content,
    /// Sharing or permissions changed; notifies only subscriptions created with
    /// `Prefer: includesecuritywebhooks`.
    Permissions,
}

/// Maps a subscription resource to what it watches (see [`SubscriptionContext`]).
pub type TargetResolver = Box<dyn Fn(&str) -> Option<Target> + Send + Sync>;

/// What the subscriptions module needs from the tenant.
pub struct SubscriptionContext {
    /// The tenant id put in every notification.
    pub tenant_id: String,
    /// Maps a subscription resource ("/drives/{id}/root", "/users/{id}/drive/root",
    /// "/sites/{id}/drive/root", "/me/drive/root", "/sites", "/groups", "/groups/{id}")
    /// to what it watches, or None when it does not exist.
    pub resolve: TargetResolver,
    /// Delivery knobs at start.
    pub config: NotificationConfig,
}

/// Subscription counters (delivery counters live in the delivery engine).
#[derive(Debug, Default)]
struct Counters {
    created: u64,
    validation_failed: u64,
    deleted: u64,
    expired: u64,
    reauthorized: u64,
}

/// State shared with the timer thread.
struct Core {
    tenant_id: String,
    resolve: TargetResolver,
    clock: Clock,
    table: Mutex<HashMap<String, Subscription>>,
    counters: Mutex<Counters>,
    delivery: Delivery,
    agent: ureq::Agent,
}

/// The timer thread every tenant's subscriptions share: it expires subscriptions and
/// sends due lifecycle notifications.
#[derive(Default)]
struct Timer {
    state: Mutex<TimerState>,
}

#[derive(Default)]
struct TimerState {
    cores: Vec<Weak<Core>>,
    /// Modules not shut down yet; the last one stops the thread.
    open: usize,
    stopped: bool,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Timer {
    fn register(&self, core: &Arc<Core>) {
        let mut st = self.state.lock();
        st.cores.push(Arc::downgrade(core));
        st.open += 1;
    }

    /// Starts the thread unless it runs or stopped.
    fn ensure_running(self: &Arc<Self>) {
        let mut st = self.state.lock();
        if st.thread.is_some() || st.stopped {
            return;
        }
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let timer = Arc::downgrade(self);
        st.thread = std::thread::Builder::new()
            .name("sim-subscriptions".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(SWEEP_INTERVAL) {
                    let Some(timer) = timer.upgrade() else { return };
                    let cores: Vec<Arc<Core>> = timer
                        .state
                        .lock()
                        .cores
                        .iter()
                        .filter_map(Weak::upgrade)
                        .collect();
                    for core in cores {
                        core.sweep();
                    }
                }
            })
            .map_err(|e| log::error!("cannot start the subscription timer: {e}"))
            .ok();
        st.stop = Some(stop_tx);
    }

    /// One module shut down; the last one stops the thread and waits for it.
    fn release(&self) {
        let (stop, thread) = {
            let mut st = self.state.lock();
            st.open = st.open.saturating_sub(1);
            if st.open > 0 {
                return;
            }
            st.stopped = true;
            (st.stop.take(), st.thread.take())
        };
        drop(stop);
        if let Some(thread) = thread {
            if thread.join().is_err() {
                log::error!("the subscription timer thread panicked");
            }
        }
    }
}

/// The simulator's subscriptions and webhook delivery for one tenant.
pub struct Subscriptions {
    core: Arc<Core>,
    timer: Arc<Timer>,
    closed: AtomicBool,
}

impl Subscriptions {
    /// Creates the module; its timer thread starts with the first subscription,
    /// its delivery threads with the first notification.
    pub fn new(ctx: SubscriptionContext) -> Arc<Subscriptions> {
        Self::with(ctx, Delivery::new, Arc::default())
    }

    /// The module of another tenant: its own subscriptions, knobs and counters, on the
    /// timer thread and delivery workers of this one.
    pub fn sibling(&self, ctx: SubscriptionContext) -> Arc<Subscriptions> {
        let delivery = |config| self.core.delivery.sibling(config);
        Self::with(ctx, delivery, Arc::clone(&self.timer))
    }

    fn with(
        ctx: SubscriptionContext,
        delivery: impl FnOnce(NotificationConfig) -> Delivery,
        timer: Arc<Timer>,
    ) -> Arc<Subscriptions> {
        let core = Arc::new(Core {
            tenant_id: ctx.tenant_id,
            resolve: ctx.resolve,
            clock: Clock::default(),
            table: Mutex::new(HashMap::new()),
            counters: Mutex::new(Counters::default()),
            delivery: delivery(ctx.config),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(CONNECT_TIMEOUT)
                .redirects(0)
                .build(),
        });
        timer.register(&core);
        Arc::new(Subscriptions {
            core,
            timer,
            closed: AtomicBool::new(false),
        })
    }

    /// Handles any request whose path starts with /v1.0/subscriptions (auth already checked by the router).
    pub fn handle(&self, req: &SimRequest) -> SimResponse {
        self.core.sweep();
        if req.method == "POST" {
            // A subscription may be created: from now on something can expire.
            self.timer.ensure_running();
        }
        let Some(rest) = req.path.strip_prefix("/v1.0/subscriptions") else {
            return SimResponse::graph_error(400, "BadRequest", "not a subscriptions path");
        };
        if !rest.is_empty() && !rest.starts_with('/') {
            return not_found_segment(rest);
        }
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let method = req.method.as_str();
        match (segments.as_slice(), method) {
            ([], "GET") => self.core.list(),
            ([], "POST") => self.core.create(req),
            ([], _) => method_not_allowed("GET, POST"),
            ([id], "GET") => self.core.get(id),
            ([id], "PATCH") => self.core.renew(id, &req.body),
            ([id], "DELETE") => self.core.delete(id),
            ([_], _) => method_not_allowed("GET, PATCH, DELETE"),
            ([id, "reauthorize"], "POST") => self.core.reauthorize(id),
            ([_, "reauthorize"], _) => method_not_allowed("POST"),
            _ => not_found_segment(rest),
        }
    }

    /// Called (without holding tenant locks) after every mutation of a drive.
    pub fn drive_changed(&self, drive_id: &str, origin: ChangeOrigin) {
        self.notify(|sub| match &sub.spec.target {
            Target::Drive(d)
                if d == drive_id && (origin == ChangeOrigin::Content || sub.security_webhooks) =>
            {
                Some(("updated", sub.spec.resource.clone(), None))
            }
            _ => None,
        });
    }

    /// Called (without holding tenant locks) after a site collection was created or deleted.
    pub fn sites_changed(&self, site_id: &str) {
        let data = json!({ "@odata.type": "#Microsoft.Graph.Site", "id": site_id });
        self.notify(|sub| {
            (sub.spec.target == Target::Sites)
                .then(|| ("updated", sub.spec.resource.clone(), Some(data.clone())))
        });
    }

    /// Called (without holding tenant locks) after a group was created, changed or deleted.
    pub fn group_changed(&self, group_id: &str, change: GroupChange) {
        let resource = format!("Groups/{group_id}");
        let data = json!({
            "@odata.type": "#Microsoft.Graph.Group",
            "@odata.id": resource,
            "id": group_id,
            "organizationId": self.core.tenant_id,
        });
        self.notify(|sub| {
            let watches = match &sub.spec.target {
                Target::Groups => true,
                Target::Group(g) => g == group_id,
                _ => false,
            };
            let as_type = Target::notified_as(&sub.spec.change_type, change);
            as_type
                .filter(|_| watches)
                .map(|t| (t, resource.clone(), Some(data.clone())))
        });
    }

    /// Queues a change notification for every subscription `pick` selects, with the
    /// change type, resource and resource data it returns.
    fn notify(
        &self,
        pick: impl Fn(&Subscription) -> Option<(&'static str, String, Option<Value>)>,
    ) {
        self.core.sweep();
        let table = self.core.table.lock();
        for sub in table.values() {
            if let Some((change_type, resource, data)) = pick(sub) {
                self.core.delivery.enqueue(
                    &sub.spec.notification_url,
                    Kind::Change,
                    &sub.id,
                    sub.change_notification(&self.core.tenant_id, change_type, &resource, data),
                );
            }
        }
    }

    /// Replaces the delivery fault knobs.
    pub fn set_config(&self, config: NotificationConfig) {
        self.core.delivery.set_config(config);
    }

    /// Expires subscriptions now (all when None): they disappear like expired ones.
    pub fn expire(&self, id: Option<&str>) {
        let now = self.core.clock.now_ms();
        {
            let mut table = self.core.table.lock();
            for sub in table.values_mut() {
                if id.is_none_or(|id| id == sub.id) {
                    sub.spec.expires_ms = sub.spec.expires_ms.min(now);
                }
            }
        }
        self.core.sweep();
    }

    /// Stats object: subscription counters merged with the delivery counters.
    pub fn stats(&self) -> Value {
        self.core.sweep();
        let active = self.core.table.lock().len();
        let mut stats = {
            let c = self.core.counters.lock();
            json!({
                "subscriptions_active": active,
                "created": c.created,
                "validation_failed": c.validation_failed,
                "deleted": c.deleted,
                "expired": c.expired,
                "reauthorized": c.reauthorized,
            })
        };
        if let (Some(out), Ok(Value::Object(delivery))) = (
            stats.as_object_mut(),
            serde_json::to_value(self.core.delivery.stats()),
        ) {
            out.extend(delivery);
        }
        stats
    }

    /// Stops this tenant's delivery; the last module of a simulator to shut down
    /// stops the shared timer and delivery threads (idempotent; also on Drop).
    pub fn shutdown(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.core.delivery.shutdown();
        self.timer.release();
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn method_not_allowed(allow: &str) -> SimResponse {
    SimResponse::graph_error(
        405,
        "MethodNotAllowed",
        "The HTTP method is not allowed on this resource.",
    )
    .with_header("Allow", allow)
}

fn not_found_segment(rest: &str) -> SimResponse {
    SimResponse::graph_error(
        400,
        "BadRequest",
        &format!("Resource not found for the segment '{rest}'."),
    )
}

fn subscription_not_found(id: &str) -> SimResponse {
    SimResponse::graph_error(
        404,
        "ResourceNotFound",
        &format!("The object '{id}' of type 'subscription' does not exist."),
    )
}

fn invalid_request(message: &str) -> SimResponse {
    SimResponse::graph_error(400, "InvalidRequest", message)
}

impl Core {
    /// Removes expired subscriptions and sends due lifecycle notifications.
    fn sweep(&self) {
        let now = self.clock.now_ms();
        let config = self.delivery.config();
        let lead_ms =
            i64::try_from(config.lifecycle_lead_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let mut table = self.table.lock();
        let mut expired = 0;
        table.retain(|_, sub| {
            if sub.spec.expires_ms <= now {
                expired += 1;
                self.delivery.cancel(&sub.id);
                if config.send_removed_on_expire {
                    self.send_lifecycle(sub, LifecycleEvent::SubscriptionRemoved);
                }
                return false;
            }
            if sub.spec.lifecycle_url.is_some()
                && sub.lifecycle_notified_for != Some(sub.spec.expires_ms)
                && now >= sub.spec.expires_ms.saturating_sub(lead_ms)
            {
                sub.lifecycle_notified_for = Some(sub.spec.expires_ms);
                self.send_lifecycle(sub, LifecycleEvent::ReauthorizationRequired);
            }
            true
        });
        drop(table);
        if expired > 0 {
            self.counters.lock().expired += expired;
        }
    }

    fn send_lifecycle(&self, sub: &Subscription, event: LifecycleEvent) {
        if let Some(url) = &sub.spec.lifecycle_url {
            let body = sub.lifecycle_notification(&self.tenant_id, event);
            self.delivery.enqueue(url, Kind::Lifecycle, &sub.id, body);
        }
    }

    fn list(&self) -> SimResponse {
        let table = self.table.lock();
        let mut subs: Vec<&Subscription> = table.values().collect();
        subs.sort_by(|a, b| a.id.cmp(&b.id));
        let value: Vec<Value> = subs.iter().map(|s| s.to_json()).collect();
        SimResponse::json(
            200,
            &json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions",
                "value": value,
            }),
        )
    }

    fn get(&self, id: &str) -> SimResponse {
        match self.table.lock().get(id) {
            Some(sub) => SimResponse::json(200, &sub.to_json()),
            None => subscription_not_found(id),
        }
    }

    fn create(&self, req: &SimRequest) -> SimResponse {
        let new = match validate::parse_create(&req.body, self.clock.now_ms(), &self.resolve) {
            Ok(new) => new,
            Err(message) => return invalid_request(&message),
        };
        let urls = std::iter::once(&new.notification_url).chain(new.lifecycle_url.as_ref());
        for url in urls {
            let token = format!(
                "Validation: Testing client application reachability for subscription Request-Id: {}",
                record::new_guid()
            );
            if let Err(why) = handshake::validate_endpoint(&self.agent, url, &token) {
                log::info!("subscription validation failed: {why}");
                self.counters.lock().validation_failed += 1;
                return SimResponse::graph_error(
                    400,
                    "ValidationError",
                    &format!(
                        "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({why})"
                    ),
                );
            }
        }
        let sub = Subscription::new(new, req.prefers("includesecuritywebhooks"));
        let reply = SimResponse::json(201, &sub.to_json());
        self.table.lock().insert(sub.id.clone(), sub);
        self.counters.lock().created += 1;
        reply
    }

    fn renew(&self, id: &str, body: &[u8]) -> SimResponse {
        let mut table = self.table.lock();
        let Some(sub) = table.get_mut(id) else {
            return subscription_not_found(id);
        };
        let expires = validate::parse_object(body)
            .and_then(|b| validate::parse_expiry(&b, self.clock.now_ms(), &sub.spec.target));
        match expires {
            Ok(ms) => {
                sub.spec.expires_ms = ms;
                SimResponse::json(200, &sub.to_json())
            }
            Err(message) => invalid_request(&message),
        }
    }

    fn delete(&self, id: &str) -> SimResponse {
        if self.table.lock().remove(id).is_none() {
            return subscription_not_found(id);
        }
        self.delivery.cancel(id);
        self.counters.lock().deleted += 1;
        SimResponse::empty(204)
    }

    fn reauthorize(&self, id: &str) -> SimResponse {
        if !self.table.lock().contains_key(id) {
            return subscription_not_found(id);
        }
        self.counters.lock().reauthorized += 1;
        SimResponse::empty(200)
    }
}
