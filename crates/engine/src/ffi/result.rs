//! The engine's result codes, its thread's last error message, the library version,
//! and the free function of owned strings. The codes, the panic boundary and the
//! last-error storage come from `m365sync-ffi-support`.

use std::ffi::c_char;

use m365sync_ffi_support::result::{last_error_ptr, result_str};
pub use m365sync_ffi_support::{FfiError, m365sync_result};

use crate::error::Error;

impl From<&Error> for m365sync_result {
    fn from(e: &Error) -> Self {
        match e {
            Error::Config(_) => m365sync_result::InvalidConfig,
            Error::InvalidInput(_) => m365sync_result::InvalidArgument,
            Error::Auth(_) => m365sync_result::Auth,
            Error::Graph(_) | Error::ResyncRequired { .. } => m365sync_result::Graph,
            Error::Transport(_) => m365sync_result::Transport,
            Error::Protocol(_) => m365sync_result::Protocol,
            Error::Store(_) => m365sync_result::Store,
            Error::Io(_) => m365sync_result::Io,
            Error::State(_) => m365sync_result::State,
            Error::Stopped => m365sync_result::Stopped,
            Error::HashMismatch { .. } => m365sync_result::HashMismatch,
        }
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        FfiError::new(m365sync_result::from(&e), e.to_string())
    }
}

/// A static, NUL-terminated description of a result code (like `sqlite3_errstr`);
/// `"unknown result code"` for a number that is not an `m365sync_result`.
/// Never NULL; never freed. Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn m365sync_result_str(code: u32) -> *const c_char {
    ffi_panic_boundary! {
        result_str(code)
    }
}

/// The detailed message of the most recent failed m365sync call on the calling
/// thread (empty when none failed yet). Borrowed: valid until the next m365sync
/// call on this thread; never NULL; never freed.
#[unsafe(no_mangle)]
pub extern "C" fn m365sync_last_error() -> *const c_char {
    ffi_panic_boundary! {
        last_error_ptr()
    }
}

/// The library version, e.g. `"0.1.0"`; equals the `M365SYNC_VERSION` macro of the
/// header the host was compiled with when the two match. Static; never freed.
#[unsafe(no_mangle)]
pub extern "C" fn m365sync_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Frees a string that m365sync returned as owned (e.g. by
/// `m365sync_engine_status_json`). NULL is a no-op. Any thread.
///
/// # Safety
/// `s` is NULL or a string returned as owned by m365sync and not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_string_free(s: *mut c_char) {
    ffi_panic_boundary! {
        // SAFETY: per this function's contract.
        unsafe { m365sync_ffi_support::strings::free_owned_string(s) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use m365sync_ffi_support::failed;
    use std::ffi::CStr;

    fn last_error() -> String {
        // SAFETY: never NULL and NUL-terminated.
        let message = unsafe { CStr::from_ptr(m365sync_last_error()) };
        message.to_str().unwrap().to_string()
    }

    #[test]
    fn crate_errors_map_to_their_codes() {
        let code = |e: Error| failed::<m365sync_result>(e);
        assert_eq!(
            code(Error::Config("x".into())),
            m365sync_result::InvalidConfig
        );
        assert_eq!(code(Error::Stopped), m365sync_result::Stopped);
        assert_eq!(last_error(), Error::Stopped.to_string());
        assert_eq!(code(Error::State("y".into())), m365sync_result::State);
        assert_eq!(
            code(Error::Io(std::io::Error::other("z"))),
            m365sync_result::Io
        );
    }
}
