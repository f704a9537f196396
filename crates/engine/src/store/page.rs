//! Applying one delta page: item upserts, derived events, cursor and drive state, all in
//! one transaction.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, TransactionBehavior, params};

use super::derive::{self, Incoming};
use super::drives::{self, Progress};
use super::items::{self, ItemRow, StoredItem};
use super::journal::{self, NewEvent};
use super::links;
use super::permissions;
use super::{ApplyOptions, Cursor, DriveState, PageOutcome, Store, now_ms};
use crate::error::Result;
use crate::event::EventKind;
use crate::facets::ItemFacets;
use crate::graph::types::DriveItem;

impl Store {
    /// Applies one delta page in ONE transaction: the items in feed order, the events they
    /// imply, the cursor, and the drive's state transitions. A drive still `New` starts its
    /// first crawl here.
    ///
    /// With [`Cursor::Delta`] the round is complete: a crawl or resync sweeps the items it
    /// did not see and journals `crawl_completed` (detail = item count) or
    /// `resync_completed` (detail = "N changes"); the drive becomes `Synced`.
    /// If anything fails, nothing of the page is kept.
    pub fn apply_page(
        &mut self,
        drive: &str,
        items: &[DriveItem],
        cursor: Cursor,
        opts: &ApplyOptions,
    ) -> Result<PageOutcome> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut progress = drives::progress(&tx, drive)?;
        if progress.state == DriveState::New {
            progress.state = DriveState::Crawling;
            progress.enum_gen += 1;
        }
        let mut page = Page {
            conn: &tx,
            drive,
            key: progress.key,
            enum_gen: progress.enum_gen,
            at_ms: now_ms(),
            announce: progress.state != DriveState::Crawling || opts.emit_initial_items,
            first_crawl: progress.state == DriveState::Crawling,
            orphans: progress.orphans,
            staged_links: progress.staged_links,
            parent_paths: HashMap::new(),
            sharing_flagged: HashSet::new(),
            fetch_permissions: opts.fetch_permissions,
            events: 0,
            live_delta: 0,
        };
        for item in items {
            page.apply(item)?;
        }
        let finished = matches!(cursor, Cursor::Delta(_));
        let (events, completed_crawl) = page.finish(&mut progress, finished)?;
        tx.prepare_cached(
            "UPDATE drives SET state = ?2, enum_gen = ?3, cursor = ?4, cursor_is_delta = ?9,
                 item_count = ?5, orphans = ?10, staged_links = ?11,
                 resync_changes = ?6,
                 last_full_crawl_ms = COALESCE(?7, last_full_crawl_ms),
                 last_delta_ms = COALESCE(?8, last_delta_ms)
             WHERE id = ?1",
        )?
        .execute(params![
            drive,
            progress.state.as_str(),
            progress.enum_gen,
            cursor.link(),
            progress.item_count,
            progress.resync_changes,
            completed_crawl.then_some(page.at_ms),
            finished.then_some(page.at_ms),
            finished,
            progress.orphans,
            progress.staged_links,
        ])?;
        let last_seq = journal::last_seq(&tx)?;
        tx.commit()?;
        Ok(PageOutcome {
            items: items.len(),
            events,
            last_seq,
            finished,
        })
    }
}

/// The working state of one page inside its transaction.
struct Page<'c> {
    conn: &'c Connection,
    drive: &'c str,
    /// The drive's key in the items table.
    key: i64,
    enum_gen: i64,
    at_ms: i64,
    /// Whether item events are journaled (false during a crawl without initial items).
    announce: bool,
    /// The drive's first crawl is under way: most items are new to the store.
    first_crawl: bool,
    /// The drive's orphan bound ([`Progress::orphans`]), kept current by this page.
    orphans: i64,
    /// The drive's staged links ([`Progress::staged_links`]), kept current by this page.
    staged_links: i64,
    /// Paths of live folders met in this page, to spare a query per child.
    parent_paths: HashMap<String, String>,
    /// Items whose `sharedChanged` flag was already honoured in this page.
    sharing_flagged: HashSet<String>,
    /// Permission details are fetched ([`ApplyOptions::fetch_permissions`]).
    fetch_permissions: bool,
    /// Events journaled so far.
    events: usize,
    /// Change of the drive's live item count (root excluded).
    live_delta: i64,
}

