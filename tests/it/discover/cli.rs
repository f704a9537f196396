//! `m365sync discover`: prints the drives in scope and the excluded ones with their
//! rule, without crawling or writing the database.

use std::process::Command;

use crate::support::discover::*;
use serde_json::{Value, json};

fn discover(config: &std::path::Path, json: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_m365sync"));
    cmd.args(["discover", "--config"]).arg(config);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run m365sync discover");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn discover_lists_drives_in_scope_and_excluded_ones_with_their_rule() {
    let sim = acceptance_sim();
    let site = sim.drives()[0].site_id.clone().unwrap();
    let held = sim.add_library(&site, "Preservation Hold Library").unwrap();
    let configured = "b!configured-elsewhere";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never-created.db");
    let cfg = dir.path().join("m365sync.json");
    let config = json!({
        "tenant_id": sim.tenant_id(), "client_id": sim.client_id(),
        "client_secret": sim.client_secret(),
        "graph_url": sim.graph_url(), "login_url": sim.login_url(),
        "database": db, "page_size": PAGE, "drives": [configured],
        "scope": {"all_sites": true, "all_onedrives": true,
                  "exclude": [{"drive_name": "Preservation Hold Library"}]}
    });
    std::fs::write(&cfg, config.to_string()).unwrap();

    let report: Value = serde_json::from_str(discover(&cfg, true).trim()).expect("one JSON object");
    let drives = report["drives"].as_array().unwrap();
    let in_scope: Vec<&Value> = drives.iter().filter(|d| d["in_scope"] == true).collect();
    assert_eq!(
        in_scope.len(),
        DRIVES + 1,
        "the configured drive is listed too"
    );
    let excluded: Vec<&Value> = drives.iter().filter(|d| d["in_scope"] == false).collect();
    assert_eq!(excluded.len(), 1);
    assert_eq!(excluded[0]["drive_id"], held.as_str());
    assert_eq!(
        excluded[0]["rule"],
        r#"exclude[0] (drive_name="Preservation Hold Library")"#
    );
    assert_eq!(excluded[0]["site_id"], site.as_str());
    let extra = drives.iter().find(|d| d["drive_id"] == configured).unwrap();
    assert_eq!(extra["rule"], "drives (configured)");
    let onedrive = drives.iter().find(|d| d["kind"] == "business").unwrap();
    assert!(
        onedrive["owner"]
            .as_str()
            .unwrap()
            .ends_with("@sim.onmicrosoft.com")
    );
    assert_eq!(onedrive["rule"], "scope.all_onedrives");
    assert_eq!(report["problems"], json!([]));

    let table = discover(&cfg, false);
    let excluded_line = table
        .lines()
        .find(|l| l.starts_with("excluded"))
        .expect("an excluded line");
    assert!(excluded_line.contains(&held) && excluded_line.contains("exclude[0]"));
    assert!(table.contains(&format!("{} drives in scope, 1 excluded", DRIVES + 1)));
    assert!(!db.exists(), "discover does not touch the database");
    assert_eq!(
        requests(&sim, "GET /drives/{id}/root/delta"),
        0,
        "nor crawl"
    );
}

#[test]
fn discover_lists_group_drives_with_the_group_name() {
    let sim = m365sync_sim::Simulator::start(m365sync_sim::SimConfig {
        groups: 3,
        threads: 2,
        ..m365sync_sim::SimConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("m365sync.json");
    let config = json!({
        "tenant_id": sim.tenant_id(), "client_id": sim.client_id(),
        "client_secret": sim.client_secret(),
        "graph_url": sim.graph_url(), "login_url": sim.login_url(),
        "database": dir.path().join("unused.db"), "page_size": 2,
        "scope": {"all_groups": true, "all_sites": true,
                  "exclude": [{"group": "Group 2"}]}
    });
    std::fs::write(&cfg, config.to_string()).unwrap();

    let report: Value = serde_json::from_str(discover(&cfg, true).trim()).unwrap();
    let drives = report["drives"].as_array().unwrap();
    let groups: Vec<&Value> = drives.iter().filter(|d| d["group"].is_string()).collect();
    assert_eq!(groups.len(), 3, "each group drive once: {drives:?}");
    let g0 = groups.iter().find(|d| d["group"] == "Group 0").unwrap();
    assert_eq!(g0["group_mail"], "group0@sim.onmicrosoft.com");
    assert_eq!(g0["rule"], "scope.all_groups");
    assert!(g0["site_id"].is_string(), "its site was listed too");
    let g2 = groups.iter().find(|d| d["group"] == "Group 2").unwrap();
    assert_eq!(g2["in_scope"], false);
    assert_eq!(g2["rule"], r#"exclude[0] (group="Group 2")"#);
    assert_eq!(report["problems"], json!([]));

    let table = discover(&cfg, false);
    let line = table
        .lines()
        .find(|l| l.contains("Group 1"))
        .expect("a line naming the group");
    assert!(
        line.starts_with("in ") && line.contains("Documents"),
        "{line}"
    );
}
