//! `m365sync_engine`: create, start, stop, free, event delivery (push and pull), status.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use crate::config::Config;
use crate::engine::{Ack, Engine};
use crate::ffi::event::{EventSink, m365sync_event_callback};
use m365sync_ffi_support::Handle;
use m365sync_ffi_support::strings::owned_string;
use m365sync_ffi_support::{invalid_argument, m365sync_result, null_argument};

/// An engine mirroring the drives of one tenant. Opaque; created by
/// `m365sync_engine_new`, released by `m365sync_engine_free`. Every function
/// taking a `const m365sync_engine *` may be called from any thread, concurrently.
pub struct m365sync_engine {
    _private: [u8; 0],
}

impl Handle for m365sync_engine {
    type Inner = Engine;
}

/// Creates an engine from a JSON configuration (the same document as the CLI's
/// config file). Opens or creates the SQLite store; makes no Graph request.
/// On success `*out_engine` receives an engine to release with
/// `m365sync_engine_free`; on failure it is left untouched and
/// `m365sync_last_error()` names the offending field.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out_engine` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_new(
    config_json: *const c_char,
    out_engine: *mut *mut m365sync_engine,
) -> m365sync_result {
    ffi_panic_boundary! {
        let json = try_str!(config_json);
        let out = try_out!(out_engine);
        let config = try_rust!(Config::from_json(json));
        let engine = try_rust!(Engine::open(config));
        *out = m365sync_engine::into_raw(engine);
        m365sync_result::Ok
    }
}

/// Starts the engine's threads (scheduler, workers, dispatcher). An engine starts
/// once: a second call returns `M365SYNC_RESULT_STATE`.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_start(engine: *const m365sync_engine) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        try_rust!(engine.start());
        m365sync_result::Ok
    }
}

/// Stops every engine thread and waits for them; each delta page is committed
/// whole or not at all. Idempotent (stopping a stopped or never-started engine
/// is OK). May be called from inside the event callback: the dispatcher thread
/// then ends after the callback returns, and the call does not deadlock.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_stop(engine: *const m365sync_engine) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        engine.stop();
        m365sync_result::Ok
    }
}

/// Stops the engine if it runs (waiting for a callback in progress to return),
/// then releases it. NULL is a no-op. Do not call it from inside a callback, nor
/// while another thread still uses the engine.
///
/// # Safety
/// `engine` is NULL or a live engine that no other thread uses any more.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_free(engine: *mut m365sync_engine) {
    ffi_panic_boundary! {
        // SAFETY: per this function's contract.
        unsafe { m365sync_engine::free(engine) }
    }
}

/// Sets the callback that receives every event in `seq` order, starting after the
/// last acknowledged one, replacing any previous callback; NULL removes it (events
/// then wait for `m365sync_engine_next_events`). The callback runs on the engine's
/// dispatcher thread, one event at a time; returning 0 acknowledges the event,
/// any other value leaves it unacknowledged and it is delivered again later
/// (delivery pauses until then). `userdata` is passed back untouched and must be
/// usable from that thread. Inside the callback the host may call
/// `m365sync_engine_stop`, `_ack`, `_status_json` and `_set_event_callback`, but
/// not `m365sync_engine_free`. After a replacement returns, the previous callback
/// may still be running for the event in progress.
///
/// # Safety
/// `engine` is NULL or a live engine; `callback` is NULL or a valid function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_set_event_callback(
    engine: *const m365sync_engine,
    callback: m365sync_event_callback,
    userdata: *mut c_void,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        match EventSink::new(callback, userdata) {
            Some(sink) => engine.set_event_handler(move |event| {
                if sink.deliver(event) { Ack::Ok } else { Ack::Retry }
            }),
            None => engine.clear_event_handler(),
        }
        m365sync_result::Ok
    }
}

