//! Downloaded content: the cTag, hash and size of each item's last successful
//! download, and the files still pending (their current cTag differs from it).

use rusqlite::{OptionalExtension, params};

use super::items;
use super::journal::{self, NewEvent};
use super::{Store, now_ms, sql_count};
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::facets::{ContentHashes, ItemFacets};

/// The last successful download of an item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredContent {
    /// cTag of the content downloaded.
    pub ctag: String,
    /// Base64 QuickXorHash of the bytes.
    pub hash: String,
    /// Bytes.
    pub size: u64,
    /// When it completed, ms since the Unix epoch.
    pub at_ms: i64,
    /// The local file it went to (empty for a host's writer).
    pub path: String,
}

/// A file whose current content was not downloaded yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingDownload {
    /// The drive.
    pub drive_id: String,
    /// The item.
    pub item_id: String,
    /// Its path in the drive.
    pub path: String,
    /// Its current cTag, as the last delta reported it.
    pub ctag: Option<String>,
    /// Its size in bytes.
    pub size: u64,
    /// The cTag last downloaded, if any.
    pub stored_ctag: Option<String>,
}

/// Items with content of their own: live files that are neither packages, shortcuts
/// nor flagged as malware (alias `i`, joined with `downloads d`).
/// The facets are compact JSON whose keys appear as `"key":` (inside a string value a
/// quote is escaped), so a substring test stands in for parsing every row.
const CANDIDATES: &str = concat!(
    "i.is_folder = 0 AND i.deleted = 0 AND (",
    items::facets_of!("i"),
    " IS NULL OR (instr(",
    items::facets_of!("i"),
    ", '\"package\":') = 0 AND instr(",
    items::facets_of!("i"),
    ", '\"malware\":') = 0 AND instr(",
    items::facets_of!("i"),
    ", '\"remote\":') = 0))"
);

/// Who counts a download as done: any successful download, or only the managed
/// mirror's (a host's own download elsewhere leaves the mirror's copy missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Any download.
    Anyone,
    /// The managed mirror.
    Mirror,
}

impl StoredContent {
    /// A download that completed just now.
    pub fn now(ctag: String, hash: String, size: u64, path: String) -> StoredContent {
        StoredContent {
            ctag,
            hash,
            size,
            at_ms: now_ms(),
            path,
        }
    }
}

impl Store {
    /// The key of a known drive; [`Error::InvalidInput`] for an unknown one.
    pub(super) fn drive_key(&self, drive: &str) -> Result<i64> {
        self.conn
            .prepare_cached("SELECT key FROM drives WHERE id = ?1")?
            .query_row([drive], |r| r.get(0))
            .optional()?
            .ok_or_else(|| {
                Error::InvalidInput(format!("drive {drive} is not known to this engine"))
            })
    }

    /// The last successful download of an item.
    pub fn last_download(&self, drive: &str, item: &str) -> Result<Option<StoredContent>> {
        let key = self.drive_key(drive)?;
        Ok(self
            .conn
            .prepare_cached(
                "SELECT ctag, hash, size, at_ms, path FROM downloads
                 WHERE drive_key = ?1 AND item_id = ?2",
            )?
            .query_row(params![key, item], |r| {
                Ok(StoredContent {
                    ctag: r.get(0)?,
                    hash: r.get(1)?,
                    size: r.get::<_, i64>(2)?.max(0) as u64,
                    at_ms: r.get(3)?,
                    path: r.get(4)?,
                })
            })
            .optional()?)
    }

