//! The simulator's HTTP front: auth, throttling, faults, control API, bad input (content:
//! `content.rs`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::sim::{Client, agent, control, send, small_config};
use m365sync_sim::{Faults, SimConfig, Simulator, ThrottleConfig};
use serde_json::json;

fn token_request(sim: &Simulator, tenant: &str, form: &str) -> crate::support::sim::Reply {
    let url = format!("{}/{tenant}/oauth2/v2.0/token", sim.login_url());
    send(agent().post(&url), Some(form.as_bytes())).unwrap()
}

#[test]
fn auth_failures_are_oauth_or_graph_shaped() {
    let sim = Simulator::start(SimConfig {
        token_lifetime_secs: 1,
        ..small_config()
    })
    .unwrap();
    let scope = "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&grant_type=client_credentials";
    let bad_secret = token_request(
        &sim,
        "sim-tenant",
        &format!("client_id=sim-client&client_secret=nope&{scope}"),
    );
    assert_eq!(bad_secret.status, 401);
    assert_eq!(bad_secret.json()["error"], "invalid_client");
    assert!(bad_secret.json()["error_description"].is_string());
    let bad_tenant = token_request(
        &sim,
        "other",
        &format!("client_id=sim-client&client_secret=sim-secret&{scope}"),
    );
    assert_eq!(bad_tenant.status, 400);
    assert!(bad_tenant.json()["error"].is_string());
    let bad_grant = token_request(
        &sim,
        "sim-tenant",
        "client_id=sim-client&client_secret=sim-secret&grant_type=password",
    );
    assert_eq!(bad_grant.status, 400);

    let drives = format!("{}/drives/{}", sim.graph_url(), sim.drives()[0].id);
    let missing = send(agent().get(&drives), None).unwrap();
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json()["error"]["code"],
        "InvalidAuthenticationToken"
    );
    let forged = send(
        agent()
            .get(&drives)
            .set("Authorization", "Bearer sim1.ffffffffffff.1234"),
        None,
    )
    .unwrap();
    assert_eq!(forged.status, 401);

    // The token lives 1 s; whatever the machine's load, it has expired 1.5 s later.
    let c = Client::new(&sim);
    std::thread::sleep(Duration::from_millis(1500));
    let expired = c.get(&drives);
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.json()["error"]["code"],
        "InvalidAuthenticationToken"
    );
}

#[test]
fn throttling_sends_ratelimit_headers_then_429_and_counts_violations() {
    let sim = Simulator::start(SimConfig {
        throttle: ThrottleConfig {
            ru_per_minute: 10,
            retry_after_secs: 300,
            ..ThrottleConfig::default()
        },
        ..small_config()
    })
    .unwrap();
    let c = Client::new(&sim);
    let url = format!("{}/drives/{}", sim.graph_url(), sim.drives()[0].id);
    let mut saw_headers = false;
    let mut first_429 = None;
    for _ in 0..12 {
        let r = c.get(&url);
        if r.status == 429 {
            first_429 = Some(r);
            break;
        }
        assert_eq!(r.status, 200);
        saw_headers |=
            r.header("RateLimit-Remaining").is_some() && r.header("RateLimit-Limit") == Some("10");
    }
    assert!(saw_headers, "RateLimit headers above 80 % use");
    let r = first_429.expect("a 429 once the budget is spent");
    assert_eq!(r.header("Retry-After"), Some("300"));
    assert_eq!(r.json()["error"]["innerError"]["code"], "throttledRequest");
    // Calling again inside the Retry-After window (once the 429 cannot be in flight
    // any more) is a violation and the wait grows.
    std::thread::sleep(Duration::from_millis(600));
    let again = c.get(&url);
    assert_eq!(again.status, 429);
    assert!(again.header("Retry-After").unwrap().parse::<u64>().unwrap() > 300);
    c.get(&url);
    let stats = control(&sim, "GET", "/_sim/stats", None).json();
    assert_eq!(stats["violations"], 2);
    assert_eq!(stats["throttled"], 3);
    assert!(stats["ru_used"].as_u64().unwrap() >= 13);
    assert!(
        stats["requests_by_route"]["GET /drives/{id}"]
            .as_u64()
            .unwrap()
            >= 13
    );
    assert!(stats["notifications"].is_object());
}

