//! Helpers shared by the notification tests: a one-drive simulator, an engine with
//! webhooks against it, and waits with generous hang guards (no timing asserts).

use std::time::Duration;

use m365sync::{Config, Engine, Event, EventKind};
use m365sync_sim::Simulator;
use m365sync_sim::subscriptions::NotificationConfig;
use serde_json::{Value, json};

use super::engine::{engine_config, one_drive_sim};
use super::{merge, wait_for, wait_until};

/// A simulator with one small drive and the given delivery knobs.
pub fn sim(notifications: NotificationConfig) -> Simulator {
    one_drive_sim(
        30,
        json!({ "depth": 2, "seed": 3, "notifications": notifications }),
    )
}

/// Delivery knobs with quick retries, so tests never wait long for a retry.
pub fn quick_delivery() -> NotificationConfig {
    NotificationConfig {
        retry_base_ms: 50,
        retry_max_ms: 500,
        ..NotificationConfig::default()
    }
}

/// An engine config for `sim`'s drives, polling hourly; `webhook` is merged into the
/// webhook section (null: no webhooks); `extra` into the top level.
pub fn config(sim: &Simulator, dir: &tempfile::TempDir, webhook: Value, extra: Value) -> Config {
    let mut overrides = json!({ "poll_interval_secs": 3600 });
    if !webhook.is_null() {
        let mut section = json!({"listen": "127.0.0.1:0", "retry_secs": 1});
        merge(&mut section, webhook);
        overrides["webhook"] = section;
    }
    merge(&mut overrides, extra);
    engine_config(sim, &dir.path().join("notify.db"), overrides)
}

/// The only drive of [`sim`].
pub fn drive(sim: &Simulator) -> String {
    sim.drives().remove(0).id
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
    wait_for(&format!("a {kind} event after {after_seq}"), || {
        let batch = engine
            .wait_events(seen, 1000, Duration::from_millis(200))
            .unwrap();
        seen = batch.last().map_or(seen, |e| e.seq);
        batch.into_iter().find(|e| e.kind == kind)
    })
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
