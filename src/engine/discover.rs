//! Discovery: finds the sites' document libraries and the users' OneDrives that
//! `scope` covers, and keeps the engine's set of drives current while it runs.
//!
//! One round = list the sites (`/sites/delta` after the first round, or `/sites` pages
//! when the tenant has no sites delta), each site's libraries (`/sites/{id}/drives`),
//! the users (`/users`) and each user's OneDrive (`/users/{id}/drive`, 404 = none);
//! judge every drive by the scope rules; then [`reconcile`] the store. A drive that
//! comes into scope gets a `drive_added` event and is crawled at once; one that
//! disappears or leaves scope gets `drive_removed`, leaves the schedule, and keeps its
//! items. Rounds repeat every `discover_interval_secs`; every request passes the
//! engine's one ThrottleGate.

mod enumerate;
mod reconcile;
mod sites;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use log::{info, warn};

pub use enumerate::{FoundDrive, FoundHome, FoundSite, Inventory, Listing, Pager, enumerate};
pub use reconcile::{Changes, reconcile};
pub use sites::{SiteInfo, SitesFeed};

use super::Shared;
use super::scheduler::SchedulerMsg;
use super::subscriptions::ManagerMsg;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::graph::{GraphClient, ThrottleGate};
use crate::store::Store;

/// Enumerates the drives `config.scope` covers, each with its verdict, without
/// touching the store or crawling anything (what `m365sync discover` prints).
pub fn inventory(config: &Config, stopping: &AtomicBool) -> Result<Inventory> {
    let gate = Arc::new(ThrottleGate::new(&config.throttle));
    let client = GraphClient::new(config, gate)?;
    let pager = Pager {
        client: &client,
        page_size: config.page_size,
        stopping,
    };
    enumerate(&pager, &config.scope, &mut SitesFeed::listing())
}

/// Where discovery reports drives that came or went: the scheduler always, the
/// subscription manager when webhooks are on.
pub(super) struct DriveSink {
    /// Crawls added drives, forgets removed ones.
    pub scheduler: Sender<SchedulerMsg>,
    /// Subscribes added drives, unsubscribes removed ones.
    pub subscriptions: Option<Sender<ManagerMsg>>,
}

impl DriveSink {
    // Either receiver may be gone while the engine stops; the store already has it all.
    fn added(&self, id: String) {
        if let Some(tx) = &self.subscriptions {
            let _ = tx.send(ManagerMsg::DriveAdded(id.clone()));
        }
        let _ = self.scheduler.send(SchedulerMsg::AddDrive(id));
    }

    fn removed(&self, id: String) {
        if let Some(tx) = &self.subscriptions {
            let _ = tx.send(ManagerMsg::DriveRemoved(id.clone()));
        }
        let _ = self.scheduler.send(SchedulerMsg::RemoveDrive(id));
    }
}

/// How often a waiting discovery thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The discovery thread: a round at once, then one every `discover_interval_secs`
/// after the previous round ended, until the engine stops.
pub(super) fn run(shared: Arc<Shared>, store: Store, sink: DriveSink) {
    let config = &shared.config;
    let configured: HashSet<&str> = config.drives.iter().map(String::as_str).collect();
    let interval = Duration::from_secs(config.discover_interval_secs);
    let mut feed = SitesFeed::delta();
    let mut failing = false;
    while !shared.stopping.load(Ordering::SeqCst) {
        let pager = Pager {
            client: &shared.client,
            page_size: config.page_size,
            stopping: &shared.stopping,
        };
        let problems = match round(&pager, &shared, &store, &configured, &mut feed, &sink) {
            Ok(problems) => problems,
            Err(Error::Stopped) => return,
            Err(e) => vec![format!("round failed: {e}")],
        };
        failing = report(&shared, &store, &problems, failing);
        let wake = Instant::now() + interval;
        while !shared.stopping.load(Ordering::SeqCst) && Instant::now() < wake {
            std::thread::sleep(STOP_POLL.min(wake.saturating_duration_since(Instant::now())));
        }
    }
}

/// One discovery round; returns the problems that did not stop it.
fn round(
    pager: &Pager<'_>,
    shared: &Shared,
    store: &Store,
    configured: &HashSet<&str>,
    feed: &mut SitesFeed,
    sink: &DriveSink,
) -> Result<Vec<String>> {
    let inv = enumerate(pager, &shared.config.scope, feed)?;
    let changes = reconcile(store, &inv, configured)?;
    if changes.last_seq > 0 {
        shared.journal.published(changes.last_seq);
    }
    info!(
        "discovery: {} drives found ({} in scope), {} added, {} removed",
        inv.drives.len(),
        inv.drives
            .iter()
            .filter(|d| d.verdict.is_included())
            .count(),
        changes.added.len(),
        changes.removed.len()
    );
    for id in changes.removed {
        sink.removed(id);
    }
    for id in changes.added {
        sink.added(id);
    }
    Ok(inv.problems)
}

/// Logs the round's problems; the first round with problems after a clean one also
/// puts an `error` event (empty drive id) into the journal. Returns whether discovery
/// is now failing.
fn report(shared: &Shared, store: &Store, problems: &[String], failing: bool) -> bool {
    let Some(first) = problems.first() else {
        if failing {
            info!("discovery: recovered");
        }
        return false;
    };
    for p in problems {
        warn!("discovery: {p}");
    }
    if !failing {
        let more = match problems.len() {
            1 => String::new(),
            n => format!(" (and {} more problems)", n - 1),
        };
        let detail = format!("discovery: {first}{more}");
        match store.append_event(EventKind::Error, "", &detail) {
            Ok(seq) => shared.journal.published(seq),
            Err(e) => warn!("discovery: cannot record the error: {e}"),
        }
    }
    true
}
