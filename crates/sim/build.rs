//! Generates the C header `include/m365sync_sim.h` from `src/ffi/` (see
//! `m365sync_ffi_support::header`); it includes `m365sync.h` for the result codes.

use m365sync_ffi_support::header::{HeaderSpec, generate};

fn main() {
    generate(&HeaderSpec {
        name: "m365sync_sim.h",
        extra_sources: &[],
        version_macro: None,
    });
}
