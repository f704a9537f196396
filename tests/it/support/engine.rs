//! Helpers shared by the engine's integration tests: a simulator, an engine configured
//! against it with a temporary database, hang-guarded waits, mirror checks and event
//! collection.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;

use m365sync::{Ack, Config, Database, DriveState, Engine, Event, EventKind};
use m365sync_sim::{SimConfig, Simulator};
use m365sync_tools::verify;
use serde_json::{Value, json};

use super::{HANG_GUARD, merge, poll_until, wait_until};

/// A simulator configuration: the defaults, overridden by the fields of `overrides`.
pub fn sim_config(overrides: Value) -> SimConfig {
    let mut base = json!({ "listen": "127.0.0.1:0", "threads": 4 });
    merge(&mut base, overrides);
    serde_json::from_value(base).expect("simulator configuration")
}

/// A tenant with exactly one drive (the root site's library) holding `items` items.
pub fn one_drive_sim(items: u64, overrides: Value) -> Simulator {
    let mut base = json!({
        "sites": 1, "libraries_per_site": 1, "users": 0, "users_without_drive": 0,
        "items": items, "depth": 3, "seed": 11
    });
    merge(&mut base, overrides);
    Simulator::start(sim_config(base)).expect("simulator")
}

/// Every drive id of the simulator.
pub fn drive_ids(sim: &Simulator) -> Vec<String> {
    sim.drives().into_iter().map(|d| d.id).collect()
}

/// A temporary directory holding the engine's database.
pub struct Workdir {
    /// Removed on drop.
    pub dir: tempfile::TempDir,
}

impl Workdir {
    /// A fresh directory.
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// The database path inside it.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("engine.db")
    }

    /// Writes `config` as a file and returns its path.
    pub fn write_config(&self, config: &Value) -> PathBuf {
        let path = self.dir.path().join("config.json");
        std::fs::write(&path, config.to_string()).expect("write the configuration");
        path
    }
}

/// An engine configuration (JSON) pointing at `sim` with every drive of it, polling every
/// second; the fields of `overrides` replace the defaults.
///
/// The HTTP timeout is short so that a request the simulator never answers (a bug)
/// fails and is retried instead of stalling a test (and `stop`) for long.
pub fn engine_json(sim: &Simulator, db: &Path, overrides: Value) -> Value {
    let mut base = json!({
        "tenant_id": sim.tenant_id(),
        "client_id": sim.client_id(),
        "client_secret": sim.client_secret(),
        "graph_url": sim.graph_url(),
        "login_url": sim.login_url(),
        "database": db,
        "drives": drive_ids(sim),
        "workers": 2,
        "poll_interval_secs": 1,
        "http_timeout_secs": 5,
    });
    merge(&mut base, overrides);
    base
}

/// The [`Config`] of [`engine_json`].
pub fn engine_config(sim: &Simulator, db: &Path, overrides: Value) -> Config {
    Config::from_json(&engine_json(sim, db, overrides).to_string()).expect("config")
}

/// Opens an engine (not started) from [`engine_json`].
pub fn open_engine(sim: &Simulator, db: &Path, overrides: Value) -> Engine {
    Engine::open(engine_config(sim, db, overrides)).expect("Engine::open")
}

/// Opens an engine on `db`, starts it and waits until its mirror equals the truth.
pub fn start_synced(sim: &Simulator, db: &Path, overrides: Value) -> Engine {
    let engine = open_engine(sim, db, overrides);
    engine.start().expect("start the engine");
    wait_mirror_matches(db, sim);
    engine
}

/// Opens a second connection on the engine's database (WAL allows concurrent readers).
pub fn store(db: &Path) -> Database {
    Database::open(db).expect("open the store")
}

/// Whether every drive of the database finished a round (`synced`, deltaLink stored).
pub fn all_synced(store: &Database) -> bool {
    let drives = store.drives().expect("drives");
    !drives.is_empty()
        && drives
            .iter()
            .all(|d| d.state == DriveState::Synced && d.last_delta_ms.is_some())
}

/// Up to 5 differences between the mirror and the simulator's truth, over every drive.
pub fn diffs(store: &Database, sim: &Simulator) -> Vec<String> {
    verify::tenant_diff(store, sim, 5).expect("mirror comparison")
}

