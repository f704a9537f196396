//! What m365sync's C libraries are built from (an internal crate): one panic boundary
//! and small argument checks ([`ffi_panic_boundary!`], [`try_ref!`], [`try_str!`],
//! [`try_out!`], [`try_slice!`], [`try_rust!`]), opaque handles, strings across the
//! boundary, and the `m365sync_result` codes with a thread-local last error; for the
//! build scripts (feature `build-script`), the header generation and the libraries'
//! sonames ([`library`]).
//!
//! Nothing here is exported to C by itself: each library (the engine's
//! `libm365sync`, the simulator's `libm365sync_sim`) exports its own accessors, so
//! the two never clash when a program loads both.

#![allow(non_camel_case_types)]

#[macro_use]
mod macros;

pub mod handle;
#[cfg(feature = "build-script")]
pub mod header;
pub mod library;
pub mod result;
pub mod strings;

pub use handle::Handle;
pub use result::{
    Failure, FfiError, failed, invalid_argument, m365sync_result, null_argument, panicked,
};
