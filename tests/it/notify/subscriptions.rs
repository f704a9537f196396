//! Subscription lifecycle against the simulator: expiry and 404 on renew, lifecycle
//! notifications, reconciliation at restart, and the polling fallback.

use crate::support::notify::*;
use crate::support::wait_until;
use m365sync::{Engine, EventKind};
use m365sync_sim::subscriptions::NotificationConfig;
use serde_json::json;

#[test]
fn an_expired_subscription_is_recreated_on_renewal_with_a_catch_up() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let webhook = json!({"expiry_secs": 4, "renew_margin_secs": 2});
    let engine = Engine::open(config(&sim, &dir, webhook, json!({}))).unwrap();
    engine.start().unwrap();
    let drive = drive(&sim);
    wait_webhook(&engine, &drive);
    let first = engine.status().unwrap().drives[0].subscription_id.clone();
    let seq = engine.status().unwrap().last_seq;
    sim.expire_subscriptions(None);
    // Changed while no subscription exists: only the catch-up delta can see it.
    touch(&sim, &drive, "meanwhile.txt");
    let lost = wait_event(&engine, seq, EventKind::SubscriptionLost);
    assert!(lost.detail.contains("not found"), "{}", lost.detail);
    wait_event(&engine, lost.seq, EventKind::SubscriptionCreated);
    assert_eq!(
        wait_event(&engine, seq, EventKind::Created).path,
        "/meanwhile.txt"
    );
    wait_webhook(&engine, &drive);
    assert_ne!(engine.status().unwrap().drives[0].subscription_id, first);
    wait_event(&engine, seq, EventKind::SubscriptionRenewed);
}

#[test]
fn subscription_removed_lifecycle_event_recreates() {
    let sim = sim(NotificationConfig {
        send_removed_on_expire: true,
        ..quick_delivery()
    });
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = start_subscribed(&sim, &dir);
    let seq = engine.status().unwrap().last_seq;
    sim.expire_subscriptions(None);
    let lost = wait_event(&engine, seq, EventKind::SubscriptionLost);
    assert!(lost.detail.contains("removed"), "{}", lost.detail);
    wait_event(&engine, lost.seq, EventKind::SubscriptionCreated);
    assert_eq!(sim_counter(&sim, "subscriptions_active"), 1);
}

#[test]
fn reauthorization_required_is_answered() {
    let sim = sim(NotificationConfig {
        lifecycle_lead_secs: 10_000_000,
        ..quick_delivery()
    });
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = start_subscribed(&sim, &dir);
    wait_until("a reauthorization", || {
        sim_counter(&sim, "reauthorized") >= 1
    });
    assert!(engine.status().unwrap().notifications.unwrap().lifecycle >= 1);
    assert_eq!(engine.status().unwrap().drives[0].mode, "webhook");
}

#[test]
fn restart_deletes_stale_subscriptions_and_shutdown_may_delete_ours() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let drive = drive(&sim);
    {
        let (engine, _) = start_subscribed(&sim, &dir);
        engine.stop();
    }
    assert_eq!(sim_counter(&sim, "subscriptions_active"), 1);
    // A new port makes the stored subscription point to a dead URL: it is stale.
    let webhook = json!({"delete_on_shutdown": true});
    let engine = Engine::open(config(&sim, &dir, webhook, json!({}))).unwrap();
    engine.start().unwrap();
    wait_webhook(&engine, &drive);
    assert_eq!(sim_counter(&sim, "subscriptions_active"), 1);
    assert!(sim_counter(&sim, "deleted") >= 1);
    assert_eq!(count(&engine, EventKind::SubscriptionCreated), 2);
    engine.stop();
    assert_eq!(sim_counter(&sim, "subscriptions_active"), 0);
}

#[test]
fn failing_subscriptions_fall_back_to_polling_with_a_status_entry() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there, so Graph's validation handshake fails.
    let webhook = json!({"public_url": "http://127.0.0.1:9/nowhere"});
    let config = config(&sim, &dir, webhook, json!({"poll_interval_secs": 1}));
    let engine = Engine::open(config).unwrap();
    engine.start().unwrap();
    let drive = drive(&sim);
    wait_until("a subscription error", || {
        engine.status().unwrap().drives[0]
            .subscription_error
            .is_some()
    });
    let status = engine.status().unwrap();
    assert_eq!(status.drives[0].mode, "polling");
    assert!(count(&engine, EventKind::Error) >= 1);
    wait_synced(&engine);
    let seq = engine.status().unwrap().last_seq;
    touch(&sim, &drive, "polled.txt");
    assert_eq!(
        wait_event(&engine, seq, EventKind::Created).path,
        "/polled.txt"
    );
}
