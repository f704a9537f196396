//! Scenario tests of the store: they are its specification.

mod bench;
mod downloads;
mod durability;
mod enumeration;
mod facets;
mod feed;
mod paths_prop;
mod permissions;
mod plans;

use serde_json::json;

use super::{ApplyOptions, Cursor, NewDrive, Store};
use crate::event::{Event, EventKind};
use crate::graph::types::{DriveItem, FileFacet, FolderFacet, Hashes, ItemReference, Marker};

const DRIVE: &str = "d";

fn parent(id: &str) -> Option<ItemReference> {
    Some(ItemReference {
        drive_id: Some(DRIVE.into()),
        id: Some(id.into()),
    })
}

/// The drive's root item.
fn root() -> DriveItem {
    DriveItem {
        id: "R".into(),
        name: Some("root".into()),
        root: Some(Marker {}),
        folder: Some(FolderFacet::default()),
        e_tag: Some("root-e1".into()),
        ..DriveItem::default()
    }
}

fn folder(id: &str, parent_id: &str, name: &str) -> DriveItem {
    DriveItem {
        id: id.into(),
        name: Some(name.into()),
        parent_reference: parent(parent_id),
        folder: Some(FolderFacet::default()),
        e_tag: Some(format!("{id}-e1")),
        ..DriveItem::default()
    }
}

/// A file whose cTag, eTag, hash and size derive from `version`.
fn file(id: &str, parent_id: &str, name: &str, version: u32) -> DriveItem {
    DriveItem {
        id: id.into(),
        name: Some(name.into()),
        parent_reference: parent(parent_id),
        file: Some(FileFacet {
            mime_type: Some("text/plain".into()),
            hashes: Some(Hashes {
                quick_xor_hash: Some(format!("{id}-h{version}")),
                ..Hashes::default()
            }),
        }),
        e_tag: Some(format!("{id}-e{version}")),
        c_tag: Some(format!("{id}-c{version}")),
        size: Some(100 + i64::from(version)),
        last_modified_date_time: Some(format!("2024-01-{:02}T00:00:00Z", version % 28 + 1)),
        ..DriveItem::default()
    }
}

/// A delete tombstone as business drives send it: no name, no cTag.
fn gone(id: &str) -> DriveItem {
    DriveItem {
        id: id.into(),
        deleted: Some(Marker {}),
        parent_reference: parent("R"),
        ..DriveItem::default()
    }
}

fn shared(mut item: DriveItem, facet: serde_json::Value) -> DriveItem {
    item.shared = Some(facet);
    item
}

fn users() -> serde_json::Value {
    json!({"scope": "users", "owner": {"user": {"displayName": "Ann"}}})
}

/// An event reduced to what scenarios assert: (kind, item, path, old path).
type Brief = (EventKind, String, String, String);

fn brief(e: &Event) -> Brief {
    (
        e.kind,
        e.item_id.clone(),
        e.path.clone(),
        e.old_path.clone(),
    )
}

fn ev(kind: EventKind, item: &str, path: &str, old_path: &str) -> Brief {
    (kind, item.into(), path.into(), old_path.into())
}

/// A store with one drive and a reader of the events that each step appends.
struct Harness {
    store: Store,
    read_up_to: i64,
    /// [`ApplyOptions::fetch_permissions`] of every page.
    fetch_permissions: bool,
}

impl Harness {
    /// A drive that is `New`.
    fn new() -> Harness {
        let store = Store::open_in_memory().unwrap();
        store
            .upsert_drive(&NewDrive {
                id: DRIVE,
                ..NewDrive::default()
            })
            .unwrap();
        Harness {
            store,
            read_up_to: 0,
            fetch_permissions: false,
        }
    }

    /// A drive whose first crawl (silent) delivered `items` after the root.
    fn synced(items: Vec<DriveItem>) -> Harness {
        Harness::synced_with(items, false)
    }

    /// [`Harness::synced`], fetching permissions or not.
    fn synced_with(items: Vec<DriveItem>, fetch_permissions: bool) -> Harness {
        let mut h = Harness::new();
        h.fetch_permissions = fetch_permissions;
        h.store.begin_crawl(DRIVE).unwrap();
        let mut all = vec![root()];
        all.extend(items);
        h.apply(&all, Cursor::Delta("delta-0"), false);
        h.take();
        h
    }

    fn apply(&mut self, items: &[DriveItem], cursor: Cursor, emit: bool) -> super::PageOutcome {
        let opts = ApplyOptions {
            emit_initial_items: emit,
            fetch_permissions: self.fetch_permissions,
        };
        self.store.apply_page(DRIVE, items, cursor, &opts).unwrap()
    }

    /// Applies one incremental page (ending the round) and returns its events.
    fn delta(&mut self, items: Vec<DriveItem>) -> Vec<Brief> {
        self.apply(&items, Cursor::Delta("delta-n"), false);
        self.take().iter().map(brief).collect()
    }

    /// The events appended since the last call.
    fn take(&mut self) -> Vec<Event> {
        let events = self.store.events_after(self.read_up_to, 1_000_000).unwrap();
        if let Some(last) = events.last() {
            self.read_up_to = last.seq;
        }
        events
    }

    fn path_of(&self, id: &str) -> Option<String> {
        let m = self.store.mirror(DRIVE).unwrap();
        m.into_iter().find(|i| i.id == id).map(|i| i.path)
    }

    /// (id, path) of every live item, sorted by id.
    fn paths(&self) -> Vec<(String, String)> {
        let m = self.store.mirror(DRIVE).unwrap();
        m.into_iter().map(|i| (i.id, i.path)).collect()
    }

    fn item_count(&self) -> i64 {
        self.store.drive(DRIVE).unwrap().unwrap().item_count
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}
