//! The engine: scheduler, workers and dispatcher around one store and one Graph client.
//!
//! Threads (all synchronous):
//! - the **scheduler** decides which drive runs a delta job next ([`scheduler`]);
//! - **workers** run one delta job at a time, each with its own SQLite connection;
//! - the **dispatcher** delivers journal events to the host's handler in order;
//! - with `webhook` configured, the **listener** and the **subscription manager**
//!   ([`notify`], [`subscriptions`]) turn Graph's notifications into dirty drives.
//!
//! Every Graph request of every thread passes the one [`ThrottleGate`].

pub mod audit;
mod content;
pub mod crawl;
pub mod discover;
pub mod dispatcher;
pub mod host;
pub mod journal;
pub mod messages;
mod mirror;
pub mod notify;
pub mod pause;
mod permissions;
pub mod scheduler;
mod sharing;
pub mod status;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use log::{error, info, warn};
use parking_lot::Mutex;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::graph::{GraphClient, ThrottleGate};
use crate::store::{ApplyOptions, NewDrive, Store};

pub use crawl::Progress;
pub use dispatcher::{Ack, EventHandler};
pub use host::{Host, HostConfig, HostStatus, TenantEvent, TenantEventHandler, TenantStatus};
pub use notify::NotificationReceipt;
pub use status::{DriveStatus, MirrorStats, Status, TenantSubscriptionStatus};

use crawl::{JobContext, run_delta_job};
use dispatcher::{DEFAULT_CONSUMER, HandlerSlot};
use journal::JournalSignal;
use messages::SchedulerMsg;
use notify::subscriptions::{ManagerContext, SubscriptionBoard};
use notify::{IntakeCounters, Notifications, Registry, Rejection};
use scheduler::{Intervals, Job, Schedule};

/// State shared by the engine's threads.
struct Shared {
    config: Config,
    client: Arc<GraphClient>,
    journal: Arc<JournalSignal>,
    stopping: AtomicBool,
    progress: Progress,
    /// Our live subscriptions, checked by every notification.
    registry: Arc<Registry>,
    /// Notification counters.
    counters: Arc<IntakeCounters>,
    /// Each drive's subscription, for status.
    board: SubscriptionBoard,
    /// Where Graph posts notifications, once started.
    notification_url: Mutex<Option<String>>,
    /// Drives whose permissions Graph refused.
    permission_denials: permissions::Denials,
}

impl Shared {
    /// Validates `config`, opens (or creates) its store, registers the configured
    /// drives and builds the tenant's Graph client and ThrottleGate. Makes no Graph
    /// request. Returns the store it opened for the caller's API reads.
    fn open(config: Config, journal: Arc<JournalSignal>) -> Result<(Shared, Store)> {
        config.validate()?;
        let store = Store::open(&config.database)?;
        for drive in &config.drives {
            let added = store.upsert_drive(&NewDrive {
                id: drive,
                site_id: None,
                name: None,
                kind: None,
            })?;
            if added {
                store.append_event(EventKind::DriveAdded, drive, "configured")?;
            }
        }
        let gate = Arc::new(
            ThrottleGate::new(&config.throttle).with_background_share(config.download.ru_share),
        );
        pause::restore(&store, &gate)?;
        pause::persist(&config.database, &gate)?;
        let client = Arc::new(GraphClient::new(&config, gate)?);
        journal.published(store.last_seq()?);
        let shared = Shared {
            config,
            client,
            journal,
            stopping: AtomicBool::new(false),
            progress: Progress::default(),
            registry: Arc::default(),
            counters: Arc::default(),
            board: Arc::default(),
            notification_url: Mutex::new(None),
            permission_denials: permissions::Denials::default(),
        };
        Ok((shared, store))
    }

    /// Ends the tenant's work: jobs end after their page, throttle waits are cut short,
    /// the dispatcher ends.
    fn halt(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.client.gate().stop();
        self.journal.stop();
    }

    /// How this tenant's pages become events.
    fn apply_options(&self) -> ApplyOptions {
        ApplyOptions {
            emit_initial_items: self.config.emit_initial_items,
            fetch_permissions: self.config.permissions.fetch,
        }
    }

