//! The database file: creation, reopening, refusing newer schemas, and page atomicity.

use super::*;
use crate::store::DriveState;

/// The schema version this build creates.
const CURRENT: i64 = crate::store::schema::MIGRATIONS.len() as i64;

fn on_disk() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    (dir, path)
}

#[test]
fn creates_migrates_and_reopens_with_state_intact() {
    let (_dir, path) = on_disk();
    {
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), CURRENT);
        let mode: String = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        s.upsert_drive(&NewDrive {
            id: DRIVE,
            ..NewDrive::default()
        })
        .unwrap();
        s.begin_crawl(DRIVE).unwrap();
        let opts = ApplyOptions {
            emit_initial_items: true,
            ..ApplyOptions::default()
        };
        s.apply_page(
            DRIVE,
            &[root(), file("f", "R", "f.txt", 1)],
            Cursor::Next("https://g/next?x=1"),
            &opts,
        )
        .unwrap();
        s.ack("host", 1).unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), CURRENT);
    let d = s.drive(DRIVE).unwrap().unwrap();
    assert_eq!(
        (d.state, d.cursor.as_deref()),
        (DriveState::Crawling, Some("https://g/next?x=1"))
    );
    assert_eq!(s.item_by_path(DRIVE, "/f.txt").unwrap().unwrap().id, "f");
    assert_eq!(s.last_seq().unwrap(), 1);
    assert_eq!(s.acked_seq("host").unwrap(), 1);
}

#[test]
fn refuses_a_database_from_a_newer_version() {
    let (_dir, path) = on_disk();
    drop(Store::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute(
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(c);
    let err = Store::open(&path)
        .err()
        .expect("a newer schema must be refused");
    assert!(matches!(err, crate::Error::State(_)));
    assert!(err.to_string().contains("99"), "{err}");
}

#[test]
fn two_connections_share_the_file() {
    let (_dir, path) = on_disk();
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    a.append_event(EventKind::DriveAdded, "x", "").unwrap();
    b.append_event(EventKind::DriveAdded, "y", "").unwrap();
    assert_eq!(a.events_after(0, 10).unwrap().len(), 2);
    assert_eq!(b.last_seq().unwrap(), 2);
}

#[test]
fn a_page_that_fails_midway_leaves_nothing() {
    let mut h = Harness::synced(vec![folder("A", "R", "A"), file("a", "A", "a", 1)]);
    let before_paths = h.paths();
    let before_drive = h.store.drive(DRIVE).unwrap();
    let before_seq = h.store.last_seq().unwrap();
    // A store error on the fourth item, after events and a subtree rename were written.
    h.store
        .conn
        .execute_batch(
            "CREATE TEMP TRIGGER boom BEFORE INSERT ON items WHEN NEW.id = 'boom'
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
    let page = [
        file("n", "A", "n", 1),
        folder("A", "R", "A-renamed"),
        gone("a"),
        file("boom", "R", "boom", 1),
    ];
    let err = h
        .store
        .apply_page(
            DRIVE,
            &page,
            Cursor::Delta("delta-after"),
            &ApplyOptions::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(h.paths(), before_paths);
    assert_eq!(h.store.drive(DRIVE).unwrap(), before_drive);
    assert_eq!(h.store.last_seq().unwrap(), before_seq);

    // The same page (minus the poison) applies cleanly afterwards: no event was lost.
    let events = h.delta(page[..3].to_vec());
    assert_eq!(
        events,
        [
            ev(EventKind::Created, "n", "/A/n", ""),
            ev(EventKind::Renamed, "A", "/A-renamed", "/A"),
            ev(EventKind::Deleted, "a", "/A-renamed/a", ""),
        ]
    );
    assert_eq!(
        events.len() as i64,
        h.store.last_seq().unwrap() - before_seq
    );
}

#[test]
fn meta_values_survive_reopening_and_do_not_collide_with_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    {
        let s = Store::open(&path).unwrap();
        assert_eq!(s.meta("throttle_stats").unwrap(), None);
        s.set_meta("throttle_stats", "{\"requests\":1}").unwrap();
        s.set_meta("throttle_stats", "{\"requests\":2}").unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(
        s.meta("throttle_stats").unwrap().as_deref(),
        Some("{\"requests\":2}")
    );
    assert_eq!(s.schema_version().unwrap(), CURRENT);
}

#[test]
fn concurrent_opens_of_a_fresh_database_all_succeed() {
    // Several engines, a CLI and a test may open the same new file at once: the schema
    // steps must run once, not once per connection.
    for _ in 0..5 {
        let (_dir, path) = on_disk();
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        Store::open(&path).map(|st| st.schema_version().unwrap())
                    })
                })
                .collect();
            for h in handles {
                let version = h.join().unwrap().expect("concurrent open");
                assert_eq!(version, crate::store::schema::MIGRATIONS.len() as i64);
            }
        });
    }
}

