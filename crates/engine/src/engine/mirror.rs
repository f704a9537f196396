//! The managed mirror (`download.dir`): a copy of every file's current content at
//! `{dir}/{drive id}/{item id}`, kept by the engine itself.
//!
//! A **feeder** walks the store for files whose current cTag the mirror has not
//! stored (see [`Store::pending_downloads`]) and hands them to `max_concurrent`
//! **download workers**; each downloads through the gate's background lane and
//! records the result in one transaction with its `content_stored` event. The store
//! is the only state: after a crash the next walk finds what is still pending, and
//! the `.partial` files resume. Deleted files' copies are removed (unless
//! `keep_deleted`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::config::DownloadConfig;
use crate::content::Download;
use crate::content::fetch::{Request, fetch};
use crate::content::sink::{FileSink, partial_path, remove_if_present};
use crate::engine::{Shared, spawn};
use crate::error::{Error, Result};
use crate::store::{Owner, PendingDownload, Store, StoredContent};

/// Files asked of the store per query while walking a drive.
const WALK_PAGE: usize = 256;
/// Shortest time between two walks (each reads every file row of the store).
const MIN_WALK_INTERVAL: Duration = Duration::from_secs(1);
/// Longest time between two walks when nothing is published.
const MAX_WALK_INTERVAL: Duration = Duration::from_secs(30);
/// First wait before an item whose download failed is tried again (doubling).
const RETRY_FIRST: Duration = Duration::from_secs(5);
/// Longest wait before trying a failed item again.
const RETRY_MAX: Duration = Duration::from_secs(600);

/// The mirror's directory layout.
#[derive(Debug, Clone)]
struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// `{dir}/{drive id}/{item id}`; ids are Graph's (letters, digits, `!`, `-`, `_`),
    /// and any other byte is replaced so that an id can never leave the directory.
    fn copy_of(&self, drive_id: &str, item_id: &str) -> PathBuf {
        self.dir.join(safe_name(drive_id)).join(safe_name(item_id))
    }
}

fn safe_name(id: &str) -> String {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        format!("_{name}")
    } else {
        name
    }
}

/// Which drives the feeder walks and whether it removes deleted files' copies.
struct Plan {
    /// Empty: every drive.
    drives: Vec<String>,
    keep_deleted: bool,
}

impl Plan {
    fn keeps(&self, drive_id: &str) -> bool {
        self.drives.is_empty() || self.drives.iter().any(|d| d == drive_id)
    }
}

/// Items in flight, stored during the current walk, and waiting to be retried,
/// shared by feeder and workers.
#[derive(Default)]
struct Board {
    in_flight: HashSet<(String, String)>,
    /// Stored since the walk began: its queries may have read the store before the
    /// record was committed.
    done: HashSet<(String, String)>,
    /// Partial files may have lost their item (a kill, a failed download): look for
    /// them after the next walk.
    sweep_partials: bool,
    retry_at: HashMap<(String, String), (Instant, Duration)>,
}

/// Starts the feeder and the download workers; `open` opens one store connection.
pub(crate) fn start(
    config: &DownloadConfig,
    ctx: &Arc<Shared>,
    open: &dyn Fn() -> Result<Store>,
) -> Result<Vec<JoinHandle<()>>> {
    let Some(dir) = &config.dir else {
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Config(format!(
            "field `download.dir`: cannot create {}: {e}",
            dir.display()
        ))
    })?;
    let layout = Layout { dir: dir.clone() };
    let board = Arc::new(Mutex::new(Board {
        sweep_partials: true,
        ..Board::default()
    }));
    let (tx, rx) = crossbeam_channel::bounded::<PendingDownload>(config.max_concurrent);
    let mut threads = Vec::with_capacity(config.max_concurrent + 1);
    for i in 0..config.max_concurrent {
        let (ctx, board, rx, layout) = (ctx.clone(), board.clone(), rx.clone(), layout.clone());
        let mut store = open()?;
        threads.push(spawn(&format!("m365sync-download-{i}"), move || {
            worker(&ctx, &mut store, &board, &rx, &layout)
        })?);
    }
    let (ctx, store) = (ctx.clone(), open()?);
    let plan = Plan {
        drives: config.drives.clone(),
        keep_deleted: config.keep_deleted,
    };
    threads.push(spawn("m365sync-mirror", move || {
        feeder(&ctx, &store, &board, &tx, &layout, &plan)
    })?);
    Ok(threads)
}