    /// A snapshot of the tenant's state, read through `store`.
    fn status(&self, store: &Store, running: bool) -> Result<Status> {
        let mut status = Status::from_store(store, DEFAULT_CONSUMER)?;
        status.running = running;
        status.throttle = Some(self.client.gate().stats());
        status.items_applied = self.progress.items.load(Ordering::Relaxed);
        status.pages = self.progress.pages.load(Ordering::Relaxed);
        for drive in &mut status.drives {
            drive.permissions_denied = self.permission_denials.is_denied(&drive.id);
        }
        if self.config.download.dir.is_some() {
            let p = &self.progress;
            status.mirror = Some(MirrorStats {
                files_stored: p.files_stored.load(Ordering::Relaxed),
                bytes_stored: p.bytes_stored.load(Ordering::Relaxed),
                downloads_failed: p.downloads_failed.load(Ordering::Relaxed),
            });
        }
        if self.config.webhook.is_some() {
            status.notifications = Some(self.counters.snapshot());
            status.notification_url = self.notification_url.lock().clone();
            status.apply_subscriptions(&self.board.lock());
        }
        Ok(status)
    }
}

/// The schedule of a tenant's live drives, with the intervals of its `config` and
/// each drive's next audit as recorded in `store`.
fn tenant_schedule(
    config: &Config,
    store: &Store,
    drives: &[crate::store::DriveRecord],
) -> Result<Schedule> {
    let mut schedule = Schedule::new(Intervals {
        poll: Duration::from_secs(config.poll_interval_secs),
        safety: Duration::from_secs(config.safety_interval_secs),
        min_dirty: Duration::from_millis(
            config
                .webhook
                .as_ref()
                .map_or(0, |w| w.min_delta_interval_ms),
        ),
        audit: Duration::from_secs(config.audit_interval_secs),
    });
    let now = Instant::now();
    for drive in drives.iter().filter(|d| !d.removed) {
        schedule.add(&drive.id, now);
        if config.audit_interval_secs > 0 {
            let last = store.audit_record(&drive.id)?.last_audit_ms;
            if let Some(at) = audit::next_due(last, drive, config.audit_interval_secs, now) {
                schedule.set_audit_due(&drive.id, at);
            }
        }
    }
    Ok(schedule)
}

/// Handles of the running threads.
struct Running {
    scheduler_tx: Sender<SchedulerMsg>,
    threads: Vec<JoinHandle<()>>,
    dispatcher: Option<JoinHandle<()>>,
    notifications: Option<Notifications>,
}

/// A change-detection engine for the drives of one tenant.
///
/// ```no_run
/// use m365sync::{Ack, Config, Engine};
/// let config = Config::from_file("m365sync.json".as_ref())?;
/// let engine = Engine::open(config)?;
/// engine.set_event_handler(|event| {
///     println!("{} {} {}", event.seq, event.kind, event.path);
///     Ack::Ok
/// });
/// engine.start()?;
/// // ... until shutdown:
/// engine.stop();
/// # Ok::<(), m365sync::Error>(())
/// ```
pub struct Engine {
    shared: Arc<Shared>,
    handler: HandlerSlot,
    api_store: Mutex<Store>,
    running: Mutex<Option<Running>>,
    started: AtomicBool,
    dispatcher_thread: Mutex<Option<ThreadId>>,
}

fn assert_send_sync<T: Send + Sync>() {}
const _: fn() = assert_send_sync::<Engine>;

impl Engine {
    /// Opens (or creates) the store and registers the configured drives. Makes no
    /// Graph request: that starts with [`Engine::start`].
    pub fn open(config: Config) -> Result<Engine> {
        let (shared, store) = Shared::open(config, Arc::new(JournalSignal::default()))?;
        Ok(Engine {
            shared: Arc::new(shared),
            handler: Arc::new(Mutex::new(None)),
            api_store: Mutex::new(store),
            running: Mutex::new(None),
            started: AtomicBool::new(false),
            dispatcher_thread: Mutex::new(None),
        })
    }

