//! `m365sync run`, `status` and `events`: the engine from the command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use m365sync::{Ack, Config, Database, Engine, Event, EventKind};

/// Flags of `m365sync run`.
#[derive(Args)]
pub struct RunArgs {
    /// Configuration file (JSON).
    #[arg(long)]
    config: PathBuf,
    /// Print every event as a JSON line on stdout and ack it.
    #[arg(long)]
    print_events: bool,
}

/// Flags of `m365sync status`.
#[derive(Args)]
pub struct StatusArgs {
    /// The engine's SQLite database.
    #[arg(long)]
    db: PathBuf,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Flags of `m365sync events`.
#[derive(Args)]
pub struct EventsArgs {
    /// The engine's SQLite database.
    #[arg(long)]
    db: PathBuf,
    /// Print events with a seq greater than this.
    #[arg(long, default_value_t = 0)]
    since: i64,
    /// Keep waiting for new events (until Ctrl-C).
    #[arg(long)]
    follow: bool,
    /// One JSON object a line.
    #[arg(long)]
    json: bool,
}

/// Runs the engine until Ctrl-C.
pub fn run(args: RunArgs) -> Result<(), String> {
    let config = Config::from_file(&args.config).map_err(|e| e.to_string())?;
    let engine = Engine::open(config).map_err(|e| e.to_string())?;
    if args.print_events {
        engine.set_event_handler(|event| {
            println!("{}", event_json(event));
            Ack::Ok
        });
    }
    let stop = ctrl_c_flag()?;
    engine.start().map_err(|e| e.to_string())?;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
    }
    log::info!("Ctrl-C: stopping after the pages in flight");
    engine.stop();
    Ok(())
}

/// Prints the state kept in a database.
pub fn status(args: StatusArgs) -> Result<(), String> {
    let status = open_existing(&args.db)?
        .status()
        .map_err(|e| e.to_string())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&status).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "{:<44} {:<10} {:<8} {:>10} {:<6} last error",
        "drive", "state", "mode", "items", "cursor"
    );
    for d in &status.drives {
        println!(
            "{:<44} {:<10} {:<8} {:>10} {:<6} {}",
            d.id,
            d.state,
            if d.removed { "removed" } else { &d.mode },
            d.items,
            d.cursor,
            d.last_error.as_deref().unwrap_or("-")
        );
    }
    if let Some(t) = &status.throttle {
        println!(
            "throttle: {} requests, {} throttled, {} retries, paused {} ms, {} RU",
            t.requests, t.throttled, t.retries, t.paused_ms, t.ru_spent
        );
    }
    if status.drives.iter().any(|d| d.audits > 0) {
        println!("drift audits (changes delta had not reported):");
        for d in status.drives.iter().filter(|d| d.audits > 0) {
            println!(
                "  {:<44} {} audits, last found {}, {} in all",
                d.id,
                d.audits,
                d.last_audit_drift.unwrap_or(0),
                d.drift_total
            );
        }
        println!("  total drift: {}", status.drift_total);
    }
    println!(
        "journal: last seq {}, acked {}; events by kind: {}",
        status.last_seq,
        status.acked_seq,
        status
            .events_by_kind
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

/// Prints journal events, optionally following new ones.
pub fn events(args: EventsArgs) -> Result<(), String> {
    let store = open_existing(&args.db)?;
    let stop = ctrl_c_flag()?;
    let mut after = args.since;
    loop {
        let batch = store.events_after(after, 1000).map_err(|e| e.to_string())?;
        for event in &batch {
            if args.json {
                println!("{}", event_json(event));
            } else {
                println!("{}", event_line(event));
            }
            after = event.seq;
        }
        if batch.is_empty() {
            if !args.follow || stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Acks every event and hands a copy to the returned channel (for the demo and the
/// One event as a JSON object (the format of `events --json` and `run --print-events`).
pub fn event_json(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

/// One event as a human-readable line.
pub fn event_line(event: &Event) -> String {
    let mut line = format!(
        "{:>8} {:<20} {}",
        event.seq,
        event.kind.as_str(),
        event.path
    );
    if !event.old_path.is_empty() {
        line.push_str(&format!("  (was {})", event.old_path));
    }
    if event.kind == EventKind::ContentStored {
        line.push_str(&format!("  -> {}", event.detail));
    } else if let Some(change) = event.permission_change() {
        let source = change.inherited_from.map_or_else(
            || "unique".to_owned(),
            |from| format!("inherits from {from}"),
        );
        line.push_str(&format!(
            "  +{} -{} grants, {source}, {} items",
            change.added.len(),
            change.removed.len(),
            change.affected
        ));
    } else if !event.kind.is_item_change() {
        line.push_str(&format!("drive {} {}", event.drive_id, event.detail));
    }
    line
}

fn open_existing(db: &Path) -> Result<Database, String> {
    Database::open(db).map_err(|e| e.to_string())
}

/// A flag set by Ctrl-C (installed once per process).
pub fn ctrl_c_flag() -> Result<Arc<AtomicBool>, String> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    ctrlc::set_handler(move || f.store(true, Ordering::SeqCst))
        .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    Ok(flag)
}