#[test]
fn a_version_1_database_is_migrated_with_its_items_and_events() {
    let (_dir, path) = on_disk();
    {
        // A store as version 1 left it: a crawled drive, an event, an ack.
        let mut c = rusqlite::Connection::open(&path).unwrap();
        crate::store::schema::configure(&c).unwrap();
        crate::store::schema::migrate(&mut c, &crate::store::schema::MIGRATIONS[..1]).unwrap();
        c.execute_batch(
            "INSERT INTO drives (key, id, state, cursor, cursor_is_delta, enum_gen, item_count)
                 VALUES (7, 'd', 'synced', 'https://g/delta?token=1', 1, 1, 3);
             INSERT INTO items (drive_key, id, parent_id, name, path, is_folder, is_root, seen_gen)
                 VALUES (7, 'R', NULL, 'root', '/', 1, 1, 1),
                        (7, 'A', 'R', 'A', '/A', 1, 0, 1),
                        (7, 'f', 'A', 'f.txt', '/A/f.txt', 0, 0, 1),
                        (7, 'o', 'Z', 'o.txt', '/o.txt', 0, 0, 1);
             INSERT INTO events (kind, drive_id, item_id, path, at_ms)
                 VALUES ('created', 'd', 'f', '/A/f.txt', 1);
             INSERT INTO consumers (name, acked_seq) VALUES ('host', 1);",
        )
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), CURRENT);
    let has_path_index: bool = s
        .conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'items_by_path')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!has_path_index);
    // 'o' waits for its parent Z: the migration counted it.
    let orphans: i64 = s
        .conn
        .query_row("SELECT orphans FROM drives WHERE id = 'd'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(orphans, 1);
    assert_eq!(s.item_by_path(DRIVE, "/A/f.txt").unwrap().unwrap().id, "f");
    assert_eq!(s.mirror(DRIVE).unwrap().len(), 4);
    assert_eq!(
        (s.last_seq().unwrap(), s.acked_seq("host").unwrap()),
        (1, 1)
    );
    let d = s.drive(DRIVE).unwrap().unwrap();
    assert_eq!((d.state, d.item_count), (DriveState::Synced, 3));

    // The migrated store keeps working: a rename of the folder repaths its file.
    let renamed = folder("A", "R", "B");
    s.apply_page(
        DRIVE,
        &[renamed],
        Cursor::Delta("https://g/delta?token=2"),
        &ApplyOptions::default(),
    )
    .unwrap();
    assert_eq!(s.item_by_path(DRIVE, "/B/f.txt").unwrap().unwrap().id, "f");
    let kinds: Vec<_> = s
        .events_after(1, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [EventKind::Renamed]);
}

/// Set in the child process of [`a_crash_in_the_set_based_pass_loses_and_repeats_nothing`]:
/// the database file it crawls into.
const CRASH_CHILD: &str = "M365SYNC_TEST_CRASH_IN_SET_BASED_PASS";

/// A first crawl of 2,000 items in four pages, parents before children but in no
/// parent order (each item below an earlier folder chosen by a stride), the last page
/// with the deltaLink.
fn crawl_pages() -> Vec<(Vec<crate::graph::types::DriveItem>, Cursor<'static>)> {
    let mut items = vec![root()];
    let mut folders = vec!["R".to_string()];
    for n in 0..2000usize {
        let parent = folders[(n * 7919) % folders.len()].clone();
        let id = format!("i{n:05}");
        if n % 10 == 0 {
            items.push(folder(&id, &parent, &format!("F{n}")));
            folders.push(id);
        } else {
            items.push(file(&id, &parent, &format!("f{n}.txt"), 1));
        }
    }
    let pages: Vec<_> = items.chunks(501).map(<[_]>::to_vec).collect();
    let last = pages.len() - 1;
    pages
        .into_iter()
        .enumerate()
        .map(|(i, page)| {
            let cursor = if i == last {
                Cursor::Delta("https://g/delta?token=done")
            } else {
                Cursor::Next(
                    [
                        "https://g/next?p=1",
                        "https://g/next?p=2",
                        "https://g/next?p=3",
                    ][i],
                )
            };
            (page, cursor)
        })
        .collect()
}

