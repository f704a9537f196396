//! A bad configuration fails early with an error that names the field: through
//! `Config::from_json`, `Engine::open` and `m365sync run --config`.

use std::process::Command;

use crate::support::engine::*;
use m365sync::{Config, Engine, Error};
use serde_json::{Value, json};

fn valid(db: &std::path::Path) -> Value {
    json!({
        "tenant_id": "t", "client_id": "c", "client_secret": "s",
        "graph_url": "http://127.0.0.1:9/v1.0", "login_url": "http://127.0.0.1:9",
        "database": db, "drives": ["b!drive"]
    })
}

fn with(mut base: Value, field: &str, value: Value) -> Value {
    base.as_object_mut().unwrap().insert(field.into(), value);
    base
}

fn without(mut base: Value, field: &str) -> Value {
    base.as_object_mut().unwrap().remove(field);
    base
}

/// Bad documents and the field their error must name.
fn bad_documents(db: &std::path::Path) -> Vec<(Value, &'static str)> {
    let v = valid(db);
    vec![
        (with(v.clone(), "workers", json!(0)), "workers"),
        (with(v.clone(), "workers", json!("4")), "workers"),
        (with(v.clone(), "page_size", json!(0)), "page_size"),
        (with(v.clone(), "page_size", json!(5000)), "page_size"),
        (
            with(v.clone(), "poll_interval_secs", json!(0)),
            "poll_interval_secs",
        ),
        (with(v.clone(), "graph_url", json!("ftp://x")), "graph_url"),
        (with(v.clone(), "drives", json!(["ok", " "])), "drives[1]"),
        (with(v.clone(), "wokers", json!(4)), "wokers"),
        (without(v.clone(), "tenant_id"), "tenant_id"),
        (without(v.clone(), "database"), "database"),
        (without(v.clone(), "client_secret"), "client_secret"),
        (
            with(v.clone(), "throttle", json!({ "max_attempts": 0 })),
            "throttle.max_attempts",
        ),
        (
            with(v, "throttle", json!({ "requests_per_second": -1.0 })),
            "throttle.requests_per_second",
        ),
    ]
}

#[test]
fn config_from_json_names_the_bad_field() {
    let work = Workdir::new();
    let db = work.db();
    assert!(Config::from_json(&valid(&db).to_string()).is_ok());
    for (doc, field) in bad_documents(&db) {
        match Config::from_json(&doc.to_string()) {
            Err(Error::Config(message)) => assert!(
                message.contains(field),
                "error for {field} does not name it: {message}"
            ),
            other => panic!("{doc} gave {other:?}, not a config error naming {field}"),
        }
    }
    assert!(matches!(
        Config::from_json("{ not json"),
        Err(Error::Config(_))
    ));
}

#[test]
fn engine_open_validates_and_creates_nothing_on_error() {
    let work = Workdir::new();
    let db = work.db();
    let mut config = Config::from_json(&valid(&db).to_string()).unwrap();
    config.workers = 0;
    match Engine::open(config) {
        Err(Error::Config(message)) => assert!(message.contains("workers"), "{message}"),
        Err(e) => panic!("not a config error: {e}"),
        Ok(_) => panic!("an engine with 0 workers opened"),
    }
    assert!(
        !db.exists(),
        "a rejected configuration created the database"
    );

    let mut config = Config::from_json(&valid(&db).to_string()).unwrap();
    config.page_size = 1001;
    assert!(matches!(Engine::open(config), Err(Error::Config(m)) if m.contains("page_size")));
}

#[test]
fn m365sync_run_fails_with_the_field_on_stderr() {
    let work = Workdir::new();
    let db = work.db();
    for (doc, field) in bad_documents(&db).into_iter().take(4) {
        let config = work.write_config(&doc);
        let out = Command::new(env!("CARGO_BIN_EXE_m365sync"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .output()
            .expect("run m365sync");
        assert_eq!(out.status.code(), Some(1), "{doc}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("invalid configuration") && stderr.contains(field),
            "stderr does not name {field}: {stderr}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_m365sync"))
        .args(["run", "--config"])
        .arg(work.dir.path().join("missing.json"))
        .output()
        .expect("run m365sync");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
    assert!(!db.exists());
}
