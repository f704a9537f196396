//! m365sync's integration tests: one test binary, so the libraries link once.
//!
//! It belongs to the CLI package (`crates/cli/Cargo.toml` points here) because many
//! tests drive the `m365sync` binary, and Cargo gives the binary's path
//! (`CARGO_BIN_EXE_m365sync`) only to tests of the binary's own package. The tests
//! run the engine, the simulator, the C example and the Python bindings against the
//! simulator on 127.0.0.1; [`support`] is what they share.

mod discover;
mod engine;
mod ffi;
mod groups;
mod host;
mod host_tenants;
mod notify;
mod reliability;
mod sim;
mod support;
mod tools;
