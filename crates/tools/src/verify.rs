//! Compares the engine's SQLite mirror with the simulator's ground truth.
//!
//! Used by `demo`, the integration tests and `chaos`.

use crate::Result;
use m365sync::{Database, MirrorItem};
use m365sync_sim::{Simulator, SnapshotItem};

/// Differences between one drive's mirror and the truth, as readable lines
/// (empty when they match). At most `limit` lines are returned.
pub fn mirror_diff(
    store: &Database,
    sim: &Simulator,
    drive: &str,
    limit: usize,
) -> Result<Vec<String>> {
    let mut mirror = store.items(drive)?;
    let mut truth = sim.snapshot(drive)?;
    mirror.sort_by(|a, b| a.id.cmp(&b.id));
    truth.sort_by(|a, b| a.id.cmp(&b.id));
    let mut diffs = Vec::new();
    let (mut i, mut j) = (0, 0);
    while (i < mirror.len() || j < truth.len()) && diffs.len() < limit {
        match (mirror.get(i), truth.get(j)) {
            (Some(m), Some(t)) if m.id == t.id => {
                if let Some(d) = item_diff(m, t) {
                    diffs.push(format!("{drive}/{}: {d}", m.id));
                }
                i += 1;
                j += 1;
            }
            (Some(m), Some(t)) if m.id < t.id => {
                diffs.push(format!("{drive}/{}: in the mirror only ({})", m.id, m.path));
                i += 1;
            }
            (Some(m), None) => {
                diffs.push(format!("{drive}/{}: in the mirror only ({})", m.id, m.path));
                i += 1;
            }
            (_, Some(t)) => {
                diffs.push(format!(
                    "{drive}/{}: missing from the mirror ({})",
                    t.id, t.path
                ));
                j += 1;
            }
            (None, None) => break,
        }
    }
    Ok(diffs)
}

/// Differences over every drive of the simulator.
pub fn tenant_diff(store: &Database, sim: &Simulator, limit: usize) -> Result<Vec<String>> {
    let mut diffs = Vec::new();
    for drive in sim.drives() {
        let left = limit.saturating_sub(diffs.len());
        if left == 0 {
            break;
        }
        diffs.extend(mirror_diff(store, sim, &drive.id, left)?);
    }
    Ok(diffs)
}

fn item_diff(m: &MirrorItem, t: &SnapshotItem) -> Option<String> {
    let mut parts = Vec::new();
    if m.name != t.name {
        parts.push(format!("name {:?} != {:?}", m.name, t.name));
    }
    if m.parent_id != t.parent_id {
        parts.push(format!("parent {:?} != {:?}", m.parent_id, t.parent_id));
    }
    if m.path != t.path {
        parts.push(format!("path {:?} != {:?}", m.path, t.path));
    }
    if m.is_folder != t.is_folder {
        parts.push("folder flag differs".to_string());
    }
    if m.etag.as_deref() != Some(t.etag.as_str()) {
        parts.push(format!("eTag {:?} != {:?}", m.etag, t.etag));
    }
    if m.ctag != t.ctag {
        parts.push(format!("cTag {:?} != {:?}", m.ctag, t.ctag));
    }
    if !m.is_folder && m.size != t.size as i64 {
        parts.push(format!("size {} != {}", m.size, t.size));
    }
    if m.shared != t.shared {
        parts.push(format!("shared {} != {}", m.shared, t.shared));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}
