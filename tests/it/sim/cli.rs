//! `m365sync sim`: the first stdout line says where it listens, and it serves there.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn sim_command_prints_its_address_first_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_m365sync"))
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--items",
            "20",
            "--seed",
            "3",
            "--client-secret",
            "s3cret",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn m365sync sim");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").expect("utf-8");
    let rest: Vec<String> = lines.by_ref().take(7).map(|l| l.unwrap()).collect();
    let url = first
        .strip_prefix("listening on ")
        .expect(&first)
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    assert!(
        rest.iter().any(|l| l.contains("s3cret")),
        "credentials follow: {rest:?}"
    );
    let drives = crate::support::sim::send(
        crate::support::sim::agent().get(&format!("{url}/_sim/drives")),
        None,
    )
    .unwrap();
    child.kill().expect("stop the child we started");
    let _ = child.wait();
    assert_eq!(drives.status, 200);
    assert!(!drives.json().as_array().unwrap().is_empty());
}
