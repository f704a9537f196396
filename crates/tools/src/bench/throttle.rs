//! `m365sync bench throttle`: how much of a binding resource-unit budget the engine
//! spends without being throttled, with every drive under sustained churn.
//!
//! The simulator meters `--ru-per-window` units per `--window-secs` (Graph: per 60 s;
//! a shorter window shows many windows in a short run, and Retry-After keeps Graph's
//! ratio of twice the window). Every drive has a live subscription and the engine runs
//! delta as soon as a notification arrives, so demand far exceeds the budget: the
//! figures say how close the engine's pacing gets to the budget without a 429.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use m365sync::{Config, Engine};
use m365sync_sim::{ItemPatch, SimConfig, Simulator};

use serde_json::json;

use crate::bench::drives::graph_requests;
use crate::error::message as err;

use crate::bench::crawl::round2;
use crate::bench::wait_for;

/// Flags of `m365sync bench throttle`.
#[derive(Args)]
pub struct ThrottleBenchArgs {
    /// Drives, each under churn.
    #[arg(long, default_value_t = 20)]
    drives: u32,
    /// Resource units the simulator allows per window (Graph: per minute).
    #[arg(long, default_value_t = 300)]
    ru_per_window: u32,
    /// Length of the simulator's budget window in seconds (Graph: 60).
    #[arg(long, default_value_t = 6)]
    window_secs: u64,
    /// Measured seconds, rounded up to whole windows (after one window of warm-up).
    #[arg(long, default_value_t = 90)]
    secs: u64,
    /// Changes per second across all drives (creates and rewrites, round robin).
    #[arg(long, default_value_t = 200)]
    changes_per_sec: u64,
    /// Engine worker threads.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Leave `throttle.ru_per_minute` unset: the engine paces by RateLimit-* headers alone.
    #[arg(long)]
    headers_only: bool,
    /// Print one JSON object as the last stdout line.
    #[arg(long)]
    json: bool,
}

/// Hang guard for the start-up (crawls and subscriptions).
const PATIENCE: Duration = Duration::from_secs(120);
/// The churn thread makes its changes in slices of this length.
const CHURN_TICK: Duration = Duration::from_millis(20);

