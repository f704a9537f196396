//! The simulator's side of discovery over HTTP: removing a library or a site through
//! the control API, and `/sites/delta` reporting deleted sites as `@removed`.

use crate::support::sim::{Client, control, small_config};
use serde_json::json;

#[test]
fn removed_libraries_and_sites_disappear_and_sites_delta_reports_them() {
    let sim = m365sync_sim::Simulator::start(small_config()).unwrap();
    let c = Client::new(&sim);
    let g = sim.graph_url();
    let site = control(&sim, "POST", "/_sim/sites", Some(json!({ "name": "Team" }))).json();
    let site_id = site["id"].as_str().unwrap().to_string();
    let docs = site["drive_id"].as_str().unwrap().to_string();
    let lib = control(
        &sim,
        "POST",
        &format!("/_sim/sites/{site_id}/drives"),
        Some(json!({ "name": "Archive" })),
    )
    .json();
    let archive = lib["id"].as_str().unwrap().to_string();
    let (_, link, _) = c.delta_all(&format!("{g}/sites/delta"), &[]);

    let del = |path: &str| control(&sim, "DELETE", path, None).status;
    assert_eq!(del(&format!("/_sim/sites/{site_id}/drives/{archive}")), 204);
    assert_eq!(del(&format!("/_sim/sites/{site_id}/drives/{archive}")), 404);
    assert_eq!(
        c.get(&format!("{g}/drives/{archive}/root/delta")).status,
        404
    );
    let listed = c.get(&format!("{g}/sites/{site_id}/drives")).json();
    let names: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Documents"]);
    assert!(!sim.drives().iter().any(|d| d.id == archive));

    assert_eq!(del("/_sim/sites/root"), 400, "the root site stays");
    assert_eq!(del(&format!("/_sim/sites/{site_id}")), 204);
    assert_eq!(del(&format!("/_sim/sites/{site_id}")), 404);
    assert_eq!(c.get(&format!("{g}/sites/{site_id}")).status, 404);
    assert_eq!(c.get(&format!("{g}/drives/{docs}")).status, 404);
    let sites = c.get(&format!("{g}/sites")).json();
    assert!(
        !sites["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == site_id.as_str())
    );

    let (changes, _, _) = c.delta_all(&link, &[]);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["id"], site_id.as_str());
    assert_eq!(changes[0]["@removed"]["state"], "deleted");
    let (fresh, _, _) = c.delta_all(&format!("{g}/sites/delta"), &[]);
    assert!(
        fresh.iter().all(|s| s.get("@removed").is_none()),
        "a fresh enumeration lists live sites only"
    );
    let stats = sim.stats();
    assert_eq!(stats.requests_by_route["DELETE /_sim/sites/{id}"], 3);
    assert_eq!(
        stats.requests_by_route["DELETE /_sim/sites/{id}/drives/{id}"],
        2
    );
}
