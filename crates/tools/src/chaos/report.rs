//! Per-seed results, their human-readable lines and the overall JSON summary.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::scheduler::Applied;

/// The outcome of one seed.
#[derive(Debug, Default, Serialize)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Every check passed.
    pub converged: bool,
    /// Items the event stream got wrong plus journal events never delivered.
    pub lost_events: usize,
    /// Deliveries of an already acked event.
    pub duplicate_events: usize,
    /// Requests the simulator received while a Retry-After was in force.
    pub violations: u64,
    /// SIGKILLs of the engine.
    pub kills: u64,
    /// Times the engine exited on its own.
    pub engine_exits: u64,
    /// Items in the tenant at the end (roots included).
    pub items: u64,
    /// Events delivered (redeliveries included).
    pub deliveries: usize,
    /// 429 answers of the simulator.
    pub throttled: u64,
    /// Mutations and faults applied.
    pub applied: Applied,
    /// Seconds from the engine's first start to quiescence.
    pub secs_to_quiesce: f64,
    /// Why the seed failed (empty when it converged).
    pub failures: Vec<String>,
}

impl SeedReport {
    /// One line for the terminal.
    pub fn line(&self) -> String {
        format!(
            "seed {:>4}: {} in {:.1} s — {} items, {} mutations, {} faults, {} kills, {} deliveries, {} throttled, lost {}, duplicates {}, violations {}",
            self.seed,
            if self.converged {
                "converged"
            } else {
                "FAILED"
            },
            self.secs_to_quiesce,
            self.items,
            self.applied.mutations,
            self.applied.faults.values().sum::<u64>(),
            self.kills,
            self.deliveries,
            self.throttled,
            self.lost_events,
            self.duplicate_events,
            self.violations
        )
    }
}

/// The overall summary (the last line with `--json`).
pub fn summary(reports: &[SeedReport]) -> Value {
    let sum = |f: fn(&SeedReport) -> u64| reports.iter().map(f).sum::<u64>();
    let mut faults: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for r in reports {
        for (k, v) in &r.applied.faults {
            *faults.entry(k).or_default() += v;
        }
        for (k, v) in &r.applied.by_kind {
            *by_kind.entry(k).or_default() += v;
        }
    }
    let mut secs: Vec<f64> = reports.iter().map(|r| r.secs_to_quiesce).collect();
    secs.sort_by(f64::total_cmp);
    json!({
        "seeds": reports.len(),
        "converged": reports.iter().filter(|r| r.converged).count(),
        "lost_events": sum(|r| r.lost_events as u64),
        "duplicate_events": sum(|r| r.duplicate_events as u64),
        "violations": sum(|r| r.violations),
        "kills": sum(|r| r.kills),
        "engine_exits": sum(|r| r.engine_exits),
        "mutations": sum(|r| r.applied.mutations),
        "mutations_by_kind": by_kind,
        "deliveries": sum(|r| r.deliveries as u64),
        "throttled": sum(|r| r.throttled),
        "faults": faults,
        "failed_seeds": reports.iter().filter(|r| !r.converged).map(|r| r.seed).collect::<Vec<_>>(),
        "max_secs_to_quiesce": secs.last().copied().unwrap_or(0.0),
    })
}
