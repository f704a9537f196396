//! Incremental delta rounds on a synced drive: one scenario per event rule.

use super::*;
use EventKind::*;

fn tree() -> Harness {
    Harness::synced(vec![
        folder("A", "R", "A"),
        folder("B", "A", "B"),
        file("a1", "A", "a1.txt", 1),
        file("b1", "B", "b1.txt", 1),
        folder("X", "R", "X"),
    ])
}

#[test]
fn created_content_and_metadata() {
    let mut h = tree();
    let new = file("n", "A", "new.txt", 1);
    assert_eq!(h.delta(vec![new]), [ev(Created, "n", "/A/new.txt", "")]);
    assert_eq!(
        h.delta(vec![file("a1", "A", "a1.txt", 2)]),
        [ev(ContentChanged, "a1", "/A/a1.txt", "")]
    );
    let touched = DriveItem {
        e_tag: Some("a1-e9".into()),
        ..file("a1", "A", "a1.txt", 2)
    };
    assert_eq!(
        h.delta(vec![touched]),
        [ev(MetadataChanged, "a1", "/A/a1.txt", "")]
    );
    assert_eq!(h.item_count(), 6);
}

#[test]
fn event_rows_carry_the_new_state() {
    let mut h = tree();
    h.delta(vec![file("a1", "A", "a1.txt", 3)]);
    let e = &h
        .store
        .events_after(0, 100)
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(e.kind, ContentChanged);
    assert_eq!(e.drive_id, DRIVE);
    assert_eq!((e.ctag.as_str(), e.etag.as_str()), ("a1-c3", "a1-e3"));
    assert_eq!((e.size, e.is_folder), (103, false));
    assert_eq!(e.detail, "");
}

#[test]
fn rename_file_and_move_with_content_change() {
    let mut h = tree();
    assert_eq!(
        h.delta(vec![file("a1", "A", "renamed.txt", 1)]),
        [ev(Renamed, "a1", "/A/renamed.txt", "/A/a1.txt")]
    );
    assert_eq!(
        h.delta(vec![file("a1", "X", "moved.txt", 2)]),
        [
            ev(Moved, "a1", "/X/moved.txt", "/A/renamed.txt"),
            ev(ContentChanged, "a1", "/X/moved.txt", ""),
        ]
    );
}

#[test]
fn folder_rename_repaths_every_descendant_with_one_event() {
    let mut h = Harness::synced(vec![
        folder("A", "R", "A"),
        folder("B", "A", "B"),
        file("b1", "B", "b1.txt", 1),
        folder("P", "R", "100%_x"),
        folder("Q", "P", "a_b%c"),
        file("q1", "Q", "f%_.txt", 1),
        // Siblings whose names a LIKE or careless prefix match would catch.
        folder("S", "R", "100%_xy"),
        file("s1", "S", "s.txt", 1),
        file("s2", "R", "100%_x0", 1),
    ]);
    let renamed = DriveItem {
        e_tag: Some("P-e2".into()),
        ..folder("P", "R", "50%_y")
    };
    assert_eq!(
        h.delta(vec![renamed]),
        [ev(Renamed, "P", "/50%_y", "/100%_x")]
    );
    assert_eq!(h.path_of("Q").unwrap(), "/50%_y/a_b%c");
    assert_eq!(h.path_of("q1").unwrap(), "/50%_y/a_b%c/f%_.txt");
    assert_eq!(h.path_of("s1").unwrap(), "/100%_xy/s.txt");
    assert_eq!(h.path_of("s2").unwrap(), "/100%_x0");
    let by_path = h.store.item_by_path(DRIVE, "/50%_y/a_b%c/f%_.txt").unwrap();
    assert_eq!(by_path.unwrap().id, "q1");
    assert!(
        h.store
            .item_by_path(DRIVE, "/100%_x/a_b%c")
            .unwrap()
            .is_none()
    );
}

#[test]
fn folder_move_into_another_folder() {
    let mut h = tree();
    assert_eq!(
        h.delta(vec![folder("A", "X", "A2")]),
        [ev(Moved, "A", "/X/A2", "/A")]
    );
    assert_eq!(
        h.paths(),
        pairs(&[
            ("A", "/X/A2"),
            ("B", "/X/A2/B"),
            ("R", "/"),
            ("X", "/X"),
            ("a1", "/X/A2/a1.txt"),
            ("b1", "/X/A2/B/b1.txt"),
        ])
    );
    // Children that Graph sends along unchanged produce nothing.
    assert_eq!(h.delta(vec![file("b1", "B", "b1.txt", 1)]), []);
}

