//! Read access to an engine's database without running an engine: what
//! `m365sync status` and `m365sync events` show, and what hosts and tests use to
//! look at the mirror and the journal.

use std::path::Path;

use crate::engine::Status;
use crate::engine::dispatcher::DEFAULT_CONSUMER;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::permissions::EffectivePermissions;
use crate::store::{DriveRecord, GrantFilter, MirrorItem, SiteRecord, Store};

/// An engine's SQLite database, opened for reading (one connection; open one per
/// thread). A running engine may write it meanwhile: reads see committed pages.
pub struct Database {
    store: Store,
}

impl Database {
    /// Opens the database at `path`, which must exist (pending schema migrations of
    /// an older m365sync are applied, as the engine would).
    pub fn open(path: &Path) -> Result<Database> {
        if !path.exists() {
            return Err(Error::InvalidInput(format!(
                "no database at {}",
                path.display()
            )));
        }
        Ok(Database {
            store: Store::open(path)?,
        })
    }

    /// What the database alone knows of the engine's status: drives, cursors,
    /// errors, the journal position and the saved throttle counters.
    pub fn status(&self) -> Result<Status> {
        Status::from_store(&self.store, DEFAULT_CONSUMER)
    }

    /// Every drive the engine knows, by id.
    pub fn drives(&self) -> Result<Vec<DriveRecord>> {
        self.store.drives()
    }

    /// One drive, if the engine knows it.
    pub fn drive(&self, drive_id: &str) -> Result<Option<DriveRecord>> {
        self.store.drive(drive_id)
    }

    /// The live items of a drive's mirror (the root included), by id.
    pub fn items(&self, drive_id: &str) -> Result<Vec<MirrorItem>> {
        self.store.mirror(drive_id)
    }

    /// The live item at `path` (`/` for the root, `/A/b.txt` below it).
    pub fn item_by_path(&self, drive_id: &str, path: &str) -> Result<Option<MirrorItem>> {
        self.store.item_by_path(drive_id, path)
    }

    /// The effective permissions of a live item, as
    /// [`Engine::effective_permissions`](crate::Engine::effective_permissions).
    pub fn effective_permissions(
        &self,
        drive_id: &str,
        item_id: &str,
    ) -> Result<Option<EffectivePermissions>> {
        self.store.effective_permissions(drive_id, item_id)
    }

    /// The items whose effective permissions hold a grant `filter` accepts, as
    /// [`Engine::items_with_grants`](crate::Engine::items_with_grants).
    pub fn items_with_grants(
        &self,
        drive_id: Option<&str>,
        filter: &GrantFilter,
        visit: &mut dyn FnMut(EffectivePermissions) -> Result<bool>,
    ) -> Result<()> {
        self.store.items_with_grants(drive_id, filter, visit)
    }

    /// How many items of a drive have stored unique permissions, and how many wait
    /// for a fetch (cheap: no scan of the items).
    pub fn permission_counts(&self, drive_id: &str) -> Result<(u64, u64)> {
        self.store.permission_counts(drive_id)
    }

    /// The SharePoint sites discovery found, by id.
    pub fn sites(&self) -> Result<Vec<SiteRecord>> {
        self.store.sites()
    }

    /// Up to `limit` journal events after `after_seq`, in order.
    pub fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<Event>> {
        self.store.events_after(after_seq, limit)
    }

    /// The journal's last sequence number (0 when empty).
    pub fn last_seq(&self) -> Result<i64> {
        self.store.last_seq()
    }

    /// The last sequence number the host acked (0 when none).
    pub fn acked_seq(&self) -> Result<i64> {
        self.store.acked_seq(DEFAULT_CONSUMER)
    }
}
