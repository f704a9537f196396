//! Microsoft 365 groups in a running engine, against a simulator tenant with 30
//! groups: every group drive is discovered and crawled (once, though each is also a
//! site library); `/groups/delta` is followed by deltaLink, also across a restart; a
//! group created while running is crawled within a discovery interval (and at once
//! with webhooks); a deleted group yields `drive_removed`.

use std::collections::BTreeSet;

use crate::support::discover::{drives_with, events, requests, wait_event};
use crate::support::{wait_for, wait_until};
use m365sync::{Database, Engine, Event, EventKind};
use m365sync_sim::{SimConfig, Simulator};
use serde_json::json;

const GROUPS: usize = 30;

fn sim() -> Simulator {
    Simulator::start(SimConfig {
        groups: GROUPS as u32,
        users: 2,
        users_without_drive: 0,
        items: 200,
        depth: 1,
        seed: 5,
        threads: 4,
        ..SimConfig::default()
    })
    .expect("simulator")
}

#[test]
fn group_drives_are_discovered_once_followed_by_deltalink_and_kept_current() {
    let sim = sim();
    let group_drives: BTreeSet<String> = sim
        .groups()
        .into_iter()
        .map(|g| g.drive_id.unwrap())
        .collect();
    let libraries: BTreeSet<String> = sim
        .drives()
        .into_iter()
        .filter(|d| d.site_id.is_some())
        .map(|d| d.id)
        .collect();
    assert_eq!(group_drives.len(), GROUPS);
    assert!(
        group_drives.is_subset(&libraries),
        "a group drive is a site library"
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let scope = json!({"drives": [], "scope": {"all_sites": true, "all_groups": true}});
    let open = || Engine::open(crate::support::discover::config(&sim, &db, scope.clone())).unwrap();

    let engine = open();
    engine.start().unwrap();
    let crawled = wait_for("every library crawled", || {
        let done = drives_with(&engine, EventKind::CrawlCompleted);
        (done.len() >= libraries.len()).then_some(done)
    });
    assert_eq!(crawled, libraries);
    let added: Vec<Event> = events(&engine)
        .into_iter()
        .filter(|e| e.kind == EventKind::DriveAdded)
        .collect();
    assert_eq!(added.len(), libraries.len(), "each drive added once");
    let first_group = &sim.groups()[0];
    let detail = &added
        .iter()
        .find(|e| Some(&e.drive_id) == first_group.drive_id.as_ref())
        .unwrap()
        .detail;
    assert!(
        detail.contains("group Group 0 <group0@sim.onmicrosoft.com>")
            && detail.contains("scope.all_groups"),
        "{detail}"
    );

    // Later rounds follow the deltaLink; a drive is fetched once per group.
    let deltas = requests(&sim, "GET /groups/delta?$deltatoken");
    wait_for("two more group rounds", || {
        (requests(&sim, "GET /groups/delta?$deltatoken") >= deltas + 2).then_some(())
    });
    assert_eq!(requests(&sim, "GET /groups/delta"), 1, "one enumeration");
    assert_eq!(
        requests(&sim, "GET /groups/delta?$skiptoken"),
        GROUPS.div_ceil(crate::support::discover::PAGE as usize) as u64 - 1,
        "paged by odata.maxpagesize"
    );
    assert_eq!(requests(&sim, "GET /groups/{id}/drive"), GROUPS as u64);

    // A group created while running: crawled within a discovery interval.
    let late = sim.add_group("Late Group", true).unwrap();
    let late_drive = late.drive_id.clone().unwrap();
    wait_event(&engine, EventKind::CrawlCompleted, &late_drive);
    // A deleted group: its drive is removed, its items kept.
    let gone = sim.groups()[7].clone();
    let gone_drive = gone.drive_id.clone().unwrap();
    sim.remove_group(&gone.id).unwrap();
    let removed = wait_event(&engine, EventKind::DriveRemoved, &gone_drive);
    assert!(removed.detail.contains("was deleted"), "{}", removed.detail);
    engine.stop();
    drop(engine);

    // A restart continues with the deltaLinks: no new enumeration, nothing added again.
    let before = Database::open(&db).unwrap().last_seq().unwrap();
    let engine = open();
    engine.start().unwrap();
    let rounds = requests(&sim, "GET /groups/delta?$deltatoken");
    wait_for("a round after the restart", || {
        (requests(&sim, "GET /groups/delta?$deltatoken") > rounds).then_some(())
    });
    let again = sim.add_group("After Restart", true).unwrap();
    wait_event(&engine, EventKind::CrawlCompleted, &again.drive_id.unwrap());
    engine.stop();
    assert_eq!(requests(&sim, "GET /groups/delta"), 1);
    assert_eq!(requests(&sim, "GET /sites/delta"), 1, "sites too");
    let after: Vec<Event> = engine.events_after(before, 100_000).unwrap();
    let re_added = after
        .iter()
        .filter(|e| e.kind == EventKind::DriveAdded)
        .count();
    assert_eq!(re_added, 1, "only the new group's drive: {after:?}");
    assert!(drives_with(&engine, EventKind::Error).is_empty());
    assert_eq!(sim.stats().violations, 0);
}

#[test]
fn with_webhooks_a_new_group_is_crawled_at_once_and_a_deleted_one_removed() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let config = crate::support::notify::config(
        &sim,
        &dir,
        json!({}),
        json!({"drives": [], "discover_interval_secs": 86_400, "page_size": 7,
               "scope": {"all_groups": true}}),
    );
    let engine = Engine::open(config).unwrap();
    engine.start().unwrap();
    let first = sim.groups()[0].drive_id.clone().unwrap();
    crate::support::notify::wait_webhook(&engine, &first);
    let groups_subscription = wait_event(&engine, EventKind::SubscriptionCreated, "/groups");
    assert!(!groups_subscription.detail.is_empty());
    assert!(
        !drives_with(&engine, EventKind::SubscriptionCreated).contains("/sites"),
        "sites are not in scope"
    );

    // With a day between rounds, only the /groups notification can bring it in.
    let late = sim.add_group("Late Group", true).unwrap();
    let late_drive = late.drive_id.clone().unwrap();
    crate::support::notify::wait_webhook(&engine, &late_drive);
    wait_event(&engine, EventKind::CrawlCompleted, &late_drive);
    assert_eq!(requests(&sim, "GET /groups/delta"), 1, "a deltaLink round");

    sim.remove_group(&late.id).unwrap();
    let removed = wait_event(&engine, EventKind::DriveRemoved, &late_drive);
    assert!(removed.detail.contains("was deleted"), "{}", removed.detail);
    wait_until("the removed drive's subscription to go", || {
        engine
            .status()
            .unwrap()
            .drives
            .iter()
            .any(|d| d.id == late_drive && d.removed && d.subscription_id.is_none())
    });
    // A delta of the deleted group's drive may have run between the deletion and
    // discovery's round (Graph then answers 404): only that drive may have an error.
    let errors: Vec<Event> = events(&engine)
        .into_iter()
        .filter(|e| e.kind == EventKind::Error && e.drive_id != late_drive)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    engine.stop();
}
