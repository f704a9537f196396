//! What the integration tests share.

pub mod discover;
pub mod engine;
pub mod ffi;
pub mod host;
pub mod network;
pub mod notify;
pub mod reliability;
pub mod sim;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Hang guard of every wait: generous, since the machine is busy; no test asserts
/// on durations.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// Polls `cond` every 20 ms until it holds or [`HANG_GUARD`] passed; returns whether it
/// held. The one wait loop of the tests: [`wait_until`] and [`wait_for`] are built on it.
pub fn poll_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + HANG_GUARD;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Waits until `cond` holds; panics naming `what` after [`HANG_GUARD`].
pub fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    assert!(
        poll_until(cond),
        "timed out after {HANG_GUARD:?} waiting for: {what}"
    );
}

/// Polls `check` until it returns `Some`, and returns that (see [`wait_until`]).
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    wait_until(what, || {
        found = check();
        found.is_some()
    });
    found.expect("wait_until returned, so check found it")
}

/// Adds (or replaces) the top-level fields of `extra` into `base`; a `null` field of
/// `extra` removes the field from `base`.
pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            if v.is_null() {
                b.remove(&k);
            } else {
                b.insert(k, v);
            }
        }
    }
}

/// The environment variable that tells a child of this test binary which test it runs.
const OWN_PROCESS: &str = "M365SYNC_IT_OWN_PROCESS";

/// Runs the test `path` (its `module_path!()` and name, e.g.
/// `concat!(module_path!(), "::my_test")`) alone in a child process of this test
/// binary, for tests that set process-wide state such as the global logger. In the
/// parent it waits for the child, asserts that it passed and returns `true` (the
/// caller returns); in the child it returns `false` and the caller runs the test.
pub fn in_own_process(path: &str) -> bool {
    let name = path.strip_prefix("it::").unwrap_or(path);
    if std::env::var(OWN_PROCESS).is_ok_and(|v| v == name) {
        return false;
    }
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(OWN_PROCESS, name);
    let output = host::run(command, "this test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} in its own process failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    true
}
