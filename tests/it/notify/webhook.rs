//! Webhook mode end to end against the simulator: subscribe, catch up, notifications
//! turned into events, coalescing, and the safety net.

use crate::support::notify::*;
use crate::support::wait_until;
use m365sync::{Engine, EventKind};
use m365sync_sim::subscriptions::NotificationConfig;
use serde_json::json;

#[test]
fn a_change_reaches_the_host_through_a_notification() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let (engine, drive) = start_subscribed(&sim, &dir);
    assert_eq!(count(&engine, EventKind::SubscriptionCreated), 1);
    let seq = engine.status().unwrap().last_seq;
    touch(&sim, &drive, "hello.txt");
    let event = wait_event(&engine, seq, EventKind::Created);
    assert_eq!(event.path, "/hello.txt");
    let status = engine.status().unwrap();
    let d = &status.drives[0];
    assert!(d.subscription_id.is_some() && d.subscription_expires_ms.is_some());
    let stats = status.notifications.unwrap();
    assert!(stats.accepted >= 1 && stats.validations >= 1, "{stats:?}");
    assert_eq!(stats.rejected(), 0);
}

#[test]
fn duplicated_and_reordered_notifications_coalesce() {
    let sim = sim(NotificationConfig {
        duplicate: 1.0,
        reorder: 1.0,
        seed: Some(5),
        ..quick_delivery()
    });
    let dir = tempfile::tempdir().unwrap();
    let (engine, drive) = start_subscribed(&sim, &dir);
    let seq = engine.status().unwrap().last_seq;
    for i in 0..50 {
        touch(&sim, &drive, &format!("f{i}.txt"));
    }
    wait_until("all 50 files", || {
        engine
            .events_after(seq, 1000)
            .unwrap()
            .iter()
            .filter(|e| e.kind == EventKind::Created)
            .count()
            == 50
    });
    wait_until("every notification delivered", || {
        sim_counter(&sim, "pending") == 0
    });
    let sent = sim_counter(&sim, "notifications_sent");
    assert!(sent >= 100, "duplicates were delivered: {sent}");
    let created = engine
        .events_after(seq, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Created)
        .count();
    assert_eq!(created, 50, "every file reported exactly once");
}

#[test]
fn dropped_notifications_are_caught_by_the_safety_net() {
    let sim = sim(NotificationConfig {
        drop: 1.0,
        ..quick_delivery()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, &dir, json!({}), json!({"safety_interval_secs": 1}));
    let engine = Engine::open(config).unwrap();
    engine.start().unwrap();
    let drive = drive(&sim);
    wait_webhook(&engine, &drive);
    let seq = engine.status().unwrap().last_seq;
    touch(&sim, &drive, "lost.txt");
    assert_eq!(
        wait_event(&engine, seq, EventKind::Created).path,
        "/lost.txt"
    );
    assert!(sim_counter(&sim, "dropped_by_fault") >= 1);
}

#[test]
fn delayed_delivery_still_arrives() {
    let sim = sim(NotificationConfig {
        delay_ms: 300,
        delay_jitter_ms: 300,
        ..quick_delivery()
    });
    let dir = tempfile::tempdir().unwrap();
    let (engine, drive) = start_subscribed(&sim, &dir);
    let seq = engine.status().unwrap().last_seq;
    touch(&sim, &drive, "late.txt");
    assert_eq!(
        wait_event(&engine, seq, EventKind::Created).path,
        "/late.txt"
    );
    assert!(engine.status().unwrap().notifications.unwrap().accepted >= 1);
}

#[test]
fn without_webhooks_drives_are_polled() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, &dir, json!(null), json!({"poll_interval_secs": 1}));
    let engine = Engine::open(config).unwrap();
    engine.start().unwrap();
    let drive = drive(&sim);
    wait_synced(&engine);
    let seq = engine.status().unwrap().last_seq;
    touch(&sim, &drive, "polled.txt");
    wait_event(&engine, seq, EventKind::Created);
    let status = engine.status().unwrap();
    assert_eq!(status.drives[0].mode, "polling");
    assert!(status.notifications.is_none());
    assert_eq!(sim_counter(&sim, "subscriptions_active"), 0);
    assert!(engine.handle_notification(b"{\"value\":[]}").is_err());
}
