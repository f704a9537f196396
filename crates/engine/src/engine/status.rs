//! What `status` reports: drives, cursors, errors, journal position, throttling.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::engine::notify::NotificationStats;
use crate::engine::notify::subscriptions::{SubscriptionState, Watched};
use crate::error::Result;
use crate::graph::ThrottleStats;
use crate::store::{AuditRecord, DriveRecord, Store};

/// One drive's state.
#[derive(Debug, Clone, Serialize)]
pub struct DriveStatus {
    /// Drive id.
    pub id: String,
    /// Library or drive name, when known.
    pub name: Option<String>,
    /// `new`, `crawling`, `synced` or `resyncing`.
    pub state: String,
    /// How changes are noticed: `webhook` (a live subscription) or `polling`.
    pub mode: String,
    /// The live subscription's id.
    pub subscription_id: Option<String>,
    /// The live subscription's expiry (ms since the epoch).
    pub subscription_expires_ms: Option<i64>,
    /// Why the drive has no (renewed) subscription, when a request failed.
    pub subscription_error: Option<String>,
    /// Live items mirrored (root excluded).
    pub items: i64,
    /// `none`, `next` (a page sequence is under way) or `delta` (in sync).
    pub cursor: String,
    /// When the last delta round finished (ms since the epoch).
    pub last_delta_ms: Option<i64>,
    /// When the last full crawl finished (ms since the epoch).
    pub last_full_crawl_ms: Option<i64>,
    /// The last error, cleared on the next success.
    pub last_error: Option<String>,
    /// Whether the drive left scope (its items are kept).
    pub removed: bool,
    /// Drift audits completed (see `audit_interval_secs`).
    pub audits: u64,
    /// When the last drift audit completed (ms since the epoch).
    pub last_audit_ms: Option<i64>,
    /// Changes the last audit found that delta had not reported.
    pub last_audit_drift: Option<i64>,
    /// Changes all audits of the drive found that delta had not reported.
    pub drift_total: i64,
    /// Files whose current content was never downloaded (cTag differs from the one
    /// last downloaded, or none was).
    pub downloads_pending: u64,
    /// Items with unique permissions whose grants are stored (`permissions.fetch`).
    pub permission_roots: u64,
    /// Items whose permissions wait for a fetch.
    pub permissions_pending: u64,
    /// Graph refused this drive's permissions (403) in this run and has not answered
    /// since: the app lacks Sites.FullControl.All.
    pub permissions_denied: bool,
}

impl DriveStatus {
    fn from_record(d: DriveRecord) -> DriveStatus {
        let cursor = match d.cursor.as_deref() {
            None => "none",
            Some(_) if d.cursor_is_delta => "delta",
            Some(_) => "next",
        };
        DriveStatus {
            state: d.state.as_str().to_string(),
            mode: "polling".to_string(),
            subscription_id: None,
            subscription_expires_ms: None,
            subscription_error: None,
            items: d.item_count,
            cursor: cursor.to_string(),
            last_delta_ms: d.last_delta_ms,
            last_full_crawl_ms: d.last_full_crawl_ms,
            last_error: d.last_error,
            removed: d.removed,
            audits: 0,
            last_audit_ms: None,
            last_audit_drift: None,
            drift_total: 0,
            downloads_pending: 0,
            permission_roots: 0,
            permissions_pending: 0,
            permissions_denied: false,
            name: d.name,
            id: d.id,
        }
    }

    fn apply_audit(&mut self, record: &AuditRecord) {
        self.audits = record.audits;
        self.last_audit_ms = record.last_audit_ms;
        self.last_audit_drift = record.last_drift;
        self.drift_total = record.drift_total;
    }
}

/// The `meta` key under which the engine saves its throttle counters.
const THROTTLE_STATS_KEY: &str = "throttle_stats";

/// Saves the throttle counters so that `m365sync status --db` can show them.
pub fn save_throttle_stats(store: &Store, stats: &ThrottleStats) -> Result<()> {
    let json = serde_json::to_string(stats).map_err(|e| crate::Error::Protocol(e.to_string()))?;
    store.set_meta(THROTTLE_STATS_KEY, &json)
}