#[test]
fn swapping_names_in_one_page_keeps_subtrees_apart() {
    let mut h = Harness::synced(vec![
        folder("A", "R", "one"),
        file("a", "A", "f", 1),
        folder("B", "R", "two"),
        file("b", "B", "f", 1),
    ]);
    let events = h.delta(vec![
        folder("A", "R", "tmp"),
        folder("B", "R", "one"),
        folder("A", "R", "two"),
    ]);
    assert_eq!(events.len(), 3);
    assert_eq!(h.path_of("a").unwrap(), "/two/f");
    assert_eq!(h.path_of("b").unwrap(), "/one/f");
}

#[test]
fn delete_folder_removes_subtree_with_one_event() {
    let mut h = tree();
    assert_eq!(h.item_count(), 5);
    assert_eq!(h.delta(vec![gone("A")]), [ev(Deleted, "A", "/A", "")]);
    assert_eq!(h.paths(), pairs(&[("R", "/"), ("X", "/X")]));
    assert_eq!(h.item_count(), 1);
    // Graph may still send tombstones of the children: nothing more to say.
    assert_eq!(h.delta(vec![gone("B"), gone("b1"), gone("A")]), []);
    // Unknown item: ignored.
    assert_eq!(h.delta(vec![gone("never-seen")]), []);
    assert_eq!(h.item_count(), 1);
}

#[test]
fn tombstone_without_name_reports_the_stored_path() {
    let mut h = tree();
    h.delta(vec![gone("b1")]);
    let events = h.store.events_after(0, 100).unwrap();
    let e = events.last().unwrap();
    assert_eq!((e.kind, e.path.as_str()), (Deleted, "/A/B/b1.txt"));
    assert_eq!(
        (e.size, e.is_folder, e.ctag.as_str()),
        (101, false, "b1-c1")
    );
}

#[test]
fn repeated_item_in_one_page_is_reported_once() {
    let mut h = tree();
    let v2 = file("a1", "A", "a1.txt", 2);
    assert_eq!(
        h.delta(vec![
            v2.clone(),
            v2.clone(),
            file("n", "A", "n", 1),
            file("n", "A", "n", 1)
        ]),
        [
            ev(ContentChanged, "a1", "/A/a1.txt", ""),
            ev(Created, "n", "/A/n", "")
        ]
    );
    // Each real change between repeats is reported, in feed order.
    assert_eq!(
        h.delta(vec![file("a1", "A", "a1.txt", 3), v2]),
        [
            ev(ContentChanged, "a1", "/A/a1.txt", ""),
            ev(ContentChanged, "a1", "/A/a1.txt", "")
        ]
    );
}

#[test]
fn missing_ctag_falls_back_to_hash_then_size_and_time() {
    let no_ctag = |v: u32| DriveItem {
        c_tag: None,
        ..file("f", "R", "f", v)
    };
    let mut h = Harness::synced(vec![no_ctag(1)]);
    assert_eq!(h.delta(vec![no_ctag(1)]), []);
    assert_eq!(
        h.delta(vec![no_ctag(2)]),
        [ev(ContentChanged, "f", "/f", "")]
    );
    let bare = |v: u32| DriveItem {
        c_tag: None,
        file: Some(FileFacet::default()),
        ..file("f", "R", "f", v)
    };
    assert_eq!(
        h.delta(vec![bare(2)]),
        [],
        "no hash on one side, same size and time"
    );
    assert_eq!(h.delta(vec![bare(3)]), [ev(ContentChanged, "f", "/f", "")]);
    let same_size_new_time = DriveItem {
        size: Some(103),
        last_modified_date_time: Some("2030-01-01T00:00:00Z".into()),
        ..bare(3)
    };
    assert_eq!(
        h.delta(vec![same_size_new_time]),
        [ev(ContentChanged, "f", "/f", "")]
    );
}

