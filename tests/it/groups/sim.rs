//! The simulator's Microsoft 365 groups over HTTP: `/groups` (paged, `$select`,
//! `$filter` on Unified), `/groups/{id}`, `/groups/{id}/drive`, `/groups/delta`
//! (paged, deltaLink, `@removed`), the control API, subscriptions on `/groups` and
//! `/sites`, and the older token endpoint with `resource`.

use crate::support::sim::{Client, agent, control, send};
use m365sync_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

fn sim(groups: u32) -> Simulator {
    Simulator::start(SimConfig {
        groups,
        threads: 2,
        ..SimConfig::default()
    })
    .unwrap()
}

fn ids(values: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = values
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Every page of a plain collection, following nextLinks.
fn list_all(c: &Client, first: &str) -> (Vec<Value>, usize) {
    let mut url = first.to_string();
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let r = c.get(&url);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        pages += 1;
        all.extend(v["value"].as_array().unwrap().iter().cloned());
        match v["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => return (all, pages),
        }
    }
}

#[test]
fn groups_are_listed_paged_filtered_and_selected() {
    let sim = sim(12);
    let security = sim.add_group("Auditors", false).unwrap();
    assert_eq!(
        (security.mail.as_deref(), security.drive_id.as_deref()),
        (None, None)
    );
    let c = Client::new(&sim);
    let g = sim.graph_url();

    let unified = format!(
        "{g}/groups?$filter=groupTypes/any(c:c+eq+'Unified')&$select=id,displayName,mail&$top=5"
    );
    let (groups, pages) = list_all(&c, &unified);
    assert_eq!(groups.len(), 12);
    assert_eq!(pages, 3, "the nextLink keeps $filter and $top");
    for group in &groups {
        let keys: Vec<&String> = group.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "$select kept across pages: {group}");
        assert!(
            group["mail"]
                .as_str()
                .unwrap()
                .ends_with("@sim.onmicrosoft.com")
        );
    }
    let (everything, _) = list_all(&c, &format!("{g}/groups"));
    assert_eq!(everything.len(), 13);
    let auditors = everything
        .iter()
        .find(|v| v["id"] == security.id.as_str())
        .unwrap();
    assert_eq!(auditors["groupTypes"], json!([]));

    assert_eq!(c.get(&format!("{g}/groups?$select=nope")).status, 400);
    assert_eq!(
        c.get(&format!("{g}/groups?$filter=mail+eq+'x'")).status,
        400
    );

    let first = &sim.groups()[0];
    let one = c.get(&format!("{g}/groups/{}", first.id)).json();
    assert_eq!(one["displayName"], "Group 0");
    assert_eq!(one["groupTypes"], json!(["Unified"]));
    let drive = c.get(&format!("{g}/groups/{}/drive", first.id)).json();
    assert_eq!(drive["id"], first.drive_id.as_deref().unwrap());
    assert_eq!(drive["driveType"], "documentLibrary");
    assert_eq!(drive["owner"]["group"]["id"], first.id.as_str());
    assert_eq!(
        c.get(&format!("{g}/groups/{}/drive", security.id)).status,
        404
    );
    assert_eq!(c.get(&format!("{g}/groups/no-such-group")).status, 404);

    // A group's site is a site like any other: /sites lists it.
    let (sites, _) = list_all(&c, &format!("{g}/sites"));
    assert!(
        sites
            .iter()
            .any(|s| s["id"] == first.site_id.as_deref().unwrap())
    );
}

#[test]
fn groups_delta_pages_then_reports_changes_by_deltalink() {
    let sim = sim(30);
    let c = Client::new(&sim);
    let g = sim.graph_url();
    let prefer = [("Prefer", "odata.maxpagesize=7")];
    let first = format!("{g}/groups/delta?$select=id,displayName,groupTypes");
    let (all, link, pages) = c.delta_all(&first, &prefer);
    assert_eq!(all.len(), 30);
    assert_eq!(pages, 5);
    assert!(link.contains("$deltatoken="), "{link}");
    assert!(all.iter().all(|v| v.get("mail").is_none()), "$select kept");

    let (nothing, link, _) = c.delta_all(&link, &prefer);
    assert!(nothing.is_empty());

    let added = sim.add_group("Late Group", true).unwrap();
    let renamed = sim.groups()[3].clone();
    sim.rename_group(&renamed.id, "Renamed").unwrap();
    let gone = sim.groups()[5].clone();
    sim.remove_group(&gone.id).unwrap();
    assert_eq!(
        control(&sim, "DELETE", &format!("/_sim/groups/{}", gone.id), None).status,
        404
    );
    let (changes, link, _) = c.delta_all(&link, &prefer);
    assert_eq!(changes.len(), 3, "{changes:?}");
    let removed = changes
        .iter()
        .find(|v| v["id"] == gone.id.as_str())
        .unwrap();
    assert!(removed["@removed"].is_object(), "{removed}");
    let late = changes
        .iter()
        .find(|v| v["id"] == added.id.as_str())
        .unwrap();
    assert_eq!(late["displayName"], "Late Group");
    assert!(changes.iter().any(|v| v["displayName"] == "Renamed"));
    assert_eq!(c.get(&format!("{g}/groups/{}", gone.id)).status, 404);
    assert_eq!(
        c.get(&format!("{g}/drives/{}/root/delta", gone.drive_id.unwrap()))
            .status,
        404,
        "the group's drive went with it"
    );

    // A fresh enumeration no longer lists the deleted group; expired tokens get 410.
    let (fresh, _, _) = c.delta_all(&first, &[]);
    assert_eq!(ids(&fresh).len(), 30);
    sim.expire_delta_tokens();
    let r = c.get(&link);
    assert_eq!(r.status, 410);
    assert!(r.header("Location").unwrap().ends_with("/groups/delta"));

    let stats = sim.stats().requests_by_route;
    assert_eq!(
        stats["GET /groups/delta"], 2,
        "two enumerations from scratch"
    );
    assert_eq!(stats["GET /groups/delta?$skiptoken"], 4);
    assert_eq!(stats["GET /groups/delta?$deltatoken"], 3);
}

