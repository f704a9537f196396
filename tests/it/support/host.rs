//! Helpers for the tests that run C and Python hosts against the cdylib.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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
    for lib in ["libm365sync.so", "libm365sync_sim.so"] {
        assert!(
            dir.join(lib).exists(),
            "no {lib} in {}; `cargo test` builds it with the rlib",
            dir.display()
        );
    }
    dir
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
