//! Permission details: which items are fetched, the events their changes make, moves
//! across permission boundaries, and the queries.

use serde_json::json;

use super::*;
use crate::permissions::{Grant, PermissionChange};
use crate::store::{FetchedPermissions, GrantFilter};

fn grant(v: serde_json::Value) -> Grant {
    serde_json::from_value(v).unwrap()
}

fn owner() -> Grant {
    grant(json!({"id":"owner","roles":["owner"],"kind":"user",
        "principal":{"email":"ann@contoso.example"}}))
}

fn anyone() -> Grant {
    grant(json!({"id":"link-1","roles":["read"],"kind":"link",
        "link":{"type":"view","scope":"anonymous"}}))
}

fn guest() -> Grant {
    grant(
        json!({"id":"guest","roles":["write"],"kind":"user","external":true,
        "principal":{"email":"bo@partner.example"}}),
    )
}

/// The items of [`tenant`] below the root, in feed order.
fn tenant_items() -> Vec<DriveItem> {
    vec![
        shared(folder("A", "R", "A"), json!({"scope":"anonymous"})),
        file("a1", "A", "a1.txt", 1),
        folder("B", "A", "B"),
        file("b1", "B", "b1.txt", 1),
        folder("C", "R", "C"),
        file("c1", "C", "c1.txt", 1),
    ]
}

/// R / A (unique: owner + anyone link) / {a1.txt, B / b1.txt}, C / c1.txt; A is shared.
fn tenant() -> Harness {
    let mut h = Harness::synced_with(tenant_items(), true);
    assert_eq!(
        h.store.pending_permissions(DRIVE, "", 10).unwrap(),
        ["A", "R"]
    );
    h.fetched("R", FetchedPermissions::Unique(vec![owner()]));
    h.fetched("A", FetchedPermissions::Unique(vec![owner(), anyone()]));
    assert!(
        h.take().is_empty(),
        "a silent first crawl journals no permission"
    );
    h
}

impl Harness {
    fn fetched(&mut self, item: &str, f: FetchedPermissions) -> Option<i64> {
        self.store.apply_permissions(DRIVE, item, f).unwrap()
    }

    fn source_of(&self, item: &str) -> (Option<String>, Vec<String>) {
        let e = self
            .store
            .effective_permissions(DRIVE, item)
            .unwrap()
            .unwrap();
        (
            e.inherited_from,
            e.grants.into_iter().map(|g| g.id).collect(),
        )
    }

    fn change(&mut self) -> (String, PermissionChange) {
        let events = self.take();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].kind, EventKind::PermissionsChanged);
        (
            events[0].item_id.clone(),
            serde_json::from_str(&events[0].detail).unwrap(),
        )
    }
}

fn ids(grants: &[Grant]) -> Vec<&str> {
    grants.iter().map(|g| g.id.as_str()).collect()
}

#[test]
fn items_inherit_from_their_nearest_unique_ancestor() {
    let h = tenant();
    assert_eq!(
        h.source_of("A"),
        (None, vec!["link-1".into(), "owner".into()])
    );
    assert_eq!(
        h.source_of("b1"),
        (Some("A".into()), vec!["link-1".into(), "owner".into()])
    );
    assert_eq!(h.source_of("c1"), (Some("R".into()), vec!["owner".into()]));
    assert!(
        h.store
            .effective_permissions(DRIVE, "nope")
            .unwrap()
            .is_none()
    );
    assert_eq!(h.store.permission_counts(DRIVE).unwrap(), (2, 0));
}

