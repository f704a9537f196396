//! Discovery with webhooks on: a library that appears while the engine runs is
//! crawled and subscribed; one that disappears has its subscription deleted; a
//! `/sites` subscription makes a new site's drives appear at once, long before the
//! discovery interval, and is renewed and recreated like the drives' ones.

use crate::support::notify::*;
use crate::support::wait_until;
use m365sync::EventKind;
use m365sync_sim::subscriptions::NotificationConfig;
use serde_json::{Value, json};

/// Starts an engine with webhooks that discovers every site library, a full round
/// every `interval_secs`.
fn start_discovering(
    sim: &m365sync_sim::Simulator,
    dir: &tempfile::TempDir,
    interval_secs: u64,
) -> m365sync::Engine {
    let scope = json!({"drives": [], "discover_interval_secs": interval_secs,
                       "scope": {"all_sites": true}});
    let engine = m365sync::Engine::open(config(sim, dir, json!({}), scope)).unwrap();
    engine.start().unwrap();
    engine
}

fn live_subscriptions(sim: &m365sync_sim::Simulator) -> u64 {
    sim.stats().notifications["subscriptions_active"]
        .as_u64()
        .unwrap_or_default()
}

#[test]
fn drives_found_at_runtime_are_subscribed_and_removed_ones_unsubscribed() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let engine = start_discovering(&sim, &dir, 1);
    let first = drive(&sim);
    wait_webhook(&engine, &first);
    // The drive's subscription and the one on /sites.
    wait_until("two subscriptions", || live_subscriptions(&sim) == 2);

    let site = sim.drives()[0].site_id.clone().expect("a site library");
    let added = sim.add_library(&site, "Contracts").unwrap();
    wait_webhook(&engine, &added);
    assert_eq!(live_subscriptions(&sim), 3);
    // The new library's changes arrive through its own subscription.
    let before = engine.events_after(0, 100_000).unwrap().last().unwrap().seq;
    touch(&sim, &added, "signed.pdf");
    let created = wait_event(&engine, before, EventKind::Created);
    assert_eq!(created.drive_id, added);

    sim.remove_library(&site, &added).unwrap();
    wait_event(&engine, created.seq, EventKind::DriveRemoved);
    wait_until("the removed drive's subscription to be deleted", || {
        live_subscriptions(&sim) == 2
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

#[test]
fn a_site_added_while_running_is_crawled_at_once_through_the_sites_subscription() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let engine = start_discovering(&sim, &dir, 86_400);
    wait_webhook(&engine, &drive(&sim));
    wait_until("the /sites subscription", || {
        engine
            .events_after(0, 1000)
            .unwrap()
            .iter()
            .any(|e| e.kind == EventKind::SubscriptionCreated && e.drive_id == "/sites")
    });
    let rounds = sim.stats().requests_by_route["GET /sites/delta"];

    // With a day between rounds, only the notification can bring the new site in.
    let site = sim.add_site("Late Site").unwrap();
    let late = sim
        .drives()
        .into_iter()
        .find(|d| d.site_id.as_deref() == Some(site.as_str()))
        .unwrap()
        .id;
    wait_webhook(&engine, &late);
    let added = engine
        .events_after(0, 1000)
        .unwrap()
        .into_iter()
        .find(|e| e.kind == EventKind::DriveAdded && e.drive_id == late)
        .expect("drive_added");
    assert!(added.detail.contains("Late-Site"), "{}", added.detail);
    let stats = sim.stats().requests_by_route;
    assert_eq!(stats["GET /sites/delta"], rounds, "no new enumeration");
    assert!(stats["GET /sites/delta?token"] >= 1, "a deltaLink round");

    // A deleted site goes the same way.
    sim.remove_site(&site).unwrap();
    let removed = wait_event(&engine, added.seq, EventKind::DriveRemoved);
    assert_eq!(removed.drive_id, late);
    assert_eq!(count(&engine, EventKind::Error), 0);
    engine.stop();
}

#[test]
fn a_lost_sites_subscription_is_recreated() {
    let sim = sim(NotificationConfig {
        send_removed_on_expire: true,
        ..quick_delivery()
    });
    let dir = tempfile::tempdir().unwrap();
    let engine = start_discovering(&sim, &dir, 86_400);
    let sites_created = |engine: &m365sync::Engine| {
        engine
            .events_after(0, 1000)
            .unwrap()
            .iter()
            .filter(|e| e.kind == EventKind::SubscriptionCreated && e.drive_id == "/sites")
            .count()
    };
    // Status lists the tenant-level subscription next to the drives' ones.
    let sites_subscription = |engine: &m365sync::Engine| {
        let status = engine.status().unwrap();
        assert!(
            status.tenant_subscriptions.len() <= 1,
            "{:?}",
            status.tenant_subscriptions
        );
        status
            .tenant_subscriptions
            .into_iter()
            .find(|t| t.resource == "/sites")
            .and_then(|t| t.subscription_id)
    };
    wait_until("the /sites subscription", || sites_created(&engine) == 1);
    wait_until("two subscriptions", || live_subscriptions(&sim) == 2);
    wait_until("the /sites subscription in status", || {
        sites_subscription(&engine).is_some()
    });
    let first = sites_subscription(&engine).unwrap();
    sim.expire_subscriptions(None);
    // Graph's subscriptionRemoved notices say both are gone; each is recreated.
    wait_until("the /sites subscription recreated", || {
        sites_created(&engine) == 2
    });
    wait_until("two live subscriptions again", || {
        live_subscriptions(&sim) == 2
    });
    wait_until("the new /sites subscription in status", || {
        sites_subscription(&engine).is_some_and(|id| id != first)
    });
    let json = serde_json::to_value(engine.status().unwrap()).unwrap();
    assert_eq!(json["tenant_subscriptions"][0]["resource"], "/sites");
    engine.stop();
}
