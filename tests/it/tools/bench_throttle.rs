//! `m365sync bench throttle` end to end on a small tenant: the last stdout line is one
//! JSON object with every figure, the simulator saw no request sent while a Retry-After
//! was in force, and bad flags are refused before anything starts.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_m365sync"))
        .args(["bench", "throttle"])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run m365sync")
}

#[test]
fn prints_every_figure_as_one_json_line() {
    let out = bench(&[
        "--drives",
        "3",
        "--ru-per-window",
        "200",
        "--window-secs",
        "2",
        "--secs",
        "2",
        "--changes-per-sec",
        "60",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().expect("a JSON line");
    let figures: serde_json::Value = serde_json::from_str(last).unwrap();
    for key in [
        "ru_utilization",
        "throttled_fraction",
        "violations",
        "ru_used",
        "ru_budget",
        "requests",
        "throttled",
        "changes",
    ] {
        assert!(figures.get(key).is_some(), "{key} missing from {last}");
    }
    assert_eq!(figures["violations"], 0, "{last}");
    assert_eq!(figures["drives"], 3);
    assert!(figures["requests"].as_u64().unwrap() > 0, "{last}");
    assert!(figures["changes"].as_u64().unwrap() > 0, "{last}");
}

#[test]
fn a_zero_window_is_refused() {
    let out = bench(&["--window-secs", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--window-secs"), "{stderr}");
}
