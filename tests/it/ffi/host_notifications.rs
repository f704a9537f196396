//! A host that runs its own HTTP server: it answers Graph's validation handshake with
//! `m365sync_engine_validation_response` and feeds notification bodies to
//! `m365sync_engine_handle_notification`; changes then arrive as events.

use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::ffi::*;
use crate::support::sim::percent_decode;
use crate::support::wait_until;
use ::m365sync_sim::ffi::*;
use m365sync::ffi::*;
use m365sync_http::{Request, Response, Server, ServerOptions};
use serde_json::json;

/// The host's webhook endpoint, forwarding to the engine over the C ABI.
fn answer(request: &Request, engine: usize) -> Response {
    let engine = engine as *const m365sync_engine;
    if let Some((_, token)) = request.head.query().split_once("validationToken=") {
        let token = c(&percent_decode(token.split('&').next().unwrap_or_default()));
        let mut body = ptr::null_mut();
        // SAFETY: the engine outlives the server (the test frees it after stopping it).
        return match unsafe {
            m365sync_engine_validation_response(engine, token.as_ptr(), &mut body)
        } {
            m365sync_result::Ok => Response::text(200, take_string(body)),
            _ => Response::new(400),
        };
    }
    let body = &request.body;
    // SAFETY: as above; the body is only read during the call.
    match unsafe { m365sync_engine_handle_notification(engine, body.as_ptr(), body.len()) } {
        m365sync_result::Ok => Response::new(202),
        _ => Response::new(400),
    }
}

fn status(engine: *const m365sync_engine) -> serde_json::Value {
    let mut out = ptr::null_mut();
    ok(unsafe { m365sync_engine_status_json(engine, &mut out) });
    serde_json::from_str(&take_string(out)).unwrap()
}

#[test]
fn host_fed_notifications_turn_into_events() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        r#"{"sites": 1, "libraries_per_site": 1, "users": 0, "users_without_drive": 0, "items": 10, "seed": 5}"#,
    );
    // Started before the engine (its URL is in the configuration); answers 503 until
    // the engine's address is in the slot.
    let slot = Arc::new(AtomicUsize::new(0));
    let handler = {
        let slot = slot.clone();
        move |request: Request| match slot.load(Ordering::SeqCst) {
            0 => Response::new(503),
            engine => answer(&request, engine),
        }
    };
    let mut server =
        Server::start("127.0.0.1:0", ServerOptions::default(), Arc::new(handler)).unwrap();
    let port = server.local_addr().port();
    let extra = json!({
        "database": dir.path().join("host.db"),
        "poll_interval_secs": 3600,
        "workers": 2,
        "webhook": {"public_url": format!("http://127.0.0.1:{port}/hook"), "retry_secs": 1},
    });
    let mut config = ptr::null_mut();
    ok(unsafe {
        m365sync_sim_engine_config_json(sim, c(&extra.to_string()).as_ptr(), &mut config)
    });
    let mut engine = ptr::null_mut();
    ok(unsafe { m365sync_engine_new(c(&take_string(config)).as_ptr(), &mut engine) });

    // Before start the engine has no subscriptions to check notifications against.
    let body = br#"{"value":[]}"#;
    assert_eq!(
        unsafe { m365sync_engine_handle_notification(engine, body.as_ptr(), body.len()) },
        m365sync_result::State
    );
    slot.store(engine as usize, Ordering::SeqCst);
    ok(unsafe { m365sync_engine_start(engine) });
    let drive = first_drive(sim);
    wait_until("a live subscription", || {
        status(engine)["drives"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == drive.as_str() && d["mode"] == "webhook" && d["state"] == "synced")
    });
    apply(
        sim,
        &json!({"op": "create", "drive": drive, "parent_id": "root", "name": "fed.txt", "content": "x"}),
    );
    wait_until("the created event", || {
        status(engine)["events_by_kind"]["created"].as_i64() == Some(1)
    });
    assert!(
        status(engine)["notifications"]["accepted"]
            .as_u64()
            .unwrap()
            >= 1
    );

    // A malformed body is refused (the host answers 400) and nothing is processed.
    let garbage = b"{not json";
    assert_eq!(
        unsafe { m365sync_engine_handle_notification(engine, garbage.as_ptr(), garbage.len()) },
        m365sync_result::InvalidArgument
    );
    assert!(last_error().contains("invalid"), "{}", last_error());

    ok(unsafe { m365sync_engine_stop(engine) });
    server.stop();
    unsafe {
        m365sync_engine_free(engine);
        m365sync_sim_free(sim);
    }
}
