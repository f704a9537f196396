//! Which events an item's new state implies, compared with its stored state.
//!
//! Pure functions: the page logic resolves names, parents and paths first, then asks
//! [`changes`] what to report. Events come in a fixed order: moved/renamed, then
//! content_changed or metadata_changed, then permissions_changed.

use serde_json::Value;

use super::items::StoredItem;
use crate::event::EventKind;

/// An item's new state as the feed describes it, after name and parent resolution.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Incoming<'a> {
    pub parent_id: Option<&'a str>,
    pub name: &'a str,
    /// The path derived from the parent chain.
    pub path: &'a str,
    pub is_folder: bool,
    pub size: Option<i64>,
    pub etag: Option<&'a str>,
    pub ctag: Option<&'a str>,
    pub hash: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    /// The sharing facet, when the feed sent one.
    pub shared: Option<&'a Value>,
    /// `@microsoft.graph.sharedChanged` was set and not yet reported for this item.
    pub sharing_flagged: bool,
}

/// Both sides known and different; an unknown side proves nothing.
fn known_and_differ<T: PartialEq>(old: Option<T>, new: Option<T>) -> bool {
    matches!((old, new), (Some(a), Some(b)) if a != b)
}

/// cTag when both sides have one; else the content hash; else size and modification time.
fn content_differs(old: &StoredItem, new: &Incoming) -> bool {
    if let (Some(a), Some(b)) = (old.ctag.as_deref(), new.ctag) {
        return a != b;
    }
    if let (Some(a), Some(b)) = (old.hash.as_deref(), new.hash) {
        return a != b;
    }
    known_and_differ(old.size, new.size)
        || known_and_differ(old.last_modified.as_deref(), new.last_modified)
}

/// A sharing facet that grants nothing: absent, `null` or `{}`.
fn grants_nothing(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|o| o.is_empty())
}

/// Whether the sent sharing facet differs from the stored one (an absent facet in the feed
/// means "not reported", not "unshared": Graph sends `{}` when sharing is removed).
pub(super) fn sharing_differs(stored_json: Option<&str>, sent: Option<&Value>) -> bool {
    let Some(sent) = sent else { return false };
    let stored: Option<Value> = stored_json.and_then(|s| serde_json::from_str(s).ok());
    match stored.filter(|v| !grants_nothing(v)) {
        None => !grants_nothing(sent),
        Some(old) => &old != sent,
    }
}

