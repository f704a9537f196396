//! Compares the engine's SQLite mirror, and the files of its managed mirror, with the
//! simulator's ground truth.
//!
//! Used by `demo`, the integration tests, `bench download` and `chaos`.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::Result;
use m365sync::{Database, Grant, MirrorItem};
use m365sync_sim::{SimPermission, Simulator, SnapshotItem};

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

/// Files of every drive whose current content was not downloaded yet.
pub fn pending_downloads(store: &Database) -> m365sync::Result<u64> {
    Ok(store
        .status()?
        .drives
        .iter()
        .map(|d| d.downloads_pending)
        .sum())
}

/// The `.partial` files under a managed mirror's directory.
pub fn partial_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for drive in std::fs::read_dir(dir)? {
        let drive = drive?.path();
        if !drive.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&drive)? {
            let file = file?.path();
            if file.extension().is_some_and(|e| e == "partial") {
                out.push(file);
            }
        }
    }
    Ok(out)
}

/// The base64 QuickXorHash of a file's bytes.
pub fn file_quick_xor(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = quickxorhash::QuickXorHash::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(hash.finalize()))
}

/// Differences between a managed mirror at `dir` (`{dir}/{drive}/{item}`) and the
/// truth of `drives` (empty: every drive): a live file's copy missing or hashing
/// otherwise, a copy of an item that is no live file, a partial file left. At most
/// `limit` lines.
pub fn mirror_copies(
    sim: &Simulator,
    dir: &Path,
    drives: &[String],
    limit: usize,
) -> Result<Vec<String>> {
    let mut diffs: Vec<String> = partial_files(dir)?
        .into_iter()
        .map(|p| format!("partial file left: {}", p.display()))
        .collect();
    let chosen = sim
        .drives()
        .into_iter()
        .filter(|d| drives.is_empty() || drives.contains(&d.id));
    for drive in chosen {
        let mut live = HashSet::new();
        for item in sim.snapshot(&drive.id)? {
            let Some(want) = item
                .quick_xor_hash
                .as_deref()
                .filter(|_| item.kind == "file")
            else {
                continue;
            };
            live.insert(item.id.clone());
            let copy = dir.join(&drive.id).join(&item.id);
            if !copy.exists() {
                diffs.push(format!("{}/{} ({}): no copy", drive.id, item.id, item.path));
                continue;
            }
            let got = file_quick_xor(&copy)?;
            if got != want {
                diffs.push(format!(
                    "{}/{} ({}): the copy hashes to {got}, the truth to {want}",
                    drive.id, item.id, item.path
                ));
            }
        }
        let Ok(entries) = std::fs::read_dir(dir.join(&drive.id)) else {
            continue;
        };
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".partial") && !live.contains(&name) {
                diffs.push(format!("{}/{name}: a copy of no live file", drive.id));
            }
        }
    }
    diffs.truncate(limit);
    Ok(diffs)
}

/// A grant as the checks compare it: its id and sorted roles.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GrantKey {
    /// The permission id.
    pub id: String,
    /// Its roles, sorted.
    pub roles: Vec<String>,
}

impl GrantKey {
    /// The key of an engine grant.
    pub fn of(g: &Grant) -> GrantKey {
        GrantKey::new(&g.id, &g.roles)
    }

    fn new(id: &str, roles: &[String]) -> GrantKey {
        let mut roles = roles.to_vec();
        roles.sort();
        GrantKey {
            id: id.to_owned(),
            roles,
        }
    }
}

/// The keys of the simulator's grants.
pub fn sim_grant_keys(grants: &[SimPermission]) -> BTreeSet<GrantKey> {
    grants
        .iter()
        .map(|g| GrantKey::new(&g.id, &g.roles))
        .collect()
}

/// Up to `limit` live items whose effective permissions in the store (where they come
/// from, and their grants) differ from the simulator's truth, or are not fetched yet.
pub fn permission_diff(store: &Database, sim: &Simulator, limit: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for drive in sim.drives() {
        for item in sim.snapshot(&drive.id)? {
            let truth = sim.permissions(&drive.id, &item.id)?;
            let want = (truth.inherited_from, sim_grant_keys(&truth.grants));
            let line = match store.effective_permissions(&drive.id, &item.id)? {
                None => Some("not in the mirror".to_owned()),
                Some(e) if !e.known => Some("permissions not fetched".to_owned()),
                Some(e) => {
                    let got = (
                        e.inherited_from,
                        e.grants.iter().map(GrantKey::of).collect(),
                    );
                    (got != want).then(|| format!("store {got:?}, truth {want:?}"))
                }
            };
            if let Some(line) = line {
                out.push(format!("{} ({}): {line}", item.path, item.id));
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}