/// Where a live item goes in the tree.
struct Placement<'i> {
    is_root: bool,
    name: &'i str,
    parent_id: Option<&'i str>,
    /// Derived from the parent chain.
    path: String,
}

impl Placement<'_> {
    /// The row that stores `item` here.
    fn row<'r>(
        &'r self,
        item: &'r DriveItem,
        shared_json: Option<&'r str>,
        facets: Option<&'r str>,
        seen_gen: i64,
    ) -> ItemRow<'r> {
        ItemRow {
            id: &item.id,
            parent_id: self.parent_id,
            name: self.name,
            path: &self.path,
            is_folder: item.is_folder(),
            is_root: self.is_root,
            size: item.size,
            etag: item.e_tag.as_deref(),
            ctag: item.c_tag.as_deref(),
            hash: item.content_hash(),
            last_modified: item.last_modified_date_time.as_deref(),
            shared_json,
            facets,
            facets_seq: None,
            seen_gen,
        }
    }
}

/// The journal entry about `item`, now at `path` (the caller gives its kind).
fn item_event<'a>(
    item: &'a DriveItem,
    path: &'a str,
    old_path: &'a str,
    facets: Option<&'a str>,
) -> NewEvent<'a> {
    NewEvent {
        item_id: &item.id,
        path,
        old_path,
        ctag: item.c_tag.as_deref(),
        etag: item.e_tag.as_deref(),
        size: item.size.unwrap_or(0),
        is_folder: item.is_folder(),
        detail: "",
        facets: facets.unwrap_or_default(),
    }
}

/// Whether the item arrives with a sharing facet that grants something: with
/// `Prefer: hierarchicalsharing`, the mark of a permission-hierarchy root.
fn shares_something(item: &DriveItem) -> bool {
    item.shared
        .as_ref()
        .is_some_and(|v| !(v.is_null() || v.as_object().is_some_and(|o| o.is_empty())))
}

/// The path of an item named `name` below a parent at `parent_path`.
fn child_path(parent_path: &str, name: &str) -> String {
    if parent_path == "/" {
        format!("/{name}")
    } else {
        format!("{parent_path}/{name}")
    }
}

