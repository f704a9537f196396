//! The events the engine printed, in delivery order, and their replay onto the empty
//! tenant (the first crawl emits `created` per item).

use std::collections::{BTreeMap, HashMap, HashSet};

use m365sync_sim::SnapshotItem;
use parking_lot::Mutex;
use serde::Deserialize;

/// One event as `m365sync run --print-events` prints it (the fields the checks use).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WireEvent {
    /// Journal position.
    pub seq: i64,
    /// Kind name (`created`, `moved`, ...).
    pub kind: String,
    /// Drive of the item.
    pub drive_id: String,
    /// The item; empty for drive-level events.
    pub item_id: String,
    /// Path after the change.
    pub path: String,
    /// cTag after the change.
    pub ctag: String,
    /// eTag after the change.
    pub etag: String,
    /// Size in bytes.
    pub size: i64,
    /// Whether the item is a folder.
    pub is_folder: bool,
    /// Free text: the diff of a `permissions_changed`, an error, ...
    #[serde(default)]
    pub detail: String,
}

/// An event and the engine run (0 = first start) that delivered it.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Which engine process printed it.
    pub run: usize,
    /// The event.
    pub event: WireEvent,
}

/// Every delivery of one seed, filled by the engine's stdout readers.
#[derive(Debug, Default)]
pub struct EventLog {
    delivered: Mutex<Vec<Delivered>>,
    malformed: Mutex<Vec<String>>,
}

impl EventLog {
    /// Records one printed line of run `run`.
    pub fn record(&self, run: usize, line: &str) {
        match serde_json::from_str::<WireEvent>(line) {
            Ok(event) => self.delivered.lock().push(Delivered { run, event }),
            Err(e) => self.malformed.lock().push(format!("{e}: {line}")),
        }
    }

    /// A copy of the deliveries so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.delivered.lock().clone()
    }

    /// Lines that were not an event.
    pub fn malformed(&self) -> Vec<String> {
        self.malformed.lock().clone()
    }

    /// Whether `seq` was delivered.
    pub fn has(&self, seq: i64) -> bool {
        self.delivered.lock().iter().any(|d| d.event.seq == seq)
    }
}

/// What a consumer knows about one item from the events alone.
#[derive(Debug, Clone)]
struct Known {
    path: String,
    is_folder: bool,
    ctag: String,
    etag: String,
    size: i64,
}

/// The items per drive after applying each delivered seq once, in seq order.
#[derive(Debug, Default)]
pub struct Replay {
    drives: HashMap<String, HashMap<String, Known>>,
}

impl Replay {
    /// Replays `delivered` (redeliveries of a seq are applied once).
    pub fn of(delivered: &[Delivered]) -> Replay {
        let mut by_seq: BTreeMap<i64, &WireEvent> = BTreeMap::new();
        for d in delivered {
            by_seq.entry(d.event.seq).or_insert(&d.event);
        }
        let mut replay = Replay::default();
        for event in by_seq.values() {
            replay.apply(event);
        }
        replay
    }

    fn apply(&mut self, e: &WireEvent) {
        if e.item_id.is_empty() {
            return;
        }
        let items = self.drives.entry(e.drive_id.clone()).or_default();
        let update = |k: &mut Known| {
            if !e.ctag.is_empty() {
                k.ctag = e.ctag.clone();
            }
            if !e.etag.is_empty() {
                k.etag = e.etag.clone();
            }
            k.size = e.size;
        };
        match e.kind.as_str() {
            "created" => {
                items.insert(
                    e.item_id.clone(),
                    Known {
                        path: e.path.clone(),
                        is_folder: e.is_folder,
                        ctag: e.ctag.clone(),
                        etag: e.etag.clone(),
                        size: e.size,
                    },
                );
            }
            "content_changed" | "metadata_changed" | "permissions_changed" => {
                if let Some(k) = items.get_mut(&e.item_id) {
                    update(k);
                }
            }
            "renamed" | "moved" => {
                let Some(k) = items.get_mut(&e.item_id) else {
                    return;
                };
                let old = std::mem::replace(&mut k.path, e.path.clone());
                update(k);
                if e.is_folder {
                    let prefix = format!("{old}/");
                    for k in items.values_mut() {
                        if let Some(rest) = k.path.strip_prefix(&prefix) {
                            k.path = format!("{}/{rest}", e.path);
                        }
                    }
                }
            }
            "deleted" => {
                let Some(k) = items.remove(&e.item_id) else {
                    return;
                };
                if k.is_folder {
                    let prefix = format!("{}/", k.path);
                    items.retain(|_, k| !k.path.starts_with(&prefix));
                }
            }
            _ => {}
        }
    }

