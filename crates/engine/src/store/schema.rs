//! Connection settings and forward schema migrations.
//!
//! The schema version lives in the `meta` table. Migration step `i` (0-based) brings a
//! database from version `i` to `i + 1`; each step runs in its own transaction together
//! with the version bump, so a crash mid-upgrade leaves a database at a consistent version.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use crate::error::{Error, Result};

/// How long a writer waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The migration steps of this build, oldest first.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// Version 1: the initial schema.
const V1: &str = r#"
CREATE TABLE sites (
    id       TEXT PRIMARY KEY NOT NULL,
    name     TEXT,
    web_url  TEXT,
    removed  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE drives (
    key                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    site_id             TEXT,
    name                TEXT,
    kind                TEXT,
    state               TEXT NOT NULL DEFAULT 'new',
    cursor              TEXT,
    cursor_is_delta     INTEGER NOT NULL DEFAULT 0,
    enum_gen            INTEGER NOT NULL DEFAULT 0,
    resync_changes      INTEGER NOT NULL DEFAULT 0,
    item_count          INTEGER NOT NULL DEFAULT 0,
    last_full_crawl_ms  INTEGER,
    last_delta_ms       INTEGER,
    last_error          TEXT,
    removed             INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE items (
    drive_key      INTEGER NOT NULL,
    id             TEXT NOT NULL,
    parent_id      TEXT,
    name           TEXT NOT NULL,
    path           TEXT NOT NULL,
    is_folder      INTEGER NOT NULL,
    is_root        INTEGER NOT NULL,
    size           INTEGER,
    etag           TEXT,
    ctag           TEXT,
    hash           TEXT,
    last_modified  TEXT,
    shared_json    TEXT,
    deleted        INTEGER NOT NULL DEFAULT 0,
    seen_gen       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (drive_key, id)
);
CREATE INDEX items_by_path ON items (drive_key, path);
CREATE INDEX items_by_parent ON items (drive_key, parent_id, deleted);
CREATE TABLE subscriptions (
    id                 TEXT PRIMARY KEY NOT NULL,
    drive_id           TEXT NOT NULL,
    resource           TEXT NOT NULL,
    expires_at_ms      INTEGER NOT NULL,
    client_state_hash  TEXT NOT NULL
);
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    drive_id   TEXT NOT NULL,
    item_id    TEXT NOT NULL DEFAULT '',
    path       TEXT NOT NULL DEFAULT '',
    old_path   TEXT NOT NULL DEFAULT '',
    ctag       TEXT NOT NULL DEFAULT '',
    etag       TEXT NOT NULL DEFAULT '',
    size       INTEGER NOT NULL DEFAULT 0,
    is_folder  INTEGER NOT NULL DEFAULT 0,
    at_ms      INTEGER NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE TABLE consumers (
    name       TEXT PRIMARY KEY NOT NULL,
    acked_seq  INTEGER NOT NULL
);
"#;

/// Version 2, for crawl throughput:
/// - no index on paths. Graph lists a drive in no particular path order, so each crawled
///   item inserted its path at a random place of that index: one more scattered B-tree
///   page written to the WAL per item, about half of a crawl's write volume. Nothing on
///   the sync path looks items up by path; `Store::item_by_path` scans the drive instead.
/// - a covering index of live folders' paths. Each crawled item needs its parent's path,
///   and parents are folders: about one item in ten, so this index stays in the page
///   cache where a lookup in the items table would read a random page per item.
/// - `drives.orphans`: how many live items were placed at the top because their parent
///   was unknown (an upper bound). While it is 0, an item the store has never seen
///   cannot have children, which lets a first crawl insert it without any lookup.
const V2: &str = r#"
DROP INDEX items_by_path;
CREATE INDEX items_folder_paths ON items (drive_key, id, path) WHERE is_folder = 1 AND deleted = 0;
ALTER TABLE drives ADD COLUMN orphans INTEGER NOT NULL DEFAULT 0;
UPDATE drives SET orphans = (
    SELECT COUNT(*) FROM items c
    WHERE c.drive_key = drives.key AND c.deleted = 0 AND c.parent_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM items p
                      WHERE p.drive_key = c.drive_key AND p.id = c.parent_id AND p.deleted = 0)
);
"#;

/// Version 3: item facets (package, malware, shortcut, MIME type, hashes, authors,
/// URLs) as compact JSON, on the mirror and on item events; `NULL`/empty for none.
const V3: &str = r#"
ALTER TABLE items ADD COLUMN facets TEXT;
ALTER TABLE events ADD COLUMN facets TEXT NOT NULL DEFAULT '';
"#;

/// Version 4: downloaded content. Per item, the cTag, hash and size of the last
/// successful download, when and where it went, and whether the managed mirror made
/// it (`managed`): a file is pending while its current cTag differs from this one.
const V4: &str = r#"
CREATE TABLE downloads (
    drive_key  INTEGER NOT NULL,
    item_id    TEXT NOT NULL,
    ctag       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    path       TEXT NOT NULL,
    managed    INTEGER NOT NULL,
    PRIMARY KEY (drive_key, item_id)
) WITHOUT ROWID;
"#;

/// Version 5: permission details. `permission_scopes` has a row for every item whose
/// permissions are known to be unique (`is_unique`, grants in `grants`) or are to be
/// fetched (`pending`; `owed`: 0 nothing, 1 a real difference, 2 a reported change is to
/// be journaled once fetched). Items
/// without a row inherit from their nearest ancestor with unique permissions.
const V5: &str = r#"
CREATE TABLE permission_scopes (
    drive_key   INTEGER NOT NULL,
    item_id     TEXT NOT NULL,
    is_unique   INTEGER NOT NULL,
    pending     INTEGER NOT NULL,
    owed        INTEGER NOT NULL,
    fetched_ms  INTEGER,
    PRIMARY KEY (drive_key, item_id)
) WITHOUT ROWID;
CREATE INDEX permission_scopes_pending ON permission_scopes (drive_key, item_id) WHERE pending = 1;
CREATE TABLE grants (
    drive_key  INTEGER NOT NULL,
    item_id    TEXT NOT NULL,
    grant_id   TEXT NOT NULL,
    anyone     INTEGER NOT NULL,
    external   INTEGER NOT NULL,
    json       TEXT NOT NULL,
    PRIMARY KEY (drive_key, item_id, grant_id)
) WITHOUT ROWID;
"#;

/// Version 6, for first-crawl writes: the parent relation moves from an index on
/// `items` to the table `item_links` (one row per item row with a parent, live or
/// deleted), so that a first crawl can stage its links in `staged_links`, appended in
/// feed order, and merge them sorted by parent in one statement when the crawl ends or
/// a subtree statement needs them (see `store/links.rs`). Graph lists items in no
/// parent order: maintained per item, the parent index took a random leaf write per
/// item, the larger part of what a first crawl wrote. `drives.staged_links` counts the
/// drive's staged links (and numbers the next one).
const V6: &str = r#"
CREATE TABLE item_links (
    drive_key  INTEGER NOT NULL,
    parent_id  TEXT NOT NULL,
    child_id   TEXT NOT NULL,
    PRIMARY KEY (drive_key, parent_id, child_id)
) WITHOUT ROWID;
INSERT INTO item_links (drive_key, parent_id, child_id)
    SELECT drive_key, parent_id, id FROM items WHERE parent_id IS NOT NULL
    ORDER BY drive_key, parent_id, id;
DROP INDEX items_by_parent;
CREATE TABLE staged_links (
    drive_key  INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    parent_id  TEXT NOT NULL,
    child_id   TEXT NOT NULL,
    PRIMARY KEY (drive_key, seq)
) WITHOUT ROWID;
ALTER TABLE drives ADD COLUMN staged_links INTEGER NOT NULL DEFAULT 0;
"#;

/// Version 7, for write volume: an item's facets are stored once. `items.facets_seq` is
/// the journal event, appended with the item's row, that carries its facets; the row's
/// own `facets` is then `NULL` (read both through `facets_of!`). Without it, a crawled
/// item wrote its ~700 bytes of facets twice, in its row and in its `created` event.
const V7: &str = r#"
ALTER TABLE items ADD COLUMN facets_seq INTEGER;
"#;

/// Applies the connection settings every store connection uses.
pub(super) fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Switching to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY without
    // calling the busy handler when another connection is opening the same new file
    // at that moment: retry until the busy timeout. In-memory databases answer "memory".
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => break,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Memory stays flat: 8 MiB of page cache per connection whatever the drive's size
    // (measured on a 1M-item crawl: a 64 MiB cache was no faster, the OS page cache
    // serves the misses). A crawl writes index leaves at random places, so a long WAL
    // window (256 MiB) lets a checkpoint copy each leaf once for many pages; the file is
    // cut back to 64 MiB after each checkpoint that empties it.
    conn.pragma_update(None, "cache_size", -8192)?;
    conn.pragma_update(None, "wal_autocheckpoint", 65536)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(())
}

