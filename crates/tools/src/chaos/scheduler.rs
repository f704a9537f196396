//! Applies a plan's mutations and faults to the simulator, picking concrete items from
//! its truth with a generator seeded from the plan's seed.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use m365sync_sim::delivery::NotificationConfig;
use m365sync_sim::{Faults, ItemPatch, Simulator, SnapshotItem};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::plan::{Fault, Mutation};
use super::sharing;

/// Counts of what was applied.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Applied {
    /// Mutations that changed the tenant.
    pub mutations: u64,
    /// Those mutations by kind (`Grant`, `MoveFolder`, ...).
    pub by_kind: BTreeMap<String, u64>,
    /// Mutations with no fitting target, or refused by the simulator (name taken, ...).
    pub skipped: u64,
    /// Fault steps by name.
    pub faults: BTreeMap<&'static str, u64>,
}

/// The simulator side of a chaos seed.
pub struct Scheduler<'a> {
    sim: &'a Simulator,
    drives: Vec<String>,
    rng: ChaCha8Rng,
    names: u64,
    seed: u64,
    /// What was applied so far.
    pub applied: Applied,
}

/// Folders at the top of this many by subtree size count as "large".
const LARGE: usize = 8;

impl<'a> Scheduler<'a> {
    /// A scheduler for `sim`, seeded so that a seed always picks the same items.
    pub fn new(sim: &'a Simulator, seed: u64) -> Scheduler<'a> {
        Scheduler {
            drives: sim.drives().into_iter().map(|d| d.id).collect(),
            sim,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_c4a0_5eed_c4a0),
            names: 0,
            seed,
            applied: Applied::default(),
        }
    }

    /// Applies one mutation; one that finds no target or is refused counts as skipped.
    pub fn mutate(&mut self, m: Mutation) {
        let drive = self.drives[self.rng.random_range(0..self.drives.len())].clone();
        match self.try_mutate(&drive, m) {
            Ok(true) => {
                self.applied.mutations += 1;
                *self.applied.by_kind.entry(format!("{m:?}")).or_default() += 1;
            }
            Ok(false) => self.applied.skipped += 1,
            Err(e) => {
                log::debug!("chaos: {m:?} on {drive} refused: {e}");
                self.applied.skipped += 1;
            }
        }
    }

    fn fresh_name(&mut self, ext: &str) -> String {
        self.names += 1;
        format!("chaos-{}{ext}", self.names)
    }

    fn content(&mut self) -> Vec<u8> {
        let n = self.rng.random_range(1..200);
        (0..n).map(|_| self.rng.random_range(b'a'..=b'z')).collect()
    }

