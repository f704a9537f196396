//! `m365sync demo`: the simulator and the engine in one process, end to end.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use crossbeam_channel::Receiver;
use indicatif::{ProgressBar, ProgressStyle};
use m365sync::{Config, Database, Engine, Event, EventKind};
use m365sync_sim::{ItemPatch, SimConfig, Simulator};
use m365sync_tools::{forward_events, verify};

use crate::run::event_line;
use serde_json::json;

use crate::err;

/// Flags of `m365sync demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Items in the generated tenant (files and folders over all drives).
    #[arg(long, default_value_t = 50_000)]
    items: u64,
    /// Print a JSON summary as the last line.
    #[arg(long)]
    json: bool,
}

/// How long the demo waits for one scripted change to show up as events.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the demo; the exit status is non-zero unless the mirror matches the truth
/// and no request was sent while a Retry-After was in force.
pub fn demo(args: DemoArgs) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("m365sync-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run_demo(&args, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_demo(args: &DemoArgs, dir: &std::path::Path) -> Result<(), String> {
    let sim_config: SimConfig = serde_json::from_value(json!({
        "sites": 3, "libraries_per_site": 2, "users": 4, "users_without_drive": 1,
        "items": args.items, "depth": 4, "seed": 7,
        "token_lifetime_secs": 120,
        // Small files (a median of 8 KiB, at most 1 MiB), so that the managed mirror
        // of one drive takes seconds.
        "file_sizes": {"median_bytes": 8192, "max_bytes": 1048576},
        "throttle": {"ru_per_minute": 60000},
        "faults": {"error_503_rate": 0.001, "reset_rate": 0.01}
    }))
    .map_err(|e| format!("demo simulator config: {e}"))?;
    let sim = Simulator::start(sim_config).map_err(err)?;
    let drives: Vec<String> = sim.drives().into_iter().map(|d| d.id).collect();
    say(
        args,
        &format!(
            "simulator at {} with {} drives and {} items",
            sim.url(),
            drives.len(),
            sim.item_count()
        ),
    );

    let database = dir.join("demo.db");
    let mirror = dir.join("mirror");
    let mirrored = vec![drives[0].clone()];
    let config = Config::from_json(
        &sim.engine_config(json!({
            "database": database,
            "workers": 4,
            // Loopback: a reply that never comes (seen now and then with the injected
            // resets) should cost seconds, not the 30 s default.
            "http_timeout_secs": 5,
            // Webhooks against the simulator: the listener takes a free loopback
            // port and, with no public_url, subscriptions point at that address.
            // Polling remains only as the fallback for drives without a subscription.
            "poll_interval_secs": 30,
            "webhook": {"listen": "127.0.0.1:0", "retry_secs": 1},
            "throttle": {"ru_per_minute": 54000},
            // The managed mirror keeps a copy of every file of the first drive.
            "download": {"dir": mirror, "drives": mirrored, "ru_share": 0.8},
            // Who can reach each item: the permission-hierarchy roots are fetched.
            "permissions": {"fetch": true}
        }))
        .to_string(),
    )
    .map_err(err)?;
    let engine = Engine::open(config).map_err(err)?;
    let events = forward_events(&engine);
    let started = Instant::now();
    engine.start().map_err(err)?;
    crawl_with_progress(args, &engine, sim.item_count(), drives.len())?;
    let crawl_secs = started.elapsed().as_secs_f64();
    say(args, &format!("crawl finished in {crawl_secs:.1} s"));
    mirror_with_progress(args, &engine, &drives[0])?;
    let mirror_secs = started.elapsed().as_secs_f64() - crawl_secs;
    say(
        args,
        &format!(
            "mirror of the first drive complete after {mirror_secs:.1} s more; now changing files:"
        ),
    );
    while events.try_recv().is_ok() {}

    let mut script = Script {
        sim: &sim,
        engine: &engine,
        events: &events,
        args,
        seen: BTreeMap::new(),
    };
    script.run(&drives[0])?;

    let copies = settled_copies(&sim, &mirror, &mirrored)?;
    engine.stop();
    let store = Database::open(&database).map_err(err)?;
    let diffs = verify::tenant_diff(&store, &sim, 10).map_err(err)?;
    let access = verify::permission_diff(&store, &sim, 10).map_err(err)?;
    for d in diffs.iter().chain(&copies).chain(&access) {
        say(args, &format!("mirror differs: {d}"));
    }
    let status = engine.status().map_err(err)?;
    let stats = sim.stats();
    let throttle = status.throttle.unwrap_or_default();
    let summary = json!({
        "items": status.total_items(),
        "drives": drives.len(),
        "crawl_secs": (crawl_secs * 10.0).round() / 10.0,
        "events": status.events_by_kind,
        "live_events": script.seen,
        "requests": stats.requests,
        "throttled": stats.throttled,
        "engine_throttle_pauses": throttle.throttled,
        "violations": stats.violations,
        "modes": status.drives.iter().map(|d| d.mode.as_str()).fold(BTreeMap::<&str, u64>::new(), |mut m, k| { *m.entry(k).or_default() += 1; m }),
        "notifications_accepted": status.notifications.as_ref().map_or(0, |n| n.accepted),
        "mirror_matches_truth": diffs.is_empty(),
        "files_stored": status.mirror.map_or(0, |m| m.files_stored),
        "mb_stored": status.mirror.map_or(0.0, |m| (m.bytes_stored as f64 / 1e5).round() / 10.0),
        "copies_match_truth": copies.is_empty(),
        "permission_roots": status.drives.iter().map(|d| d.permission_roots).sum::<u64>(),
        "permissions_match_truth": access.is_empty(),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!("\nsummary");
        for (key, value) in summary.as_object().into_iter().flatten() {
            println!("  {key:<22} {value}");
        }
    }
    if stats.violations == 0 && diffs.is_empty() && copies.is_empty() && access.is_empty() {
        Ok(())
    } else {
        Err("the demo found throttle violations, or a mirror or permissions that differ from the truth".into())
    }
}

fn say(args: &DemoArgs, line: &str) {
    if args.json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// Shows a progress bar until every drive has finished its first crawl.
fn crawl_with_progress(
    args: &DemoArgs,
    engine: &Engine,
    items: u64,
    drives: usize,
) -> Result<(), String> {
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(items)
    };
    bar.set_style(
        ProgressStyle::with_template("crawl [{bar:40}] {pos}/{len} items  {per_sec}  {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        bar.set_position(engine.progress().items.load(Ordering::Relaxed).min(items));
        let status = engine.status().map_err(|e| e.to_string())?;
        let synced = status.drives.iter().filter(|d| d.state == "synced").count();
        bar.set_message(format!("{synced}/{drives} drives synced"));
        if synced == drives {
            bar.set_position(items);
            bar.finish();
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the crawl did not finish within 10 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Shows a progress bar until the managed mirror holds every file of `drive`.
fn mirror_with_progress(args: &DemoArgs, engine: &Engine, drive: &str) -> Result<(), String> {
    let pending = || -> Result<u64, String> {
        let status = engine.status().map_err(err)?;
        Ok(status
            .drives
            .iter()
            .find(|d| d.id == drive)
            .map_or(0, |d| d.downloads_pending))
    };
    let stored = || engine.progress().files_stored.load(Ordering::Relaxed);
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(pending()? + stored())
    };
    bar.set_style(
        ProgressStyle::with_template("mirror [{bar:40}] {pos}/{len} files  {per_sec}  {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let left = pending()?;
        bar.set_position(stored());
        let mb = engine.progress().bytes_stored.load(Ordering::Relaxed) as f64 / 1e6;
        bar.set_message(format!("{mb:.1} MB"));
        if left == 0 {
            bar.finish();
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the mirror was not complete within 10 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (up to a minute) until the mirror's copies of `drives` equal the truth: the
/// last changes may still be downloading or being removed. Returns what differs then.
fn settled_copies(
    sim: &Simulator,
    dir: &std::path::Path,
    drives: &[String],
) -> Result<Vec<String>, String> {
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    loop {
        let diffs = verify::mirror_copies(sim, dir, drives, 10).map_err(err)?;
        if diffs.is_empty() || Instant::now() > deadline {
            return Ok(diffs);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The scripted series of changes, each awaited as events.
struct Script<'a> {
    sim: &'a Simulator,
    engine: &'a Engine,
    events: &'a Receiver<Event>,
    args: &'a DemoArgs,
    seen: BTreeMap<String, u64>,
}

impl Script<'_> {
    fn run(&mut self, drive: &str) -> Result<(), String> {
        let sim = self.sim;
        let root = sim.root_id(drive).map_err(err)?;
        let folder = sim
            .create_item(drive, &root, "Demo", true, b"")
            .map_err(err)?;
        self.expect("create a folder", EventKind::Created)?;
        let file = sim
            .create_item(drive, &folder.id, "report.docx", false, b"first draft")
            .map_err(err)?;
        self.expect("create a file", EventKind::Created)?;
        sim.update_item(
            drive,
            &file.id,
            ItemPatch {
                content: Some(b"final version".to_vec()),
                ..Default::default()
            },
        )
        .map_err(err)?;
        self.expect("edit the file", EventKind::ContentChanged)?;
        let big = largest_folder(sim, drive)?;
        sim.update_item(
            drive,
            &big.0,
            ItemPatch {
                name: Some(format!("{} (renamed)", big.1)),
                ..Default::default()
            },
        )
        .map_err(err)?;
        self.expect("rename a folder", EventKind::Renamed)?;
        sim.update_item(
            drive,
            &file.id,
            ItemPatch {
                parent_id: Some(big.0.clone()),
                ..Default::default()
            },
        )
        .map_err(err)?;
        self.expect("move the file into it", EventKind::Moved)?;
        sim.share_item(drive, &file.id).map_err(err)?;
        self.expect("share the file", EventKind::PermissionsChanged)?;
        if let Some(access) = self
            .engine
            .effective_permissions(drive, &file.id)
            .map_err(err)?
        {
            let grants: Vec<String> = access
                .grants
                .iter()
                .map(|g| match (&g.link, &g.principal) {
                    (Some(l), _) => format!("{} link", l.scope.as_deref().unwrap_or("?")),
                    (None, Some(p)) => p
                        .display_name
                        .clone()
                        .or_else(|| p.email.clone())
                        .unwrap_or_else(|| g.id.clone()),
                    (None, None) => g.id.clone(),
                })
                .collect();
            say(
                self.args,
                &format!("  who can reach it: {}", grants.join(", ")),
            );
        }
        sim.delete_item(drive, &big.0).map_err(err)?;
        self.expect("delete the folder", EventKind::Deleted)?;
        Ok(())
    }

    /// Prints events until one of `kind` arrives.
    fn expect(&mut self, what: &str, kind: EventKind) -> Result<(), String> {
        say(self.args, &format!("\n> {what}"));
        let deadline = Instant::now() + CHANGE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .events
                .recv_timeout(left)
                .map_err(|_| format!("no {kind} event within {CHANGE_TIMEOUT:?} after: {what}"))?;
            *self
                .seen
                .entry(event.kind.as_str().to_string())
                .or_default() += 1;
            say(self.args, &format!("  event {}", event_line(&event)));
            if event.kind == kind {
                return Ok(());
            }
        }
    }
}

/// The folder with the most descendants, directly under the root: (id, name).
fn largest_folder(sim: &Simulator, drive: &str) -> Result<(String, String), String> {
    let snapshot = sim.snapshot(drive).map_err(|e| e.to_string())?;
    let mut best: Option<(usize, String, String)> = None;
    for f in snapshot
        .iter()
        .filter(|i| i.is_folder && i.path.matches('/').count() == 1 && i.path != "/")
    {
        let prefix = format!("{}/", f.path);
        let n = snapshot
            .iter()
            .filter(|i| i.path.starts_with(&prefix))
            .count();
        if best.as_ref().is_none_or(|b| n > b.0) {
            best = Some((n, f.id.clone(), f.name.clone()));
        }
    }
    best.map(|(_, id, name)| (id, name))
        .ok_or_else(|| "the demo drive has no folder to rename".to_string())
}
