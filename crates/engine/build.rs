//! Generates the C header `include/m365sync.h` from `src/ffi/` and the shared result
//! codes (see `m365sync_ffi_support::header`), and gives the cdylib its soname
//! (`libm365sync.so.0.1` for 0.1.x, see `m365sync_ffi_support::library`).

use m365sync_ffi_support::header::{HeaderSpec, generate};
use m365sync_ffi_support::library::link_soname;

fn main() {
    generate(&HeaderSpec {
        name: "m365sync.h",
        extra_sources: &["../ffi-support/src/result.rs"],
        version_macro: Some("M365SYNC_VERSION"),
    });
    link_soname();
}
