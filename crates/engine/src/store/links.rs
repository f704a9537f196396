//! The parent relation of the item mirror: `item_links` has one row (drive, parent,
//! child) per item row with a parent, live or deleted, and is what the subtree
//! statements follow.
//!
//! A drive's first crawl stages its links instead ([`stage`]): appended to
//! `staged_links` in feed order, they cost no random write, where inserting each into
//! `item_links` wrote a random leaf of a table as large as the drive. [`merge_staged`]
//! moves them into `item_links` sorted by parent, in one statement of the page that
//! needs them: the last page of the crawl, or an earlier one about to follow the
//! relation (a tombstone, a known item, an item waiting for its parent). Staged links
//! belong to the page's transaction like everything else, so a crash loses none.

use rusqlite::{Connection, params};

use crate::error::Result;

/// The join from a `sub (id, …)` row to its live children `c`, for the recursive steps
/// of the subtree statements: through the links, then each child's row by id. Written
/// `sub CROSS JOIN` so that SQLite's planner keeps `sub` outside (see `store/items.rs`).
macro_rules! live_children_of_sub {
    () => {
        "sub CROSS JOIN item_links l ON l.drive_key = ?1 AND l.parent_id = sub.id
             CROSS JOIN items c ON c.drive_key = ?1 AND c.id = l.child_id AND c.deleted = 0"
    };
}
pub(super) use live_children_of_sub;

/// Records that `child` has `parent` (an item row was written with it).
pub(super) fn link(conn: &Connection, drive: i64, parent: &str, child: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO item_links (drive_key, parent_id, child_id) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![drive, parent, child])?;
    Ok(())
}

/// Forgets that `child` has `parent` (its row now names another parent, or none).
pub(super) fn unlink(conn: &Connection, drive: i64, parent: &str, child: &str) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM item_links WHERE drive_key = ?1 AND parent_id = ?2 AND child_id = ?3",
    )?
    .execute(params![drive, parent, child])?;
    Ok(())
}

/// Keeps the links right after an item row was written with `parent`, its row before
/// having named `before` (`None`: there was no row).
pub(super) fn relink(
    conn: &Connection,
    drive: i64,
    child: &str,
    before: Option<Option<&str>>,
    parent: Option<&str>,
) -> Result<()> {
    let old = before.flatten();
    if before.is_some() && old == parent {
        return Ok(());
    }
    if let Some(old) = old {
        unlink(conn, drive, old, child)?;
    }
    if let Some(parent) = parent {
        link(conn, drive, parent, child)?;
    }
    Ok(())
}

/// Stages the link of a new item row as number `seq` of the drive's staged links.
pub(super) fn stage(
    conn: &Connection,
    drive: i64,
    seq: i64,
    parent: &str,
    child: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO staged_links (drive_key, seq, parent_id, child_id) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![drive, seq, parent, child])?;
    Ok(())
}

/// Moves the drive's staged links into `item_links`, sorted by parent so that the
/// inserts walk the table's leaves in order; returns how many moved.
pub(super) fn merge_staged(conn: &Connection, drive: i64) -> Result<usize> {
    let moved = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO item_links (drive_key, parent_id, child_id)
             SELECT drive_key, parent_id, child_id FROM staged_links WHERE drive_key = ?1
             ORDER BY parent_id, child_id",
        )?
        .execute([drive])?;
    conn.prepare_cached("DELETE FROM staged_links WHERE drive_key = ?1")?
        .execute([drive])?;
    Ok(moved)
}

/// Whether any live item names `id` as its parent (staged links must be merged first).
pub(super) fn has_live_children(conn: &Connection, drive: i64, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM item_links l
                            JOIN items c ON c.drive_key = ?1 AND c.id = l.child_id
                            WHERE l.drive_key = ?1 AND l.parent_id = ?2 AND c.deleted = 0)",
        )?
        .query_row(params![drive, id], |r| r.get(0))?)
}
