//! Item facets end to end: the simulator's notebooks (`package`), shortcuts
//! (`remoteItem`) and malware-flagged files, and every file's MIME type, hashes,
//! authors, URLs and file-system times, in the mirror and on the events.

use crate::support::engine::*;
use m365sync::{EventKind, ItemFacets, MirrorItem};
use serde_json::json;

fn kind_of(item: &MirrorItem) -> &'static str {
    let f = &item.facets;
    match (&f.package, &f.remote, &f.malware) {
        (Some(_), _, _) => "package",
        (_, Some(_), _) => "remote",
        (_, _, Some(_)) => "malware",
        _ => "plain",
    }
}

#[test]
fn facets_reach_the_mirror_and_the_events() {
    // A OneDrive (shortcuts live in OneDrives) with enough files for every kind.
    let sim = one_drive_sim(
        3000,
        json!({ "sites": 1, "users": 1, "libraries_per_site": 1 }),
    );
    let work = Workdir::new();
    let engine = start_synced(&sim, &work.db(), json!({ "emit_initial_items": true }));
    engine.stop();
    let db = store(&work.db());
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for drive in drive_ids(&sim) {
        for item in db.items(&drive).unwrap().iter().filter(|i| !i.is_folder) {
            let kind = kind_of(item);
            *kinds.entry(kind).or_default() += 1;
            let f = &item.facets;
            match kind {
                "package" => {
                    assert_eq!(f.package.as_deref(), Some("oneNote"));
                    assert!(item.name.starts_with("Notebook"), "{item:?}");
                    assert!(
                        f.hashes.is_none() && f.mime_type.is_none(),
                        "no file facet: {f:?}"
                    );
                }
                "remote" => {
                    let remote = f.remote.as_ref().unwrap();
                    assert!(
                        remote.drive_id.is_some() && remote.item_id.is_some(),
                        "{f:?}"
                    );
                    assert!(item.name.starts_with("Shortcut"), "{item:?}");
                }
                _ => {
                    assert!(f.mime_type.is_some(), "{item:?}");
                    assert!(
                        f.hashes
                            .as_ref()
                            .and_then(|h| h.quick_xor.as_ref())
                            .is_some()
                    );
                }
            }
            assert_eq!(f.is_download_candidate(), kind == "plain", "{item:?}");
            let author = f.created_by.as_ref().expect("createdBy");
            assert!(author.name.is_some() && author.email.is_some() && author.id.is_some());
            assert!(f.modified_by.is_some() && f.web_url.is_some(), "{f:?}");
            assert!(
                f.sharepoint_ids
                    .as_ref()
                    .is_some_and(|s| s.list_item_unique_id.is_some())
            );
            assert!(f.fs_created.is_some() && f.fs_modified.is_some(), "{f:?}");
        }
    }
    for kind in ["package", "remote", "malware", "plain"] {
        assert!(
            kinds.get(kind).is_some_and(|&n| n > 0),
            "no {kind} file: {kinds:?}"
        );
    }
    let events = events_after(&work.db(), 0);
    let created: Vec<&ItemFacets> = events
        .iter()
        .filter(|e| e.kind == EventKind::Created && !e.is_folder)
        .map(|e| &e.facets)
        .collect();
    assert!(!created.is_empty() && created.iter().all(|f| f.created_by.is_some()));
    assert!(created.iter().any(|f| f.package.is_some()));
    let line =
        serde_json::to_value(events.iter().find(|e| e.facets.malware.is_some()).unwrap()).unwrap();
    assert!(line["facets"]["malware"].is_string(), "{line}");
}

#[test]
fn without_provenance_the_kind_type_and_hashes_are_still_kept() {
    let sim = one_drive_sim(
        3000,
        json!({ "sites": 1, "users": 1, "libraries_per_site": 1 }),
    );
    let work = Workdir::new();
    start_synced(&sim, &work.db(), json!({ "item_provenance": false })).stop();
    let db = store(&work.db());
    let files: Vec<MirrorItem> = drive_ids(&sim)
        .iter()
        .flat_map(|d| db.items(d).unwrap())
        .filter(|i| !i.is_folder)
        .collect();
    assert!(files.iter().any(|i| i.facets.package.is_some()));
    assert!(files.iter().any(|i| i.facets.malware.is_some()));
    assert!(
        files
            .iter()
            .any(|i| i.facets.hashes.is_some() && i.facets.mime_type.is_some())
    );
    for f in files.iter().map(|i| &i.facets) {
        assert!(
            f.created_by.is_none() && f.web_url.is_none() && f.sharepoint_ids.is_none(),
            "{f:?}"
        );
    }
}
