//! The multi-tenant host: many tenants in one process on one shared runtime.
//!
//! Each tenant keeps what is its own: configuration, Graph client and ThrottleGate
//! (the budget is per app per tenant), database file and journal. All tenants share
//! one scheduler thread (a [`Schedule`] per tenant), one pool of workers taking jobs
//! from a [`FairQueue`] (round-robin over the tenants with due drives, the one with
//! the fewest running jobs first, throttled tenants skipped while their pause lasts,
//! no tenant on more than all workers but one)
//! and one dispatcher delivering each tenant's journal in order. The thread count is
//! `workers + 2` whatever the number of tenants; a worker opens the tenant's database
//! for the job it runs, and each tenant keeps two connections (API reads, delivery).
//!
//! A tenant whose configuration is invalid, or whose credentials Graph refuses,
//! fails alone: `add_tenant` returns the error and status shows it for that tenant;
//! refused credentials also put an `error` event in that tenant's journal.

mod fair;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log::{info, warn};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use super::dispatcher::{DEFAULT_CONSUMER, Delivery, IDLE_WAIT, RETRY_MAX, RETRY_MIN};
use super::journal::{Bell, JournalSignal};
use super::messages::SchedulerMsg;
use super::scheduler::{Job, Schedule, apply, due_jobs};
use super::{Ack, Shared, Status, crawl, join_threads, run_job, spawn, tenant_schedule};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::store::{ApplyOptions, Store};
use fair::FairQueue;

/// Settings of the runtime the tenants of a [`Host`] share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// Worker threads running delta jobs for every tenant (default 4). Each tenant's
    /// own `workers` setting is ignored inside a host.
    pub workers: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig { workers: 4 }
    }
}

/// One event of one tenant, as a [`Host`]'s handler receives it.
#[derive(Debug, Clone, Copy)]
pub struct TenantEvent<'a> {
    /// The key the tenant was added under ([`Host::add_tenant`]).
    pub tenant: &'a str,
    /// The event, with its `seq` in that tenant's journal.
    pub event: &'a Event,
}

/// A host callback receiving every tenant's events, each tenant's in `seq` order.
pub type TenantEventHandler = Box<dyn FnMut(&TenantEvent<'_>) -> Ack + Send>;

/// One tenant's part of [`HostStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct TenantStatus {
    /// The key the tenant was added under.
    pub key: String,
    /// Its Azure AD tenant id (as configured; empty when the configuration was unreadable).
    pub tenant_id: String,
    /// Why the tenant does not (fully) work: its configuration or store was refused, or
    /// the first drive error (e.g. Graph refused its credentials). `None` when healthy.
    pub error: Option<String>,
    /// The tenant's own status, as [`crate::Engine::status`] gives it; `None` for a
    /// tenant that could not be opened.
    pub status: Option<Status>,
}

/// A snapshot of a [`Host`]: its runtime and every tenant.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    /// Whether the host's threads run.
    pub running: bool,
    /// Worker threads shared by the tenants.
    pub workers: usize,
    /// Every tenant, by key.
    pub tenants: Vec<TenantStatus>,
}

/// A tenant that runs.
struct Tenant {
    key: String,
    shared: Shared,
    options: ApplyOptions,
    /// The connection of API reads (status, events, acks).
    api_store: Mutex<Store>,
    /// The dispatcher's connection and position.
    delivery: Mutex<DeliveryState>,
}

struct DeliveryState {
    store: Store,
    acked: i64,
    retry_wait: Duration,
    retry_at: Option<Instant>,
}

enum Entry {
    Live(Arc<Tenant>),
    /// Added with a configuration or store that was refused.
    Failed {
        tenant_id: String,
        error: String,
    },
}

/// Messages the host's scheduler receives.
enum HostMsg {
    /// A message about one tenant's drives.
    Tenant(String, SchedulerMsg),
    /// A tenant joined a running host.
    Add(String, Schedule),
    /// A tenant left.
    Remove(String),
    Stop,
}

