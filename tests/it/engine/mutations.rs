//! Every kind of change in the simulator yields exactly the expected events, and the
//! mirror follows (descendant paths included).
//!
//! `metadata_changed` is not covered: the simulator has no eTag-only change (renames,
//! moves and sharing changes all come with their own event, which takes precedence).

use crate::support::engine::*;
use m365sync::{Engine, EventKind};
use m365sync_sim::{ItemPatch, SimItem, Simulator};
use serde_json::json;
use std::path::PathBuf;

use EventKind::*;

/// An engine that finished its first crawl of a one-drive tenant.
struct Fixture {
    sim: Simulator,
    work: Workdir,
    engine: Engine,
    drive: String,
    root: String,
}

impl Fixture {
    fn new(items: u64, overrides: serde_json::Value) -> Fixture {
        let sim = one_drive_sim(items, json!({}));
        let work = Workdir::new();
        let engine = open_engine(&sim, &work.db(), overrides);
        engine.start().expect("start");
        wait_mirror_matches(&work.db(), &sim);
        let drive = drive_ids(&sim).remove(0);
        let root = sim.root_id(&drive).expect("root");
        Fixture {
            sim,
            work,
            engine,
            drive,
            root,
        }
    }

    fn db(&self) -> PathBuf {
        self.work.db()
    }

    /// Runs `mutate`, waits until the mirror shows it, and returns the item events
    /// journaled meanwhile as (kind, id, path, old path). Events that a later round might
    /// add by mistake show up in the next step, or in [`Fixture::assert_quiet`].
    fn changes<T>(
        &self,
        mutate: impl FnOnce(&Simulator) -> T,
    ) -> (T, Vec<(EventKind, String, String, String)>) {
        let before = last_seq(&self.db());
        let out = mutate(&self.sim);
        wait_mirror_matches(&self.db(), &self.sim);
        let events = events_after(&self.db(), before);
        assert!(
            events.iter().all(|e| e.kind != Error),
            "error events: {events:?}"
        );
        (out, item_changes(&events))
    }

    /// Two more delta rounds report no item change.
    fn assert_quiet(&self) {
        let before = last_seq(&self.db());
        wait_rounds(&self.engine, 2);
        let late = item_changes(&events_after(&self.db(), before));
        assert!(late.is_empty(), "events without a change: {late:?}");
    }

    fn file(&self, parent: &str, name: &str, content: &[u8]) -> SimItem {
        self.sim
            .create_item(&self.drive, parent, name, false, content)
            .expect("create file")
    }

    fn folder(&self, parent: &str, name: &str) -> SimItem {
        self.sim
            .create_item(&self.drive, parent, name, true, b"")
            .expect("create folder")
    }

    fn update(&self, item: &str, patch: ItemPatch) -> SimItem {
        self.sim
            .update_item(&self.drive, item, patch)
            .expect("update")
    }

    fn mirror_path(&self, path: &str) -> Option<String> {
        store(&self.db())
            .item_by_path(&self.drive, path)
            .expect("item_by_path")
            .map(|i| i.id)
    }
}

fn ev(kind: EventKind, id: &str, path: &str, old: &str) -> (EventKind, String, String, String) {
    (kind, id.to_string(), path.to_string(), old.to_string())
}

