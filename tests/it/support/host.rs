//! Helpers for the tests that run C and Python hosts against the cdylib.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use m365sync_ffi_support::library::soname;

/// The C libraries (`lib{name}.so`): the engine's and the simulator's.
const LIBRARIES: [&str; 2] = ["m365sync", "m365sync_sim"];

/// The repository's root (this test crate belongs to `crates/cli`).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory holding the engine's and the simulator's cdylibs built by this
/// `cargo test` run: this test binary's own `target/<profile>/deps/` (`cargo test`
/// does not copy them up to `target/<profile>/`, where stale ones from an older
/// `cargo build` may lie), wherever `CARGO_TARGET_DIR` puts it.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().to_path_buf();
    for name in LIBRARIES {
        let lib = format!("lib{name}.so");
        assert!(
            dir.join(&lib).exists(),
            "no {lib} in {}; `cargo test` builds it with the rlib",
            dir.display()
        );
    }
    dir
}

/// A directory made under `dir` that holds the cdylibs of [`lib_dir`] as an
/// installation does: as `lib{name}.so`, which `-l{name}` links, and under their
/// sonames (`libm365sync.so.0.1`), which a program linked against them asks the
/// loader for.
pub fn installed_lib_dir(dir: &Path) -> PathBuf {
    let installed = dir.join("lib");
    fs::create_dir_all(&installed).unwrap();
    let built = lib_dir();
    for name in LIBRARIES {
        let lib = format!("lib{name}.so");
        for link in [lib.clone(), soname(name, env!("CARGO_PKG_VERSION"))] {
            std::os::unix::fs::symlink(built.join(&lib), installed.join(link)).unwrap();
        }
    }
    installed
}

/// Runs `command` to completion with a hang guard of ten minutes; `what` names
/// the program in the panic when it cannot be started.
pub fn run(mut command: Command, what: &str) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(600);
    // Drain the pipes on other threads so a chatty child cannot block on them.
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{command:?} hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}
