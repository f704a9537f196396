//! The file names of the C libraries, after cargo-c's conventions, so packagers and
//! `pkg-config` users find what they expect: `libNAME.so.0.1.0` installed, with the
//! soname `libNAME.so.0.1` (the part of the version that promises ABI compatibility:
//! before 1.0 each minor version may break it) and the link `libNAME.so` for `-lNAME`.
//!
//! The build scripts set the soname ([`link_soname`], feature `build-script`); the tests
//! that link C programs against the libraries of a `cargo test` run name their links with
//! [`soname`]; `scripts/install-c-lib.sh` reads the soname back from the built library.

/// The ABI part of a `MAJOR.MINOR.PATCH[-pre][+build]` version, as cargo-c computes it:
/// `0.0.P` for `0.0.P`, `0.M` for `0.M.x`, and `M` from 1.0 on.
///
/// # Panics
///
/// When `version` does not start with three dot-separated numbers; the callers pass
/// Cargo's own package version, so that is a bug in the caller.
pub fn abi_version(version: &str) -> String {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let numbers: Option<Vec<u64>> = core.split('.').map(|part| part.parse().ok()).collect();
    let Some([major, minor, patch]) = numbers.and_then(|n| <[u64; 3]>::try_from(n).ok()) else {
        panic!("{version:?} is not a MAJOR.MINOR.PATCH version");
    };
    match (major, minor, patch) {
        (0, 0, patch) => format!("0.0.{patch}"),
        (0, minor, _) => format!("0.{minor}"),
        (major, _, _) => major.to_string(),
    }
}

/// The soname of the ELF shared library `lib{name}.so` at `version`, e.g.
/// `soname("m365sync", "0.1.0")` is `libm365sync.so.0.1`.
///
/// # Panics
///
/// As [`abi_version`].
pub fn soname(name: &str, version: &str) -> String {
    format!("lib{name}.so.{}", abi_version(version))
}

/// For a library's build script: sets the soname of the package's cdylib on Linux
/// ([`soname`] of the library name, i.e. the package name with `_` for `-`, at the
/// package version). Elsewhere the linker's default stays.
#[cfg(feature = "build-script")]
pub fn link_soname() {
    use std::env;

    let var = |name: &str| env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"));
    if var("CARGO_CFG_TARGET_OS") == "linux" {
        let name = var("CARGO_PKG_NAME").replace('-', "_");
        let soname = soname(&name, &var("CARGO_PKG_VERSION"));
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_version_follows_cargo_c() {
        assert_eq!(abi_version("0.0.3"), "0.0.3");
        assert_eq!(abi_version("0.1.0"), "0.1");
        assert_eq!(abi_version("0.12.7"), "0.12");
        assert_eq!(abi_version("1.0.0"), "1");
        assert_eq!(abi_version("2.3.4"), "2");
        assert_eq!(abi_version("0.2.0-rc.1+build.5"), "0.2");
    }

    #[test]
    fn soname_names_the_library() {
        assert_eq!(soname("m365sync", "0.1.0"), "libm365sync.so.0.1");
        assert_eq!(soname("m365sync_sim", "1.4.2"), "libm365sync_sim.so.1");
    }

    #[test]
    fn a_version_that_is_not_three_numbers_is_refused() {
        for bad in ["0.1", "1", "", "0.x.1", "1.2.3.4", "v1.2.3"] {
            let panic = std::panic::catch_unwind(|| abi_version(bad)).unwrap_err();
            let message = panic.downcast_ref::<String>().unwrap();
            assert!(
                message.contains("not a MAJOR.MINOR.PATCH"),
                "{bad}: {message}"
            );
        }
    }
}
