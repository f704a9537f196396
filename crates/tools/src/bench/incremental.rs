//! The incremental rounds of `bench crawl`: after the first crawl of the large drive, a
//! round that moves the folder holding the most items (one change in the feed; every
//! path below it is rewritten by one statement) and a round of many file edits (one
//! change and one event each). Each is timed from the engine's start on the crawled
//! database to the round's end, the changes having been made beforehand.

use std::collections::HashMap;
use std::path::Path;

use m365sync::Database;
use serde_json::json;

use crate::bench::crawl::{round2, run_engine_until};

/// What the two rounds took.
pub(crate) struct Rounds {
    /// Items below the moved folder (their paths all changed).
    pub move_items: u64,
    /// Seconds of the round that applied the move.
    pub move_secs: f64,
    /// Files edited.
    pub edits: u64,
    /// Seconds of the round that applied the edits.
    pub edit_secs: f64,
}

impl Rounds {
    /// The figures as JSON fields.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "incremental_move_items": self.move_items,
            "incremental_move_secs": round2(self.move_secs),
            "incremental_edits": self.edits,
            "incremental_edit_secs": round2(self.edit_secs),
        })
    }
}

/// Runs both rounds against the simulator at `url` on the engine's crawled `database`
/// (the engine is started with `config`, whose polls are far apart: each round is the
/// job a start runs at once).
pub(crate) fn rounds(
    exe: &Path,
    url: &str,
    config: &serde_json::Value,
    dir: &Path,
    database: &Path,
    drive: &str,
    edits: u64,
) -> Result<Rounds, String> {
    let db = Database::open(database).map_err(|e| e.to_string())?;
    let items = db.items(drive).map_err(|e| e.to_string())?;
    // Items below each top-level folder, by its path.
    let mut below: HashMap<&str, u64> = HashMap::new();
    for item in &items {
        if let Some(top) = item.path.strip_prefix('/').and_then(|p| p.split_once('/')) {
            *below.entry(top.0).or_default() += 1;
        }
    }
    let mut tops: Vec<(&str, u64)> = below.into_iter().collect();
    tops.sort_by_key(|(name, n)| (std::cmp::Reverse(*n), *name));
    let [(moved, move_items), (target, _), ..] = tops[..] else {
        return Err("the drive has fewer than two top-level folders".into());
    };
    let id_at = |name: &str| {
        let path = format!("/{name}");
        items.iter().find(|i| i.path == path).map(|i| i.id.clone())
    };
    let (moved_id, target_id) = id_at(moved)
        .zip(id_at(target))
        .ok_or("a top-level folder has no row")?;
    let files: Vec<String> = items
        .iter()
        .filter(|i| !i.is_folder)
        .take(edits as usize)
        .map(|i| i.id.clone())
        .collect();
    drop(items);

    let agent = ureq::AgentBuilder::new().build();
    let patch = |id: &str, body: serde_json::Value| {
        agent
            .request("PATCH", &format!("{url}/_sim/drives/{drive}/items/{id}"))
            .send_json(body)
            .map(drop)
            .map_err(|e| format!("the simulator refused a change: {e}"))
    };
    patch(&moved_id, json!({ "parent_id": target_id }))?;
    let move_secs = round(exe, config, dir, database, drive, &db, 1)?;
    for id in &files {
        patch(id, json!({ "content": "edited by the incremental round" }))?;
    }
    let edit_secs = round(exe, config, dir, database, drive, &db, files.len() as i64)?;
    Ok(Rounds {
        move_items,
        move_secs,
        edits: files.len() as u64,
        edit_secs,
    })
}

/// Starts the engine and waits until its round journaled `events` more events and
/// reached the deltaLink; the seconds it took.
fn round(
    exe: &Path,
    config: &serde_json::Value,
    dir: &Path,
    database: &Path,
    drive: &str,
    db: &Database,
    events: i64,
) -> Result<f64, String> {
    let before = db.last_seq().map_err(|e| e.to_string())?;
    let last_delta = |store: &Database| -> m365sync::Result<Option<i64>> {
        Ok(store.drive(drive)?.and_then(|d| d.last_delta_ms))
    };
    let delta_before = last_delta(db).map_err(|e| e.to_string())?;
    let (secs, _) = run_engine_until(exe, dir, config, database, |store| {
        Ok(store.last_seq()? >= before + events && last_delta(store)? != delta_before)
    })?;
    Ok(secs)
}
