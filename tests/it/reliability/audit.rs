//! Drift audits: delta that leaves out delete tombstones (the simulator's
//! `omit_tombstone_rate` fault), and the periodic full enumeration that catches it.

use crate::support::engine::*;
use crate::support::wait_until;
use m365sync::EventKind::*;
use m365sync_sim::{Faults, ItemPatch};
use serde_json::json;

#[test]
fn an_audit_finds_the_deletes_delta_left_out() {
    let sim = one_drive_sim(150, json!({}));
    let drive = drive_ids(&sim).remove(0);
    let root = sim.root_id(&drive).unwrap();
    let lone = sim
        .create_item(&drive, &root, "lone.txt", false, b"l")
        .unwrap();
    let doomed = sim.create_item(&drive, &root, "Doomed", true, b"").unwrap();
    sim.create_item(&drive, &doomed.id, "inner.txt", false, b"i")
        .unwrap();
    let edit = sim
        .create_item(&drive, &root, "edit.txt", false, b"1")
        .unwrap();

    let work = Workdir::new();
    let db = work.db();
    let overrides = json!({ "page_size": 40 });
    let engine = start_synced(&sim, &db, overrides.clone());

    // Every tombstone from now on is left out of delta; other changes still come.
    sim.set_faults(Faults {
        omit_tombstone_rate: 1.0,
        seed: 4,
        ..Faults::default()
    })
    .unwrap();
    let before = last_seq(&db);
    sim.delete_item(&drive, &lone.id).unwrap();
    sim.delete_item(&drive, &doomed.id).unwrap();
    sim.update_item(
        &drive,
        &edit.id,
        ItemPatch {
            content: Some(b"2".to_vec()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    wait_until("delta reports the edit", || {
        count_kind(&events_after(&db, before), ContentChanged) == 1
    });
    wait_rounds(&engine, 2);
    engine.stop();
    drop(engine);
    let missed = diffs(&store(&db), &sim);
    assert!(
        !missed.is_empty(),
        "the mirror should still hold the deleted items"
    );
    assert_eq!(count_kind(&events_after(&db, before), Deleted), 0);
    let status = store(&db).status().unwrap();
    assert_eq!((status.drift_total, status.drives[0].audits), (0, 0));

    // Audits every second: the first is overdue at start (a second after the crawl).
    let mut with_audits = overrides;
    with_audits["audit_interval_secs"] = json!(1);
    let engine = open_engine(&sim, &db, with_audits);
    engine.start().expect("restart");
    wait_until("two audits", || {
        engine.status().unwrap().drives[0].audits >= 2
    });
    engine.stop();
    assert_mirror_matches(&db, &sim);

    let events = events_after(&db, before);
    // One deleted event per missed delete (the folder's covers its content); the edit
    // was reported once, by delta.
    assert_item_changes(
        &events,
        &[
            (Deleted, &lone.id, "/lone.txt", ""),
            (Deleted, &doomed.id, "/Doomed", ""),
            (ContentChanged, &edit.id, "/edit.txt", ""),
        ],
    );
    let started: Vec<_> = events.iter().filter(|e| e.kind == ResyncStarted).collect();
    assert!(started.len() >= 2 && started.iter().all(|e| e.detail.starts_with("audit:")));
    let completed: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == ResyncCompleted)
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(completed.first(), Some(&"2 changes"));
    assert!(
        completed[1..].iter().all(|d| *d == "0 changes"),
        "{completed:?}"
    );

    let status = engine.status().unwrap();
    let d = &status.drives[0];
    assert_eq!(d.drift_total, 2, "later audits find nothing more");
    assert_eq!(d.last_audit_drift, Some(0));
    assert!(d.last_audit_ms.is_some());
    assert_eq!(status.drift_total, 2);
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["drift_total"], 2);
    assert_eq!(json["drives"][0]["drift_total"], 2);
}

#[test]
fn an_audit_killed_midway_resumes_and_is_counted_once() {
    const PAGE: u64 = 5;
    let sim = one_drive_sim(600, json!({}));
    let drive = drive_ids(&sim).remove(0);
    let root = sim.root_id(&drive).unwrap();
    let work = Workdir::new();
    let db = work.db();
    let overrides = json!({ "page_size": 50 });
    let engine = start_synced(&sim, &db, overrides.clone());
    sim.set_faults(Faults {
        omit_tombstone_rate: 1.0,
        ..Faults::default()
    })
    .unwrap();
    let gone = sim
        .create_item(&drive, &root, "gone.txt", false, b"g")
        .unwrap();
    wait_rounds(&engine, 2);
    sim.delete_item(&drive, &gone.id).unwrap();
    wait_rounds(&engine, 2);
    engine.stop();
    drop(engine);
    let before = last_seq(&db);

    // `m365sync run` audits at once, slowly (20 requests a second for 120 pages), and
    // is killed with SIGKILL once the audit has started.
    let config = work.write_config(&engine_json(
        &sim,
        &db,
        json!({
            "page_size": PAGE,
            "audit_interval_secs": 1,
            "throttle": { "requests_per_second": 20 }
        }),
    ));
    let log = work.dir.path().join("run.log");
    let mut run = EngineProcess::spawn(&config, &log);
    wait_until("the audit started", || {
        run.assert_alive(&log);
        count_kind(&events_after(&db, before), ResyncStarted) == 1
    });
    run.kill();
    assert_eq!(
        count_kind(&events_after(&db, before), ResyncCompleted),
        0,
        "the audit finished before the kill; make it longer"
    );

    // Audits off: the interrupted enumeration still completes, as the drive's next job.
    let engine = open_engine(&sim, &db, overrides);
    engine.start().expect("restart");
    wait_until("the audit closed", || {
        engine.status().unwrap().drives[0].audits == 1
    });
    engine.stop();
    let d = &engine.status().unwrap().drives[0];
    assert_eq!((d.audits, d.drift_total), (1, 1), "{d:?}");
    let events = events_after(&db, before);
    assert_eq!(
        item_changes(&events),
        vec![(Deleted, gone.id.clone(), "/gone.txt".into(), String::new())]
    );
    assert_no_duplicates(&events, Deleted);
    assert_eq!(count_kind(&events, ResyncStarted), 1);
    assert_eq!(count_kind(&events, ResyncCompleted), 1);
}