/// Pull-style delivery: waits up to `timeout_ms` for events with a seq greater than
/// `after_seq` (a negative `after_seq` means "after the last acknowledged event"),
/// then calls `callback` synchronously, on the calling thread, for up to
/// `max_events` of them in order. Nothing is acknowledged: call
/// `m365sync_engine_ack` once they are processed. A non-zero return from the
/// callback stops the delivery early. `*out_count` receives how many events the
/// callback accepted (returned 0 for); 0 after a timeout.
///
/// # Safety
/// `engine` is NULL or a live engine; `callback` is NULL or a valid function;
/// `out_count` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_next_events(
    engine: *const m365sync_engine,
    after_seq: i64,
    max_events: usize,
    timeout_ms: u32,
    callback: m365sync_event_callback,
    userdata: *mut c_void,
    out_count: *mut usize,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        let Some(sink) = EventSink::new(callback, userdata) else {
            return null_argument("callback");
        };
        let out = try_out!(out_count);
        if max_events == 0 {
            return invalid_argument("argument `max_events` must be at least 1");
        }
        let after = if after_seq < 0 { try_rust!(engine.acked_seq()) } else { after_seq };
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let events = try_rust!(engine.wait_events(after, max_events, timeout));
        let accepted = events.iter().take_while(|event| sink.deliver(event)).count();
        *out = accepted;
        m365sync_result::Ok
    }
}

/// Acknowledges every event up to and including `seq`: they are not delivered
/// again, not even after a restart.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_ack(
    engine: *const m365sync_engine,
    seq: i64,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        try_rust!(engine.ack(seq));
        m365sync_result::Ok
    }
}

/// A JSON snapshot of the engine (drives and their state, journal position,
/// throttling counters), as `m365sync status` prints it. On success
/// `*out_json` receives an owned string to release with `m365sync_string_free`.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_status_json(
    engine: *const m365sync_engine,
    out_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        let out = try_out!(out_json);
        let status = try_rust!(engine.status());
        let json = try_rust!(serde_json::to_string(&status).map_err(|e| crate::Error::Io(e.into())));
        *out = owned_string(&json);
        m365sync_result::Ok
    }
}

/// Feeds one change-notification POST body received by the host's own HTTP server
/// (for hosts that do not let the engine listen; the config still needs a
/// `webhook` section with the `public_url` Graph posts to). Answer the POST with
/// 202 when this returns OK, even if some notifications in it were rejected (wrong
/// clientState, unknown subscription: counted in status, never processed); answer
/// 400 on `M365SYNC_RESULT_INVALID_ARGUMENT` (malformed body). Never calls Graph and
/// never blocks: accepted notifications only mark their drives for a delta run.
/// Returns `M365SYNC_RESULT_STATE` before `m365sync_engine_start` or without a
/// `webhook` section.
///
/// # Safety
/// `engine` is NULL or a live engine; `body` points to `len` readable bytes (it may
/// be NULL when `len` is 0). The bytes are only read during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_handle_notification(
    engine: *const m365sync_engine,
    body: *const u8,
    len: usize,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        let body = try_slice!(body, len);
        try_rust!(engine.handle_notification(body));
        m365sync_result::Ok
    }
}

/// The body to answer a Graph validation request with (status 200,
/// `Content-Type: text/plain`), for hosts with their own HTTP server. `token` is the
/// URL-decoded `validationToken` query parameter; it is echoed only when it is
/// non-empty text of at most 1,024 bytes without control characters (else
/// `M365SYNC_RESULT_INVALID_ARGUMENT`: answer 400). On success `*out_body` receives
/// an owned string to release with `m365sync_string_free`. Works before start.
///
/// # Safety
/// `engine` is NULL or a live engine; `token` is NULL or a NUL-terminated string;
/// `out_body` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_validation_response(
    engine: *const m365sync_engine,
    token: *const c_char,
    out_body: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        let token = try_str!(token);
        let out = try_out!(out_body);
        let body = try_rust!(engine.validation_response(token));
        *out = owned_string(&body);
        m365sync_result::Ok
    }
}