/// State shared by the host's threads.
struct HostShared {
    config: HostConfig,
    tenants: RwLock<BTreeMap<String, Entry>>,
    queue: FairQueue<Job>,
    /// Rung by every tenant's journal.
    bell: Arc<Bell>,
    handler: Mutex<Option<TenantEventHandler>>,
    stopping: AtomicBool,
}

impl HostShared {
    fn tenant(&self, key: &str) -> Option<Arc<Tenant>> {
        match self.tenants.read().get(key) {
            Some(Entry::Live(t)) => Some(t.clone()),
            _ => None,
        }
    }

    fn live_tenants(&self) -> Vec<Arc<Tenant>> {
        self.tenants
            .read()
            .values()
            .filter_map(|e| match e {
                Entry::Live(t) => Some(t.clone()),
                Entry::Failed { .. } => None,
            })
            .collect()
    }
}

struct Running {
    scheduler_tx: Sender<HostMsg>,
    threads: Vec<JoinHandle<()>>,
    dispatcher: Option<JoinHandle<()>>,
}

/// Many tenants in one process: each with its own credentials, ThrottleGate, database
/// and journal, all on one scheduler, one worker pool (fair across tenants) and one
/// dispatcher. Tenants can be added and removed while the host runs.
///
/// ```no_run
/// use m365sync::{Ack, Config, Host, HostConfig};
/// let host = Host::new(HostConfig { workers: 4 });
/// host.add_tenant("contoso", Config::from_file("contoso.json".as_ref())?)?;
/// host.add_tenant("fabrikam", Config::from_file("fabrikam.json".as_ref())?)?;
/// host.set_event_handler(|e| {
///     println!("{} #{} {} {}", e.tenant, e.event.seq, e.event.kind, e.event.path);
///     Ack::Ok
/// });
/// host.start()?;
/// // ... until shutdown:
/// host.stop();
/// # Ok::<(), m365sync::Error>(())
/// ```
///
/// Inside a host a tenant's configuration may not have `webhook`, `scope` or
/// `download.dir` yet (those still need an [`Engine`](crate::Engine) of their own).
pub struct Host {
    shared: Arc<HostShared>,
    running: Mutex<Option<Running>>,
    started: AtomicBool,
    dispatcher_thread: Mutex<Option<ThreadId>>,
}

fn assert_send_sync<T: Send + Sync>() {}
const _: fn() = assert_send_sync::<Host>;

impl Host {
    /// A host with no tenant and no thread yet (threads start with [`Host::start`]).
    pub fn new(config: HostConfig) -> Host {
        let workers = config.workers.max(1);
        Host {
            shared: Arc::new(HostShared {
                config: HostConfig { workers },
                tenants: RwLock::new(BTreeMap::new()),
                // One worker always stays for the other tenants.
                queue: FairQueue::new(workers.saturating_sub(1)),
                bell: Arc::default(),
                handler: Mutex::new(None),
                stopping: AtomicBool::new(false),
            }),
            running: Mutex::new(None),
            started: AtomicBool::new(false),
            dispatcher_thread: Mutex::new(None),
        }
    }

    /// Adds a tenant under `key` (any non-empty text, unique in the host): opens (or
    /// creates) its store and registers its drives; on a running host its drives are
    /// crawled at once. A configuration or store that is refused fails this tenant
    /// only: the error is returned and shown for `key` in [`Host::status`] until the
    /// key is added again or removed. Makes no Graph request.
    pub fn add_tenant(&self, key: &str, config: Config) -> Result<()> {
        if key.is_empty() {
            return Err(Error::InvalidInput("a tenant key must not be empty".into()));
        }
        if let Some(Entry::Live(_)) = self.shared.tenants.read().get(key) {
            return Err(Error::State(format!("tenant `{key}` was already added")));
        }
        let tenant_id = config.tenant_id.clone();
        let opened = self.open_tenant(key, config);
        // Always `running` before `tenants`, as in `start`.
        let running = self.running.lock();
        let mut tenants = self.shared.tenants.write();
        if let Some(Entry::Live(_)) = tenants.get(key) {
            return Err(Error::State(format!("tenant `{key}` was already added")));
        }
        match opened {
            Ok(tenant) => {
                let schedule = match &*running {
                    Some(running) => Some((running.scheduler_tx.clone(), schedule_of(&tenant)?)),
                    None => None,
                };
                tenants.insert(key.to_string(), Entry::Live(tenant));
                drop(tenants);
                drop(running);
                if let Some((tx, schedule)) = schedule {
                    let _ = tx.send(HostMsg::Add(key.to_string(), schedule));
                }
                info!("host: tenant {key} added");
                Ok(())
            }
            Err(e) => {
                warn!("host: tenant {key} refused: {e}");
                let error = e.to_string();
                tenants.insert(key.to_string(), Entry::Failed { tenant_id, error });
                Err(e)
            }
        }
    }

