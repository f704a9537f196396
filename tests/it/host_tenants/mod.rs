//! The multi-tenant [`Host`]: many tenants of one simulator on one shared runtime,
//! each crawled into its own database, failing and throttled alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::support::engine::{all_synced, sim_config, store};
use crate::support::{wait_for, wait_until};
use m365sync::{Ack, Config, EventKind, Host, HostConfig};
use m365sync_sim::{SimTenant, Simulator};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// A simulator of `tenants` tenants with `libraries` drives each.
fn sim(tenants: u32, libraries: u32, extra: Value) -> Simulator {
    let mut config = json!({
        "tenants": tenants, "sites": 1, "libraries_per_site": libraries, "users": 0,
        "users_without_drive": 0, "items": 20, "depth": 2, "seed": 5
    });
    crate::support::merge(&mut config, extra);
    Simulator::start(sim_config(config)).expect("simulator")
}

/// Tenant `t`'s engine configuration with its database in `dir`, `extra` merged in.
fn tenant_config(t: &SimTenant, dir: &Path, extra: Value) -> (Config, PathBuf) {
    let db = dir.join(format!("tenant-{}.db", t.index()));
    let mut base = json!({ "database": db, "poll_interval_secs": 1, "http_timeout_secs": 5 });
    crate::support::merge(&mut base, extra);
    let config = Config::from_json(&t.engine_config(base).to_string()).expect("config");
    (config, db)
}

/// (tenant key, kind, drive) of every event the host's handler received.
type Seen = Arc<Mutex<Vec<(String, EventKind, String)>>>;

fn record_events(host: &Host) -> Seen {
    let seen = Seen::default();
    let s = seen.clone();
    host.set_event_handler(move |e| {
        s.lock()
            .push((e.tenant.to_string(), e.event.kind, e.event.drive_id.clone()));
        Ack::Ok
    });
    seen
}

fn key(i: u32) -> String {
    format!("t{i}")
}

/// A host with tenants `0..n` of `sim` added (with `extra` in each configuration).
fn host_of(
    sim: &Simulator,
    n: u32,
    workers: usize,
    dir: &Path,
    extra: Value,
) -> (Host, Vec<PathBuf>) {
    let host = Host::new(HostConfig { workers });
    let dbs = (0..n)
        .map(|i| {
            let (config, db) = tenant_config(&sim.tenant(i).unwrap(), dir, extra.clone());
            host.add_tenant(&key(i), config).expect("add_tenant");
            db
        })
        .collect();
    (host, dbs)
}

#[test]
fn each_tenant_is_crawled_into_its_own_database_with_tagged_events() {
    let sim = sim(3, 2, json!({}));
    let dir = tempfile::tempdir().unwrap();
    let (host, dbs) = host_of(&sim, 3, 2, dir.path(), json!({}));
    let seen = record_events(&host);
    host.start().unwrap();
    for db in &dbs {
        wait_until("every tenant synced", || all_synced(&store(db)));
    }
    for i in 0..3 {
        let t = sim.tenant(i).unwrap();
        let mut want: Vec<String> = t.drives().into_iter().map(|d| d.id).collect();
        let mut got: Vec<String> = store(&dbs[i as usize])
            .drives()
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "tenant {i}'s database holds its drives only");
        wait_until("crawl_completed of each drive, tagged", || {
            let seen = seen.lock();
            want.iter().all(|d| {
                seen.iter().any(|(k, kind, drive)| {
                    *k == key(i) && *kind == EventKind::CrawlCompleted && drive == d
                })
            })
        });
    }
    // No event is tagged with another tenant's drive.
    for (k, _, drive) in seen.lock().iter() {
        let i: u32 = k[1..].parse().unwrap();
        let own = sim
            .tenant(i)
            .unwrap()
            .drives()
            .iter()
            .any(|d| d.id == *drive);
        assert!(
            own || drive.starts_with('/'),
            "{k} got an event of drive {drive}"
        );
    }
    let status = host.status();
    assert!(status.running);
    assert_eq!(host.tenants(), ["t0", "t1", "t2"]);
    assert!(
        status.tenants.iter().all(|t| t.error.is_none()),
        "{status:?}"
    );
    host.stop();
    assert!(!host.status().running);
}