/// Runs the benchmark and prints its figures.
pub fn throttle(args: ThrottleBenchArgs) -> Result<(), String> {
    if args.drives == 0 || args.ru_per_window == 0 || args.window_secs == 0 || args.secs == 0 {
        return Err(
            "--drives, --ru-per-window, --window-secs and --secs must be at least 1".into(),
        );
    }
    let sim_config: SimConfig = serde_json::from_value(json!({
        "sites": args.drives, "libraries_per_site": 1, "users": 0, "users_without_drive": 0,
        "items": u64::from(args.drives) * 50, "depth": 2, "seed": 8,
        "throttle": {
            "ru_per_minute": args.ru_per_window,
            "window_secs": args.window_secs,
            "retry_after_secs": 2 * args.window_secs,
        },
        "notifications": {"delay_ms": 0},
    }))
    .map_err(|e| e.to_string())?;
    let sim = Simulator::start(sim_config).map_err(err)?;
    let dir = std::env::temp_dir().join(format!("m365sync-bench-throttle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // The engine's budget is a rate: the window's units per scaled minute.
    let ru_per_minute = if args.headers_only {
        0
    } else {
        u64::from(args.ru_per_window) * 60 / args.window_secs
    };
    let config = Config::from_json(
        &sim.engine_config(json!({
            "database": dir.join("bench.db"),
            "workers": args.workers,
            "poll_interval_secs": 3600,
            // tiny_http can leave a kept-alive request queued (README, known issue):
            // a short timeout keeps that from holding a worker for long.
            "http_timeout_secs": 5,
            "webhook": {"listen": "127.0.0.1:0", "min_delta_interval_ms": 0},
            "throttle": {"ru_per_minute": ru_per_minute},
        }))
        .to_string(),
    )
    .map_err(err)?;
    let engine = Engine::open(config).map_err(err)?;
    engine.start().map_err(err)?;
    let result = measure(&args, &sim, &engine);
    engine.stop();
    let _ = std::fs::remove_dir_all(&dir);
    crate::bench::print_summary(&result?, args.json);
    Ok(())
}

fn measure(
    args: &ThrottleBenchArgs,
    sim: &Simulator,
    engine: &Engine,
) -> Result<serde_json::Value, String> {
    wait_for(PATIENCE, "every drive to be crawled and subscribed", || {
        let status = engine.status().map_err(err)?;
        Ok(status.drives.len() == args.drives as usize
            && status
                .drives
                .iter()
                .all(|d| d.mode == "webhook" && d.state == "synced"))
    })?;
    let window = Duration::from_secs(args.window_secs);
    let windows = args.secs.div_ceil(args.window_secs);
    let stop = Arc::new(AtomicBool::new(false));
    let changes = Arc::new(AtomicU64::new(0));
    let result = std::thread::scope(|scope| {
        let churn = scope.spawn(|| churn(sim, args.changes_per_sec, &stop, &changes));
        // One window of warm-up: the engine's pacing reaches its steady state.
        std::thread::sleep(window);
        let before = sim.stats();
        let engine_before = engine.status().map_err(err)?.throttle.unwrap_or_default();
        let started = Instant::now();
        std::thread::sleep(window * u32::try_from(windows).unwrap_or(u32::MAX));
        let after = sim.stats();
        let elapsed = started.elapsed().as_secs_f64();
        let engine_after = engine.status().map_err(err)?.throttle.unwrap_or_default();
        stop.store(true, Ordering::Relaxed);
        churn
            .join()
            .map_err(|_| "the churn thread panicked".to_string())??;
        let budget = f64::from(args.ru_per_window) * elapsed / args.window_secs as f64;
        let used = after.ru_used - before.ru_used;
        let requests = graph_requests(&after) - graph_requests(&before);
        let throttled = after.throttled - before.throttled;
        Ok(json!({
            "drives": args.drives,
            "ru_per_window": args.ru_per_window,
            "window_secs": args.window_secs,
            "measured_secs": round2(elapsed),
            "headers_only": args.headers_only,
            "changes": changes.load(Ordering::Relaxed),
            "requests": requests,
            "ru_used": used,
            "ru_budget": budget.round(),
            "ru_utilization": round3(used as f64 / budget),
            "throttled": throttled,
            "throttled_fraction": round3(throttled as f64 / requests.max(1) as f64),
            "violations": after.violations,
            "engine_waited_ms": engine_after.waited_ms - engine_before.waited_ms,
        }))
    });
    stop.store(true, Ordering::Relaxed);
    result
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Changes files at `per_sec` across every drive until `stop`: each drive gets a file
/// created, then rewritten, in turn.
fn churn(sim: &Simulator, per_sec: u64, stop: &AtomicBool, done: &AtomicU64) -> Result<(), String> {
    let drives: Vec<String> = sim.drives().into_iter().map(|d| d.id).collect();
    let mut files: Vec<Option<String>> = vec![None; drives.len()];
    let started = Instant::now();
    let mut made: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = (started.elapsed().as_secs_f64() * per_sec as f64) as u64;
        while made < due {
            let slot = (made % drives.len() as u64) as usize;
            let drive = &drives[slot];
            match files[slot].take() {
                None => {
                    let item = sim
                        .create_item(drive, "root", &format!("churn-{made}.txt"), false, b"0")
                        .map_err(|e| e.to_string())?;
                    files[slot] = Some(item.id);
                }
                Some(id) => {
                    let patch = ItemPatch {
                        content: Some(made.to_string().into_bytes()),
                        ..ItemPatch::default()
                    };
                    sim.update_item(drive, &id, patch)
                        .map_err(|e| e.to_string())?;
                }
            }
            made += 1;
            done.store(made, Ordering::Relaxed);
        }
        std::thread::sleep(CHURN_TICK);
    }
    Ok(())
}
