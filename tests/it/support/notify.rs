//! Helpers shared by the notification tests: a one-drive simulator, an engine with
//! webhooks against it, and waits with generous hang guards (no timing asserts).

use std::time::{Duration, Instant};

use m365sync::{Config, Engine, Event, EventKind};
use m365sync_sim::subscriptions::NotificationConfig;
use m365sync_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

/// Hang guard of every wait.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A simulator with one small drive and the given delivery knobs.
pub fn sim(notifications: NotificationConfig) -> Simulator {
    let config: SimConfig = serde_json::from_value(json!({
        "sites": 1, "libraries_per_site": 1, "users": 0, "users_without_drive": 0,
        "items": 30, "depth": 2, "seed": 3, "threads": 4,
    }))
    .unwrap();
    Simulator::start(SimConfig {
        notifications,
        ..config
    })
    .unwrap()
}

/// Delivery knobs with quick retries, so tests never wait long for a retry.
pub fn quick_delivery() -> NotificationConfig {
    NotificationConfig {
        retry_base_ms: 50,
        retry_max_ms: 500,
        ..NotificationConfig::default()
    }
}

/// An engine config for `sim`'s drives; `webhook` is merged into the webhook section
/// (null: no webhooks); `extra` into the top level.
pub fn config(sim: &Simulator, dir: &tempfile::TempDir, webhook: Value, extra: Value) -> Config {
    let drives: Vec<String> = sim.drives().into_iter().map(|d| d.id).collect();
    let mut doc = json!({
        "tenant_id": sim.tenant_id(), "client_id": sim.client_id(),
        "client_secret": sim.client_secret(),
        "graph_url": sim.graph_url(), "login_url": sim.login_url(),
        "database": dir.path().join("notify.db"), "drives": drives,
        "workers": 2, "poll_interval_secs": 3600,
    });
    if !webhook.is_null() {
        let mut section = json!({"listen": "127.0.0.1:0", "retry_secs": 1});
        merge(&mut section, webhook);
        doc["webhook"] = section;
    }
    merge(&mut doc, extra);
    Config::from_json(&doc.to_string()).unwrap()
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// The only drive of [`sim`].
pub fn drive(sim: &Simulator) -> String {
    sim.drives().remove(0).id
}

/// Polls `f` every 20 ms until it holds; panics after [`PATIENCE`].
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the drive is synced and in webhook mode.
pub fn wait_webhook(engine: &Engine, drive: &str) {
    wait_until("a live subscription", || {
        let status = engine.status().unwrap();
        status
            .drives
            .iter()
            .any(|d| d.id == drive && d.mode == "webhook" && d.state == "synced")
    });
}

/// Opens and starts an engine with webhooks on `sim` and waits until its only drive
/// is crawled and subscribed; returns the engine and the drive id.
pub fn start_subscribed(sim: &Simulator, dir: &tempfile::TempDir) -> (Engine, String) {
    let engine = Engine::open(config(sim, dir, json!({}), json!({}))).unwrap();
    engine.start().unwrap();
    let drive = drive(sim);
    wait_webhook(&engine, &drive);
    (engine, drive)
}

/// Waits until every drive finished its first crawl.
pub fn wait_synced(engine: &Engine) {
    wait_until("the first crawl", || {
        let status = engine.status().unwrap();
        status.drives.iter().all(|d| d.state == "synced")
    });
}

/// Waits for the first event of `kind` after `after_seq` and returns it.
pub fn wait_event(engine: &Engine, after_seq: i64, kind: EventKind) -> Event {
    let mut seen = after_seq;
    let deadline = Instant::now() + PATIENCE;
    loop {
        for e in engine
            .wait_events(seen, 1000, Duration::from_millis(200))
            .unwrap()
        {
            seen = e.seq;
            if e.kind == kind {
                return e;
            }
        }
        assert!(Instant::now() < deadline, "no {kind} event in time");
    }
}

/// Journal events of `kind` so far.
pub fn count(engine: &Engine, kind: EventKind) -> usize {
    engine
        .events_after(0, 100_000)
        .unwrap()
        .iter()
        .filter(|e| e.kind == kind)
        .count()
}

/// Delta requests the simulator has served.
pub fn delta_calls(sim: &Simulator) -> u64 {
    sim.stats()
        .requests_by_route
        .get("GET /drives/{id}/root/delta")
        .copied()
        .unwrap_or(0)
}

/// A simulator counter from its notifications stats.
pub fn sim_counter(sim: &Simulator, name: &str) -> u64 {
    sim.stats().notifications[name].as_u64().unwrap_or(0)
}

/// Creates a file at the drive root.
pub fn touch(sim: &Simulator, drive: &str, name: &str) {
    sim.create_item(drive, "root", name, false, b"x").unwrap();
}

/// The `host:port` of a notification URL such as `http://127.0.0.1:8080/path`.
pub fn listener_addr(url: &str) -> String {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string()
}
