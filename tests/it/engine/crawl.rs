//! First crawls against the simulator: a small one announcing every item, and a large one
//! over several drives with 200-item pages.

use crate::support::engine::*;
use m365sync::EventKind;
use serde_json::json;

#[test]
fn small_crawl_announces_every_item_once_and_mirrors_the_truth() {
    let sim = one_drive_sim(300, json!({}));
    let work = Workdir::new();
    let engine = open_engine(
        &sim,
        &work.db(),
        json!({ "emit_initial_items": true, "page_size": 50 }),
    );
    engine.start().expect("start");
    wait_mirror_matches(&work.db(), &sim);
    engine.stop();

    let drive = &drive_ids(&sim)[0];
    let truth = sim.snapshot(drive).expect("snapshot");
    let events = events_after(&work.db(), 0);
    let created = count_by_item(&events, EventKind::Created);
    // Every item but the root is announced exactly once.
    assert_eq!(created.len(), truth.len() - 1);
    assert!(
        created.values().all(|n| *n == 1),
        "duplicate created events"
    );
    for item in truth.iter().filter(|i| i.path != "/") {
        assert!(
            created.contains_key(&item.id),
            "{} not announced",
            item.path
        );
    }
    let completed: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::CrawlCompleted)
        .collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].detail, (truth.len() - 1).to_string());
    // Parents come before children: each created path's parent was announced earlier.
    let mut seen = std::collections::HashSet::from(["/".to_string()]);
    for e in events.iter().filter(|e| e.kind == EventKind::Created) {
        let parent = match e.path.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => e.path[..i].to_string(),
            None => panic!("relative path {}", e.path),
        };
        assert!(seen.contains(&parent), "{} before its parent", e.path);
        seen.insert(e.path.clone());
    }
    let status = engine.status().expect("status");
    assert_eq!(status.drives[0].state, "synced");
    assert_eq!(status.drives[0].cursor, "delta");
    assert_eq!(status.drives[0].items, (truth.len() - 1) as i64);
}

#[test]
fn large_crawl_over_several_drives_with_200_item_pages() {
    let sim = crate::support::engine::sim_config(json!({
        "sites": 3, "libraries_per_site": 2, "users": 3, "users_without_drive": 1,
        "items": 20_000, "depth": 4, "seed": 3
    }));
    let sim = m365sync_sim::Simulator::start(sim).expect("simulator");
    let drives = drive_ids(&sim);
    assert!(drives.len() >= 8, "{} drives", drives.len());
    let work = Workdir::new();
    let engine = open_engine(&sim, &work.db(), json!({ "page_size": 200, "workers": 4 }));
    engine.start().expect("start");
    wait_mirror_matches(&work.db(), &sim);
    let status = engine.status().expect("status");
    engine.stop();

    assert_eq!(status.total_items(), 20_000);
    assert!(
        status.pages >= 100,
        "20,000 items in pages of 200: {} pages",
        status.pages
    );
    let events = events_after(&work.db(), 0);
    // Without emit_initial_items a crawl reports only its completion, once per drive.
    assert_eq!(count_kind(&events, EventKind::Created), 0);
    assert_eq!(count_kind(&events, EventKind::CrawlCompleted), drives.len());
    assert_eq!(count_kind(&events, EventKind::DriveAdded), drives.len());
    assert_eq!(count_kind(&events, EventKind::Error), 0);
    let completed_total: i64 = events
        .iter()
        .filter(|e| e.kind == EventKind::CrawlCompleted)
        .map(|e| e.detail.parse::<i64>().expect("item count"))
        .sum();
    assert_eq!(completed_total, 20_000);
}
