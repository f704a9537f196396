//! The permission step of a drive's job: after the delta feed reached its deltaLink,
//! fetch the permissions of every item marked for it (hierarchy roots on the first
//! crawl, items whose sharing changed since), through the gate, and store each in one
//! transaction with the event that reports its change.
//!
//! A crash between the fetch and the commit leaves the item marked: it is fetched again
//! and its change journaled once. A 403 means the app lacks `Sites.FullControl.All`:
//! one `error` event per drive, the owed changes are journaled without details, and
//! the drive's permissions are tried again an hour later.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use log::{info, warn};
use parking_lot::Mutex;

use crate::engine::crawl::JobContext;
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::graph::permissions::ItemPermissions;
use crate::store::FetchedPermissions;

/// Items read from the store per batch of fetches.
const BATCH: usize = 100;
/// How long a drive whose permissions Graph refused is left alone.
const RETRY_DENIED_AFTER: Duration = Duration::from_secs(3600);

/// The drives whose permissions Graph refused (403), and when.
#[derive(Debug, Default)]
pub struct Denials {
    at: Mutex<HashMap<String, Instant>>,
}

impl Denials {
    /// Whether the drive was refused less than [`RETRY_DENIED_AFTER`] ago.
    fn blocked(&self, drive: &str) -> bool {
        self.at
            .lock()
            .get(drive)
            .is_some_and(|at| at.elapsed() < RETRY_DENIED_AFTER)
    }

    /// Records a refusal; true when it is the drive's first since the engine started.
    fn deny(&self, drive: &str) -> bool {
        self.at
            .lock()
            .insert(drive.to_owned(), Instant::now())
            .is_none()
    }

    /// Whether Graph refused the drive's permissions in this run.
    pub fn is_denied(&self, drive: &str) -> bool {
        self.at.lock().contains_key(drive)
    }
}

/// What Graph's answer says of the item: inherited when every permission names the
/// item it comes from; else the item's own grants (an empty list included).
fn classify(list: ItemPermissions, internal_domains: &[String]) -> FetchedPermissions {
    let inherited =
        !list.value.is_empty() && list.value.iter().all(|p| p.inherited_from_id().is_some());
    if inherited {
        return FetchedPermissions::Inherited;
    }
    FetchedPermissions::Unique(
        list.value
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.into_grant(format!("unnamed-{i}"), internal_domains))
            .collect(),
    )
}

/// Fetches and stores the permissions of every marked item of `drive`.
pub fn sync_drive(
    ctx: &mut JobContext<'_>,
    drive: &str,
    denials: &Denials,
    internal_domains: &[String],
) -> Result<()> {
    if denials.blocked(drive) {
        return Ok(());
    }
    if ctx.store.backfill_permission_roots(drive)? > 0 {
        info!("drive {drive}: fetching the permissions of the hierarchy roots already mirrored");
    }
    let mut after = String::new();
    loop {
        let batch = ctx.store.pending_permissions(drive, &after, BATCH)?;
        let Some(last) = batch.last().cloned() else {
            return Ok(());
        };
        for item in batch {
            if ctx.stopping.load(Ordering::SeqCst) {
                return Err(Error::Stopped);
            }
            let fetched = match ctx.client.item_permissions(drive, &item, ctx.stopping) {
                Ok(list) => {
                    ctx.progress
                        .permission_requests
                        .fetch_add(list.requests as u64, Ordering::Relaxed);
                    classify(list, internal_domains)
                }
                Err(Error::Graph(g)) if g.status == 403 => {
                    return refused(ctx, drive, &item, &g.to_string(), denials);
                }
                // Gone: the delta feed will bring its tombstone; nothing to fetch.
                Err(Error::Graph(g)) if g.status == 404 => FetchedPermissions::Inherited,
                Err(Error::Protocol(why)) => {
                    warn!(
                        "drive {drive}: the permissions of item {item} are unreadable ({why}); trying again next round"
                    );
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(seq) = ctx.store.apply_permissions(drive, &item, fetched)? {
                ctx.journal.published(seq);
            }
            ctx.progress
                .permissions_fetched
                .fetch_add(1, Ordering::Relaxed);
        }
        after = last;
    }
}

/// Graph refused: one `error` event per drive, owed changes journaled without details.
fn refused(
    ctx: &mut JobContext<'_>,
    drive: &str,
    item: &str,
    why: &str,
    denials: &Denials,
) -> Result<()> {
    if denials.deny(drive) {
        let message = format!(
            "Graph refused the permissions of item {item} ({why}): fetching permission details \
             needs the Sites.FullControl.All application permission, granted with admin consent. \
             Changes are still tracked; sharing changes are reported without details until then."
        );
        warn!("drive {drive}: {message}");
        let seq = ctx.store.append_event(EventKind::Error, drive, &message)?;
        ctx.journal.published(seq);
    }
    if let Some(seq) = ctx.store.settle_owed_permissions(drive)? {
        ctx.journal.published(seq);
    }
    Ok(())
}