/// Waits until every drive is synced and its mirror equals the truth.
pub fn wait_mirror_matches(db: &Path, sim: &Simulator) {
    let store = store(db);
    let mut last = Vec::new();
    let matched = poll_until(|| {
        all_synced(&store) && {
            last = diffs(&store, sim);
            last.is_empty()
        }
    });
    assert!(
        matched,
        "mirror still differs from the truth after {HANG_GUARD:?}: {last:?}; drives: {:?}",
        store.drives().expect("drives")
    );
}

/// Asserts that the mirror equals the truth now.
pub fn assert_mirror_matches(db: &Path, sim: &Simulator) {
    let d = diffs(&store(db), sim);
    assert!(d.is_empty(), "mirror differs from the truth: {d:?}");
}

/// Waits until the engine completed `rounds` more delta jobs than it had at the call, so
/// that a round that *started* after the call has finished (pass at least 2 per drive).
pub fn wait_rounds(engine: &Engine, rounds: u64) {
    let jobs = &engine.progress().jobs_completed;
    let target = jobs.load(Ordering::SeqCst) + rounds;
    wait_until(&format!("{rounds} more delta rounds"), || {
        jobs.load(Ordering::SeqCst) >= target
    });
}

/// Every journal event with `seq > after`, oldest first.
pub fn events_after(db: &Path, after: i64) -> Vec<Event> {
    let store = store(db);
    let mut out = Vec::new();
    let mut seq = after;
    loop {
        let batch = store.events_after(seq, 10_000).expect("events");
        let Some(last) = batch.last() else {
            return out;
        };
        seq = last.seq;
        out.extend(batch);
    }
}

/// The journal's newest seq.
pub fn last_seq(db: &Path) -> i64 {
    store(db).last_seq().expect("last seq")
}

/// Asserts that the item events are exactly `want` — (kind, item id, path, old
/// path) — each exactly once, in any order.
pub fn assert_item_changes(events: &[Event], want: &[(EventKind, &String, &str, &str)]) {
    let want: HashSet<(EventKind, String, String, String)> = want
        .iter()
        .map(|&(k, id, p, o)| (k, id.clone(), p.to_string(), o.to_string()))
        .collect();
    let got = item_changes(events);
    assert_eq!(got.iter().cloned().collect::<HashSet<_>>(), want);
    assert_eq!(got.len(), want.len(), "an item evented twice");
}

/// The item events among `events` as (kind, item id, path, old path), in journal order.
pub fn item_changes(events: &[Event]) -> Vec<(EventKind, String, String, String)> {
    events
        .iter()
        .filter(|e| e.kind.is_item_change())
        .map(|e| {
            (
                e.kind,
                e.item_id.clone(),
                e.path.clone(),
                e.old_path.clone(),
            )
        })
        .collect()
}

/// How often each item id occurs among the events of `kind`.
pub fn count_by_item(events: &[Event], kind: EventKind) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for e in events.iter().filter(|e| e.kind == kind) {
        *counts.entry(e.item_id.clone()).or_insert(0) += 1;
    }
    counts
}

/// Asserts that no item id occurs twice among the events of `kind`.
pub fn assert_no_duplicates(events: &[Event], kind: EventKind) {
    let dups: Vec<_> = count_by_item(events, kind)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .take(5)
        .collect();
    assert!(
        dups.is_empty(),
        "items with repeated {kind} events: {dups:?}"
    );
}

/// The number of events of `kind`.
pub fn count_kind(events: &[Event], kind: EventKind) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

/// Installs a handler that acks every event and forwards a copy on a channel.
pub fn collect_events(engine: &Engine) -> crossbeam_channel::Receiver<Event> {
    let (tx, rx) = crossbeam_channel::unbounded();
    engine.set_event_handler(move |event| {
        let _ = tx.send(event.clone());
        Ack::Ok
    });
    rx
}

/// A running `m365sync run`, killed when dropped (so a failing test leaves no process).
pub struct EngineProcess {
    child: Child,
}

impl EngineProcess {
    pub fn spawn(config: &Path, log: &Path) -> EngineProcess {
        let log = std::fs::File::create(log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_m365sync"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn m365sync run");
        EngineProcess { child }
    }

    /// SIGKILL: no chance to finish the page in flight or close the database.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    pub fn assert_alive(&mut self, log: &Path) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!(
                "m365sync run exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the only drive reports a failure containing `needle`.
pub fn wait_drive_error(engine: &Engine, needle: &str) {
    let mut last = None;
    let found = poll_until(|| {
        last = engine.status().unwrap().drives[0].last_error.clone();
        last.as_deref().is_some_and(|e| e.contains(needle))
    });
    assert!(found, "no drive error with {needle:?}; the last: {last:?}");
}
