//! `m365sync bench` (`crawl`, `throttle`, `download` and `permissions` live in `bench/`) and `bench notify`: change-to-event latency with webhooks, coalescing of a
//! notification burst, and Graph traffic while idle, all against the simulator.

pub mod crawl;
pub mod download;
mod drives;
mod incremental;
pub mod permissions;
pub mod throttle;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use crossbeam_channel::Receiver;
use m365sync::{Config, Engine, Event, EventKind};
use m365sync_sim::{SimConfig, Simulator};

use serde_json::json;

use crate::error::message as err;

/// Flags of `m365sync bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// First crawl of one large drive: engine vs the raw feed, items/s and peak memory.
    Crawl(crate::bench::crawl::CrawlBenchArgs),
    /// Webhook latency, burst coalescing and idle traffic.
    Notify(NotifyArgs),
    /// Share of a binding resource-unit budget spent under churn, 429s and violations.
    Throttle(crate::bench::throttle::ThrottleBenchArgs),
    /// The managed mirror against a raw reader of the same URLs, and one large file.
    Download(crate::bench::download::DownloadBenchArgs),
    /// Permission details: requests and RU per hierarchy root, per changed root, and
    /// the effective-permission lookup on a large drive.
    Permissions(crate::bench::permissions::PermissionsBenchArgs),
}

#[derive(Args)]
struct NotifyArgs {
    /// Sequential changes timed from the simulator to the host's handler.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// Changes made at once on one drive (one notification each).
    #[arg(long, default_value_t = 1000)]
    burst: usize,
    /// `webhook.min_delta_interval_ms` of the engine: spacing of back-to-back runs
    /// under continuous traffic (a notification for an idle drive still runs at once).
    #[arg(long, default_value_t = 250)]
    min_interval_ms: u64,
    /// Seconds of idleness over which Graph requests are counted.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Print one JSON object as the last stdout line.
    #[arg(long)]
    json: bool,
}

/// Hang guard for one awaited event.
const PATIENCE: Duration = Duration::from_secs(60);

/// Runs the chosen benchmark.
pub fn bench(args: BenchArgs) -> Result<(), String> {
    match args.which {
        Bench::Crawl(a) => crate::bench::crawl::crawl(a),
        Bench::Notify(a) => notify(&a),
        Bench::Throttle(a) => crate::bench::throttle::throttle(a),
        Bench::Download(a) => crate::bench::download::download(a),
        Bench::Permissions(a) => crate::bench::permissions::permissions(a),
    }
}

fn notify(args: &NotifyArgs) -> Result<(), String> {
    let sim_config: SimConfig = serde_json::from_value(json!({
        "sites": 1, "libraries_per_site": 1, "users": 0, "users_without_drive": 0,
        "items": 100, "depth": 2, "seed": 11,
        "notifications": {"delay_ms": 0, "retry_base_ms": 50}
    }))
    .map_err(|e| e.to_string())?;
    let sim = Simulator::start(sim_config).map_err(err)?;
    let drive = sim.drives().remove(0).id;
    let dir = std::env::temp_dir().join(format!("m365sync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let config = Config::from_json(
        &sim.engine_config(json!({
            "database": dir.join("bench.db"), "drives": [drive],
            "poll_interval_secs": 3600,
            "webhook": {"listen": "127.0.0.1:0", "min_delta_interval_ms": args.min_interval_ms}
        }))
        .to_string(),
    )
    .map_err(err)?;
    let engine = Engine::open(config).map_err(err)?;
    let events = crate::forward_events(&engine);
    engine.start().map_err(err)?;
    let result = measure(args, &sim, &engine, &drive, &events);
    engine.stop();
    let _ = std::fs::remove_dir_all(&dir);
    print_summary(&result?, args.json);
    Ok(())
}

/// Prints a benchmark's figures: one JSON line with `json`, else one figure a line.
/// Adds the fields of the object `extra` to the object `summary`.
pub(crate) fn merge_fields(summary: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(from)) = (summary.as_object_mut(), extra) {
        into.extend(from);
    }
}

