//! Crash resume: `m365sync run` killed with SIGKILL during the first crawl and during an
//! incremental round, then restarted on the same database.

use std::path::Path;

use crate::support::engine::*;
use crate::support::wait_until;
use m365sync::EventKind;
use m365sync_sim::Simulator;
use serde_json::json;

/// Items committed so far (0 before the engine created its database).
fn live_items(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    store(db)
        .drives()
        .unwrap()
        .iter()
        .map(|d| d.item_count)
        .sum()
}

fn delta_requests(sim: &Simulator) -> u64 {
    sim.stats()
        .requests_by_route
        .get("GET /drives/{id}/root/delta")
        .copied()
        .unwrap_or(0)
}

#[test]
fn killed_engine_resumes_without_duplicate_or_lost_events() {
    const ITEMS: u64 = 8000;
    const PAGE: u64 = 5;
    let sim = Simulator::start(sim_config(json!({
        "sites": 2, "libraries_per_site": 1, "users": 0, "users_without_drive": 0,
        "items": ITEMS, "depth": 3, "seed": 21
    })))
    .expect("simulator");
    let drives = drive_ids(&sim);
    let work = Workdir::new();
    let db = work.db();
    let config = work.write_config(&engine_json(
        &sim,
        &db,
        json!({ "emit_initial_items": true, "page_size": PAGE }),
    ));
    let log = work.dir.path().join("run.log");

    // 1. Killed during the first crawl, once a third of it is committed.
    let mut run = EngineProcess::spawn(&config, &log);
    wait_until("a third of the crawl committed", || {
        run.assert_alive(&log);
        live_items(&db) >= ITEMS as i64 / 3
    });
    run.kill();
    assert!(
        !all_synced(&store(&db)),
        "the crawl finished before the kill; make it longer"
    );
    let committed = live_items(&db);
    let run = EngineProcess::spawn(&config, &log);
    wait_mirror_matches(&db, &sim);
    let events = events_after(&db, 0);
    assert_no_duplicates(&events, EventKind::Created);
    assert_eq!(count_kind(&events, EventKind::Created), ITEMS as usize);
    assert_eq!(count_kind(&events, EventKind::CrawlCompleted), drives.len());
    assert_eq!(count_kind(&events, EventKind::Error), 0);
    // The restart resumed from the stored nextLinks: the pages committed before the kill
    // were not fetched again (a restart from zero would need `committed / PAGE` more).
    let minimum_pages = ITEMS / PAGE;
    let slack = (committed as u64 / PAGE) / 2;
    assert!(
        delta_requests(&sim) < minimum_pages + slack,
        "{} delta requests for {minimum_pages} pages: the crawl restarted from zero",
        delta_requests(&sim)
    );

    // 2. Killed during an incremental round that has many pages to go.
    let before = last_seq(&db);
    let mut created = Vec::new();
    for drive in &drives {
        let root = sim.root_id(drive).unwrap();
        let dir = sim.create_item(drive, &root, "Burst", true, b"").unwrap();
        created.push(dir.id.clone());
        for i in 0..600 {
            let f = sim
                .create_item(drive, &dir.id, &format!("burst {i}.txt"), false, b"b")
                .unwrap();
            created.push(f.id);
        }
    }
    let mut run = run;
    let target = live_items(&db) + created.len() as i64 / 4;
    wait_until("a quarter of the incremental round committed", || {
        run.assert_alive(&log);
        live_items(&db) >= target
    });
    run.kill();
    let at_kill = count_kind(&events_after(&db, before), EventKind::Created);
    assert!(
        at_kill < created.len(),
        "the incremental round finished before the kill; make it longer"
    );
    let run = EngineProcess::spawn(&config, &log);
    wait_mirror_matches(&db, &sim);

    let events = events_after(&db, before);
    let counts = count_by_item(&events, EventKind::Created);
    assert_eq!(counts.len(), created.len());
    for id in &created {
        assert_eq!(counts.get(id), Some(&1), "item {id}");
    }
    assert_eq!(
        item_changes(&events).len(),
        created.len(),
        "unexpected item events"
    );
    let store = store(&db);
    let mirrored: usize = drives.iter().map(|d| store.items(d).unwrap().len()).sum();
    let truth: usize = drives.iter().map(|d| sim.snapshot(d).unwrap().len()).sum();
    assert_eq!(mirrored, truth, "duplicate or missing items in the mirror");

    // 3. Killed during the re-enumeration after a 410.
    let before = last_seq(&db);
    let victim = created.pop().unwrap();
    sim.delete_item(drives.last().unwrap(), &victim).unwrap();
    sim.expire_delta_tokens();
    let requests = delta_requests(&sim);
    let mut run = run;
    wait_until("a third of the re-enumeration", || {
        run.assert_alive(&log);
        delta_requests(&sim) >= requests + minimum_pages / 3
    });
    run.kill();
    let at_kill = events_after(&db, before);
    assert_eq!(
        count_kind(&at_kill, EventKind::ResyncCompleted),
        0,
        "the resync finished before the kill; make it longer"
    );
    let run = EngineProcess::spawn(&config, &log);
    wait_until("every drive's resync_completed", || {
        count_kind(&events_after(&db, before), EventKind::ResyncCompleted) == drives.len()
    });
    wait_mirror_matches(&db, &sim);
    run.kill();
    let events = events_after(&db, before);
    // Restarts register the configured drives once.
    let all = events_after(&db, 0);
    assert_eq!(count_kind(&all, EventKind::DriveAdded), drives.len());
    // The restart continued the re-enumeration from its stored link: no second start.
    assert_eq!(count_kind(&events, EventKind::ResyncStarted), drives.len());
    assert_eq!(
        item_changes(&events),
        [(
            EventKind::Deleted,
            victim.clone(),
            "/Burst/burst 599.txt".to_string(),
            String::new()
        )]
    );
}
