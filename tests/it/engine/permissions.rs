//! Permission details end to end against the simulator's permission model: one request
//! per hierarchy root on the first crawl, one event per sharing change with its diff,
//! moves across permission boundaries, a refused fetch, and the CLI queries.

use std::path::Path;
use std::process::Command;

use crate::support::engine::*;
use crate::support::wait_until;
use m365sync::{Engine, EventKind, PermissionChange};
use m365sync_sim::{LinkOptions, Simulator, SnapshotItem};
use m365sync_tools::verify;
use serde_json::json;

/// One drive of `items` where many folders and files have unique permissions.
fn shared_sim(items: u64) -> Simulator {
    one_drive_sim(
        items,
        json!({"sharing": {"unique_folder_permille": 150, "unique_file_permille": 50}}),
    )
}

const FETCH: fn() -> serde_json::Value =
    || json!({"emit_initial_items": true, "permissions": {"fetch": true}});

/// Starts an engine fetching permissions and waits until every item's effective
/// permissions equal the truth.
fn start_settled(sim: &Simulator, db: &Path) -> Engine {
    let engine = start_synced(sim, db, FETCH());
    wait_permissions_match(db, sim);
    engine
}

fn wait_permissions_match(db: &Path, sim: &Simulator) {
    let store = store(db);
    let mut last = Vec::new();
    wait_until("effective permissions equal the truth", || {
        last = verify::permission_diff(&store, sim, 5).unwrap();
        last.is_empty()
    });
}

/// The permission changes journaled after `after`, with their diffs.
fn changes_after(db: &Path, after: i64) -> Vec<(String, PermissionChange)> {
    events_after(db, after)
        .into_iter()
        .filter(|e| e.kind == EventKind::PermissionsChanged)
        .map(|e| {
            (
                e.item_id.clone(),
                e.permission_change().expect("a detailed change"),
            )
        })
        .collect()
}

fn snapshot(sim: &Simulator) -> Vec<SnapshotItem> {
    sim.snapshot(&drive_ids(sim)[0]).unwrap()
}

#[test]
fn the_first_crawl_fetches_each_root_once_and_every_item_matches_the_truth() {
    let sim = shared_sim(400);
    let drive = &drive_ids(&sim)[0];
    let roots = sim.permission_roots(drive).unwrap();
    assert!(roots.len() > 5, "{roots:?}");
    let work = Workdir::new();
    let _engine = start_settled(&sim, &work.db());
    let stats = sim.stats();
    assert_eq!(
        stats.permission_requests,
        roots.len() as u64,
        "one request per root"
    );
    assert_eq!(stats.permission_pages, 0);
    let db = store(&work.db());
    assert_eq!(
        db.permission_counts(drive).unwrap(),
        (roots.len() as u64, 0)
    );
    // Every root's initial grants were journaled (emit_initial_items), one event each.
    let initial = changes_after(&work.db(), 0);
    assert_eq!(initial.len(), roots.len());
    assert!(
        initial
            .iter()
            .all(|(_, c)| c.inherited_from.is_none() && !c.grants.is_empty())
    );
}

