//! Downloads end to end against the simulator's content host: on demand (to a file
//! and to a writer), through faults and expiring URLs, and the managed mirror across
//! edits, deletes and a kill -9.

use std::collections::HashSet;
use std::path::Path;

use crate::support::engine::*;
use crate::support::wait_until;
use m365sync::{Download, EventKind, SkipReason};
use m365sync_sim::{Faults, ItemPatch, Simulator, SnapshotItem};
use m365sync_tools::verify;
use serde_json::json;

/// The live items of the only drive that are of `kind` (`file`, `package`, ...).
fn of_kind(sim: &Simulator, kind: &str) -> Vec<SnapshotItem> {
    let drive = &drive_ids(sim)[0];
    let mut items: Vec<_> = sim
        .snapshot(drive)
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == kind)
        .collect();
    items.sort_by_key(|i| std::cmp::Reverse(i.size));
    items
}

fn bytes_of(sim: &Simulator, item: &SnapshotItem) -> Vec<u8> {
    sim.read_content(&drive_ids(sim)[0], &item.id, 0, item.size)
        .unwrap()
}

#[test]
fn a_download_matches_the_truth_never_carries_the_token_and_follows_the_ctag() {
    let sim = one_drive_sim(60, json!({}));
    let work = Workdir::new();
    let engine = open_engine(&sim, &work.db(), json!({}));
    let drive = &drive_ids(&sim)[0];
    let file = of_kind(&sim, "file").remove(0);
    assert!(file.size > 0, "{file:?}");
    let dest = work.dir.path().join("copy.bin");
    let got = engine.download(drive, &file.id, &dest).unwrap();
    let Download::Downloaded { bytes, hash, ctag } = got else {
        panic!("{got:?}")
    };
    assert_eq!(bytes, file.size);
    assert_eq!(Some(hash.clone()), file.quick_xor_hash);
    assert_eq!(Some(ctag.clone()), file.ctag);
    assert_eq!(std::fs::read(&dest).unwrap(), bytes_of(&sim, &file));
    assert_eq!(verify::file_quick_xor(&dest).unwrap(), hash);
    let stats = sim.stats();
    assert!(stats.download_requests >= 1);
    assert_eq!(stats.download_requests_with_authorization, 0);
    // The same cTag again: nothing moves.
    assert_eq!(
        engine.download(drive, &file.id, &dest).unwrap(),
        Download::Unchanged { ctag }
    );
    assert_eq!(sim.stats().download_requests, stats.download_requests);
    let last = engine.last_download(drive, &file.id).unwrap().unwrap();
    assert_eq!((last.size, last.hash), (file.size, hash));
    // New content: downloaded again, into any writer.
    sim.update_item(
        drive,
        &file.id,
        ItemPatch {
            content: Some(b"v2".to_vec()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        engine.download_to(drive, &file.id, &mut out).unwrap(),
        Download::Downloaded { bytes: 2, .. }
    ));
    assert_eq!(out, b"v2");
}

#[test]
fn resets_truncations_and_expired_urls_cost_a_resume_not_a_restart() {
    let sim = one_drive_sim(0, json!({}));
    let drive = drive_ids(&sim)[0].clone();
    let item = sim
        .create_file_sized(&drive, "root", "big.bin", 24 * 1024 * 1024)
        .unwrap();
    let work = Workdir::new();
    let engine = open_engine(&sim, &work.db(), json!({"throttle": {"max_attempts": 20}}));
    sim.set_faults(Faults {
        download_reset_rate: 0.5,
        download_truncate_rate: 0.4,
        seed: 3,
        ..Faults::default()
    })
    .unwrap();
    let before = sim.stats();
    let dest = work.dir.path().join("big.bin");
    let got = engine.download(&drive, &item.id, &dest).unwrap();
    assert!(
        matches!(got, Download::Downloaded { bytes, .. } if bytes == item.size),
        "{got:?}"
    );
    assert_eq!(
        verify::file_quick_xor(&dest).unwrap(),
        item.quick_xor_hash.clone().unwrap()
    );
    let after = sim.stats();
    let requests = after.download_requests - before.download_requests;
    assert!(
        requests > 1,
        "the faults cut some bodies ({requests} requests)"
    );
    // Each cut body is resumed from the bytes received: what was sent twice is at most
    // what was in flight when the body was cut (socket buffers), per request.
    let sent = after.download_bytes - before.download_bytes;
    assert!(
        sent < item.size + requests * 8 * 1024 * 1024,
        "{sent} bytes sent for {}",
        item.size
    );

    // An expired URL is replaced by a fresh one.
    sim.set_faults(Faults::default()).unwrap();
    sim.update_item(
        &drive,
        &item.id,
        ItemPatch {
            size: Some(3_000_000),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    sim.expire_download_urls();
    let got = engine.download(&drive, &item.id, &dest).unwrap();
    assert!(
        matches!(
            got,
            Download::Downloaded {
                bytes: 3_000_000,
                ..
            }
        ),
        "{got:?}"
    );
    assert!(!dest.with_file_name("big.bin.partial").exists());
}

#[test]
fn items_without_content_are_skipped_and_bad_requests_are_clear_errors() {
    let sim = one_drive_sim(3000, json!({}));
    let work = Workdir::new();
    let engine = open_engine(&sim, &work.db(), json!({}));
    let drive = &drive_ids(&sim)[0];
    let dest = work.dir.path().join("x");
    for (kind, reason) in [
        ("package", SkipReason::Package),
        ("malware", SkipReason::Malware),
        ("folder", SkipReason::Folder),
    ] {
        let item = of_kind(&sim, kind).remove(0);
        assert_eq!(
            engine.download(drive, &item.id, &dest).unwrap(),
            Download::Skipped { reason },
            "{kind}"
        );
    }
    assert!(!dest.exists());
    let file = of_kind(&sim, "file").remove(0);
    let err = |r: m365sync::Result<Download>| r.unwrap_err().to_string();
    assert!(err(engine.download("b!unknown", &file.id, &dest)).contains("not known"));
    assert!(err(engine.download(drive, "01NOSUCHITEM", &dest)).contains("not found"));
    let nowhere = work.dir.path().join("missing/dir/x");
    assert!(err(engine.download(drive, &file.id, &nowhere)).contains("does not exist"));
}

/// Waits until the managed mirror holds the truth of every drive and has recorded
/// every copy (nothing pending).
fn wait_copies(sim: &Simulator, db: &Path, mirror: &Path) {
    wait_until("the managed mirror to equal the truth", || {
        let pending: u64 = store(db)
            .status()
            .unwrap()
            .drives
            .iter()
            .map(|d| d.downloads_pending)
            .sum();
        pending == 0
            && verify::mirror_copies(sim, mirror, &[], 3)
                .unwrap()
                .is_empty()
    });
}

fn stored_ctags(db: &Path) -> Vec<(String, String)> {
    events_after(db, 0)
        .into_iter()
        .filter(|e| e.kind == EventKind::ContentStored)
        .map(|e| (e.item_id, e.ctag))
        .collect()
}

#[test]
fn the_managed_mirror_follows_edits_and_deletes_and_announces_each_ctag_once() {
    let sim = one_drive_sim(
        300,
        json!({"file_sizes": {"median_bytes": 4096, "max_bytes": 200000}}),
    );
    let work = Workdir::new();
    let mirror = work.dir.path().join("mirror");
    let engine = start_synced(&sim, &work.db(), json!({"download": {"dir": mirror}}));
    wait_copies(&sim, &work.db(), &mirror);
    let drive = drive_ids(&sim)[0].clone();
    let files = of_kind(&sim, "file");
    let status = engine.status().unwrap();
    assert_eq!(status.drives[0].downloads_pending, 0);
    let stats = status.mirror.unwrap();
    assert_eq!(stats.files_stored as usize, files.len());
    assert_eq!(stats.downloads_failed, 0);
    let events = stored_ctags(&work.db());
    assert_eq!(events.len(), files.len());
    assert_eq!(events.iter().collect::<HashSet<_>>().len(), events.len());
    // An edit is stored again; a rename costs nothing; a delete removes the copy.
    let (edited, renamed, deleted) = (&files[0], &files[1], &files[2]);
    sim.update_item(
        &drive,
        &edited.id,
        ItemPatch {
            content: Some(b"edited".to_vec()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    sim.update_item(
        &drive,
        &renamed.id,
        ItemPatch {
            name: Some("renamed.txt".into()),
            ..ItemPatch::default()
        },
    )
    .unwrap();
    sim.delete_item(&drive, &deleted.id).unwrap();
    wait_copies(&sim, &work.db(), &mirror);
    let copy = mirror.join(&drive).join(&edited.id);
    assert_eq!(std::fs::read(copy).unwrap(), b"edited");
    // The content_changed event carries what a host needs to decide without a lookup.
    let truth = sim.snapshot(&drive).unwrap();
    let now = truth.iter().find(|i| i.id == edited.id).unwrap();
    let changed = events_after(&work.db(), 0)
        .into_iter()
        .find(|e| e.kind == EventKind::ContentChanged && e.item_id == edited.id)
        .expect("a content_changed event");
    assert_eq!(Some(changed.ctag.clone()), now.ctag);
    assert_eq!(changed.size, 6);
    let hashes = changed.facets.hashes.expect("hashes on the event");
    assert_eq!(hashes.quick_xor, now.quick_xor_hash);
    let events = stored_ctags(&work.db());
    assert_eq!(
        events.len(),
        files.len() + 1,
        "one more content_stored, for the edit"
    );
    assert_eq!(events.iter().collect::<HashSet<_>>().len(), events.len());
    engine.stop();
}

#[test]
fn deleted_files_keep_their_copy_with_keep_deleted() {
    let sim = one_drive_sim(
        40,
        json!({"file_sizes": {"median_bytes": 1000, "max_bytes": 5000}}),
    );
    let work = Workdir::new();
    let mirror = work.dir.path().join("mirror");
    let engine = start_synced(
        &sim,
        &work.db(),
        json!({"download": {"dir": mirror, "keep_deleted": true}}),
    );
    wait_copies(&sim, &work.db(), &mirror);
    let drive = drive_ids(&sim)[0].clone();
    let file = of_kind(&sim, "file").remove(0);
    sim.delete_item(&drive, &file.id).unwrap();
    wait_mirror_matches(&work.db(), &sim);
    // Two files created one after the other and each stored: the walk that found the
    // second began after the removal pass that followed the walk of the first, which
    // ran after the delete was applied.
    for name in ["later-1.txt", "later-2.txt"] {
        let later = sim
            .create_item(&drive, "root", name, false, b"later")
            .unwrap();
        let copy = mirror.join(&drive).join(&later.id);
        wait_until("the later file's copy", || copy.exists());
    }
    assert!(mirror.join(&drive).join(&file.id).exists(), "kept");
    engine.stop();
}

#[test]
fn a_kill_during_the_mirror_resumes_without_a_second_announcement() {
    let sim = one_drive_sim(
        200,
        json!({"file_sizes": {"median_bytes": 262144, "max_bytes": 8388608}}),
    );
    let work = Workdir::new();
    let mirror = work.dir.path().join("mirror");
    let config = work.write_config(&engine_json(
        &sim,
        &work.db(),
        json!({"download": {"dir": mirror, "max_concurrent": 2}}),
    ));
    let log = work.dir.path().join("engine.log");
    for round in 0..3 {
        let mut engine = EngineProcess::spawn(&config, &log);
        // Kill once some files are stored (and others are likely half written).
        let before = if work.db().exists() {
            stored_ctags(&work.db()).len()
        } else {
            0
        };
        wait_until("a few more files stored", || {
            engine.assert_alive(&log);
            work.db().exists() && stored_ctags(&work.db()).len() >= before + 3 + round
        });
        engine.kill();
    }
    let engine = open_engine(&sim, &work.db(), json!({"download": {"dir": mirror}}));
    engine.start().unwrap();
    wait_copies(&sim, &work.db(), &mirror);
    let events = stored_ctags(&work.db());
    assert_eq!(
        events.len(),
        of_kind(&sim, "file").len(),
        "one content_stored per file"
    );
    assert_eq!(events.iter().collect::<HashSet<_>>().len(), events.len());
    assert!(verify::partial_files(&mirror).unwrap().is_empty());
    engine.stop();
}

#[test]
fn the_cli_downloads_one_item() {
    let sim = one_drive_sim(30, json!({}));
    let work = Workdir::new();
    let config = work.write_config(&engine_json(&sim, &work.db(), json!({})));
    let drive = drive_ids(&sim)[0].clone();
    let file = of_kind(&sim, "file").remove(0);
    let out = work.dir.path().join("out.bin");
    let run = |out: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_m365sync"))
            .args(["download", "--config"])
            .arg(&config)
            .args(["--drive", &drive, "--item", &file.id, "--out"])
            .arg(out)
            .output()
            .unwrap()
    };
    let first = run(&out);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        String::from_utf8_lossy(&first.stdout).contains(&format!("downloaded {} bytes", file.size))
    );
    assert_eq!(std::fs::read(&out).unwrap(), bytes_of(&sim, &file));
    let again = run(&out);
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"));
    let bad = run(&work.dir.path().join("no/such/dir/x"));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does not exist"));
}
