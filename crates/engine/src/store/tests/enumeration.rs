//! Full enumerations: the first crawl (silent or announced) and the resync after a 410.

use super::*;
use crate::store::DriveState;
use EventKind::*;

fn first_pages() -> (Vec<DriveItem>, Vec<DriveItem>) {
    (
        vec![root(), folder("A", "R", "A"), file("a1", "A", "a1.txt", 1)],
        vec![folder("B", "A", "B"), file("b1", "B", "b1.txt", 1)],
    )
}

#[test]
fn silent_crawl_reports_only_completion() {
    let mut h = Harness::new();
    h.store.begin_crawl(DRIVE).unwrap();
    let (p1, p2) = first_pages();
    let out = h.apply(&p1, Cursor::Next("next-1"), false);
    assert_eq!((out.items, out.events, out.finished), (3, 0, false));
    let d = h.store.drive(DRIVE).unwrap().unwrap();
    assert_eq!(
        (d.state, d.cursor.as_deref()),
        (DriveState::Crawling, Some("next-1"))
    );
    assert!(!d.cursor_is_delta);
    assert_eq!(d.last_full_crawl_ms, None);

    let out = h.apply(&p2, Cursor::Delta("delta-1"), false);
    assert_eq!((out.items, out.events, out.finished), (2, 1, true));
    let events = h.take();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind, events[0].detail.as_str()),
        (CrawlCompleted, "4")
    );
    assert_eq!(out.last_seq, events[0].seq);
    let d = h.store.drive(DRIVE).unwrap().unwrap();
    assert_eq!(
        (d.state, d.cursor.as_deref()),
        (DriveState::Synced, Some("delta-1"))
    );
    assert!(d.cursor_is_delta);
    assert_eq!(d.item_count, 4);
    assert!(d.last_full_crawl_ms.is_some() && d.last_delta_ms.is_some());
    assert_eq!(h.path_of("b1").unwrap(), "/A/B/b1.txt");
}

#[test]
fn announced_crawl_creates_every_item_but_the_root() {
    let mut h = Harness::new();
    h.store.begin_crawl(DRIVE).unwrap();
    let (p1, p2) = first_pages();
    assert_eq!(h.apply(&p1, Cursor::Next("n"), true).events, 2);
    h.apply(&p2, Cursor::Delta("d"), true);
    let kinds: Vec<_> = h.take().iter().map(|e| (e.kind, e.path.clone())).collect();
    assert_eq!(
        kinds,
        [
            (Created, "/A".to_string()),
            (Created, "/A/a1.txt".into()),
            (Created, "/A/B".into()),
            (Created, "/A/B/b1.txt".into()),
            (CrawlCompleted, "".into()),
        ]
    );
}

#[test]
fn a_crawl_item_before_its_parent_is_placed_at_the_top_then_adopted() {
    let mut h = Harness::new();
    h.store.begin_crawl(DRIVE).unwrap();
    let orphans = |h: &Harness| -> i64 {
        h.store
            .conn
            .query_row("SELECT orphans FROM drives WHERE id = ?1", [DRIVE], |r| {
                r.get(0)
            })
            .unwrap()
    };
    h.apply(
        &[
            root(),
            file("c", "N", "c.txt", 1),
            file("d", "R", "d.txt", 1),
        ],
        Cursor::Next("n1"),
        true,
    );
    assert_eq!(h.path_of("c").unwrap(), "/c.txt");
    assert_eq!(orphans(&h), 1);
    // N is new to the store, but c waits for it: N's arrival repaths c.
    h.apply(&[folder("N", "R", "N")], Cursor::Next("n2"), true);
    assert_eq!(h.path_of("c").unwrap(), "/N/c.txt");
    h.apply(&[file("e", "N", "e.txt", 1)], Cursor::Delta("d"), true);
    assert_eq!(orphans(&h), 0, "the end of the crawl counts again");
    let created: Vec<_> = h
        .take()
        .into_iter()
        .filter(|e| e.kind == Created)
        .map(|e| e.item_id)
        .collect();
    assert_eq!(created, ["c", "d", "N", "e"]);
    assert_eq!(h.path_of("e").unwrap(), "/N/e.txt");
}

#[test]
fn a_page_for_a_new_drive_starts_its_crawl() {
    let mut h = Harness::new();
    h.apply(&[root(), file("f", "R", "f", 1)], Cursor::Delta("d"), false);
    let events = h.take();
    assert_eq!((events.len(), events[0].kind), (1, CrawlCompleted));
    assert_eq!(
        h.store.drive(DRIVE).unwrap().unwrap().state,
        DriveState::Synced
    );
}

#[test]
fn unknown_drive_is_an_error() {
    let mut h = Harness::new();
    let err = h
        .store
        .apply_page(
            "other",
            &[root()],
            Cursor::Delta("d"),
            &ApplyOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, crate::Error::State(_)), "{err}");
}

#[test]
fn crawl_restarted_by_a_410_sweeps_what_the_new_crawl_did_not_see() {
    let mut h = Harness::new();
    h.store.begin_crawl(DRIVE).unwrap();
    let (p1, _) = first_pages();
    h.apply(&p1, Cursor::Next("n"), false);
    assert_eq!(h.store.begin_resync(DRIVE, "resyncRequired").unwrap(), 0);
    let d = h.store.drive(DRIVE).unwrap().unwrap();
    assert_eq!((d.state, d.cursor), (DriveState::Crawling, None));
    // a1 was deleted in between: the restarted crawl does not list it.
    h.apply(&[root(), folder("A", "R", "A")], Cursor::Delta("d"), false);
    let events = h.take();
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [CrawlCompleted]
    );
    assert_eq!(events[0].detail, "1");
    assert_eq!(h.paths(), pairs(&[("A", "/A"), ("R", "/")]));
}

