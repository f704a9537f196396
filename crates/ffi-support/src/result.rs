//! Result codes and the thread's last error message.
//!
//! Each C library (the engine's, the simulator's) links its own copy of this crate,
//! so each has its own thread-local last error and exports its own accessor.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{CString, c_char};

use crate::strings::to_cstring;

/// The outcome of every fallible m365sync function: 0 is success. Codes are never
/// renumbered or removed; new ones are added at the end.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum m365sync_result {
    /// Success.
    Ok = 0,
    /// A pointer argument is NULL, a string is not UTF-8, or a value is out of range.
    InvalidArgument = 1,
    /// The configuration JSON is malformed, has an unknown key, or a bad value.
    InvalidConfig = 2,
    /// A JSON argument (other than a configuration) is malformed.
    InvalidJson = 3,
    /// Authentication failed (tenant, client id or secret).
    Auth = 4,
    /// Graph answered with an error status.
    Graph = 5,
    /// The network failed after all retries.
    Transport = 6,
    /// Graph sent a body that is not what m365sync expects.
    Protocol = 7,
    /// The SQLite store failed.
    Store = 8,
    /// A file could not be read or written.
    Io = 9,
    /// The call is not valid in the object's current state (e.g. start twice).
    State = 10,
    /// The engine is stopping; the operation was abandoned.
    Stopped = 11,
    /// A bug: Rust code panicked. The object involved should be freed.
    Panic = 12,
    /// A downloaded file's bytes did not match the hash Graph reported.
    HashMismatch = 13,
}

/// Every code, in numeric order (private: cbindgen would export it).
const ALL_RESULTS: [m365sync_result; 14] = [
    m365sync_result::Ok,
    m365sync_result::InvalidArgument,
    m365sync_result::InvalidConfig,
    m365sync_result::InvalidJson,
    m365sync_result::Auth,
    m365sync_result::Graph,
    m365sync_result::Transport,
    m365sync_result::Protocol,
    m365sync_result::Store,
    m365sync_result::Io,
    m365sync_result::State,
    m365sync_result::Stopped,
    m365sync_result::Panic,
    m365sync_result::HashMismatch,
];

impl m365sync_result {
    /// A static, NUL-terminated description of the code.
    fn description(self) -> &'static str {
        match self {
            m365sync_result::Ok => "ok\0",
            m365sync_result::InvalidArgument => "invalid argument\0",
            m365sync_result::InvalidConfig => "invalid configuration\0",
            m365sync_result::InvalidJson => "invalid JSON\0",
            m365sync_result::Auth => "authentication failed\0",
            m365sync_result::Graph => "Graph error\0",
            m365sync_result::Transport => "network error\0",
            m365sync_result::Protocol => "unexpected response from Graph\0",
            m365sync_result::Store => "database error\0",
            m365sync_result::Io => "I/O error\0",
            m365sync_result::State => "invalid state\0",
            m365sync_result::Stopped => "stopped\0",
            m365sync_result::Panic => "internal error (panic)\0",
            m365sync_result::HashMismatch => "content hash mismatch\0",
        }
    }
}

/// What an exported function returns when it fails before doing its job.
pub trait Failure {
    /// The failure value standing for `code`.
    fn from_code(code: m365sync_result) -> Self;
}

impl Failure for m365sync_result {
    fn from_code(code: m365sync_result) -> Self {
        code
    }
}

impl Failure for *const c_char {
    fn from_code(_: m365sync_result) -> Self {
        std::ptr::null()
    }
}

impl Failure for () {
    fn from_code(_: m365sync_result) -> Self {}
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error.
pub fn set_last_error(message: &str) {
    LAST_ERROR.with(|e| *e.borrow_mut() = to_cstring(message));
}

/// A failure on its way to the host: a code and the detailed message.
#[derive(Debug)]
pub struct FfiError {
    /// The code the function returns.
    pub code: m365sync_result,
    /// What `m365sync_last_error` will say.
    pub message: String,
}

impl FfiError {
    /// A failure with `code` and `message`.
    pub fn new(code: m365sync_result, message: impl Into<String>) -> Self {
        FfiError {
            code,
            message: message.into(),
        }
    }
}

/// Records a failure as the thread's last error and returns its code as `F`.
pub fn failed<F: Failure>(e: impl Into<FfiError>) -> F {
    let e = e.into();
    set_last_error(&e.message);
    F::from_code(e.code)
}

/// Records an invalid-argument message and returns the code as `F`.
pub fn invalid_argument<F: Failure>(message: &str) -> F {
    set_last_error(message);
    F::from_code(m365sync_result::InvalidArgument)
}

/// Records that the argument `name` was NULL.
pub fn null_argument<F: Failure>(name: &str) -> F {
    invalid_argument(&format!("argument `{name}` must not be NULL"))
}

/// Records a caught panic and returns the PANIC code as `F`.
pub fn panicked<F: Failure>(payload: Box<dyn Any + Send>) -> F {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    log::error!("m365sync: panic caught at the C boundary: {what}");
    set_last_error(&format!("internal error (panic): {what}"));
    F::from_code(m365sync_result::Panic)
}

/// A static, NUL-terminated description of a result code (like `sqlite3_errstr`);
/// `"unknown result code"` for a number that is not an `m365sync_result`.
pub fn result_str(code: u32) -> *const c_char {
    let text = ALL_RESULTS
        .into_iter()
        .find(|r| *r as u32 == code)
        .map_or("unknown result code\0", m365sync_result::description);
    text.as_ptr().cast()
}

/// This thread's last error message (empty when none was recorded). Borrowed: valid
/// until the next call that records one on this thread; never NULL.
pub fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_error() -> String {
        // SAFETY: never NULL and NUL-terminated.
        let message = unsafe { CStr::from_ptr(last_error_ptr()) };
        message.to_str().unwrap().to_string()
    }

    fn panicking_call() -> m365sync_result {
        ffi_panic_boundary! {
            let v: Vec<u8> = Vec::new();
            if v.is_empty() {
                panic!("boom {}", 42);
            }
            m365sync_result::Ok
        }
    }

    fn panicking_getter() -> *const c_char {
        ffi_panic_boundary! {
            panic!("static boom")
        }
    }

    #[test]
    fn a_panic_becomes_a_result_code_and_a_message() {
        assert_eq!(panicking_call(), m365sync_result::Panic);
        assert!(last_error().contains("boom 42"), "{}", last_error());
        assert!(panicking_getter().is_null());
        assert!(last_error().contains("static boom"), "{}", last_error());
    }

    #[test]
    fn every_code_has_a_description() {
        for code in ALL_RESULTS {
            // SAFETY: static and NUL-terminated.
            let text = unsafe { CStr::from_ptr(result_str(code as u32)) };
            assert!(!text.to_bytes().is_empty());
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(result_str(999)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown result code");
    }
}
