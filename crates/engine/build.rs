//! Generates the C header `include/m365sync.h` from `src/ffi/` and the shared result
//! codes (see `m365sync_ffi_support::header`).

use m365sync_ffi_support::header::{HeaderSpec, generate};

fn main() {
    generate(&HeaderSpec {
        name: "m365sync.h",
        extra_sources: &["../ffi-support/src/result.rs"],
        version_macro: Some("M365SYNC_VERSION"),
    });
}