#[test]
fn injected_errors_and_resets() {
    let sim = Simulator::start(small_config()).unwrap();
    let c = Client::new(&sim);
    let url = format!("{}/drives/{}", sim.graph_url(), sim.drives()[0].id);
    sim.set_faults(Faults {
        error_503_rate: 1.0,
        ..Faults::default()
    })
    .unwrap();
    let r = c.get(&url);
    assert_eq!(r.status, 503);
    assert!(r.header("Retry-After").is_some());
    let r = control(
        &sim,
        "POST",
        "/_sim/faults",
        Some(json!({ "reset_rate": 1.0 })),
    );
    assert_eq!(r.status, 204);
    let reset = send(
        agent()
            .get(&url)
            .set("Authorization", &format!("Bearer {}", c.token)),
        None,
    );
    // A real TCP reset (not a garbled answer): the client's read fails with ECONNRESET.
    let kind = match reset.map(|r| r.status) {
        Err(e) => match *e {
            ureq::Error::Transport(t) => std::error::Error::source(&t)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .map(std::io::Error::kind),
            other => panic!("not a transport error: {other}"),
        },
        Ok(status) => panic!("a reset got an answer: {status}"),
    };
    assert_eq!(kind, Some(std::io::ErrorKind::ConnectionReset));
    control(
        &sim,
        "POST",
        "/_sim/faults",
        Some(json!({ "error_500_rate": 1.0 })),
    );
    assert_eq!(c.get(&url).status, 500);
    control(&sim, "POST", "/_sim/faults", Some(json!({})));
    assert_eq!(c.get(&url).status, 200);
    let stats = sim.stats();
    assert_eq!(stats.resets_injected, 1);
    assert_eq!(stats.errors_injected, 2);
    let bad = control(
        &sim,
        "POST",
        "/_sim/faults",
        Some(json!({ "reset_rate": 2.0 })),
    );
    assert_eq!(bad.status, 400);
    assert!(
        sim.set_faults(Faults {
            error_500_rate: -1.0,
            ..Faults::default()
        })
        .is_err()
    );
}

#[test]
fn control_api_mutates_and_reports() {
    let sim = Simulator::start(small_config()).unwrap();
    let drives = control(&sim, "GET", "/_sim/drives", None).json();
    let drive = drives[0]["id"].as_str().unwrap().to_string();
    assert_eq!(drives[0]["kind"], "documentLibrary");
    assert!(
        drives
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["kind"] == "business" && d["owner_user_id"].is_string())
    );

    let dir = control(
        &sim,
        "POST",
        &format!("/_sim/drives/{drive}/items"),
        Some(json!({ "parent_id": "root", "name": "Dir", "folder": true })),
    );
    assert_eq!(dir.status, 201);
    let dir_id = dir.json()["id"].as_str().unwrap().to_string();
    let file = control(
        &sim,
        "POST",
        &format!("/_sim/drives/{drive}/items"),
        Some(json!({ "parent_id": dir_id, "name": "a.txt", "content": "hello" })),
    )
    .json();
    assert_eq!(file["path"], "/Dir/a.txt");
    assert_eq!(file["size"], 5);
    let file_id = file["id"].as_str().unwrap().to_string();
    let dup = control(
        &sim,
        "POST",
        &format!("/_sim/drives/{drive}/items"),
        Some(json!({ "parent_id": dir_id, "name": "A.TXT" })),
    );
    assert_eq!(dup.status, 409);
    let moved = control(
        &sim,
        "PATCH",
        &format!("/_sim/drives/{drive}/items/{file_id}"),
        Some(json!({ "parent_id": "root", "name": "b.txt", "content": "bye" })),
    )
    .json();
    assert_eq!(moved["path"], "/b.txt");
    assert_ne!(moved["ctag"], file["ctag"]);
    assert_ne!(moved["etag"], file["etag"]);

    let snap = control(&sim, "GET", &format!("/_sim/snapshot?drive={drive}"), None).json();
    let root = &snap[0];
    assert_eq!(root["path"], "/");
    assert!(
        snap.as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == file_id.as_str() && s["path"] == "/b.txt")
    );

    let site = control(&sim, "POST", "/_sim/sites", Some(json!({ "name": "Team" }))).json();
    let site_id = site["id"].as_str().unwrap();
    let lib = control(
        &sim,
        "POST",
        &format!("/_sim/sites/{site_id}/drives"),
        Some(json!({ "name": "Archive" })),
    );
    assert_eq!(lib.status, 201);
    let user = control(
        &sim,
        "POST",
        "/_sim/users",
        Some(json!({ "upn": "new@sim.test", "with_drive": false })),
    )
    .json();
    assert!(user["drive_id"].is_null());

    let c = Client::new(&sim);
    let g = sim.graph_url();
    let no_drive = c.get(&format!("{g}/users/{}/drive", user["id"].as_str().unwrap()));
    assert_eq!(no_drive.status, 404);
    let site_drives = c.get(&format!("{g}/sites/{site_id}/drives")).json();
    assert_eq!(site_drives["value"].as_array().unwrap().len(), 2);
    let sites_delta = c.get(&format!("{g}/sites/delta")).json();
    let link = sites_delta["@odata.deltaLink"]
        .as_str()
        .unwrap()
        .to_string();
    sim.add_site("Later").unwrap();
    let later = c.get(&link).json();
    assert_eq!(later["value"].as_array().unwrap().len(), 1);
    assert_eq!(later["value"][0]["name"], "Later");

    let stats = control(&sim, "GET", "/_sim/stats", None).json();
    for key in [
        "requests",
        "requests_by_route",
        "throttled",
        "violations",
        "ru_used",
        "resets_injected",
        "errors_injected",
        "notifications",
    ] {
        assert!(stats.get(key).is_some(), "stats lack {key}");
    }
    assert_eq!(stats["requests_by_route"]["POST /_sim/sites"], 1);
    assert_eq!(
        control(
            &sim,
            "DELETE",
            &format!("/_sim/drives/{drive}/items/root"),
            None
        )
        .status,
        400
    );
    assert_eq!(
        control(&sim, "GET", "/_sim/snapshot?drive=nope", None).status,
        404
    );
}

