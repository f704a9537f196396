//! At-least-once delivery: a refused event comes again (and nothing overtakes it); acked
//! events are not delivered again after the engine is reopened on the same database.

use std::sync::Arc;
use std::time::Duration;

use crate::support::engine::*;
use crate::support::{HANG_GUARD, wait_until};
use m365sync::{Ack, Event};
use parking_lot::Mutex;
use serde_json::json;

#[test]
fn a_refused_event_is_delivered_again_before_any_later_one() {
    let sim = one_drive_sim(30, json!({}));
    let work = Workdir::new();
    let db = work.db();
    let engine = open_engine(&sim, &db, json!({ "emit_initial_items": true }));
    let delivered: Arc<Mutex<Vec<i64>>> = Arc::default();
    let log = delivered.clone();
    // Refuse the 5th event twice, then accept it.
    let mut refusals = 0;
    engine.set_event_handler(move |event: &Event| {
        let mut log = log.lock();
        log.push(event.seq);
        if log.len() >= 5 && event.seq == log[4] && refusals < 2 {
            refusals += 1;
            return Ack::Retry;
        }
        Ack::Ok
    });
    engine.start().expect("start");
    wait_mirror_matches(&db, &sim);
    let last = last_seq(&db);
    wait_until("every event acked", || engine.acked_seq().unwrap() == last);
    engine.stop();

    let delivered = delivered.lock().clone();
    let refused = delivered[4];
    assert_eq!(
        &delivered[4..7],
        &[refused; 3],
        "the refused event did not come again at once"
    );
    let mut once = delivered.clone();
    once.dedup();
    let expected: Vec<i64> = events_after(&db, 0).iter().map(|e| e.seq).collect();
    assert_eq!(once, expected, "events skipped, repeated or out of order");
}

#[test]
fn acked_events_are_not_redelivered_after_reopening() {
    let sim = one_drive_sim(40, json!({}));
    let work = Workdir::new();
    let db = work.db();
    let engine = open_engine(&sim, &db, json!({ "emit_initial_items": true }));
    // Ack the first 10 events, refuse the rest.
    let first: Arc<Mutex<Vec<i64>>> = Arc::default();
    let log = first.clone();
    engine.set_event_handler(move |event: &Event| {
        let mut log = log.lock();
        if log.len() < 10 {
            log.push(event.seq);
            Ack::Ok
        } else {
            Ack::Retry
        }
    });
    engine.start().expect("start");
    wait_mirror_matches(&db, &sim);
    wait_until("ten events acked", || first.lock().len() == 10);
    engine.stop();
    drop(engine);
    let acked = *first.lock().last().unwrap();
    assert!(last_seq(&db) > acked + 10);

    let engine = open_engine(&sim, &db, json!({ "emit_initial_items": true }));
    assert_eq!(engine.acked_seq().unwrap(), acked);
    let rx = collect_events(&engine);
    engine.start().expect("restart");
    let last = last_seq(&db);
    let mut second = Vec::new();
    while second.last().is_none_or(|s| *s < last) {
        let event = rx
            .recv_timeout(HANG_GUARD)
            .expect("the unacked events to be delivered");
        second.push(event.seq);
    }
    engine.stop();
    let expected: Vec<i64> = events_after(&db, acked)
        .iter()
        .map(|e| e.seq)
        .take_while(|s| *s <= last)
        .collect();
    assert_eq!(
        second, expected,
        "acked events came again or unacked ones were lost"
    );
}

#[test]
fn pull_style_ack_moves_the_position() {
    let sim = one_drive_sim(20, json!({}));
    let work = Workdir::new();
    let db = work.db();
    let engine = open_engine(&sim, &db, json!({ "emit_initial_items": true }));
    engine.start().expect("start");
    let events = engine
        .wait_events(0, 5, HANG_GUARD)
        .expect("events to pull");
    assert!(!events.is_empty());
    let seq = events.last().unwrap().seq;
    engine.ack(seq).unwrap();
    assert_eq!(engine.acked_seq().unwrap(), seq);
    let next = engine
        .wait_events(seq, 5, Duration::from_secs(60))
        .expect("more events");
    assert!(next.iter().all(|e| e.seq > seq));
    engine.stop();
}