/// The events a live, non-root item's change implies, in journal order.
pub(super) fn changes(old: &StoredItem, new: &Incoming) -> Vec<EventKind> {
    let mut out = Vec::new();
    // A relocation that leaves the path alone (an item of unknown parent getting its real
    // one at the same place) is invisible to the host: not reported.
    if old.path != new.path {
        if old.parent_id.as_deref() != new.parent_id {
            out.push(EventKind::Moved);
        } else if old.name != new.name {
            out.push(EventKind::Renamed);
        }
    }
    let permissions =
        new.sharing_flagged || sharing_differs(old.shared_json.as_deref(), new.shared);
    // Graph bumps a folder's eTag/cTag whenever something below it changes: not news.
    if !new.is_folder {
        if content_differs(old, new) {
            out.push(EventKind::ContentChanged);
        } else if out.is_empty() && !permissions && known_and_differ(old.etag.as_deref(), new.etag)
        {
            out.push(EventKind::MetadataChanged);
        }
    }
    if permissions {
        out.push(EventKind::PermissionsChanged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file() -> StoredItem {
        StoredItem {
            parent_id: Some("P".into()),
            name: "a.txt".into(),
            path: "/F/a.txt".into(),
            is_folder: false,
            is_root: false,
            size: Some(10),
            etag: Some("e1".into()),
            ctag: Some("c1".into()),
            hash: Some("h1".into()),
            last_modified: Some("2024-01-01T00:00:00Z".into()),
            shared_json: None,
            deleted: false,
        }
    }

    fn same(old: &StoredItem) -> Incoming<'_> {
        Incoming {
            parent_id: old.parent_id.as_deref(),
            name: &old.name,
            path: &old.path,
            is_folder: old.is_folder,
            size: old.size,
            etag: old.etag.as_deref(),
            ctag: old.ctag.as_deref(),
            hash: old.hash.as_deref(),
            last_modified: old.last_modified.as_deref(),
            shared: None,
            sharing_flagged: false,
        }
    }

    use EventKind::*;

    #[test]
    fn identical_state_yields_nothing() {
        let old = file();
        assert!(changes(&old, &same(&old)).is_empty());
    }

    #[test]
    fn relocation_content_and_permissions_in_fixed_order() {
        let old = file();
        let shared = json!({"scope": "users"});
        let new = Incoming {
            parent_id: Some("Q"),
            name: "b.txt",
            path: "/Q/b.txt",
            ctag: Some("c2"),
            etag: Some("e2"),
            shared: Some(&shared),
            ..same(&old)
        };
        assert_eq!(
            changes(&old, &new),
            [Moved, ContentChanged, PermissionsChanged]
        );
        let renamed = Incoming {
            name: "b.txt",
            path: "/F/b.txt",
            etag: Some("e2"),
            ..same(&old)
        };
        assert_eq!(changes(&old, &renamed), [Renamed]);
    }

    #[test]
    fn relocation_without_a_new_path_is_not_reported() {
        let mut old = file();
        old.parent_id = Some("unknown".into());
        old.path = "/a.txt".into();
        let adopted = Incoming {
            parent_id: Some("R"),
            ..same(&old)
        };
        assert!(changes(&old, &adopted).is_empty());
    }

    #[test]
    fn etag_alone_is_metadata() {
        let old = file();
        let new = Incoming {
            etag: Some("e2"),
            ..same(&old)
        };
        assert_eq!(changes(&old, &new), [MetadataChanged]);
        let unknown = Incoming {
            etag: None,
            ..same(&old)
        };
        assert!(changes(&old, &unknown).is_empty());
    }

    #[test]
    fn ctag_absent_falls_back_to_hash_then_size_and_time() {
        let mut old = file();
        old.ctag = None;
        let by_hash = Incoming {
            hash: Some("h2"),
            size: Some(99),
            ..same(&old)
        };
        assert_eq!(changes(&old, &by_hash), [ContentChanged]);
        // Same hash wins over a different size: the hash is the better witness.
        let same_hash = Incoming {
            size: Some(99),
            etag: Some("e2"),
            ..same(&old)
        };
        assert_eq!(changes(&old, &same_hash), [MetadataChanged]);

        old.hash = None;
        let by_size = Incoming {
            size: Some(11),
            ..same(&old)
        };
        assert_eq!(changes(&old, &by_size), [ContentChanged]);
        let by_time = Incoming {
            last_modified: Some("2024-02-01T00:00:00Z"),
            ..same(&old)
        };
        assert_eq!(changes(&old, &by_time), [ContentChanged]);
        let nothing_known = Incoming {
            ctag: Some("c9"),
            hash: None,
            size: None,
            last_modified: None,
            ..same(&old)
        };
        assert!(changes(&old, &nothing_known).is_empty());
    }

    #[test]
    fn folders_ignore_etag_and_ctag() {
        let mut old = file();
        old.is_folder = true;
        let new = Incoming {
            etag: Some("e2"),
            ctag: Some("c2"),
            size: Some(1234),
            ..same(&old)
        };
        assert!(changes(&old, &new).is_empty());
        let renamed = Incoming {
            name: "B",
            path: "/F/B",
            ..new
        };
        assert_eq!(changes(&old, &renamed), [Renamed]);
    }

    #[test]
    fn sharing_facet_comparison() {
        let users = json!({"scope": "users"});
        let anyone = json!({"scope": "anonymous"});
        let empty = json!({});
        let stored = users.to_string();
        assert!(!sharing_differs(None, None));
        assert!(
            !sharing_differs(Some(&stored), None),
            "absent = not reported"
        );
        assert!(!sharing_differs(Some(&stored), Some(&users)));
        assert!(sharing_differs(Some(&stored), Some(&anyone)));
        assert!(
            sharing_differs(Some(&stored), Some(&empty)),
            "sharing removed"
        );
        assert!(sharing_differs(None, Some(&users)));
        assert!(!sharing_differs(None, Some(&empty)));
        assert!(!sharing_differs(Some("{}"), Some(&Value::Null)));
        assert!(sharing_differs(Some("not json"), Some(&users)));
    }

    #[test]
    fn shared_changed_flag_reports_permissions_and_hides_metadata() {
        let old = file();
        let new = Incoming {
            etag: Some("e2"),
            sharing_flagged: true,
            ..same(&old)
        };
        assert_eq!(changes(&old, &new), [PermissionsChanged]);
    }
}
