//! The built-in listener over HTTPS (`webhook.tls_cert_file` / `tls_key_file`):
//! a validation request made with curl, trusting a certificate made with openssl.

use std::process::Command;

use crate::support::network::make_certificate;
use crate::support::notify::*;
use m365sync::Engine;
use serde_json::json;

#[test]
fn the_listener_serves_https_with_the_configured_certificate() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_certificate(dir.path());
    let config = config(
        &sim,
        &dir,
        json!({"tls_cert_file": cert, "tls_key_file": key}),
        json!({"drives": []}),
    );
    let engine = Engine::open(config).unwrap();
    engine.start().unwrap();
    let url = serde_json::to_value(engine.status().unwrap()).unwrap()["notification_url"]
        .as_str()
        .expect("a notification URL")
        .to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let out = Command::new("curl")
        .args(["-s", "--max-time", "30", "-X", "POST", "--cacert", &cert])
        .arg(format!("{url}?validationToken=hello%20tls"))
        .output()
        .expect("the curl command is needed by this test (.ci/run installs it)");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello tls");
    engine.stop();
}

#[test]
fn a_key_that_is_not_pem_is_a_named_configuration_error() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = make_certificate(dir.path());
    let bad_key = dir.path().join("bad.pem");
    std::fs::write(&bad_key, "not a key").unwrap();
    let config = config(
        &sim,
        &dir,
        json!({"tls_cert_file": cert, "tls_key_file": bad_key}),
        json!({"drives": []}),
    );
    let engine = Engine::open(config).unwrap();
    let e = engine.start().unwrap_err().to_string();
    assert!(e.contains("webhook.tls_key_file"), "{e}");
}