#[test]
fn the_control_api_creates_and_deletes_groups() {
    let sim = sim(0);
    let created = control(
        &sim,
        "POST",
        "/_sim/groups",
        Some(json!({"name": "Sales EMEA"})),
    );
    assert_eq!(created.status, 201);
    let group = created.json();
    assert_eq!(group["mail"], "salesemea@sim.onmicrosoft.com");
    assert!(group["drive_id"].is_string() && group["site_id"].is_string());
    let dup = control(
        &sim,
        "POST",
        "/_sim/groups",
        Some(json!({"name": "sales emea"})),
    );
    assert_eq!(dup.status, 409);
    let bad = control(&sim, "POST", "/_sim/groups", Some(json!({"title": "x"})));
    assert_eq!(bad.status, 400);
    let listed = control(&sim, "GET", "/_sim/groups", None).json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let id = group["id"].as_str().unwrap();
    let site = group["site_id"].as_str().unwrap();
    let r = control(&sim, "DELETE", &format!("/_sim/sites/{site}"), None);
    assert_eq!(r.status, 400, "a group's site goes with its group");
    assert_eq!(
        control(&sim, "DELETE", &format!("/_sim/groups/{id}"), None).status,
        204
    );
    assert!(sim.groups().is_empty());
    let stats = sim.stats().requests_by_route;
    assert_eq!(stats["POST /_sim/groups"], 3);
    assert_eq!(stats["DELETE /_sim/groups/{id}"], 1);
}

#[test]
fn the_older_token_endpoint_takes_a_resource() {
    let sim = sim(1);
    let url = format!("{}/{}/oauth2/token", sim.login_url(), sim.tenant_id());
    let post = |form: String| {
        let req = agent()
            .post(&url)
            .set("Content-Type", "application/x-www-form-urlencoded");
        send(req, Some(form.as_bytes())).unwrap()
    };
    let creds = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        sim.client_id(),
        sim.client_secret()
    );
    let r = post(format!(
        "{creds}&resource=https%3A%2F%2Fgraph.microsoft.com"
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let reply = r.json();
    assert_eq!(reply["token_type"], "Bearer");
    assert_eq!(reply["resource"], "https://graph.microsoft.com");
    assert_eq!(reply["expires_in"], "3600");
    assert!(reply["expires_on"].as_str().unwrap().parse::<u64>().is_ok());
    let token = reply["access_token"].as_str().unwrap().to_string();
    let c = Client {
        agent: agent(),
        token,
    };
    assert_eq!(c.get(&format!("{}/groups", sim.graph_url())).status, 200);

    assert_eq!(post(creds.clone()).status, 400, "resource is required");
    let wrong = creds.replace(sim.client_secret(), "wrong");
    assert_eq!(post(format!("{wrong}&resource=x")).status, 401);
    assert_eq!(
        sim.stats().requests_by_route["POST /{tenant}/oauth2/token"],
        3
    );
}

#[test]
fn subscriptions_on_groups_get_the_group_lifetime_and_change_types() {
    let sim = sim(1);
    let c = Client::new(&sim);
    let subscribe = |resource: &str, change: &str, minutes: i64| {
        let expiry = crate::support::sim::iso_in(minutes * 60);
        let body = json!({"changeType": change, "resource": resource,
                          "notificationUrl": "https://hooks.example.com/x",
                          "expirationDateTime": expiry, "clientState": "k"});
        let req = c
            .agent
            .post(&format!("{}/subscriptions", sim.graph_url()))
            .set("Authorization", &format!("Bearer {}", c.token))
            .set("Content-Type", "application/json");
        let r = send(req, Some(body.to_string().as_bytes())).unwrap();
        (
            r.status,
            r.json()["error"]["message"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    };
    // Refused before any handshake: the body breaks a rule of the resource.
    let (status, message) = subscribe("/groups", "updated,deleted", 41_761);
    assert_eq!(status, 400);
    assert!(message.contains("41760 minutes"), "{message}");
    let (status, message) = subscribe("/sites", "updated", 42_301);
    assert_eq!(status, 400);
    assert!(message.contains("42300 minutes"), "{message}");
    assert_eq!(subscribe("/sites", "deleted", 60).0, 400);
    assert_eq!(subscribe("/groups", "moved", 60).0, 400);
    assert_eq!(subscribe("/groups/not-a-group", "updated", 60).0, 400);
    // Within the rules, Graph goes on to the handshake (which fails: nobody listens).
    let group = &sim.groups()[0].id;
    let (status, message) = subscribe(&format!("/groups/{group}"), "updated,deleted", 41_760);
    assert_eq!(status, 400);
    assert!(message.contains("validation"), "{message}");
}
