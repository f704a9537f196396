//! Permission details in the store: which items have unique permissions, their grants,
//! the items waiting for a fetch, and the effective permissions of any item.
//!
//! Only permission-hierarchy roots have rows; every other item inherits from its nearest
//! ancestor with unique permissions, found by walking the mirror's parent chain (a few
//! indexed lookups per level). So a move needs no rewrite of the subtree, and a change
//! on a folder is one row and one event, whatever its size.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::items;
use super::journal::{self, NewEvent};
use super::{Store, now_ms, sql_count};
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::permissions::{EffectivePermissions, Grant, PermissionChange};

/// Ancestors walked at most (a guard against a cycle in a corrupt store).
const MAX_DEPTH: usize = 10_000;

/// The effective permissions of an item as the store knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Effective {
    /// The nearest ancestor-or-self with stored unique permissions (`None`: none known).
    pub source: Option<String>,
    /// Its grants, by id.
    pub grants: Vec<Grant>,
}

/// What a fetch of an item's permissions found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchedPermissions {
    /// The item has unique permissions: these grants.
    Unique(Vec<Grant>),
    /// Every permission is inherited: the item has no permissions of its own.
    Inherited,
    /// Graph no longer knows the item (404): its row goes; its tombstone follows in the
    /// feed.
    Gone,
}

/// Which grants a query looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantFilter {
    /// Anyone links (`link.scope` anonymous).
    AnyoneLinks,
    /// Grants to principals outside the tenant.
    External,
    /// Grants naming this principal (id, email or login name, case-insensitive).
    Principal(String),
}

impl std::str::FromStr for GrantFilter {
    type Err = Error;

    /// `anyone_links`, `external`, or `principal:WHO`.
    fn from_str(s: &str) -> Result<GrantFilter> {
        match s {
            "anyone_links" => Ok(GrantFilter::AnyoneLinks),
            "external" => Ok(GrantFilter::External),
            _ => match s.strip_prefix("principal:").map(str::trim) {
                Some(who) if !who.is_empty() => Ok(GrantFilter::Principal(who.to_owned())),
                _ => Err(Error::InvalidInput(format!(
                    "unknown grant filter {s:?}: expected anyone_links, external or principal:WHO"
                ))),
            },
        }
    }
}

impl GrantFilter {
    fn accepts(&self, g: &Grant) -> bool {
        match self {
            GrantFilter::AnyoneLinks => g.is_anyone_link(),
            GrantFilter::External => g.external,
            GrantFilter::Principal(who) => g.names(who),
        }
    }
}

/// What the fetch of a pending item owes the journal (`permission_scopes.owed`; the
/// larger mark wins when an item is marked twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(super) enum Owed {
    /// Nothing: the first crawl without initial items, or a backfill.
    Nothing = 0,
    /// A check: a real difference is journaled (after a re-enumeration).
    Difference = 1,
    /// A sharing change Graph reported: journaled with its diff, or, when no grant
    /// changed, as the file's `metadata_changed` (its eTag moved).
    Change = 2,
}

impl Owed {
    fn from_column(v: i64) -> Owed {
        match v {
            0 => Owed::Nothing,
            1 => Owed::Difference,
            _ => Owed::Change,
        }
    }
}

/// Marks an item's permissions to be fetched, inside the caller's transaction, owing
/// `owed` once fetched (it stays owed until then).
pub(super) fn mark_pending(conn: &Connection, drive: i64, item: &str, owed: Owed) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO permission_scopes (drive_key, item_id, is_unique, pending, owed)
         VALUES (?1, ?2, 0, 1, ?3)
         ON CONFLICT (drive_key, item_id) DO UPDATE SET pending = 1, owed = MAX(owed, ?3)",
    )?
    .execute(params![drive, item, owed as u8])?;
    Ok(())
}

/// Marks every item with stored unique permissions for a fetch that journals any real
/// difference (after a re-enumeration, which reports no sharing changes).
pub(super) fn refetch_roots(conn: &Connection, drive: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE permission_scopes SET pending = 1, owed = MAX(owed, 1)
         WHERE drive_key = ?1 AND is_unique = 1",
    )?
    .execute([drive])?;
    Ok(())
}