    /// Differences between the replayed items of `drive` and the truth (root excluded;
    /// folders by path, files by path, cTag, eTag and size), at most `limit`.
    pub fn diff(&self, drive: &str, truth: &[SnapshotItem], limit: usize) -> Vec<String> {
        let empty = HashMap::new();
        let known = self.drives.get(drive).unwrap_or(&empty);
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for t in truth.iter().filter(|t| t.parent_id.is_some()) {
            seen.insert(t.id.as_str());
            let Some(k) = known.get(&t.id) else {
                out.push(format!("{drive}/{}: no event created {}", t.id, t.path));
                continue;
            };
            let file_differs = !t.is_folder
                && (t.ctag.as_deref().is_some_and(|c| c != k.ctag)
                    || t.etag != k.etag
                    || t.size as i64 != k.size);
            if k.path != t.path || k.is_folder != t.is_folder || file_differs {
                out.push(format!(
                    "{drive}/{}: events give {} (cTag {:?}, eTag {:?}, {} B), truth {} (cTag {:?}, eTag {:?}, {} B)",
                    t.id, k.path, k.ctag, k.etag, k.size, t.path, t.ctag, t.etag, t.size
                ));
            }
        }
        for (id, k) in known {
            if !seen.contains(id.as_str()) {
                out.push(format!("{drive}/{id}: no event deleted {}", k.path));
            }
        }
        out.sort();
        out.truncate(limit);
        out
    }

    /// Number of items over all drives that differ (no limit).
    pub fn diff_count(&self, truths: &[(String, Vec<SnapshotItem>)]) -> usize {
        truths
            .iter()
            .map(|(d, t)| self.diff(d, t, usize::MAX).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: i64, kind: &str, id: &str, path: &str, folder: bool) -> Delivered {
        Delivered {
            run: 0,
            event: WireEvent {
                seq,
                kind: kind.into(),
                drive_id: "d".into(),
                item_id: id.into(),
                path: path.into(),
                ctag: String::new(),
                etag: format!("e{seq}"),
                size: 0,
                is_folder: folder,
                detail: String::new(),
            },
        }
    }

    fn truth(id: &str, path: &str, folder: bool, etag: &str) -> SnapshotItem {
        SnapshotItem {
            id: id.into(),
            name: path.rsplit('/').next().unwrap_or_default().into(),
            parent_id: Some("root".into()),
            path: path.into(),
            is_folder: folder,
            size: 0,
            ctag: None,
            etag: etag.into(),
            shared: false,
            quick_xor_hash: None,
            kind: if folder { "folder" } else { "file" }.into(),
        }
    }

    #[test]
    fn folder_moves_and_deletes_apply_to_the_subtree_and_seqs_apply_once() {
        let log = vec![
            ev(1, "created", "A", "/A", true),
            ev(2, "created", "f", "/A/f", false),
            ev(3, "created", "B", "/B", true),
            ev(4, "created", "g", "/B/g", false),
            ev(5, "moved", "A", "/B/A", true),
            ev(6, "deleted", "B", "/B", true),
            ev(7, "created", "B2", "/B", true),
            ev(5, "moved", "A", "/B/A", true),
        ];
        let replay = Replay::of(&log);
        assert!(
            replay
                .diff("d", &[truth("B2", "/B", true, "x")], 10)
                .is_empty()
        );
        let stale = replay.diff("d", &[truth("B2", "/C", true, "x")], 10);
        assert_eq!(stale.len(), 1, "{stale:?}");
        let missing = Replay::of(&log[..5]).diff("d", &[], 10);
        assert_eq!(missing.len(), 4, "{missing:?}");
    }
}
