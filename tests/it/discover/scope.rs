//! Scope rules and paged enumeration against the simulator, through
//! [`m365sync::inventory`] (no store, no crawl).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use crate::support::discover::*;
use m365sync::{FoundDrive, FoundHome, Inventory, Listing, inventory};
use m365sync_sim::Simulator;
use serde_json::{Value, json};

fn run(sim: &Simulator, extra: Value) -> Inventory {
    let dir = tempfile::tempdir().unwrap();
    let config = config(sim, &dir.path().join("unused.db"), extra);
    inventory(&config, &AtomicBool::new(false)).expect("inventory")
}

fn included(inv: &Inventory) -> Vec<&FoundDrive> {
    inv.drives
        .iter()
        .filter(|d| d.verdict.is_included())
        .collect()
}

/// Excluded drives by the rule that excluded them.
fn excluded_by(inv: &Inventory) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for d in inv.drives.iter().filter(|d| !d.verdict.is_included()) {
        *by.entry(d.verdict.reason().to_string()).or_default() += 1;
    }
    by
}

/// Whether `upn` is one of user40..user49 (what the rule `user4?@*` excludes).
fn is_user_4x(upn: &str) -> bool {
    upn.strip_prefix("user4")
        .is_some_and(|rest| rest.len() > 1 && rest.as_bytes()[1] == b'@')
}

fn upn(d: &FoundDrive) -> &str {
    match &d.home {
        FoundHome::User { upn, .. } => upn,
        FoundHome::Site(_) | FoundHome::Group { .. } => "",
    }
}

#[test]
fn everything_is_found_page_by_page() {
    let sim = acceptance_sim();
    let inv = run(
        &sim,
        json!({"scope": {"all_sites": true, "all_onedrives": true}}),
    );
    assert_eq!(included(&inv).len(), DRIVES);
    assert_eq!(
        (inv.sites, inv.users),
        (Listing::Complete, Listing::Complete)
    );
    assert_eq!(inv.site_list.len(), SITES);
    assert!(inv.problems.is_empty(), "{:?}", inv.problems);
    let mut ids: Vec<&str> = inv.drives.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    let mut truth: Vec<String> = sim.drives().into_iter().map(|d| d.id).collect();
    truth.sort();
    assert_eq!(ids, truth);
    // 20 sites and 50 users in pages of 7; 5 users answer 404 for their OneDrive.
    assert_eq!(requests(&sim, "GET /sites"), 3);
    assert_eq!(requests(&sim, "GET /users"), 8);
    assert_eq!(requests(&sim, "GET /users/{id}/drive"), USERS as u64);
    assert_eq!(requests(&sim, "GET /sites/{id}/drives"), SITES as u64);
    assert_eq!(sim.stats().violations, 0);
}

#[test]
fn exclusions_by_name_site_user_and_drive_id() {
    let sim = acceptance_sim();
    let drives = sim.drives();
    // Sites in creation order: the root site, then "Site 1" to "Site 19".
    let mut sites: Vec<String> = drives.iter().filter_map(|d| d.site_id.clone()).collect();
    sites.dedup();
    assert_eq!(sites.len(), SITES);
    sim.add_library(&sites[0], "Preservation Hold Library")
        .unwrap();
    sim.add_library(&sites[3], "Preservation Hold Library")
        .unwrap();
    let by_id_site = &sites[5];
    let some_drive = drives.iter().find(|d| d.kind == "business").unwrap();

    let inv = run(
        &sim,
        json!({"scope": {
            "all_sites": true, "all_onedrives": true,
            "exclude": [
                {"drive_name": "preservation hold library"},
                {"site": "*/SITES/site-1"},
                {"site": by_id_site},
                {"user": "user4?@*"},
                {"drive_id": some_drive.id},
            ]
        }}),
    );
    let by = excluded_by(&inv);
    let reason = |i: usize| {
        by.iter()
            .find(|(r, _)| r.starts_with(&format!("exclude[{i}]")))
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(reason(0), 2, "{by:?}");
    assert_eq!(reason(1), LIBRARIES, "site-1 only, not site-1x: {by:?}");
    assert_eq!(reason(2), LIBRARIES, "{by:?}");
    // user40..user44 have OneDrives; user45..user49 have none.
    assert_eq!(reason(3), 5, "{by:?}");
    assert_eq!(reason(4), 1, "{by:?}");
    let excluded: usize = by.values().sum();
    assert_eq!(included(&inv).len() + excluded, DRIVES + 2);
    assert!(
        included(&inv)
            .iter()
            .all(|d| d.name != "Preservation Hold Library" && !is_user_4x(upn(d)))
    );
}

#[test]
fn include_rules_limit_what_is_fetched() {
    let sim = acceptance_sim();
    let inv = run(
        &sim,
        json!({"page_size": 2, "scope": {"include": [
            {"user": "user1?@*"},
            {"site": "*/sites/site-2", "drive_name": "Library *"},
        ]}}),
    );
    let inc = included(&inv);
    let onedrives: Vec<&str> = inc
        .iter()
        .map(|d| upn(d))
        .filter(|u| !u.is_empty())
        .collect();
    assert_eq!(onedrives.len(), 10, "user10..user19: {onedrives:?}");
    let libraries: Vec<&str> = inc
        .iter()
        .filter(|d| d.site_id().is_some())
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(libraries, ["Library 1", "Library 2"]);
    // Documents of site-2 was listed but excluded: nothing brought it in.
    assert_eq!(inv.drives.len(), 10 + LIBRARIES);
    // Only matching users' OneDrives and site-2's libraries (3 in pages of 2) were fetched.
    assert_eq!(requests(&sim, "GET /users/{id}/drive"), 10);
    assert_eq!(requests(&sim, "GET /sites/{id}/drives"), 2);
    assert_eq!(requests(&sim, "GET /sites"), 10, "20 sites in pages of 2");
    let skipped = inv
        .site_list
        .iter()
        .filter(|s| s.drives == Listing::NotNeeded)
        .count();
    assert_eq!(skipped, SITES - 1);
}

#[test]
fn drive_id_includes_reach_both_kinds_and_onedrive_scope_lists_no_sites() {
    let sim = acceptance_sim();
    let drives = sim.drives();
    let library = drives.iter().find(|d| d.site_id.is_some()).unwrap();
    let onedrive = drives.iter().find(|d| d.owner_user_id.is_some()).unwrap();
    let inv = run(
        &sim,
        json!({"scope": {"include": [{"drive_id": library.id}, {"drive_id": onedrive.id}]}}),
    );
    let mut ids: Vec<&str> = included(&inv).iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    let mut want = vec![library.id.as_str(), onedrive.id.as_str()];
    want.sort();
    assert_eq!(ids, want);

    let before = requests(&sim, "GET /sites");
    let inv = run(&sim, json!({"scope": {"all_onedrives": true}}));
    assert_eq!(inv.sites, Listing::NotNeeded);
    assert_eq!(included(&inv).len(), USERS - NO_ONEDRIVE);
    assert_eq!(requests(&sim, "GET /sites"), before);
}
