//! Drives and their state machine (`New → Crawling → Synced ⇄ Resyncing`).

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::journal::{self, NewEvent};
use super::{DriveRecord, DriveState, NewDrive, Store, now_ms};
use crate::error::{Error, Result};
use crate::event::EventKind;

const DRIVE_COLUMNS: &str = "id, site_id, name, kind, state, cursor, last_full_crawl_ms, \
                             last_delta_ms, last_error, item_count, removed, cursor_is_delta";

fn state_column(row: &Row, idx: usize) -> rusqlite::Result<DriveState> {
    let name: String = row.get(idx)?;
    DriveState::parse(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            Type::Text,
            format!("unknown drive state {name:?}").into(),
        )
    })
}

fn drive_from_row(row: &Row) -> rusqlite::Result<DriveRecord> {
    Ok(DriveRecord {
        id: row.get(0)?,
        site_id: row.get(1)?,
        name: row.get(2)?,
        kind: row.get(3)?,
        state: state_column(row, 4)?,
        cursor: row.get(5)?,
        last_full_crawl_ms: row.get(6)?,
        last_delta_ms: row.get(7)?,
        last_error: row.get(8)?,
        item_count: row.get(9)?,
        removed: row.get(10)?,
        cursor_is_delta: row.get(11)?,
    })
}

/// The bookkeeping of a drive's enumeration that one page reads and writes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Progress {
    /// The drive's integer key in the items table.
    pub key: i64,
    pub state: DriveState,
    /// Generation of the current (or last) full enumeration.
    pub enum_gen: i64,
    /// Change events emitted so far by the running resync.
    pub resync_changes: i64,
    /// Live items, root excluded.
    pub item_count: i64,
    /// At least the number of live items placed at the top because their parent was
    /// unknown; 0 means no item waits for a parent.
    pub orphans: i64,
    /// Links of the drive's first crawl not yet merged (see `store/links.rs`).
    pub staged_links: i64,
}

/// Reads a drive's enumeration bookkeeping; an unknown drive is an error.
pub(super) fn progress(conn: &Connection, drive: &str) -> Result<Progress> {
    conn.prepare_cached(
        "SELECT key, state, enum_gen, resync_changes, item_count, orphans, staged_links
         FROM drives
         WHERE id = ?1",
    )?
    .query_row([drive], |r| {
        Ok(Progress {
            key: r.get(0)?,
            state: state_column(r, 1)?,
            enum_gen: r.get(2)?,
            resync_changes: r.get(3)?,
            item_count: r.get(4)?,
            orphans: r.get(5)?,
            staged_links: r.get(6)?,
        })
    })
    .optional()?
    .ok_or_else(|| unknown_drive(drive))
}

fn unknown_drive(drive: &str) -> Error {
    Error::State(format!("drive {drive:?} is not in the store; add it first"))
}

/// Starts a full enumeration from scratch: new generation, no cursor.
/// Starts the drive's full enumeration over (a new generation, no cursor). The count of
/// changes a resync found is kept when a resync restarts (a 410 in the middle of one):
/// those changes were journaled, and the one `resync_completed` reports them all.
fn restart_enumeration(conn: &Connection, drive: &str, state: DriveState) -> Result<()> {
    conn.prepare_cached(
        "UPDATE drives SET enum_gen = enum_gen + 1, cursor = NULL, cursor_is_delta = 0,
                resync_changes = CASE WHEN state = 'resyncing' AND ?2 = 'resyncing'
                                      THEN resync_changes ELSE 0 END,
                state = ?2
         WHERE id = ?1",
    )?
    .execute(params![drive, state.as_str()])?;
    Ok(())
}

impl Store {
    /// Adds a drive (state `New`) or refreshes the names of a known one. Returns `true`
    /// when the drive is new to the store or was flagged removed (it is back in scope).
    pub fn upsert_drive(&self, d: &NewDrive) -> Result<bool> {
        let tx = self.conn.unchecked_transaction()?;
        let removed: Option<bool> = tx
            .prepare_cached("SELECT removed FROM drives WHERE id = ?1")?
            .query_row([d.id], |r| r.get(0))
            .optional()?;
        tx.prepare_cached(
            "INSERT INTO drives (id, site_id, name, kind) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET
                 site_id = COALESCE(excluded.site_id, site_id),
                 name = COALESCE(excluded.name, name),
                 kind = COALESCE(excluded.kind, kind),
                 removed = 0",
        )?
        .execute(params![d.id, d.site_id, d.name, d.kind])?;
        tx.commit()?;
        Ok(removed.is_none_or(|r| r))
    }

    /// One drive, if known.
    pub fn drive(&self, id: &str) -> Result<Option<DriveRecord>> {
        let sql = format!("SELECT {DRIVE_COLUMNS} FROM drives WHERE id = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id], drive_from_row)
            .optional()?)
    }

    /// Every known drive (removed ones included), sorted by id.
    pub fn drives(&self) -> Result<Vec<DriveRecord>> {
        let sql = format!("SELECT {DRIVE_COLUMNS} FROM drives ORDER BY id");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], drive_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Starts the first crawl (state `New → Crawling`, new generation). Does nothing when
    /// the drive is past `New`: a crawl or resync under way resumes from its cursor.
    pub fn begin_crawl(&mut self, drive: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let p = progress(&tx, drive)?;
        if p.state == DriveState::New {
            restart_enumeration(&tx, drive, DriveState::Crawling)?;
        } else {
            log::debug!("begin_crawl on drive {drive} in state {}: no-op", p.state);
        }
        tx.commit()?;
        Ok(())
    }

