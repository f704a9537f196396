//! Helpers shared by the discovery tests: the acceptance tenant, configurations, and
//! hang-guarded waits.

use std::path::Path;
use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use m365sync::{Config, Engine, Event, EventKind};
use m365sync_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

/// Sites in the acceptance tenant (the root site included).
pub const SITES: usize = 20;
/// Libraries per site ("Documents" included).
pub const LIBRARIES: usize = 3;
/// Users, of which [`NO_ONEDRIVE`] have no OneDrive.
pub const USERS: usize = 50;
/// Users without a OneDrive.
pub const NO_ONEDRIVE: usize = 5;
/// Drives of the acceptance tenant: 20 × 3 libraries + 45 OneDrives.
pub const DRIVES: usize = SITES * LIBRARIES + USERS - NO_ONEDRIVE;
/// A page size small enough that `/sites`, `/users` and a site's drives take several pages.
pub const PAGE: u32 = 7;
/// Hang guard of every wait; no test asserts on durations.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// The acceptance tenant: 20 sites × 3 libraries, 50 users of whom 5 have no OneDrive.
pub fn acceptance_sim() -> Simulator {
    Simulator::start(SimConfig {
        sites: SITES as u32,
        libraries_per_site: LIBRARIES as u32,
        users: USERS as u32,
        users_without_drive: NO_ONEDRIVE as u32,
        items: 2 * DRIVES as u64,
        depth: 1,
        seed: 11,
        threads: 4,
        ..SimConfig::default()
    })
    .expect("simulator")
}

/// An engine configuration for `sim` with `extra` fields merged in.
pub fn config(sim: &Simulator, database: &Path, extra: Value) -> Config {
    let mut c = json!({
        "tenant_id": sim.tenant_id(), "client_id": sim.client_id(),
        "client_secret": sim.client_secret(),
        "graph_url": sim.graph_url(), "login_url": sim.login_url(),
        "database": database, "workers": 2, "page_size": PAGE,
        "poll_interval_secs": 3600, "discover_interval_secs": 1,
        "http_timeout_secs": 30
    });
    for (k, v) in extra.as_object().expect("an object") {
        c[k] = v.clone();
    }
    Config::from_json(&c.to_string()).expect("config")
}

/// Polls `check` until it returns `Some`; panics after [`HANG_GUARD`].
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Requests the simulator counted under `route` (e.g. `GET /users`).
pub fn requests(sim: &Simulator, route: &str) -> u64 {
    sim.stats()
        .requests_by_route
        .get(route)
        .copied()
        .unwrap_or(0)
}

/// Every journal event so far.
pub fn events(engine: &Engine) -> Vec<Event> {
    engine.events_after(0, 100_000).expect("events")
}

/// The drives that have an event of `kind`.
pub fn drives_with(engine: &Engine, kind: EventKind) -> BTreeSet<String> {
    events(engine)
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.drive_id)
        .collect()
}

/// Waits for the first event of `kind` on `drive` and returns it.
pub fn wait_event(engine: &Engine, kind: EventKind, drive: &str) -> Event {
    wait_for(&format!("{kind} of {drive}"), || {
        events(engine)
            .into_iter()
            .find(|e| e.kind == kind && e.drive_id == drive)
    })
}
