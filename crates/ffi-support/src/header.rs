//! Header generation for the libraries' build scripts (feature `build-script`): cbindgen
//! over the library's `src/ffi/` and the shared result codes, with the `//!` text of
//! `src/ffi/mod.rs` (the conventions of the API) opening the header.
//!
//! The header is written to `$OUT_DIR/{name}` on every build; a test compares it
//! with the committed `include/{name}`. Set `M365SYNC_UPDATE_HEADER=1` to write the
//! committed copy as well.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// What goes into one header.
#[derive(Debug)]
pub struct HeaderSpec<'a> {
    /// The file name under `include/`, e.g. `m365sync.h`.
    pub name: &'a str,
    /// Rust files cbindgen reads besides `src/ffi/mod.rs` (and the modules it
    /// declares), relative to the crate directory.
    pub extra_sources: &'a [&'a str],
    /// A `#define` of the crate version placed after the includes, e.g. `M365SYNC_VERSION`.
    pub version_macro: Option<&'a str>,
}

/// Runs cbindgen for the crate being built; panics (failing the build) when it cannot.
pub fn generate(spec: &HeaderSpec<'_>) {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let ffi_mod = crate_dir.join("src/ffi/mod.rs");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=M365SYNC_UPDATE_HEADER");
    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    config.header = Some(format!(
        "{}\n\n{}",
        config.header.unwrap_or_default(),
        module_doc_as_c_comment(&ffi_mod)
    ));
    if let Some(name) = spec.version_macro {
        config.after_includes = Some(format!(
            "\n#define {name} \"{}\"",
            env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION")
        ));
    }
    // cbindgen follows the `mod` declarations of mod.rs to the other files.
    let mut builder = cbindgen::Builder::new()
        .with_config(config)
        .with_src(&ffi_mod);
    for source in spec.extra_sources {
        println!("cargo:rerun-if-changed={source}");
        builder = builder.with_src(crate_dir.join(source));
    }
    let bindings = builder
        .generate()
        .expect("cbindgen could not generate the header");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join(spec.name);
    bindings.write_to_file(&out);
    if env::var_os("M365SYNC_UPDATE_HEADER").is_some() {
        bindings.write_to_file(crate_dir.join("include").join(spec.name));
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
