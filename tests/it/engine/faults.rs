//! The engine against a hostile Graph: a 429 storm, injected 5xx and connection resets,
//! and access tokens that expire during a crawl.

use crate::support::engine::*;
use crate::support::wait_until;
use m365sync::EventKind;
use m365sync_sim::{ItemPatch, Simulator};
use serde_json::json;

/// Makes a few changes on every drive; returns how many items were created.
fn mutate_every_drive(sim: &Simulator) -> usize {
    let mut created = 0;
    for drive in drive_ids(sim) {
        let root = sim.root_id(&drive).unwrap();
        let dir = sim.create_item(&drive, &root, "Fresh", true, b"").unwrap();
        for i in 0..5 {
            let f = sim
                .create_item(&drive, &dir.id, &format!("f{i}.txt"), false, b"a")
                .unwrap();
            sim.update_item(
                &drive,
                &f.id,
                ItemPatch {
                    content: Some(b"b".to_vec()),
                    ..ItemPatch::default()
                },
            )
            .unwrap();
        }
        created += 6;
    }
    created
}

#[test]
fn a_429_storm_with_8_workers_causes_no_violation() {
    // A crawl page costs more than the whole budget of 60 RU a minute, so every delta
    // request is answered 429 with Retry-After: 1 and no RateLimit-* warning comes first.
    // The engine has no budget of its own: only its reaction to 429s (every thread waits)
    // keeps it from violating Retry-After.
    let sim = Simulator::start(sim_config(json!({
        "sites": 4, "libraries_per_site": 2, "users": 2, "users_without_drive": 0,
        "items": 2000, "seed": 5,
        // A thread per worker and more: a request is metered when it arrives, not
        // after it waited for a free simulator thread (it may have been sent in time).
        "threads": 16,
        "throttle": {
            "ru_per_minute": 60, "retry_after_secs": 1,
            "costs": { "delta_without_token": 61 }
        }
    })))
    .expect("simulator");
    assert!(drive_ids(&sim).len() >= 8);
    let work = Workdir::new();
    let engine = open_engine(
        &sim,
        &work.db(),
        json!({ "workers": 8, "page_size": 10, "throttle": { "ru_per_minute": 0 } }),
    );
    engine.start().expect("start");
    // Several Retry-After windows pass while all 8 workers want to send.
    wait_until("four seconds of Retry-After and ten 429s", || {
        engine
            .status()
            .unwrap()
            .throttle
            .is_some_and(|t| t.throttled >= 10 && t.paused_ms >= 4000)
    });
    engine.stop();
    let stats = sim.stats();
    assert!(stats.throttled > 0, "the simulator never throttled");
    assert_eq!(
        stats.violations, 0,
        "requests sent while a Retry-After was in force ({} throttled of {} requests)",
        stats.throttled, stats.requests
    );
}

#[test]
fn injected_5xx_and_resets_do_not_corrupt_the_mirror() {
    let sim = Simulator::start(sim_config(json!({
        "sites": 2, "libraries_per_site": 1, "users": 1, "users_without_drive": 0,
        "items": 1500, "seed": 9,
        "faults": { "error_503_rate": 0.05, "error_500_rate": 0.15, "reset_rate": 0.15, "seed": 3 }
    })))
    .expect("simulator");
    let work = Workdir::new();
    let db = work.db();
    let engine = open_engine(
        &sim,
        &db,
        json!({ "emit_initial_items": true, "page_size": 100, "workers": 3 }),
    );
    engine.start().expect("start");
    wait_mirror_matches(&db, &sim);
    let created = mutate_every_drive(&sim);
    wait_mirror_matches(&db, &sim);
    wait_rounds(&engine, 3);
    engine.stop();
    assert_mirror_matches(&db, &sim);

    let stats = sim.stats();
    assert!(stats.errors_injected > 0 && stats.resets_injected > 0);
    let events = events_after(&db, 0);
    assert_no_duplicates(&events, EventKind::Created);
    assert_eq!(count_kind(&events, EventKind::Created), 1500 + created);
    assert_eq!(count_kind(&events, EventKind::Deleted), 0);
}

#[test]
fn tokens_expiring_during_the_crawl_are_renewed_without_error() {
    let sim = one_drive_sim(5000, json!({ "token_lifetime_secs": 2 }));
    let work = Workdir::new();
    let db = work.db();
    let engine = start_synced(&sim, &db, json!({ "page_size": 5 }));
    mutate_every_drive(&sim);
    wait_mirror_matches(&db, &sim);
    // A few more polls, each possibly with a token past its lifetime.
    wait_rounds(&engine, 3);
    engine.stop();
    assert_mirror_matches(&db, &sim);

    let tokens = sim
        .stats()
        .requests_by_route
        .get("POST /{tenant}/oauth2/v2.0/token")
        .copied()
        .unwrap_or(0);
    assert!(
        tokens >= 2,
        "the run outlived a 2 s token, yet it was fetched {tokens} times"
    );
    let events = events_after(&db, 0);
    assert_eq!(count_kind(&events, EventKind::Error), 0, "{events:?}");
    let status = engine.status().unwrap();
    assert!(status.drives.iter().all(|d| d.last_error.is_none()));
}
