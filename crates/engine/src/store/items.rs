//! The item mirror: row access and the set-based subtree statements.
//!
//! Subtrees are found by following the parent relation (recursive CTEs over
//! `item_links`, see [`links`](super::links)), not by path prefix: that is correct by
//! construction even when two items briefly share a path in the middle of a feed, and
//! needs no escaping of `%`/`_`. The page logic keeps the live parent graph acyclic, so
//! the recursion always ends. The recursive steps are written `sub CROSS JOIN item_links`
//! (`live_children_of_sub!`): that keeps SQLite's planner
//! from looping over every item of the drive for each row of `sub` (it chose that order
//! for a plain join, which made a subtree cost the whole drive per level).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::links::{self, live_children_of_sub};
use super::{MirrorItem, Store};
use crate::error::Result;
use crate::facets::ItemFacets;

/// The facets of the item row aliased `$row`, as compact JSON or `NULL`: its own, or
/// those of the event that carries them (`facets_seq`, schema version 7).
macro_rules! facets_of {
    ($row:literal) => {
        concat!(
            "COALESCE(",
            $row,
            ".facets, (SELECT e.facets FROM events e WHERE e.seq = ",
            $row,
            ".facets_seq))"
        )
    };
}
pub(super) use facets_of;

/// The stored state of one item, as event derivation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StoredItem {
    pub parent_id: Option<String>,
    pub name: String,
    pub path: String,
    pub is_folder: bool,
    pub is_root: bool,
    pub size: Option<i64>,
    pub etag: Option<String>,
    pub ctag: Option<String>,
    pub hash: Option<String>,
    pub last_modified: Option<String>,
    pub shared_json: Option<String>,
    pub deleted: bool,
}

/// One item row to write (always live).
#[derive(Debug, Clone, Copy)]
pub(super) struct ItemRow<'a> {
    pub id: &'a str,
    pub parent_id: Option<&'a str>,
    pub name: &'a str,
    pub path: &'a str,
    pub is_folder: bool,
    pub is_root: bool,
    pub size: Option<i64>,
    pub etag: Option<&'a str>,
    pub ctag: Option<&'a str>,
    pub hash: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub shared_json: Option<&'a str>,
    /// [`ItemFacets`](crate::ItemFacets) as stored (compact JSON), `None` when empty or
    /// carried by the event `facets_seq`.
    pub facets: Option<&'a str>,
    /// The event appended with this row that carries its facets.
    pub facets_seq: Option<i64>,
    pub seen_gen: i64,
}

/// Reads an item (live or deleted).
pub(super) fn read(conn: &Connection, drive: i64, id: &str) -> Result<Option<StoredItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT parent_id, name, path, is_folder, is_root, size, etag, ctag, hash,
                last_modified, shared_json, deleted
         FROM items WHERE drive_key = ?1 AND id = ?2",
    )?;
    Ok(stmt
        .query_row(params![drive, id], |r| {
            Ok(StoredItem {
                parent_id: r.get(0)?,
                name: r.get(1)?,
                path: r.get(2)?,
                is_folder: r.get(3)?,
                is_root: r.get(4)?,
                size: r.get(5)?,
                etag: r.get(6)?,
                ctag: r.get(7)?,
                hash: r.get(8)?,
                last_modified: r.get(9)?,
                shared_json: r.get(10)?,
                deleted: r.get(11)?,
            })
        })
        .optional()?)
}

/// The path of a live item: from the folder path index (parents are folders), else, as a
/// malformed feed may use a file as a parent, from the items table.
pub(super) fn live_path(conn: &Connection, drive: i64, id: &str) -> Result<Option<String>> {
    let folder = conn
        .prepare_cached(
            "SELECT path FROM items INDEXED BY items_folder_paths
             WHERE drive_key = ?1 AND id = ?2 AND is_folder = 1 AND deleted = 0",
        )?
        .query_row(params![drive, id], |r| r.get(0))
        .optional()?;
    if folder.is_some() {
        return Ok(folder);
    }
    Ok(conn
        .prepare_cached("SELECT path FROM items WHERE drive_key = ?1 AND id = ?2 AND deleted = 0")?
        .query_row(params![drive, id], |r| r.get(0))
        .optional()?)
}

