//! The seeded generator: same flags, same tenant; counts follow the flags.

use crate::support::sim::{Client, small_config};
use m365sync_sim::{SimConfig, Simulator};

fn config(seed: u64) -> SimConfig {
    SimConfig {
        sites: 3,
        libraries_per_site: 2,
        users: 5,
        users_without_drive: 2,
        items: 777,
        depth: 3,
        seed,
        ..small_config()
    }
}

fn everything(sim: &Simulator) -> Vec<(String, Vec<m365sync_sim::SnapshotItem>)> {
    sim.drives()
        .into_iter()
        .map(|d| {
            let snap = sim.snapshot(&d.id).unwrap();
            (d.id, snap)
        })
        .collect()
}

#[test]
fn the_same_seed_builds_the_same_tenant() {
    let a = Simulator::start(config(5)).unwrap();
    let b = Simulator::start(config(5)).unwrap();
    let c = Simulator::start(config(6)).unwrap();
    assert_eq!(a.drives(), b.drives());
    assert_eq!(everything(&a), everything(&b));
    assert_ne!(everything(&a), everything(&c));
}

#[test]
fn counts_follow_the_flags() {
    let sim = Simulator::start(config(9)).unwrap();
    let drives = sim.drives();
    assert_eq!(drives.len(), 3 * 2 + (5 - 2));
    assert_eq!(drives.iter().filter(|d| d.kind == "business").count(), 3);
    let live: usize = drives
        .iter()
        .map(|d| sim.snapshot(&d.id).unwrap().len())
        .sum();
    assert_eq!(
        live as u64,
        777 + drives.len() as u64,
        "--items excludes the roots"
    );
    assert_eq!(sim.item_count(), live as u64);
    for d in &drives {
        for item in sim.snapshot(&d.id).unwrap() {
            let folders_above = item.path.matches('/').count() - 1;
            assert!(folders_above <= 3, "{} is too deep", item.path);
        }
    }
    let c = Client::new(&sim);
    let users = c.get(&format!("{}/users", sim.graph_url())).json();
    assert_eq!(users["value"].as_array().unwrap().len(), 5);
    let sites = c.get(&format!("{}/sites", sim.graph_url())).json();
    assert_eq!(sites["value"].as_array().unwrap().len(), 3);
    let without: Vec<_> = users["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| {
            c.get(&format!(
                "{}/users/{}/drive",
                sim.graph_url(),
                u["id"].as_str().unwrap()
            ))
            .status
                == 404
        })
        .collect();
    assert_eq!(without.len(), 2);
}
