//! 410 Gone: delta tokens expiring in the middle of a first crawl, and after it.

use crate::support::engine::*;
use crate::support::wait_until;
use m365sync::EventKind;
use m365sync_sim::ItemPatch;
use serde_json::json;

use EventKind::*;

#[test]
fn expiry_in_the_middle_of_a_crawl_restarts_it_without_duplicates() {
    const ITEMS: u64 = 6000;
    let sim = one_drive_sim(ITEMS, json!({}));
    let work = Workdir::new();
    let db = work.db();
    let engine = open_engine(
        &sim,
        &db,
        json!({ "emit_initial_items": true, "page_size": 4 }),
    );
    engine.start().expect("start");
    let store = store(&db);
    wait_until("the crawl's first pages", || {
        store.drives().unwrap()[0].item_count > 100
    });
    sim.expire_delta_tokens();
    let at_expiry = store.drives().unwrap()[0].clone();
    assert_eq!(
        at_expiry.last_delta_ms, None,
        "the crawl finished before the tokens expired; make it longer"
    );
    assert!(at_expiry.item_count < ITEMS as i64 / 2);
    wait_mirror_matches(&db, &sim);
    engine.stop();

    let events = events_after(&db, 0);
    // A first crawl that meets a 410 starts over quietly: no resync events, and the
    // items it had already announced are not announced again.
    assert_eq!(count_kind(&events, ResyncStarted), 0);
    assert_eq!(count_kind(&events, CrawlCompleted), 1);
    assert_eq!(count_kind(&events, Error), 0);
    assert_no_duplicates(&events, Created);
    assert_eq!(count_kind(&events, Created), ITEMS as usize);
    assert_eq!(item_changes(&events).len(), ITEMS as usize);
}