/// Walks the store for pending files, again after each commit to the journal (at
/// most once a second, at least every 30 s), until the engine stops.
fn feeder(
    ctx: &Shared,
    store: &Store,
    board: &Mutex<Board>,
    jobs: &Sender<PendingDownload>,
    layout: &Layout,
    plan: &Plan,
) {
    let mut seen = 0;
    while !ctx.stopping.load(Ordering::SeqCst) {
        let started = Instant::now();
        seen = ctx.journal.last_seq().max(seen);
        if let Err(e) = walk(ctx, store, board, jobs, plan) {
            if matches!(e, Error::Stopped) {
                return;
            }
            log::warn!("managed mirror: cannot list pending downloads: {e}");
        }
        if !plan.keep_deleted {
            if let Err(e) = remove_stale_copies(store, layout) {
                log::warn!("managed mirror: cannot remove deleted files' copies: {e}");
            }
        }
        if std::mem::take(&mut board.lock().sweep_partials) {
            if let Err(e) = remove_orphan_partials(store, layout, board) {
                log::warn!("managed mirror: cannot remove partial files: {e}");
            }
        }
        let rest = MIN_WALK_INTERVAL.saturating_sub(started.elapsed());
        if !rest.is_zero() && !pause(ctx, rest) {
            return;
        }
        if !ctx.journal.wait_beyond(seen, MAX_WALK_INTERVAL) {
            return;
        }
    }
}

/// Sleeps `d` unless the engine stops first; false once stopping.
fn pause(ctx: &Shared, d: Duration) -> bool {
    // Nothing is published beyond i64::MAX: this waits `d` or until the stop.
    ctx.journal.wait_beyond(i64::MAX, d) && !ctx.stopping.load(Ordering::SeqCst)
}

/// One walk over every drive: queues each pending file not in flight and not
/// waiting for a retry.
fn walk(
    ctx: &Shared,
    store: &Store,
    board: &Mutex<Board>,
    jobs: &Sender<PendingDownload>,
    plan: &Plan,
) -> Result<()> {
    board.lock().done.clear();
    let drives = store.drives()?.into_iter();
    for drive in drives.filter(|d| !d.removed && plan.keeps(&d.id)) {
        let mut after = String::new();
        loop {
            let page = store.pending_downloads(&drive.id, Owner::Mirror, &after, WALK_PAGE)?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.item_id.clone();
            for pending in page {
                let key = (pending.drive_id.clone(), pending.item_id.clone());
                {
                    let mut b = board.lock();
                    if b.retry_at
                        .get(&key)
                        .is_some_and(|(at, _)| *at > Instant::now())
                        || b.done.contains(&key)
                        || !b.in_flight.insert(key)
                    {
                        continue;
                    }
                }
                if ctx.stopping.load(Ordering::SeqCst) || jobs.send(pending).is_err() {
                    return Err(Error::Stopped);
                }
            }
        }
    }
    Ok(())
}

/// Removes the copies (and partial files) of items that are gone, and forgets them.
fn remove_stale_copies(store: &Store, layout: &Layout) -> Result<()> {
    loop {
        let stale = store.stale_mirror_copies(WALK_PAGE)?;
        if stale.is_empty() {
            return Ok(());
        }
        for (drive_id, item_id, _) in stale {
            let copy = layout.copy_of(&drive_id, &item_id);
            for path in [partial_path(&copy), copy] {
                remove_if_present(&path)?;
            }
            store.forget_download(&drive_id, &item_id)?;
        }
    }
}

/// Removes the partial files whose item has no content to download any more (deleted
/// while half downloaded) and that no worker is writing.
fn remove_orphan_partials(store: &Store, layout: &Layout, board: &Mutex<Board>) -> Result<()> {
    for drive in store.drives()? {
        let Ok(entries) = std::fs::read_dir(layout.dir.join(safe_name(&drive.id))) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            let Some(item) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".partial"))
            else {
                continue;
            };
            let key = (drive.id.clone(), item.to_string());
            if board.lock().in_flight.contains(&key) || store.has_content(&drive.id, item)? {
                continue;
            }
            remove_if_present(&path)?;
        }
    }
    Ok(())
}