#[test]
fn resync_reports_only_differences_and_sweeps_the_unseen() {
    let mut h = Harness::synced(vec![
        folder("A", "R", "A"),
        file("a1", "A", "a1.txt", 1),
        file("a2", "A", "a2.txt", 1),
        folder("G", "R", "G"),
        folder("G2", "G", "G2"),
        file("g", "G2", "g.txt", 1),
        file("k", "R", "keep.txt", 1),
    ]);
    let seq = h.store.begin_resync(DRIVE, "410 resyncRequired").unwrap();
    assert!(seq > 0);
    let started = h.take();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].seq, seq);
    assert_eq!(
        (started[0].kind, started[0].detail.as_str()),
        (ResyncStarted, "410 resyncRequired")
    );
    let d = h.store.drive(DRIVE).unwrap().unwrap();
    assert_eq!((d.state, d.cursor), (DriveState::Resyncing, None));

    // Page 1: unchanged root and folder, a changed file.
    h.apply(
        &[root(), folder("A", "R", "A"), file("a1", "A", "a1.txt", 2)],
        Cursor::Next("n1"),
        false,
    );
    assert_eq!(
        h.take().iter().map(brief).collect::<Vec<_>>(),
        [ev(ContentChanged, "a1", "/A/a1.txt", "")]
    );
    // Page 2: unchanged file, a new file; a2 and the whole G subtree are never listed.
    h.apply(
        &[file("k", "R", "keep.txt", 1), file("n", "A", "n.txt", 1)],
        Cursor::Delta("d2"),
        false,
    );
    let events: Vec<_> = h.take();
    assert_eq!(
        events.iter().map(brief).collect::<Vec<_>>(),
        [
            ev(Created, "n", "/A/n.txt", ""),
            ev(Deleted, "a2", "/A/a2.txt", ""),
            ev(Deleted, "G", "/G", ""),
            ev(ResyncCompleted, "", "", ""),
        ]
    );
    assert_eq!(events[3].detail, "4 changes");
    assert_eq!(
        h.paths(),
        pairs(&[
            ("A", "/A"),
            ("R", "/"),
            ("a1", "/A/a1.txt"),
            ("k", "/keep.txt"),
            ("n", "/A/n.txt")
        ])
    );
    let d = h.store.drive(DRIVE).unwrap().unwrap();
    assert_eq!(
        (d.state, d.cursor.as_deref(), d.item_count),
        (DriveState::Synced, Some("d2"), 4)
    );
}

#[test]
fn a_410_during_a_resync_starts_it_over() {
    let mut h = Harness::synced(vec![file("f", "R", "f", 1)]);
    h.store.begin_resync(DRIVE, "first").unwrap();
    h.apply(&[root(), file("f", "R", "f", 2)], Cursor::Next("n"), false);
    assert_eq!(
        h.store.begin_resync(DRIVE, "second").unwrap(),
        0,
        "no second event"
    );
    h.apply(&[root(), file("f", "R", "f", 2)], Cursor::Delta("d"), false);
    let kinds: Vec<_> = h
        .take()
        .iter()
        .map(|e| (e.kind, e.detail.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (ResyncStarted, "first".to_string()),
            (ContentChanged, "".into()),
            (ResyncCompleted, "1 changes".into()),
        ]
    );
}

#[test]
fn a_seen_item_below_an_unseen_folder_survives_at_the_top() {
    let mut h = Harness::synced(vec![
        folder("A", "R", "A"),
        folder("B", "A", "B"),
        file("b", "B", "b", 1),
    ]);
    h.store.begin_resync(DRIVE, "410").unwrap();
    h.take();
    h.apply(
        &[root(), folder("B", "A", "B"), file("b", "B", "b", 1)],
        Cursor::Delta("d"),
        false,
    );
    let events: Vec<_> = h.take().iter().map(brief).collect();
    assert_eq!(events[0], ev(Deleted, "A", "/A", ""));
    assert_eq!(h.paths(), pairs(&[("B", "/B"), ("R", "/"), ("b", "/B/b")]));
    assert_eq!(h.item_count(), 2);
}

#[test]
fn incremental_rounds_keep_synced_and_track_the_cursor() {
    let mut h = Harness::synced(vec![]);
    let out = h.apply(&[file("f", "R", "f", 1)], Cursor::Next("next-7"), false);
    assert!(!out.finished);
    let d = h.store.drive(DRIVE).unwrap().unwrap();
    assert_eq!(
        (d.state, d.cursor.as_deref()),
        (DriveState::Synced, Some("next-7"))
    );
    let out = h.apply(&[], Cursor::Delta("delta-8"), false);
    assert!(out.finished);
    assert_eq!(out.events, 0);
    assert_eq!(
        h.store.drive(DRIVE).unwrap().unwrap().cursor.as_deref(),
        Some("delta-8")
    );
    assert_eq!(h.item_count(), 1, "no sweep outside full enumerations");
}
