//! What the integration tests share.

pub mod discover;
pub mod engine;
pub mod ffi;
pub mod host;
pub mod notify;
pub mod reliability;
pub mod sim;

use std::process::Command;

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