#[test]
fn a_sharing_change_is_journaled_once_fetched_with_its_diff() {
    let mut h = tenant();
    let got = h.delta(vec![shared(
        folder("C", "R", "C"),
        json!({"scope":"users"}),
    )]);
    assert!(
        got.is_empty(),
        "journaled by the fetch, not by the page: {got:?}"
    );
    assert_eq!(h.store.pending_permissions(DRIVE, "", 10).unwrap(), ["C"]);
    let seq = h.fetched("C", FetchedPermissions::Unique(vec![owner(), guest()]));
    assert!(seq.is_some());
    let (item, c) = h.change();
    assert_eq!(item, "C");
    assert_eq!(c.inherited_from, None);
    assert_eq!(ids(&c.added), ["guest"]);
    assert!(c.removed.is_empty());
    assert_eq!(ids(&c.grants), ["guest", "owner"]);
    assert_eq!(c.affected, 2, "the folder and the file inheriting from it");

    // Fetching again (a crash after the commit cannot happen twice: nothing is pending)
    // changes nothing and journals nothing.
    assert!(
        h.store
            .pending_permissions(DRIVE, "", 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        h.fetched("C", FetchedPermissions::Unique(vec![owner(), guest()]))
            .is_none()
    );
    assert!(h.take().is_empty());
}

#[test]
fn restoring_inheritance_reports_where_the_item_now_inherits_from() {
    let mut h = tenant();
    h.delta(vec![shared(folder("A", "R", "A"), json!({}))]);
    h.fetched("A", FetchedPermissions::Inherited);
    let (item, c) = h.change();
    assert_eq!(item, "A");
    assert_eq!(c.inherited_from.as_deref(), Some("R"));
    assert_eq!(ids(&c.removed), ["link-1"]);
    assert!(c.added.is_empty());
    assert_eq!(c.affected, 4);
    assert_eq!(h.source_of("b1"), (Some("R".into()), vec!["owner".into()]));
    assert_eq!(h.store.permission_counts(DRIVE).unwrap(), (1, 0));
}

#[test]
fn moving_an_inheriting_folder_across_a_boundary_is_one_permission_change() {
    let mut h = tenant();
    let got = h.delta(vec![folder("B", "C", "B")]);
    assert_eq!(
        got,
        [
            ev(EventKind::Moved, "B", "/C/B", "/A/B"),
            ev(EventKind::PermissionsChanged, "B", "/C/B", ""),
        ]
    );
    let events = h.store.events_after(0, 100).unwrap();
    let c: PermissionChange = serde_json::from_str(&events.last().unwrap().detail).unwrap();
    assert_eq!(c.inherited_from.as_deref(), Some("R"));
    assert_eq!(ids(&c.removed), ["link-1"]);
    assert_eq!(c.affected, 2, "the folder and its file");
    assert_eq!(h.source_of("b1"), (Some("R".into()), vec!["owner".into()]));

    // A move within the same permission scope, or of a unique item, changes nothing.
    assert_eq!(
        h.delta(vec![file("c1", "B", "c1.txt", 1)]),
        [ev(EventKind::Moved, "c1", "/C/B/c1.txt", "/C/c1.txt")]
    );
    assert_eq!(
        h.delta(vec![folder("A", "C", "A")]),
        [ev(EventKind::Moved, "A", "/C/A", "/A")]
    );
    assert_eq!(
        h.source_of("a1"),
        (Some("A".into()), vec!["link-1".into(), "owner".into()])
    );
}

#[test]
fn a_change_pending_at_a_crash_is_journaled_once_after_it() {
    let mut h = tenant();
    h.delta(vec![shared(
        file("c1", "C", "c1.txt", 1),
        json!({"scope":"users"}),
    )]);
    // The fetch in flight never committed: the item is still pending, and owed.
    let mut reopened_pending = h.store.pending_permissions(DRIVE, "", 10).unwrap();
    assert_eq!(reopened_pending.pop().as_deref(), Some("c1"));
    h.fetched("c1", FetchedPermissions::Unique(vec![owner(), anyone()]));
    let (_, c) = h.change();
    assert_eq!(ids(&c.added), ["link-1"]);
    assert_eq!(c.affected, 1);
}

#[test]
fn refused_fetches_report_owed_changes_without_details_once() {
    let mut h = tenant();
    h.delta(vec![shared(
        file("c1", "C", "c1.txt", 1),
        json!({"scope":"users"}),
    )]);
    assert!(h.store.settle_owed_permissions(DRIVE).unwrap().is_some());
    let events = h.take();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind, events[0].detail.as_str()),
        (EventKind::PermissionsChanged, "")
    );
    assert!(h.store.settle_owed_permissions(DRIVE).unwrap().is_none());
    assert_eq!(
        h.store.pending_permissions(DRIVE, "", 10).unwrap(),
        ["c1"],
        "still to fetch"
    );
}

#[test]
fn deleted_items_lose_their_permissions_and_queries_skip_them() {
    let mut h = tenant();
    h.delta(vec![gone("B")]);
    h.fetched("B", FetchedPermissions::Unique(vec![owner()]));
    assert_eq!(
        h.store.permission_counts(DRIVE).unwrap(),
        (2, 0),
        "B gained no row"
    );
}

