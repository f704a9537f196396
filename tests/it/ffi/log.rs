//! `m365sync_set_log_callback`: messages reach the host, replacement and removal
//! work. It runs in its own process because the logger is process-wide.

use std::ffi::{CStr, c_char, c_void};
use std::ptr;

use crate::support::ffi::*;
use ::m365sync_sim::ffi::*;
use m365sync::ffi::*;
use parking_lot::Mutex;

type Lines = Mutex<Vec<(m365sync_log_level, String, String)>>;

unsafe extern "C" fn collect(
    userdata: *mut c_void,
    level: m365sync_log_level,
    target: *const c_char,
    message: *const c_char,
) {
    // SAFETY: userdata is the test's Lines; the strings are valid during the call.
    let lines = unsafe { &*userdata.cast::<Lines>() };
    let text = |p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // Changing the logger from inside the callback is refused, not a deadlock.
    let nested = unsafe { m365sync_set_log_callback(0, None, ptr::null_mut()) };
    let nested = format!("nested:{}", nested as u32);
    lines
        .lock()
        .push((level, text(target), format!("{} {nested}", text(message))));
}

#[test]
fn log_messages_reach_the_host_callback() {
    // The logger is process-wide.
    if crate::support::in_own_process(concat!(
        module_path!(),
        "::log_messages_reach_the_host_callback"
    )) {
        return;
    }
    let lines: Lines = Mutex::default();
    let userdata = ptr::from_ref(&lines).cast_mut().cast();
    ok(unsafe { m365sync_set_log_callback(3, Some(collect), userdata) });
    let sim = start_sim(r#"{"items": 3}"#);
    {
        let lines = lines.lock();
        let listening = lines
            .iter()
            .find(|(_, _, m)| m.contains("simulator listening on"))
            .expect("the simulator's info message");
        assert_eq!(listening.0, m365sync_log_level::Info);
        assert!(listening.1.starts_with("m365sync_sim"), "{}", listening.1);
        assert!(
            listening
                .2
                .ends_with(&format!("nested:{}", m365sync_result::State as u32))
        );
        assert!(lines.iter().all(|(level, _, _)| (*level as u32) <= 3));
    }
    // Turned off: nothing more arrives.
    ok(unsafe { m365sync_set_log_callback(0, Some(collect), userdata) });
    let before = lines.lock().len();
    let other = start_sim(r#"{"items": 3}"#);
    assert_eq!(lines.lock().len(), before);
    ok(unsafe { m365sync_set_log_callback(3, None, ptr::null_mut()) });
    unsafe {
        m365sync_sim_free(other);
        m365sync_sim_free(sim);
    }
}
