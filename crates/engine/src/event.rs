//! Change events: what the engine reports to the host.

use crate::facets::ItemFacets;
use crate::permissions::PermissionChange;
use serde::Serialize;

/// What happened. The numeric values are part of the C ABI: they only grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum EventKind {
    /// A new item appeared.
    Created = 1,
    /// A file's content changed (cTag, or hash/size/time when cTag is absent).
    ContentChanged = 2,
    /// Only metadata changed (eTag).
    MetadataChanged = 3,
    /// The item was renamed within the same parent.
    Renamed = 4,
    /// The item moved to another parent (possibly renamed too).
    Moved = 5,
    /// The item was deleted; for a folder, its whole subtree is gone.
    Deleted = 6,
    /// The item's sharing changed. With `permissions.fetch`, `detail` is the
    /// [`PermissionChange`] as JSON (added and removed grants, where the item now
    /// inherits from, how many items it affects); one event for a folder and every item
    /// inheriting from it.
    PermissionsChanged = 7,
    /// The drive's delta token expired; a full re-enumeration started.
    ResyncStarted = 8,
    /// The re-enumeration finished; differences were reported as events before this one.
    ResyncCompleted = 9,
    /// The first full crawl of a drive finished.
    CrawlCompleted = 10,
    /// A change-notification subscription was created for the drive.
    SubscriptionCreated = 11,
    /// The drive's subscription was renewed.
    SubscriptionRenewed = 12,
    /// The drive's subscription was lost (expired, removed, or could not be renewed).
    SubscriptionLost = 13,
    /// A drive came into scope.
    DriveAdded = 14,
    /// A drive left scope or disappeared; its items are kept and marked.
    DriveRemoved = 15,
    /// A persistent error on the drive; `detail` says what.
    Error = 16,
    /// The managed mirror stored a file's current content: `detail` is the local path,
    /// `ctag` and `size` those of the content, `facets.hashes.quick_xor` its verified
    /// hash. Once per cTag.
    ContentStored = 17,
}

impl EventKind {
    /// Every kind, in numeric order.
    pub const ALL: [EventKind; 17] = [
        EventKind::Created,
        EventKind::ContentChanged,
        EventKind::MetadataChanged,
        EventKind::Renamed,
        EventKind::Moved,
        EventKind::Deleted,
        EventKind::PermissionsChanged,
        EventKind::ResyncStarted,
        EventKind::ResyncCompleted,
        EventKind::CrawlCompleted,
        EventKind::SubscriptionCreated,
        EventKind::SubscriptionRenewed,
        EventKind::SubscriptionLost,
        EventKind::DriveAdded,
        EventKind::DriveRemoved,
        EventKind::Error,
        EventKind::ContentStored,
    ];

    /// The snake_case name used in JSON, SQLite and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::ContentChanged => "content_changed",
            EventKind::MetadataChanged => "metadata_changed",
            EventKind::Renamed => "renamed",
            EventKind::Moved => "moved",
            EventKind::Deleted => "deleted",
            EventKind::PermissionsChanged => "permissions_changed",
            EventKind::ResyncStarted => "resync_started",
            EventKind::ResyncCompleted => "resync_completed",
            EventKind::CrawlCompleted => "crawl_completed",
            EventKind::SubscriptionCreated => "subscription_created",
            EventKind::SubscriptionRenewed => "subscription_renewed",
            EventKind::SubscriptionLost => "subscription_lost",
            EventKind::DriveAdded => "drive_added",
            EventKind::DriveRemoved => "drive_removed",
            EventKind::Error => "error",
            EventKind::ContentStored => "content_stored",
        }
    }

    /// Parses a name produced by [`EventKind::as_str`].
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the event concerns one item (as opposed to a drive or subscription).
    pub fn is_item_change(self) -> bool {
        (self as u32) <= EventKind::PermissionsChanged as u32
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One journal entry. `seq` increases strictly; delivery is at-least-once until acked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Position in the journal.
    pub seq: i64,
    /// What happened.
    pub kind: EventKind,
    /// The drive concerned. Tenant-level events (discovery `error`s, the `/sites` and
    /// `/groups` subscriptions' `subscription_*` events) carry the Graph collection
    /// they concern instead, starting with `/` so it is never a drive id: `/sites`,
    /// `/users`, `/groups`, or `/` for a discovery round that failed as a whole.
    pub drive_id: String,
    /// The item concerned; empty for drive-level events.
    pub item_id: String,
    /// Path of the item after the change (`/` is the drive root); empty when unknown.
    pub path: String,
    /// Path before a rename or move; empty otherwise.
    pub old_path: String,
    /// cTag after the change, when Graph sent one.
    pub ctag: String,
    /// eTag after the change, when Graph sent one.
    pub etag: String,
    /// Size in bytes (0 for folders and drive-level events).
    pub size: i64,
    /// Whether the item is a folder.
    pub is_folder: bool,
    /// Milliseconds since the Unix epoch when the engine recorded the event.
    pub at_ms: i64,
    /// Free text for drive-level events (error message, subscription id), the local path
    /// of `content_stored`, the JSON diff of `permissions_changed` (see
    /// [`Event::permission_change`]); empty otherwise.
    pub detail: String,
    /// The item's facets when the event was recorded (package, malware, shortcut, MIME
    /// type, hashes, authors, URLs); empty for deletes and drive-level events.
    #[serde(skip_serializing_if = "ItemFacets::is_empty")]
    pub facets: ItemFacets,
}

impl Event {
    /// The diff a `permissions_changed` event carries when the engine fetches
    /// permissions; `None` for other events and for changes without details.
    pub fn permission_change(&self) -> Option<PermissionChange> {
        if self.kind != EventKind::PermissionsChanged || self.detail.is_empty() {
            return None;
        }
        serde_json::from_str(&self.detail).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_codes_are_dense() {
        for (i, k) in EventKind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i + 1);
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert!(EventKind::Deleted.is_item_change());
        assert!(!EventKind::CrawlCompleted.is_item_change());
    }
}

/// Drive ids of tenant-level events: the Graph collection they concern. They start
/// with `/`, so they are never confused with a drive id.
pub mod tenant_events {
    /// Events about site collections (listing problems, the `/sites` subscription).
    pub const SITES: &str = "/sites";
    /// Events about users' OneDrives (listing problems).
    pub const USERS: &str = "/users";
    /// Events about groups (listing problems, the `/groups` subscription).
    pub const GROUPS: &str = "/groups";
    /// A discovery round that failed as a whole (the store could not be updated).
    pub const DISCOVERY: &str = "/";
}