    /// Starts the scheduler, the workers and the dispatcher. An engine starts once.
    pub fn start(&self) -> Result<()> {
        // Held until the threads are registered, so that a `stop` from an early
        // callback waits for them instead of finding nothing to stop.
        let mut running = self.running.lock();
        if self.started.swap(true, Ordering::SeqCst) {
            return Err(Error::State("the engine was already started".into()));
        }
        let config = &self.shared.config;
        // Open every connection here so that errors reach the caller.
        let mut worker_stores = Vec::with_capacity(config.workers);
        for _ in 0..config.workers {
            worker_stores.push(Store::open(&config.database)?);
        }
        let dispatcher_store = Store::open(&config.database)?;
        let discover_store = config
            .scope
            .is_active()
            .then(|| Store::open(&config.database))
            .transpose()?;
        let drives = self.api_store.lock().drives()?;

        let (scheduler_tx, scheduler_rx) = crossbeam_channel::unbounded();
        let (job_tx, job_rx) = crossbeam_channel::unbounded::<Job>();
        let schedule = tenant_schedule(config, &self.api_store.lock(), &drives)?;

        // Notifications on `/sites` and `/groups` wake discovery.
        let (wake_tx, wake_rx) = crossbeam_channel::unbounded();
        let notifications = match &config.webhook {
            Some(webhook) => Some(Notifications::start(
                webhook,
                (self.shared.registry.clone(), self.shared.counters.clone()),
                ManagerContext {
                    client: self.shared.client.clone(),
                    store: Store::open(&config.database)?,
                    registry: self.shared.registry.clone(),
                    board: self.shared.board.clone(),
                    scheduler: scheduler_tx.clone(),
                    journal: self.shared.journal.clone(),
                    config: webhook.clone(),
                    notification_url: String::new(),
                    track_permissions: config.track_permissions,
                    drives: drives
                        .iter()
                        .filter(|d| !d.removed)
                        .map(|d| d.id.clone())
                        .chain(discover::tenant_subscriptions(&config.scope))
                        .collect(),
                    discovery: discover_store.is_some().then_some(wake_tx),
                },
            )?),
            None => None,
        };
        *self.shared.notification_url.lock() = notifications
            .as_ref()
            .map(|n| n.notification_url().to_string());

        let mut threads = Vec::new();
        threads.push(spawn("m365sync-scheduler", move || {
            scheduler::run(schedule, scheduler_rx, job_tx)
        })?);
        for (i, store) in worker_stores.into_iter().enumerate() {
            let shared = self.shared.clone();
            let jobs = job_rx.clone();
            let done = scheduler_tx.clone();
            threads.push(spawn(&format!("m365sync-worker-{i}"), move || {
                worker_loop(&shared, store, jobs, done)
            })?);
        }
        if let Some(store) = discover_store {
            let shared = self.shared.clone();
            let sink = discover::DriveSink {
                scheduler: scheduler_tx.clone(),
                subscriptions: notifications.as_ref().map(Notifications::manager),
            };
            threads.push(spawn("m365sync-discover", move || {
                discover::run(discover::DiscoveryContext {
                    config: &shared.config,
                    client: &shared.client,
                    journal: &shared.journal,
                    stopping: &shared.stopping,
                    store,
                    sink,
                    wake: wake_rx,
                })
            })?);
        }
        let database = config.database.clone();
        threads.extend(mirror::start(&config.download, &self.shared, &|| {
            Store::open(&database)
        })?);
        let handler = self.handler.clone();
        let journal = self.shared.journal.clone();
        let dispatcher = spawn("m365sync-dispatcher", move || {
            dispatcher::run(dispatcher_store, handler, journal)
        })?;
        *self.dispatcher_thread.lock() = Some(dispatcher.thread().id());
        *running = Some(Running {
            scheduler_tx,
            threads,
            dispatcher: Some(dispatcher),
            notifications,
        });
        info!(
            "engine started: {} drives, {} workers",
            drives.len(),
            config.workers
        );
        Ok(())
    }

