//! The SQLite store: drives, the item mirror, the event journal, consumers and
//! subscriptions, in one WAL-mode database.
//!
//! One [`Store`] wraps one connection; open one per thread (it is `Send`, not `Sync`).
//! Every delta page is applied in one transaction ([`Store::apply_page`]) holding the item
//! upserts, the events derived from them and the cursor, so a crash at any point resumes
//! from the last committed page with no event lost or duplicated. No secret is stored:
//! subscriptions keep only a hash of their clientState.

mod audit;
mod derive;
mod downloads;
mod drives;
mod items;
mod journal;
mod links;
mod page;
mod permissions;
mod records;
mod schema;
mod sites;
mod subscriptions;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use crate::error::{Error, Result};

pub use audit::AuditRecord;
pub use downloads::{Owner, PendingDownload, StoredContent};
pub use permissions::{FetchedPermissions, GrantFilter};
pub use records::{
    ApplyOptions, Cursor, DriveRecord, DriveState, MirrorItem, NewDrive, PageOutcome, SiteRecord,
    SubscriptionRecord,
};

/// A connection to the store. Open one per thread.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the store at `path`, applies pending schema migrations,
    /// and sets WAL mode, `synchronous=NORMAL` and a 5 s busy timeout.
    ///
    /// Fails with [`Error::State`] when the file was written by a newer
    /// m365sync (its schema version is above this build's). An SQLite error opening or configuring the file names it: the message reads
    /// `database PATH: WHY` (e.g. a read-only directory, a file locked by another process).
    pub fn open(path: &Path) -> Result<Store> {
        Connection::open(path)
            .map_err(Error::from)
            .and_then(Store::init)
            .map_err(|e| naming_database(e, path))
    }

    /// Opens a private in-memory store (for tests).
    #[cfg(test)]
    pub(crate) fn open_in_memory() -> Result<Store> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store> {
        schema::configure(&conn)?;
        schema::migrate(&mut conn, schema::MIGRATIONS)?;
        Ok(Store { conn })
    }

    /// The schema version of the open database.
    #[cfg(test)]
    fn schema_version(&self) -> Result<i64> {
        schema::version(&self.conn)
    }

    /// Stores a small named value (e.g. the engine's throttle counters, so that
    /// `m365sync status --db` can show them). Never used for secrets.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?
            .execute(rusqlite::params![key, value])?;
        Ok(())
    }

    /// A value stored with [`Store::set_meta`].
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }
}

/// Puts the database path into an SQLite error's message (keeping its code, so callers
/// still see a store error).
fn naming_database(e: Error, path: &Path) -> Error {
    match e {
        Error::Store(rusqlite::Error::SqliteFailure(code, message)) => {
            let why = message.unwrap_or_else(|| code.to_string());
            Error::Store(rusqlite::Error::SqliteFailure(
                code,
                Some(format!("database {}: {why}", path.display())),
            ))
        }
        other => other,
    }
}

/// Milliseconds since the Unix epoch, as stored in every `*_ms` column.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A limit or count passed to SQLite, which only knows signed integers.
fn sql_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

const fn assert_send<T: Send>() {}
const _: () = assert_send::<Store>();