#[test]
fn lists_page_with_next_links() {
    let sim = Simulator::start(SimConfig {
        users: 25,
        users_without_drive: 5,
        sites: 7,
        items: 0,
        ..small_config()
    })
    .unwrap();
    let c = Client::new(&sim);
    let mut url = format!("{}/users?$top=10", sim.graph_url());
    let mut users = 0;
    loop {
        let page = c.get(&url).json();
        users += page["value"].as_array().unwrap().len();
        match page["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(users, 25);
    let sites = c.get(&format!("{}/sites?$top=3", sim.graph_url())).json();
    assert_eq!(sites["value"].as_array().unwrap().len(), 3);
    assert!(sites["value"][0]["root"].is_object());
    assert!(sites["@odata.nextLink"].is_string());
}

/// Sends raw bytes and returns whatever comes back before the server closes or 10 s pass.
fn raw_exchange(sim: &Simulator, bytes: &[u8]) -> String {
    let addr = sim.url().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[test]
fn bad_input_gets_4xx_and_never_breaks_the_server() {
    let sim = Simulator::start(small_config()).unwrap();
    let c = Client::new(&sim);
    let g = sim.graph_url();
    let drive = sim.drives()[0].id.clone();
    assert_eq!(c.get(&format!("{g}/nonsense/route")).status, 404);
    assert_eq!(c.get(&format!("{g}/drives/nope")).status, 404);
    assert_eq!(
        c.get(&format!("{g}/drives/{drive}/items/01ZZZ")).status,
        404
    );
    assert_eq!(
        c.get(&format!("{g}/drives/{drive}/root/delta?$top=-1"))
            .status,
        400
    );
    assert_eq!(c.get(&format!("{g}/users?$skiptoken=bogus")).status, 400);
    let r = c.get(&format!("{g}/drives/%zz"));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["code"].is_string());
    for (method, path, body) in [
        ("POST", format!("/_sim/drives/{drive}/items"), "{not json"),
        (
            "POST",
            format!("/_sim/drives/{drive}/items"),
            r#"{"parent_id":"root"}"#,
        ),
        (
            "POST",
            format!("/_sim/drives/{drive}/items"),
            r#"{"parent_id":"root","name":"a/b"}"#,
        ),
        (
            "POST",
            format!("/_sim/drives/{drive}/items"),
            r#"{"parent_id":"root","name":"x","bogus":1}"#,
        ),
        (
            "PATCH",
            format!("/_sim/drives/{drive}/items/root"),
            r#"{"name":"r"}"#,
        ),
        ("POST", "/_sim/users".to_string(), r#"{"upn":"no-at-sign"}"#),
        ("POST", "/_sim/faults".to_string(), "[]"),
    ] {
        let r = send(
            agent().request(method, &format!("{}{path}", sim.url())),
            Some(body.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            r.status,
            400,
            "{method} {path} {body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.json()["error"]["message"].is_string());
    }
    let garbage = raw_exchange(&sim, b"\x00\x01garbage\r\n\r\n");
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );
    let odd = raw_exchange(
        &sim,
        b"GET /v1.0/sites?$top=%%% HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(odd.starts_with("HTTP/1.1 400"), "{odd}");
    // Still serving.
    assert_eq!(c.get(&format!("{g}/drives/{drive}")).status, 200);
}
