//! `m365sync chaos` end to end, the simulator faults it relies on, and the engine bug
//! it found (a restarted engine ignored the Retry-After its predecessor had received).

use std::process::Command;
use std::time::Duration;

use crate::support::engine::*;
use crate::support::sim::{Client, control, small_config};
use crate::support::wait_until;
use m365sync_sim::{Simulator, ThrottleConfig};
use serde_json::{Value, json};

/// Runs `m365sync chaos ARGS --json`, which must succeed; its JSON summary.
fn chaos_summary(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_m365sync"))
        .arg("chaos")
        .args(args)
        .arg("--json")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run m365sync chaos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chaos failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("last line is not JSON ({e}):\n{stdout}"))
}

#[test]
fn five_seeds_converge_with_faults_and_kills() {
    let summary = chaos_summary(&["--seeds", "5", "--seed", "1"]);
    assert_eq!(summary["seeds"], 5, "{summary}");
    assert_eq!(summary["converged"], 5, "{summary}");
    assert_eq!(summary["lost_events"], 0, "{summary}");
    assert_eq!(summary["duplicate_events"], 0, "{summary}");
    assert_eq!(summary["violations"], 0, "{summary}");
    assert_eq!(summary["engine_exits"], 0, "{summary}");
    // The schedule did what it says: kills and several kinds of faults happened.
    assert!(summary["kills"].as_u64() >= Some(15), "{summary}");
    assert!(
        summary["faults"].as_object().is_some_and(|f| f.len() >= 4),
        "{summary}"
    );
}

#[test]
fn seeds_with_the_download_dimension_converge_with_every_copy_right() {
    let summary = chaos_summary(&["--seeds", "2", "--seed", "21", "--downloads"]);
    assert_eq!(summary["converged"], 2, "{summary}");
    assert_eq!(summary["violations"], 0, "{summary}");
    // Copies, partial files and announcements are checked per seed (check f); the
    // download faults were drawn.
    let faults = summary["faults"].as_object().cloned().unwrap_or_default();
    assert!(
        faults.contains_key("download_faults") || faults.contains_key("expire_download_urls"),
        "{summary}"
    );
}

#[test]
fn seeds_with_the_sharing_dimension_converge_with_every_permission_right() {
    let summary = chaos_summary(&["--seeds", "2", "--seed", "31", "--sharing"]);
    assert_eq!(summary["converged"], 2, "{summary}");
    assert_eq!(summary["lost_events"], 0, "{summary}");
    // Effective permissions (store and replayed events) are checked per seed (checks g
    // and h); sharing mutations were applied.
    let kinds = summary["mutations_by_kind"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let sharing = [
        "Grant",
        "Link",
        "Revoke",
        "BreakInheritance",
        "RestoreInheritance",
        "MoveAcrossBoundary",
    ];
    let applied: u64 = sharing.iter().filter_map(|k| kinds.get(*k)?.as_u64()).sum();
    assert!(applied >= 10, "{summary}");
}

#[test]
fn an_empty_seed_converges_and_bad_flags_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_m365sync"))
        .args(["chaos", "--seed", "3", "--items", "0", "--mutations", "0"])
        .args(["--faults", "0", "--kills", "0", "--duration-ms", "0"])
        .output()
        .expect("run m365sync chaos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("seed    3: converged"), "{stdout}");
    let bad = Command::new(env!("CARGO_BIN_EXE_m365sync"))
        .args(["chaos", "--seeds", "x"])
        .output()
        .expect("run m365sync chaos");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--seeds"));
}

#[test]
fn expired_access_tokens_get_401_until_a_new_token_is_fetched() {
    let sim = Simulator::start(small_config()).unwrap();
    let url = format!("{}/drives/{}", sim.graph_url(), sim.drives()[0].id);
    let old = Client::new(&sim);
    assert_eq!(old.get(&url).status, 200);
    sim.expire_access_tokens();
    let r = old.get(&url);
    assert_eq!(r.status, 401);
    assert!(String::from_utf8_lossy(&r.body).contains("expired"));
    assert_eq!(Client::new(&sim).get(&url).status, 200);
    let r = control(&sim, "POST", "/_sim/expire-access-tokens", None);
    assert_eq!(r.status, 204);
    assert_eq!(old.get(&url).status, 401);
}

#[test]
fn a_throttle_storm_answers_429_without_a_budget_and_counts_violations() {
    let mut config = small_config();
    config.throttle = ThrottleConfig {
        retry_after_secs: 30,
        ..ThrottleConfig::default()
    };
    let sim = Simulator::start(config).unwrap();
    let url = format!("{}/drives/{}", sim.graph_url(), sim.drives()[0].id);
    let c = Client::new(&sim);
    assert_eq!(c.get(&url).status, 200);
    let r = control(
        &sim,
        "POST",
        "/_sim/throttle-storm",
        Some(json!({"secs": 60})),
    );
    assert_eq!(r.status, 204);
    let r = c.get(&url);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("Retry-After"), Some("30"));
    assert_eq!(sim.stats().violations, 0);
    // Past the in-flight grace, a request inside the Retry-After window is a violation.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(c.get(&url).status, 429);
    assert_eq!(sim.stats().violations, 1);
    let bad = control(
        &sim,
        "POST",
        "/_sim/throttle-storm",
        Some(json!({"secs": -1})),
    );
    assert_eq!(bad.status, 400);
}

/// Found by `m365sync chaos`: an engine killed during a Retry-After window came back and
/// called Graph at once, inside the window its predecessor had been given.
#[test]
fn a_restarted_engine_honours_the_retry_after_of_its_predecessor() {
    let sim = one_drive_sim(
        200,
        json!({"throttle": {"ru_per_minute": 0, "retry_after_secs": 4}}),
    );
    let work = Workdir::new();
    let db = work.db();
    sim.throttle_storm(Duration::from_secs(60));
    let first = open_engine(&sim, &db, json!({}));
    first.start().unwrap();
    wait_until("the first engine is throttled", || {
        sim.stats().throttled >= 1
    });
    drop(first);
    // Past the simulator's in-flight grace: any request now, before the window's end,
    // is a violation.
    std::thread::sleep(Duration::from_millis(700));
    sim.throttle_storm(Duration::ZERO);
    let second = open_engine(&sim, &db, json!({}));
    second.start().unwrap();
    wait_mirror_matches(&db, &sim);
    assert_eq!(sim.stats().violations, 0);
}
