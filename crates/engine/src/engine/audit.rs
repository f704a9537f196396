//! Drift audits: a full enumeration of a drive started on purpose, to catch the changes
//! delta failed to report (Graph sometimes leaves out delete tombstones).
//!
//! An audit job first runs the drive's usual delta round, so that everything delta does
//! report is applied as usual; then it starts a resync ([`Store::begin_audit`]) and follows
//! the enumeration to its deltaLink. The store's sweep deletes the items the enumeration
//! no longer has and journals every difference, between `resync_started` (detail
//! [`AUDIT_REASON`](crate::store::AUDIT_REASON)) and `resync_completed` ("N changes").
//! Those N changes are the drift, kept per drive for status.
//!
//! Like any resync, an interrupted audit resumes from its last committed page; whichever
//! job completes it closes its record ([`close`]).

use std::time::{Duration, Instant};

use log::{info, warn};

use crate::engine::crawl::{JobContext, JobOutcome, run_delta_job};
use crate::error::Result;
use crate::store::{DriveRecord, DriveState, Store};
use crate::time::now_ms;

/// Runs an audit job for `drive_id`: catch up with delta, then enumerate in full.
pub fn run_audit_job(ctx: &mut JobContext<'_>, drive_id: &str) -> Result<JobOutcome> {
    let enumerated = ctx
        .store
        .drive(drive_id)?
        .is_some_and(|d| d.state != DriveState::Synced);
    if run_delta_job(ctx, drive_id)? == JobOutcome::Interrupted {
        return Ok(JobOutcome::Interrupted);
    }
    if enumerated {
        // That round was itself a full enumeration (first crawl or resync): no need
        // to run another one.
        return Ok(JobOutcome::Completed);
    }
    info!("drive {drive_id}: drift audit (full enumeration)");
    let seq = ctx.store.begin_audit(drive_id)?;
    ctx.journal.published(seq);
    run_delta_job(ctx, drive_id)
}

/// Closes the drive's audit if a job just completed it, logging the drift found.
pub fn close(store: &mut Store, drive_id: &str) -> Result<()> {
    if let Some(record) = store.finish_audit(drive_id)? {
        let drift = record.last_drift.unwrap_or(0);
        if drift > 0 {
            warn!(
                "drive {drive_id}: the audit found {drift} changes delta had not reported \
                 ({} in all audits)",
                record.drift_total
            );
        } else {
            info!("drive {drive_id}: the audit found no drift");
        }
    }
    Ok(())
}

/// When the drive's next audit falls due, given the last audit a previous run recorded:
/// one interval after the last full enumeration (audit or first crawl). `None` when the
/// drive was never enumerated (its first crawl comes first, the audit an interval later)
/// or the instant is beyond the clock's range.
pub fn next_due(
    last_audit_ms: Option<i64>,
    drive: &DriveRecord,
    interval_secs: u64,
    now: Instant,
) -> Option<Instant> {
    let last = last_audit_ms.max(drive.last_full_crawl_ms)?;
    let interval_ms = i64::try_from(interval_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let wait_ms = last
        .saturating_add(interval_ms)
        .saturating_sub(now_ms())
        .max(0);
    now.checked_add(Duration::from_millis(wait_ms.unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_audit_is_an_interval_after_the_last_enumeration() {
        let now = Instant::now();
        let mut drive = DriveRecord {
            id: "d".into(),
            site_id: None,
            name: None,
            kind: None,
            state: DriveState::Synced,
            cursor: None,
            cursor_is_delta: false,
            last_full_crawl_ms: None,
            last_delta_ms: None,
            last_error: None,
            item_count: 0,
            removed: false,
        };
        assert_eq!(next_due(None, &drive, 60, now), None);
        drive.last_full_crawl_ms = Some(0);
        assert_eq!(next_due(None, &drive, 60, now), Some(now), "long overdue");
        let recent = next_due(Some(now_ms()), &drive, 3600, now).unwrap();
        let wait = recent - now;
        assert!(wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600));
        let _ = next_due(Some(0), &drive, u64::MAX, now); // no overflow panic
    }
}
