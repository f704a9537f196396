//! The permission step of a drive's job: after the delta feed reached its deltaLink,
//! fetch the permissions of every item marked for it (hierarchy roots on the first
//! crawl, items whose sharing changed since), through the gate, and store each in one
//! transaction with the event that reports its change.
//!
//! A crash between the fetch and the commit leaves the item marked: it is fetched again
//! and its change journaled once. A 403 means the app lacks `Sites.FullControl.All`:
//! one `error` event per drive, the owed changes are journaled without details, and
//! the drive's permissions are tried again an hour later.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use log::{info, warn};
use parking_lot::Mutex;

use crate::engine::crawl::JobContext;
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::graph::permissions::ItemPermissions;
use crate::store::FetchedPermissions;

/// Items read from the store per batch of fetches.
const BATCH: usize = 100;
/// How long a drive whose permissions Graph refused is left alone.
const RETRY_DENIED_AFTER: Duration = Duration::from_secs(3600);

/// The drives whose permissions Graph refused (403), and when.
#[derive(Debug, Default)]
pub struct Denials {
    at: Mutex<HashMap<String, Instant>>,
}

impl Denials {
    /// Whether the drive was refused less than [`RETRY_DENIED_AFTER`] ago.
    fn blocked(&self, drive: &str) -> bool {
        self.at
            .lock()
            .get(drive)
            .is_some_and(|at| at.elapsed() < RETRY_DENIED_AFTER)
    }

    /// Records a refusal; true when it is the drive's first since the engine started.
    fn deny(&self, drive: &str) -> bool {
        self.at
            .lock()
            .insert(drive.to_owned(), Instant::now())
            .is_none()
    }

    /// Graph answered for the drive again: a later refusal is news.
    fn allow(&self, drive: &str) {
        self.at.lock().remove(drive);
    }

    /// Whether Graph refused the drive's permissions in this run (and has not answered
    /// since).
    pub fn is_denied(&self, drive: &str) -> bool {
        self.at.lock().contains_key(drive)
    }
}

/// What Graph's answer says of the item: inherited when every permission names the
/// item it comes from; else the item's own grants (an empty list included).
fn classify(list: ItemPermissions, internal_domains: &[String]) -> FetchedPermissions {
    let inherited =
        !list.value.is_empty() && list.value.iter().all(|p| p.inherited_from_id().is_some());
    if inherited {
        return FetchedPermissions::Inherited;
    }
    FetchedPermissions::Unique(
        list.value
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.into_grant(format!("unnamed-{i}"), internal_domains))
            .collect(),
    )
}

