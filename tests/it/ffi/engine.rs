//! The engine over the C ABI against the simulator: push delivery with
//! redelivery, pull delivery with ack, stop from inside a callback, double stop,
//! free while running, status.

use std::ffi::{CStr, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use crate::support::ffi::*;
use crate::support::wait_until;
use m365sync::ffi::*;
use parking_lot::Mutex;
use serde_json::json;

/// One delivered event, copied out of the borrowed struct.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    seq: i64,
    kind: m365sync_event_kind,
    path: String,
}

/// What the recording callback is told to do and what it saw.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    /// Refuse this many deliveries before accepting.
    refusals_left: Mutex<u32>,
    /// When set, the callback stops this engine from inside itself.
    stop_engine: AtomicPtr<m365sync_engine>,
    stopped_inside: AtomicBool,
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }

    fn count(&self, kind: m365sync_event_kind) -> usize {
        self.seen.lock().iter().filter(|s| s.kind == kind).count()
    }

    fn as_userdata(&self) -> *mut c_void {
        ptr::from_ref(self).cast_mut().cast()
    }
}

unsafe extern "C" fn record(userdata: *mut c_void, event: *const m365sync_event) -> c_int {
    // SAFETY: userdata is the test's Recorder; the event is valid during the call.
    let (recorder, event) = unsafe { (&*userdata.cast::<Recorder>(), &*event) };
    // SAFETY: the event's strings are NUL-terminated and never NULL.
    let path = unsafe { CStr::from_ptr(event.path) }
        .to_str()
        .unwrap()
        .to_string();
    recorder.seen.lock().push(Seen {
        seq: event.seq,
        kind: event.kind,
        path,
    });
    let engine = recorder.stop_engine.load(Ordering::SeqCst);
    if !engine.is_null() {
        // No assert here: a panic must not unwind into the extern "C" caller.
        let stopped = unsafe { m365sync_engine_stop(engine) } == m365sync_result::Ok;
        recorder.stopped_inside.store(stopped, Ordering::SeqCst);
    }
    let mut refusals = recorder.refusals_left.lock();
    if *refusals > 0 {
        *refusals -= 1;
        return 1;
    }
    0
}

unsafe extern "C" fn refuse(_: *mut c_void, _: *const m365sync_event) -> c_int {
    1
}

fn status(engine: *const m365sync_engine) -> serde_json::Value {
    let mut out = ptr::null_mut();
    ok(unsafe { m365sync_engine_status_json(engine, &mut out) });
    serde_json::from_str(&take_string(out)).unwrap()
}