    /// Stops every thread: jobs end after the page in flight (each page is committed
    /// whole or not at all), throttle waits are cut short. Idempotent. Safe to call
    /// from inside the event handler (the dispatcher then ends after the call).
    pub fn stop(&self) {
        let Some(mut running) = self.running.lock().take() else {
            return;
        };
        if let Some(mut notifications) = running.notifications.take() {
            // Deleting subscriptions needs Graph; otherwise cut throttle waits short first.
            if !notifications.deletes_on_shutdown() {
                self.shared.client.gate().stop();
            }
            notifications.stop();
        }
        self.shared.halt();
        let _ = running.scheduler_tx.send(SchedulerMsg::Stop);
        join_threads(
            running.threads.drain(..),
            running.dispatcher.take(),
            &self.dispatcher_thread,
        );
        info!("engine stopped");
    }

    /// Feeds one notification POST body received by the host's own HTTP server (the
    /// built-in listener calls the same checks). Answer Graph with 202 when this
    /// returns `Ok`, even if some notifications were rejected (they are counted in
    /// status and never processed); answer 400 on `Err(InvalidInput)`. Never blocks:
    /// accepted notifications only mark their drives dirty.
    pub fn handle_notification(&self, body: &[u8]) -> Result<NotificationReceipt> {
        let intake = self
            .running
            .lock()
            .as_ref()
            .and_then(|r| r.notifications.as_ref())
            .map(|n| n.intake().clone())
            .ok_or_else(|| {
                Error::State("notifications need a started engine with a webhook section".into())
            })?;
        match intake.handle(body) {
            Ok(v) => Ok(NotificationReceipt {
                accepted: v.accepted,
                rejected: v.rejected,
            }),
            Err(_) => Err(Error::InvalidInput(
                "the body is not a Graph notification batch".into(),
            )),
        }
    }

    /// The body to answer a validation request with (`200`, `Content-Type: text/plain`):
    /// `token` is the URL-decoded `validationToken` query parameter, echoed only when
    /// it is non-empty text of at most 1,024 bytes.
    pub fn validation_response(&self, token: &str) -> Result<String> {
        crate::engine::notify::intake::validation_response(&self.shared.counters, token).map_err(
            |why: Rejection| Error::InvalidInput(format!("validation token refused: {why:?}")),
        )
    }

    /// Sets the handler that receives every event in `seq` order, starting after
    /// the last acked one. It runs on the dispatcher thread. Replaces any previous one.
    pub fn set_event_handler<F>(&self, handler: F)
    where
        F: FnMut(&Event) -> Ack + Send + 'static,
    {
        *self.handler.lock() = Some(Box::new(handler));
        self.shared.journal.poke();
    }

    /// Removes the event handler; events then wait for pull-style reads.
    pub fn clear_event_handler(&self) {
        *self.handler.lock() = None;
    }

    /// Up to `limit` events with `seq > after_seq`, oldest first.
    pub fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<Event>> {
        self.api_store.lock().events_after(after_seq, limit)
    }

