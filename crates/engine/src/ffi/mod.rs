//! The C ABI of m365sync: the only place with `extern "C"`. `build.rs` turns these
//! files into `include/m365sync.h` with cbindgen; the text below opens the header.
//!
//! Conventions:
//! - Every fallible function returns an `m365sync_result` (0 = OK). On failure
//!   `m365sync_last_error()` gives a detailed, thread-local message and
//!   out-parameters are left untouched; they are written only on success.
//! - Every pointer argument is checked: NULL (or a string that is not UTF-8)
//!   gives `M365SYNC_RESULT_INVALID_ARGUMENT`. No panic and no abort crosses into
//!   the host: a bug gives `M365SYNC_RESULT_PANIC`.
//! - Handles (`m365sync_engine`) are opaque. Each `*_new` /
//!   `*_start` has one `*_free`; `*_free(NULL)` is a no-op; free stops the
//!   object's threads and waits for them.
//! - Strings are UTF-8 and NUL-terminated. `const char *` results are borrowed
//!   (the function says for how long); `char **out_*` results are owned by the
//!   host and released with `m365sync_string_free`.
//! - Callbacks are a nullable function pointer followed by `void *userdata`,
//!   which m365sync passes back untouched. Data given to a callback is borrowed
//!   for the duration of the call. Event callbacks run on the engine's
//!   dispatcher thread; log callbacks on any m365sync thread.
//! - Handle functions may be called from any thread, concurrently, except
//!   `*_free`, which must be the last call on that handle.

#![allow(non_camel_case_types)]

mod download;
mod engine;
mod event;
mod logging;
mod permissions;
mod result;

pub use download::*;
pub use engine::*;
pub use event::{
    m365sync_event, m365sync_event_callback, m365sync_event_kind, m365sync_event_kind_str,
};
pub use logging::*;
pub use permissions::*;
pub use result::{
    m365sync_last_error, m365sync_result, m365sync_result_str, m365sync_string_free,
    m365sync_version,
};

#[cfg(test)]
mod header_tests {
    const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/m365sync.h"));
    const COMMITTED: &str = include_str!("../../include/m365sync.h");

    #[test]
    fn committed_header_is_current() {
        assert!(
            GENERATED == COMMITTED,
            "include/m365sync.h is stale: run `M365SYNC_UPDATE_HEADER=1 cargo build` and commit it"
        );
    }

    #[test]
    fn the_version_macro_is_the_crate_version() {
        let define = COMMITTED
            .lines()
            .find_map(|l| l.strip_prefix("#define M365SYNC_VERSION "))
            .expect("M365SYNC_VERSION in the header");
        assert_eq!(define, format!("\"{}\"", env!("CARGO_PKG_VERSION")));
    }
}
