//! Sign-in without a client secret, end to end against the simulator: a certificate
//! (RS256 client assertions), a federated token from a file (re-read at every
//! sign-in, as Kubernetes rotates it) and the host's managed identity (the instance
//! metadata service's endpoint).

use std::path::{Path, PathBuf};

use crate::support::engine::*;
use crate::support::network::{concat_pem, make_ca_and_certificate, openssl};
use crate::support::sim::{agent, send};
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

/// A PEM file with a certificate and its key (what `client_certificate_file` takes),
/// the certificate alone, and the key alone.
fn certificate_files(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).unwrap();
    let (_, cert, key) = make_ca_and_certificate(&sub);
    let (cert, key) = (PathBuf::from(cert), PathBuf::from(key));
    (concat_pem(sub.join("both.pem"), &[&cert, &key]), cert, key)
}

/// A PEM file with a certificate that expired in 2020 and its key (made with
/// `openssl ca`, which can date certificates).
fn expired_certificate(dir: &Path) -> PathBuf {
    let sub = dir.join("expired");
    std::fs::create_dir_all(&sub).unwrap();
    let run = |args: &[&str]| openssl(&sub, args);
    run(&[
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ca",
        "-keyout", "ca.key", "-out", "ca.pem",
    ]);
    run(&[
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=app", "-keyout", "app.key", "-out",
        "app.csr",
    ]);
    std::fs::write(sub.join("index.txt"), "").unwrap();
    std::fs::write(sub.join("serial"), "01\n").unwrap();
    std::fs::write(
        sub.join("ca.cnf"),
        "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n\
         default_md=sha256\npolicy=p\nx509_extensions=v3\n[p]\ncommonName=supplied\n\
         [v3]\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-cert",
        "ca.pem",
        "-keyfile",
        "ca.key",
        "-in",
        "app.csr",
        "-out",
        "app.pem",
        "-notext",
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200102000000Z",
    ]);
    concat_pem(
        sub.join("both.pem"),
        &[&sub.join("app.pem"), &sub.join("app.key")],
    )
}

fn certificate_config(file: &Path) -> Value {
    json!({ "client_secret": null, "client_certificate_file": file })
}

#[test]
fn a_certificate_signs_in_and_each_sign_in_is_a_fresh_assertion() {
    let work = Workdir::new();
    let (both, cert, _) = certificate_files(work.dir.path(), "app");
    let sim = one_drive_sim(20, json!({ "client_certificate_files": [cert] }));
    let engine = start_synced(&sim, &work.db(), certificate_config(&both));
    // A second sign-in: a replayed assertion (same jti) would be refused.
    sim.expire_access_tokens();
    let drive = drive_ids(&sim).remove(0);
    let root = sim.root_id(&drive).unwrap();
    sim.create_item(&drive, &root, "after.txt", false, b"x")
        .unwrap();
    wait_mirror_matches(&work.db(), &sim);
    engine.stop();
    // The simulator's app has its secret too, as an Entra app may.
    start_synced(&sim, &Workdir::new().db(), json!({})).stop();
}

#[test]
fn a_certificate_the_app_does_not_have_is_refused_with_entras_reason() {
    let work = Workdir::new();
    let (both, _, _) = certificate_files(work.dir.path(), "unregistered");
    let (_, registered, _) = certificate_files(work.dir.path(), "registered");
    let sim = one_drive_sim(5, json!({ "client_certificate_files": [registered] }));
    let engine = open_engine(&sim, &work.db(), certificate_config(&both));
    engine.start().unwrap();
    wait_drive_error(&engine, "AADSTS700027");
    engine.stop();
}

#[test]
fn unusable_certificate_files_are_configuration_errors_naming_the_reason() {
    let work = Workdir::new();
    let (_, cert, key) = certificate_files(work.dir.path(), "a");
    let (_, _, other_key) = certificate_files(work.dir.path(), "b");
    let dir = work.dir.path();
    let write = |name: &str, parts: &[&Path]| concat_pem(dir.join(name), parts);
    let encrypted = dir.join("encrypted.key");
    let (key_arg, encrypted_arg) = (key.display().to_string(), encrypted.display().to_string());
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:x",
            "-in",
            &key_arg,
            "-out",
            &encrypted_arg,
        ],
    );
    let expired = expired_certificate(dir);
    let sim = one_drive_sim(0, json!({}));
    for (file, why) in [
        (expired, "the certificate has expired"),
        (write("no-key.pem", &[&cert]), "holds no PEM private key"),
        (
            write("wrong-key.pem", &[&cert, &other_key]),
            "does not belong to the certificate",
        ),
        (write("encrypted.pem", &[&cert, &encrypted]), "encrypted"),
        (write("no-cert.pem", &[&key]), "holds no PEM certificate"),
        (dir.join("missing.pem"), "cannot read it"),
    ] {
        let json = engine_json(&sim, &work.db(), certificate_config(&file));
        let config = m365sync::Config::from_json(&json.to_string()).unwrap();
        let e = Engine::open(config).err().unwrap().to_string();
        assert!(
            e.contains("client_certificate_file") && e.contains(why),
            "{why}: {e}"
        );
    }
}

#[test]
fn the_simulator_refuses_a_replayed_certificate_assertion() {
    let work = Workdir::new();
    let (_, cert, key) = certificate_files(work.dir.path(), "app");
    let sim = one_drive_sim(0, json!({ "client_certificate_files": [&cert] }));
    let der = openssl(
        work.dir.path(),
        &[
            "x509",
            "-outform",
            "DER",
            "-in",
            &cert.display().to_string(),
        ],
    );
    let thumbprint = {
        use sha2::Digest;
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der))
    };
    let token_url = format!("{}/{}/oauth2/v2.0/token", sim.login_url(), sim.tenant_id());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let signed = format!(
        "{}.{}",
        part(json!({ "alg": "RS256", "typ": "JWT", "x5t#S256": thumbprint })),
        part(
            json!({ "aud": token_url, "iss": sim.client_id(), "sub": sim.client_id(),
                     "jti": "once", "exp": now + 600 })
        )
    );
    let input = work.dir.path().join("signed");
    std::fs::write(&input, &signed).unwrap();
    let (key_arg, input_arg) = (key.display().to_string(), input.display().to_string());
    let signature = openssl(
        work.dir.path(),
        &["dgst", "-sha256", "-sign", &key_arg, &input_arg],
    );
    let assertion = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature));
    let form = format!(
        "client_id={}&grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}",
        sim.client_id()
    );
    let post = || {
        let request = agent()
            .post(&token_url)
            .set("Content-Type", "application/x-www-form-urlencoded");
        send(request, Some(form.as_bytes())).expect("token request")
    };
    assert_eq!(post().status, 200);
    let replayed = post();
    assert_eq!(replayed.status, 401);
    assert!(
        replayed.json()["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS700025"),
        "{}",
        replayed.json()
    );
}