fn crawl_options() -> ApplyOptions {
    ApplyOptions {
        emit_initial_items: true,
        ..ApplyOptions::default()
    }
}

/// The child: crawls all pages but the last, then dies (abort, as with kill -9: no
/// rollback, no cleanup) when the last page's transaction, with the merge of the
/// staged links, is about to commit.
fn crash_in_the_set_based_pass(path: &std::path::Path) -> ! {
    let mut s = Store::open(path).unwrap();
    s.upsert_drive(&NewDrive {
        id: DRIVE,
        ..NewDrive::default()
    })
    .unwrap();
    let mut pages = crawl_pages();
    let (last, cursor) = pages.pop().unwrap();
    for (page, cursor) in &pages {
        s.apply_page(DRIVE, page, *cursor, &crawl_options())
            .unwrap();
    }
    s.conn.commit_hook(Some(|| std::process::abort())).unwrap();
    let _ = s.apply_page(DRIVE, &last, cursor, &crawl_options());
    unreachable!("the commit hook aborts the process");
}

#[test]
fn a_crash_in_the_set_based_pass_loses_and_repeats_nothing() {
    if let Some(path) = std::env::var_os(CRASH_CHILD) {
        crash_in_the_set_based_pass(path.as_ref());
    }
    let (_dir, path) = on_disk();
    let test = "store::tests::durability::a_crash_in_the_set_based_pass_loses_and_repeats_nothing";
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(CRASH_CHILD, &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(6),
        "the child did not die in the commit: {status}"
    );

    // The restart finds the crawl where the last committed page left it.
    let mut s = Store::open(&path).unwrap();
    let d = s.drive(DRIVE).unwrap().unwrap();
    assert_eq!(
        (d.state, d.cursor.as_deref()),
        (DriveState::Crawling, Some("https://g/next?p=3"))
    );
    let staged: i64 = s
        .conn
        .query_row("SELECT COUNT(*) FROM staged_links", [], |r| r.get(0))
        .unwrap();
    assert_eq!(staged, 1502, "the staged links of the committed pages");
    let before: Vec<Event> = s.events_after(0, 10_000).unwrap();
    assert_eq!(before.len(), 1502, "created events of the committed pages");

    // The engine fetches the last page again and applies it.
    let (last, cursor) = crawl_pages().pop().unwrap();
    s.apply_page(DRIVE, &last, cursor, &crawl_options())
        .unwrap();
    let events = s.events_after(0, 10_000).unwrap();
    let mut created: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventKind::Created)
        .map(|e| e.item_id.as_str())
        .collect();
    assert_eq!(created.len(), 2000);
    created.sort_unstable();
    created.dedup();
    assert_eq!(created.len(), 2000, "an item was announced twice");
    let completed = events
        .iter()
        .filter(|e| e.kind == EventKind::CrawlCompleted)
        .count();
    assert_eq!(completed, 1);
    let (staged, links): (i64, i64) = s
        .conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM staged_links), (SELECT COUNT(*) FROM item_links)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((staged, links), (0, 2000));
    // Every path follows the parent chain, and a folder delete reaches the whole
    // subtree through the merged links.
    let mirror = s.mirror(DRIVE).unwrap();
    let by_id: std::collections::HashMap<_, _> =
        mirror.iter().map(|i| (i.id.as_str(), i)).collect();
    for item in mirror.iter().filter(|i| i.id != "R") {
        let parent = by_id[item.parent_id.as_deref().unwrap()];
        let expected = if parent.path == "/" {
            format!("/{}", item.name)
        } else {
            format!("{}/{}", parent.path, item.name)
        };
        assert_eq!(item.path, expected);
    }
    let below_first_folder = mirror.iter().filter(|i| i.path.starts_with("/F0/")).count();
    assert!(below_first_folder > 10, "the stride should nest items");
    s.apply_page(
        DRIVE,
        &[gone("i00000")],
        Cursor::Delta("https://g/delta?token=2"),
        &crawl_options(),
    )
    .unwrap();
    assert_eq!(
        s.mirror(DRIVE).unwrap().len(),
        2001 - 1 - below_first_folder,
        "the folder and everything below it are gone"
    );
}
