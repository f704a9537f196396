//! Helpers shared by the discovery tests: the acceptance tenant, configurations, and
//! hang-guarded waits.

use std::collections::BTreeSet;
use std::path::Path;

use m365sync::{Config, Engine, Event, EventKind};
use m365sync_sim::Simulator;
use serde_json::{Value, json};

use super::engine::{engine_config, sim_config};
use super::{merge, wait_for};

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

/// The acceptance tenant: 20 sites × 3 libraries, 50 users of whom 5 have no OneDrive.
pub fn acceptance_sim() -> Simulator {
    Simulator::start(sim_config(json!({
        "sites": SITES, "libraries_per_site": LIBRARIES,
        "users": USERS, "users_without_drive": NO_ONEDRIVE,
        "items": 2 * DRIVES, "depth": 1, "seed": 11
    })))
    .expect("simulator")
}

/// An engine configuration for `sim` that discovers its drives (no `drives` list),
/// rediscovering every second and polling hourly, with `extra` fields merged in.
pub fn config(sim: &Simulator, database: &Path, extra: Value) -> Config {
    let mut overrides = json!({
        "drives": null, "page_size": PAGE,
        "poll_interval_secs": 3600, "discover_interval_secs": 1,
        "http_timeout_secs": 30
    });
    merge(&mut overrides, extra);
    engine_config(sim, database, overrides)
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
