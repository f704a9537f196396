//! `m365sync status --db` and `m365sync events --db [--json]` on a database the engine
//! filled.

use std::path::Path;
use std::process::Command;

use crate::support::engine::*;
use m365sync::EventKind;
use serde_json::{Value, json};

/// Runs the CLI; returns (exit code, stdout, stderr).
fn cli(args: &[&str], db: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_m365sync"))
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .expect("run m365sync");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_and_events_report_what_the_database_holds() {
    let sim = one_drive_sim(60, json!({}));
    let drive = drive_ids(&sim).remove(0);
    let work = Workdir::new();
    let db = work.db();
    let engine = start_synced(&sim, &db, json!({ "emit_initial_items": true }));
    engine.stop();
    drop(engine);
    let events = events_after(&db, 0);
    let last = events.last().unwrap().seq;

    let (code, out, err) = cli(&["status"], &db);
    assert_eq!(code, Some(0), "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&drive))
        .unwrap_or_else(|| panic!("no row for the drive: {out}"));
    assert!(row.contains("synced") && row.contains("delta"), "{row}");
    assert!(row.contains(" 60 "), "item count missing: {row}");
    assert!(
        out.contains(&format!("journal: last seq {last}, acked 0")),
        "{out}"
    );
    assert!(out.contains("created=60"), "{out}");

    let (code, out, err) = cli(&["status", "--json"], &db);
    assert_eq!(code, Some(0), "{err}");
    let status: Value = serde_json::from_str(out.trim()).expect("status JSON");
    assert_eq!(status["last_seq"], last);
    assert_eq!(status["drives"][0]["id"], drive.as_str());
    assert_eq!(status["drives"][0]["state"], "synced");
    assert_eq!(status["drives"][0]["items"], 60);
    assert_eq!(status["events_by_kind"]["crawl_completed"], 1);

    let (code, out, err) = cli(&["events", "--json"], &db);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event a line"))
        .collect();
    assert_eq!(lines.len(), events.len());
    for (line, event) in lines.iter().zip(&events) {
        assert_eq!(line["seq"], event.seq);
        assert_eq!(line["kind"], event.kind.as_str());
        assert_eq!(line["item_id"], event.item_id.as_str());
        assert_eq!(line["path"], event.path.as_str());
        assert_eq!(line["drive_id"], drive.as_str());
    }

    let since = events[events.len() / 2].seq;
    let (code, out, _) = cli(&["events", "--json", "--since", &since.to_string()], &db);
    assert_eq!(code, Some(0));
    let seqs: Vec<i64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let expected: Vec<i64> = events
        .iter()
        .map(|e| e.seq)
        .filter(|s| *s > since)
        .collect();
    assert_eq!(seqs, expected);

    let (code, out, _) = cli(&["events"], &db);
    assert_eq!(code, Some(0));
    let created = events
        .iter()
        .find(|e| e.kind == EventKind::Created)
        .unwrap();
    assert!(
        out.lines()
            .any(|l| l.contains("created") && l.trim_end().ends_with(&created.path)),
        "{out}"
    );
}

#[test]
fn status_and_events_refuse_a_missing_database() {
    let work = Workdir::new();
    for command in ["status", "events"] {
        let (code, _, err) = cli(&[command], &work.db());
        assert_eq!(code, Some(1));
        assert!(err.contains("no database"), "{err}");
    }
    assert!(!work.db().exists());
}
