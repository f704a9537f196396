//! `m365sync chaos`: randomized convergence. Per seed, a generated tenant in this
//! process, the engine as a child process with webhooks, a seeded schedule of mutations,
//! faults and SIGKILLs; then quiescence and the checks (module `checks`).

mod checks;
mod engine;
mod events;
mod plan;
mod report;
mod scheduler;
mod sharing;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::verify;
use clap::Args;
use m365sync::{Database, DriveState};
use m365sync_sim::{FileSizes, SimConfig, Simulator, ThrottleConfig};

use serde_json::json;

use crate::error::message as err;

use engine::{EngineChild, EngineCommand, log_tail};
use events::EventLog;
use plan::{Action, PlanShape};
use report::SeedReport;
use scheduler::Scheduler;

/// Flags of `m365sync chaos`.
#[derive(Args)]
pub struct ChaosArgs {
    /// How many seeds to run, from `--seed` on (default 10, or 1 when `--seed` is given).
    #[arg(long)]
    seeds: Option<u64>,
    /// The first (or only) seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Items of each generated tenant.
    #[arg(long, default_value_t = DEFAULT_ITEMS)]
    items: u64,
    /// Mutations per seed.
    #[arg(long, default_value_t = DEFAULT_MUTATIONS)]
    mutations: u32,
    /// Fault episodes per seed.
    #[arg(long, default_value_t = DEFAULT_FAULTS)]
    faults: u32,
    /// SIGKILLs of the engine per seed.
    #[arg(long, default_value_t = DEFAULT_KILLS)]
    kills: u32,
    /// Length of the chaotic phase, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_DURATION_MS)]
    duration_ms: u64,
    /// The download dimension: the engine keeps a managed mirror; files are resized,
    /// download bodies cut short, download URLs expired, and at quiescence every live
    /// file's copy must hash to the truth.
    #[arg(long)]
    downloads: bool,
    /// The sharing dimension: the engine fetches permission details; grants, links,
    /// revokes, inheritance broken and restored and moves across permission boundaries
    /// join the mutations, and at quiescence every item's effective permissions, in
    /// the store and replayed from the events, must equal the truth.
    #[arg(long)]
    sharing: bool,
    /// Print one JSON summary as the last line.
    #[arg(long)]
    json: bool,
}

const DEFAULT_ITEMS: u64 = 1500;
const DEFAULT_MUTATIONS: u32 = 60;
const DEFAULT_FAULTS: u32 = 8;
const DEFAULT_KILLS: u32 = 3;
const DEFAULT_DURATION_MS: u64 = 6000;
/// Hang guard of quiescence: the mirror must equal the truth within this long.
const QUIESCE_GUARD: Duration = Duration::from_secs(60);
/// How often the engine's liveness and quiescence are checked.
const POLL: Duration = Duration::from_millis(50);

impl ChaosArgs {
    fn shape(&self) -> PlanShape {
        PlanShape {
            duration_ms: self.duration_ms,
            mutations: self.mutations,
            kills: self.kills,
            faults: self.faults,
            downloads: self.downloads,
            sharing: self.sharing,
        }
    }

    /// The command that runs `seed` alone with the same flags.
    fn reproduce(&self, seed: u64) -> String {
        let mut cmd = format!("m365sync chaos --seed {seed}");
        let flags = [
            ("items", self.items, DEFAULT_ITEMS),
            ("mutations", self.mutations.into(), DEFAULT_MUTATIONS.into()),
            ("faults", self.faults.into(), DEFAULT_FAULTS.into()),
            ("kills", self.kills.into(), DEFAULT_KILLS.into()),
            ("duration-ms", self.duration_ms, DEFAULT_DURATION_MS),
        ];
        for (name, value, default) in flags {
            if value != default {
                cmd.push_str(&format!(" --{name} {value}"));
            }
        }
        if self.downloads {
            cmd.push_str(" --downloads");
        }
        if self.sharing {
            cmd.push_str(" --sharing");
        }
        cmd
    }
}

/// Runs the seeds; fails unless every seed converged.
pub fn chaos(args: ChaosArgs) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let first = args.seed.unwrap_or(1);
    let count = args
        .seeds
        .unwrap_or(if args.seed.is_some() { 1 } else { 10 });
    let mut reports = Vec::new();
    for seed in first..first.saturating_add(count) {
        let report = run_seed(&args, &exe, seed);
        println!("{}", report.line());
        if !report.converged {
            println!("  reproduce: {}", args.reproduce(seed));
            for f in &report.failures {
                println!("  {f}");
            }
        }
        reports.push(report);
    }
    let summary = report::summary(&reports);
    if args.json {
        println!("{summary}");
    }
    let failed = reports.iter().filter(|r| !r.converged).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(format!(
            "{failed} of {} seeds did not converge",
            reports.len()
        ))
    }
}

