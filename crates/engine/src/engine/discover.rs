//! Discovery: finds the sites' document libraries, the users' OneDrives and the
//! Microsoft 365 groups' drives that `scope` covers, and keeps the engine's set of
//! drives current while it runs.
//!
//! A full round = list the sites (`/sites/delta` by deltaLink, or `/sites` pages when
//! the tenant has no sites delta), each site's libraries (`/sites/{id}/drives`), the
//! users (`/users`) and each user's OneDrive (`/users/{id}/drive`, 404 = none), the
//! groups (`/groups/delta` by deltaLink) and each new group's drive
//! (`/groups/{id}/drive`); judge every drive by the scope rules; then [`reconcile`]
//! the store. A drive that comes into scope gets a `drive_added` event and is crawled
//! at once; one that disappears or leaves scope gets `drive_removed`, leaves the
//! schedule, and keeps its items. Full rounds repeat every `discover_interval_secs`;
//! a `/sites` or `/groups` notification runs a round of that part at once (the other
//! parts as last seen). The deltaLinks and what they describe are saved in the store,
//! so a restart continues from them. Every request passes the engine's one
//! ThrottleGate.

mod enumerate;
#[cfg(test)]
mod fallback_tests;
mod feed;
mod groups;
mod pager;
mod reconcile;
mod sites;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log::{info, warn};

pub use enumerate::{
    Feeds, FoundDrive, FoundHome, FoundSite, Inventory, Listing, Parts, Refresh, enumerate,
};
pub use feed::FeedState;
pub use groups::{GroupInfo, GroupsFeed};
pub use pager::Pager;
pub use reconcile::reconcile;
pub use sites::{SiteInfo, SitesFeed};

use super::journal::JournalSignal;
use super::messages::{ManagerMsg, SchedulerMsg, Wake};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::{EventKind, tenant_events};
use crate::graph::{GraphClient, ThrottleGate};
use crate::scope::ScopeConfig;
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
    enumerate(&pager, &config.scope, &mut Feeds::listing())
}

/// `meta` key of the saved `/sites/delta` feed.
const SITES_FEED_KEY: &str = "discover.sites_feed";
/// `meta` key of the saved `/groups/delta` feed.
const GROUPS_FEED_KEY: &str = "discover.groups_feed";

/// The tenant-level subscriptions discovery wants with webhooks on: `/sites` when
/// site libraries may be in scope, `/groups` when group drives may be.
pub fn tenant_subscriptions(scope: &ScopeConfig) -> Vec<String> {
    let mut keys = Vec::new();
    if scope.needs_sites() {
        keys.push(tenant_events::SITES.to_string());
    }
    if scope.needs_groups() {
        keys.push(tenant_events::GROUPS.to_string());
    }
    keys
}

impl Wake {
    /// The part of the tenant to look at again.
    fn refresh(self) -> Refresh {
        match self {
            Wake::Sites => Refresh {
                sites: true,
                ..Refresh::NONE
            },
            Wake::Groups => Refresh {
                groups: true,
                ..Refresh::NONE
            },
        }
    }
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

/// What the discovery thread works with: parts of the engine it borrows, and its own
/// connection, drive sink and wake-up channel.
pub(super) struct DiscoveryContext<'a> {
    /// The engine's configuration (scope, intervals, page size, configured drives).
    pub config: &'a Config,
    /// The shared Graph client.
    pub client: &'a GraphClient,
    /// Told of every event discovery journals.
    pub journal: &'a JournalSignal,
    /// Set when the engine stops.
    pub stopping: &'a AtomicBool,
    /// Discovery's own database connection.
    pub store: Store,
    /// Where added and removed drives go.
    pub sink: DriveSink,
    /// Notifications on `/sites` and `/groups`.
    pub wake: Receiver<Wake>,
}

/// The discovery thread: a full round at once, then one every
/// `discover_interval_secs` after the previous full round ended, and a round of one
/// part whenever `wake` says that part changed, until the engine stops.
pub(super) fn run(ctx: DiscoveryContext<'_>) {
    let DiscoveryContext {
        config,
        client,
        journal,
        stopping,
        store,
        sink,
        wake,
    } = ctx;
    let configured: HashSet<&str> = config.drives.iter().map(String::as_str).collect();
    let interval = Duration::from_secs(config.discover_interval_secs);
    let mut feeds = Feeds {
        sites: SitesFeed::resume(FeedState::load(&store, SITES_FEED_KEY)),
        groups: GroupsFeed::resume(FeedState::load(&store, GROUPS_FEED_KEY)),
    };
    let mut saved = SavedLinks {
        sites: feeds.sites.state().delta_link.clone(),
        groups: feeds.groups.state().delta_link.clone(),
    };
    let mut parts = Parts::default();
    let mut failing = HashSet::new();
    let mut which = Refresh::ALL;
    let mut full_due = Instant::now();
    loop {
        // A notification that arrives from here on asks for another round.
        while wake.try_recv().is_ok() {}
        let pager = Pager {
            client,
            page_size: config.page_size,
            stopping,
        };
        let ctx = RoundContext {
            scope: &config.scope,
            journal,
            store: &store,
            configured: &configured,
            sink: &sink,
        };
        let outcome = round(&pager, &ctx, &mut feeds, &mut parts, which)
            .and_then(|()| saved.save(&store, &feeds));
        if matches!(outcome, Err(Error::Stopped)) || stopping.load(Ordering::SeqCst) {
            return;
        }
        report(
            journal,
            &store,
            &problems(&parts, outcome.err()),
            &mut failing,
        );
        if which == Refresh::ALL {
            full_due = Instant::now() + interval;
        }
        which = match wait(stopping, &wake, full_due) {
            Some(next) => next,
            None => return,
        };
    }
}