#[test]
fn refused_credentials_and_invalid_configs_fail_their_tenant_alone() {
    let sim = sim(3, 1, json!({}));
    let dir = tempfile::tempdir().unwrap();
    let (host, dbs) = host_of(&sim, 1, 2, dir.path(), json!({}));
    let t1 = sim.tenant(1).unwrap();
    let (wrong, _) = tenant_config(&t1, dir.path(), json!({ "client_secret": "wrong" }));
    host.add_tenant("t1", wrong).unwrap();
    let t2 = sim.tenant(2).unwrap();
    let (invalid, _) = tenant_config(
        &t2,
        dir.path(),
        json!({ "webhook": { "public_url": "https://hooks.example.com/n" } }),
    );
    let refused = host.add_tenant("t2", invalid).unwrap_err();
    assert!(refused.to_string().contains("webhook"), "{refused}");
    let seen = record_events(&host);
    host.start().unwrap();

    wait_until("the good tenant synced", || all_synced(&store(&dbs[0])));
    let error = wait_for("t1's error in status", || {
        host.status()
            .tenants
            .into_iter()
            .find(|t| t.key == "t1")
            .and_then(|t| t.error)
    });
    assert!(!error.is_empty());
    wait_until("an error event tagged t1", || {
        seen.lock()
            .iter()
            .any(|(k, kind, _)| k == "t1" && *kind == EventKind::Error)
    });
    let status = host.status();
    let by_key = |k: &str| status.tenants.iter().find(|t| t.key == k).unwrap().clone();
    assert!(by_key("t0").error.is_none());
    assert!(by_key("t2").error.unwrap().contains("webhook"));
    assert!(by_key("t2").status.is_none());
    assert!(
        !seen
            .lock()
            .iter()
            .any(|(k, kind, _)| k == "t0" && *kind == EventKind::Error),
        "the good tenant saw no error"
    );
}

#[test]
fn a_throttled_tenant_does_not_pause_the_others() {
    let sim = sim(3, 2, json!({ "throttle": { "retry_after_secs": 600 } }));
    sim.tenant(0)
        .unwrap()
        .throttle_storm(std::time::Duration::from_secs(600));
    let dir = tempfile::tempdir().unwrap();
    let (host, dbs) = host_of(&sim, 3, 2, dir.path(), json!({}));
    host.start().unwrap();
    wait_until("tenants 1 and 2 synced", || {
        all_synced(&store(&dbs[1])) && all_synced(&store(&dbs[2]))
    });
    wait_until("tenant 0 saw the storm", || {
        host.status().tenants[0]
            .status
            .as_ref()
            .and_then(|s| s.throttle)
            .is_some_and(|t| t.throttled > 0)
    });
    assert!(!all_synced(&store(&dbs[0])));
    assert_eq!(sim.tenant(1).unwrap().stats().throttled, 0);
    // Stopping cuts tenant 0's 600 s wait short.
    host.stop();
}