/// Whether the item has stored unique permissions.
fn is_unique(conn: &Connection, drive: i64, item: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT is_unique FROM permission_scopes WHERE drive_key = ?1 AND item_id = ?2",
        )?
        .query_row(params![drive, item], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// The stored grants of an item with unique permissions, by id.
fn grants_of(conn: &Connection, drive: i64, item: &str) -> Result<Vec<Grant>> {
    let mut stmt = conn.prepare_cached(
        "SELECT json FROM grants WHERE drive_key = ?1 AND item_id = ?2 ORDER BY grant_id",
    )?;
    let rows = stmt.query_map(params![drive, item], |r| r.get::<_, String>(0))?;
    rows.map(|json| {
        serde_json::from_str(&json?)
            .map_err(|e| Error::State(format!("a stored grant of item {item} is unreadable: {e}")))
    })
    .collect()
}

/// The nearest ancestor-or-self of `item` with stored unique permissions, and its grants.
pub(super) fn effective(conn: &Connection, drive: i64, item: &str) -> Result<Effective> {
    let mut current = item.to_owned();
    for _ in 0..MAX_DEPTH {
        if is_unique(conn, drive, &current)? {
            let grants = grants_of(conn, drive, &current)?;
            return Ok(Effective {
                source: Some(current),
                grants,
            });
        }
        match items::stored_parent(conn, drive, &current)? {
            Some(parent) => current = parent,
            None => return Ok(Effective::default()),
        }
    }
    Ok(Effective::default())
}

/// The recursive part of the subtree statements below: `sub` holds `?2` and its live
/// descendants that inherit from it (the walk stops at descendants with unique
/// permissions).
macro_rules! inheriting_subtree {
    ($select:literal) => {
        concat!(
            "WITH RECURSIVE sub (id) AS (
                 SELECT ?2
                 UNION ALL
                 SELECT c.id FROM ",
            $crate::store::links::live_children_of_sub!(),
            "
                 WHERE NOT EXISTS (
                     SELECT 1 FROM permission_scopes s
                     WHERE s.drive_key = ?1 AND s.item_id = c.id AND s.is_unique = 1)
             ) ",
            $select
        )
    };
}

/// Counts `?2` and its live descendants that inherit from it.
pub(super) const AFFECTED: &str = inheriting_subtree!("SELECT COUNT(*) FROM sub");

