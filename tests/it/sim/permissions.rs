//! Permissions over HTTP: Graph's `/permissions` (shape, resource units, paging,
//! the access-denied fault) and the control API that changes them.

use crate::support::sim::{Client, control, small_config};
use m365sync_sim::{SimConfig, SimPermission, SimPermissions, Simulator};
use serde_json::{Value, json};

/// A tenant without generated items or sharing, so every item inherits the root's.
fn sim(permission_page_size: usize) -> Simulator {
    Simulator::start(SimConfig {
        items: 0,
        permission_page_size,
        sharing: m365sync_sim::SharingConfig {
            unique_folder_permille: 0,
            unique_file_permille: 0,
            ..m365sync_sim::SharingConfig::default()
        },
        ..small_config()
    })
    .unwrap()
}

fn item_path(drive: &str, item: &str) -> String {
    format!("/_sim/drives/{drive}/items/{item}")
}

/// A control request that must succeed with `status`; its JSON body.
fn ok(sim: &Simulator, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
    let r = control(sim, method, path, body);
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

#[test]
fn the_control_api_grants_links_revokes_and_restores() {
    let sim = sim(100);
    let drive = sim.drives()[0].id.clone();
    let folder = sim.create_item(&drive, "root", "Team", true, b"").unwrap();
    let item = item_path(&drive, &folder.id);

    let users: Vec<m365sync_sim::SimUser> =
        serde_json::from_value(ok(&sim, "GET", "/_sim/users", None, 200)).unwrap();
    assert_eq!(users, sim.users());
    let principal = format!("user:{}", users[1].upn);
    let grant: SimPermission = serde_json::from_value(ok(
        &sim,
        "POST",
        &format!("{item}/permissions"),
        Some(json!({"principal": principal, "roles": ["write"]})),
        201,
    ))
    .unwrap();
    assert_eq!(
        (grant.kind.as_str(), grant.roles.clone()),
        ("user", vec!["write".to_string()])
    );
    let link: SimPermission = serde_json::from_value(ok(
        &sim,
        "POST",
        &format!("{item}/links"),
        Some(
            json!({"type": "view", "scope": "anonymous", "password": true,
                    "expiration": "2031-05-06T07:08:09Z"}),
        ),
        201,
    ))
    .unwrap();
    assert!(link.external);
    let truth: SimPermissions =
        serde_json::from_value(ok(&sim, "GET", &format!("{item}/permissions"), None, 200)).unwrap();
    assert_eq!(truth, sim.permissions(&drive, &folder.id).unwrap());
    assert_eq!(truth.inherited_from, None);
    assert_eq!(truth.grants.len(), 5);
    let roots = ok(
        &sim,
        "GET",
        &format!("/_sim/drives/{drive}/permission-roots"),
        None,
        200,
    );
    assert_eq!(roots, json!([sim.root_id(&drive).unwrap(), folder.id]));

    ok(
        &sim,
        "DELETE",
        &format!("{item}/permissions/{}", link.id),
        None,
        204,
    );
    assert_eq!(sim.permissions(&drive, &folder.id).unwrap().grants.len(), 4);
    let restored: SimPermissions = serde_json::from_value(ok(
        &sim,
        "POST",
        &format!("{item}/restore-inheritance"),
        None,
        200,
    ))
    .unwrap();
    assert_eq!(restored.inherited_from, Some(sim.root_id(&drive).unwrap()));
    let broken: SimPermissions = serde_json::from_value(ok(
        &sim,
        "POST",
        &format!("{item}/break-inheritance"),
        None,
        200,
    ))
    .unwrap();
    assert_eq!(
        (broken.inherited_from, broken.grants),
        (None, restored.grants)
    );
    let refused = control(&sim, "POST", &format!("{item}/break-inheritance"), None);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["code"], "invalidRequest");
    let routes = sim.stats().requests_by_route;
    assert_eq!(routes["POST /_sim/drives/{id}/items/{id}/links"], 1);
    assert_eq!(
        routes["DELETE /_sim/drives/{id}/items/{id}/permissions/{id}"],
        1
    );
}

#[test]
fn graph_lists_permissions_at_five_resource_units_a_page() {
    let sim = sim(2);
    let c = Client::new(&sim);
    let drive = sim.drives()[0].id.clone();
    let folder = sim
        .create_item(&drive, "root", "Shared", true, b"")
        .unwrap();
    let file = sim
        .create_item(&drive, &folder.id, "a.txt", false, b"a")
        .unwrap();
    sim.grant(&drive, &folder.id, "guest:ann@partner3.example", &["read"])
        .unwrap();

    let ru = sim.stats().ru_used;
    let url = format!(
        "{}/drives/{drive}/items/{}/permissions",
        sim.graph_url(),
        file.id
    );
    let first = c.get(&url);
    assert_eq!(first.status, 200);
    assert_eq!(sim.stats().ru_used - ru, 5);
    let page = first.json();
    let value = page["value"].as_array().unwrap();
    assert_eq!(value.len(), 2, "the configured page size");
    assert_eq!(value[0]["grantedToV2"]["siteGroup"]["id"], "3");
    assert_eq!(
        value[0]["inheritedFrom"],
        json!({"driveId": drive, "id": folder.id, "path": format!("/drives/{drive}/root:/Shared")})
    );

    let mut all: Vec<Value> = value.clone();
    let mut next = page["@odata.nextLink"].as_str().map(String::from);
    let mut pages = 1;
    while let Some(link) = next {
        assert!(link.starts_with(&sim.graph_url()), "{link}");
        let page = c.get(&link).json();
        all.extend(page["value"].as_array().unwrap().iter().cloned());
        next = page["@odata.nextLink"].as_str().map(String::from);
        pages += 1;
    }
    assert_eq!((pages, all.len()), (2, 4));
    assert_eq!(
        all[3]["grantedToV2"]["user"]["email"],
        "ann@partner3.example"
    );
    assert!(all[3]["grantedToV2"]["user"].get("id").is_none());
    let stats = sim.stats();
    assert_eq!(stats.ru_used - ru, 10);
    assert_eq!((stats.permission_requests, stats.permission_pages), (2, 1));
    assert_eq!(
        stats.requests_by_route["GET /drives/{id}/items/{id}/permissions"],
        2
    );

    let one = c.get(&format!("{url}?$top=10")).json();
    assert_eq!(one["value"].as_array().unwrap().len(), 4);
    assert!(one.get("@odata.nextLink").is_none());

    ok(
        &sim,
        "POST",
        "/_sim/faults",
        Some(json!({"permissions_denied": true})),
        204,
    );
    let denied = c.get(&url);
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["error"]["code"], "accessDenied");
    let delta = c.get(&format!("{}/drives/{drive}/root/delta", sim.graph_url()));
    assert_eq!(delta.status, 200, "the rest of Graph works");
}
