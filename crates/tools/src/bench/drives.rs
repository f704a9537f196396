//! `m365sync bench crawl --drives N`: the first crawl of a tenant of many small
//! OneDrives against a binding resource-unit budget.
//!
//! Each OneDrive's first crawl is one or two delta pages, so the engine is limited by the
//! budget, not by its store: the figures say how much of the budget the crawl used
//! (`ru_utilization`, target ≥ 0.9) and whether it ever overran it (429s and requests
//! sent during a Retry-After, both targets 0). As in `bench throttle`, the simulator's
//! window is Graph's minute scaled down (`--window-secs`), with Retry-After twice the
//! window.

use std::time::{Duration, Instant};

use m365sync::{Config, Database, DriveState, Engine};
use m365sync_sim::{SimConfig, SimStats, Simulator};
use serde_json::json;

use crate::error::message as err;

/// The set-up of a many-drives run.
pub(crate) struct DrivesBench {
    /// OneDrives (one per user); the tenant's root site adds one library.
    pub drives: u32,
    /// Items per OneDrive.
    pub items_per_drive: u64,
    /// The simulator's budget per window.
    pub ru_per_window: u64,
    /// The simulator's window.
    pub window_secs: u64,
}

/// How long the crawl of every drive may take.
const PATIENCE: Duration = Duration::from_secs(1800);

/// Crawls every drive and returns the summary.
pub(crate) fn run(b: &DrivesBench) -> Result<serde_json::Value, String> {
    if b.drives == 0 || b.ru_per_window == 0 || b.window_secs == 0 {
        return Err("--drives, --ru-per-window and --window-secs must be at least 1".into());
    }
    let all_drives = u64::from(b.drives) + 1;
    let sim_config: SimConfig = serde_json::from_value(json!({
        "sites": 1, "libraries_per_site": 1, "users": b.drives, "users_without_drive": 0,
        "items": all_drives * b.items_per_drive, "depth": 3, "seed": 5,
        "throttle": {
            "ru_per_minute": b.ru_per_window,
            "window_secs": b.window_secs,
            "retry_after_secs": 2 * b.window_secs,
        },
    }))
    .map_err(|e| e.to_string())?;
    let sim = Simulator::start(sim_config).map_err(err)?;
    let dir = std::env::temp_dir().join(format!("m365sync-bench-drives-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let database = dir.join("bench.db");
    let config = Config::from_json(
        &sim.engine_config(json!({
            "database": database,
            "workers": 4,
            "poll_interval_secs": 3600,
            "emit_initial_items": true,
            // The engine's budget is a rate: the window's units per scaled minute.
            "throttle": {"ru_per_minute": b.ru_per_window * 60 / b.window_secs},
        }))
        .to_string(),
    )
    .map_err(err)?;
    let result = Engine::open(config)
        .map_err(err)
        .and_then(|engine| measure(b, &sim, &engine, &database, all_drives));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(
    b: &DrivesBench,
    sim: &Simulator,
    engine: &Engine,
    database: &std::path::Path,
    all_drives: u64,
) -> Result<serde_json::Value, String> {
    let before = sim.stats();
    let started = Instant::now();
    engine.start().map_err(err)?;
    // The drives table, not `Engine::status`: the status counts pending downloads over
    // every item, which would cost the engine's core more than the crawl's own queries.
    let store = Database::open(database).map_err(err)?;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let drives = store.drives().map_err(err)?;
        let synced = drives
            .iter()
            .filter(|d| d.state == DriveState::Synced)
            .count();
        if synced as u64 == all_drives {
            break;
        }
        if started.elapsed() > PATIENCE {
            engine.stop();
            return Err(format!(
                "{synced} of {all_drives} drives crawled in 30 minutes"
            ));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = sim.stats();
    engine.stop();
    let budget = b.ru_per_window as f64 * elapsed / b.window_secs as f64;
    let used = after.ru_used - before.ru_used;
    let requests = graph_requests(&after) - graph_requests(&before);
    let items = all_drives * b.items_per_drive;
    Ok(json!({
        "drives": all_drives,
        "items": items,
        "ru_per_window": b.ru_per_window,
        "window_secs": b.window_secs,
        "crawl_secs": crate::bench::crawl::round2(elapsed),
        "drives_per_sec": crate::bench::crawl::round2(all_drives as f64 / elapsed),
        "requests": requests,
        "ru_used": used,
        "ru_budget": budget.round(),
        "ru_utilization": (used as f64 / budget * 1000.0).round() / 1000.0,
        "throttled": after.throttled - before.throttled,
        "violations": after.violations,
    }))
}

/// Requests on Graph routes (the token endpoint is not metered).
pub(crate) fn graph_requests(stats: &SimStats) -> u64 {
    stats
        .requests_by_route
        .iter()
        .filter(|(route, _)| !route.contains("/oauth2/") && !route.contains("/_sim/"))
        .map(|(_, n)| n)
        .sum()
}
