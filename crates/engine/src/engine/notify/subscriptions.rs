//! The subscription manager thread: one `/drives/{id}/root` subscription per drive,
//! and, when discovery looks at sites or groups, one on `/sites` and one on `/groups`;
//! each kept alive by renewal timers (within its resource's maximum lifetime),
//! recreated when lost, reconciled with Graph at start.
//!
//! Every (re)subscribe is followed by a catch-up (a delta of the drive, or a
//! discovery round of sites or groups), and every loss or failure puts a drive back to
//! polling until a new subscription is live (sites and groups fall back to the
//! discovery interval). All requests go through the shared [`GraphClient`] and so
//! through the ThrottleGate.
//!
//! The manager keys everything (timers, the registry, stored subscriptions, journal
//! events) by the watched key: a drive id, or [`Watched::Sites`]'s `/sites` and
//! [`Watched::Groups`]'s `/groups`, which cannot be drive ids.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log::{info, warn};
use parking_lot::Mutex;
use serde_json::json;

use super::{ClientState, KnownSubscription, Registry};
use crate::config::WebhookConfig;
use crate::engine::journal::JournalSignal;
use crate::engine::messages::{DriveMode, LifecycleEvent, ManagerMsg, SchedulerMsg, Wake};
use crate::error::{Error, Result};
use crate::event::{EventKind, tenant_events};
use crate::graph::types::{Collection, Subscription};
use crate::graph::{GraphClient, RequestKind};
use crate::store::Store;
use crate::time::{format_iso, now_ms, parse_iso};

/// Longest wait between two attempts at a failing subscription request.
const MAX_RETRY_MS: i64 = 3_600_000;
/// Most pages of `GET /subscriptions` read at start.
const MAX_LIST_PAGES: usize = 100;
/// Graph's maximum lifetime of a subscription on groups (directory resources).
pub const MAX_GROUPS_SUBSCRIPTION_SECS: u64 = 41_760 * 60;
/// Graph's maximum lifetime of a SharePoint list subscription, used for `/sites`
/// (Graph documents no value of its own for it).
pub const MAX_SITES_SUBSCRIPTION_SECS: u64 = 42_300 * 60;
/// Lifetimes asked for stay this far below a resource's maximum (clock skew).
const SKEW_MARGIN_SECS: u64 = 3600;

/// What a subscription watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Watched {
    /// A drive's root: changes of its items.
    Drive(String),
    /// The tenant's site collections: sites created or deleted.
    Sites,
    /// The tenant's groups: groups created, changed or deleted.
    Groups,
}

impl Watched {
    /// What `key` (a drive id, `/sites` or `/groups`) watches.
    pub fn from_key(key: &str) -> Watched {
        match key {
            tenant_events::SITES => Watched::Sites,
            tenant_events::GROUPS => Watched::Groups,
            drive => Watched::Drive(drive.to_string()),
        }
    }

    /// The key of timers, registry, store and journal events.
    #[cfg(test)]
    fn key(&self) -> &str {
        match self {
            Watched::Drive(d) => d,
            Watched::Sites => tenant_events::SITES,
            Watched::Groups => tenant_events::GROUPS,
        }
    }

    /// The subscription resource.
    fn resource(&self) -> String {
        match self {
            Watched::Drive(d) => format!("/drives/{d}/root"),
            Watched::Sites => "/sites".into(),
            Watched::Groups => "/groups".into(),
        }
    }

    /// The change types asked for (Graph allows only `updated` on drive roots and lists).
    fn change_type(&self) -> &'static str {
        match self {
            Watched::Drive(_) | Watched::Sites => "updated",
            Watched::Groups => "updated,deleted",
        }
    }

    /// The lifetime to ask for: `webhook.expiry_secs`, capped below the resource's maximum.
    fn lifetime_secs(&self, configured: u64) -> u64 {
        let max = match self {
            Watched::Drive(_) => return configured,
            Watched::Sites => MAX_SITES_SUBSCRIPTION_SECS,
            Watched::Groups => MAX_GROUPS_SUBSCRIPTION_SECS,
        };
        configured.min(max - SKEW_MARGIN_SECS)
    }
}

