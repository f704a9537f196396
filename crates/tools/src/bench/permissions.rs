//! `m365sync bench permissions`: what fetching permission details costs. A drive with a
//! few hundred permission-hierarchy roots is crawled with `permissions.fetch`: requests
//! and RU against the roots (the target is one request per root plus extra pages, never
//! one per item); then some roots change and the cost per changed root is counted;
//! then an effective-permission lookup is timed on a drive of a million items.
//!
//! The simulator runs in this process, the engine as `m365sync run` in a child.

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;
use m365sync::{Database, DriveState};
use m365sync_sim::{SharingConfig, SimConfig, SimStats, Simulator};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::bench::crawl::{round2, run_engine_until};
use crate::error::message as err;

/// Flags of `m365sync bench permissions`.
#[derive(Args)]
pub struct PermissionsBenchArgs {
    /// Items of the drive whose first crawl is counted.
    #[arg(long, default_value_t = 100_000)]
    items: u64,
    /// Folders with unique permissions, per thousand (files get a fifth of it).
    #[arg(long, default_value_t = 10)]
    unique_folder_permille: u32,
    /// Roots given so many grants that their permissions span several pages.
    #[arg(long, default_value_t = 3)]
    paged_roots: usize,
    /// Roots changed (a guest granted) after the crawl.
    #[arg(long, default_value_t = 50)]
    changed_roots: usize,
    /// Items of the drive the lookup is timed on (0 skips that phase).
    #[arg(long, default_value_t = 1_000_000)]
    query_items: u64,
    /// Lookups timed.
    #[arg(long, default_value_t = 2000)]
    lookups: usize,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

/// Grants given to each paged root: beyond the simulator's page of 100.
const PAGED_GRANTS: usize = 150;

/// Runs the benchmark and prints its figures.
pub fn permissions(args: PermissionsBenchArgs) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("m365sync-bench-perm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run(&args, &exe, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    crate::bench::print_summary(&result?, args.json);
    Ok(())
}

fn sim_config(items: u64, folder_permille: u32) -> SimConfig {
    SimConfig {
        sites: 1,
        libraries_per_site: 1,
        users: 0,
        users_without_drive: 0,
        items,
        depth: 5,
        seed: 9,
        sharing: SharingConfig {
            unique_folder_permille: folder_permille,
            unique_file_permille: folder_permille / 5,
            ..SharingConfig::default()
        },
        ..SimConfig::default()
    }
}

/// The engine's configuration for `sim`'s only drive, fetching permissions.
fn engine_config(sim: &Simulator, db: &Path, drive: &str) -> serde_json::Value {
    sim.engine_config(json!({
        "database": db, "drives": [drive], "workers": 2, "poll_interval_secs": 1,
        "permissions": {"fetch": true},
    }))
}

/// Whether the drive is synced with every permission fetched.
fn settled(store: &Database, drive: &str) -> m365sync::Result<bool> {
    let synced = store
        .drive(drive)?
        .is_some_and(|d| d.state == DriveState::Synced);
    Ok(synced && store.permission_counts(drive)?.1 == 0 && store.permission_counts(drive)?.0 > 0)
}

fn run(args: &PermissionsBenchArgs, exe: &Path, dir: &Path) -> Result<serde_json::Value, String> {
    let sim = Simulator::start(sim_config(args.items, args.unique_folder_permille)).map_err(err)?;
    let drive = sim.drives().remove(0).id;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut roots: Vec<String> = sim.permission_roots(&drive).map_err(err)?;
    let root_item = sim.root_id(&drive).map_err(err)?;
    roots.retain(|r| *r != root_item);
    for (i, root) in roots.iter().take(args.paged_roots).enumerate() {
        for g in 0..PAGED_GRANTS {
            sim.grant(
                &drive,
                root,
                &format!("guest:p{i}g{g}@partner1.example"),
                &["read"],
            )
            .map_err(err)?;
        }
    }
    let hierarchy_roots = roots.len() + 1;

    let db = dir.join("bench.db");
    let before = sim.stats();
    let config = engine_config(&sim, &db, &drive);
    let mut crawl_secs = 0.0;
    let mut changed = json!(null);
    // One engine run for the crawl and the changes: the second phase starts once the
    // first settled, inside the same run.
    let mut phase = 0;
    let mut crawl_stats = None;
    let mut change_started = before.clone();
    let mut targets: Vec<(String, String)> = Vec::new();
    let started = Instant::now();
    run_engine_until(exe, dir, &config, &db, |store| {
        if phase == 0 {
            if !settled(store, &drive)? {
                return Ok(false);
            }
            crawl_secs = started.elapsed().as_secs_f64();
            let now = sim.stats();
            crawl_stats = Some(delta(&before, &now));
            change_started = now;
            let picked = rand::seq::index::sample(
                &mut rng,
                roots.len(),
                args.changed_roots.min(roots.len()),
            );
            for (n, i) in picked.into_iter().enumerate() {
                let root = roots[i].clone();
                let guest = format!("changed{n}@partner2.example");
                sim.grant(&drive, &root, &format!("guest:{guest}"), &["read"])
                    .map_err(|e| {
                        m365sync::Error::State(format!("the simulator refused a grant: {e}"))
                    })?;
                targets.push((root, guest));
            }
            phase = 1;
            return Ok(false);
        }
        for (root, guest) in &targets {
            let e = store.effective_permissions(&drive, root)?;
            if !e.is_some_and(|e| e.grants.iter().any(|g| g.names(guest))) {
                return Ok(false);
            }
        }
        settled(store, &drive)
    })?;
    let crawl = crawl_stats.ok_or("the crawl never settled")?;
    let change = delta(&change_started, &sim.stats());
    if !targets.is_empty() {
        let n = targets.len() as f64;
        changed = json!({
            "roots": targets.len(),
            "permission_requests_per_root": round2(change.permission_requests as f64 / n),
            "ru_per_root": round2(change.ru_used as f64 / n),
        });
    }
    let mut summary = json!({
        "items": args.items,
        "roots": hierarchy_roots,
        "permission_requests": crawl.permission_requests,
        "permission_pages": crawl.permission_pages,
        "permission_ru": crawl.permission_requests * 5,
        "first_crawl_ru": crawl.ru_used,
        "first_crawl_secs": round2(crawl_secs),
        "requests_per_root": round2(crawl.permission_requests as f64 / hierarchy_roots as f64),
        "within_target": crawl.permission_requests <= (hierarchy_roots as u64 + crawl.permission_pages),
        "changed": changed,
    });
    drop(sim);
    if args.query_items > 0 {
        let (items, query) = query_phase(args, exe, dir)?;
        summary["query_items"] = json!(items);
        summary["query_ms"] = query;
    }
    Ok(summary)
}

/// The traffic between two readings of the simulator's counters.
fn delta(a: &SimStats, b: &SimStats) -> SimStats {
    SimStats {
        permission_requests: b.permission_requests - a.permission_requests,
        permission_pages: b.permission_pages - a.permission_pages,
        ru_used: b.ru_used - a.ru_used,
        ..b.clone()
    }
}

/// Crawls a drive of `query_items` and times effective-permission lookups of random
/// items: (items crawled, `{p50, p99, max}` in ms).
fn query_phase(
    args: &PermissionsBenchArgs,
    exe: &Path,
    dir: &Path,
) -> Result<(u64, serde_json::Value), String> {
    let sim =
        Simulator::start(sim_config(args.query_items, args.unique_folder_permille)).map_err(err)?;
    let drive = sim.drives().remove(0).id;
    let ids: Vec<String> = sim
        .snapshot(&drive)
        .map_err(err)?
        .into_iter()
        .map(|i| i.id)
        .collect();
    let db = dir.join("query.db");
    let config = engine_config(&sim, &db, &drive);
    run_engine_until(exe, dir, &config, &db, |store| settled(store, &drive))?;
    let store = Database::open(&db).map_err(err)?;
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let mut times: Vec<Duration> = Vec::with_capacity(args.lookups);
    for _ in 0..args.lookups {
        let id = &ids[rng.random_range(0..ids.len())];
        let t = Instant::now();
        let found = store.effective_permissions(&drive, id).map_err(err)?;
        times.push(t.elapsed());
        if !found.is_some_and(|e| e.known) {
            return Err(format!("item {id} has no known permissions"));
        }
    }
    times.sort();
    // Milliseconds to the microsecond.
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    Ok((
        ids.len() as u64,
        json!({"p50": ms(at(0.5)), "p99": ms(at(0.99)), "max": ms(at(1.0))}),
    ))
}