/// A snapshot of the engine, as `m365sync status` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Whether the engine's threads run.
    pub running: bool,
    /// Every drive known to the store.
    pub drives: Vec<DriveStatus>,
    /// Seq of the newest journal event.
    pub last_seq: i64,
    /// Seq of the newest acked event.
    pub acked_seq: i64,
    /// Journal events by kind.
    pub events_by_kind: BTreeMap<String, i64>,
    /// Throttle counters: live from a running engine, else as last saved in the database.
    pub throttle: Option<ThrottleStats>,
    /// Items applied since start.
    pub items_applied: u64,
    /// Delta pages applied since start.
    pub pages: u64,
    /// Notification counters (present when webhooks are configured and the engine is open).
    pub notifications: Option<NotificationStats>,
    /// The URL Graph posts notifications to (present once started with webhooks).
    pub notification_url: Option<String>,
    /// Changes drift audits found that delta had not reported, over all drives.
    pub drift_total: i64,
    /// The tenant-level subscriptions of discovery (`/sites`, `/groups`), when webhooks
    /// are on and the scope asks for them.
    pub tenant_subscriptions: Vec<TenantSubscriptionStatus>,
    /// The managed mirror's counters since start (present when `download.dir` is set
    /// and the engine is open).
    pub mirror: Option<MirrorStats>,
}

/// What the managed mirror did since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MirrorStats {
    /// Files stored (each a new cTag).
    pub files_stored: u64,
    /// Bytes of those files.
    pub bytes_stored: u64,
    /// Downloads that failed (each is tried again later).
    pub downloads_failed: u64,
}

/// A subscription that watches a collection rather than a drive.
#[derive(Debug, Clone, Serialize)]
pub struct TenantSubscriptionStatus {
    /// The collection: `/sites` or `/groups`.
    pub resource: String,
    /// The live subscription's id.
    pub subscription_id: Option<String>,
    /// Its expiry (ms since the epoch).
    pub subscription_expires_ms: Option<i64>,
    /// Why there is no (renewed) subscription, when a request failed.
    pub subscription_error: Option<String>,
}

impl Status {
    /// Reads what the database alone knows.
    pub(crate) fn from_store(store: &Store, consumer: &str) -> Result<Status> {
        let mut drives = Vec::new();
        for record in store.drives()? {
            let audit = store.audit_record(&record.id)?;
            let pending = store.pending_download_count(&record.id)?;
            let mut drive = DriveStatus::from_record(record);
            drive.apply_audit(&audit);
            drive.downloads_pending = pending;
            (drive.permission_roots, drive.permissions_pending) =
                store.permission_counts(&drive.id)?;
            drives.push(drive);
        }
        Ok(Status {
            running: false,
            drift_total: drives.iter().map(|d| d.drift_total).sum(),
            drives,
            last_seq: store.last_seq()?,
            acked_seq: store.acked_seq(consumer)?,
            events_by_kind: store
                .event_counts()?
                .into_iter()
                .map(|(k, n)| (k.as_str().to_string(), n))
                .collect(),
            throttle: store
                .meta(THROTTLE_STATS_KEY)?
                .and_then(|json| serde_json::from_str(&json).ok()),
            items_applied: 0,
            pages: 0,
            notifications: None,
            notification_url: None,
            tenant_subscriptions: Vec::new(),
            mirror: None,
        })
    }

    /// Fills each drive's mode and subscription fields, and the tenant-level
    /// subscriptions, from the manager's board.
    pub(crate) fn apply_subscriptions(&mut self, board: &HashMap<String, SubscriptionState>) {
        for drive in &mut self.drives {
            let Some(state) = board.get(&drive.id) else {
                continue;
            };
            drive.mode = state.mode().as_str().to_string();
            drive.subscription_id = state.subscription_id.clone();
            drive.subscription_expires_ms = state.expires_ms;
            drive.subscription_error = state.error.clone();
        }
        let mut tenant: Vec<_> = board
            .iter()
            .filter(|(key, _)| !matches!(Watched::from_key(key), Watched::Drive(_)))
            .map(|(key, state)| TenantSubscriptionStatus {
                resource: key.clone(),
                subscription_id: state.subscription_id.clone(),
                subscription_expires_ms: state.expires_ms,
                subscription_error: state.error.clone(),
            })
            .collect();
        tenant.sort_by(|a, b| a.resource.cmp(&b.resource));
        self.tenant_subscriptions = tenant;
    }

    /// Total live items over all drives.
    pub fn total_items(&self) -> i64 {
        self.drives.iter().map(|d| d.items).sum()
    }
}
