//! The simulator's subscriptions over HTTP: validation handshake, webhook delivery,
//! retries of failed deliveries, and bad input.

use std::sync::Arc;

use crate::support::sim::{Client, iso_in, percent_decode, send, small_config};
use crate::support::wait_for;
use m365sync_http::{Request, Response, Server, ServerOptions};
use m365sync_sim::Simulator;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// A webhook endpoint played by the test: answers handshakes, records notifications,
/// and can fail the first notification POSTs.
struct Receiver {
    url: String,
    posts: Arc<Mutex<Vec<Value>>>,
    _server: Server,
}

impl Receiver {
    fn start(echo_token: bool, fail_first: usize) -> Receiver {
        let posts = Arc::new(Mutex::new(Vec::new()));
        let failures_left = Arc::new(Mutex::new(fail_first));
        let p = posts.clone();
        let handler = move |request: Request| {
            if let Some((_, token)) = request.head.query().split_once("validationToken=") {
                let decoded = percent_decode(token.split('&').next().unwrap_or_default());
                return Response::text(200, if echo_token { decoded } else { "wrong".into() });
            }
            let mut failures_left = failures_left.lock();
            if *failures_left > 0 {
                *failures_left -= 1;
                return Response::new(500);
            }
            p.lock()
                .push(serde_json::from_slice(&request.body).unwrap_or(Value::Null));
            Response::new(202)
        };
        let server = Server::start("127.0.0.1:0", ServerOptions::default(), Arc::new(handler))
            .expect("bind");
        Receiver {
            url: format!("http://{}/hook", server.local_addr()),
            posts,
            _server: server,
        }
    }

    /// Waits until at least `n` notifications arrived; returns them all.
    fn wait_for(&self, n: usize) -> Vec<Value> {
        wait_for(&format!("{n} notifications"), || {
            let all: Vec<Value> = self
                .posts
                .lock()
                .iter()
                .flat_map(|p| p["value"].as_array().cloned().unwrap_or_default())
                .collect();
            (all.len() >= n).then_some(all)
        })
    }
}

fn subscribe(sim: &Simulator, c: &Client, body: Value) -> crate::support::sim::Reply {
    let req = c
        .agent
        .post(&format!("{}/subscriptions", sim.graph_url()))
        .set("Authorization", &format!("Bearer {}", c.token))
        .set("Content-Type", "application/json");
    send(req, Some(body.to_string().as_bytes())).expect("transport")
}

fn drive_subscription(drive: &str, url: &str) -> Value {
    json!({
        "changeType": "updated",
        "notificationUrl": url,
        "resource": format!("/drives/{drive}/root"),
        "expirationDateTime": iso_in(3600),
        "clientState": "secret-state"
    })
}

#[test]
fn handshake_then_change_notifications_then_delete() {
    let sim = Simulator::start(small_config()).unwrap();
    let c = Client::new(&sim);
    let receiver = Receiver::start(true, 0);
    let drive = sim.drives()[0].id.clone();
    let r = subscribe(&sim, &c, drive_subscription(&drive, &receiver.url));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();

    let root = sim.root_id(&drive).unwrap();
    sim.create_item(&drive, &root, "new.txt", false, b"x")
        .unwrap();
    let notes = receiver.wait_for(1);
    assert_eq!(notes[0]["subscriptionId"], id.as_str());
    assert_eq!(notes[0]["clientState"], "secret-state");
    assert_eq!(notes[0]["changeType"], "updated");
    assert_eq!(notes[0]["tenantId"], sim.tenant_id());

    let list = c.get(&format!("{}/subscriptions", sim.graph_url())).json();
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    let del = send(
        c.agent
            .delete(&format!("{}/subscriptions/{id}", sim.graph_url()))
            .set("Authorization", &format!("Bearer {}", c.token)),
        None,
    )
    .unwrap();
    assert_eq!(del.status, 204);
    assert_eq!(
        c.get(&format!("{}/subscriptions/{id}", sim.graph_url()))
            .status,
        404
    );
}

#[test]
fn failed_handshake_creates_no_subscription() {
    let sim = Simulator::start(small_config()).unwrap();
    let c = Client::new(&sim);
    let receiver = Receiver::start(false, 0);
    let drive = sim.drives()[0].id.clone();
    let r = subscribe(&sim, &c, drive_subscription(&drive, &receiver.url));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "ValidationError");
    let list = c.get(&format!("{}/subscriptions", sim.graph_url())).json();
    assert!(list["value"].as_array().unwrap().is_empty());
}

#[test]
fn failed_deliveries_are_retried() {
    let mut config = small_config();
    config.notifications.retry_base_ms = 20;
    config.notifications.retry_max_ms = 100;
    let sim = Simulator::start(config).unwrap();
    let c = Client::new(&sim);
    let receiver = Receiver::start(true, 2);
    let drive = sim.drives()[0].id.clone();
    assert_eq!(
        subscribe(&sim, &c, drive_subscription(&drive, &receiver.url)).status,
        201
    );
    let root = sim.root_id(&drive).unwrap();
    sim.create_item(&drive, &root, "retried.txt", false, b"x")
        .unwrap();
    receiver.wait_for(1);
    let stats = sim.stats();
    assert!(
        stats.notifications["retried"].as_u64().unwrap() >= 2,
        "{stats:?}"
    );
    assert!(stats.notifications["posts_failed"].as_u64().unwrap() >= 2);
}

#[test]
fn bad_subscription_requests_are_rejected() {
    let sim = Simulator::start(small_config()).unwrap();
    let c = Client::new(&sim);
    let receiver = Receiver::start(true, 0);
    let drive = sim.drives()[0].id.clone();
    let mut too_long = drive_subscription(&drive, &receiver.url);
    too_long["expirationDateTime"] = json!(iso_in(42_300 * 60 + 3600));
    let mut public_http = drive_subscription(&drive, "http://example.com/hook");
    public_http["clientState"] = json!("x");
    let mut big_state = drive_subscription(&drive, &receiver.url);
    big_state["clientState"] = json!("s".repeat(129));
    let mut unknown_drive = drive_subscription("nope", &receiver.url);
    unknown_drive["resource"] = json!("/drives/nope/root");
    for body in [
        too_long,
        public_http,
        big_state,
        unknown_drive,
        json!({"changeType": 5}),
    ] {
        let r = subscribe(&sim, &c, body.clone());
        assert_eq!(
            r.status,
            400,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.json()["error"]["code"].is_string());
    }
    let req = c
        .agent
        .post(&format!("{}/subscriptions", sim.graph_url()))
        .set("Authorization", &format!("Bearer {}", c.token));
    assert_eq!(send(req, Some(b"{not json")).unwrap().status, 400);
    assert_eq!(sim.stats().notifications["subscriptions_active"], 0);
}
