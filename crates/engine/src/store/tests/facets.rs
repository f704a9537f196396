//! Facets are stored once: in the event appended with an item's row when there is
//! one, else in the row; the mirror and the journal read the same facets either way.

use super::*;

/// (facets in the row, the event carrying them) of item `id`.
fn storage(h: &Harness, id: &str) -> (Option<String>, Option<i64>) {
    h.store
        .conn
        .query_row(
            "SELECT facets, facets_seq FROM items WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

fn mirror_facets(h: &Harness, id: &str) -> crate::facets::ItemFacets {
    let m = h.store.mirror(DRIVE).unwrap();
    m.into_iter().find(|i| i.id == id).unwrap().facets
}

#[test]
fn an_announced_item_keeps_its_facets_in_its_event_only() {
    let mut h = Harness::new();
    h.store.begin_crawl(DRIVE).unwrap();
    h.apply(
        &[root(), folder("A", "R", "A"), file("f", "A", "f.txt", 1)],
        Cursor::Delta("delta-0"),
        true,
    );
    let events = h.take();
    let created = events.iter().find(|e| e.item_id == "f").unwrap();
    assert_eq!(storage(&h, "f"), (None, Some(created.seq)));
    assert_eq!(mirror_facets(&h, "f"), created.facets);
    assert_eq!(
        created.facets.mime_type.as_deref(),
        Some("text/plain"),
        "the event carries the facets"
    );
    // A folder without facets references nothing.
    assert_eq!(storage(&h, "A"), (None, None));

    // A change moves the reference to the new event; the old event keeps its facets.
    let mut v2 = file("f", "A", "f.txt", 2);
    v2.file.as_mut().unwrap().mime_type = Some("text/markdown".into());
    h.apply(&[v2], Cursor::Delta("delta-1"), false);
    let changed = h.take();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(storage(&h, "f"), (None, Some(changed[0].seq)));
    assert_eq!(
        mirror_facets(&h, "f").mime_type.as_deref(),
        Some("text/markdown")
    );
    let first = h.store.events_after(created.seq - 1, 1).unwrap();
    assert_eq!(first[0].facets, created.facets);

    // A change of the facets alone journals nothing: the row keeps them itself.
    let mut other = file("f", "A", "f.txt", 2);
    other.file.as_mut().unwrap().mime_type = Some("text/x-other".into());
    h.apply(&[other], Cursor::Delta("delta-2"), false);
    assert!(h.take().is_empty());
    let (row, seq) = storage(&h, "f");
    assert_eq!(seq, None);
    assert!(row.unwrap().contains("text/x-other"));
    assert_eq!(
        mirror_facets(&h, "f").mime_type.as_deref(),
        Some("text/x-other")
    );
}

#[test]
fn a_silent_crawl_keeps_facets_in_the_rows() {
    let h = Harness::synced(vec![file("f", "R", "f.txt", 1)]);
    let (row, seq) = storage(&h, "f");
    assert_eq!(seq, None);
    assert!(row.unwrap().contains("text/plain"));
    assert_eq!(
        mirror_facets(&h, "f").mime_type.as_deref(),
        Some("text/plain")
    );
}
