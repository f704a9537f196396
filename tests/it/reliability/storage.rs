//! Storage faults: a database locked by another connection, a directory where the
//! database cannot be created, and a full disk. Each gives a clear error, leaves the
//! database intact, and the engine catches up once the fault clears.

use std::ffi::{c_char, c_int};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Once;

use crate::support::engine::*;
use crate::support::reliability::captured_log;
use crate::support::wait_until;
use m365sync::{Config, Engine, Error, EventKind};
use parking_lot::Mutex;
use rusqlite::{Connection, ffi};
use serde_json::json;

/// `PRAGMA integrity_check` of the database says `ok`.
fn assert_intact(db: &Path) {
    let conn = Connection::open(db).expect("open for the integrity check");
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(verdict, "ok");
}

/// Creates `n` files at the top of the drive; returns their ids.
fn create_files(sim: &m365sync_sim::Simulator, drive: &str, prefix: &str, n: usize) {
    let root = sim.root_id(drive).unwrap();
    for i in 0..n {
        sim.create_item(drive, &root, &format!("{prefix}-{i}.txt"), false, b"x")
            .unwrap();
    }
}

/// Asserts that the events after `before` announce `n` new items, each once.
fn assert_created_once(db: &Path, before: i64, n: usize) {
    let events = events_after(db, before);
    assert_no_duplicates(&events, EventKind::Created);
    assert_eq!(count_kind(&events, EventKind::Created), n);
}

#[test]
fn a_locked_database_fails_the_job_clearly_and_the_engine_catches_up() {
    // The capturing logger (and the SQLite auto-extension) are process-wide.
    if crate::support::in_own_process(concat!(
        module_path!(),
        "::a_locked_database_fails_the_job_clearly_and_the_engine_catches_up"
    )) {
        return;
    }
    let log = captured_log();
    let sim = one_drive_sim(100, json!({ "seed": 21 }));
    let drive = drive_ids(&sim).remove(0);
    let work = Workdir::new();
    let db = work.db();
    let engine = start_synced(&sim, &db, json!({}));
    let before = last_seq(&db);

    // Another connection (as another process would) holds the write lock longer than
    // the engine's busy timeout.
    let locker = Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    create_files(&sim, &drive, "while-locked", 20);
    let needle = format!("drive {drive}: database error: database is locked");
    wait_until("a job failing on the lock", || log.contains(&needle));
    let status = engine.status().expect("status is readable during the lock");
    assert!(status.running);
    locker.execute_batch("COMMIT").unwrap();
    drop(locker);

    wait_mirror_matches(&db, &sim);
    wait_rounds(&engine, 2);
    engine.stop();
    assert_created_once(&db, before, 20);
    assert_intact(&db);
}

/// A directory where no file can be created: a read-only temporary directory, or, when
/// the tests run as root (who ignores permission bits), sysfs, which refuses new files to
/// everyone. The temporary directory is returned too, so that the caller can clear the fault.
fn unwritable_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(dir.path().join("probe"), b"").is_err() {
        return (dir.path().to_path_buf(), Some(dir));
    }
    (PathBuf::from("/sys"), None)
}

#[test]
fn an_unwritable_directory_is_a_clear_error_naming_the_database() {
    let sim = one_drive_sim(20, json!({ "seed": 22 }));
    let (dir, owned) = unwritable_dir();
    let db = dir.join("engine.db");
    let config = Config::from_json(&engine_json(&sim, &db, json!({})).to_string()).unwrap();
    let e = Engine::open(config.clone()).err().expect("open must fail");
    assert!(matches!(e, Error::Store(_)), "{e:?}");
    let message = e.to_string();
    assert!(
        message.contains(&db.display().to_string()) && message.contains("unable to open"),
        "{message}"
    );
    assert!(!db.exists());
    if let Some(owned) = owned {
        // The fault clears: the same configuration works.
        std::fs::set_permissions(owned.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let engine = Engine::open(config).expect("open once writable");
        engine.start().expect("start");
        wait_mirror_matches(&db, &sim);
        engine.stop();
    }
}

/// The database (canonical path) whose connections get a page limit, and the limit.
static PAGE_CAP: Mutex<Option<(PathBuf, i64)>> = Mutex::new(None);

fn cap_pages(conn: Connection) -> rusqlite::Result<()> {
    let cap = PAGE_CAP.lock().clone();
    if let (Some((path, pages)), Some(opened)) = (cap, conn.path()) {
        if Path::new(opened).canonicalize().ok().as_deref() == Some(path.as_path()) {
            conn.pragma_update(None, "max_page_count", pages)?;
        }
    }
    Ok(())
}

/// SQLite calls this for every connection the process opens, the engine's included.
unsafe extern "C" fn cap_pages_entry(
    db: *mut ffi::sqlite3,
    err: *mut *mut c_char,
    api: *const ffi::sqlite3_api_routines,
) -> c_int {
    let _ = api;
    // SAFETY: called by SQLite with a live connection handle, which is not closed here.
    unsafe { rusqlite::auto_extension::init_auto_extension(db, err, cap_pages) }
}

#[test]
fn a_full_disk_fails_pages_without_damage_and_the_engine_catches_up() {
    // The capturing logger (and the SQLite auto-extension) are process-wide.
    if crate::support::in_own_process(concat!(
        module_path!(),
        "::a_full_disk_fails_pages_without_damage_and_the_engine_catches_up"
    )) {
        return;
    }
    static REGISTER: Once = Once::new();
    // SAFETY: the entry point opens no database and never touches the extension list.
    REGISTER.call_once(|| unsafe {
        rusqlite::auto_extension::register_auto_extension(cap_pages_entry).unwrap();
    });
    let log = captured_log();
    let sim = one_drive_sim(200, json!({ "seed": 23 }));
    let drive = drive_ids(&sim).remove(0);
    let work = Workdir::new();
    let db = work.db();
    let overrides = json!({ "page_size": 100 });
    let engine = start_synced(&sim, &db, overrides.clone());
    engine.stop();
    drop(engine);
    let before = last_seq(&db);

    // "Disk full": the engine's connections may grow the file by a few pages only
    // (SQLite's max_page_count), far less than the new items need.
    let pages: i64 = Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    *PAGE_CAP.lock() = Some((db.canonicalize().unwrap(), pages + 4));
    create_files(&sim, &drive, "too-many", 2000);
    let engine = open_engine(&sim, &db, overrides.clone());
    engine.start().expect("start on a full disk");
    let needle = format!("drive {drive}: database error: database or disk is full");
    wait_until("two jobs failing on the full disk", || {
        log.text().matches(&needle).count() >= 2
    });
    assert!(engine.status().expect("status on a full disk").running);
    engine.stop();
    drop(engine);
    assert_intact(&db);

    // Space again: a new run catches up with exactly the missing items.
    *PAGE_CAP.lock() = None;
    let engine = start_synced(&sim, &db, overrides);
    wait_rounds(&engine, 2);
    engine.stop();
    assert_created_once(&db, before, 2000);
    assert_intact(&db);
}