/// One seed in its own directory, kept when the seed fails.
fn run_seed(args: &ChaosArgs, exe: &Path, seed: u64) -> SeedReport {
    let dir = seed_dir(seed);
    let mut report = SeedReport {
        seed,
        ..SeedReport::default()
    };
    let outcome = std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
        .and_then(|()| drive_seed(args, exe, seed, &dir, &mut report));
    if let Err(e) = outcome {
        report.failures.push(e);
    }
    report.converged = report.failures.is_empty();
    if report.converged {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        let log = dir.join("engine.log");
        report.failures.push(format!(
            "database, configuration and engine log kept in {}; log tail:\n{}",
            dir.display(),
            log_tail(&log, 15)
        ));
    }
    report
}

fn sim_config(args: &ChaosArgs, seed: u64) -> SimConfig {
    // With downloads: small files mostly, some of a few MB that take long enough for
    // kills and cut bodies to land inside them.
    let file_sizes = if args.downloads {
        FileSizes {
            median_bytes: 16 * 1024,
            max_bytes: 4 * 1024 * 1024,
        }
    } else {
        FileSizes::default()
    };
    SimConfig {
        file_sizes,
        sites: 2,
        libraries_per_site: 1,
        users: 2,
        users_without_drive: 0,
        items: args.items,
        depth: 4,
        seed,
        threads: 4,
        throttle: ThrottleConfig {
            retry_after_secs: 1,
            ..ThrottleConfig::default()
        },
        notifications: scheduler::notification_base(),
        ..SimConfig::default()
    }
}

/// A loopback port free right now: the engine's listener keeps it across restarts,
/// so subscriptions made by an earlier run still reach the next one.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

fn drive_seed(
    args: &ChaosArgs,
    exe: &Path,
    seed: u64,
    dir: &Path,
    report: &mut SeedReport,
) -> Result<(), String> {
    let sim = Simulator::start(sim_config(args, seed)).map_err(err)?;
    let db = dir.join("engine.db");
    let mirror = args.downloads.then(|| dir.join("mirror"));
    let mut config = sim.engine_config(json!({
        "database": db,
        "workers": 2,
        "page_size": 20,
        "emit_initial_items": true,
        "http_timeout_secs": 5,
        // Drives without a live subscription are polled, subscribed ones get a
        // safety-net delta: both short, so a dropped notification costs seconds.
        "poll_interval_secs": 2,
        "safety_interval_secs": 2,
        "webhook": {"listen": format!("127.0.0.1:{}", free_port()?), "retry_secs": 1},
        "throttle": {"default_retry_after_secs": 1, "max_backoff_secs": 5},
    }));
    if let Some(mirror) = &mirror {
        config["download"] = json!({"dir": mirror, "max_concurrent": 2});
    }
    if args.sharing {
        config["permissions"] = json!({"fetch": true});
    }
    let config_path = dir.join("engine.json");
    std::fs::write(&config_path, config.to_string()).map_err(|e| e.to_string())?;
    let command = EngineCommand {
        exe: exe.to_path_buf(),
        config: config_path,
        log: dir.join("engine.log"),
    };
    let events = Arc::new(EventLog::default());
    let mut scheduler = Scheduler::new(&sim, seed);
    let mut acked_at_kill = Vec::new();
    let started = Instant::now();
    let mut engine = command.spawn(0, &events)?;
    for step in plan::plan(seed, args.shape()) {
        let at = started + Duration::from_millis(step.at_ms);
        while Instant::now() < at {
            alive(&mut engine, started, report)?;
            std::thread::sleep(POLL.min(at.saturating_duration_since(Instant::now())));
        }
        log::info!(
            "chaos seed {seed} at {} ms: {:?}",
            started.elapsed().as_millis(),
            step.action
        );
        match step.action {
            Action::Mutate(m) => scheduler.mutate(m),
            Action::Fault(f) => scheduler.fault(f).map_err(err)?,
            Action::Kill { restart_after_ms } => {
                alive(&mut engine, started, report)?;
                engine.kill();
                report.kills += 1;
                acked_at_kill.push(acked_seq(&db)?);
                std::thread::sleep(Duration::from_millis(restart_after_ms));
                engine = command.spawn(acked_at_kill.len(), &events)?;
            }
        }
    }
    report.applied = scheduler.applied.clone();
    scheduler.calm().map_err(err)?;
    let dims = Dimensions {
        mirror: mirror.as_deref(),
        sharing: args.sharing,
    };
    quiesce(&sim, &db, dims, &events, &mut engine, started, report)?;
    report.secs_to_quiesce = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    engine.kill();

    let delivered = events.delivered();
    let findings = checks::check(
        &sim,
        &db,
        mirror.as_deref(),
        args.sharing,
        &delivered,
        &acked_at_kill,
    )
    .map_err(err)?;
    let stats = sim.stats();
    report.violations = stats.violations;
    report.throttled = stats.throttled;
    report.items = stats.items;
    report.deliveries = delivered.len();
    report.lost_events = findings.lost_events();
    report.duplicate_events = findings.duplicates.0;
    let f = &mut report.failures;
    for line in findings.mirror {
        f.push(format!("(a) mirror differs: {line}"));
    }
    for line in findings.replay.1 {
        f.push(format!("(b) replay differs: {line}"));
    }
    for line in findings.copies {
        f.push(format!("(f) managed mirror: {line}"));
    }
    for line in findings.permissions {
        f.push(format!("(g) effective permissions differ: {line}"));
    }
    for line in findings.permission_replay.1 {
        f.push(format!("(h) replayed permissions differ: {line}"));
    }
    if findings.undelivered.0 > 0 {
        f.push(format!(
            "(b) {} acked journal events never printed, e.g. seqs {:?}",
            findings.undelivered.0, findings.undelivered.1
        ));
    }
    if findings.duplicates.0 > 0 {
        f.push(format!(
            "(c) {} acked events delivered again, e.g. {:?}",
            findings.duplicates.0, findings.duplicates.1
        ));
    }
    if stats.violations > 0 {
        f.push(format!(
            "(d) {} requests sent while a Retry-After was in force",
            stats.violations
        ));
    }
    for line in events.malformed() {
        f.push(format!("unreadable event line: {line}"));
    }
    Ok(())
}

