//! The plain records the store hands out and takes in.

use std::fmt;

/// Where a drive is in its life: `New → Crawling → Synced ⇄ Resyncing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriveState {
    /// Known, never enumerated.
    New,
    /// The first full enumeration is under way.
    Crawling,
    /// Enumerated; kept current with incremental delta rounds.
    Synced,
    /// A full re-enumeration after a 410 is under way.
    Resyncing,
}

impl DriveState {
    /// The name stored in SQLite and shown in status output.
    pub fn as_str(self) -> &'static str {
        match self {
            DriveState::New => "new",
            DriveState::Crawling => "crawling",
            DriveState::Synced => "synced",
            DriveState::Resyncing => "resyncing",
        }
    }

    /// Parses a name produced by [`DriveState::as_str`].
    pub fn parse(name: &str) -> Option<DriveState> {
        [
            DriveState::New,
            DriveState::Crawling,
            DriveState::Synced,
            DriveState::Resyncing,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// Whether a full enumeration (first crawl or resync) is under way.
    pub fn is_enumerating(self) -> bool {
        matches!(self, DriveState::Crawling | DriveState::Resyncing)
    }
}

impl fmt::Display for DriveState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A drive as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveRecord {
    /// Graph drive id.
    pub id: String,
    /// The site holding the drive, for document libraries.
    pub site_id: Option<String>,
    /// Display name, e.g. "Documents".
    pub name: Option<String>,
    /// Graph `driveType` (`business`, `documentLibrary`, `personal`).
    pub kind: Option<String>,
    /// Where the drive is in its life.
    pub state: DriveState,
    /// The link to fetch next: a nextLink mid-round, the deltaLink between rounds, or
    /// `None` when an enumeration starts from scratch.
    pub cursor: Option<String>,
    /// Whether `cursor` is a deltaLink (the drive is between rounds) rather than a nextLink.
    pub cursor_is_delta: bool,
    /// When the first full crawl completed.
    pub last_full_crawl_ms: Option<i64>,
    /// When a delta round (crawl, resync or incremental) last completed.
    pub last_delta_ms: Option<i64>,
    /// The last persistent error recorded for the drive.
    pub last_error: Option<String>,
    /// Live items, the root excluded.
    pub item_count: i64,
    /// The drive left scope or disappeared; its items are kept.
    pub removed: bool,
}

/// What the caller knows about a drive when it is discovered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NewDrive<'a> {
    /// Graph drive id.
    pub id: &'a str,
    /// The site holding the drive, if any.
    pub site_id: Option<&'a str>,
    /// Display name.
    pub name: Option<&'a str>,
    /// Graph `driveType`.
    pub kind: Option<&'a str>,
}

/// The link that ends a delta page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor<'a> {
    /// `@odata.nextLink`: more pages follow.
    Next(&'a str),
    /// `@odata.deltaLink`: the round is complete.
    Delta(&'a str),
}

impl<'a> Cursor<'a> {
    /// The link itself.
    pub fn link(self) -> &'a str {
        match self {
            Cursor::Next(l) | Cursor::Delta(l) => l,
        }
    }
}

/// Options of [`Store::apply_page`](super::Store::apply_page).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// During the first crawl, emit `created` per item (otherwise only `crawl_completed`).
    pub emit_initial_items: bool,
    /// Permission details are fetched: sharing changes mark items for a fetch (whose
    /// `permissions_changed` carries the diff) instead of being journaled at once, and a
    /// move that changes where an inheriting item's permissions come from is journaled.
    pub fetch_permissions: bool,
}

/// What one applied page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Items in the page (repeats and ignored tombstones included).
    pub items: usize,
    /// Events appended by the page.
    pub events: usize,
    /// The journal's last sequence number after the page committed.
    pub last_seq: i64,
    /// A deltaLink was committed: the round (crawl, resync or incremental) is complete.
    pub finished: bool,
}

/// One live item of the mirror, for comparisons with Graph or the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorItem {
    /// Item id.
    pub id: String,
    /// Name (the root's as Graph sent it).
    pub name: String,
    /// Parent id; `None` for the root.
    pub parent_id: Option<String>,
    /// Path from the drive root: `/` for the root, `/A/b.txt` below it.
    pub path: String,
    /// Whether the item is a folder (the root counts as one).
    pub is_folder: bool,
    /// Size in bytes (0 when Graph never sent one).
    pub size: i64,
    /// Last cTag Graph sent.
    pub ctag: Option<String>,
    /// Last eTag Graph sent.
    pub etag: Option<String>,
    /// The stored sharing facet is present and not empty.
    pub shared: bool,
    /// Package, malware, shortcut, MIME type, hashes, authors, URLs.
    pub facets: crate::facets::ItemFacets,
}

/// A change-notification subscription as the store keeps it (never the clientState itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// Graph subscription id.
    pub id: String,
    /// The drive it watches.
    pub drive_id: String,
    /// The subscribed resource, e.g. `/drives/{id}/root`.
    pub resource: String,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_ms: i64,
    /// A hash of the clientState, to verify notifications without storing the secret.
    pub client_state_hash: String,
}

/// A SharePoint site as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRecord {
    /// Graph site id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// URL of the site.
    pub web_url: Option<String>,
    /// The site left scope or was deleted.
    pub removed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_state_names_round_trip() {
        for s in [
            DriveState::New,
            DriveState::Crawling,
            DriveState::Synced,
            DriveState::Resyncing,
        ] {
            assert_eq!(DriveState::parse(s.as_str()), Some(s));
        }
        assert_eq!(DriveState::parse("Synced"), None);
        assert!(DriveState::Resyncing.is_enumerating());
        assert!(!DriveState::Synced.is_enumerating());
    }
}
