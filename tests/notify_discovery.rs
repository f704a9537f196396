//! Discovery with webhooks on: a library that appears while the engine runs is
//! crawled and subscribed; one that disappears has its subscription deleted.

mod notify_support;

use m365sync::EventKind;
use notify_support::*;
use serde_json::{Value, json};

fn live_subscriptions(sim: &m365sync::sim::Simulator) -> u64 {
    sim.stats().notifications["subscriptions_active"]
        .as_u64()
        .unwrap_or_default()
}

#[test]
fn drives_found_at_runtime_are_subscribed_and_removed_ones_unsubscribed() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &sim,
        &dir,
        json!({}),
        json!({"drives": [], "discover_interval_secs": 1, "scope": {"all_sites": true}}),
    );
    let engine = m365sync::Engine::open(config).unwrap();
    engine.start().unwrap();
    let first = drive(&sim);
    wait_webhook(&engine, &first);
    assert_eq!(live_subscriptions(&sim), 1);

    let site = sim.drives()[0].site_id.clone().expect("a site library");
    let added = sim.add_library(&site, "Contracts").unwrap();
    wait_webhook(&engine, &added);
    assert_eq!(live_subscriptions(&sim), 2);
    // The new library's changes arrive through its own subscription.
    let before = engine.events_after(0, 100_000).unwrap().last().unwrap().seq;
    touch(&sim, &added, "signed.pdf");
    let created = wait_event(&engine, before, EventKind::Created);
    assert_eq!(created.drive_id, added);

    sim.remove_library(&site, &added).unwrap();
    wait_event(&engine, created.seq, EventKind::DriveRemoved);
    wait_until("the removed drive's subscription to be deleted", || {
        live_subscriptions(&sim) == 1
    });
    let status: Value = serde_json::to_value(engine.status().unwrap()).unwrap();
    let removed = status["drives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == added.as_str())
        .expect("the removed drive stays in status");
    assert_eq!(removed["removed"], true);
    assert_eq!(removed["subscription_id"], Value::Null);
    engine.stop();
}
