//! Generates the C header from `src/ffi.rs` with cbindgen.
//!
//! The header is written to `$OUT_DIR/m365sync.h` on every build; a test compares
//! it with the committed `include/m365sync.h`. Set `M365SYNC_UPDATE_HEADER=1` to
//! write the committed copy as well.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=M365SYNC_UPDATE_HEADER");
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("m365sync.h");
    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(format!(
        "\n#define M365SYNC_VERSION \"{}\"",
        env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION")
    ));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    bindings.write_to_file(&out);
    if env::var_os("M365SYNC_UPDATE_HEADER").is_some() {
        bindings.write_to_file(crate_dir.join("include/m365sync.h"));
    }
}