    fn open_tenant(&self, key: &str, config: Config) -> Result<Arc<Tenant>> {
        let unsupported = [
            (config.webhook.is_some(), "webhook"),
            (config.scope.is_active(), "scope"),
            (config.download.dir.is_some(), "download.dir"),
        ];
        if let Some((_, field)) = unsupported.iter().find(|(set, _)| *set) {
            return Err(Error::Config(format!(
                "field `{field}`: not supported inside a Host yet; run an Engine for this tenant"
            )));
        }
        let taken = self
            .shared
            .live_tenants()
            .into_iter()
            .find(|t| t.shared.config.database == config.database);
        if let Some(other) = taken {
            return Err(Error::Config(format!(
                "field `database`: {} is already the database of tenant `{}`",
                config.database.display(),
                other.key
            )));
        }
        let journal = Arc::new(JournalSignal::with_bell(self.shared.bell.clone()));
        let (shared, api_store) = Shared::open(config, journal)?;
        let store = Store::open(&shared.config.database)?;
        let acked = store.acked_seq(DEFAULT_CONSUMER)?;
        Ok(Arc::new(Tenant {
            key: key.to_string(),
            options: shared.apply_options(),
            shared,
            api_store: Mutex::new(api_store),
            delivery: Mutex::new(DeliveryState {
                store,
                acked,
                retry_wait: RETRY_MIN,
                retry_at: None,
            }),
        }))
    }

    /// Removes the tenant `key`: its drives are scheduled no more, its running jobs
    /// end after their page, its events are no longer delivered. Its database stays.
    /// The other tenants are not disturbed.
    pub fn remove_tenant(&self, key: &str) -> Result<()> {
        let removed = self.shared.tenants.write().remove(key);
        match removed {
            None => Err(Error::InvalidInput(format!("no tenant `{key}`"))),
            Some(entry) => {
                if let Entry::Live(tenant) = entry {
                    tenant.shared.halt();
                }
                self.shared.queue.forget(key);
                if let Some(running) = &*self.running.lock() {
                    let _ = running.scheduler_tx.send(HostMsg::Remove(key.to_string()));
                }
                info!("host: tenant {key} removed");
                Ok(())
            }
        }
    }

    /// The keys of every tenant added and not removed (refused ones included).
    pub fn tenants(&self) -> Vec<String> {
        self.shared.tenants.read().keys().cloned().collect()
    }

