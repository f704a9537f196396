//! Builds examples/backup_agent.c with the system C compiler against the cdylibs
//! and runs it, natively and (where installed) under valgrind's memcheck. (`.ci/run`
//! also builds it against the libraries `scripts/install-c-lib.sh` installs.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::host::{installed_lib_dir, repository_root, run};

/// Compiles the example into `dir`, linked against this run's libraries under their
/// sonames; returns the executable.
fn compile(dir: &Path) -> PathBuf {
    let lib_dir = installed_lib_dir(dir);
    let root = repository_root();
    let exe = dir.join("backup_agent");
    let output = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g"])
        .arg("-I")
        .arg(root.join("crates/engine/include"))
        .arg("-I")
        .arg(root.join("crates/sim/include"))
        .arg(root.join("examples/backup_agent.c"))
        .arg("-L")
        .arg(&lib_dir)
        .args(["-lm365sync", "-lm365sync_sim"])
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("the system C compiler `cc` must be installed");
    assert!(
        output.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// Checks the example's summary line: every change came back as its event.
fn assert_summary(output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = stdout
        .lines()
        .find_map(|l| l.strip_prefix("summary:"))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"));
    let count = |kind: &str| -> u64 {
        summary
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(&format!("{kind}=")))
            .map_or(0, |n| n.parse().unwrap())
    };
    assert_eq!(count("created"), 2, "{summary}");
    assert_eq!(count("content_changed"), 2, "{summary}");
    for kind in ["renamed", "permissions_changed", "deleted"] {
        assert_eq!(count(kind), 1, "{kind}: {summary}");
    }
    assert_eq!(count("crawl_completed"), count("drive_added"), "{summary}");
    assert!(count("crawl_completed") >= 1, "{summary}");
}

#[test]
fn backup_agent_counts_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path());
    let mut command = Command::new(&exe);
    command.arg(dir.path().join("agent.db"));
    assert_summary(&run(command, "the C example"));
}

#[test]
fn backup_agent_is_clean_under_memcheck() {
    let valgrind = Command::new("valgrind").arg("--version").output();
    if !valgrind.is_ok_and(|o| o.status.success()) {
        eprintln!("valgrind is not installed: memcheck run skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path());
    let mut command = Command::new("valgrind");
    command
        .args([
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=99",
        ])
        .arg(&exe)
        .arg(dir.path().join("agent.db"));
    let output = run(command, "valgrind");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ERROR SUMMARY: 0 errors"),
        "memcheck found errors:\n{stderr}"
    );
    assert!(
        stderr.contains("definitely lost: 0 bytes")
            || stderr.contains("All heap blocks were freed"),
        "{stderr}"
    );
    assert_summary(&output);
}
