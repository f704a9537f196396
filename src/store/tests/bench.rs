//! Throughput of a first crawl: `cargo test --release store_bench -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use super::*;

const PAGES: usize = 1_000;
const PER_PAGE: usize = 1_000;
/// A real business drive id is this long; it is in every event row.
const BENCH_DRIVE: &str = "b!-RIj2DuyvEyV1T4NlOaMHk8XkS_I8MdFlUCq1BlcjgmhRfAj3-Z8RY2VpuvV_tpd";

/// Graph-like item ids: 34 characters, a constant drive prefix, then scattered like real
/// ids (so index inserts land at random places, as in a real crawl).
fn graph_id(n: usize) -> String {
    let scattered = (n as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(29);
    format!("01BYE5RZ{scattered:020X}{n:06}")
}

/// Page `p` of a crawl: a folder below the previous page's folder (every 20th at the
/// top), then its files; every item carries the tags and hash Graph sends.
fn crawl_page(p: usize) -> Vec<DriveItem> {
    let folder_id = graph_id(p * PER_PAGE);
    let parent_id = if p % 20 == 0 {
        "R".to_owned()
    } else {
        graph_id((p - 1) * PER_PAGE)
    };
    let mut page = Vec::with_capacity(PER_PAGE + 1);
    if p == 0 {
        page.push(root());
    }
    page.push(folder(&folder_id, &parent_id, &format!("Folder {p}")));
    for i in 1..PER_PAGE {
        let id = graph_id(p * PER_PAGE + i);
        page.push(file(
            &id,
            &folder_id,
            &format!("Document {i} of quarterly report.docx"),
            1,
        ));
    }
    page
}

fn crawl(emit: bool, pages: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("bench.db")).unwrap();
    store
        .upsert_drive(&NewDrive {
            id: BENCH_DRIVE,
            ..NewDrive::default()
        })
        .unwrap();
    store.begin_crawl(BENCH_DRIVE).unwrap();
    let opts = ApplyOptions {
        emit_initial_items: emit,
    };
    let mut spent = Duration::ZERO;
    for p in 0..pages {
        let items = crawl_page(p);
        let link = format!("https://graph/next/{p}");
        let cursor = if p + 1 == pages {
            Cursor::Delta(&link)
        } else {
            Cursor::Next(&link)
        };
        let start = Instant::now();
        store
            .apply_page(BENCH_DRIVE, &items, cursor, &opts)
            .unwrap();
        spent += start.elapsed();
    }
    let d = store.drive(BENCH_DRIVE).unwrap().unwrap();
    assert_eq!(d.item_count, (pages * PER_PAGE) as i64);
    let expected_events = if emit { pages * PER_PAGE + 1 } else { 1 };
    assert_eq!(store.last_seq().unwrap(), expected_events as i64);
    let deep = store.item_by_path(
        BENCH_DRIVE,
        "/Folder 0/Folder 1/Folder 2/Document 7 of quarterly report.docx",
    );
    assert_eq!(deep.unwrap().unwrap().id, graph_id(2 * PER_PAGE + 7));
    spent
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn store_bench_crawl() {
    for (emit, pages) in [(false, PAGES), (true, PAGES / 4)] {
        let spent = crawl(emit, pages);
        let items = pages * PER_PAGE;
        eprintln!(
            "crawl of {items} items in {pages} pages (emit_initial_items = {emit}): {:.2} s, {:.0} items/s",
            spent.as_secs_f64(),
            items as f64 / spent.as_secs_f64()
        );
    }
}