/// A drive's subscription as status shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionState {
    /// The live subscription, if any.
    pub subscription_id: Option<String>,
    /// Its expiry, ms since the epoch.
    pub expires_ms: Option<i64>,
    /// Why the drive has no subscription, when a request failed.
    pub error: Option<String>,
}

impl SubscriptionState {
    /// `webhook` with a live subscription, else `polling`.
    pub fn mode(&self) -> DriveMode {
        if self.subscription_id.is_some() {
            DriveMode::Webhook
        } else {
            DriveMode::Polling
        }
    }
}

/// Subscription states by key (a drive id, `/sites` or `/groups`), written by the
/// manager, read by status.
pub type SubscriptionBoard = Arc<Mutex<HashMap<String, SubscriptionState>>>;

/// What the manager thread needs.
pub struct ManagerContext {
    /// The shared Graph client.
    pub client: Arc<GraphClient>,
    /// The manager's own connection.
    pub store: Store,
    /// Subscriptions notifications are checked against.
    pub registry: Arc<Registry>,
    /// Status of each subscription (drives, `/sites`, `/groups`).
    pub board: SubscriptionBoard,
    /// Where mode changes and catch-up runs go.
    pub scheduler: Sender<SchedulerMsg>,
    /// Told about journal events.
    pub journal: Arc<JournalSignal>,
    /// Lifetimes, margins, retries.
    pub config: WebhookConfig,
    /// The URL Graph posts notifications (and lifecycle notifications) to.
    pub notification_url: String,
    /// Ask for permission changes too (`Prefer: includesecuritywebhooks`).
    pub track_permissions: bool,
    /// What to subscribe to: drive ids, and `/sites` and `/groups` (see [`Watched::key`]).
    pub drives: Vec<String>,
    /// Told to run a discovery round after a `/sites` or `/groups` (re)subscribe.
    pub discovery: Option<Sender<Wake>>,
}

/// The manager's timer for one drive.
#[derive(Debug, Clone)]
struct DriveTimer {
    /// The live subscription: (id, expiry ms).
    live: Option<(String, i64)>,
    /// When to create (no live subscription) or renew (live one), ms since the epoch.
    due_ms: i64,
    /// Failed requests in a row.
    failures: u32,
}

struct Manager {
    ctx: ManagerContext,
    timers: HashMap<String, DriveTimer>,
}