#[test]
fn expiry_after_the_crawl_reconciles_exactly_the_differences() {
    let sim = one_drive_sim(400, json!({}));
    let drive = drive_ids(&sim).remove(0);
    let root = sim.root_id(&drive).unwrap();
    let work = Workdir::new();
    let db = work.db();
    let overrides = json!({ "page_size": 25 });
    let engine = start_synced(&sim, &db, overrides.clone());
    // A few known items to change while the engine is down.
    let dir = sim.create_item(&drive, &root, "Doomed", true, b"").unwrap();
    let inner = sim
        .create_item(&drive, &dir.id, "inner.txt", false, b"i")
        .unwrap();
    let keep = sim.create_item(&drive, &root, "Keep", true, b"").unwrap();
    let edit = sim
        .create_item(&drive, &keep.id, "edit.txt", false, b"1")
        .unwrap();
    let rename = sim
        .create_item(&drive, &keep.id, "old.txt", false, b"r")
        .unwrap();
    let mv = sim
        .create_item(&drive, &keep.id, "mv.txt", false, b"m")
        .unwrap();
    let gone = sim
        .create_item(&drive, &keep.id, "gone.txt", false, b"g")
        .unwrap();
    let share = sim
        .create_item(&drive, &keep.id, "share.txt", false, b"s")
        .unwrap();
    wait_rounds(&engine, 2);
    assert_mirror_matches(&db, &sim);
    engine.stop();
    drop(engine);
    let before = last_seq(&db);

    sim.expire_delta_tokens();
    let new = sim
        .create_item(&drive, &keep.id, "new.txt", false, b"n")
        .unwrap();
    sim.update_item(
        &drive,
        &edit.id,
        ItemPatch {
            content: Some(b"2".to_vec()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    sim.update_item(
        &drive,
        &rename.id,
        ItemPatch {
            name: Some("new-name.txt".into()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    sim.update_item(
        &drive,
        &mv.id,
        ItemPatch {
            parent_id: Some(root.clone()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    sim.delete_item(&drive, &gone.id).unwrap();
    sim.delete_item(&drive, &dir.id).unwrap();
    sim.share_item(&drive, &share.id).unwrap();

    let engine = open_engine(&sim, &db, overrides);
    engine.start().expect("restart");
    wait_until("resync_completed", || {
        count_kind(&events_after(&db, before), ResyncCompleted) == 1
    });
    wait_mirror_matches(&db, &sim);
    wait_rounds(&engine, 2);
    engine.stop();

    let events = events_after(&db, before);
    assert_eq!(events.first().map(|e| e.kind), Some(ResyncStarted));
    assert_eq!(count_kind(&events, ResyncStarted), 1);
    let completed: Vec<_> = events
        .iter()
        .filter(|e| e.kind == ResyncCompleted)
        .collect();
    assert_eq!(completed.len(), 1);
    let want = [
        (Created, &new.id, "/Keep/new.txt", ""),
        (ContentChanged, &edit.id, "/Keep/edit.txt", ""),
        (Renamed, &rename.id, "/Keep/new-name.txt", "/Keep/old.txt"),
        (Moved, &mv.id, "/mv.txt", "/Keep/mv.txt"),
        (Deleted, &gone.id, "/Keep/gone.txt", ""),
        (Deleted, &dir.id, "/Doomed", ""),
        (PermissionsChanged, &share.id, "/Keep/share.txt", ""),
    ];
    assert_item_changes(&events, &want);
    assert!(
        events.iter().all(|e| e.item_id != inner.id),
        "the deleted folder's child got its own event"
    );
    assert_eq!(completed[0].detail, format!("{} changes", want.len()));
    assert_eq!(count_kind(&events, Error), 0);
}

#[test]
fn resync_reconciles_folder_moves_and_deletes_with_one_event_per_top_item() {
    let sim = one_drive_sim(200, json!({}));
    let drive = drive_ids(&sim).remove(0);
    let root = sim.root_id(&drive).unwrap();
    let work = Workdir::new();
    let db = work.db();
    let overrides = json!({ "page_size": 7 });
    let engine = open_engine(&sim, &db, overrides.clone());
    engine.start().expect("start");
    let a = sim.create_item(&drive, &root, "A", true, b"").unwrap();
    let a_sub = sim.create_item(&drive, &a.id, "Sub", true, b"").unwrap();
    let a_file = sim
        .create_item(&drive, &a_sub.id, "deep.txt", false, b"d")
        .unwrap();
    let b = sim.create_item(&drive, &root, "B", true, b"").unwrap();
    let b_kept = sim.create_item(&drive, &b.id, "Kept", true, b"").unwrap();
    let b_file = sim
        .create_item(&drive, &b_kept.id, "k.txt", false, b"k")
        .unwrap();
    let b_lost = sim
        .create_item(&drive, &b.id, "lost.txt", false, b"l")
        .unwrap();
    wait_mirror_matches(&db, &sim);
    wait_rounds(&engine, 2);
    engine.stop();
    drop(engine);
    let before = last_seq(&db);

    sim.expire_delta_tokens();
    // A folder created now (listed after A in a full enumeration) receives A's subtree.
    let n = sim.create_item(&drive, &root, "New", true, b"").unwrap();
    sim.update_item(
        &drive,
        &a_sub.id,
        ItemPatch {
            parent_id: Some(n.id.clone()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    // B's subfolder leaves it, then B goes with what is left in it.
    sim.update_item(
        &drive,
        &b_kept.id,
        ItemPatch {
            parent_id: Some(root.clone()),
            name: Some("Rescued".into()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    sim.delete_item(&drive, &b.id).unwrap();

    let engine = open_engine(&sim, &db, overrides);
    engine.start().expect("restart");
    wait_until("resync_completed", || {
        count_kind(&events_after(&db, before), ResyncCompleted) == 1
    });
    wait_mirror_matches(&db, &sim);
    engine.stop();

    let events = events_after(&db, before);
    assert_item_changes(
        &events,
        &[
            (Created, &n.id, "/New", ""),
            (Moved, &a_sub.id, "/New/Sub", "/A/Sub"),
            (Moved, &b_kept.id, "/Rescued", "/B/Kept"),
            (Deleted, &b.id, "/B", ""),
        ],
    );
    let store = store(&db);
    let at = |p: &str| store.item_by_path(&drive, p).unwrap().map(|i| i.id);
    assert_eq!(at("/New/Sub/deep.txt"), Some(a_file.id.clone()));
    assert_eq!(at("/Rescued/k.txt"), Some(b_file.id.clone()));
    assert_eq!(at("/B/lost.txt"), None);
    assert!(events.iter().all(|e| e.item_id != b_lost.id));
}

#[test]
fn expiry_during_an_incremental_round_reports_each_new_item_once() {
    let sim = one_drive_sim(100, json!({}));
    let drive = drive_ids(&sim).remove(0);
    let root = sim.root_id(&drive).unwrap();
    let work = Workdir::new();
    let db = work.db();
    let engine = start_synced(&sim, &db, json!({ "page_size": 3 }));
    let before = last_seq(&db);
    let dir = sim.create_item(&drive, &root, "Batch", true, b"").unwrap();
    let mut ids = vec![dir.id.clone()];
    for i in 0..400 {
        ids.push(
            sim.create_item(&drive, &dir.id, &format!("n{i}.txt"), false, b"n")
                .unwrap()
                .id,
        );
    }
    // Wherever the round is when the tokens expire (in the middle, most likely), the
    // outcome is the same: one resync, and every new item announced once.
    wait_until("the round's first pages", || {
        count_kind(&events_after(&db, before), Created) >= 20
    });
    sim.expire_delta_tokens();
    wait_until("resync_completed", || {
        count_kind(&events_after(&db, before), ResyncCompleted) == 1
    });
    wait_mirror_matches(&db, &sim);
    wait_rounds(&engine, 2);
    engine.stop();

    let events = events_after(&db, before);
    assert_eq!(count_kind(&events, ResyncStarted), 1);
    assert_eq!(count_kind(&events, ResyncCompleted), 1);
    let created = count_by_item(&events, Created);
    assert_eq!(created.len(), ids.len());
    assert!(ids.iter().all(|id| created.get(id) == Some(&1)));
    assert_eq!(item_changes(&events).len(), ids.len());
}
