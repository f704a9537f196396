//! Delta over HTTP: paging, $select, token=latest, renames, deletes, 410, sharing.

use std::collections::{HashMap, HashSet};

use crate::support::sim::{Client, control, small_config};
use m365sync_sim::{ItemPatch, SimConfig, Simulator};
use serde_json::Value;

fn one_drive_sim(items: u64) -> Simulator {
    Simulator::start(SimConfig {
        sites: 1,
        users: 0,
        users_without_drive: 0,
        items,
        depth: 4,
        seed: 11,
        ..small_config()
    })
    .expect("start")
}

fn delta_url(sim: &Simulator, drive: &str, query: &str) -> String {
    format!("{}/drives/{drive}/root/delta{query}", sim.graph_url())
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every item's parent appeared earlier in the feed (the root has none).
fn assert_parents_first(items: &[Value]) {
    let mut seen = HashSet::new();
    for it in items {
        if let Some(p) = it["parentReference"]["id"].as_str() {
            assert!(
                seen.contains(p),
                "parent {p} of {} not seen before it",
                it["id"]
            );
        } else {
            assert!(it["root"].is_object(), "only the root lacks a parent: {it}");
        }
        seen.insert(it["id"].as_str().unwrap().to_string());
    }
}

/// Ids of every descendant of `folder` in a snapshot.
fn descendants(sim: &Simulator, drive: &str, folder: &str) -> Vec<String> {
    let snap = sim.snapshot(drive).unwrap();
    let path = snap.iter().find(|s| s.id == folder).unwrap().path.clone();
    snap.iter()
        .filter(|s| s.path.starts_with(&format!("{path}/")))
        .map(|s| s.id.clone())
        .collect()
}

/// A folder (not the root) with at least one descendant.
fn folder_with_children(sim: &Simulator, drive: &str) -> String {
    let snap = sim.snapshot(drive).unwrap();
    let parents: HashSet<&str> = snap.iter().filter_map(|s| s.parent_id.as_deref()).collect();
    snap.iter()
        .find(|s| s.is_folder && s.parent_id.is_some() && parents.contains(s.id.as_str()))
        .expect("a folder with children")
        .id
        .clone()
}

#[test]
fn full_enumeration_pages_cover_every_item_parents_first() {
    let sim = one_drive_sim(500);
    let c = Client::new(&sim);
    let drive = sim.drives()[0].id.clone();
    let (items, delta, pages) = c.delta_all(&delta_url(&sim, &drive, "?$top=37"), &[]);
    assert!(pages >= 500 / 37, "{pages} pages");
    let got: HashSet<String> = ids(&items).into_iter().collect();
    let want: HashSet<String> = sim
        .snapshot(&drive)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(got, want);
    assert_eq!(items.len(), 501, "no duplicates in a quiet enumeration");
    assert_parents_first(&items);
    for it in &items {
        assert!(it["parentReference"].get("path").is_none());
        assert!(it["eTag"].is_string());
    }
    // Nothing changed: the deltaLink returns no items.
    let (again, _, _) = c.delta_all(&delta, &[]);
    assert!(again.is_empty(), "{again:?}");
    // The user and site routes reach drives too.
    let site = c.get(&format!(
        "{}/sites/root/drive/root/delta?$top=5",
        sim.graph_url()
    ));
    assert_eq!(site.status, 200);
}

#[test]
fn enumeration_stays_parents_first_while_the_tenant_changes() {
    let sim = one_drive_sim(300);
    let c = Client::new(&sim);
    let drive = sim.drives()[0].id.clone();
    let first = c.get(&delta_url(&sim, &drive, "?$top=50")).json();
    let next = first["@odata.nextLink"].as_str().unwrap().to_string();
    // Mid-crawl: a new folder, an old item moved under it, another item deleted.
    let snap = sim.snapshot(&drive).unwrap();
    let late_file = snap.iter().rev().find(|s| !s.is_folder).unwrap().id.clone();
    let doomed = snap
        .iter()
        .rev()
        .filter(|s| !s.is_folder)
        .nth(1)
        .unwrap()
        .id
        .clone();
    let newdir = sim
        .create_item(&drive, "root", "New during crawl", true, b"")
        .unwrap();
    // A file the crawl has not reached yet, moved under a folder newer than the crawl:
    // the folder must come before it.
    let emitted = ids(first["value"].as_array().unwrap());
    let early = snap
        .iter()
        .find(|s| !s.is_folder && !emitted.contains(&s.id) && s.id != late_file && s.id != doomed)
        .unwrap()
        .id
        .clone();
    sim.update_item(
        &drive,
        &early,
        ItemPatch {
            parent_id: Some(newdir.id.clone()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    sim.delete_item(&drive, &doomed).unwrap();
    let (rest, delta, _) = c.delta_all(&next, &[]);
    let mut all: Vec<Value> = first["value"].as_array().unwrap().clone();
    all.extend(rest.iter().cloned());
    assert_parents_first(&all);
    assert!(!ids(&rest).contains(&doomed));
    assert!(ids(&all).contains(&late_file));
    let rest_ids = ids(&rest);
    let pos = |id: &str| rest_ids.iter().position(|x| x == id).unwrap();
    assert!(pos(&newdir.id) < pos(&early), "the new parent comes first");
    // The changes made during the crawl come in the next round.
    let (changes, _, _) = c.delta_all(&delta, &[]);
    let changed = ids(&changes);
    for id in [&newdir.id, &early, &doomed] {
        assert!(changed.contains(id), "{id} missing from {changed:?}");
    }
    assert_parents_first(
        &changes
            .into_iter()
            .filter(|v| v["deleted"].is_null())
            .collect::<Vec<_>>(),
    );
}

#[test]
fn select_returns_only_the_selected_properties_plus_id() {
    let sim = one_drive_sim(40);
    let c = Client::new(&sim);
    let drive = sim.drives()[0].id.clone();
    let (items, delta, pages) =
        c.delta_all(&delta_url(&sim, &drive, "?$select=name,cTag&$top=10"), &[]);
    assert!(pages > 1);
    assert!(
        delta.contains("$select=name,cTag") && delta.contains("$top=10"),
        "{delta}"
    );
    for it in &items {
        let keys: HashSet<&str> = it.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(
            keys.is_subset(&HashSet::from(["id", "name", "cTag"])),
            "{keys:?}"
        );
        assert!(keys.contains("name"));
    }
    let bad = c.get(&delta_url(&sim, &drive, "?$select=name,nonsense"));
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["code"].is_string());
    let bad_top = c.get(&delta_url(&sim, &drive, "?$top=zero"));
    assert_eq!(bad_top.status, 400);
}

#[test]
fn token_latest_skips_history_and_then_reports_new_changes() {
    let sim = one_drive_sim(60);
    let c = Client::new(&sim);
    let drive = sim.drives()[0].id.clone();
    let latest = c.get(&delta_url(&sim, &drive, "?token=latest")).json();
    assert_eq!(latest["value"].as_array().unwrap().len(), 0);
    let link = latest["@odata.deltaLink"].as_str().unwrap().to_string();
    let f = sim
        .create_item(&drive, "root", "fresh.txt", false, b"abc")
        .unwrap();
    let (items, _, _) = c.delta_all(&link, &[]);
    let got = ids(&items);
    assert!(got.contains(&f.id));
    assert!(
        got.len() <= 2,
        "only the new file and its parent chain: {got:?}"
    );
}

#[test]
fn folder_rename_returns_the_folder_but_not_its_descendants() {
    let sim = one_drive_sim(400);
    let c = Client::new(&sim);
    let drive = sim.drives()[0].id.clone();
    let (_, delta, _) = c.delta_all(&delta_url(&sim, &drive, ""), &[]);
    let folder = folder_with_children(&sim, &drive);
    let below = descendants(&sim, &drive, &folder);
    assert!(!below.is_empty());
    let before = sim
        .snapshot(&drive)
        .unwrap()
        .into_iter()
        .find(|s| s.id == folder)
        .unwrap();
    sim.update_item(
        &drive,
        &folder,
        ItemPatch {
            name: Some("Renamed".into()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    let (items, _, _) = c.delta_all(&delta, &[]);
    let got = ids(&items);
    assert!(got.contains(&folder));
    for d in &below {
        assert!(!got.contains(d), "descendant {d} returned after a rename");
    }
    let renamed = items.iter().rfind(|v| v["id"] == folder.as_str()).unwrap();
    assert_eq!(renamed["name"], "Renamed");
    assert_ne!(renamed["eTag"].as_str().unwrap(), before.etag);
    assert!(renamed.get("cTag").is_none(), "folders have no cTag");
    assert_parents_first(&items);
}

#[test]
fn deletes_are_tombstones_without_name_or_ctag() {
    let sim = one_drive_sim(400);
    let c = Client::new(&sim);
    let drive = sim.drives()[0].id.clone();
    let (_, delta, _) = c.delta_all(&delta_url(&sim, &drive, ""), &[]);
    let folder = folder_with_children(&sim, &drive);
    let mut gone = descendants(&sim, &drive, &folder);
    gone.push(folder.clone());
    let live_before = sim.snapshot(&drive).unwrap().len();
    let r = control(
        &sim,
        "DELETE",
        &format!("/_sim/drives/{drive}/items/{folder}"),
        None,
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        sim.snapshot(&drive).unwrap().len(),
        live_before - gone.len()
    );
    let (items, _, _) = c.delta_all(&delta, &[]);
    let tombstones: HashMap<String, &Value> = items
        .iter()
        .filter(|v| v["deleted"].is_object())
        .map(|v| (v["id"].as_str().unwrap().to_string(), v))
        .collect();
    for id in &gone {
        let t = tombstones
            .get(id)
            .unwrap_or_else(|| panic!("no tombstone for {id}"));
        assert!(t.get("name").is_none() && t.get("cTag").is_none(), "{t}");
    }
    // Deleting again is a 404.
    let again = control(
        &sim,
        "DELETE",
        &format!("/_sim/drives/{drive}/items/{folder}"),
        None,
    );
    assert_eq!(again.status, 404);
}

#[test]
fn expired_or_forged_tokens_get_410_with_a_fresh_enumeration_location() {
    let sim = one_drive_sim(30);
    let c = Client::new(&sim);
    let drive = sim.drives()[0].id.clone();
    let (_, delta, _) = c.delta_all(
        &delta_url(&sim, &drive, "?$select=name,parentReference&$top=7"),
        &[],
    );
    let r = control(&sim, "POST", "/_sim/expire-delta-tokens", None);
    assert_eq!(r.status, 204);
    let gone = c.get(&delta);
    assert_eq!(gone.status, 410);
    assert_eq!(gone.json()["error"]["code"], "resyncRequired");
    let location = gone.header("Location").expect("Location").to_string();
    assert!(
        location.contains("$top=7") && !location.contains("token="),
        "{location}"
    );
    let (items, _, _) = c.delta_all(&location, &[]);
    assert_eq!(items.len(), 31);

    let forged = c.get(&format!(
        "{}&token=C0.0.0.0.0.0.1",
        delta_url(&sim, &drive, "?x=1")
    ));
    assert_eq!(forged.status, 410);
    let other_drive = sim
        .add_library(&sim.drives()[0].site_id.clone().unwrap(), "Other")
        .unwrap();
    let (_, fresh, _) = c.delta_all(&delta_url(&sim, &drive, ""), &[]);
    let token = fresh.split("token=").nth(1).unwrap();
    let crossed = c.get(&delta_url(&sim, &other_drive, &format!("?token={token}")));
    assert_eq!(crossed.status, 410, "a token of another drive is not valid");
}

#[test]
fn tokens_older_than_the_max_age_get_410() {
    let sim = Simulator::start(SimConfig {
        delta_token_max_age_secs: 1,
        ..small_config()
    })
    .unwrap();
    let c = Client::new(&sim);
    let drive = sim.drives()[0].id.clone();
    let (_, delta, _) = c.delta_all(&delta_url(&sim, &drive, ""), &[]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(c.get(&delta).status, 410);
}

#[test]
fn sharing_changes_follow_the_prefer_headers() {
    let sim = one_drive_sim(0);
    let c = Client::new(&sim);
    let drive = sim.drives()[0].id.clone();
    let folder = sim
        .create_item(&drive, "root", "Shared", true, b"")
        .unwrap();
    let child = sim
        .create_item(&drive, &folder.id, "inside.txt", false, b"x")
        .unwrap();
    let (_, delta, _) = c.delta_all(&delta_url(&sim, &drive, ""), &[]);
    let r = control(
        &sim,
        "POST",
        &format!("/_sim/drives/{drive}/items/{}/share", folder.id),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["shared"].as_bool().unwrap());

    let prefer = [("Prefer", "deltashowsharingchanges, hierarchicalsharing")];
    let (items, _, _) = c.delta_all(&delta, &prefer);
    let f = items
        .iter()
        .rfind(|v| v["id"] == folder.id.as_str())
        .unwrap();
    assert_eq!(f["@microsoft.graph.sharedChanged"], "True");
    assert_eq!(
        f["shared"]["scope"], "organization",
        "share adds an organization link"
    );
    assert_ne!(f["eTag"].as_str().unwrap(), folder.etag);

    let (plain, _, _) = c.delta_all(&delta, &[]);
    let f = plain
        .iter()
        .rfind(|v| v["id"] == folder.id.as_str())
        .unwrap();
    assert!(f.get("@microsoft.graph.sharedChanged").is_none());

    // Without hierarchicalsharing the child shows the inherited facet, with it not.
    let flat = c
        .get(&format!(
            "{}/drives/{drive}/items/{}",
            sim.graph_url(),
            child.id
        ))
        .json();
    assert_eq!(flat["shared"]["scope"], "organization");
    let hier = c
        .get_with(
            &format!("{}/drives/{drive}/items/{}", sim.graph_url(), child.id),
            &[("Prefer", "hierarchicalsharing")],
        )
        .json();
    assert!(hier.get("shared").is_none());

    let (_, delta2, _) = c.delta_all(&delta, &prefer);
    let r = control(
        &sim,
        "DELETE",
        &format!("/_sim/drives/{drive}/items/{}/share", folder.id),
        None,
    );
    assert_eq!(r.status, 200);
    let (items, _, _) = c.delta_all(&delta2, &prefer);
    let f = items
        .iter()
        .rfind(|v| v["id"] == folder.id.as_str())
        .unwrap();
    assert_eq!(f["shared"], serde_json::json!({}));
    assert_eq!(f["@microsoft.graph.sharedChanged"], "True");
}