/// Waits for the next full round (`Refresh::ALL` at `full_due`) or for notifications
/// (the parts they name); `None` when the engine stops.
fn wait(stopping: &AtomicBool, wake: &Receiver<Wake>, full_due: Instant) -> Option<Refresh> {
    loop {
        if stopping.load(Ordering::SeqCst) {
            return None;
        }
        let left = full_due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Some(Refresh::ALL);
        }
        match wake.recv_timeout(left.min(STOP_POLL)) {
            Ok(first) => {
                let mut which = first.refresh();
                while let Ok(more) = wake.try_recv() {
                    which = which.union(more.refresh());
                }
                return Some(which);
            }
            Err(RecvTimeoutError::Timeout) => {}
            // No notifications any more (webhooks off or stopping): intervals only.
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(left.min(STOP_POLL));
            }
        }
    }
}

/// The deltaLinks last saved, so that a feed is written only when it moved on.
struct SavedLinks {
    sites: Option<String>,
    groups: Option<String>,
}

impl SavedLinks {
    /// Saves each feed whose deltaLink changed (its link and known set in one write).
    fn save(&mut self, store: &Store, feeds: &Feeds) -> Result<()> {
        let sites = feeds.sites.state();
        if sites.delta_link != self.sites {
            sites.save(store, SITES_FEED_KEY)?;
            self.sites.clone_from(&sites.delta_link);
        }
        let groups = feeds.groups.state();
        if groups.delta_link != self.groups {
            groups.save(store, GROUPS_FEED_KEY)?;
            self.groups.clone_from(&groups.delta_link);
        }
        Ok(())
    }
}

/// What a round needs besides the pager and the feeds.
struct RoundContext<'a> {
    scope: &'a ScopeConfig,
    journal: &'a JournalSignal,
    store: &'a Store,
    configured: &'a HashSet<&'a str>,
    sink: &'a DriveSink,
}

/// One discovery round over the parts `which` names (the others as last seen).
fn round(
    pager: &Pager<'_>,
    ctx: &RoundContext<'_>,
    feeds: &mut Feeds,
    parts: &mut Parts,
    which: Refresh,
) -> Result<()> {
    let scope = ctx.scope;
    parts.refresh(pager, scope, feeds, which)?;
    let inv = parts.inventory(scope);
    let changes = reconcile(ctx.store, &inv, ctx.configured)?;
    if changes.last_seq > 0 {
        ctx.journal.published(changes.last_seq);
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
        ctx.sink.removed(id);
    }
    for id in changes.added {
        ctx.sink.added(id);
    }
    Ok(())
}

/// The problems of each part, by the drive id their events carry; a round that
/// failed without a part's problem explaining it counts under [`tenant_events::DISCOVERY`].
fn problems(parts: &Parts, failure: Option<Error>) -> Vec<(&'static str, Vec<String>)> {
    let mut all = vec![
        (tenant_events::SITES, parts.sites.problems.clone()),
        (tenant_events::USERS, parts.users.problems.clone()),
        (tenant_events::GROUPS, parts.groups.problems.clone()),
    ];
    let explained = all.iter().any(|(_, p)| !p.is_empty());
    let round = match failure {
        Some(e) if !explained => vec![format!("round failed: {e}")],
        _ => Vec::new(),
    };
    all.push((tenant_events::DISCOVERY, round));
    all
}

/// Logs the problems; a part that has problems after a clean round also puts an
/// `error` event into the journal, its drive id naming the part (see
/// [`tenant_events`]). `failing` holds the parts that are failing now.
fn report(
    journal: &JournalSignal,
    store: &Store,
    problems: &[(&'static str, Vec<String>)],
    failing: &mut HashSet<&'static str>,
) {
    for (part, list) in problems {
        let Some(first) = list.first() else {
            if failing.remove(part) {
                info!("discovery of {part}: recovered");
            }
            continue;
        };
        for p in list {
            warn!("discovery: {p}");
        }
        if failing.insert(part) {
            let more = match list.len() {
                1 => String::new(),
                n => format!(" (and {} more problems)", n - 1),
            };
            let detail = format!("discovery: {first}{more}");
            match store.append_event(EventKind::Error, part, &detail) {
                Ok(seq) => journal.published(seq),
                Err(e) => warn!("discovery: cannot record the error: {e}"),
            }
        }
    }
}
