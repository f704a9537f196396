//! Secrets: neither the client secret nor any access token reaches the SQLite files
//! (database, WAL, shared memory) or the log, even at trace level.

use std::path::Path;

use crate::support::engine::*;
use crate::support::network::{concat_pem, make_ca_and_certificate};
use crate::support::reliability::captured_log;
use crate::support::wait_until;
use serde_json::json;

const SECRET: &str = "Xq9-unmistakable-client-secret-7f3e";
/// Every access token the simulator issues starts with this.
const TOKEN_PREFIX: &str = "sim1.";
const TOKEN_ROUTE: &str = "POST /{tenant}/oauth2/v2.0/token";

/// Where `needle` occurs in the database's files, by file name.
fn files_containing(db: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

fn assert_no_secret_stored(db: &Path) {
    for needle in [SECRET, TOKEN_PREFIX] {
        let files = files_containing(db, needle);
        assert!(files.is_empty(), "{needle:?} found in {files:?}");
    }
}

#[test]
fn the_secret_and_the_tokens_stay_out_of_the_database_and_the_log() {
    // The logger is process-wide.
    if crate::support::in_own_process(concat!(
        module_path!(),
        "::the_secret_and_the_tokens_stay_out_of_the_database_and_the_log"
    )) {
        return;
    }
    let log = captured_log();
    // Two-second tokens: the engine fetches several while it runs.
    let sim = one_drive_sim(
        300,
        json!({ "client_secret": SECRET, "token_lifetime_secs": 2 }),
    );
    // The prefix really marks the simulator's tokens (else the scan proves nothing).
    let token_url = format!("{}/{}/oauth2/v2.0/token", sim.login_url(), sim.tenant_id());
    let reply: serde_json::Value = ureq::post(&token_url)
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sim.client_id()),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .expect("token request")
        .into_json()
        .expect("token JSON");
    let token = reply["access_token"].as_str().expect("access_token");
    assert!(token.starts_with(TOKEN_PREFIX), "{token}");

    let drive = drive_ids(&sim).remove(0);
    let root = sim.root_id(&drive).unwrap();
    let work = Workdir::new();
    let db = work.db();
    let engine = start_synced(&sim, &db, json!({ "page_size": 20 }));
    let tokens_before = sim.stats().requests_by_route[TOKEN_ROUTE];
    let mut n = 0;
    wait_until("three more tokens issued", || {
        sim.create_item(&drive, &root, &format!("f{n}.txt"), false, b"x")
            .unwrap();
        n += 1;
        std::thread::sleep(std::time::Duration::from_millis(200));
        sim.stats().requests_by_route[TOKEN_ROUTE] >= tokens_before + 3
    });
    wait_mirror_matches(&db, &sim);
    // While running, the WAL and shared-memory files exist.
    assert!(Path::new(&format!("{}-wal", db.display())).exists());
    assert_no_secret_stored(&db);
    engine.stop();
    drop(engine);
    assert_no_secret_stored(&db);

    let text = log.text();
    assert!(
        text.contains("oauth2/v2.0/token") && text.contains("Authorization"),
        "the log should show the token requests and the Graph calls at trace level"
    );
    assert!(!text.contains(SECRET), "the client secret was logged");
    let leaked: Vec<&str> = text.lines().filter(|l| l.contains(TOKEN_PREFIX)).collect();
    assert!(leaked.is_empty(), "access tokens logged: {leaked:?}");
}

/// The start of every certificate assertion the engine signs: base64url of
/// `{"alg":"RS256",`.
const ASSERTION_PREFIX: &str = "eyJhbGciOiJSUzI1NiIs";

#[test]
fn a_certificate_key_and_its_assertions_stay_out_of_the_database_and_the_log() {
    if crate::support::in_own_process(concat!(
        module_path!(),
        "::a_certificate_key_and_its_assertions_stay_out_of_the_database_and_the_log"
    )) {
        return;
    }
    let log = captured_log();
    let work = Workdir::new();
    let (_, cert, key) = make_ca_and_certificate(work.dir.path());
    let key_text = std::fs::read_to_string(&key).unwrap();
    // A line from the middle of the key's base64 body.
    let key_line = key_text.lines().nth(5).expect("a PEM key body").to_string();
    let both = concat_pem(
        work.dir.path().join("app.pem"),
        &[Path::new(&cert), Path::new(&key)],
    );
    let sim = one_drive_sim(
        100,
        json!({ "client_certificate_files": [cert], "token_lifetime_secs": 2 }),
    );
    let db = work.db();
    let overrides =
        json!({ "client_secret": null, "client_certificate_file": both, "page_size": 20 });
    let engine = start_synced(&sim, &db, overrides);
    let tokens_before = sim.stats().requests_by_route[TOKEN_ROUTE];
    wait_until("two more sign-ins", || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        sim.stats().requests_by_route[TOKEN_ROUTE] >= tokens_before + 2
    });
    engine.stop();
    drop(engine);
    for needle in [key_line.as_str(), ASSERTION_PREFIX, TOKEN_PREFIX] {
        let files = files_containing(&db, needle);
        assert!(files.is_empty(), "{needle:?} found in {files:?}");
    }
    let text = log.text();
    assert!(
        text.contains("oauth2/v2.0/token"),
        "the log should show the sign-ins"
    );
    for needle in [key_line.as_str(), ASSERTION_PREFIX, TOKEN_PREFIX] {
        assert!(!text.contains(needle), "{needle:?} was logged");
    }
}