    fn pick<'s>(&mut self, items: &[&'s SnapshotItem]) -> Option<&'s SnapshotItem> {
        (!items.is_empty()).then(|| items[self.rng.random_range(0..items.len())])
    }

    /// Half of the time one of the largest folders, else any folder (never the root).
    fn pick_folder<'s>(&mut self, snap: &'s [SnapshotItem]) -> Option<&'s SnapshotItem> {
        let folders: Vec<&SnapshotItem> = snap
            .iter()
            .filter(|i| i.is_folder && i.parent_id.is_some())
            .collect();
        if self.rng.random_bool(0.5) {
            let mut large = folders.clone();
            let sizes = subtree_sizes(snap);
            large.sort_by_key(|f| (std::cmp::Reverse(sizes.get(f.id.as_str()).copied()), &f.id));
            large.truncate(LARGE);
            self.pick(&large)
        } else {
            self.pick(&folders)
        }
    }

    fn try_mutate(&mut self, drive: &str, m: Mutation) -> crate::Result<bool> {
        let sim = self.sim;
        let snap = sim.snapshot(drive)?;
        let files: Vec<&SnapshotItem> = snap.iter().filter(|i| !i.is_folder).collect();
        let all_folders: Vec<&SnapshotItem> = snap.iter().filter(|i| i.is_folder).collect();
        let non_root: Vec<&SnapshotItem> = snap.iter().filter(|i| i.parent_id.is_some()).collect();
        match m {
            Mutation::CreateFile => {
                let Some(parent) = self.pick(&all_folders) else {
                    return Ok(false);
                };
                let (name, content) = (self.fresh_name(".txt"), self.content());
                sim.create_item(drive, &parent.id, &name, false, &content)?;
            }
            Mutation::CreateFolder => {
                let Some(parent) = self.pick(&all_folders) else {
                    return Ok(false);
                };
                let name = self.fresh_name("");
                let folder = sim.create_item(drive, &parent.id, &name, true, b"")?;
                for _ in 0..self.rng.random_range(1..6) {
                    let (name, content) = (self.fresh_name(".txt"), self.content());
                    sim.create_item(drive, &folder.id, &name, false, &content)?;
                }
            }
            Mutation::ResizeFile => {
                let Some(file) = self.pick(&files) else {
                    return Ok(false);
                };
                let patch = ItemPatch {
                    size: Some(self.rng.random_range(0..4 * 1024 * 1024)),
                    ..ItemPatch::default()
                };
                sim.update_item(drive, &file.id, patch)?;
            }
            Mutation::EditFile => {
                let Some(file) = self.pick(&files) else {
                    return Ok(false);
                };
                let patch = ItemPatch {
                    content: Some(self.content()),
                    ..ItemPatch::default()
                };
                sim.update_item(drive, &file.id, patch)?;
            }
            Mutation::Rename => {
                let item = if self.rng.random_bool(0.5) {
                    self.pick_folder(&snap)
                } else {
                    self.pick(&files)
                };
                let Some(item) = item else { return Ok(false) };
                let ext = if item.is_folder { "" } else { ".txt" };
                let patch = ItemPatch {
                    name: Some(self.fresh_name(ext)),
                    ..ItemPatch::default()
                };
                sim.update_item(drive, &item.id, patch)?;
            }
            Mutation::MoveFolder | Mutation::MoveFile => {
                let item = if m == Mutation::MoveFolder {
                    self.pick_folder(&snap)
                } else {
                    self.pick(&files)
                };
                let Some(item) = item else { return Ok(false) };
                let below = format!("{}/", item.path);
                let targets: Vec<&SnapshotItem> = all_folders
                    .iter()
                    .copied()
                    .filter(|f| {
                        f.id != item.id
                            && Some(&f.id) != item.parent_id.as_ref()
                            && !f.path.starts_with(&below)
                    })
                    .collect();
                let Some(target) = self.pick(&targets) else {
                    return Ok(false);
                };
                let patch = ItemPatch {
                    parent_id: Some(target.id.clone()),
                    ..ItemPatch::default()
                };
                sim.update_item(drive, &item.id, patch)?;
            }
            Mutation::DeleteFile => {
                let Some(file) = self.pick(&files) else {
                    return Ok(false);
                };
                sim.delete_item(drive, &file.id)?;
            }
            Mutation::DeleteFolder => {
                let Some(folder) = self.pick_folder(&snap) else {
                    return Ok(false);
                };
                sim.delete_item(drive, &folder.id)?;
            }
            Mutation::DeleteAndRecreate => {
                let Some(item) = self.pick(&non_root) else {
                    return Ok(false);
                };
                let parent = item.parent_id.clone().unwrap_or_default();
                sim.delete_item(drive, &item.id)?;
                let content = if item.is_folder {
                    Vec::new()
                } else {
                    self.content()
                };
                sim.create_item(drive, &parent, &item.name, item.is_folder, &content)?;
            }
            Mutation::Share => {
                let Some(item) = self.pick(&non_root) else {
                    return Ok(false);
                };
                sim.share_item(drive, &item.id)?;
            }
            Mutation::Unshare => {
                let shared: Vec<&SnapshotItem> =
                    non_root.iter().copied().filter(|i| i.shared).collect();
                let Some(item) = self.pick(&shared) else {
                    return Ok(false);
                };
                sim.unshare_item(drive, &item.id)?;
            }
            Mutation::Grant
            | Mutation::Link
            | Mutation::Revoke
            | Mutation::BreakInheritance
            | Mutation::RestoreInheritance
            | Mutation::MoveAcrossBoundary => {
                self.names += 1;
                return sharing::mutate(sim, drive, m, &mut self.rng, &snap, self.names);
            }
        }
        Ok(true)
    }

    /// Injects or lifts a fault.
    pub fn fault(&mut self, f: Fault) -> crate::Result<()> {
        *self.applied.faults.entry(f.name()).or_default() += 1;
        let sim = self.sim;
        match f {
            Fault::Errors {
                error_503,
                error_500,
                reset,
            } => sim.set_faults(Faults {
                error_503_rate: error_503,
                error_500_rate: error_500,
                reset_rate: reset,
                seed: self.seed,
                ..Faults::default()
            })?,
            Fault::ErrorsOff => sim.set_faults(Faults::default())?,
            Fault::ThrottleStorm { ms } => sim.throttle_storm(Duration::from_millis(ms)),
            Fault::ExpireAccessTokens => sim.expire_access_tokens(),
            Fault::ExpireDeltaTokens => sim.expire_delta_tokens(),
            Fault::ExpireSubscriptions => sim.expire_subscriptions(None),
            Fault::Notifications {
                drop,
                duplicate,
                reorder,
                delay_ms,
            } => sim.set_notification_faults(NotificationConfig {
                drop,
                duplicate,
                reorder,
                delay_jitter_ms: delay_ms,
                seed: Some(self.seed),
                ..notification_base()
            })?,
            Fault::NotificationsOff => sim.set_notification_faults(notification_base())?,
            Fault::Downloads { reset, truncate } => sim.set_faults(Faults {
                download_reset_rate: reset,
                download_truncate_rate: truncate,
                seed: self.seed,
                ..Faults::default()
            })?,
            Fault::DownloadsOff => sim.set_faults(Faults::default())?,
            Fault::ExpireDownloadUrls => sim.expire_download_urls(),
        }
        Ok(())
    }

    /// Lifts every fault (the start of quiescence).
    pub fn calm(&mut self) -> crate::Result<()> {
        self.sim.set_faults(Faults::default())?;
        self.sim.set_notification_faults(notification_base())?;
        self.sim.throttle_storm(Duration::ZERO);
        Ok(())
    }
}

/// Faithful delivery with quick retries (a short-lived engine restart is not an outage).
pub fn notification_base() -> NotificationConfig {
    NotificationConfig {
        retry_base_ms: 200,
        retry_max_ms: 2000,
        ..NotificationConfig::default()
    }
}

/// Items below each folder, by folder id.
fn subtree_sizes(snap: &[SnapshotItem]) -> HashMap<&str, usize> {
    let parent: HashMap<&str, &str> = snap
        .iter()
        .filter_map(|i| Some((i.id.as_str(), i.parent_id.as_deref()?)))
        .collect();
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for item in snap {
        let mut at = item.id.as_str();
        while let Some(&p) = parent.get(at) {
            *sizes.entry(p).or_default() += 1;
            at = p;
        }
    }
    sizes
}
