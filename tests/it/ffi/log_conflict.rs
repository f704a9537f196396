//! A Rust host that installed its own logger keeps it: the C log callback is
//! refused with STATE. It runs in its own process because the logger is process-wide.

use std::ffi::{c_char, c_void};
use std::ptr;

use crate::support::ffi::*;
use m365sync::ffi::*;

unsafe extern "C" fn ignore(
    _: *mut c_void,
    _: m365sync_log_level,
    _: *const c_char,
    _: *const c_char,
) {
}

#[test]
fn another_logger_wins() {
    // The logger is process-wide.
    if crate::support::in_own_process(concat!(module_path!(), "::another_logger_wins")) {
        return;
    }
    env_logger::builder().is_test(true).try_init().unwrap();
    // Turning forwarding off needs no logger, so it succeeds.
    ok(unsafe { m365sync_set_log_callback(0, None, ptr::null_mut()) });
    let result = unsafe { m365sync_set_log_callback(3, Some(ignore), ptr::null_mut()) };
    assert_eq!(result, m365sync_result::State);
    assert!(last_error().contains("env_logger"), "{}", last_error());
}
