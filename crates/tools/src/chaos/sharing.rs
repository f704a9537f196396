//! The sharing dimension of chaos: permission mutations (grants, revokes, links,
//! inheritance broken and restored, moves across permission boundaries), and the
//! replay of the `permissions_changed` events the engine delivered.

use std::collections::HashMap;

use m365sync::PermissionChange;
use m365sync_sim::{LinkOptions, SimPermission, Simulator, SnapshotItem};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::events::Delivered;
use super::plan::Mutation;
use crate::verify::{self, GrantKey};

/// Applies one sharing mutation to `drive` (whose truth is `snap`); false when no item
/// fits. `n` numbers guests so that each is new.
pub fn mutate(
    sim: &Simulator,
    drive: &str,
    m: Mutation,
    rng: &mut ChaCha8Rng,
    snap: &[SnapshotItem],
    n: u64,
) -> crate::Result<bool> {
    let roots = sim.permission_roots(drive)?;
    let non_root: Vec<&SnapshotItem> = snap.iter().filter(|i| i.parent_id.is_some()).collect();
    let (unique, inheriting): (Vec<&SnapshotItem>, Vec<&SnapshotItem>) =
        non_root.iter().partition(|i| roots.contains(&i.id));
    let pick = |rng: &mut ChaCha8Rng, items: &[&SnapshotItem]| {
        (!items.is_empty()).then(|| items[rng.random_range(0..items.len())].id.clone())
    };
    match m {
        Mutation::Grant => {
            let Some(item) = pick(rng, &non_root) else {
                return Ok(false);
            };
            let principal = principal(sim, rng, n);
            let role = if rng.random_bool(0.5) {
                "read"
            } else {
                "write"
            };
            sim.grant(drive, &item, &principal, &[role])?;
        }
        Mutation::Link => {
            let Some(item) = pick(rng, &non_root) else {
                return Ok(false);
            };
            let link_type = if rng.random_bool(0.5) { "view" } else { "edit" };
            let scope = ["anonymous", "organization", "users"][rng.random_range(0..3)];
            let options = LinkOptions {
                password: scope == "anonymous" && rng.random_bool(0.3),
                recipients: if scope == "users" {
                    vec![format!(
                        "chaos{n}@partner{}.example",
                        rng.random_range(1..4)
                    )]
                } else {
                    Vec::new()
                },
                ..LinkOptions::default()
            };
            sim.create_link(drive, &item, link_type, scope, options)?;
        }
        Mutation::Revoke => {
            let Some(item) = pick(rng, &unique) else {
                return Ok(false);
            };
            let grants: Vec<SimPermission> = sim
                .permissions(drive, &item)?
                .grants
                .into_iter()
                .filter(|g| !g.roles.iter().any(|r| r == "owner"))
                .collect();
            if grants.is_empty() {
                return Ok(false);
            }
            let id = grants[rng.random_range(0..grants.len())].id.clone();
            sim.revoke(drive, &item, &id)?;
        }
        Mutation::BreakInheritance => {
            let Some(item) = pick(rng, &inheriting) else {
                return Ok(false);
            };
            sim.break_inheritance(drive, &item)?;
        }
        Mutation::RestoreInheritance => {
            let Some(item) = pick(rng, &unique) else {
                return Ok(false);
            };
            sim.restore_inheritance(drive, &item)?;
        }
        Mutation::MoveAcrossBoundary => return move_across(sim, drive, rng, snap, &inheriting),
        _ => return Ok(false),
    }
    Ok(true)
}

/// A tenant user, one of its groups, or a new guest, as the simulator names principals.
fn principal(sim: &Simulator, rng: &mut ChaCha8Rng, n: u64) -> String {
    let users = sim.users();
    let groups = sim.groups();
    match rng.random_range(0..3) {
        0 if !users.is_empty() => format!("user:{}", users[rng.random_range(0..users.len())].upn),
        1 if !groups.is_empty() => {
            format!("group:{}", groups[rng.random_range(0..groups.len())].id)
        }
        _ => format!("guest:chaos{n}@partner{}.example", rng.random_range(1..4)),
    }
}

