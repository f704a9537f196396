//! National clouds: `cloud` decides the resource of the engine's tokens, and the
//! simulator, playing one cloud, refuses a token for another as Entra does.

use crate::support::engine::*;
use crate::support::sim::{agent, send};
use crate::support::wait_until;
use serde_json::json;

#[test]
fn a_usgov_engine_syncs_against_a_usgov_tenant() {
    let sim = one_drive_sim(
        20,
        json!({ "graph_resource": "https://graph.microsoft.us" }),
    );
    let work = Workdir::new();
    // graph_url and login_url point at the simulator; the token is for the cloud's Graph.
    let engine = start_synced(&sim, &work.db(), json!({ "cloud": "usgov" }));
    engine.stop();
}

#[test]
fn a_token_for_another_cloud_is_refused_with_entras_reason() {
    let sim = one_drive_sim(
        20,
        json!({ "graph_resource": "https://graph.microsoft.us" }),
    );
    let work = Workdir::new();
    let engine = open_engine(&sim, &work.db(), json!({ "cloud": "china" }));
    engine.start().expect("start");
    wait_until("the sign-in failure in status", || {
        engine.status().unwrap().drives[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("AADSTS500011") && e.contains("chinacloudapi.cn"))
    });
    engine.stop();
}

#[test]
fn without_a_cloud_the_scope_follows_graph_url() {
    // The engine asks for a token of the simulator's own origin, which it accepts
    // whatever cloud it plays.
    let sim = one_drive_sim(
        20,
        json!({ "graph_resource": "https://graph.microsoft.us" }),
    );
    let work = Workdir::new();
    start_synced(&sim, &work.db(), json!({})).stop();
}

#[test]
fn the_token_endpoints_check_the_resource_against_the_cloud_played() {
    let sim = one_drive_sim(0, json!({ "graph_resource": "https://graph.microsoft.us" }));
    let agent = agent();
    let post = |version: &str, field: &str, value: &str| {
        let form = format!(
            "client_id={}&client_secret={}&grant_type=client_credentials&{field}={}",
            sim.client_id(),
            sim.client_secret(),
            value.replace(':', "%3A").replace('/', "%2F")
        );
        let url = format!(
            "{}/{}/oauth2/{version}token",
            sim.login_url(),
            sim.tenant_id()
        );
        let request = agent
            .post(&url)
            .set("Content-Type", "application/x-www-form-urlencoded");
        send(request, Some(form.as_bytes())).expect("token request")
    };
    assert_eq!(
        post("v2.0/", "scope", "https://graph.microsoft.us/.default").status,
        200
    );
    assert_eq!(
        post("", "resource", "https://graph.microsoft.us").status,
        200
    );
    for refused in [
        post("v2.0/", "scope", "https://graph.microsoft.com/.default"),
        post("", "resource", "https://graph.microsoft.com"),
    ] {
        assert_eq!(refused.status, 400);
        let body = refused.json();
        assert_eq!(body["error"], "invalid_resource");
        assert!(
            body["error_description"].as_str().unwrap().starts_with(
                "AADSTS500011: The resource principal named https://graph.microsoft.com"
            ),
            "{body}"
        );
    }
}
