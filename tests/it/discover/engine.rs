//! Discovery inside a running engine, against the simulator: the acceptance tenant
//! is found whole, exclusions hold, a new site is crawled within a discovery
//! interval, removed libraries and sites yield `drive_removed` with their items kept.

use std::collections::BTreeSet;

use crate::support::discover::*;
use crate::support::wait_for;
use m365sync::{Database, Engine, EventKind};
use serde_json::json;

const PRESERVATION: &str = "Preservation Hold Library";

#[test]
fn the_acceptance_tenant_is_discovered_and_kept_current() {
    let sim = acceptance_sim();
    let site_ids: BTreeSet<String> = sim.drives().into_iter().filter_map(|d| d.site_id).collect();
    assert_eq!(site_ids.len(), SITES);
    let held: BTreeSet<String> = site_ids
        .iter()
        .take(2)
        .map(|s| sim.add_library(s, PRESERVATION).unwrap())
        .collect();
    let expected: BTreeSet<String> = sim
        .drives()
        .into_iter()
        .map(|d| d.id)
        .filter(|id| !held.contains(id))
        .collect();
    assert_eq!(expected.len(), DRIVES);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let scope = json!({"scope": {
        "all_sites": true, "all_onedrives": true,
        "exclude": [{"drive_name": PRESERVATION}]
    }});
    let engine = Engine::open(config(&sim, &db, scope)).unwrap();
    engine.start().unwrap();

    // All 105 drives found and crawled; the preservation libraries are not.
    let crawled = wait_for("every drive crawled", || {
        let done = drives_with(&engine, EventKind::CrawlCompleted);
        (done.len() >= DRIVES).then_some(done)
    });
    assert_eq!(crawled, expected);
    assert_eq!(drives_with(&engine, EventKind::DriveAdded), expected);
    assert!(
        requests(&sim, "GET /users") >= u64::from(USERS as u32).div_ceil(u64::from(PAGE)),
        "users are listed page by page"
    );
    assert_eq!(
        requests(&sim, "GET /sites/delta"),
        1,
        "one enumeration, then deltaLinks"
    );
    assert!(requests(&sim, "GET /users/{id}/drive") >= USERS as u64);
    let store = Database::open(&db).unwrap();
    let sites = store.sites().unwrap();
    assert_eq!(sites.iter().filter(|s| !s.removed).count(), SITES);

    // An expired sites delta token makes a fresh enumeration, not removals.
    sim.expire_delta_tokens();
    wait_for("a sites enumeration after the 410", || {
        (requests(&sim, "GET /sites/delta") == 2).then_some(())
    });

    // A site added while running is crawled.
    let late = sim.add_site("Late Site").unwrap();
    let late_drive = sim
        .drives()
        .into_iter()
        .find(|d| d.site_id.as_deref() == Some(late.as_str()))
        .unwrap()
        .id;
    let added = wait_event(&engine, EventKind::DriveAdded, &late_drive);
    assert!(added.detail.contains("Documents"), "{}", added.detail);
    wait_event(&engine, EventKind::CrawlCompleted, &late_drive);

    // A removed library: drive_removed, flagged in the store, items kept.
    let victim = sim
        .drives()
        .into_iter()
        .find(|d| d.name == "Library 1" && d.site_id.is_some())
        .unwrap();
    let items_before = store.items(&victim.id).unwrap();
    assert!(!items_before.is_empty());
    sim.remove_library(victim.site_id.as_deref().unwrap(), &victim.id)
        .unwrap();
    let removed = wait_event(&engine, EventKind::DriveRemoved, &victim.id);
    assert!(
        removed.detail.contains("no longer a library"),
        "{}",
        removed.detail
    );
    let record = store.drive(&victim.id).unwrap().unwrap();
    assert!(record.removed);
    assert_eq!(store.items(&victim.id).unwrap(), items_before);

    // A deleted site takes its libraries along.
    sim.remove_site(&late).unwrap();
    let removed = wait_event(&engine, EventKind::DriveRemoved, &late_drive);
    assert!(removed.detail.contains("deleted"), "{}", removed.detail);
    assert!(
        store
            .sites()
            .unwrap()
            .iter()
            .any(|s| s.id == late && s.removed)
    );

    engine.stop();
    let gone = drives_with(&engine, EventKind::DriveRemoved);
    assert_eq!(gone, BTreeSet::from([victim.id, late_drive]));
    assert!(drives_with(&engine, EventKind::Error).is_empty());
    assert_eq!(sim.stats().violations, 0);
}

#[test]
fn drives_leaving_scope_are_removed_but_configured_drives_stay() {
    let sim = acceptance_sim();
    let onedrive = sim
        .drives()
        .into_iter()
        .find(|d| d.kind == "business")
        .unwrap()
        .id;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let libraries = SITES * LIBRARIES;

    let first = json!({"drives": [onedrive], "scope": {"all_sites": true}});
    let engine = Engine::open(config(&sim, &db, first)).unwrap();
    engine.start().unwrap();
    wait_for("every library added", || {
        (drives_with(&engine, EventKind::DriveAdded).len() == libraries + 1).then_some(())
    });
    engine.stop();
    drop(engine);

    // Site-1's libraries now fall under an exclude rule; the configured OneDrive is
    // outside every rule (no OneDrive is in scope) but stays.
    let second = json!({"drives": [onedrive], "scope": {
        "all_sites": true, "exclude": [{"site": "*/sites/site-1"}]
    }});
    let engine = Engine::open(config(&sim, &db, second)).unwrap();
    engine.start().unwrap();
    let gone = wait_for("site-1's libraries removed", || {
        let gone = drives_with(&engine, EventKind::DriveRemoved);
        (gone.len() >= LIBRARIES).then_some(gone)
    });
    engine.stop();
    assert_eq!(gone.len(), LIBRARIES);
    assert!(!gone.contains(&onedrive));
    let store = Database::open(&db).unwrap();
    for id in &gone {
        let d = store.drive(id).unwrap().unwrap();
        assert!(d.removed);
        assert!(d.site_id.is_some());
    }
    assert!(!store.drive(&onedrive).unwrap().unwrap().removed);
    let detail = events(&engine)
        .into_iter()
        .find(|e| e.kind == EventKind::DriveRemoved)
        .unwrap()
        .detail;
    assert!(detail.starts_with("out of scope: exclude[0]"), "{detail}");
}
