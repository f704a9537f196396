//! Generates the C header from `src/ffi/` (mod.rs and the modules it declares) with cbindgen.
//!
//! The header is written to `$OUT_DIR/m365sync.h` on every build; a test compares
//! it with the committed `include/m365sync.h`. Set `M365SYNC_UPDATE_HEADER=1` to
//! write the committed copy as well. The `//!` comment of `src/ffi/mod.rs` (the
//! conventions of the API) opens the header.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=M365SYNC_UPDATE_HEADER");
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let ffi_dir = crate_dir.join("src/ffi");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("m365sync.h");
    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    config.header = Some(format!(
        "{}\n\n{}",
        config.header.unwrap_or_default(),
        module_doc_as_c_comment(&ffi_dir.join("mod.rs"))
    ));
    config.after_includes = Some(format!(
        "\n#define M365SYNC_VERSION \"{}\"",
        env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION")
    ));
    // cbindgen follows the `mod` declarations of mod.rs to the other files.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(ffi_dir.join("mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    bindings.write_to_file(&out);
    if env::var_os("M365SYNC_UPDATE_HEADER").is_some() {
        bindings.write_to_file(crate_dir.join("include/m365sync.h"));
    }
}

/// The leading `//!` lines of a Rust file as one C block comment.
fn module_doc_as_c_comment(path: &Path) -> String {
    let text = fs::read_to_string(path).expect("src/ffi/mod.rs");
    let mut comment = String::from("/*");
    for line in text.lines().map_while(|l| l.strip_prefix("//!")) {
        comment.push_str("\n *");
        comment.push_str(line.trim_end());
    }
    comment.push_str("\n */");
    comment
}