/// Moves an inheriting item below a folder whose permissions come from another root.
fn move_across(
    sim: &Simulator,
    drive: &str,
    rng: &mut ChaCha8Rng,
    snap: &[SnapshotItem],
    inheriting: &[&SnapshotItem],
) -> crate::Result<bool> {
    if inheriting.is_empty() {
        return Ok(false);
    }
    let item = inheriting[rng.random_range(0..inheriting.len())];
    let source = |id: &str| -> crate::Result<String> {
        Ok(sim
            .permissions(drive, id)?
            .inherited_from
            .unwrap_or_else(|| id.to_owned()))
    };
    let from = source(&item.id)?;
    let below = format!("{}/", item.path);
    let mut targets = Vec::new();
    for f in snap.iter().filter(|f| f.is_folder) {
        let fits = f.id != item.id
            && Some(&f.id) != item.parent_id.as_ref()
            && !f.path.starts_with(&below);
        if fits && source(&f.id)? != from {
            targets.push(f.id.clone());
        }
    }
    if targets.is_empty() {
        return Ok(false);
    }
    let target = targets[rng.random_range(0..targets.len())].clone();
    let patch = m365sync_sim::ItemPatch {
        parent_id: Some(target),
        ..m365sync_sim::ItemPatch::default()
    };
    sim.update_item(drive, &item.id, patch)?;
    Ok(true)
}

/// (h) Items whose effective permissions, replayed from the delivered events, differ from
/// the truth: each item takes those of its nearest ancestor-or-self whose latest
/// detailed `permissions_changed` (by seq) made it unique. Returns (count, examples).
pub fn replay_diff(
    sim: &Simulator,
    delivered: &[Delivered],
    shown: usize,
) -> crate::Result<(usize, Vec<String>)> {
    let mut latest: HashMap<(&str, &str), (i64, PermissionChange)> = HashMap::new();
    for d in delivered {
        let e = &d.event;
        if e.kind != "permissions_changed" || e.detail.is_empty() {
            continue;
        }
        let Ok(change) = serde_json::from_str::<PermissionChange>(&e.detail) else {
            continue;
        };
        let key = (e.drive_id.as_str(), e.item_id.as_str());
        if latest.get(&key).is_none_or(|(seq, _)| *seq < e.seq) {
            latest.insert(key, (e.seq, change));
        }
    }
    let mut out = (0, Vec::new());
    for drive in sim.drives() {
        let snap = sim.snapshot(&drive.id)?;
        let parent: HashMap<&str, &str> = snap
            .iter()
            .filter_map(|i| Some((i.id.as_str(), i.parent_id.as_deref()?)))
            .collect();
        for item in &snap {
            let mut at = Some(item.id.as_str());
            let mut found = None;
            while let Some(id) = at {
                match latest.get(&(drive.id.as_str(), id)) {
                    Some((_, c)) if c.inherited_from.is_none() => {
                        found = Some((id, &c.grants));
                        break;
                    }
                    _ => at = parent.get(id).copied(),
                }
            }
            let truth = sim.permissions(&drive.id, &item.id)?;
            let want = (
                truth.inherited_from.clone(),
                verify::sim_grant_keys(&truth.grants),
            );
            let got = found.map(|(source, grants)| {
                let from = (source != item.id).then(|| source.to_owned());
                (from, grants.iter().map(GrantKey::of).collect())
            });
            if got.as_ref() != Some(&want) {
                out.0 += 1;
                if out.1.len() < shown {
                    out.1.push(format!(
                        "{} ({}): replayed {got:?}, truth {want:?}",
                        item.path, item.id
                    ));
                }
            }
        }
    }
    Ok(out)
}
