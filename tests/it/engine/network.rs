//! Networks between the engine and Graph: a forward proxy (absolute-form requests for
//! plain HTTP, CONNECT tunnels for HTTPS), `no_proxy`, and the trust of a CA that is
//! not in the system store (a TLS-inspecting proxy's), with the simulator over HTTPS.

use crate::support::engine::*;
use crate::support::network::{Proxy, make_ca_and_certificate};
use crate::support::poll_until;
use m365sync::Engine;
use serde_json::{Value, json};

/// Waits until the only drive reports a failure containing `needle`.
fn wait_drive_error(engine: &Engine, needle: &str) {
    let mut last = None;
    let found = poll_until(|| {
        last = engine.status().unwrap().drives[0].last_error.clone();
        last.as_deref().is_some_and(|e| e.contains(needle))
    });
    assert!(found, "no drive error with {needle:?}; the last: {last:?}");
}

#[test]
fn sign_in_and_graph_go_through_the_configured_proxy() {
    let sim = one_drive_sim(20, json!({}));
    let proxy = Proxy::start();
    let work = Workdir::new();
    start_synced(&sim, &work.db(), json!({ "proxy": proxy.url })).stop();
    let seen = proxy.seen();
    let origin = sim.url();
    assert!(
        seen.contains(&format!(
            "POST {origin}/{}/oauth2/v2.0/token",
            sim.tenant_id()
        )),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.starts_with(&format!("GET {origin}/v1.0/drives/"))),
        "{seen:?}"
    );
}

#[test]
fn no_proxy_hosts_are_reached_directly() {
    let sim = one_drive_sim(20, json!({}));
    let proxy = Proxy::start();
    let work = Workdir::new();
    let overrides = json!({ "proxy": proxy.url, "no_proxy": "localhost,127.0.0.1" });
    start_synced(&sim, &work.db(), overrides).stop();
    assert_eq!(proxy.seen(), Vec::<String>::new());
}

#[test]
fn an_unreachable_proxy_is_a_clear_runtime_error() {
    let sim = one_drive_sim(5, json!({}));
    let work = Workdir::new();
    let overrides = json!({ "proxy": "http://127.0.0.1:1", "throttle": { "max_attempts": 1 } });
    let engine = open_engine(&sim, &work.db(), overrides);
    engine.start().unwrap();
    wait_drive_error(
        &engine,
        "through the proxy http://127.0.0.1:1 of field `proxy`",
    );
    engine.stop();
}

/// A simulator serving HTTPS with a certificate of a CA of its own, and that CA.
fn https_sim(dir: &std::path::Path) -> (m365sync_sim::Simulator, String) {
    let (ca, cert, key) = make_ca_and_certificate(dir);
    let sim = one_drive_sim(20, json!({ "tls_cert_file": cert, "tls_key_file": key }));
    assert!(sim.url().starts_with("https://"), "{}", sim.url());
    (sim, ca)
}

#[test]
fn https_through_a_connect_proxy_trusting_the_configured_ca() {
    let work = Workdir::new();
    let (sim, cert) = https_sim(work.dir.path());
    let proxy = Proxy::start();
    let overrides = json!({ "proxy": proxy.url, "tls": { "ca_file": cert } });
    start_synced(&sim, &work.db(), overrides).stop();
    let authority = sim.url().trim_start_matches("https://").to_string();
    let seen = proxy.seen();
    assert!(seen.contains(&format!("CONNECT {authority}")), "{seen:?}");
    assert!(seen.iter().all(|s| s.starts_with("CONNECT ")), "{seen:?}");
}

#[test]
fn a_server_signed_by_an_unknown_ca_is_refused() {
    let work = Workdir::new();
    let (sim, _) = https_sim(work.dir.path());
    let overrides: Value = json!({ "throttle": { "max_attempts": 1 } });
    let engine = open_engine(&sim, &work.db(), overrides);
    engine.start().unwrap();
    wait_drive_error(&engine, "UnknownIssuer");
    engine.stop();
}