#[test]
fn a_removed_tenant_stops_alone() {
    let sim = sim(2, 1, json!({}));
    let dir = tempfile::tempdir().unwrap();
    let (host, dbs) = host_of(&sim, 2, 2, dir.path(), json!({}));
    let seen = record_events(&host);
    host.start().unwrap();
    for db in &dbs {
        wait_until("synced", || all_synced(&store(db)));
    }
    host.remove_tenant("t1").unwrap();
    assert!(host.remove_tenant("t1").is_err(), "removed once");
    assert_eq!(host.tenants(), ["t0"]);
    let before = crate::support::engine::last_seq(&dbs[1]);
    for i in 0..2 {
        let t = sim.tenant(i).unwrap();
        let drive = t.drives()[0].id.clone();
        t.create_item(&drive, "root", "after-removal.txt", false, b"x")
            .unwrap();
    }
    wait_until("t0 saw its new file", || {
        seen.lock()
            .iter()
            .any(|(k, kind, _)| k == "t0" && *kind == EventKind::Created)
    });
    // Tenant 0 polls every second: by its next round tenant 1 would have run too.
    let last_round = |db: &Path| store(db).drives().unwrap()[0].last_delta_ms;
    let seen_round = last_round(&dbs[0]);
    wait_until("another round of t0", || last_round(&dbs[0]) > seen_round);
    assert_eq!(
        crate::support::engine::last_seq(&dbs[1]),
        before,
        "t1 runs no more"
    );
    // It can come back.
    let (config, _) = tenant_config(&sim.tenant(1).unwrap(), dir.path(), json!({}));
    host.add_tenant("t1", config).unwrap();
    wait_until("t1 saw its new file once back", || {
        seen.lock()
            .iter()
            .any(|(k, kind, _)| k == "t1" && *kind == EventKind::Created)
    });
}

#[test]
fn a_tenant_with_many_drives_cannot_starve_the_others() {
    let sim = sim(3, 6, json!({}));
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(HostConfig { workers: 1 });
    let mut dbs = Vec::new();
    for i in 0..3 {
        let t = sim.tenant(i).unwrap();
        let mut extra = json!({ "poll_interval_secs": 600 });
        if i > 0 {
            extra["drives"] = json!([t.drives()[0].id]);
        }
        let (config, db) = tenant_config(&t, dir.path(), extra);
        host.add_tenant(&key(i), config).unwrap();
        dbs.push(db);
    }
    host.start().unwrap();
    for db in &dbs {
        wait_until("synced", || all_synced(&store(db)));
    }
    let crawled_at = |db: &Path| -> Vec<i64> {
        let mut at: Vec<i64> = store(db)
            .drives()
            .unwrap()
            .iter()
            .map(|d| d.last_full_crawl_ms.expect("crawled"))
            .collect();
        at.sort();
        at
    };
    let busy = crawled_at(&dbs[0]);
    assert_eq!(busy.len(), 6);
    let last_quiet = crawled_at(&dbs[1])
        .into_iter()
        .chain(crawled_at(&dbs[2]))
        .max()
        .unwrap();
    // One worker, turns round-robin: the busy tenant's first drive, then the others'.
    let busy_before = busy.iter().filter(|at| **at < last_quiet).count();
    assert!(
        busy_before <= 1,
        "the busy tenant went {busy_before} times first"
    );
}

/// Counts this process's threads: all of them, and the host's (by name).
fn threads() -> (usize, usize) {
    let mut all = 0;
    let mut host = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        all += 1;
        let comm = std::fs::read_to_string(task.unwrap().path().join("comm")).unwrap_or_default();
        if ["m365sync-worker", "m365sync-schedu", "m365sync-dispat"]
            .iter()
            .any(|p| comm.starts_with(p))
        {
            host += 1;
        }
    }
    (all, host)
}

#[test]
fn threads_do_not_grow_with_tenants() {
    if crate::support::in_own_process(concat!(
        module_path!(),
        "::threads_do_not_grow_with_tenants"
    )) {
        return;
    }
    let sim = sim(20, 1, json!({}));
    let mut counts = Vec::new();
    for n in [2, 20] {
        let dir = tempfile::tempdir().unwrap();
        let (host, dbs) = host_of(&sim, n, 2, dir.path(), json!({}));
        assert_eq!(threads().1, 0, "no thread before start");
        host.start().unwrap();
        for db in &dbs {
            wait_until("synced", || all_synced(&store(db)));
        }
        counts.push(threads());
        host.stop();
        assert_eq!(threads().1, 0, "no thread after stop");
    }
    // Only the host's own threads are counted: the simulator grows its pool on demand.
    let ((_, host_2), (_, host_20)) = (counts[0], counts[1]);
    assert_eq!(
        (host_2, host_20),
        (4, 4),
        "workers + scheduler + dispatcher"
    );
}