    /// Sets the handler that receives every tenant's events (each tenant's in `seq`
    /// order, starting after its last acked one). It runs on the dispatcher thread
    /// and may call any method of the host (even `stop`). Replaces any previous one.
    pub fn set_event_handler<F>(&self, handler: F)
    where
        F: FnMut(&TenantEvent<'_>) -> Ack + Send + 'static,
    {
        *self.shared.handler.lock() = Some(Box::new(handler));
        self.shared.bell.ring();
    }

    /// Up to `limit` events of tenant `key` with `seq > after_seq`, oldest first.
    pub fn events_after(&self, key: &str, after_seq: i64, limit: usize) -> Result<Vec<Event>> {
        let tenant = self
            .shared
            .tenant(key)
            .ok_or_else(|| Error::InvalidInput(format!("no running tenant `{key}`")))?;
        tenant.api_store.lock().events_after(after_seq, limit)
    }

    /// Starts the scheduler, the workers and the dispatcher shared by every tenant.
    /// A host starts once.
    pub fn start(&self) -> Result<()> {
        let mut running = self.running.lock();
        if self.started.swap(true, Ordering::SeqCst) {
            return Err(Error::State("the host was already started".into()));
        }
        let mut schedules = BTreeMap::new();
        for tenant in self.shared.live_tenants() {
            match schedule_of(&tenant) {
                Ok(schedule) => {
                    schedules.insert(tenant.key.clone(), schedule);
                }
                Err(e) => warn!(
                    "host: tenant {}: cannot schedule its drives: {e}",
                    tenant.key
                ),
            }
        }
        let (scheduler_tx, scheduler_rx) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        let host = self.shared.clone();
        threads.push(spawn("m365sync-scheduler", move || {
            run_scheduler(&host, schedules, &scheduler_rx)
        })?);
        for i in 0..self.shared.config.workers {
            let host = self.shared.clone();
            let done = scheduler_tx.clone();
            threads.push(spawn(&format!("m365sync-worker-{i}"), move || {
                run_worker(&host, &done)
            })?);
        }
        let host = self.shared.clone();
        let dispatcher = spawn("m365sync-dispatcher", move || run_dispatcher(&host))?;
        *self.dispatcher_thread.lock() = Some(dispatcher.thread().id());
        *running = Some(Running {
            scheduler_tx,
            threads,
            dispatcher: Some(dispatcher),
        });
        info!(
            "host started: {} tenants, {} workers",
            self.shared.tenants.read().len(),
            self.shared.config.workers
        );
        Ok(())
    }

    /// Stops every thread and every tenant (jobs end after the page in flight).
    /// Idempotent; safe to call from inside the event handler.
    pub fn stop(&self) {
        let Some(mut running) = self.running.lock().take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        for tenant in self.shared.live_tenants() {
            tenant.shared.halt();
        }
        self.shared.queue.stop();
        self.shared.bell.ring();
        let _ = running.scheduler_tx.send(HostMsg::Stop);
        join_threads(
            running.threads.drain(..),
            running.dispatcher.take(),
            &self.dispatcher_thread,
        );
        info!("host stopped");
    }

    /// A snapshot of the host and of every tenant, with a per-tenant error.
    pub fn status(&self) -> HostStatus {
        let running = self.running.lock().is_some();
        let tenants = self
            .shared
            .tenants
            .read()
            .iter()
            .map(|(key, entry)| match entry {
                Entry::Live(t) => tenant_status(t, running),
                Entry::Failed { tenant_id, error } => TenantStatus {
                    key: key.clone(),
                    tenant_id: tenant_id.clone(),
                    error: Some(error.clone()),
                    status: None,
                },
            })
            .collect();
        HostStatus {
            running,
            workers: self.shared.config.workers,
            tenants,
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop();
    }
}

fn schedule_of(tenant: &Tenant) -> Result<Schedule> {
    let store = tenant.api_store.lock();
    tenant_schedule(&tenant.shared.config, &store, &store.drives()?)
}

fn tenant_status(tenant: &Tenant, running: bool) -> TenantStatus {
    let status = tenant.shared.status(&tenant.api_store.lock(), running);
    let (error, status) = match status {
        Ok(status) => {
            let error = status.drives.iter().find_map(|d| {
                d.last_error
                    .as_ref()
                    .map(|e| format!("drive {}: {e}", d.id))
            });
            (error, Some(status))
        }
        Err(e) => (Some(e.to_string()), None),
    };
    TenantStatus {
        key: tenant.key.clone(),
        tenant_id: tenant.shared.config.tenant_id.clone(),
        error,
        status,
    }
}

/// The scheduler thread: every tenant's schedule, one timer.
fn run_scheduler(
    host: &HostShared,
    mut schedules: BTreeMap<String, Schedule>,
    inbox: &Receiver<HostMsg>,
) {
    let mut rng = rand::rng();
    loop {
        let now = Instant::now();
        for (key, schedule) in &mut schedules {
            for job in due_jobs(schedule, now) {
                host.queue.push(key, job);
            }
        }
        let wake = schedules.values().filter_map(Schedule::next_wake).min();
        let msg = match wake {
            Some(at) => inbox.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match msg {
            Ok(HostMsg::Tenant(key, msg)) => {
                if let Some(schedule) = schedules.get_mut(&key) {
                    apply(schedule, msg, Instant::now(), &mut rng);
                }
            }
            Ok(HostMsg::Add(key, schedule)) => {
                schedules.insert(key, schedule);
            }
            Ok(HostMsg::Remove(key)) => {
                schedules.remove(&key);
            }
            Ok(HostMsg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// A worker: takes jobs fairly from every tenant until the host stops.
fn run_worker(host: &HostShared, done: &Sender<HostMsg>) {
    let runnable = |key: &str| {
        host.tenant(key)
            .is_none_or(|t| !t.shared.client.gate().is_paused())
    };
    while let Some((key, job)) = host.queue.take(&runnable) {
        let result = match host.tenant(&key) {
            Some(t) if !t.shared.stopping.load(Ordering::SeqCst) => tenant_job(&t, &job),
            _ => Err(Error::Stopped),
        };
        host.queue.done(&key);
        let drive = job.drive;
        if done
            .send(HostMsg::Tenant(
                key,
                SchedulerMsg::JobDone { drive, result },
            ))
            .is_err()
        {
            return;
        }
    }
}

/// Runs one job of `tenant` on a connection opened for it.
fn tenant_job(tenant: &Tenant, job: &Job) -> Result<crawl::JobOutcome> {
    let mut store = Store::open(&tenant.shared.config.database).inspect_err(|e| {
        warn!("tenant {}: cannot open its store: {e}", tenant.key);
    })?;
    run_job(&tenant.shared, &mut store, job, &tenant.options)
}

/// The dispatcher thread: delivers each tenant's journal in order; a tenant whose
/// events the handler refuses waits alone.
fn run_dispatcher(host: &HostShared) {
    while !host.stopping.load(Ordering::SeqCst) {
        let seen = host.bell.rung();
        let Some(mut callback) = host.handler.lock().take() else {
            host.bell.wait_after(seen, IDLE_WAIT);
            continue;
        };
        let mut progressed = false;
        let mut wait = IDLE_WAIT;
        for tenant in host.live_tenants() {
            if host.stopping.load(Ordering::SeqCst) {
                break;
            }
            let now = Instant::now();
            let mut d = tenant.delivery.lock();
            if let Some(at) = d.retry_at.filter(|at| *at > now) {
                wait = wait.min(at - now);
                continue;
            }
            // Another thread (pull-style ack) may have moved the position forward.
            if let Ok(seq) = d.store.acked_seq(DEFAULT_CONSUMER) {
                d.acked = d.acked.max(seq);
            }
            if d.acked >= tenant.shared.journal.last_seq() {
                continue;
            }
            let DeliveryState { store, acked, .. } = &mut *d;
            let key = tenant.key.as_str();
            let mut deliver = |event: &Event| callback(&TenantEvent { tenant: key, event });
            match super::dispatcher::deliver_batch(
                store,
                &mut deliver,
                acked,
                &tenant.shared.journal,
            ) {
                Delivery::Idle => d.retry_wait = RETRY_MIN,
                Delivery::Progress => {
                    progressed = true;
                    d.retry_wait = RETRY_MIN;
                }
                Delivery::Refused => {
                    d.retry_at = Some(now + d.retry_wait);
                    wait = wait.min(d.retry_wait);
                    d.retry_wait = (d.retry_wait * 2).min(RETRY_MAX);
                }
            }
        }
        {
            let mut slot = host.handler.lock();
            if slot.is_none() {
                *slot = Some(callback);
            }
        }
        if !progressed {
            host.bell.wait_after(seen, wait);
        }
    }
}