#[test]
fn callback_receives_changes_and_refused_events_come_again() {
    let recorder = Recorder::default();
    let f = Fixture::new(r#"{"items": 20, "seed": 11}"#);
    let (sim, engine) = (f.sim, f.engine);
    let drives = status(engine)["drives"].as_array().unwrap().len();
    *recorder.refusals_left.lock() = 1;
    unsafe {
        ok(m365sync_engine_set_event_callback(
            engine,
            Some(record),
            recorder.as_userdata(),
        ));
        ok(m365sync_engine_start(engine));
    }
    wait_until("every drive's first crawl", || {
        recorder.count(m365sync_event_kind::CrawlCompleted) == drives
    });
    let drive = first_drive(sim);
    apply(
        sim,
        &json!({"op":"create","drive":drive,"parent_id":"root","name":"new.txt","content":"x"}),
    );
    wait_until("the created event", || {
        recorder
            .seen()
            .iter()
            .any(|s| s.kind == m365sync_event_kind::Created && s.path == "/new.txt")
    });
    assert_eq!(status(engine)["running"], true);
    unsafe {
        ok(m365sync_engine_stop(engine));
        ok(m365sync_engine_stop(engine));
        assert_eq!(m365sync_engine_start(engine), m365sync_result::State);
    }
    assert!(last_error().contains("already started"), "{}", last_error());

    let seen = recorder.seen();
    // The first delivery was refused, so it came twice; after that seq only grows.
    assert_eq!(seen[0], seen[1]);
    assert!(
        seen[1..].windows(2).all(|w| w[0].seq < w[1].seq),
        "{seen:?}"
    );
    let status = status(engine);
    assert_eq!(status["running"], false);
    assert_eq!(status["acked_seq"], seen.last().unwrap().seq);
}

#[test]
fn pull_delivery_waits_for_an_ack() {
    let recorder = Recorder::default();
    let f = Fixture::new(r#"{"items": 5}"#);
    let engine = f.engine;
    let pull = |after: i64, max: usize, cb: m365sync_event_callback| {
        let mut count = 0;
        ok(unsafe {
            m365sync_engine_next_events(
                engine,
                after,
                max,
                0,
                cb,
                recorder.as_userdata(),
                &mut count,
            )
        });
        count
    };
    // Opening the engine journals one drive_added per configured drive.
    let drives = status(engine)["drives"].as_array().unwrap().len();
    assert!(drives >= 2);
    assert_eq!(pull(-1, 100, Some(record)), drives);
    assert_eq!(recorder.count(m365sync_event_kind::DriveAdded), drives);
    // Not acked: the same events again; a refusal stops early.
    assert_eq!(pull(-1, 100, Some(refuse)), 0);
    assert_eq!(pull(-1, 1, Some(record)), 1);
    let first = recorder.seen()[0].clone();
    assert_eq!(recorder.seen().last(), Some(&first));
    // after_seq reads on from any position; ack moves the default one.
    assert_eq!(pull(first.seq, 100, Some(record)), drives - 1);
    ok(unsafe { m365sync_engine_ack(engine, first.seq) });
    assert_eq!(pull(-1, 100, Some(record)), drives - 1);
    let last = recorder.seen().last().unwrap().seq;
    ok(unsafe { m365sync_engine_ack(engine, last) });
    assert_eq!(pull(-1, 100, Some(record)), 0);
}

#[test]
fn stop_from_inside_the_callback_does_not_deadlock() {
    let recorder = Recorder::default();
    let f = Fixture::new(r#"{"items": 5}"#);
    let engine = f.engine;
    recorder.stop_engine.store(engine, Ordering::SeqCst);
    // The callback is set after start: Engine::start publishes its running state
    // only after spawning the dispatcher, so a stop() from a callback before that
    // would be lost.
    unsafe {
        ok(m365sync_engine_start(engine));
        ok(m365sync_engine_set_event_callback(
            engine,
            Some(record),
            recorder.as_userdata(),
        ));
    }
    wait_until("the stop inside the callback", || {
        recorder.stopped_inside.load(Ordering::SeqCst)
    });
    ok(unsafe { m365sync_engine_stop(engine) });
    wait_until("the engine to report stopped", || {
        status(engine)["running"] == false
    });
}

#[test]
fn free_while_running_stops_first() {
    let recorder = Recorder::default();
    let mut f = Fixture::new(r#"{"items": 50}"#);
    let engine = f.engine;
    unsafe {
        ok(m365sync_engine_set_event_callback(
            engine,
            Some(record),
            recorder.as_userdata(),
        ));
        ok(m365sync_engine_start(engine));
    }
    wait_until("a first event", || !recorder.seen().is_empty());
    f.free_engine();
    // The dispatcher was joined: nothing calls the callback any more.
    let after_free = recorder.seen().len();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(recorder.seen().len(), after_free);
}

#[test]
fn removing_the_callback_leaves_events_for_pulling() {
    let recorder = Recorder::default();
    let f = Fixture::new(r#"{"items": 5}"#);
    let engine = f.engine;
    unsafe {
        ok(m365sync_engine_set_event_callback(
            engine,
            Some(refuse),
            ptr::null_mut(),
        ));
        ok(m365sync_engine_set_event_callback(
            engine,
            None,
            ptr::null_mut(),
        ));
        ok(m365sync_engine_start(engine));
    }
    let mut count = 0;
    ok(unsafe {
        m365sync_engine_next_events(
            engine,
            -1,
            1,
            30_000,
            Some(record),
            recorder.as_userdata(),
            &mut count,
        )
    });
    assert_eq!(count, 1);
}