#[test]
fn each_sharing_change_is_one_event_with_its_diff() {
    let sim = shared_sim(300);
    let drive = drive_ids(&sim).remove(0);
    let work = Workdir::new();
    let _engine = start_settled(&sim, &work.db());
    let roots = sim.permission_roots(&drive).unwrap();
    let snap = snapshot(&sim);
    let count_below = |id: &str| {
        let path = &snap.iter().find(|i| i.id == id).unwrap().path;
        snap.iter()
            .filter(|i| i.path.starts_with(&format!("{path}/")))
            .count()
    };
    // An inheriting folder whose whole subtree inherits too.
    let folder = snap
        .iter()
        .filter(|i| i.is_folder && i.parent_id.is_some() && !roots.contains(&i.id))
        .find(|f| {
            let below = format!("{}/", f.path);
            !snap
                .iter()
                .any(|i| i.path.starts_with(&below) && roots.contains(&i.id))
                && snap.iter().any(|i| i.path.starts_with(&below))
        })
        .expect("an inheriting folder with children")
        .clone();

    let seq = last_seq(&work.db());
    sim.grant(&drive, &folder.id, "guest:ann@partner1.example", &["write"])
        .unwrap();
    wait_permissions_match(&work.db(), &sim);
    let got = changes_after(&work.db(), seq);
    assert_eq!(got.len(), 1, "{got:?}");
    let (item, c) = &got[0];
    assert_eq!(item, &folder.id);
    assert_eq!(c.inherited_from, None);
    assert_eq!(c.added.len(), 1);
    assert!(c.added[0].external && c.removed.is_empty());
    assert_eq!(c.affected as usize, 1 + count_below(&folder.id));

    let seq = last_seq(&work.db());
    sim.restore_inheritance(&drive, &folder.id).unwrap();
    wait_permissions_match(&work.db(), &sim);
    let got = changes_after(&work.db(), seq);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].1.inherited_from.is_some());
    assert_eq!(got[0].1.removed.len(), 1);

    // An anyone link on a file: found by the query, with the items inheriting from it.
    let file = snap
        .iter()
        .find(|i| !i.is_folder && !roots.contains(&i.id))
        .unwrap();
    sim.create_link(
        &drive,
        &file.id,
        "view",
        "anonymous",
        LinkOptions::default(),
    )
    .unwrap();
    wait_permissions_match(&work.db(), &sim);
    let db = store(&work.db());
    let mut anyone = Vec::new();
    db.items_with_grants(
        Some(&drive),
        &m365sync::GrantFilter::AnyoneLinks,
        &mut |e| {
            anyone.push(e.item_id);
            Ok(true)
        },
    )
    .unwrap();
    assert!(anyone.contains(&file.id), "{anyone:?}");

    // The inheriting folder moved below a root with other grants: one change for it.
    let target = roots
        .iter()
        .filter_map(|r| {
            snap.iter()
                .find(|i| &i.id == r && i.is_folder && i.parent_id.is_some())
        })
        .find(|t| !t.path.starts_with(&format!("{}/", folder.path)))
        .expect("a folder with unique permissions")
        .clone();
    let seq = last_seq(&work.db());
    sim.update_item(
        &drive,
        &folder.id,
        m365sync_sim::ItemPatch {
            parent_id: Some(target.id.clone()),
            ..m365sync_sim::ItemPatch::default()
        },
    )
    .unwrap();
    wait_permissions_match(&work.db(), &sim);
    let got = changes_after(&work.db(), seq);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, folder.id);
    assert_eq!(got[0].1.inherited_from.as_deref(), Some(target.id.as_str()));
    assert_eq!(
        sim.stats().permission_requests as usize,
        roots.len() + 3,
        "no fetch for the move"
    );
}

#[test]
fn a_refused_fetch_is_one_error_per_drive_and_tracking_goes_on() {
    let sim = shared_sim(100);
    sim.set_faults(m365sync_sim::Faults {
        permissions_denied: true,
        ..m365sync_sim::Faults::default()
    })
    .unwrap();
    let drive = drive_ids(&sim).remove(0);
    let work = Workdir::new();
    let engine = start_synced(&sim, &work.db(), FETCH());
    wait_until("the refusal is reported", || {
        count_kind(&events_after(&work.db(), 0), EventKind::Error) > 0
    });
    let root = sim.root_id(&drive).unwrap();
    sim.create_item(&drive, &root, "after.txt", false, b"x")
        .unwrap();
    wait_mirror_matches(&work.db(), &sim);
    let events = events_after(&work.db(), 0);
    let errors: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].detail.contains("Sites.FullControl.All"));
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::Created && e.path == "/after.txt")
    );
    let status = engine.status().unwrap();
    assert!(status.drives[0].permissions_denied);
    assert!(status.drives[0].permissions_pending > 0);
}

#[test]
fn the_cli_answers_who_can_reach_an_item_and_what_anyone_links_reach() {
    let sim = shared_sim(300);
    let drive = drive_ids(&sim).remove(0);
    let work = Workdir::new();
    let engine = start_settled(&sim, &work.db());
    let snap = snapshot(&sim);
    let file = snap
        .iter()
        .find(|i| !i.is_folder && i.path.matches('/').count() > 1)
        .unwrap();
    sim.create_link(
        &drive,
        &file.id,
        "edit",
        "anonymous",
        LinkOptions::default(),
    )
    .unwrap();
    wait_permissions_match(&work.db(), &sim);
    engine.stop();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_m365sync"))
            .arg("permissions")
            .arg("--db")
            .arg(work.db())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let lines = run(&["--anyone-links", "--json"]);
    let found: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hit = found
        .iter()
        .find(|v| v["item_id"] == file.id.as_str())
        .expect("the linked file");
    assert_eq!(hit["drive_id"], drive.as_str());
    assert_eq!(hit["path"], file.path.as_str());
    assert!(
        hit["grants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["link"]["scope"] == "anonymous")
    );
    let text = run(&["--path", &file.path]);
    assert!(
        text.contains("unique") && text.contains("anonymous link, edit"),
        "{text}"
    );
    let err = Command::new(env!("CARGO_BIN_EXE_m365sync"))
        .args(["permissions", "--db"])
        .arg(work.db())
        .args(["--item", "no-such-item"])
        .output()
        .unwrap();
    assert!(!err.status.success());
}