#[test]
fn queries_find_anyone_links_external_and_principals_with_their_subtrees() {
    let mut h = tenant();
    h.delta(vec![shared(
        folder("B", "A", "B"),
        json!({"scope":"users"}),
    )]);
    h.fetched("B", FetchedPermissions::Unique(vec![owner(), guest()]));
    let collect = |filter: GrantFilter| {
        let mut out = Vec::new();
        h.store
            .items_with_grants(None, &filter, &mut |e| {
                out.push((e.item_id, e.inherited_from));
                Ok(true)
            })
            .unwrap();
        out.sort();
        out
    };
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        collect(GrantFilter::AnyoneLinks),
        [("A".into(), None), ("a1".into(), some("A"))],
        "B has unique permissions without the link"
    );
    assert_eq!(
        collect(GrantFilter::External),
        [("B".into(), None), ("b1".into(), some("B"))]
    );
    assert_eq!(
        collect(GrantFilter::Principal("BO@partner.example".into())).len(),
        2
    );
    assert_eq!(
        collect(GrantFilter::Principal("ann@contoso.example".into())).len(),
        7
    );
    assert!(collect(GrantFilter::Principal("nobody".into())).is_empty());
    let mut first = 0;
    h.store
        .items_with_grants(Some(DRIVE), &GrantFilter::AnyoneLinks, &mut |_| {
            first += 1;
            Ok(false)
        })
        .unwrap();
    assert_eq!(first, 1, "visit stops the walk");
}

#[test]
fn a_drive_synced_without_permissions_gets_its_roots_backfilled() {
    let mut h = Harness::synced(vec![
        shared(folder("A", "R", "A"), users()),
        folder("C", "R", "C"),
    ]);
    assert!(
        h.store
            .pending_permissions(DRIVE, "", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(h.store.backfill_permission_roots(DRIVE).unwrap(), 2);
    assert_eq!(
        h.store.pending_permissions(DRIVE, "", 10).unwrap(),
        ["A", "R"]
    );
    h.fetched("R", FetchedPermissions::Unique(vec![owner()]));
    assert_eq!(h.store.backfill_permission_roots(DRIVE).unwrap(), 0, "once");
    assert!(h.take().is_empty(), "backfilled roots owe no event");
}

#[test]
fn an_announced_first_crawl_journals_the_initial_permissions() {
    let mut h = Harness::new();
    h.fetch_permissions = true;
    h.store.begin_crawl(DRIVE).unwrap();
    h.apply(
        &[root(), file("f", "R", "f.txt", 1)],
        Cursor::Delta("d0"),
        true,
    );
    h.take();
    h.fetched("R", FetchedPermissions::Unique(vec![owner()]));
    let (item, c) = h.change();
    assert_eq!(
        (item.as_str(), ids(&c.added), c.affected),
        ("R", vec!["owner"], 2)
    );
}

#[test]
fn a_resync_fetches_every_root_again_and_journals_only_real_changes() {
    let mut h = tenant();
    h.store.begin_resync(DRIVE, "410").unwrap();
    h.take();
    let mut all = vec![root()];
    all.extend(tenant_items());
    h.apply(&all, Cursor::Delta("d1"), false);
    h.take();
    assert_eq!(
        h.store.pending_permissions(DRIVE, "", 10).unwrap(),
        ["A", "R"]
    );
    h.fetched("R", FetchedPermissions::Unique(vec![owner()]));
    assert!(h.take().is_empty(), "unchanged: nothing to report");
    h.fetched("A", FetchedPermissions::Unique(vec![owner()]));
    let (item, c) = h.change();
    assert_eq!((item.as_str(), ids(&c.removed)), ("A", vec!["link-1"]));
}

#[test]
fn a_reported_sharing_change_that_changed_no_grant_reports_the_files_new_etag() {
    let mut h = tenant();
    // Inheritance broken and restored between two rounds: Graph flags the file, its
    // grants are what they were.
    let mut f = file("c1", "C", "c1.txt", 1);
    f.e_tag = Some("\"c1-etag-3\"".into());
    f.shared_changed = Some("True".into());
    h.delta(vec![f]);
    h.fetched("c1", FetchedPermissions::Inherited);
    let events = h.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].kind, events[0].etag.as_str()),
        (EventKind::MetadataChanged, "\"c1-etag-3\"")
    );
}