pub(crate) fn print_summary(summary: &serde_json::Value, json: bool) {
    if json {
        println!("{summary}");
    } else {
        for (key, value) in summary.as_object().into_iter().flatten() {
            println!("{key:<20} {value}");
        }
    }
}

fn measure(
    args: &NotifyArgs,
    sim: &Simulator,
    engine: &Engine,
    drive: &str,
    events: &Receiver<Event>,
) -> Result<serde_json::Value, String> {
    wait_for(PATIENCE, "a live subscription", || {
        let status = engine.status().map_err(err)?;
        Ok(status
            .drives
            .iter()
            .all(|d| d.mode == "webhook" && d.state == "synced"))
    })?;
    settle(engine)?;
    while events.try_recv().is_ok() {}

    // 1. Latency: one change at a time, from the simulator to the handler.
    let mut latencies = Vec::with_capacity(args.changes);
    for i in 0..args.changes {
        let name = format!("latency-{i}.txt");
        let started = Instant::now();
        sim.create_item(drive, "root", &name, false, b"x")
            .map_err(err)?;
        loop {
            let event = events
                .recv_timeout(PATIENCE)
                .map_err(|_| format!("no event for {name}"))?;
            if event.kind == EventKind::Created && event.path.ends_with(&name) {
                break;
            }
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |v| (v * 100.0).round() / 100.0)
    };
    let (p50, p99) = (pct(0.50), pct(0.99));
    settle(engine)?;

    // 2. Burst: many changes at once, one notification each.
    let jobs_before = engine.progress().jobs_completed.load(Ordering::SeqCst);
    let accepted_before = notifications_accepted(engine)?;
    for i in 0..args.burst {
        sim.create_item(drive, "root", &format!("burst-{i}.txt"), false, b"x")
            .map_err(err)?;
    }
    let mut created = 0;
    while created < args.burst {
        let event = events
            .recv_timeout(PATIENCE)
            .map_err(|_| "the burst did not arrive".to_string())?;
        if event.kind == EventKind::Created {
            created += 1;
        }
    }
    wait_for(PATIENCE, "the burst's notifications", || {
        Ok(notifications_accepted(engine)? - accepted_before >= args.burst as u64)
    })?;
    settle(engine)?;
    let deltas = engine.progress().jobs_completed.load(Ordering::SeqCst) - jobs_before;
    let burst_notifications = notifications_accepted(engine)? - accepted_before;

    // 3. Idle: Graph requests while nothing changes.
    let before = sim.stats().requests;
    std::thread::sleep(Duration::from_secs(args.idle_secs));
    let idle_requests = sim.stats().requests - before;

    Ok(json!({
        "changes": args.changes,
        "p50_ms": p50,
        "p99_ms": p99,
        "burst": args.burst,
        "burst_notifications": burst_notifications,
        "deltas_per_burst": deltas,
        "min_interval_ms": args.min_interval_ms,
        "idle_secs": args.idle_secs,
        "idle_requests": idle_requests,
    }))
}

fn notifications_accepted(engine: &Engine) -> Result<u64, String> {
    let status = engine.status().map_err(|e| e.to_string())?;
    Ok(status.notifications.map_or(0, |n| n.accepted))
}

/// Waits until no delta job has finished for 300 ms (the engine is quiet).
fn settle(engine: &Engine) -> Result<(), String> {
    let mut last = engine.progress().jobs_completed.load(Ordering::SeqCst);
    let mut quiet_since = Instant::now();
    wait_for(PATIENCE, "the engine to settle", || {
        let now = engine.progress().jobs_completed.load(Ordering::SeqCst);
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
        Ok(quiet_since.elapsed() >= Duration::from_millis(300))
    })
}

/// Polls `done` every 10 ms until it says true; an error after `limit`.
pub(crate) fn wait_for(
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !done()? {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