/// How many live items take their permissions from `item`: itself and the descendants
/// that inherit from it (the walk stops at descendants with unique permissions).
fn affected(conn: &Connection, drive: i64, item: &str) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached(AFFECTED)?
        .query_row(params![drive, item], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Replaces the stored grants of `item` (none = it inherits).
fn write_grants(conn: &Connection, drive: i64, item: &str, grants: &[Grant]) -> Result<()> {
    conn.prepare_cached("DELETE FROM grants WHERE drive_key = ?1 AND item_id = ?2")?
        .execute(params![drive, item])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO grants (drive_key, item_id, grant_id, anyone, external, json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for g in grants {
        let json = serde_json::to_string(g).map_err(|e| Error::State(e.to_string()))?;
        insert.execute(params![
            drive,
            item,
            g.id,
            g.is_anyone_link(),
            g.external,
            json
        ])?;
    }
    Ok(())
}

/// The journal entry of a permission change on `item` (see [`journal_item_event`]).
pub(super) fn journal_change(
    conn: &Connection,
    drive_key: i64,
    drive: &str,
    item: &str,
    change: Option<&PermissionChange>,
    at_ms: i64,
) -> Result<Option<i64>> {
    let detail = match change {
        Some(c) => serde_json::to_string(c).map_err(|e| Error::State(e.to_string()))?,
        None => String::new(),
    };
    journal_item_event(
        conn,
        drive_key,
        drive,
        item,
        EventKind::PermissionsChanged,
        &detail,
        at_ms,
    )
}

/// Journals `kind` about `item` with its stored path, tags and size; none (`Ok(None)`)
/// when the item is no longer live.
fn journal_item_event(
    conn: &Connection,
    drive_key: i64,
    drive: &str,
    item: &str,
    kind: EventKind,
    detail: &str,
    at_ms: i64,
) -> Result<Option<i64>> {
    let stored = items::read(conn, drive_key, item)?;
    let Some(stored) = stored.filter(|s| !s.deleted) else {
        return Ok(None); // gone: its deletion was reported
    };
    journal::append(
        conn,
        kind,
        drive,
        at_ms,
        &NewEvent {
            item_id: item,
            path: &stored.path,
            ctag: stored.ctag.as_deref(),
            etag: stored.etag.as_deref(),
            size: stored.size.unwrap_or(0),
            is_folder: stored.is_folder,
            detail,
            ..NewEvent::default()
        },
    )
    .map(Some)
}

/// The change a move of the inheriting item `item` from `before` made, if it now takes
/// its permissions from another source (call after the item row was rewritten).
pub(super) fn change_by_move(
    conn: &Connection,
    drive: i64,
    item: &str,
    before: &Effective,
) -> Result<Option<PermissionChange>> {
    let after = effective(conn, drive, item)?;
    // The same source has the same grants: nothing changed (and no subtree to count).
    if after.source == before.source {
        return Ok(None);
    }
    Ok(PermissionChange::between(
        &before.grants,
        before.source.as_deref(),
        after.grants,
        after.source,
        affected(conn, drive, item)?,
    ))
}

impl Store {
    /// Items of `drive` whose permissions wait for a fetch, after `after_id`, by id.
    pub fn pending_permissions(
        &self,
        drive: &str,
        after_id: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let key = self.drive_key(drive)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT item_id FROM permission_scopes
             WHERE drive_key = ?1 AND pending = 1 AND item_id > ?2
             ORDER BY item_id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![key, after_id, sql_count(limit)], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many items of a drive have stored unique permissions, and how many wait
    /// for a fetch.
    pub fn permission_counts(&self, drive: &str) -> Result<(u64, u64)> {
        let key = self.drive_key(drive)?;
        let (roots, pending): (i64, i64) = self
            .conn
            .prepare_cached(
                "SELECT COALESCE(SUM(is_unique), 0), COALESCE(SUM(pending), 0)
                 FROM permission_scopes WHERE drive_key = ?1",
            )?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((
            u64::try_from(roots).unwrap_or(0),
            u64::try_from(pending).unwrap_or(0),
        ))
    }

    /// Makes sure the roots of a drive synced before permissions were fetched get
    /// fetched: when the drive has no permission row at all (one index seek; a drive
    /// crawled with `permissions.fetch` always has its root's), marks the root and every
    /// live item whose stored sharing facet is not empty (silently: nothing is owed).
    /// Returns how many items were marked.
    pub fn backfill_permission_roots(&mut self, drive: &str) -> Result<usize> {
        let key = self.drive_key(drive)?;
        let known: bool = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM permission_scopes WHERE drive_key = ?1)")?
            .query_row([key], |r| r.get(0))?;
        if known {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let marked = tx
            .prepare_cached(
                "INSERT INTO permission_scopes (drive_key, item_id, is_unique, pending, owed)
                 SELECT ?1, id, 0, 1, 0 FROM items
                 WHERE drive_key = ?1 AND deleted = 0
                   AND (is_root = 1 OR (shared_json IS NOT NULL AND shared_json NOT IN ('{}', 'null')))
                 ON CONFLICT DO NOTHING",
            )?
            .execute([key])?;
        tx.commit()?;
        Ok(marked)
    }

    /// Stores what a fetch of `item`'s permissions found, in one transaction: the grants
    /// (or that it inherits), and, when its change is owed, a `permissions_changed`
    /// event whose detail is the [`PermissionChange`]. An item no longer live loses its
    /// row. Returns the event's seq, if one was journaled.
    pub fn apply_permissions(
        &mut self,
        drive: &str,
        item: &str,
        fetched: FetchedPermissions,
    ) -> Result<Option<i64>> {
        let key = self.drive_key(drive)?;
        let at_ms = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let owed: Option<i64> = tx
            .prepare_cached(
                "SELECT owed FROM permission_scopes WHERE drive_key = ?1 AND item_id = ?2",
            )?
            .query_row(params![key, item], |r| r.get(0))
            .optional()?;
        let live = items::read(&tx, key, item)?.filter(|s| !s.deleted);
        // The item's own grants; `None` when it inherits.
        let (stored, own) = match (live, fetched) {
            (Some(s), FetchedPermissions::Unique(grants)) => (s, Some(grants)),
            (Some(s), FetchedPermissions::Inherited) => (s, None),
            (None, _) | (_, FetchedPermissions::Gone) => {
                forget(&tx, key, item)?;
                tx.commit()?;
                return Ok(None);
            }
        };
        let before = effective(&tx, key, item)?;
        match own {
            None if !stored.is_root => forget(&tx, key, item)?,
            // The root cannot inherit: what it lists is its own.
            None => set_unique(&tx, key, item, &[], at_ms)?,
            Some(mut grants) => {
                grants.sort_by(|a, b| a.id.cmp(&b.id));
                grants.dedup_by(|a, b| a.id == b.id);
                set_unique(&tx, key, item, &grants, at_ms)?;
            }
        }
        let mut seq = None;
        let owed = owed.map_or(Owed::Nothing, Owed::from_column);
        if owed != Owed::Nothing {
            let after = effective(&tx, key, item)?;
            let inherited_from = after.source.filter(|s| s != item);
            let change = PermissionChange::between(
                &before.grants,
                before.source.as_deref().filter(|s| *s != item),
                after.grants,
                inherited_from,
                affected(&tx, key, item)?,
            );
            seq = match change {
                Some(change) => journal_change(&tx, key, drive, item, Some(&change), at_ms)?,
                // Graph reported a sharing change that changed no grant (say, inheritance
                // broken and restored in between): the file's new eTag is still news.
                None if owed == Owed::Change && !stored.is_folder => journal_item_event(
                    &tx,
                    key,
                    drive,
                    item,
                    EventKind::MetadataChanged,
                    "",
                    at_ms,
                )?,
                None => None,
            };
        }
        tx.commit()?;
        Ok(seq)
    }

    /// Graph refused the permissions of `drive`'s items: journals the owed changes of
    /// pending items as `permissions_changed` without details (they stay pending for
    /// when the app is allowed). Returns the last seq journaled.
    pub fn settle_owed_permissions(&mut self, drive: &str) -> Result<Option<i64>> {
        let key = self.drive_key(drive)?;
        let at_ms = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let owed: Vec<String> = tx
            .prepare_cached(
                "SELECT item_id FROM permission_scopes WHERE drive_key = ?1 AND owed = 2",
            )?
            .query_map([key], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut seq = None;
        for item in &owed {
            seq = journal_change(&tx, key, drive, item, None, at_ms)?.or(seq);
        }
        tx.execute(
            "UPDATE permission_scopes SET owed = 0 WHERE drive_key = ?1 AND owed > 0",
            [key],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    /// The effective permissions of a live item, or `None` when the item is unknown.
    pub fn effective_permissions(
        &self,
        drive: &str,
        item: &str,
    ) -> Result<Option<EffectivePermissions>> {
        let key = self.drive_key(drive)?;
        let Some(stored) = items::read(&self.conn, key, item)?.filter(|s| !s.deleted) else {
            return Ok(None);
        };
        let e = effective(&self.conn, key, item)?;
        Ok(Some(EffectivePermissions {
            drive_id: drive.to_owned(),
            item_id: item.to_owned(),
            path: stored.path,
            known: e.source.is_some(),
            inherited_from: e.source.filter(|s| s != item),
            grants: e.grants,
        }))
    }

    /// Every live item of `drive` (every drive when `None`) whose effective permissions
    /// hold a grant `filter` accepts, root by root in id order, each root followed by
    /// the descendants inheriting from it; `visit` returns false to stop.
    pub fn items_with_grants(
        &self,
        drive: Option<&str>,
        filter: &GrantFilter,
        visit: &mut dyn FnMut(EffectivePermissions) -> Result<bool>,
    ) -> Result<()> {
        let drives: Vec<(i64, String)> = match drive {
            Some(d) => vec![(self.drive_key(d)?, d.to_owned())],
            None => self
                .conn
                .prepare_cached("SELECT key, id FROM drives ORDER BY id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?,
        };
        for (key, drive) in drives {
            for root in matching_roots(&self.conn, key, filter)? {
                let grants = grants_of(&self.conn, key, &root)?;
                if !for_subtree(&self.conn, key, &drive, &root, &grants, visit)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// Live items with unique permissions one of whose grants `filter` accepts, by id.
fn matching_roots(conn: &Connection, drive: i64, filter: &GrantFilter) -> Result<Vec<String>> {
    let column = match filter {
        GrantFilter::AnyoneLinks => "g.anyone = 1",
        GrantFilter::External => "g.external = 1",
        GrantFilter::Principal(_) => "1",
    };
    let sql = format!(
        "SELECT g.item_id, g.json FROM grants g
         JOIN items i ON i.drive_key = g.drive_key AND i.id = g.item_id AND i.deleted = 0
         WHERE g.drive_key = ?1 AND {column} ORDER BY g.item_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([drive], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut roots: Vec<String> = Vec::new();
    for row in rows {
        let (item, json) = row?;
        if roots.last() == Some(&item) {
            continue;
        }
        let grant: Grant = serde_json::from_str(&json).map_err(|e| {
            Error::State(format!("a stored grant of item {item} is unreadable: {e}"))
        })?;
        if filter.accepts(&grant) {
            roots.push(item);
        }
    }
    Ok(roots)
}

/// `?2` and its live descendants that inherit from it, with their paths.
pub(super) const INHERITING_SUBTREE: &str = inheriting_subtree!(
    "SELECT sub.id, i.path FROM sub JOIN items i ON i.drive_key = ?1 AND i.id = sub.id"
);

/// Visits `root` and the live descendants inheriting from it.
fn for_subtree(
    conn: &Connection,
    key: i64,
    drive: &str,
    root: &str,
    grants: &[Grant],
    visit: &mut dyn FnMut(EffectivePermissions) -> Result<bool>,
) -> Result<bool> {
    let mut stmt = conn.prepare_cached(INHERITING_SUBTREE)?;
    let mut rows = stmt.query(params![key, root])?;
    while let Some(row) = rows.next()? {
        let item: String = row.get(0)?;
        let inherited_from = (item != root).then(|| root.to_owned());
        let keep_going = visit(EffectivePermissions {
            drive_id: drive.to_owned(),
            item_id: item,
            path: row.get(1)?,
            inherited_from,
            known: true,
            grants: grants.to_vec(),
        })?;
        if !keep_going {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Drops an item's row and grants: it inherits (or is gone).
fn forget(conn: &Connection, drive: i64, item: &str) -> Result<()> {
    write_grants(conn, drive, item, &[])?;
    conn.prepare_cached("DELETE FROM permission_scopes WHERE drive_key = ?1 AND item_id = ?2")?
        .execute(params![drive, item])?;
    Ok(())
}

/// Stores an item's unique grants and clears its pending and owed marks.
fn set_unique(
    conn: &Connection,
    drive: i64,
    item: &str,
    grants: &[Grant],
    at_ms: i64,
) -> Result<()> {
    write_grants(conn, drive, item, grants)?;
    conn.prepare_cached(
        "INSERT INTO permission_scopes (drive_key, item_id, is_unique, pending, owed, fetched_ms)
         VALUES (?1, ?2, 1, 0, 0, ?3)
         ON CONFLICT (drive_key, item_id)
         DO UPDATE SET is_unique = 1, pending = 0, owed = 0, fetched_ms = ?3",
    )?
    .execute(params![drive, item, at_ms])?;
    Ok(())
}