#[test]
fn permissions_via_sharing_facet_and_shared_changed_flag() {
    let mut h = tree();
    let mirror_shared = |h: &Harness, id: &str| {
        let m = h.store.mirror(DRIVE).unwrap();
        m.into_iter().find(|i| i.id == id).unwrap().shared
    };
    assert!(!mirror_shared(&h, "a1"));
    let sharing = shared(file("a1", "A", "a1.txt", 1), users());
    assert_eq!(
        h.delta(vec![sharing.clone()]),
        [ev(PermissionsChanged, "a1", "/A/a1.txt", "")]
    );
    assert!(mirror_shared(&h, "a1"));
    assert_eq!(h.delta(vec![sharing]), [], "same facet again");
    assert_eq!(
        h.delta(vec![file("a1", "A", "a1.txt", 1)]),
        [],
        "absent facet = not reported"
    );
    assert!(mirror_shared(&h, "a1"));
    let unshared = shared(file("a1", "A", "a1.txt", 1), json!({}));
    assert_eq!(
        h.delta(vec![unshared]),
        [ev(PermissionsChanged, "a1", "/A/a1.txt", "")]
    );
    assert!(!mirror_shared(&h, "a1"));

    let flagged = DriveItem {
        shared_changed: Some("True".into()),
        ..folder("B", "A", "B")
    };
    assert_eq!(
        h.delta(vec![flagged.clone(), flagged.clone()]),
        [ev(PermissionsChanged, "B", "/A/B", "")],
        "the flag is honoured once per page"
    );
    assert_eq!(
        h.delta(vec![flagged]),
        [ev(PermissionsChanged, "B", "/A/B", "")]
    );
}

#[test]
fn folders_and_root_stay_quiet_about_tags() {
    let mut h = tree();
    let bumped = DriveItem {
        e_tag: Some("A-e7".into()),
        c_tag: Some("A-c7".into()),
        ..folder("A", "R", "A")
    };
    let root_bumped = DriveItem {
        e_tag: Some("root-e2".into()),
        name: Some("renamed-root".into()),
        ..root()
    };
    assert_eq!(h.delta(vec![root_bumped, bumped]), []);
    assert_eq!(h.path_of("R").unwrap(), "/");
    assert_eq!(h.path_of("a1").unwrap(), "/A/a1.txt");
    assert_eq!(
        h.delta(vec![shared(folder("A", "R", "A"), users())]),
        [ev(PermissionsChanged, "A", "/A", "")]
    );
    assert_eq!(h.delta(vec![gone("R")]), [], "the root is never deleted");
    assert_eq!(h.path_of("R").unwrap(), "/");
}

#[test]
fn child_before_parent_is_fixed_when_the_parent_arrives() {
    let mut h = tree();
    let events = h.delta(vec![
        file("c", "N", "c.txt", 1),
        folder("M", "N", "M"),
        file("m", "M", "m.txt", 1),
    ]);
    assert_eq!(events.len(), 3);
    assert_eq!(h.path_of("c").unwrap(), "/c.txt");
    assert_eq!(h.path_of("m").unwrap(), "/M/m.txt");
    assert_eq!(
        h.delta(vec![folder("N", "X", "N")]),
        [ev(Created, "N", "/X/N", "")]
    );
    assert_eq!(h.path_of("c").unwrap(), "/X/N/c.txt");
    assert_eq!(h.path_of("M").unwrap(), "/X/N/M");
    assert_eq!(h.path_of("m").unwrap(), "/X/N/M/m.txt");
}

#[test]
fn a_parent_loop_from_bad_input_terminates() {
    let mut h = tree();
    // A moves below its own grandchild B's subtree: refused as a loop, A goes to the top.
    let events = h.delta(vec![folder("A", "B", "A")]);
    assert_eq!(events, [], "refused: A stays where it was");
    assert_eq!(h.path_of("b1").unwrap(), "/A/B/b1.txt");
    assert_eq!(
        h.delta(vec![folder("S", "S", "self")]),
        [ev(Created, "S", "/self", "")]
    );
    assert_eq!(h.delta(vec![gone("A")]).len(), 1);
    assert_eq!(h.paths(), pairs(&[("R", "/"), ("S", "/self"), ("X", "/X")]));
}

#[test]
fn item_without_name_or_parent_is_kept_without_panic() {
    let mut h = tree();
    let nameless = DriveItem {
        name: None,
        ..file("z", "A", "ignored", 1)
    };
    assert_eq!(h.delta(vec![nameless]), [ev(Created, "z", "/A/z", "")]);
    let parentless = DriveItem {
        parent_reference: None,
        ..file("p", "A", "p.txt", 1)
    };
    assert_eq!(h.delta(vec![parentless]), [ev(Created, "p", "/p.txt", "")]);
}

#[test]
fn deleted_item_that_comes_back_is_created_again() {
    let mut h = tree();
    h.delta(vec![gone("a1")]);
    assert_eq!(
        h.delta(vec![file("a1", "A", "a1.txt", 1)]),
        [ev(Created, "a1", "/A/a1.txt", "")]
    );
    assert_eq!(h.item_count(), 5);
}
