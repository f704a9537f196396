//! The event journal and its consumers' acknowledgements.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, now_ms, sql_count};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::facets::ItemFacets;

/// An event about to be appended; `seq` is assigned by SQLite.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NewEvent<'a> {
    pub item_id: &'a str,
    pub path: &'a str,
    pub old_path: &'a str,
    pub ctag: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub size: i64,
    pub is_folder: bool,
    pub detail: &'a str,
    /// The item's facets as stored (compact JSON); empty for none.
    pub facets: &'a str,
}

/// Appends one event inside the caller's transaction and returns its seq.
pub(super) fn append(
    conn: &Connection,
    kind: EventKind,
    drive: &str,
    at_ms: i64,
    e: &NewEvent,
) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO events (kind, drive_id, item_id, path, old_path, ctag, etag, size,
                             is_folder, at_ms, detail, facets)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    stmt.execute(params![
        kind.as_str(),
        drive,
        e.item_id,
        e.path,
        e.old_path,
        e.ctag.unwrap_or(""),
        e.etag.unwrap_or(""),
        e.size,
        e.is_folder,
        at_ms,
        e.detail,
        e.facets,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// The highest seq ever assigned (seqs are never reused), 0 for an empty journal.
pub(super) fn last_seq(conn: &Connection) -> Result<i64> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'events'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(seq.unwrap_or(0))
}

fn kind_column(row: &Row, idx: usize) -> rusqlite::Result<EventKind> {
    let name: String = row.get(idx)?;
    EventKind::parse(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            Type::Text,
            format!("unknown event kind {name:?} in the journal").into(),
        )
    })
}

fn event_from_row(row: &Row) -> rusqlite::Result<Event> {
    Ok(Event {
        seq: row.get(0)?,
        kind: kind_column(row, 1)?,
        drive_id: row.get(2)?,
        item_id: row.get(3)?,
        path: row.get(4)?,
        old_path: row.get(5)?,
        ctag: row.get(6)?,
        etag: row.get(7)?,
        size: row.get(8)?,
        is_folder: row.get(9)?,
        at_ms: row.get(10)?,
        detail: row.get(11)?,
        facets: ItemFacets::from_json(Some(row.get::<_, String>(12)?.as_str())),
    })
}

impl Store {
    /// Appends a drive-level event (subscription_*, drive_added/removed, error, ...) in its
    /// own transaction and returns its seq.
    pub fn append_event(&self, kind: EventKind, drive: &str, detail: &str) -> Result<i64> {
        let e = NewEvent {
            detail,
            ..NewEvent::default()
        };
        append(&self.conn, kind, drive, now_ms(), &e)
    }

    /// Up to `limit` events with a seq above `after_seq`, oldest first.
    pub fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, kind, drive_id, item_id, path, old_path, ctag, etag, size, is_folder,
                    at_ms, detail, facets
             FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after_seq, sql_count(limit)], event_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The highest seq in the journal (0 when empty).
    pub fn last_seq(&self) -> Result<i64> {
        last_seq(&self.conn)
    }

    /// The last seq `consumer` acknowledged; 0 for a consumer never seen.
    pub fn acked_seq(&self, consumer: &str) -> Result<i64> {
        let seq: Option<i64> = self
            .conn
            .prepare_cached("SELECT acked_seq FROM consumers WHERE name = ?1")?
            .query_row([consumer], |r| r.get(0))
            .optional()?;
        Ok(seq.unwrap_or(0))
    }

    /// Records that `consumer` processed every event up to `seq`. Never moves backwards;
    /// a seq beyond the journal's end is refused, since it would swallow future events.
    pub fn ack(&self, consumer: &str, seq: i64) -> Result<()> {
        let last = self.last_seq()?;
        if !(0..=last).contains(&seq) {
            return Err(Error::InvalidInput(format!(
                "cannot acknowledge seq {seq}: the journal holds seqs 1..={last}"
            )));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO consumers (name, acked_seq) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET acked_seq = MAX(acked_seq, excluded.acked_seq)",
            )?
            .execute(params![consumer, seq])?;
        Ok(())
    }

    /// How many events of each kind the journal holds, in kind order (absent kinds omitted).
    pub fn event_counts(&self) -> Result<Vec<(EventKind, i64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT kind, COUNT(*) FROM events GROUP BY kind")?;
        let rows = stmt.query_map([], |r| Ok((kind_column(r, 0)?, r.get::<_, i64>(1)?)))?;
        let mut counts = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        counts.sort_by_key(|(k, _)| *k as u32);
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_level_events_round_trip_and_page() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.last_seq().unwrap(), 0);
        assert!(s.events_after(0, 10).unwrap().is_empty());
        for i in 0..5 {
            let seq = s
                .append_event(EventKind::Error, "d1", &format!("boom {i}"))
                .unwrap();
            assert_eq!(seq, i + 1);
        }
        assert_eq!(s.last_seq().unwrap(), 5);
        let first = s.events_after(0, 2).unwrap();
        assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        let next = s.events_after(first[1].seq, 2).unwrap();
        assert_eq!(next.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
        let rest = s.events_after(4, 100).unwrap();
        assert_eq!(rest.len(), 1);
        let e = &rest[0];
        assert_eq!(e.kind, EventKind::Error);
        assert_eq!(e.drive_id, "d1");
        assert_eq!(e.detail, "boom 4");
        assert_eq!((e.item_id.as_str(), e.path.as_str()), ("", ""));
        assert!(e.at_ms > 0);
        assert!(s.events_after(5, 100).unwrap().is_empty());
        assert!(s.events_after(0, 0).unwrap().is_empty());
    }

    #[test]
    fn ack_is_per_consumer_and_monotonic() {
        let s = Store::open_in_memory().unwrap();
        for _ in 0..10 {
            s.append_event(EventKind::DriveAdded, "d", "").unwrap();
        }
        assert_eq!(s.acked_seq("a").unwrap(), 0);
        s.ack("a", 7).unwrap();
        s.ack("a", 3).unwrap();
        assert_eq!(s.acked_seq("a").unwrap(), 7);
        s.ack("b", 2).unwrap();
        assert_eq!(s.acked_seq("b").unwrap(), 2);
        s.ack("a", 10).unwrap();
        assert_eq!(s.acked_seq("a").unwrap(), 10);
        assert!(matches!(s.ack("a", 11), Err(Error::InvalidInput(_))));
        assert!(matches!(s.ack("a", -1), Err(Error::InvalidInput(_))));
        assert_eq!(s.acked_seq("a").unwrap(), 10);
    }

    #[test]
    fn counts_group_by_kind_in_kind_order() {
        let s = Store::open_in_memory().unwrap();
        s.append_event(EventKind::Error, "d", "x").unwrap();
        s.append_event(EventKind::DriveAdded, "d", "").unwrap();
        s.append_event(EventKind::Error, "d", "y").unwrap();
        assert_eq!(
            s.event_counts().unwrap(),
            [(EventKind::DriveAdded, 1), (EventKind::Error, 2)]
        );
    }

    #[test]
    fn unknown_kind_in_the_journal_is_an_error() {
        let s = Store::open_in_memory().unwrap();
        s.conn
            .execute(
                "INSERT INTO events (kind, drive_id, at_ms) VALUES ('bogus', 'd', 1)",
                [],
            )
            .unwrap();
        assert!(s.events_after(0, 10).is_err());
        assert!(s.event_counts().is_err());
    }
}