/// The schema version recorded in the database; 0 for an empty database.
pub(super) fn version(conn: &Connection) -> Result<i64> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok(0);
    }
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match v {
        None => Ok(0),
        Some(v) => v.parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(|| {
            Error::State(format!(
                "the database's schema_version {v:?} is not a number; is this an m365sync store?"
            ))
        }),
    }
}

/// Brings the database up to `steps.len()`, applying each missing step in order.
///
/// Refuses (without touching anything) a database whose version is newer than this build.
/// Safe when several connections (or processes) open a fresh database at once: each step
/// re-reads the version under the write lock, so no step runs twice.
pub(super) fn migrate(conn: &mut Connection, steps: &[&str]) -> Result<i64> {
    let target = steps.len() as i64;
    // Fast path without the write lock: an up-to-date store is opened read-mostly.
    if check_version(version(conn)?, target)? == target {
        return Ok(target);
    }
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current = check_version(version(&tx)?, target)?;
        let Some(sql) = steps.get(current as usize) else {
            return Ok(target); // another connection finished the migration
        };
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
        )?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(current + 1).to_string()],
        )?;
        tx.commit()?;
        log::info!("store schema migrated to version {}", current + 1);
    }
}

/// `current`, unless it is newer than this build supports.
fn check_version(current: i64, target: i64) -> Result<i64> {
    if current > target {
        return Err(Error::State(format!(
            "the database has schema version {current} but this build of m365sync supports up \
             to {target}; use a newer m365sync or a fresh database file"
        )));
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        configure(&c).unwrap();
        c
    }

    #[test]
    fn empty_database_is_version_zero_then_current() {
        let mut c = conn();
        assert_eq!(version(&c).unwrap(), 0);
        assert_eq!(
            migrate(&mut c, MIGRATIONS).unwrap(),
            MIGRATIONS.len() as i64
        );
        assert_eq!(version(&c).unwrap(), MIGRATIONS.len() as i64);
        // Running again is a no-op.
        assert_eq!(
            migrate(&mut c, MIGRATIONS).unwrap(),
            MIGRATIONS.len() as i64
        );
    }

    #[test]
    fn steps_apply_in_order_from_the_current_version() {
        let mut c = conn();
        let steps = ["CREATE TABLE t (v INTEGER)", "INSERT INTO t VALUES (1)"];
        migrate(&mut c, &steps[..1]).unwrap();
        assert_eq!(version(&c).unwrap(), 1);
        let more = [steps[0], steps[1], "UPDATE t SET v = v * 10 + 2"];
        migrate(&mut c, &more).unwrap();
        assert_eq!(version(&c).unwrap(), 3);
        let v: i64 = c.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(v, 12, "step 2 ran before step 3, step 1 not repeated");
    }

    #[test]
    fn a_failing_step_leaves_the_previous_version() {
        let mut c = conn();
        let steps = ["CREATE TABLE t (v INTEGER)", "THIS IS NOT SQL"];
        assert!(migrate(&mut c, &steps).is_err());
        assert_eq!(version(&c).unwrap(), 1);
    }

    #[test]
    fn newer_database_is_refused() {
        let mut c = conn();
        migrate(&mut c, &["CREATE TABLE a (x)", "CREATE TABLE b (x)"]).unwrap();
        let err = migrate(&mut c, &["CREATE TABLE a (x)"]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::State(_)), "{msg}");
        assert!(
            msg.contains("schema version 2") && msg.contains("up to 1"),
            "{msg}"
        );
        assert_eq!(version(&c).unwrap(), 2);
    }

    #[test]
    fn garbage_version_is_an_error_not_a_panic() {
        let mut c = conn();
        c.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
             INSERT INTO meta VALUES ('schema_version', 'banana');",
        )
        .unwrap();
        assert!(migrate(&mut c, MIGRATIONS).is_err());
    }
}
