//! Generates the C header `include/m365sync_sim.h` from `src/ffi/` (see
//! `m365sync_ffi_support::header`); it includes `m365sync.h` for the result codes.
//! Gives the cdylib its soname (`libm365sync_sim.so.0.1` for 0.1.x, see
//! `m365sync_ffi_support::library`).

use m365sync_ffi_support::header::{HeaderSpec, generate};
use m365sync_ffi_support::library::link_soname;

fn main() {
    generate(&HeaderSpec {
        name: "m365sync_sim.h",
        extra_sources: &[],
        version_macro: None,
    });
    link_soname();
}
