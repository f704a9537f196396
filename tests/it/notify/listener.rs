//! The built-in listener under hostile or broken input, and the host-fed path with an
//! endpoint that fails until the simulator's retries get through.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::support::notify::*;
use crate::support::{HANG_GUARD, wait_until};
use m365sync::{Engine, EventKind};
use m365sync_http::{Request, Response, Server, ServerOptions};
use serde_json::json;

fn started(sim: &m365sync_sim::Simulator, dir: &tempfile::TempDir) -> (Engine, String, String) {
    let webhook = json!({"read_timeout_ms": 500, "max_body_bytes": 4096});
    let engine = Engine::open(config(sim, dir, webhook, json!({}))).unwrap();
    engine.start().unwrap();
    let drive = drive(sim);
    wait_webhook(&engine, &drive);
    let status = engine.status().unwrap();
    let url = status.notification_url.unwrap();
    let sub = status.drives[0].subscription_id.clone().unwrap();
    (engine, url, sub)
}

fn post(url: &str, body: &str) -> u16 {
    match agent().post(url).send_string(body) {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(HANG_GUARD).build()
}

#[test]
fn forged_and_broken_requests_are_rejected_and_counted() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let (engine, url, sub) = started(&sim, &dir);
    wait_until("the catch-up delta", || {
        engine.progress().jobs_completed.load(Ordering::Relaxed) >= 2
    });
    let deltas = delta_calls(&sim);
    let forged = json!({"value": [{"subscriptionId": sub, "clientState": "guess",
        "changeType": "updated", "resource": "/drives/x/root"}]});
    assert_eq!(post(&url, &forged.to_string()), 202);
    let unknown = json!({"value": [{"subscriptionId": "nope", "clientState": "x"}]});
    assert_eq!(post(&url, &unknown.to_string()), 202);
    assert_eq!(post(&url, "{not json"), 400);
    assert_eq!(post(&url, &"x".repeat(5000)), 413);
    assert_eq!(post(&format!("{url}/other"), "{}"), 404);
    let get = agent().get(&url).call();
    assert!(matches!(get, Err(ureq::Error::Status(405, _))));
    let bad_token = agent().post(&format!("{url}?validationToken=")).call();
    assert!(matches!(bad_token, Err(ureq::Error::Status(400, _))));
    let echo = agent()
        .post(&format!("{url}?validationToken=a%20b%2Bc"))
        .call()
        .unwrap();
    assert_eq!(echo.content_type(), "text/plain");
    assert_eq!(echo.into_string().unwrap(), "a b+c");

    let stats = engine.status().unwrap().notifications.unwrap();
    assert_eq!(stats.rejected_client_state, 1);
    assert_eq!(stats.rejected_unknown_subscription, 1);
    assert_eq!(stats.rejected_malformed, 1);
    assert!(stats.rejected_too_large >= 1, "ureq may resend after a 413");
    assert_eq!(stats.rejected_path, 1);
    assert_eq!(stats.rejected_method, 1);
    assert_eq!(stats.rejected_validation_token, 1);
    // Nothing of the above ran a delta: give a wrongly scheduled one time to show up.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(delta_calls(&sim), deltas);
}

#[test]
fn silent_clients_do_not_block_graphs_notifications() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    let (engine, url, _) = started(&sim, &dir);
    let addr = listener_addr(&url);
    // More silent clients than request threads, each promising a body and sending
    // 10 bytes of it.
    let head = "POST /m365sync/notifications HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n";
    let silent: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            write!(s, "{head}0123456789").unwrap();
            s
        })
        .collect();
    let seq = engine.status().unwrap().last_seq;
    touch(&sim, &drive(&sim), "meanwhile.txt");
    wait_event(&engine, seq, EventKind::Created);
    // And a validation request is answered too.
    let echo = agent()
        .post(&format!("{url}?validationToken=ok"))
        .call()
        .unwrap();
    assert_eq!(echo.into_string().unwrap(), "ok");
    drop(silent);
}

#[test]
fn a_host_fed_endpoint_that_fails_at_first_is_retried_by_graph() {
    let sim = sim(quick_delivery());
    let dir = tempfile::tempdir().unwrap();
    // The host's server starts first (its URL goes into the configuration) and
    // reaches the engine through a slot filled once the engine exists.
    let slot: Arc<OnceLock<Engine>> = Arc::new(OnceLock::new());
    let failures_left = Arc::new(AtomicU32::new(3));
    let host = {
        let (slot, failures_left) = (slot.clone(), failures_left.clone());
        let handler = move |rq: Request| match slot.get() {
            Some(engine) => host_answer(&rq, engine, &failures_left),
            None => Response::new(503),
        };
        Server::start("127.0.0.1:0", ServerOptions::default(), Arc::new(handler)).unwrap()
    };
    let url = format!("http://{}/hook", host.local_addr());
    let webhook = json!({"listen": null, "public_url": url});
    let engine = slot.get_or_init(|| Engine::open(config(&sim, &dir, webhook, json!({}))).unwrap());
    engine.start().unwrap();
    let drive = drive(&sim);
    wait_webhook(engine, &drive);
    // The catch-up delta after subscribing must not be what reports the change.
    wait_until("the catch-up delta", || {
        engine.progress().jobs_completed.load(Ordering::Relaxed) >= 2
    });
    let seq = engine.status().unwrap().last_seq;
    touch(&sim, &drive, "retried.txt");
    assert_eq!(
        wait_event(engine, seq, EventKind::Created).path,
        "/retried.txt"
    );
    assert_eq!(failures_left.load(Ordering::SeqCst), 0);
    assert!(sim_counter(&sim, "retried") >= 1);
    engine.stop();
    drop(host);
}

/// The host's own HTTP server: answers validation through the engine, fails the first
/// notification POSTs with 503, then hands bodies to the engine.
fn host_answer(rq: &Request, engine: &Engine, failures_left: &AtomicU32) -> Response {
    if let Some(token) = rq.head.query().strip_prefix("validationToken=") {
        let token = token.replace("%20", " ").replace("%3A", ":");
        return Response::text(200, engine.validation_response(&token).unwrap());
    }
    let failing = failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    Response::new(if failing {
        503
    } else {
        match engine.handle_notification(&rq.body) {
            Ok(_) => 202,
            Err(_) => 400,
        }
    })
}