/// The stored parent of any item row, live or deleted (`None` when unknown or parentless).
pub(super) fn stored_parent(conn: &Connection, drive: i64, id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT parent_id FROM items WHERE drive_key = ?1 AND id = ?2")?
        .query_row(params![drive, id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// The insert of one item row, followed by `$on_conflict`.
macro_rules! insert_item {
    ($on_conflict:literal) => {
        concat!(
            "INSERT INTO items (drive_key, id, parent_id, name, path, is_folder, is_root, size,
                                etag, ctag, hash, last_modified, shared_json, deleted, seen_gen,
                                facets, facets_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14, ?15, ?16) ",
            $on_conflict
        )
    };
}

/// Runs an [`insert_item!`] statement for `row`; returns the rows changed.
fn execute_insert(stmt: &mut rusqlite::Statement, drive: i64, row: &ItemRow) -> Result<usize> {
    Ok(stmt.execute(params![
        drive,
        row.id,
        row.parent_id,
        row.name,
        row.path,
        row.is_folder,
        row.is_root,
        row.size,
        row.etag,
        row.ctag,
        row.hash,
        row.last_modified,
        row.shared_json,
        row.seen_gen,
        row.facets,
        row.facets_seq,
    ])?)
}

/// Inserts or replaces an item as live; `before` is the parent its row named until now
/// (`None`: the store had no row), to keep the links right.
pub(super) fn write(
    conn: &Connection,
    drive: i64,
    row: &ItemRow,
    before: Option<Option<&str>>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(insert_item!(
        "ON CONFLICT (drive_key, id) DO UPDATE SET
             parent_id = excluded.parent_id, name = excluded.name, path = excluded.path,
             is_folder = excluded.is_folder, is_root = excluded.is_root, size = excluded.size,
             etag = excluded.etag, ctag = excluded.ctag, hash = excluded.hash,
             last_modified = excluded.last_modified, shared_json = excluded.shared_json,
             deleted = 0, seen_gen = excluded.seen_gen, facets = excluded.facets,
             facets_seq = excluded.facets_seq"
    ))?;
    execute_insert(&mut stmt, drive, row)?;
    links::relink(conn, drive, row.id, before, row.parent_id)
}

/// Inserts an item the store has never seen, without its link (the caller links or
/// stages it); returns false (writing nothing) when a row with its id exists, live or
/// deleted.
pub(super) fn insert_new(conn: &Connection, drive: i64, row: &ItemRow) -> Result<bool> {
    let mut stmt = conn.prepare_cached(insert_item!("ON CONFLICT (drive_key, id) DO NOTHING"))?;
    Ok(execute_insert(&mut stmt, drive, row)? == 1)
}

/// How many live items of the drive name a parent that is not a live item.
pub(super) fn count_orphans(conn: &Connection, drive: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM items c
             WHERE c.drive_key = ?1 AND c.deleted = 0 AND c.parent_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM items p
                               WHERE p.drive_key = ?1 AND p.id = c.parent_id AND p.deleted = 0)",
        )?
        .query_row([drive], |r| r.get(0))?)
}

/// Marks `?2` and its live descendants deleted (never the root).
pub(super) const DELETE_SUBTREE: &str = concat!(
    "WITH RECURSIVE sub (id) AS (
                 SELECT ?2
                 UNION
                 SELECT c.id FROM ",
    live_children_of_sub!(),
    "
             )
             UPDATE items SET deleted = 1
             WHERE drive_key = ?1 AND id IN (SELECT id FROM sub) AND deleted = 0 AND is_root = 0"
);

/// Marks a live item and all its live descendants deleted in one statement; returns how
/// many rows changed. The root is never marked.
pub(super) fn delete_subtree(conn: &Connection, drive: i64, id: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached(DELETE_SUBTREE)?
        .execute(params![drive, id])?)
}

/// Recomputes the paths of the live descendants of `?2`.
pub(super) const REPATH_SUBTREE: &str = concat!(
    "WITH RECURSIVE sub (id, path) AS (
                 SELECT id, path FROM items WHERE drive_key = ?1 AND id = ?2
                 UNION ALL
                 SELECT c.id, CASE WHEN sub.path = '/' THEN '/' || c.name
                                   ELSE sub.path || '/' || c.name END
                 FROM ",
    live_children_of_sub!(),
    "
             )
             UPDATE items SET path = sub.path FROM sub
             WHERE items.drive_key = ?1 AND items.id = sub.id AND items.id <> ?2
               AND items.path <> sub.path"
);

/// Recomputes the paths of every live descendant of `id` from the parent chain, in one
/// statement; returns how many rows changed.
pub(super) fn repath_subtree(conn: &Connection, drive: i64, id: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached(REPATH_SUBTREE)?
        .execute(params![drive, id])?)
}

