//! The crawl fetches the next delta page while it applies the current one: a stop in the
//! middle leaves exactly the applied pages behind (items, events and cursor agree), and a
//! restart finishes the crawl without a lost or repeated event.

use crate::support::engine::*;
use crate::support::wait_until;
use m365sync::{Ack, DriveState, EventKind};
use serde_json::json;

#[test]
fn stop_mid_crawl_keeps_applied_pages_only_and_a_restart_finishes_exactly_once() {
    let sim = one_drive_sim(6_000, json!({}));
    let drive = drive_ids(&sim)[0].clone();
    let work = Workdir::new();
    let settings = json!({ "emit_initial_items": true, "page_size": 40, "workers": 1 });

    // Stop from inside the handler at the first item event, while pages are in flight.
    let engine = std::sync::Arc::new(open_engine(&sim, &work.db(), settings.clone()));
    let weak = std::sync::Arc::downgrade(&engine);
    engine.set_event_handler(move |event| {
        if event.kind == EventKind::Created {
            if let Some(engine) = weak.upgrade() {
                engine.stop();
            }
        }
        Ack::Ok
    });
    engine.start().expect("start");
    wait_until("the engine stopped itself", || {
        engine.status().is_ok_and(|s| !s.running)
    });
    engine.stop();
    drop(engine);

    // What was committed is consistent: one created event per stored item.
    let store = store(&work.db());
    let state = store.drive(&drive).unwrap().unwrap();
    let stored = store.items(&drive).unwrap().len() as i64 - 1; // the root has no event
    let events = events_after(&work.db(), 0);
    assert_eq!(count_kind(&events, EventKind::Created) as i64, stored);
    assert_eq!(state.item_count, stored);
    if state.state == DriveState::Crawling {
        assert!(state.cursor.is_some_and(|c| c.contains("token=")));
    }

    // A fresh engine resumes from the stored cursor and completes the crawl.
    let engine = open_engine(&sim, &work.db(), settings);
    engine.start().expect("restart");
    wait_mirror_matches(&work.db(), &sim);
    engine.stop();
    let events = events_after(&work.db(), 0);
    let truth = sim.snapshot(&drive).expect("snapshot");
    let created = count_by_item(&events, EventKind::Created);
    assert_eq!(created.len(), truth.len() - 1, "an item never announced");
    assert_no_duplicates(&events, EventKind::Created);
    assert_eq!(count_kind(&events, EventKind::CrawlCompleted), 1);
}