/// Fails (check e) when the engine exited although nobody killed it.
fn alive(
    engine: &mut EngineChild,
    started: Instant,
    report: &mut SeedReport,
) -> Result<(), String> {
    match engine.exited() {
        None => Ok(()),
        Some(status) => {
            report.engine_exits += 1;
            Err(format!(
                "(e) the engine exited on its own ({status}) {:.1} s into the seed",
                started.elapsed().as_secs_f64()
            ))
        }
    }
}

fn acked_seq(db: &Path) -> Result<i64, String> {
    if !db.exists() {
        return Ok(0);
    }
    Database::open(db)
        .and_then(|s| s.acked_seq())
        .map_err(|e| format!("cannot read the acked seq: {e}"))
}

/// What quiescence needs besides the mirror: the managed mirror's directory, and
/// whether effective permissions are compared.
#[derive(Clone, Copy)]
struct Dimensions<'a> {
    mirror: Option<&'a Path>,
    sharing: bool,
}

/// Waits until every drive is synced, the mirror (and the dimensions' state) equals the
/// truth and every journal event was printed and acked.
fn quiesce(
    sim: &Simulator,
    db: &Path,
    dims: Dimensions<'_>,
    events: &EventLog,
    engine: &mut EngineChild,
    started: Instant,
    report: &mut SeedReport,
) -> Result<(), String> {
    let deadline = Instant::now() + QUIESCE_GUARD;
    let mut store: Option<Database> = None;
    loop {
        alive(engine, started, report)?;
        if store.is_none() && db.exists() {
            store = Database::open(db).ok();
        }
        let mut last = vec!["the engine has not created its database".to_string()];
        if let Some(store) = &store {
            last = quiet_diffs(store, sim, dims, events).map_err(|e| e.to_string())?;
            if last.is_empty() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "not quiescent after {} s: {}",
                QUIESCE_GUARD.as_secs(),
                last.join("; ")
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// Why the seed is not quiescent yet (empty when it is).
fn quiet_diffs(
    store: &Database,
    sim: &Simulator,
    dims: Dimensions<'_>,
    events: &EventLog,
) -> crate::Result<Vec<String>> {
    let unsynced: Vec<String> = store
        .drives()?
        .into_iter()
        .filter(|d| d.state != DriveState::Synced)
        .map(|d| format!("drive {} is {}", d.id, d.state.as_str()))
        .collect();
    if !unsynced.is_empty() {
        return Ok(unsynced);
    }
    let diffs = verify::tenant_diff(store, sim, 3)?;
    if !diffs.is_empty() {
        return Ok(diffs);
    }
    if let Some(mirror) = dims.mirror {
        let pending = verify::pending_downloads(store)?;
        let partial = verify::partial_files(mirror)?;
        if pending > 0 || !partial.is_empty() {
            return Ok(vec![format!(
                "{pending} files not stored yet, {} partial files",
                partial.len()
            )]);
        }
    }
    if dims.sharing {
        let diffs = verify::permission_diff(store, sim, 3)?;
        if !diffs.is_empty() {
            return Ok(diffs);
        }
    }
    let (last, acked) = (store.last_seq()?, store.acked_seq()?);
    if acked < last || !(last == 0 || events.has(last)) {
        return Ok(vec![format!("events delivered up to {acked} of {last}")]);
    }
    Ok(Vec::new())
}

/// The working directory of a seed (removed unless the seed fails).
fn seed_dir(seed: u64) -> PathBuf {
    std::env::temp_dir().join(format!("m365sync-chaos-{}-{seed}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        chaos: ChaosArgs,
    }

    #[test]
    fn reproduce_names_the_seed_and_every_non_default_flag() {
        let cli = Cli::parse_from(["chaos", "--seeds", "100", "--json"]);
        assert_eq!(cli.chaos.reproduce(42), "m365sync chaos --seed 42");
        let cli = Cli::parse_from(["chaos", "--items", "99", "--kills", "0", "--json"]);
        assert_eq!(
            cli.chaos.reproduce(7),
            "m365sync chaos --seed 7 --items 99 --kills 0"
        );
    }
}
