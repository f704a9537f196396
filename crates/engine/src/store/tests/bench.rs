//! Throughput of a first crawl: `cargo test --release store_bench -- --ignored --nocapture`
//! (`M365SYNC_STORE_BENCH_PAGES=N` sets the pages of 1,000 items; default 1,000).

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

/// CPU time of the calling thread (user + system) on Linux, zero elsewhere: on a shared
/// machine it says more than the wall clock.
fn thread_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = stat.rsplit_once(')')?.1;
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|v| v.parse().ok())
                .collect();
            Some(f.iter().sum::<u64>())
        })
        .unwrap_or(0);
    // The kernel reports clock ticks of 1/100 s (USER_HZ) to user space.
    Duration::from_millis(ticks * 10)
}

/// Bytes this process passed to write(2) and friends (Linux; 0 elsewhere): the WAL and
/// checkpoint volume, a figure that does not depend on the machine's load.
fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("wchar:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn crawl(emit: bool, pages: usize) -> (Duration, Duration, u64) {
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
        ..ApplyOptions::default()
    };
    let mut spent = Duration::ZERO;
    let cpu_before = thread_cpu();
    let written_before = written_bytes();
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
    let cpu = thread_cpu() - cpu_before;
    let written = written_bytes() - written_before;
    let d = store.drive(BENCH_DRIVE).unwrap().unwrap();
    assert_eq!(d.item_count, (pages * PER_PAGE) as i64);
    let expected_events = if emit { pages * PER_PAGE + 1 } else { 1 };
    assert_eq!(store.last_seq().unwrap(), expected_events as i64);
    let deep = store.item_by_path(
        BENCH_DRIVE,
        "/Folder 0/Folder 1/Folder 2/Document 7 of quarterly report.docx",
    );
    assert_eq!(deep.unwrap().unwrap().id, graph_id(2 * PER_PAGE + 7));
    (spent, cpu, written)
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn store_bench_crawl() {
    let pages = std::env::var("M365SYNC_STORE_BENCH_PAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PAGES);
    for (emit, pages) in [(false, pages), (true, pages / 4)] {
        let (spent, cpu, written) = crawl(emit, pages);
        let items = pages * PER_PAGE;
        eprintln!(
            "crawl of {items} items in {pages} pages (emit_initial_items = {emit}): {:.2} s, \
             {:.0} items/s; CPU {:.2} s, {:.0} items per CPU second; {:.0} bytes written per item",
            spent.as_secs_f64(),
            items as f64 / spent.as_secs_f64(),
            cpu.as_secs_f64(),
            items as f64 / cpu.as_secs_f64().max(0.01),
            written as f64 / items as f64
        );
    }
}
