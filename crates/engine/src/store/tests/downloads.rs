//! Downloaded content: what is pending, and the mirror's `content_stored` events.

use super::*;
use crate::graph::types::{MalwareFacet, PackageFacet};
use crate::store::{Owner, StoredContent};

fn pending(h: &Harness, owner: Owner) -> Vec<String> {
    h.store
        .pending_downloads(DRIVE, owner, "", 100)
        .unwrap()
        .into_iter()
        .map(|p| p.item_id)
        .collect()
}

fn stored(ctag: &str) -> StoredContent {
    StoredContent::now(ctag.into(), "hash".into(), 101, "/m/d/F".into())
}

fn tenant() -> Harness {
    let mut notebook = file("N", "R", "Notes", 1);
    notebook.file = None;
    notebook.package = Some(PackageFacet {
        kind: Some("oneNote".into()),
    });
    let mut bad = file("M", "R", "bad.exe", 1);
    bad.malware = Some(MalwareFacet::default());
    Harness::synced(vec![
        folder("A", "R", "A"),
        file("F", "A", "f.txt", 1),
        file("G", "R", "g.txt", 1),
        notebook,
        bad,
    ])
}

#[test]
fn files_are_pending_until_their_current_ctag_is_downloaded() {
    let mut h = tenant();
    assert_eq!(
        pending(&h, Owner::Anyone),
        ["F", "G"],
        "no folder, package or malware"
    );
    assert_eq!(h.store.pending_download_count(DRIVE).unwrap(), 2);
    h.store
        .record_download(DRIVE, "F", &stored("F-c1"), Owner::Anyone)
        .unwrap();
    assert_eq!(pending(&h, Owner::Anyone), ["G"]);
    // The mirror needs its own copy of what a host downloaded elsewhere.
    assert_eq!(pending(&h, Owner::Mirror), ["F", "G"]);
    h.delta(vec![file("F", "A", "f.txt", 2)]);
    assert_eq!(
        pending(&h, Owner::Anyone),
        ["F", "G"],
        "new content, new cTag"
    );
    let last = h.store.last_download(DRIVE, "F").unwrap().unwrap();
    assert_eq!((last.ctag.as_str(), last.size), ("F-c1", 101));
    // Paging by id walks each file once.
    let first = h
        .store
        .pending_downloads(DRIVE, Owner::Anyone, "", 1)
        .unwrap();
    let rest = h
        .store
        .pending_downloads(DRIVE, Owner::Anyone, &first[0].item_id, 10)
        .unwrap();
    assert_eq!((first.len(), rest.len()), (1, 1));
    assert!(
        h.store
            .pending_downloads("nope", Owner::Anyone, "", 1)
            .is_err()
    );
}

#[test]
fn the_mirror_announces_each_ctag_once_with_its_path_and_hash() {
    let mut h = tenant();
    let seq = h
        .store
        .record_download(DRIVE, "F", &stored("F-c1"), Owner::Mirror)
        .unwrap();
    assert!(seq.is_some());
    let events = h.take();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.kind, EventKind::ContentStored);
    assert_eq!((e.item_id.as_str(), e.path.as_str()), ("F", "/A/f.txt"));
    assert_eq!(
        (e.detail.as_str(), e.ctag.as_str(), e.size),
        ("/m/d/F", "F-c1", 101)
    );
    let hashes = e.facets.hashes.clone().unwrap();
    assert_eq!(hashes.quick_xor.as_deref(), Some("hash"));
    assert_eq!(
        e.facets.mime_type.as_deref(),
        Some("text/plain"),
        "the item's facets"
    );
    // The same cTag again (a crash before the walk saw the commit): no second event.
    let again = h
        .store
        .record_download(DRIVE, "F", &stored("F-c1"), Owner::Mirror)
        .unwrap();
    assert_eq!(again, None);
    assert!(h.take().is_empty());
    // A host's own download never announces.
    h.store
        .record_download(DRIVE, "G", &stored("G-c1"), Owner::Anyone)
        .unwrap();
    assert!(h.take().is_empty());
}

#[test]
fn copies_of_deleted_files_are_listed_for_removal() {
    let mut h = tenant();
    for id in ["F", "G"] {
        h.store
            .record_download(DRIVE, id, &stored(&format!("{id}-c1")), Owner::Mirror)
            .unwrap();
    }
    assert!(h.store.stale_mirror_copies(10).unwrap().is_empty());
    h.delta(vec![gone("A")]);
    let stale = h.store.stale_mirror_copies(10).unwrap();
    assert_eq!(stale.len(), 1);
    assert_eq!((stale[0].0.as_str(), stale[0].1.as_str()), (DRIVE, "F"));
    h.store.forget_download(DRIVE, "F").unwrap();
    assert!(h.store.stale_mirror_copies(10).unwrap().is_empty());
    assert_eq!(h.store.last_download(DRIVE, "F").unwrap(), None);
}
