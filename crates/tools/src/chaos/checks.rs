//! The end-of-seed checks: mirror = truth, replay of the delivered events = truth,
//! no acked event delivered again, every journal event delivered.

use std::collections::HashSet;
use std::path::Path;

use crate::verify;
use m365sync::{Database, EventKind};
use m365sync_sim::{Simulator, SnapshotItem};

use super::events::{Delivered, Replay};

/// Differences shown per check.
const SHOWN: usize = 5;

/// What the checks found; a seed converged when every list is empty.
#[derive(Debug, Default)]
pub struct Findings {
    /// (a) mirror items that differ from the truth.
    pub mirror: Vec<String>,
    /// (b) items whose replayed state differs from the truth (count, examples).
    pub replay: (usize, Vec<String>),
    /// Journal seqs up to the final ack that were never delivered (count, examples).
    pub undelivered: (usize, Vec<i64>),
    /// (c) deliveries of an event already acked (count, examples as `seq@run`).
    pub duplicates: (usize, Vec<String>),
    /// (f) the managed mirror's copies that differ from the truth, partial files left,
    /// and cTags announced (`content_stored`) more than once.
    pub copies: Vec<String>,
    /// (g) items whose effective permissions in the store differ from the truth.
    pub permissions: Vec<String>,
    /// (h) items whose effective permissions replayed from the delivered
    /// `permissions_changed` events differ from the truth (count, examples).
    pub permission_replay: (usize, Vec<String>),
}

impl Findings {
    /// Events lost: items the event stream got wrong plus journal events never delivered.
    pub fn lost_events(&self) -> usize {
        self.replay.0 + self.undelivered.0 + self.permission_replay.0
    }
}

/// The truth of every drive.
pub fn truths(sim: &Simulator) -> crate::Result<Vec<(String, Vec<SnapshotItem>)>> {
    sim.drives()
        .into_iter()
        .map(|d| Ok((d.id.clone(), sim.snapshot(&d.id)?)))
        .collect()
}

/// Runs the checks on a quiescent seed. `acked_at_kill[r]` is the consumer's acked seq
/// read from the database after run `r` was killed.
pub fn check(
    sim: &Simulator,
    db: &Path,
    mirror: Option<&Path>,
    sharing: bool,
    delivered: &[Delivered],
    acked_at_kill: &[i64],
) -> crate::Result<Findings> {
    let store = Database::open(db)?;
    let mut f = Findings {
        mirror: verify::tenant_diff(&store, sim, SHOWN)?,
        ..Findings::default()
    };
    let truths = truths(sim)?;
    let replay = Replay::of(delivered);
    f.replay.0 = replay.diff_count(&truths);
    for (drive, truth) in &truths {
        let left = SHOWN.saturating_sub(f.replay.1.len());
        f.replay.1.extend(replay.diff(drive, truth, left));
    }
    let acked = store.acked_seq()?;
    let seen: HashSet<i64> = delivered.iter().map(|d| d.event.seq).collect();
    let mut stored: HashSet<(String, String, String)> = HashSet::new();
    if let Some(mirror) = mirror {
        f.copies = verify::mirror_copies(sim, mirror, &[], SHOWN)?;
    }
    if sharing {
        f.permissions = verify::permission_diff(&store, sim, SHOWN)?;
        f.permission_replay = super::sharing::replay_diff(sim, delivered, SHOWN)?;
    }
    let mut after = 0;
    loop {
        let batch = store.events_after(after, 10_000)?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for e in batch.iter().filter(|e| e.kind == EventKind::ContentStored) {
            let key = (e.drive_id.clone(), e.item_id.clone(), e.ctag.clone());
            if !stored.insert(key) && f.copies.len() < SHOWN {
                f.copies.push(format!(
                    "cTag {} of {}/{} announced twice (seq {})",
                    e.ctag, e.drive_id, e.item_id, e.seq
                ));
            }
        }
        for e in batch
            .iter()
            .filter(|e| e.seq <= acked && !seen.contains(&e.seq))
        {
            f.undelivered.0 += 1;
            if f.undelivered.1.len() < SHOWN {
                f.undelivered.1.push(e.seq);
            }
        }
    }
    f.duplicates = duplicates(delivered, acked_at_kill);
    Ok(f)
}

/// Deliveries of a seq that run had already delivered, or that an earlier run had acked.
fn duplicates(delivered: &[Delivered], acked_at_kill: &[i64]) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut shown = Vec::new();
    let mut in_run: HashSet<(usize, i64)> = HashSet::new();
    for d in delivered {
        let acked_before = acked_at_kill[..d.run.min(acked_at_kill.len())]
            .iter()
            .copied()
            .max()
            .unwrap_or(0);
        if d.event.seq <= acked_before || !in_run.insert((d.run, d.event.seq)) {
            count += 1;
            if shown.len() < SHOWN {
                shown.push(format!("{}@run{}", d.event.seq, d.run));
            }
        }
    }
    (count, shown)
}

#[cfg(test)]
mod tests {
    use super::super::events::WireEvent;
    use super::*;

    fn at(run: usize, seq: i64) -> Delivered {
        Delivered {
            run,
            event: WireEvent {
                seq,
                kind: "created".into(),
                drive_id: "d".into(),
                item_id: format!("i{seq}"),
                path: format!("/{seq}"),
                ctag: String::new(),
                etag: String::new(),
                size: 0,
                is_folder: false,
                detail: String::new(),
            },
        }
    }

    #[test]
    fn redelivery_of_unacked_events_is_fine_of_acked_ones_is_not() {
        // Run 0 printed 1..=3 and acked 2 before the kill: 3 may come again, 2 may not.
        let ok = [at(0, 1), at(0, 2), at(0, 3), at(1, 3), at(1, 4)];
        assert_eq!(duplicates(&ok, &[2]).0, 0);
        let bad = [at(0, 1), at(0, 2), at(1, 2), at(1, 3), at(1, 3)];
        assert_eq!(
            duplicates(&bad, &[2]),
            (2, vec!["2@run1".into(), "3@run1".into()])
        );
    }
}