    /// Handles a 410: state → `Resyncing`, new generation, cursor cleared, and a
    /// `resync_started` event (detail = `reason`) whose seq is returned. A drive that never
    /// completed its first crawl restarts that crawl instead (state `Crawling`, new
    /// generation, no event) and 0 is returned; so does a resync already under way (it
    /// starts over, and its first `resync_started` stands).
    pub fn begin_resync(&mut self, drive: &str, reason: &str) -> Result<i64> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let p = progress(&tx, drive)?;
        let seq = match p.state {
            DriveState::New | DriveState::Crawling => {
                restart_enumeration(&tx, drive, DriveState::Crawling)?;
                0
            }
            // A resync that meets a 410 starts over; its `resync_started` stands.
            DriveState::Resyncing => {
                restart_enumeration(&tx, drive, DriveState::Resyncing)?;
                0
            }
            DriveState::Synced => {
                restart_enumeration(&tx, drive, DriveState::Resyncing)?;
                let e = NewEvent {
                    detail: reason,
                    ..NewEvent::default()
                };
                journal::append(&tx, EventKind::ResyncStarted, drive, now_ms(), &e)?
            }
        };
        tx.commit()?;
        Ok(seq)
    }

    /// Records (or clears, with `None`) the drive's persistent error.
    pub fn set_drive_error(&self, drive: &str, error: Option<&str>) -> Result<()> {
        let n = self
            .conn
            .prepare_cached("UPDATE drives SET last_error = ?2 WHERE id = ?1")?
            .execute(params![drive, error])?;
        if n == 0 {
            return Err(unknown_drive(drive));
        }
        Ok(())
    }

    /// Flags the drive as removed (out of scope or gone); its items are kept.
    pub fn mark_drive_removed(&self, drive: &str) -> Result<()> {
        let n = self
            .conn
            .prepare_cached("UPDATE drives SET removed = 1 WHERE id = ?1")?
            .execute([drive])?;
        if n == 0 {
            return Err(unknown_drive(drive));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive(id: &str) -> NewDrive<'_> {
        NewDrive {
            id,
            ..NewDrive::default()
        }
    }

    #[test]
    fn upsert_reports_new_drives_and_keeps_known_names() {
        let s = Store::open_in_memory().unwrap();
        let d = NewDrive {
            id: "b",
            site_id: Some("s1"),
            name: Some("Documents"),
            kind: Some("documentLibrary"),
        };
        assert!(s.upsert_drive(&d).unwrap());
        assert!(!s.upsert_drive(&drive("b")).unwrap());
        assert!(s.upsert_drive(&drive("a")).unwrap());
        let b = s.drive("b").unwrap().unwrap();
        assert_eq!(b.site_id.as_deref(), Some("s1"));
        assert_eq!(b.name.as_deref(), Some("Documents"));
        assert_eq!(b.kind.as_deref(), Some("documentLibrary"));
        assert_eq!(b.state, DriveState::New);
        assert_eq!((b.cursor, b.item_count, b.removed), (None, 0, false));
        let ids: Vec<_> = s.drives().unwrap().into_iter().map(|d| d.id).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(s.drive("zzz").unwrap().is_none());
    }

    #[test]
    fn removed_drive_comes_back_as_added() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_drive(&drive("a")).unwrap();
        s.mark_drive_removed("a").unwrap();
        assert!(s.drive("a").unwrap().unwrap().removed);
        assert!(s.upsert_drive(&drive("a")).unwrap());
        assert!(!s.drive("a").unwrap().unwrap().removed);
        assert!(s.mark_drive_removed("nope").is_err());
    }

    #[test]
    fn drive_error_is_set_and_cleared() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_drive(&drive("a")).unwrap();
        s.set_drive_error("a", Some("403 accessDenied")).unwrap();
        assert_eq!(
            s.drive("a").unwrap().unwrap().last_error.as_deref(),
            Some("403 accessDenied")
        );
        s.set_drive_error("a", None).unwrap();
        assert_eq!(s.drive("a").unwrap().unwrap().last_error, None);
        assert!(s.set_drive_error("nope", None).is_err());
    }

    #[test]
    fn begin_crawl_only_moves_new_drives() {
        let mut s = Store::open_in_memory().unwrap();
        s.upsert_drive(&drive("a")).unwrap();
        s.begin_crawl("a").unwrap();
        let p = progress(&s.conn, "a").unwrap();
        assert_eq!((p.state, p.enum_gen), (DriveState::Crawling, 1));
        s.begin_crawl("a").unwrap();
        assert_eq!(progress(&s.conn, "a").unwrap().enum_gen, 1);
        assert!(s.begin_crawl("nope").is_err());
    }

    #[test]
    fn resync_before_first_crawl_restarts_the_crawl_silently() {
        let mut s = Store::open_in_memory().unwrap();
        s.upsert_drive(&drive("a")).unwrap();
        s.begin_crawl("a").unwrap();
        assert_eq!(s.begin_resync("a", "410").unwrap(), 0);
        let p = progress(&s.conn, "a").unwrap();
        assert_eq!((p.state, p.enum_gen), (DriveState::Crawling, 2));
        assert_eq!(s.last_seq().unwrap(), 0);
        assert!(s.begin_resync("nope", "410").is_err());
    }
}
