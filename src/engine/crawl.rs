//! One delta job: follow a drive's delta feed page by page until its deltaLink,
//! committing each page (items, events, cursor) in one transaction.
//!
//! The same loop serves the first crawl, incremental processing and the
//! re-enumeration after a 410: the drive's stored state says which it is, so an
//! interrupted job resumes from its last committed page.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use log::{debug, info, warn};

use crate::engine::journal::JournalSignal;
use crate::error::{Error, Result};
use crate::graph::GraphClient;
use crate::store::{ApplyOptions, Cursor, DriveState, Store};

/// How many 410s in a row one job tolerates before giving up (a server that
/// answers 410 to a fresh enumeration would otherwise loop forever).
const MAX_RESYNCS_PER_JOB: u32 = 3;

/// Counters shared by all workers, read by the progress display and status.
#[derive(Debug, Default)]
pub struct Progress {
    /// Items applied from delta pages since start.
    pub items: AtomicU64,
    /// Delta pages committed since start.
    pub pages: AtomicU64,
    /// Delta jobs that reached a deltaLink since start.
    pub jobs_completed: AtomicU64,
}

/// What a job needs besides the drive id.
pub struct JobContext<'a> {
    /// This worker's own connection.
    pub store: &'a mut Store,
    /// The shared Graph client.
    pub client: &'a GraphClient,
    /// How pages are turned into events.
    pub options: &'a ApplyOptions,
    /// Set when the engine is stopping: the job ends after the page in flight.
    pub stopping: &'a AtomicBool,
    /// Shared counters.
    pub progress: &'a Progress,
    /// Told about every committed event.
    pub journal: &'a JournalSignal,
}

/// How a job ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// The feed reached its deltaLink; the drive is in sync.
    Completed,
    /// The engine is stopping; the job stopped after a committed page.
    Interrupted,
}

/// Runs one delta job for `drive_id`.
pub fn run_delta_job(ctx: &mut JobContext<'_>, drive_id: &str) -> Result<JobOutcome> {
    let drive = ctx
        .store
        .drive(drive_id)?
        .ok_or_else(|| Error::State(format!("drive {drive_id} is not in the store")))?;
    let initial = ctx.client.initial_delta_url(drive_id);
    let mut url = match drive.state {
        DriveState::New => {
            ctx.store.begin_crawl(drive_id)?;
            info!("drive {drive_id}: first crawl");
            initial.clone()
        }
        DriveState::Crawling | DriveState::Resyncing | DriveState::Synced => {
            drive.cursor.clone().unwrap_or_else(|| initial.clone())
        }
    };
    let mut resyncs = 0;
    loop {
        if ctx.stopping.load(Ordering::SeqCst) {
            return Ok(JobOutcome::Interrupted);
        }
        if !ctx.client.is_graph_url(&url) {
            // Never send our bearer token to a host that is not Graph.
            warn!("drive {drive_id}: stored link leaves the Graph endpoint; re-enumerating");
            url = initial.clone();
        }
        let page = match ctx.client.delta_page(&url) {
            Ok(page) => page,
            Err(Error::ResyncRequired { location }) => {
                resyncs += 1;
                if resyncs > MAX_RESYNCS_PER_JOB {
                    return Err(Error::Protocol(format!(
                        "delta of drive {drive_id} answered 410 {resyncs} times in a row"
                    )));
                }
                warn!("drive {drive_id}: delta token expired (410); re-enumerating");
                let seq = ctx
                    .store
                    .begin_resync(drive_id, "delta token expired (410 Gone)")?;
                ctx.journal.published(seq);
                url = location
                    .filter(|l| ctx.client.is_graph_url(l))
                    .unwrap_or_else(|| initial.clone());
                continue;
            }
            Err(e) => return Err(e),
        };
        let crate::graph::types::DeltaPage {
            value,
            next_link,
            delta_link,
        } = page;
        let cursor = match (&next_link, &delta_link) {
            (Some(next), _) => Cursor::Next(next),
            (None, Some(delta)) => Cursor::Delta(delta),
            (None, None) => {
                return Err(Error::Protocol(
                    "delta page carries neither @odata.nextLink nor @odata.deltaLink".into(),
                ));
            }
        };
        let outcome = ctx
            .store
            .apply_page(drive_id, &value, cursor, ctx.options)?;
        ctx.progress
            .items
            .fetch_add(outcome.items as u64, Ordering::Relaxed);
        ctx.progress.pages.fetch_add(1, Ordering::Relaxed);
        if outcome.events > 0 {
            ctx.journal.published(outcome.last_seq);
        }
        debug!(
            "drive {drive_id}: page of {} items, {} events",
            outcome.items, outcome.events
        );
        match next_link {
            Some(next) => url = next,
            None => {
                ctx.progress.jobs_completed.fetch_add(1, Ordering::Relaxed);
                return Ok(JobOutcome::Completed);
            }
        }
    }
}