/// Ends a full enumeration: marks deleted every live non-root item not seen in generation
/// `enum_gen`. When `announce`, first journals one `deleted` event per swept subtree top
/// (an unseen item whose parent is not itself swept). Seen items left below a swept one
/// move to the top, like items of unknown parent. Returns (events, items swept).
pub(super) fn sweep_unseen(
    conn: &Connection,
    drive: i64,
    drive_id: &str,
    enum_gen: i64,
    announce: bool,
    at_ms: i64,
) -> Result<(usize, usize)> {
    let events = if announce {
        conn.prepare_cached(
            "INSERT INTO events (kind, drive_id, item_id, path, old_path, ctag, etag, size,
                                 is_folder, at_ms, detail)
             SELECT 'deleted', ?4, i.id, i.path, '', COALESCE(i.ctag, ''),
                    COALESCE(i.etag, ''), COALESCE(i.size, 0), i.is_folder, ?3, ''
             FROM items i
             WHERE i.drive_key = ?1 AND i.deleted = 0 AND i.is_root = 0 AND i.seen_gen < ?2
               AND NOT EXISTS (SELECT 1 FROM items p
                               WHERE p.drive_key = ?1 AND p.id = i.parent_id AND p.deleted = 0
                                 AND p.is_root = 0 AND p.seen_gen < ?2)
             ORDER BY i.path, i.id",
        )?
        .execute(params![drive, enum_gen, at_ms, drive_id])?
    } else {
        0
    };
    let swept = conn
        .prepare_cached(
            "UPDATE items SET deleted = 1
             WHERE drive_key = ?1 AND deleted = 0 AND is_root = 0 AND seen_gen < ?2",
        )?
        .execute(params![drive, enum_gen])?;
    // Graph lists parents before children, so a seen item below a swept one means the
    // feed contradicted itself: keep the item, at the top, as for any unknown parent.
    let orphaned = conn
        .prepare_cached(concat!(
            "WITH RECURSIVE sub (id, path) AS (
                 SELECT c.id, '/' || c.name
                 FROM items p
                     JOIN item_links l ON l.drive_key = ?1 AND l.parent_id = p.id
                     JOIN items c ON c.drive_key = ?1 AND c.id = l.child_id
                 WHERE p.drive_key = ?1 AND p.deleted = 1 AND p.seen_gen < ?2 AND c.deleted = 0
                 UNION ALL
                 SELECT c.id, sub.path || '/' || c.name
                 FROM ",
            live_children_of_sub!(),
            "
             )
             UPDATE items SET path = sub.path FROM sub
             WHERE items.drive_key = ?1 AND items.id = sub.id AND items.path <> sub.path"
        ))?
        .execute(params![drive, enum_gen])?;
    if orphaned > 0 {
        log::warn!(
            "drive {drive_id}: {orphaned} items seen below items the enumeration did not list; \
             placed at the top"
        );
    }
    Ok((events, swept))
}

const MIRROR_COLUMNS: &str = concat!(
    "id, name, parent_id, path, is_folder, COALESCE(size, 0), ctag, etag, shared_json, ",
    facets_of!("items")
);

fn mirror_from_row(r: &Row) -> rusqlite::Result<MirrorItem> {
    let shared: Option<String> = r.get(8)?;
    Ok(MirrorItem {
        id: r.get(0)?,
        name: r.get(1)?,
        parent_id: r.get(2)?,
        path: r.get(3)?,
        is_folder: r.get(4)?,
        size: r.get(5)?,
        ctag: r.get(6)?,
        etag: r.get(7)?,
        shared: shared.is_some_and(|s| s != "{}" && s != "null"),
        facets: ItemFacets::from_json(r.get::<_, Option<String>>(9)?.as_deref()),
    })
}

impl Store {
    /// The live items of a drive, root included, sorted by id.
    pub fn mirror(&self, drive: &str) -> Result<Vec<MirrorItem>> {
        let sql = format!(
            "SELECT {MIRROR_COLUMNS} FROM items
             WHERE drive_key = (SELECT key FROM drives WHERE id = ?1) AND deleted = 0 ORDER BY id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([drive], mirror_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The live item at `path` (`/` is the root), if any; the lowest id when several
    /// share the path. Scans the drive's items (paths are not indexed, see the schema's
    /// version 2): meant for tests and diagnostics, not for per-item work.
    pub fn item_by_path(&self, drive: &str, path: &str) -> Result<Option<MirrorItem>> {
        let sql = format!(
            "SELECT {MIRROR_COLUMNS} FROM items
             WHERE drive_key = (SELECT key FROM drives WHERE id = ?1) AND path = ?2 AND deleted = 0
             ORDER BY id LIMIT 1"
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([drive, path], mirror_from_row)
            .optional()?)
    }
}