    /// Records a successful download, in one transaction with, for the managed
    /// mirror, its `content_stored` event (only when the cTag is new for the mirror,
    /// so that the event comes once per cTag). Returns the event's seq, if any.
    pub fn record_download(
        &mut self,
        drive: &str,
        item: &str,
        content: &StoredContent,
        owner: Owner,
    ) -> Result<Option<i64>> {
        let key = self.drive_key(drive)?;
        // Immediate: a deferred transaction that reads, then writes after another
        // connection committed, fails with SQLITE_BUSY without waiting.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let previous: Option<(String, bool)> = tx
            .prepare_cached(
                "SELECT ctag, managed FROM downloads WHERE drive_key = ?1 AND item_id = ?2",
            )?
            .query_row(params![key, item], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let managed = owner == Owner::Mirror;
        tx.prepare_cached(
            "INSERT INTO downloads (drive_key, item_id, ctag, hash, size, at_ms, path, managed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (drive_key, item_id) DO UPDATE SET ctag = excluded.ctag,
                 hash = excluded.hash, size = excluded.size, at_ms = excluded.at_ms,
                 path = excluded.path, managed = excluded.managed",
        )?
        .execute(params![
            key,
            item,
            content.ctag,
            content.hash,
            i64::try_from(content.size).unwrap_or(i64::MAX),
            content.at_ms,
            content.path,
            managed
        ])?;
        let announced =
            previous.is_some_and(|(ctag, was_managed)| was_managed && ctag == content.ctag);
        let seq = if managed && !announced {
            let (path, facets): (String, Option<String>) = tx
                .prepare_cached(concat!(
                    "SELECT i.path, ",
                    items::facets_of!("i"),
                    " FROM items i WHERE i.drive_key = ?1 AND i.id = ?2"
                ))?
                .query_row(params![key, item], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or_default();
            let mut facets = ItemFacets::from_json(facets.as_deref());
            facets.hashes = Some(ContentHashes {
                quick_xor: Some(content.hash.clone()),
                ..facets.hashes.unwrap_or_default()
            });
            let facets = facets.to_json().unwrap_or_default();
            Some(journal::append(
                &tx,
                EventKind::ContentStored,
                drive,
                now_ms(),
                &NewEvent {
                    item_id: item,
                    path: &path,
                    ctag: Some(&content.ctag),
                    size: i64::try_from(content.size).unwrap_or(i64::MAX),
                    detail: &content.path,
                    facets: &facets,
                    ..NewEvent::default()
                },
            )?)
        } else {
            None
        };
        tx.commit()?;
        Ok(seq)
    }

    /// Up to `limit` files of a drive whose current content `owner` has not
    /// downloaded, with ids after `after` (`""` from the start), in id order: a
    /// caller walks a large drive page by page along the `(drive, id)` index.
    pub fn pending_downloads(
        &self,
        drive: &str,
        owner: Owner,
        after: &str,
        limit: usize,
    ) -> Result<Vec<PendingDownload>> {
        let key = self.drive_key(drive)?;
        let sql = format!(
            "SELECT i.id, i.path, i.ctag, i.size, d.ctag FROM items i
             LEFT JOIN downloads d ON d.drive_key = i.drive_key AND d.item_id = i.id
             WHERE i.drive_key = ?1 AND i.id > ?2 AND {CANDIDATES}
               AND (d.ctag IS NULL OR d.ctag IS NOT i.ctag OR (?3 AND d.managed = 0))
             ORDER BY i.id LIMIT ?4"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![key, after, owner == Owner::Mirror, sql_count(limit)],
            |r| {
                Ok(PendingDownload {
                    drive_id: drive.to_string(),
                    item_id: r.get(0)?,
                    path: r.get(1)?,
                    ctag: r.get(2)?,
                    size: r.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as u64,
                    stored_ctag: r.get(4)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many files of a drive have content not downloaded yet (by anyone).
    pub fn pending_download_count(&self, drive: &str) -> Result<u64> {
        let key = self.drive_key(drive)?;
        let sql = format!(
            "SELECT COUNT(*) FROM items i
             LEFT JOIN downloads d ON d.drive_key = i.drive_key AND d.item_id = i.id
             WHERE i.drive_key = ?1 AND {CANDIDATES} AND (d.ctag IS NULL OR d.ctag IS NOT i.ctag)"
        );
        let n: i64 = self
            .conn
            .prepare_cached(&sql)?
            .query_row([key], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Up to `limit` of the managed mirror's copies whose item is gone (deleted, or no
    /// longer a file with content): (drive id, item id, local path).
    pub fn stale_mirror_copies(&self, limit: usize) -> Result<Vec<(String, String, String)>> {
        let sql = format!(
            "SELECT dr.id, d.item_id, d.path FROM downloads d
             JOIN drives dr ON dr.key = d.drive_key
             LEFT JOIN items i ON i.drive_key = d.drive_key AND i.id = d.item_id
             WHERE d.managed = 1 AND (i.id IS NULL OR NOT ({CANDIDATES}))
             LIMIT ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([sql_count(limit)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether the item is a live file with content of its own (what a download may
    /// fetch; its partial file is worth keeping).
    pub fn has_content(&self, drive: &str, item: &str) -> Result<bool> {
        let key = self.drive_key(drive)?;
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM items i WHERE i.drive_key = ?1 AND i.id = ?2 AND {CANDIDATES})"
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![key, item], |r| r.get(0))?)
    }

    /// Forgets an item's download (its copy was removed).
    pub fn forget_download(&self, drive: &str, item: &str) -> Result<()> {
        let key = self.drive_key(drive)?;
        self.conn
            .prepare_cached("DELETE FROM downloads WHERE drive_key = ?1 AND item_id = ?2")?
            .execute(params![key, item])?;
        Ok(())
    }
}
