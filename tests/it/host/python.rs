//! Runs the Python bindings' unittest suite (and through it examples/watcher.py)
//! against the cdylibs built by this `cargo test` run.

use std::process::Command;

use crate::support::host::{lib_dir, repository_root, run};

#[test]
fn python_bindings_unittest_suite() {
    let root = repository_root();
    let bindings = root.join("bindings/python");
    let mut command = Command::new("python3");
    command
        .args(["-m", "unittest", "discover", "-s"])
        .arg(bindings.join("tests"))
        .arg("-v")
        .current_dir(&root)
        .env("M365SYNC_LIB", lib_dir().join("libm365sync.so"))
        .env("M365SYNC_SIM_LIB", lib_dir().join("libm365sync_sim.so"))
        .env("PYTHONPATH", &bindings)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let output = run(command, "python3 (it must be installed for this test)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Python tests failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    // unittest reports on stderr; make sure tests ran rather than none found.
    assert!(stderr.contains("\nOK"), "{stderr}");
    assert!(!stderr.contains("Ran 0 tests"), "{stderr}");
}