/// Downloads queued files until the queue closes.
fn worker(
    ctx: &Shared,
    store: &mut Store,
    board: &Mutex<Board>,
    jobs: &Receiver<PendingDownload>,
    layout: &Layout,
) {
    while let Ok(pending) = jobs.recv() {
        let key = (pending.drive_id.clone(), pending.item_id.clone());
        let outcome = store_one(ctx, store, layout, &pending);
        let mut b = board.lock();
        b.in_flight.remove(&key);
        match outcome {
            Ok(settled) if settled => {
                b.retry_at.remove(&key);
                b.done.insert(key);
            }
            Ok(_) => {
                // Nothing to store now (unchanged or skipped while the store still
                // lists it as pending): look again later, not on every walk.
                later(&mut b, key);
            }
            Err(Error::Stopped) => return,
            Err(e) => {
                ctx.progress
                    .downloads_failed
                    .fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "managed mirror: downloading item {} of drive {} ({}) failed: {e}",
                    pending.item_id,
                    pending.drive_id,
                    pending.path
                );
                b.sweep_partials = true;
                later(&mut b, key);
            }
        }
    }
}

/// Puts an item on the retry list, doubling its wait.
fn later(board: &mut Board, key: (String, String)) {
    let wait = board
        .retry_at
        .get(&key)
        .map_or(RETRY_FIRST, |(_, w)| (*w * 2).min(RETRY_MAX));
    board.retry_at.insert(key, (Instant::now() + wait, wait));
}

/// Downloads one file into the mirror and records it; true when the mirror now
/// holds the item's current content.
fn store_one(
    ctx: &Shared,
    store: &mut Store,
    layout: &Layout,
    pending: &PendingDownload,
) -> Result<bool> {
    let copy = layout.copy_of(&pending.drive_id, &pending.item_id);
    if let Some(dir) = copy.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut sink = FileSink::new(&copy)?;
    let request = Request {
        drive_id: &pending.drive_id,
        item_id: &pending.item_id,
        last_ctag: None,
    };
    match fetch(&ctx.client, &request, &mut sink)? {
        Download::Downloaded { bytes, hash, ctag } => {
            let content = StoredContent::now(ctag, hash, bytes, path_text(&copy));
            let seq = store.record_download(
                &pending.drive_id,
                &pending.item_id,
                &content,
                Owner::Mirror,
            )?;
            if let Some(seq) = seq {
                ctx.journal.published(seq);
                ctx.progress.files_stored.fetch_add(1, Ordering::Relaxed);
                ctx.progress
                    .bytes_stored
                    .fetch_add(bytes, Ordering::Relaxed);
            }
            Ok(true)
        }
        Download::Unchanged { .. } | Download::Skipped { .. } => Ok(false),
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_stay_inside_the_directory_whatever_the_id() {
        let layout = Layout {
            dir: PathBuf::from("/m"),
        };
        assert_eq!(
            layout.copy_of("b!Ab-_9", "01ABC"),
            PathBuf::from("/m/b!Ab-_9/01ABC")
        );
        for hostile in ["..", "../../etc/passwd", "a/b", "", ".", "x\\y"] {
            let p = layout.copy_of("d", hostile);
            assert_eq!(p.parent(), Some(Path::new("/m/d")), "{hostile:?} -> {p:?}");
            assert!(!p.ends_with(".."), "{hostile:?}");
        }
    }

    #[test]
    fn failed_items_wait_longer_each_time() {
        let mut board = Board::default();
        let key = ("d".to_string(), "i".to_string());
        later(&mut board, key.clone());
        assert_eq!(board.retry_at[&key].1, RETRY_FIRST);
        later(&mut board, key.clone());
        assert_eq!(board.retry_at[&key].1, RETRY_FIRST * 2);
        for _ in 0..20 {
            later(&mut board, key.clone());
        }
        assert_eq!(board.retry_at[&key].1, RETRY_MAX);
    }
}
