//! Sign-in without a client secret, end to end against the simulator: a federated
//! token from a file (re-read at every sign-in, as Kubernetes rotates it) and the
//! host's managed identity (the instance metadata service's endpoint).

use std::path::Path;

use crate::support::engine::*;
use crate::support::poll_until;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m365sync::Engine;
use serde_json::{Value, json};

const ISSUER: &str = "https://oidc.cluster.example";
const SUBJECT: &str = "system:serviceaccount:backup:agent";

/// A simulator whose app trusts the cluster's service account.
fn federated_sim() -> m365sync_sim::Simulator {
    one_drive_sim(
        20,
        json!({ "federated_credentials": [{ "issuer": ISSUER, "subject": SUBJECT }] }),
    )
}

/// An unsigned JWT with these claims (the simulator checks claims, not the other
/// identity provider's signature).
fn token(subject: &str, lifetime_secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2ln",
        part(json!({ "alg": "RS256", "typ": "JWT" })),
        part(
            json!({ "iss": ISSUER, "sub": subject, "aud": "api://AzureADTokenExchange",
                     "iat": now, "exp": now + lifetime_secs })
        )
    )
}

/// Waits until the only drive reports a failure containing `needle`.
fn wait_drive_error(engine: &Engine, needle: &str) {
    let mut last = None;
    let found = poll_until(|| {
        last = engine.status().unwrap().drives[0].last_error.clone();
        last.as_deref().is_some_and(|e| e.contains(needle))
    });
    assert!(found, "no drive error with {needle:?}; the last: {last:?}");
}

fn assertion_config(file: &Path) -> Value {
    json!({ "client_secret": null, "client_assertion_file": file })
}

#[test]
fn a_federated_token_file_signs_in_and_is_re_read_after_rotation() {
    let sim = federated_sim();
    let work = Workdir::new();
    let file = work.dir.path().join("token");
    std::fs::write(&file, token(SUBJECT, 600)).unwrap();
    let engine = start_synced(&sim, &work.db(), assertion_config(&file));
    // The platform rotates the file; the next sign-in must read the new token.
    std::fs::write(&file, token("system:serviceaccount:other:sa", 600)).unwrap();
    sim.expire_access_tokens();
    wait_drive_error(&engine, "AADSTS700213");
    std::fs::write(&file, token(SUBJECT, 600)).unwrap();
    let root = sim.root_id(&drive_ids(&sim)[0]).unwrap();
    sim.create_item(&drive_ids(&sim)[0], &root, "after.txt", false, b"x")
        .unwrap();
    wait_mirror_matches(&work.db(), &sim);
    engine.stop();
}

#[test]
fn an_expired_or_unreadable_federated_token_is_a_clear_error() {
    let sim = federated_sim();
    let work = Workdir::new();
    let file = work.dir.path().join("token");
    std::fs::write(&file, token(SUBJECT, -60)).unwrap();
    let engine = open_engine(&sim, &work.db(), assertion_config(&file));
    engine.start().unwrap();
    wait_drive_error(&engine, "AADSTS700024");
    engine.stop();
    let missing = work.dir.path().join("missing");
    let config = m365sync::Config::from_json(
        &engine_json(&sim, &work.db(), assertion_config(&missing)).to_string(),
    )
    .unwrap();
    let e = Engine::open(config).err().unwrap().to_string();
    assert!(
        e.contains("client_assertion_file") && e.contains("cannot read"),
        "{e}"
    );
}

#[test]
fn a_managed_identity_signs_in_through_the_metadata_endpoint() {
    let sim = one_drive_sim(20, json!({}));
    let work = Workdir::new();
    let endpoint = format!("{}/metadata/identity/oauth2/token", sim.url());
    let identity = json!({
        "client_secret": null,
        "managed_identity": { "endpoint": endpoint, "client_id": sim.client_id() }
    });
    start_synced(&sim, &work.db(), identity).stop();
    assert!(sim.stats().requests_by_route["GET /metadata/identity/oauth2/token"] >= 1);
    // Another user-assigned identity does not exist in this tenant.
    let other = json!({
        "client_secret": null,
        "managed_identity": { "endpoint": endpoint, "client_id": "not-ours" }
    });
    let other_work = Workdir::new();
    let engine = open_engine(&sim, &other_work.db(), other);
    engine.start().unwrap();
    wait_drive_error(&engine, "Identity not found");
    engine.stop();
}