    /// Like [`Engine::events_after`], but waits up to `timeout` for the first event.
    pub fn wait_events(
        &self,
        after_seq: i64,
        limit: usize,
        timeout: Duration,
    ) -> Result<Vec<Event>> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events_after(after_seq, limit)?;
            let left = deadline.saturating_duration_since(Instant::now());
            if !events.is_empty() || left.is_zero() {
                return Ok(events);
            }
            if !self
                .shared
                .journal
                .wait_beyond(after_seq, left.min(Duration::from_millis(200)))
            {
                // Stopped: the journal gets no more events, but some may be there.
                return self.events_after(after_seq, limit);
            }
        }
    }

    /// The seq of the last acked event (0 when none).
    pub fn acked_seq(&self) -> Result<i64> {
        self.api_store.lock().acked_seq(DEFAULT_CONSUMER)
    }

    /// Acks every event up to `seq` for pull-style hosts: they are not delivered again.
    pub fn ack(&self, seq: i64) -> Result<()> {
        self.api_store.lock().ack(DEFAULT_CONSUMER, seq)
    }

    /// A snapshot of the engine's state.
    pub fn status(&self) -> Result<Status> {
        let store = self.api_store.lock();
        self.shared.status(&store, self.running.lock().is_some())
    }

    /// Live counters (items and pages applied since start), cheap to read often.
    pub fn progress(&self) -> &Progress {
        &self.shared.progress
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Joins `threads`, then the dispatcher unless this is the dispatcher's own thread (a
/// `stop` from inside the event handler: it ends after the call).
fn join_threads(
    threads: impl Iterator<Item = JoinHandle<()>>,
    dispatcher: Option<JoinHandle<()>>,
    dispatcher_thread: &Mutex<Option<ThreadId>>,
) {
    for t in threads {
        let _ = t.join();
    }
    let inside_handler = *dispatcher_thread.lock() == Some(std::thread::current().id());
    if let Some(d) = dispatcher.filter(|_| !inside_handler) {
        let _ = d.join();
    }
}

fn spawn<F>(name: &str, f: F) -> Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(Error::Io)
}

/// A worker: runs delta jobs until the job channel closes or the engine stops.
fn worker_loop(shared: &Shared, mut store: Store, jobs: Receiver<Job>, done: Sender<SchedulerMsg>) {
    let options = shared.apply_options();
    for job in jobs.iter() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let result = run_job(shared, &mut store, &job, &options);
        let drive = job.drive;
        if done.send(SchedulerMsg::JobDone { drive, result }).is_err() {
            break;
        }
    }
}

/// Runs one job of `shared`'s tenant on `store` (delta or audit, then permissions and
/// the audit record) and records its result on the drive.
fn run_job(
    shared: &Shared,
    store: &mut Store,
    job: &Job,
    options: &ApplyOptions,
) -> Result<crawl::JobOutcome> {
    let drive = &job.drive;
    let mut ctx = JobContext {
        store,
        client: &shared.client,
        options,
        stopping: &shared.stopping,
        progress: &shared.progress,
        journal: &shared.journal,
    };
    let mut result = if job.audit {
        audit::run_audit_job(&mut ctx, drive)
    } else {
        run_delta_job(&mut ctx, drive)
    };
    let permissions = &shared.config.permissions;
    if permissions.fetch && matches!(result, Ok(crawl::JobOutcome::Completed)) {
        let denials = &shared.permission_denials;
        if let Err(e) =
            permissions::sync_drive(&mut ctx, drive, denials, &permissions.internal_domains)
        {
            result = Err(e);
        }
    }
    if result.is_ok() {
        if let Err(e) = audit::close(store, drive) {
            result = Err(e);
        }
    }
    record_job_result(store, &shared.client, &shared.journal, drive, &result);
    result
}

/// Keeps the drive's `last_error` and the saved throttle counters current; the first
/// failure after a success also goes into the journal as an `error` event.
fn record_job_result(
    store: &Store,
    client: &GraphClient,
    journal: &JournalSignal,
    drive: &str,
    result: &Result<crawl::JobOutcome>,
) {
    // Logged before any write: the store may be the thing failing (locked, full).
    if let Some(e) = result
        .as_ref()
        .err()
        .filter(|e| !matches!(e, Error::Stopped))
    {
        warn!("drive {drive}: {e}");
    }
    let outcome = (|| -> Result<()> {
        status::save_throttle_stats(store, &client.gate().stats())?;
        let had_error = store.drive(drive)?.and_then(|d| d.last_error).is_some();
        match result {
            Ok(_) | Err(Error::Stopped) => {
                if had_error {
                    info!("drive {drive}: recovered");
                    store.set_drive_error(drive, None)?;
                }
            }
            Err(e) => {
                let message = e.to_string();
                store.set_drive_error(drive, Some(&message))?;
                if !had_error {
                    let seq = store.append_event(EventKind::Error, drive, &message)?;
                    journal.published(seq);
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        error!("drive {drive}: cannot record the job result: {e}");
    }
}