#[test]
fn file_lifecycle_yields_one_event_per_change() {
    let f = Fixture::new(50, json!({}));

    let (dir, got) = f.changes(|_| f.folder(&f.root, "Projects"));
    assert_eq!(got, [ev(Created, &dir.id, "/Projects", "")]);

    let (file, got) = f.changes(|_| f.file(&dir.id, "plan.txt", b"v1"));
    assert_eq!(got, [ev(Created, &file.id, "/Projects/plan.txt", "")]);

    let (_, got) = f.changes(|_| {
        f.update(
            &file.id,
            ItemPatch {
                content: Some(b"version two".to_vec()),
                ..ItemPatch::default()
            },
        )
    });
    assert_eq!(
        got,
        [ev(ContentChanged, &file.id, "/Projects/plan.txt", "")]
    );

    let (_, got) = f.changes(|_| {
        f.update(
            &file.id,
            ItemPatch {
                name: Some("plan-final.txt".into()),
                ..ItemPatch::default()
            },
        )
    });
    assert_eq!(
        got,
        [ev(
            Renamed,
            &file.id,
            "/Projects/plan-final.txt",
            "/Projects/plan.txt"
        )]
    );

    let (_, got) = f.changes(|_| {
        f.update(
            &file.id,
            ItemPatch {
                parent_id: Some(f.root.clone()),
                ..ItemPatch::default()
            },
        )
    });
    assert_eq!(
        got,
        [ev(
            Moved,
            &file.id,
            "/plan-final.txt",
            "/Projects/plan-final.txt"
        )]
    );

    // A move with a rename and new content: one move, one content change, in that order.
    let (_, got) = f.changes(|_| {
        f.update(
            &file.id,
            ItemPatch {
                name: Some("plan.md".into()),
                parent_id: Some(dir.id.clone()),
                content: Some(b"third".to_vec()),
                size: None,
            },
        )
    });
    assert_eq!(
        got,
        [
            ev(Moved, &file.id, "/Projects/plan.md", "/plan-final.txt"),
            ev(ContentChanged, &file.id, "/Projects/plan.md", ""),
        ]
    );

    let (_, got) = f.changes(|sim| sim.delete_item(&f.drive, &file.id).expect("delete"));
    assert_eq!(got, [ev(Deleted, &file.id, "/Projects/plan.md", "")]);
    assert_eq!(f.mirror_path("/Projects/plan.md"), None);

    f.assert_quiet();
}

#[test]
fn sharing_and_unsharing_report_permission_changes() {
    let f = Fixture::new(50, json!({}));
    let (file, _) = f.changes(|_| f.file(&f.root, "budget.xlsx", b"numbers"));

    let (_, got) = f.changes(|sim| sim.share_item(&f.drive, &file.id).expect("share"));
    assert_eq!(got, [ev(PermissionsChanged, &file.id, "/budget.xlsx", "")]);
    assert!(
        store(&f.db())
            .item_by_path(&f.drive, "/budget.xlsx")
            .unwrap()
            .unwrap()
            .shared
    );

    let (_, got) = f.changes(|sim| sim.unshare_item(&f.drive, &file.id).expect("unshare"));
    assert_eq!(got, [ev(PermissionsChanged, &file.id, "/budget.xlsx", "")]);

    // A shared folder: one event for it, none for its children.
    let (dir, _) = f.changes(|_| {
        let dir = f.folder(&f.root, "Team");
        f.file(&dir.id, "a.txt", b"a");
        dir
    });
    let (_, got) = f.changes(|sim| sim.share_item(&f.drive, &dir.id).expect("share"));
    assert_eq!(got, [ev(PermissionsChanged, &dir.id, "/Team", "")]);
    f.assert_quiet();
}

/// A tree `/Top/Mid/Leaf/deep.txt` plus `/Top/Mid/mid.txt`, and a target folder `/Other`.
struct Tree {
    top: SimItem,
    mid: SimItem,
    leaf: SimItem,
    deep: SimItem,
    mid_file: SimItem,
    other: SimItem,
}

fn build_tree(f: &Fixture) -> Tree {
    let (tree, got) = f.changes(|_| {
        let top = f.folder(&f.root, "Top");
        let mid = f.folder(&top.id, "Mid");
        let leaf = f.folder(&mid.id, "Leaf");
        let deep = f.file(&leaf.id, "deep.txt", b"deep");
        let mid_file = f.file(&mid.id, "mid.txt", b"mid");
        let other = f.folder(&f.root, "Other");
        Tree {
            top,
            mid,
            leaf,
            deep,
            mid_file,
            other,
        }
    });
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got.iter().all(|e| e.0 == Created));
    tree
}

