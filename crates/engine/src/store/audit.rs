//! Drift audits: the bookkeeping of the full enumerations the engine starts on purpose.
//!
//! An audit is a resync started without a 410 (see [`Store::begin_audit`]); the store's
//! usual sweep reconciles the mirror and journals what differed. What this module adds is
//! the memory of it, per drive, in the `meta` table under `audit:{drive}` (a small JSON
//! record, so no schema migration is needed): whether an audit is under way, when the
//! last one finished and how much drift — changes delta had not reported — each found.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::{DriveState, Store, now_ms};
use crate::error::{Error, Result};

/// The `detail` of the `resync_started` event that opens an audit.
pub const AUDIT_REASON: &str = "audit: full enumeration to find changes delta did not report";

/// What the store remembers of a drive's audits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Audits completed.
    pub audits: u64,
    /// When the last audit completed (ms since the epoch).
    pub last_audit_ms: Option<i64>,
    /// Changes the last audit found that delta had not reported.
    pub last_drift: Option<i64>,
    /// Changes all audits found that delta had not reported.
    pub drift_total: i64,
    /// An audit's enumeration is under way (it resumes, as any resync, after a restart).
    pub pending: bool,
}

fn meta_key(drive: &str) -> String {
    format!("audit:{drive}")
}

fn read(conn: &rusqlite::Connection, drive: &str) -> Result<AuditRecord> {
    let json: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([meta_key(drive)], |r| r.get(0))
        .optional()?;
    match json {
        None => Ok(AuditRecord::default()),
        Some(j) => serde_json::from_str(&j)
            .map_err(|e| Error::State(format!("audit record of drive {drive} is corrupt: {e}"))),
    }
}

fn write(conn: &rusqlite::Connection, drive: &str, record: &AuditRecord) -> Result<()> {
    let json = serde_json::to_string(record).map_err(|e| Error::State(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![meta_key(drive), json])?;
    Ok(())
}

impl Store {
    /// The audit record of `drive` (all zero when it was never audited).
    pub fn audit_record(&self, drive: &str) -> Result<AuditRecord> {
        read(&self.conn, drive)
    }

    /// Starts an audit of a synced drive: a resync (new generation, no cursor,
    /// `resync_started` with detail [`AUDIT_REASON`]) marked as an audit. Returns the
    /// seq of the `resync_started` event. A drive that never completed its first crawl
    /// just restarts that crawl (as [`Store::begin_resync`] does) and 0 is returned.
    ///
    /// The deltaLink the drive had is dropped; the enumeration ends with a fresh one.
    /// That loses nothing: Graph's final deltaLink of an enumeration reports every change
    /// made after that enumeration started, and changes made before it are in its pages.
    pub fn begin_audit(&mut self, drive: &str) -> Result<i64> {
        let seq = self.begin_resync(drive, AUDIT_REASON)?;
        if seq == 0 {
            return Ok(0);
        }
        // A crash right here leaves a plain resync: its events are journaled all the
        // same, only the drift counters miss them.
        let mut record = read(&self.conn, drive)?;
        record.pending = true;
        write(&self.conn, drive, &record)?;
        Ok(seq)
    }

    /// Closes the audit of `drive` once its enumeration completed (the drive is `synced`
    /// again): the drive's resync change count becomes the audit's drift. Returns the
    /// updated record, or `None` when no audit was waiting to be closed. Idempotent, so
    /// it runs after every job, also the one that finishes an audit resumed after a crash.
    pub fn finish_audit(&mut self, drive: &str) -> Result<Option<AuditRecord>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut record = read(&tx, drive)?;
        if !record.pending {
            return Ok(None);
        }
        let (state, changes): (String, i64) = tx
            .prepare_cached("SELECT state, resync_changes FROM drives WHERE id = ?1")?
            .query_row([drive], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if DriveState::parse(&state) != Some(DriveState::Synced) {
            return Ok(None);
        }
        record.pending = false;
        record.audits += 1;
        record.last_audit_ms = Some(now_ms());
        record.last_drift = Some(changes);
        record.drift_total += changes;
        write(&tx, drive, &record)?;
        tx.commit()?;
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::types::DriveItem;
    use crate::store::{ApplyOptions, Cursor, NewDrive};

    fn item(json: serde_json::Value) -> DriveItem {
        serde_json::from_value(json).unwrap()
    }

    fn root() -> DriveItem {
        item(serde_json::json!({"id": "root", "name": "root", "root": {}, "folder": {}}))
    }

    fn file(id: &str) -> DriveItem {
        item(serde_json::json!({
            "id": id, "name": id, "file": {}, "cTag": "c1", "eTag": "e1",
            "parentReference": {"id": "root"}
        }))
    }

    #[test]
    fn an_audit_counts_what_its_enumeration_changed() {
        let mut s = Store::open_in_memory().unwrap();
        s.upsert_drive(&NewDrive {
            id: "d",
            ..NewDrive::default()
        })
        .unwrap();
        let opts = ApplyOptions::default();
        s.apply_page(
            "d",
            &[root(), file("a"), file("b")],
            Cursor::Delta("l1"),
            &opts,
        )
        .unwrap();
        assert_eq!(s.finish_audit("d").unwrap(), None, "no audit under way");

        let seq = s.begin_audit("d").unwrap();
        assert!(seq > 0);
        assert!(s.audit_record("d").unwrap().pending);
        assert_eq!(s.finish_audit("d").unwrap(), None, "still enumerating");
        // "b" was deleted without a tombstone: the audit's enumeration no longer has it.
        s.apply_page("d", &[root(), file("a")], Cursor::Delta("l2"), &opts)
            .unwrap();
        let r = s.finish_audit("d").unwrap().expect("closed");
        assert_eq!((r.audits, r.last_drift, r.drift_total), (1, Some(1), 1));
        assert!(!r.pending && r.last_audit_ms.is_some());
        assert_eq!(s.finish_audit("d").unwrap(), None, "closed once");

        s.begin_audit("d").unwrap();
        s.apply_page("d", &[root(), file("a")], Cursor::Delta("l3"), &opts)
            .unwrap();
        let r = s.finish_audit("d").unwrap().expect("closed");
        assert_eq!((r.audits, r.last_drift, r.drift_total), (2, Some(0), 1));
        assert_eq!(s.audit_record("other").unwrap(), AuditRecord::default());
    }
}
