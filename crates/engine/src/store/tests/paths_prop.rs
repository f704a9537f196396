//! Properties: whatever the feed (well-formed or not), every live item's path follows its
//! parent chain and the drive's live item count matches the mirror; and when the feed never
//! asks for a parent loop, replaying the last state of every item of a page without
//! deletes reports nothing new; the links (merged and staged) always are the items'
//! parent relation. Each property runs from a synced drive (incremental
//! rounds) and from a drive's first crawl (where new items take the insert-only path).

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

const FOLDERS: u8 = 5;
const IDS: u8 = 10;
const NAMES: [&str; 6] = ["a", "b", "a_b", "%", "a%", "_"];

#[derive(Debug, Clone)]
enum Op {
    /// Item `id` (folders below FOLDERS) below `parent` (`None` = root; possibly a file,
    /// itself or a descendant) with a name from NAMES and a content version.
    Upsert {
        id: u8,
        parent: Option<u8>,
        name: usize,
        version: u32,
    },
    Delete(u8),
}

#[derive(Debug, Clone)]
struct Step {
    /// A 410 before this page.
    resync: bool,
    ops: Vec<Op>,
    /// Whether the page ends the round (deltaLink).
    last: bool,
}

/// With `acyclic`, an item's parent always has a smaller id, so no feed can ask for a loop.
fn op(acyclic: bool) -> impl Strategy<Value = Op> {
    let upsert = (
        0..IDS,
        any::<prop::sample::Index>(),
        any::<bool>(),
        0..NAMES.len(),
        0..3u32,
    )
        .prop_map(move |(id, pick, at_top, name, version)| {
            let choices = if acyclic { id } else { IDS };
            let parent = (!at_top && choices > 0).then(|| pick.index(choices.into()) as u8);
            Op::Upsert {
                id,
                parent,
                name,
                version,
            }
        });
    prop_oneof![4 => upsert, 1 => (0..IDS + 2).prop_map(Op::Delete)]
}

fn step(acyclic: bool) -> impl Strategy<Value = Step> {
    (
        proptest::bool::weighted(0.1),
        proptest::collection::vec(op(acyclic), 0..8),
        any::<bool>(),
    )
        .prop_map(|(resync, ops, last)| Step { resync, ops, last })
}

fn to_item(op: &Op) -> DriveItem {
    match *op {
        Op::Upsert {
            id,
            parent,
            name,
            version,
        } => {
            let id_s = format!("i{id}");
            let parent_s = parent.map_or("R".to_owned(), |p| format!("i{p}"));
            if id < FOLDERS {
                folder(&id_s, &parent_s, NAMES[name])
            } else {
                file(&id_s, &parent_s, NAMES[name], version)
            }
        }
        Op::Delete(id) => gone(&format!("i{id}")),
    }
}

fn check_consistency(h: &Harness) -> Result<(), TestCaseError> {
    let mirror = h.store.mirror(DRIVE).unwrap();
    let by_id: HashMap<_, _> = mirror.iter().map(|i| (i.id.as_str(), i)).collect();
    let mut non_root = 0;
    for item in &mirror {
        if item.id == "R" {
            prop_assert_eq!(item.path.as_str(), "/");
            continue;
        }
        non_root += 1;
        let parent_path = item
            .parent_id
            .as_deref()
            .and_then(|p| by_id.get(p))
            .map_or("/", |p| p.path.as_str());
        let expected = if parent_path == "/" {
            format!("/{}", item.name)
        } else {
            format!("{parent_path}/{}", item.name)
        };
        prop_assert_eq!(&item.path, &expected, "item {} in {:?}", item.id, mirror);
        // The live parent chain ends (no loop).
        let mut cur = item;
        for _ in 0..=mirror.len() {
            match cur.parent_id.as_deref().and_then(|p| by_id.get(p)) {
                Some(p) => cur = p,
                None => break,
            }
        }
        prop_assert!(
            cur.parent_id
                .as_deref()
                .and_then(|p| by_id.get(p))
                .is_none()
        );
    }
    prop_assert_eq!(h.item_count(), non_root);
    // The links, merged and staged, are exactly the parent relation of the item rows.
    let mismatched: i64 = h
        .store
        .conn
        .query_row(
            "WITH rel AS (SELECT drive_key, parent_id, id FROM items WHERE parent_id IS NOT NULL),
                  linked AS (SELECT drive_key, parent_id, child_id FROM item_links
                             UNION ALL
                             SELECT drive_key, parent_id, child_id FROM staged_links)
             SELECT (SELECT COUNT(*) FROM (SELECT * FROM rel EXCEPT SELECT * FROM linked))
                  + (SELECT COUNT(*) FROM (SELECT * FROM linked EXCEPT SELECT * FROM rel))
                  + (SELECT COUNT(*) FROM linked) - (SELECT COUNT(*) FROM rel)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    prop_assert_eq!(mismatched, 0, "links differ from the parent relation");
    Ok(())
}

/// Applies the steps, checking consistency after each; with `check_replay`, also replays
/// the last state of every item of each page without deletes and expects no event.
/// With `crawl`, the steps start as the drive's first crawl (root first, items announced).
fn run(steps: &[Step], check_replay: bool, crawl: bool) -> Result<(), TestCaseError> {
    let mut h = if crawl {
        let mut h = Harness::new();
        h.store.begin_crawl(DRIVE).unwrap();
        h
    } else {
        Harness::synced(vec![])
    };
    for (n, step) in steps.iter().enumerate() {
        if step.resync {
            h.store.begin_resync(DRIVE, "410").unwrap();
        }
        let mut items: Vec<DriveItem> = step.ops.iter().map(to_item).collect();
        if step.resync || (crawl && n == 0) {
            items.insert(0, root());
        }
        let link = format!("link-{n}");
        let cursor = if step.last {
            Cursor::Delta(&link)
        } else {
            Cursor::Next(&link)
        };
        h.apply(&items, cursor, crawl);
        check_consistency(&h)?;
        // A later delete of an ancestor legitimately outranks an item's last state.
        if !check_replay || items.iter().any(DriveItem::is_deleted) {
            continue;
        }
        h.take();
        let last_states: Vec<DriveItem> = items
            .iter()
            .enumerate()
            .filter(|(i, item)| items[i + 1..].iter().all(|later| later.id != item.id))
            .map(|(_, item)| item.clone())
            .collect();
        let replay = h.apply(&last_states, Cursor::Next(&link), crawl);
        prop_assert_eq!(
            replay.events,
            0,
            "replay of {:?}: {:?}",
            last_states,
            h.take()
        );
        check_consistency(&h)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn paths_follow_the_parent_chain(
        steps in proptest::collection::vec(step(false), 1..12),
        crawl in any::<bool>(),
    ) {
        run(&steps, false, crawl)?;
    }

    #[test]
    fn replaying_last_states_reports_nothing(
        steps in proptest::collection::vec(step(true), 1..12),
        crawl in any::<bool>(),
    ) {
        run(&steps, true, crawl)?;
    }
}