#[test]
fn folder_rename_and_move_repath_descendants_with_one_event() {
    let f = Fixture::new(50, json!({}));
    let t = build_tree(&f);

    let (_, got) = f.changes(|_| {
        f.update(
            &t.mid.id,
            ItemPatch {
                name: Some("Middle".into()),
                ..ItemPatch::default()
            },
        )
    });
    assert_eq!(got, [ev(Renamed, &t.mid.id, "/Top/Middle", "/Top/Mid")]);
    assert_eq!(
        f.mirror_path("/Top/Middle/Leaf/deep.txt"),
        Some(t.deep.id.clone())
    );
    assert_eq!(
        f.mirror_path("/Top/Middle/mid.txt"),
        Some(t.mid_file.id.clone())
    );
    assert_eq!(f.mirror_path("/Top/Mid/Leaf/deep.txt"), None);

    let (_, got) = f.changes(|_| {
        f.update(
            &t.mid.id,
            ItemPatch {
                parent_id: Some(t.other.id.clone()),
                ..ItemPatch::default()
            },
        )
    });
    assert_eq!(got, [ev(Moved, &t.mid.id, "/Other/Middle", "/Top/Middle")]);
    assert_eq!(
        f.mirror_path("/Other/Middle/Leaf/deep.txt"),
        Some(t.deep.id.clone())
    );
    assert_eq!(f.mirror_path("/Other/Middle/Leaf"), Some(t.leaf.id.clone()));
    assert_eq!(f.mirror_path("/Top/Middle/Leaf/deep.txt"), None);
    assert_eq!(f.mirror_path("/Top"), Some(t.top.id.clone()));
    f.assert_quiet();
}

#[test]
fn deleting_a_folder_reports_the_folder_once_and_drops_its_subtree() {
    let f = Fixture::new(50, json!({}));
    let t = build_tree(&f);
    let (_, got) = f.changes(|sim| sim.delete_item(&f.drive, &t.top.id).expect("delete"));
    assert_eq!(got, [ev(Deleted, &t.top.id, "/Top", "")]);
    for gone in [
        "/Top",
        "/Top/Mid",
        "/Top/Mid/Leaf/deep.txt",
        "/Top/Mid/mid.txt",
    ] {
        assert_eq!(f.mirror_path(gone), None, "{gone} is still mirrored");
    }
    assert_eq!(f.mirror_path("/Other"), Some(t.other.id.clone()));
    f.assert_quiet();
}

#[test]
fn items_repeated_in_a_feed_yield_no_duplicate_events() {
    // Three items a page: the parent chain (root, folder) repeats on every page of the
    // incremental round, and a file keeps changing while the round pages through.
    let f = Fixture::new(20, json!({ "page_size": 3 }));
    let (dir, _) = f.changes(|_| f.folder(&f.root, "Inbox"));
    let (hot, _) = f.changes(|_| f.file(&dir.id, "hot.txt", b"0"));
    let before = last_seq(&f.db());
    let mut files = Vec::new();
    for i in 0..60 {
        files.push(f.file(&dir.id, &format!("mail {i}.eml"), b"x"));
        if i % 6 == 0 {
            f.update(
                &hot.id,
                ItemPatch {
                    content: Some(format!("edit {i}").into_bytes()),
                    ..ItemPatch::default()
                },
            );
        }
    }
    wait_rounds(&f.engine, 2);
    assert_mirror_matches(&f.db(), &f.sim);
    let events = events_after(&f.db(), before);
    let created = count_by_item(&events, Created);
    assert_eq!(created.len(), files.len());
    assert!(
        created.values().all(|n| *n == 1),
        "duplicate created events"
    );
    for file in &files {
        assert!(
            created.contains_key(&file.id),
            "{} not announced",
            file.path
        );
    }
    // The folder only appears as a parent: it did not change.
    assert!(
        events.iter().all(|e| e.item_id != dir.id),
        "events for the unchanged parent: {events:?}"
    );
    // The edited file: content changes only, never twice for the same state.
    let hot_events: Vec<_> = events.iter().filter(|e| e.item_id == hot.id).collect();
    assert!(!hot_events.is_empty());
    assert!(hot_events.iter().all(|e| e.kind == ContentChanged));
    let tags: std::collections::HashSet<_> = hot_events.iter().map(|e| e.ctag.clone()).collect();
    assert_eq!(tags.len(), hot_events.len(), "same state reported twice");
    let items = item_changes(&events);
    assert_eq!(items.len(), files.len() + hot_events.len());
}