impl Page<'_> {
    fn apply(&mut self, item: &DriveItem) -> Result<()> {
        if item.is_deleted() {
            self.apply_tombstone(item)
        } else {
            self.apply_live(item)
        }
    }

    /// What a sharing change met in this page owes the journal once fetched.
    fn owed(&self) -> permissions::Owed {
        if self.announce {
            permissions::Owed::Change
        } else {
            permissions::Owed::Nothing
        }
    }

    /// Journals an item event when the page announces them; returns its seq.
    fn emit(&mut self, kind: EventKind, e: &NewEvent) -> Result<Option<i64>> {
        if !self.announce {
            return Ok(None);
        }
        let seq = journal::append(self.conn, kind, self.drive, self.at_ms, e)?;
        self.events += 1;
        Ok(Some(seq))
    }

    /// Lets the first event about to be journaled for `row` carry its facets (they are
    /// then not stored in the row too): that event will get the journal's next seq, as
    /// nothing else is appended between the row and its events. Does nothing when no
    /// event follows or there are no facets.
    fn defer_facets(&self, row: &mut ItemRow, events_follow: bool) -> Result<()> {
        if self.announce && events_follow && row.facets.is_some() {
            row.facets = None;
            row.facets_seq = Some(journal::last_seq(self.conn)? + 1);
        }
        Ok(())
    }

    /// Checks that the event `seq` is the one `row` named as carrying its facets.
    fn check_facets_seq(row: &ItemRow, seq: Option<i64>) -> Result<()> {
        match (row.facets_seq, seq) {
            (Some(expected), Some(seq)) if expected != seq => Err(crate::Error::State(format!(
                "item {}: its facets were to be carried by event {expected}, not {seq}",
                row.id
            ))),
            _ => Ok(()),
        }
    }

    /// Merges the drive's staged links: the statements that follow the parent relation
    /// need all of them.
    fn settle_links(&mut self) -> Result<()> {
        if self.staged_links > 0 {
            links::merge_staged(self.conn, self.key)?;
            self.staged_links = 0;
        }
        Ok(())
    }

    fn apply_tombstone(&mut self, item: &DriveItem) -> Result<()> {
        self.settle_links()?;
        let Some(old) = items::read(self.conn, self.key, &item.id)?.filter(|s| !s.deleted) else {
            return Ok(()); // unknown or already deleted: nothing to report
        };
        if old.is_root {
            log::warn!("drive {}: ignoring a delete of the root item", self.drive);
            return Ok(());
        }
        let removed = items::delete_subtree(self.conn, self.key, &item.id)?;
        self.live_delta -= removed as i64;
        // Any cached path may belong to the removed subtree (even a file can be a parent
        // in a malformed feed).
        self.parent_paths.clear();
        self.emit(
            EventKind::Deleted,
            &NewEvent {
                item_id: &item.id,
                path: &old.path,
                ctag: item.c_tag.as_deref().or(old.ctag.as_deref()),
                etag: item.e_tag.as_deref().or(old.etag.as_deref()),
                size: old.size.unwrap_or(0),
                is_folder: old.is_folder,
                ..NewEvent::default()
            },
        )?;
        Ok(())
    }

    /// The path of a live parent, from this page's cache or the store.
    fn parent_path(&mut self, id: &str) -> Result<Option<String>> {
        if let Some(p) = self.parent_paths.get(id) {
            return Ok(Some(p.clone()));
        }
        let path = items::live_path(self.conn, self.key, id)?;
        if let Some(p) = &path {
            self.parent_paths.insert(id.to_owned(), p.clone());
        }
        Ok(path)
    }

    /// Whether `target` is `from` or one of its stored ancestors.
    fn is_ancestor_or_self(&self, target: &str, from: &str) -> Result<bool> {
        let mut seen = HashSet::new();
        let mut current = from.to_owned();
        loop {
            if current == target {
                return Ok(true);
            }
            let Some(parent) = items::stored_parent(self.conn, self.key, &current)? else {
                return Ok(false);
            };
            if !seen.insert(current) {
                return Ok(false);
            }
            current = parent;
        }
    }

    /// Resolves the name, parent and path of a live item, given its stored row. An item
    /// whose parent is not a live item goes to the top (and counts as an orphan) until
    /// the parent arrives.
    fn place<'i>(
        &mut self,
        item: &'i DriveItem,
        stored: Option<&'i StoredItem>,
    ) -> Result<Placement<'i>> {
        let id = item.id.as_str();
        let is_root = item.root.is_some() || stored.is_some_and(|s| !s.deleted && s.is_root);
        let name = match (item.name.as_deref(), stored) {
            (Some(n), _) => n,
            (None, Some(s)) => s.name.as_str(),
            (None, None) => {
                log::warn!("drive {}: item {id} has no name; using its id", self.drive);
                id
            }
        };
        let top = || child_path("/", name);
        let (parent_id, path) = if is_root {
            (None, "/".to_owned())
        } else {
            match item.parent_id().filter(|p| *p != id) {
                None => {
                    log::warn!(
                        "drive {}: item {id} has no usable parent; placed at the top",
                        self.drive
                    );
                    (None, top())
                }
                Some(p) => match self.parent_path(p)? {
                    Some(pp) => (Some(p), child_path(&pp, name)),
                    None => {
                        log::warn!(
                            "drive {}: parent {p} of item {id} is unknown; placed at the top \
                             until it arrives",
                            self.drive
                        );
                        self.orphans += 1;
                        (Some(p), top())
                    }
                },
            }
        };
        Ok(Placement {
            is_root,
            name,
            parent_id,
            path,
        })
    }

    /// Keeps the page's path cache right after `id` was written at `path`.
    fn remember_path(&mut self, id: &str, is_folder: bool, path: &str) {
        if is_folder {
            self.parent_paths.insert(id.to_owned(), path.to_owned());
        } else {
            // A malformed feed may have used this file as a parent: drop its stale path.
            self.parent_paths.remove(id);
        }
    }

    fn apply_live(&mut self, item: &DriveItem) -> Result<()> {
        if self.first_crawl && self.orphans == 0 && self.insert_unseen(item)? {
            return Ok(());
        }
        self.settle_links()?;
        let id = item.id.as_str();
        let stored = items::read(self.conn, self.key, id)?;
        let live = stored.as_ref().filter(|s| !s.deleted);
        let mut place = self.place(item, stored.as_ref())?;

        // Only an item with live children can close a loop in the parent graph, and only
        // when it gets a new parent; the loop check walks the new parent's ancestors.
        let relinked = live.is_none_or(|s| s.parent_id.as_deref() != place.parent_id);
        let has_children = (relinked || live.is_some_and(|s| s.path != place.path))
            && links::has_live_children(self.conn, self.key, id)?;
        let closes_loop = match place.parent_id {
            Some(p) if relinked && has_children => self.is_ancestor_or_self(id, p)?,
            _ => false,
        };
        if closes_loop {
            let p = place.parent_id.unwrap_or_default();
            log::warn!(
                "drive {}: moving {id} below {p} would make it its own ancestor; placed at the top",
                self.drive
            );
            place.parent_id = None;
            place.path = child_path("/", place.name);
        }

        let shared_json = match &item.shared {
            Some(v) => Some(v.to_string()),
            None => live.and_then(|s| s.shared_json.clone()),
        };
        let facets = ItemFacets::of(item).to_json();
        let mut row = place.row(
            item,
            shared_json.as_deref(),
            facets.as_deref(),
            self.enum_gen,
        );
        let incoming = Incoming {
            parent_id: row.parent_id,
            name: row.name,
            path: row.path,
            is_folder: row.is_folder,
            size: row.size,
            etag: row.etag,
            ctag: row.ctag,
            hash: row.hash,
            last_modified: row.last_modified,
            shared: item.shared.as_ref(),
            sharing_flagged: item.sharing_changed() && self.sharing_flagged.insert(id.to_owned()),
        };
        let mut kinds = match live {
            _ if place.is_root => Vec::new(),
            None => {
                self.live_delta += 1;
                vec![EventKind::Created]
            }
            Some(old) => derive::changes(old, &incoming),
        };
        let sharing_changed = kinds.contains(&EventKind::PermissionsChanged)
            || (live.is_none() && (place.is_root || shares_something(item)));
        // Where an inheriting item's permissions came from before a move.
        let moved_from = match live {
            Some(old) if self.fetch_permissions && old.parent_id.as_deref() != place.parent_id => {
                Some(permissions::effective(self.conn, self.key, id)?)
            }
            _ => None,
        };
        if self.fetch_permissions && sharing_changed {
            // Journaled with its diff once the permissions are fetched.
            kinds.retain(|k| *k != EventKind::PermissionsChanged);
            permissions::mark_pending(self.conn, self.key, id, self.owed())?;
        }

        let before = stored.as_ref().map(|s| s.parent_id.as_deref());
        self.defer_facets(&mut row, !kinds.is_empty())?;
        items::write(self.conn, self.key, &row, before)?;
        if has_children && live.is_none_or(|s| s.path != place.path) {
            items::repath_subtree(self.conn, self.key, id)?;
            self.parent_paths.clear();
        }
        self.remember_path(id, row.is_folder, &place.path);

        for (n, kind) in kinds.into_iter().enumerate() {
            let old_path = match kind {
                EventKind::Moved | EventKind::Renamed => live.map_or("", |s| s.path.as_str()),
                _ => "",
            };
            let seq = self.emit(
                kind,
                &item_event(item, &place.path, old_path, facets.as_deref()),
            )?;
            if n == 0 {
                Self::check_facets_seq(&row, seq)?;
            }
        }
        if let Some(before) = moved_from.filter(|b| b.source.as_deref() != Some(id)) {
            self.journal_inherited_move(id, &before)?;
        }
        Ok(())
    }

    /// A moved item that inherits may now inherit other grants from its new parent:
    /// that is a permission change, journaled with its diff (once, for the whole
    /// subtree that inherits through the item).
    fn journal_inherited_move(&mut self, id: &str, before: &permissions::Effective) -> Result<()> {
        if !self.announce {
            return Ok(());
        }
        if let Some(change) = permissions::change_by_move(self.conn, self.key, id, before)? {
            let journaled = permissions::journal_change(
                self.conn,
                self.key,
                self.drive,
                id,
                Some(&change),
                self.at_ms,
            )?;
            self.events += usize::from(journaled.is_some());
        }
        Ok(())
    }

    /// The first crawl's fast path: inserts an item the store has never seen without
    /// reading anything first. While no item waits for a parent, such an item has no
    /// children, so it needs no loop check, no repath and no comparison: it is
    /// `created`. Returns false, having written nothing, when the store knows the id; the
    /// caller then places the item again against its stored row (an unknown parent is
    /// then counted twice, which an upper bound allows).
    fn insert_unseen(&mut self, item: &DriveItem) -> Result<bool> {
        let place = self.place(item, None)?;
        let shared_json = item.shared.as_ref().map(|v| v.to_string());
        let facets = ItemFacets::of(item).to_json();
        let mut row = place.row(
            item,
            shared_json.as_deref(),
            facets.as_deref(),
            self.enum_gen,
        );
        self.defer_facets(&mut row, !place.is_root)?;
        if !items::insert_new(self.conn, self.key, &row)? {
            return Ok(false);
        }
        if let Some(parent) = row.parent_id {
            links::stage(self.conn, self.key, self.staged_links, parent, row.id)?;
            self.staged_links += 1;
        }
        if item.sharing_changed() {
            self.sharing_flagged.insert(item.id.clone());
        }
        if self.fetch_permissions && (place.is_root || shares_something(item)) {
            permissions::mark_pending(self.conn, self.key, &item.id, self.owed())?;
        }
        self.remember_path(&item.id, row.is_folder, &place.path);
        if !place.is_root {
            self.live_delta += 1;
            let seq = self.emit(
                EventKind::Created,
                &item_event(item, &place.path, "", facets.as_deref()),
            )?;
            Self::check_facets_seq(&row, seq)?;
        }
        Ok(true)
    }

    /// Closes the page: counters, and when the round is `finished`, the sweep of a full
    /// enumeration and its completion event. Returns (events of the page, crawl completed).
    fn finish(&mut self, progress: &mut Progress, finished: bool) -> Result<(usize, bool)> {
        if finished {
            // The set-based pass of a first crawl: the sweep and the orphan count below
            // follow the parent relation.
            self.settle_links()?;
        }
        progress.item_count += self.live_delta;
        progress.orphans = self.orphans;
        progress.staged_links = self.staged_links;
        let mut events = self.events;
        let state = progress.state;
        if state == DriveState::Resyncing {
            progress.resync_changes += events as i64;
        }
        if !finished {
            return Ok((events, false));
        }
        if state.is_enumerating() {
            let (swept_events, swept) = items::sweep_unseen(
                self.conn,
                self.key,
                self.drive,
                progress.enum_gen,
                self.announce,
                self.at_ms,
            )?;
            progress.item_count -= swept as i64;
            if self.fetch_permissions && state == DriveState::Resyncing {
                // A full enumeration carries no sharedChanged marks: a grant changed
                // while the token was expired may show no facet change. Fetch every
                // hierarchy root again; only real differences are journaled.
                permissions::refetch_roots(self.conn, self.key)?;
            }
            if progress.orphans > 0 {
                // A full enumeration settles most waits; count what is left.
                progress.orphans = items::count_orphans(self.conn, self.key)?;
            }
            events += swept_events;
            let detail = if state == DriveState::Crawling {
                progress.item_count.to_string()
            } else {
                progress.resync_changes += swept_events as i64;
                format!("{} changes", progress.resync_changes)
            };
            let kind = if state == DriveState::Crawling {
                EventKind::CrawlCompleted
            } else {
                EventKind::ResyncCompleted
            };
            let e = NewEvent {
                detail: &detail,
                ..NewEvent::default()
            };
            journal::append(self.conn, kind, self.drive, self.at_ms, &e)?;
            events += 1;
        }
        progress.state = DriveState::Synced;
        Ok((events, state == DriveState::Crawling))
    }
}
