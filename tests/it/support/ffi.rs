//! Helpers shared by the C ABI tests, which call the exported functions directly.

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use ::m365sync_sim::ffi::*;
use m365sync::ffi::*;

/// A C copy of `s`.
pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// This thread's last error message.
pub fn last_error() -> String {
    // SAFETY: never NULL, NUL-terminated, valid until the next call on this thread.
    unsafe { CStr::from_ptr(m365sync_last_error()) }
        .to_str()
        .unwrap()
        .to_string()
}

/// Copies and frees an owned string returned by the library.
pub fn take_string(s: *mut c_char) -> String {
    assert!(!s.is_null());
    // SAFETY: an owned string from the library, freed once here.
    let text = unsafe { CStr::from_ptr(s) }.to_str().unwrap().to_string();
    unsafe { m365sync_string_free(s) };
    text
}

/// Asserts `result` is OK, with the last error otherwise.
pub fn ok(result: m365sync_result) {
    assert_eq!(result, m365sync_result::Ok, "{}", last_error());
}

/// Starts a simulator from a JSON configuration.
pub fn start_sim(config: &str) -> *mut m365sync_sim {
    let mut sim = ptr::null_mut();
    ok(unsafe { m365sync_sim_start(c(config).as_ptr(), &mut sim) });
    sim
}

/// Runs a simulator command and returns its JSON result.
pub fn apply(sim: *const m365sync_sim, command: &serde_json::Value) -> serde_json::Value {
    let mut out = ptr::null_mut();
    ok(unsafe { m365sync_sim_apply(sim, c(&command.to_string()).as_ptr(), &mut out) });
    serde_json::from_str(&take_string(out)).unwrap()
}

/// The id of the simulator's first drive.
pub fn first_drive(sim: *const m365sync_sim) -> String {
    let mut out = ptr::null_mut();
    ok(unsafe { m365sync_sim_drive_id(sim, 0, &mut out) });
    take_string(out)
}

/// An engine (not started) mirroring the simulator's drives, its store in `dir`.
pub fn engine_for(sim: *const m365sync_sim, dir: &std::path::Path) -> *mut m365sync_engine {
    let extra = serde_json::json!({
        "database": dir.join("engine.db"),
        "poll_interval_secs": 1,
        "workers": 2,
    });
    let mut config = ptr::null_mut();
    ok(unsafe {
        m365sync_sim_engine_config_json(sim, c(&extra.to_string()).as_ptr(), &mut config)
    });
    let config = take_string(config);
    let mut engine = ptr::null_mut();
    ok(unsafe { m365sync_engine_new(c(&config).as_ptr(), &mut engine) });
    engine
}

/// A simulator and an engine (not started) mirroring it, freed on drop.
pub struct Fixture {
    pub sim: *mut m365sync_sim,
    pub engine: *mut m365sync_engine,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Starts a simulator from `sim_config` and opens an engine for it.
    pub fn new(sim_config: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let sim = start_sim(sim_config);
        let engine = engine_for(sim, dir.path());
        Fixture {
            sim,
            engine,
            _dir: dir,
        }
    }

    /// Frees the engine now (stopping it if it runs).
    pub fn free_engine(&mut self) {
        unsafe { m365sync_engine_free(self.engine) };
        self.engine = ptr::null_mut();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.free_engine();
        unsafe { m365sync_sim_free(self.sim) };
    }
}