/// Runs the manager until [`ManagerMsg::Stop`] or until the inbox closes.
pub fn run(ctx: ManagerContext, inbox: Receiver<ManagerMsg>) {
    let mut m = Manager {
        timers: HashMap::new(),
        ctx,
    };
    m.reconcile();
    loop {
        m.run_due();
        let wait = m
            .timers
            .values()
            .map(|t| t.due_ms)
            .min()
            .map(|due| Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0)));
        let msg = match wait {
            Some(w) => inbox.recv_timeout(w),
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match msg {
            Ok(ManagerMsg::Lifecycle {
                subscription_id,
                drive_id,
                event,
            }) => m.lifecycle(&subscription_id, &drive_id, event),
            Ok(ManagerMsg::DriveAdded(drive)) => m.drive_added(drive),
            Ok(ManagerMsg::DriveRemoved(drive)) => m.drive_removed(&drive),
            Ok(ManagerMsg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    if m.ctx.config.delete_on_shutdown {
        m.delete_all();
    }
}

/// Whether `key` is a drive (not `/sites` or `/groups`): only drives have a status
/// entry and a scheduler mode.
fn is_drive(key: &str) -> bool {
    matches!(Watched::from_key(key), Watched::Drive(_))
}

impl Manager {
    /// Keeps the stored subscriptions Graph still has for our URL and drives, deletes
    /// stale ones of ours, and schedules a create for every drive left without one.
    fn reconcile(&mut self) {
        let stored = self.ctx.store.subscriptions().unwrap_or_else(|e| {
            warn!("cannot read stored subscriptions: {e}");
            Vec::new()
        });
        let stored_ids: HashSet<&str> = stored.iter().map(|s| s.id.as_str()).collect();
        let wanted: HashSet<&str> = self.ctx.drives.iter().map(String::as_str).collect();
        let remote = match self.list_remote() {
            Ok(remote) => Some(remote),
            Err(e) => {
                warn!("cannot list subscriptions ({e}); renewing the stored ones to check them");
                None
            }
        };
        let mut kept: HashMap<String, (String, i64, String)> = HashMap::new();
        for record in &stored {
            let remote_sub = remote
                .as_ref()
                .map(|r| r.iter().find(|s| s.id == record.id));
            let alive = match remote_sub {
                Some(Some(s)) => s.notification_url.as_deref() == Some(&self.ctx.notification_url),
                Some(None) => false,
                None => true,
            };
            let usable = alive
                && wanted.contains(record.drive_id.as_str())
                && !kept.contains_key(&record.drive_id);
            if usable {
                kept.insert(
                    record.drive_id.clone(),
                    (
                        record.id.clone(),
                        record.expires_at_ms,
                        record.client_state_hash.clone(),
                    ),
                );
            } else {
                info!(
                    "subscription {} is gone, stale or a duplicate; dropped",
                    record.id
                );
                let _ = self.ctx.store.delete_subscription(&record.id);
                if remote_sub.is_some_and(|s| s.is_some()) {
                    self.delete_remote(&record.id);
                }
            }
        }
        // Subscriptions to our URL that the store does not know: leftovers of ours.
        for sub in remote.iter().flatten() {
            let ours = sub.notification_url.as_deref() == Some(&self.ctx.notification_url);
            if ours && !stored_ids.contains(sub.id.as_str()) {
                info!("deleting stale subscription {}", sub.id);
                self.delete_remote(&sub.id);
            }
        }
        let now = now_ms();
        for drive in self.ctx.drives.clone() {
            let timer = match kept.remove(&drive) {
                Some((id, expires, hash)) => {
                    self.go_live(&drive, &id, expires, hash);
                    info!("drive {drive}: reusing subscription {id}");
                    DriveTimer {
                        // Unverified (Graph could not be listed): renewing checks it.
                        due_ms: if remote.is_some() {
                            self.renew_at(&drive, expires)
                        } else {
                            now
                        },
                        live: Some((id, expires)),
                        failures: 0,
                    }
                }
                None => DriveTimer {
                    live: None,
                    due_ms: now,
                    failures: 0,
                },
            };
            self.timers.insert(drive, timer);
        }
    }

    fn list_remote(&self) -> Result<Vec<Subscription>> {
        let mut all = Vec::new();
        let mut url = "/subscriptions".to_string();
        for _ in 0..MAX_LIST_PAGES {
            let page: Collection<Subscription> =
                self.ctx.client.get_json(&url, RequestKind::List)?;
            all.extend(page.value);
            match page.next_link {
                Some(next) => url = next,
                None => return Ok(all),
            }
        }
        Err(Error::Protocol("GET /subscriptions pages never end".into()))
    }

    fn delete_remote(&self, id: &str) {
        match self.ctx.client.delete(&format!("/subscriptions/{id}")) {
            Ok(()) | Err(Error::Graph(crate::error::GraphError { status: 404, .. })) => {}
            Err(e) => warn!("cannot delete subscription {id}: {e}"),
        }
    }

    /// Runs every create or renewal that is due.
    fn run_due(&mut self) {
        let now = now_ms();
        let due: Vec<String> = self
            .timers
            .iter()
            .filter(|(_, t)| t.due_ms <= now)
            .map(|(d, _)| d.clone())
            .collect();
        for drive in due {
            match self.timers.get(&drive).and_then(|t| t.live.clone()) {
                Some((id, expires)) => self.renew(&drive, &id, expires),
                None => self.create(&drive),
            }
        }
    }

    fn create(&mut self, drive: &str) {
        let secret = ClientState::generate();
        let watched = Watched::from_key(drive);
        let resource = watched.resource();
        let expires = now_ms() + self.lifetime_ms(drive);
        let body = json!({
            "changeType": watched.change_type(),
            "notificationUrl": self.ctx.notification_url,
            "lifecycleNotificationUrl": self.ctx.notification_url,
            "resource": resource,
            "expirationDateTime": format_iso(expires),
            "clientState": secret.expose(),
        });
        let prefer = [("Prefer", "includesecuritywebhooks")];
        let headers: &[(&str, &str)] = if self.ctx.track_permissions {
            &prefer
        } else {
            &[]
        };
        let created = self
            .ctx
            .client
            .send_json("POST", "/subscriptions", &body, headers, RequestKind::Write)
            .and_then(|v| {
                serde_json::from_value::<Subscription>(v)
                    .map_err(|e| Error::Protocol(format!("subscription reply: {e}")))
            });
        let sub = match created {
            Ok(sub) => sub,
            Err(e) => return self.failed(drive, "creating the subscription", &e),
        };
        let expires = sub
            .expiration_date_time
            .as_deref()
            .and_then(parse_iso)
            .unwrap_or(expires);
        let hash = secret.hash();
        if let Err(e) = self
            .ctx
            .store
            .upsert_subscription(&sub.id, drive, &resource, expires, &hash)
        {
            warn!("drive {drive}: cannot store subscription {}: {e}", sub.id);
        }
        info!("drive {drive}: subscribed ({})", sub.id);
        self.go_live(drive, &sub.id, expires, hash);
        self.journal(EventKind::SubscriptionCreated, drive, &sub.id);
        self.set_timer(
            drive,
            Some((sub.id, expires)),
            self.renew_at(drive, expires),
            0,
        );
        // Catch up with whatever changed while there was no subscription.
        match watched {
            Watched::Drive(_) => {
                let _ = self
                    .ctx
                    .scheduler
                    .send(SchedulerMsg::Dirty(drive.to_string()));
            }
            Watched::Sites => self.wake_discovery(Wake::Sites),
            Watched::Groups => self.wake_discovery(Wake::Groups),
        }
    }

    fn wake_discovery(&self, wake: Wake) {
        if let Some(tx) = &self.ctx.discovery {
            let _ = tx.send(wake);
        }
    }

    fn renew(&mut self, drive: &str, id: &str, expires: i64) {
        let new_expiry = now_ms() + self.lifetime_ms(drive);
        let body = json!({ "expirationDateTime": format_iso(new_expiry) });
        let path = format!("/subscriptions/{id}");
        let renewed = self
            .ctx
            .client
            .send_json("PATCH", &path, &body, &[], RequestKind::Write);
        match renewed {
            Ok(reply) => {
                let expires = reply
                    .get("expirationDateTime")
                    .and_then(|v| v.as_str())
                    .and_then(parse_iso)
                    .unwrap_or(new_expiry);
                if let Err(e) = self.ctx.store.update_subscription_expiry(id, expires) {
                    warn!("drive {drive}: cannot store the new expiry of {id}: {e}");
                }
                self.update_board(drive, |state| state.expires_ms = Some(expires));
                self.journal(EventKind::SubscriptionRenewed, drive, id);
                self.set_timer(
                    drive,
                    Some((id.to_string(), expires)),
                    self.renew_at(drive, expires),
                    0,
                );
            }
            Err(Error::Graph(g)) if g.status == 404 => {
                self.lost(drive, id, "not found on renewal (expired or deleted)");
            }
            Err(e) if now_ms() >= expires => {
                self.lost(drive, id, &format!("expired: renewal failed ({e})"));
            }
            Err(e) => self.failed(drive, "renewing the subscription", &e),
        }
    }

    fn lifecycle(&mut self, id: &str, drive: &str, event: LifecycleEvent) {
        let current = self
            .timers
            .get(drive)
            .and_then(|t| t.live.clone())
            .filter(|(live, _)| live == id);
        let Some((_, expires)) = current else {
            info!("lifecycle event for replaced subscription {id}: ignored");
            return;
        };
        match event {
            LifecycleEvent::SubscriptionRemoved => self.lost(drive, id, "removed by Graph"),
            LifecycleEvent::ReauthorizationRequired => {
                let path = format!("/subscriptions/{id}/reauthorize");
                let reply =
                    self.ctx
                        .client
                        .send_json("POST", &path, &json!({}), &[], RequestKind::Write);
                match reply {
                    Ok(_) => info!("drive {drive}: subscription {id} reauthorized"),
                    Err(Error::Graph(g)) if g.status == 404 => {
                        self.lost(drive, id, "not found on reauthorization");
                    }
                    Err(e) => {
                        warn!("drive {drive}: reauthorizing {id} failed ({e}); renewing instead");
                        self.renew(drive, id, expires);
                    }
                }
            }
        }
    }

    /// A drive new to the engine: create its subscription now (the create's catch-up
    /// delta then runs after the crawl the scheduler already started).
    fn drive_added(&mut self, drive: String) {
        if !self.timers.contains_key(&drive) {
            self.go_polling(&drive, None);
            self.set_timer(&drive, None, now_ms(), 0);
            self.ctx.drives.push(drive);
        }
    }

    /// A drive that left the engine: its subscription goes, at Graph and here.
    fn drive_removed(&mut self, drive: &str) {
        self.ctx.drives.retain(|d| d != drive);
        self.ctx.board.lock().remove(drive);
        let Some(timer) = self.timers.remove(drive) else {
            return;
        };
        if let Some((id, _)) = timer.live {
            info!("drive {drive}: removed; deleting subscription {id}");
            self.ctx.registry.remove(&id);
            self.delete_remote(&id);
            if let Err(e) = self.ctx.store.delete_subscription(&id) {
                warn!("drive {drive}: cannot forget subscription {id}: {e}");
            }
        }
    }

    /// The subscription is gone: journal it, poll meanwhile, recreate at once.
    fn lost(&mut self, drive: &str, id: &str, why: &str) {
        warn!("drive {drive}: subscription {id} lost: {why}");
        self.ctx.registry.remove(id);
        if let Err(e) = self.ctx.store.delete_subscription(id) {
            warn!("drive {drive}: cannot forget subscription {id}: {e}");
        }
        self.journal(EventKind::SubscriptionLost, drive, &format!("{id}: {why}"));
        self.go_polling(drive, None);
        self.set_timer(drive, None, now_ms(), 0);
    }

    /// A request failed: say so in status, poll meanwhile (when there is no live
    /// subscription), and retry with a doubling wait (never past a live one's expiry).
    fn failed(&mut self, drive: &str, what: &str, e: &Error) {
        if matches!(e, Error::Stopped) {
            return;
        }
        let (live, failures) = self
            .timers
            .get(drive)
            .map_or((None, 0), |t| (t.live.clone(), t.failures));
        let failures = failures.saturating_add(1);
        let base =
            i64::try_from(self.ctx.config.retry_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let wait = base
            .saturating_mul(1 << failures.saturating_sub(1).min(20))
            .min(MAX_RETRY_MS);
        let mut due = now_ms().saturating_add(wait);
        let message = format!("{what} failed: {e}");
        warn!("drive {drive}: {message} (attempt {failures})");
        match &live {
            Some((_, expires)) => {
                due = due.min(*expires);
                self.update_board(drive, |state| state.error = Some(message.clone()));
            }
            None => self.go_polling(drive, Some(message.clone())),
        }
        if failures == 1 {
            self.journal(EventKind::Error, drive, &message);
        }
        self.set_timer(drive, live, due, failures);
    }

    fn go_live(&self, drive: &str, id: &str, expires: i64, client_state_hash: String) {
        self.ctx.registry.insert(
            id,
            KnownSubscription {
                drive_id: drive.to_string(),
                client_state_hash,
            },
        );
        self.ctx.board.lock().insert(
            drive.to_string(),
            SubscriptionState {
                subscription_id: Some(id.to_string()),
                expires_ms: Some(expires),
                error: None,
            },
        );
        if is_drive(drive) {
            self.set_mode(drive, DriveMode::Webhook);
        }
    }

    fn go_polling(&self, drive: &str, error: Option<String>) {
        self.ctx.board.lock().insert(
            drive.to_string(),
            SubscriptionState {
                subscription_id: None,
                expires_ms: None,
                error,
            },
        );
        if is_drive(drive) {
            self.set_mode(drive, DriveMode::Polling);
        }
    }

    /// Changes an entry (a drive, `/sites` or `/groups`) of the status board.
    fn update_board(&self, drive: &str, change: impl FnOnce(&mut SubscriptionState)) {
        change(self.ctx.board.lock().entry(drive.to_string()).or_default());
    }

    fn set_mode(&self, drive: &str, mode: DriveMode) {
        let _ = self.ctx.scheduler.send(SchedulerMsg::SetMode {
            drive: drive.to_string(),
            mode,
        });
    }

    fn set_timer(&mut self, drive: &str, live: Option<(String, i64)>, due_ms: i64, failures: u32) {
        self.timers.insert(
            drive.to_string(),
            DriveTimer {
                live,
                due_ms,
                failures,
            },
        );
    }

    fn journal(&self, kind: EventKind, drive: &str, detail: &str) {
        match self.ctx.store.append_event(kind, drive, detail) {
            Ok(seq) => self.ctx.journal.published(seq),
            Err(e) => warn!("drive {drive}: cannot journal {kind}: {e}"),
        }
    }

    /// The lifetime asked for `drive`'s subscription (see [`Watched::lifetime_secs`]).
    fn lifetime_ms(&self, drive: &str) -> i64 {
        let secs = Watched::from_key(drive).lifetime_secs(self.ctx.config.expiry_secs);
        i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// When `drive`'s subscription expiring at `expires` should be renewed: the
    /// configured margin before, but never more than half a lifetime (a shorter
    /// lifetime, as for groups, must not mean renewing at once, forever).
    fn renew_at(&self, drive: &str, expires: i64) -> i64 {
        let margin =
            i64::try_from(self.ctx.config.renew_margin_secs.saturating_mul(1000)).unwrap_or(0);
        expires.saturating_sub(margin.min(self.lifetime_ms(drive) / 2))
    }

    fn delete_all(&mut self) {
        for (drive, timer) in std::mem::take(&mut self.timers) {
            if let Some((id, _)) = timer.live {
                self.delete_remote(&id);
                self.ctx.registry.remove(&id);
                let _ = self.ctx.store.delete_subscription(&id);
                info!("drive {drive}: subscription {id} deleted on shutdown");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MAX_SUBSCRIPTION_SECS;

    #[test]
    fn lifetimes_stay_within_each_resources_maximum() {
        let default = MAX_SUBSCRIPTION_SECS - 3600;
        let drive = Watched::Drive("b!x".into());
        assert_eq!(drive.lifetime_secs(default), default);
        assert_eq!(Watched::Sites.lifetime_secs(default), default);
        assert_eq!(
            Watched::Groups.lifetime_secs(default),
            MAX_GROUPS_SUBSCRIPTION_SECS - 3600
        );
        assert_eq!(Watched::Groups.lifetime_secs(600), 600);
        for w in [drive, Watched::Sites, Watched::Groups] {
            assert_eq!(Watched::from_key(w.key()), w);
        }
        assert_eq!(Watched::Groups.resource(), "/groups");
        assert_eq!(Watched::Groups.change_type(), "updated,deleted");
        assert_eq!(Watched::Sites.change_type(), "updated");
    }
}