/// Fetches and stores the permissions of every marked item of `drive`.
pub fn sync_drive(
    ctx: &mut JobContext<'_>,
    drive: &str,
    denials: &Denials,
    internal_domains: &[String],
) -> Result<()> {
    if denials.blocked(drive) {
        return Ok(());
    }
    if ctx.store.backfill_permission_roots(drive)? > 0 {
        info!("drive {drive}: fetching the permissions of the hierarchy roots already mirrored");
    }
    let mut after = String::new();
    loop {
        let batch = ctx.store.pending_permissions(drive, &after, BATCH)?;
        let Some(last) = batch.last().cloned() else {
            return Ok(());
        };
        for item in batch {
            if ctx.stopping.load(Ordering::SeqCst) {
                return Err(Error::Stopped);
            }
            let fetched = match ctx.client.item_permissions(drive, &item, ctx.stopping) {
                Ok(list) => {
                    denials.allow(drive);
                    ctx.progress
                        .permission_requests
                        .fetch_add(list.requests as u64, Ordering::Relaxed);
                    classify(list, internal_domains)
                }
                Err(Error::Graph(g)) if g.status == 403 => {
                    return refused(ctx, drive, &item, &g.to_string(), denials);
                }
                // Gone: the delta feed will bring its tombstone; nothing to fetch.
                Err(Error::Graph(g)) if g.status == 404 => FetchedPermissions::Gone,
                Err(Error::Protocol(why)) => {
                    warn!(
                        "drive {drive}: the permissions of item {item} are unreadable ({why}); trying again next round"
                    );
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(seq) = ctx.store.apply_permissions(drive, &item, fetched)? {
                ctx.journal.published(seq);
            }
            ctx.progress
                .permissions_fetched
                .fetch_add(1, Ordering::Relaxed);
        }
        after = last;
    }
}

/// Graph refused: one `error` event per drive, owed changes journaled without details.
fn refused(
    ctx: &mut JobContext<'_>,
    drive: &str,
    item: &str,
    why: &str,
    denials: &Denials,
) -> Result<()> {
    if denials.deny(drive) {
        let message = format!(
            "Graph refused the permissions of item {item} ({why}): fetching permission details \
             needs the Sites.FullControl.All application permission, granted with admin consent. \
             Changes are still tracked; sharing changes are reported without details until then."
        );
        warn!("drive {drive}: {message}");
        let seq = ctx.store.append_event(EventKind::Error, drive, &message)?;
        ctx.journal.published(seq);
    }
    if let Some(seq) = ctx.store.settle_owed_permissions(drive)? {
        ctx.journal.published(seq);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use serde_json::json;

    use super::*;
    use crate::engine::crawl::Progress;
    use crate::engine::journal::JournalSignal;
    use crate::graph::GraphClient;
    use crate::graph::script_server::{Canned, ScriptServer};
    use crate::graph::types::DriveItem;
    use crate::store::{ApplyOptions, Cursor, NewDrive, Store};

    const DRIVE: &str = "d1";

    /// A crawled drive (root, shared folder A, file f in A) and a client of `graph`.
    struct Rig {
        graph: ScriptServer,
        client: GraphClient,
        store: Store,
        _dir: tempfile::TempDir,
    }

    fn item(v: serde_json::Value) -> DriveItem {
        serde_json::from_value(v).unwrap()
    }

    impl Rig {
        fn new() -> Rig {
            let graph = ScriptServer::start();
            let client = graph.client(2);
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::open(&dir.path().join("s.db")).unwrap();
            store
                .upsert_drive(&NewDrive {
                    id: DRIVE,
                    ..NewDrive::default()
                })
                .unwrap();
            store.begin_crawl(DRIVE).unwrap();
            let page = [
                item(json!({"id":"R","name":"root","root":{},"folder":{}})),
                item(
                    json!({"id":"A","name":"A","folder":{},"parentReference":{"id":"R"},
                            "shared":{"scope":"users"}}),
                ),
                item(json!({"id":"f","name":"f.txt","file":{},"parentReference":{"id":"A"}})),
            ];
            let opts = ApplyOptions {
                emit_initial_items: true,
                fetch_permissions: true,
            };
            store
                .apply_page(DRIVE, &page, Cursor::Delta("d"), &opts)
                .unwrap();
            Rig {
                graph,
                client,
                store,
                _dir: dir,
            }
        }

        fn sync(&mut self, denials: &Denials) -> Result<()> {
            let stopping = AtomicBool::new(false);
            let progress = Progress::default();
            let journal = JournalSignal::default();
            let options = ApplyOptions::default();
            let mut ctx = JobContext {
                store: &mut self.store,
                client: &self.client,
                options: &options,
                stopping: &stopping,
                progress: &progress,
                journal: &journal,
            };
            sync_drive(&mut ctx, DRIVE, denials, &[])
        }

        fn events(&self, kind: EventKind) -> Vec<crate::event::Event> {
            let all = self.store.events_after(0, 1000).unwrap();
            all.into_iter().filter(|e| e.kind == kind).collect()
        }
    }

    const OWNER: &str = r#"{"id":"o","roles":["owner"],"grantedToV2":{"user":{"id":"u1","email":"ann@contoso.example"}}}"#;

    #[test]
    fn roots_are_fetched_page_by_page_and_journaled_with_their_diff() {
        let mut rig = Rig::new();
        let url = rig.graph.url.clone();
        // A (first by id): two pages; R: one.
        rig.graph.push(Canned::json(
            200,
            &format!(
                r#"{{"value":[{OWNER}],"@odata.nextLink":"{url}/v1.0/drives/d1/items/A/permissions?$skiptoken=2"}}"#
            ),
        ));
        rig.graph.push(Canned::json(
            200,
            r#"{"value":[{"id":"l","roles":["read"],"link":{"scope":"anonymous","type":"view"},"unknownField":1}]}"#,
        ));
        rig.graph
            .push(Canned::json(200, &format!(r#"{{"value":[{OWNER}]}}"#)));
        rig.sync(&Denials::default()).unwrap();
        let paths: Vec<String> = rig
            .graph
            .graph_requests()
            .iter()
            .map(|r| r.path.clone())
            .collect();
        assert_eq!(
            paths,
            [
                "/v1.0/drives/d1/items/A/permissions",
                "/v1.0/drives/d1/items/A/permissions?$skiptoken=2",
                "/v1.0/drives/d1/items/R/permissions"
            ]
        );
        let changes = rig.events(EventKind::PermissionsChanged);
        assert_eq!(changes.len(), 2, "{changes:?}");
        let a = changes.iter().find(|e| e.item_id == "A").unwrap();
        let diff = a.permission_change().unwrap();
        assert_eq!((diff.added.len(), diff.affected), (2, 2));
        let f = rig
            .store
            .effective_permissions(DRIVE, "f")
            .unwrap()
            .unwrap();
        assert_eq!(f.inherited_from.as_deref(), Some("A"));
        assert!(f.grants.iter().any(|g| g.is_anyone_link()));
        assert_eq!(rig.store.permission_counts(DRIVE).unwrap(), (2, 0));
    }

    #[test]
    fn a_refusal_is_one_error_per_drive_and_loses_no_change() {
        let mut rig = Rig::new();
        let denied = r#"{"error":{"code":"accessDenied","message":"Access denied"}}"#;
        rig.graph.push(Canned::json(403, denied));
        let denials = Denials::default();
        rig.sync(&denials).unwrap();
        assert!(denials.is_denied(DRIVE));
        let errors = rig.events(EventKind::Error);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].detail.contains("Sites.FullControl.All"),
            "{}",
            errors[0].detail
        );
        let changes = rig.events(EventKind::PermissionsChanged);
        assert_eq!(changes.len(), 2, "owed changes reported without details");
        assert!(changes.iter().all(|e| e.permission_change().is_none()));
        // Left alone for a while: no request, no second error.
        rig.sync(&denials).unwrap();
        assert_eq!(rig.graph.graph_requests().len(), 1);
        assert_eq!(
            rig.store.permission_counts(DRIVE).unwrap(),
            (0, 2),
            "still to fetch"
        );
    }

    #[test]
    fn a_drive_answered_again_is_no_longer_denied() {
        let denials = Denials::default();
        assert!(
            denials.deny("d") && !denials.deny("d"),
            "the first refusal only is news"
        );
        assert!(denials.blocked("d") && denials.is_denied("d"));
        denials.allow("d");
        assert!(!denials.blocked("d") && !denials.is_denied("d"));
        assert!(denials.deny("d"), "a refusal after an answer is news again");
    }

    #[test]
    fn unreadable_answers_are_retried_and_gone_items_forgotten() {
        let mut rig = Rig::new();
        rig.graph.push(Canned::json(200, "<html>not json</html>"));
        rig.graph
            .push(Canned::json(404, r#"{"error":{"code":"itemNotFound"}}"#));
        rig.sync(&Denials::default()).unwrap();
        assert_eq!(rig.store.pending_permissions(DRIVE, "", 10).unwrap(), ["A"]);
        assert_eq!(
            rig.store.permission_counts(DRIVE).unwrap(),
            (0, 1),
            "R is forgotten"
        );
        rig.graph
            .push(Canned::json(200, &format!(r#"{{"value":[{OWNER}]}}"#)));
        rig.sync(&Denials::default()).unwrap();
        assert_eq!(rig.store.permission_counts(DRIVE).unwrap(), (1, 0));
    }
}
