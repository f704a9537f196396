//! One delta job: follow a drive's delta feed page by page until its deltaLink,
//! committing each page (items, events, cursor) in one transaction.
//!
//! The same loop serves the first crawl, incremental processing and the
//! re-enumeration after a 410: the drive's stored state says which it is, so an
//! interrupted job resumes from its last committed page.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender};
use log::{debug, info, warn};

use crate::engine::journal::JournalSignal;
use crate::error::{Error, Result};
use crate::graph::GraphClient;
use crate::graph::types::DeltaPage;
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
    /// Files the managed mirror stored since start.
    pub files_stored: AtomicU64,
    /// Bytes of those files.
    pub bytes_stored: AtomicU64,
    /// Mirror downloads that failed since start (each is retried later).
    pub downloads_failed: AtomicU64,
    /// Requests for permission pages since start.
    pub permission_requests: AtomicU64,
    /// Items whose permissions were fetched and stored since start.
    pub permissions_fetched: AtomicU64,
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
///
/// Pages are fetched and parsed on a helper thread one request ahead: while page N is
/// applied (one transaction), page N+1 crosses the network, so a page costs about the
/// longer of the two instead of their sum. Only applied pages move the stored cursor; a
/// page fetched ahead and never applied (stop, error, crash) is simply fetched again.
pub fn run_delta_job(ctx: &mut JobContext<'_>, drive_id: &str) -> Result<JobOutcome> {
    let drive = ctx
        .store
        .drive(drive_id)?
        .ok_or_else(|| Error::State(format!("drive {drive_id} is not in the store")))?;
    let initial = ctx.client.initial_delta_url(drive_id);
    let url = match drive.state {
        DriveState::New => {
            ctx.store.begin_crawl(drive_id)?;
            info!("drive {drive_id}: first crawl");
            initial.clone()
        }
        DriveState::Crawling | DriveState::Resyncing | DriveState::Synced => {
            drive.cursor.clone().unwrap_or_else(|| initial.clone())
        }
    };
    let client = ctx.client;
    std::thread::scope(|scope| {
        let fetcher = PageFetcher::spawn(scope, client)?;
        follow_feed(ctx, drive_id, &initial, url, &fetcher)
    })
}

/// The job's loop: receive the page in flight, ask for the next, apply, repeat.
fn follow_feed(
    ctx: &mut JobContext<'_>,
    drive_id: &str,
    initial: &str,
    first: String,
    fetcher: &PageFetcher,
) -> Result<JobOutcome> {
    let stopping = || ctx.stopping.load(Ordering::SeqCst);
    let client = ctx.client;
    // Never send our bearer token to a host that is not Graph.
    let on_graph = |url: String| {
        if client.is_graph_url(&url) {
            url
        } else {
            warn!("drive {drive_id}: stored link leaves the Graph endpoint; re-enumerating");
            initial.to_owned()
        }
    };
    if stopping() {
        return Ok(JobOutcome::Interrupted);
    }
    fetcher.request(on_graph(first))?;
    let mut resyncs = 0;
    loop {
        let page = match fetcher.next() {
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
                if stopping() {
                    return Ok(JobOutcome::Interrupted);
                }
                let url = location
                    .filter(|l| client.is_graph_url(l))
                    .unwrap_or_else(|| initial.to_owned());
                fetcher.request(url)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let DeltaPage {
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
        // A stopping engine fetches nothing more; the page in flight is still applied.
        let fetching_next = match &next_link {
            Some(next) if !stopping() => {
                fetcher.request(on_graph(next.clone()))?;
                true
            }
            _ => false,
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
        if next_link.is_none() {
            ctx.progress.jobs_completed.fetch_add(1, Ordering::Relaxed);
            return Ok(JobOutcome::Completed);
        }
        if !fetching_next || stopping() {
            return Ok(JobOutcome::Interrupted);
        }
    }
}

/// A helper thread that fetches and parses delta pages, one request at a time.
struct PageFetcher {
    urls: Sender<String>,
    pages: Receiver<Result<DeltaPage>>,
}

impl PageFetcher {
    /// Starts the thread inside `scope`; it ends once the fetcher is dropped (after the
    /// request it may be running, which a stopping engine's gate cuts short).
    fn spawn<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        client: &'scope GraphClient,
    ) -> Result<PageFetcher> {
        let (urls, url_rx) = crossbeam_channel::bounded::<String>(1);
        let (page_tx, pages) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("m365sync-fetch".into())
            .spawn_scoped(scope, move || {
                for url in url_rx {
                    if page_tx.send(client.delta_page(&url)).is_err() {
                        break;
                    }
                }
            })
            .map_err(Error::Io)?;
        Ok(PageFetcher { urls, pages })
    }

    /// Starts fetching `url`; its page is the next one [`PageFetcher::next`] returns.
    fn request(&self, url: String) -> Result<()> {
        self.urls.send(url).map_err(|_| Self::gone())
    }

    /// The page of the oldest request not yet received.
    fn next(&self) -> Result<DeltaPage> {
        self.pages.recv().map_err(|_| Self::gone())?
    }

    fn gone() -> Error {
        Error::State("the delta page fetcher thread ended".into())
    }
}
