//! GraphClient against a scripted server on 127.0.0.1.

use std::thread;
use std::time::{Duration, Instant};

use super::*;
use crate::graph::script_server::{Canned, ScriptServer};

const SECRET: &str = "s3cr3t-Value-never-shown";
const PAGE: &str = r#"{"value":[{"id":"A","name":"a.txt","file":{}}],"@odata.deltaLink":"DELTA"}"#;

fn config(server: &ScriptServer, extra: &str) -> Config {
    Config::from_json(&format!(
        r#"{{"tenant_id":"contoso","client_id":"app-1","client_secret":"{SECRET}","database":"x.db",
            "graph_url":"{url}/v1.0","login_url":"{url}","http_timeout_secs":1,
            "throttle":{{"max_attempts":3,"default_retry_after_secs":1,"max_backoff_secs":2}}{extra}}}"#,
        url = server.url
    ))
    .unwrap()
}

fn client_with(server: &ScriptServer, extra: &str) -> GraphClient {
    let config = config(server, extra);
    GraphClient::new(&config, Arc::new(ThrottleGate::new(&config.throttle))).unwrap()
}

fn client(server: &ScriptServer) -> GraphClient {
    client_with(server, "")
}

/// Polls `done` until it holds; panics after a generous hang guard.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn delta_url(server: &ScriptServer) -> String {
    format!("{}/v1.0/drives/d1/root/delta?token=abc", server.url)
}

#[test]
fn token_is_fetched_once_and_cached() {
    let server = ScriptServer::start();
    server.push(Canned::json(200, r#"{"value":[]}"#));
    server.push(Canned::json(200, r#"{"value":[]}"#));
    let client = client(&server);
    for _ in 0..2 {
        let sites: crate::graph::types::Collection<crate::graph::types::Site> = client
            .get_json("/sites?$top=100", RequestKind::List)
            .unwrap();
        assert!(sites.value.is_empty());
    }
    let tokens = server.token_requests();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].method, "POST");
    assert_eq!(tokens[0].path, "/contoso/oauth2/v2.0/token");
    // Without `cloud`, the scope's resource is graph_url's origin (the scripted server).
    let scope = format!(
        "scope={}%2F.default",
        server.url.replace(':', "%3A").replace('/', "%2F")
    );
    for field in ["client_id=app-1", "grant_type=client_credentials", &scope] {
        assert!(tokens[0].body.contains(field), "{}", tokens[0].body);
    }
    let graph = server.graph_requests();
    assert_eq!(graph[0].path, "/v1.0/sites?$top=100");
    assert!(
        graph
            .iter()
            .all(|r| r.header("Authorization") == Some("Bearer token-1"))
    );
}

#[test]
fn concurrent_first_requests_share_one_token_fetch() {
    let server = ScriptServer::start();
    for _ in 0..4 {
        server.push(Canned::json(200, "{}"));
    }
    let client = Arc::new(client(&server));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let client = Arc::clone(&client);
            thread::spawn(move || client.get_json::<serde_json::Value>("/me", RequestKind::Get))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(server.token_requests().len(), 1);
    assert_eq!(server.graph_requests().len(), 4);
}

#[test]
fn token_near_expiry_is_refreshed() {
    let server = ScriptServer::start();
    for n in 1..=2 {
        server.push_token(Canned::json(
            200,
            &format!(r#"{{"access_token":"short-{n}","expires_in":0}}"#),
        ));
        server.push(Canned::json(200, "{}"));
    }
    let client = client(&server);
    for _ in 0..2 {
        client
            .get_json::<serde_json::Value>("/me", RequestKind::Get)
            .unwrap();
    }
    let auth: Vec<_> = server
        .graph_requests()
        .iter()
        .map(|r| r.header("Authorization").unwrap().to_owned())
        .collect();
    assert_eq!(auth, ["Bearer short-1", "Bearer short-2"]);
}

#[test]
fn unauthorized_refreshes_the_token_once_and_retries() {
    let server = ScriptServer::start();
    server.push(Canned::json(
        401,
        r#"{"error":{"code":"InvalidAuthenticationToken"}}"#,
    ));
    server.push(Canned::json(200, "{}"));
    let client = client(&server);
    client
        .get_json::<serde_json::Value>("/sites/root", RequestKind::Get)
        .unwrap();
    let graph = server.graph_requests();
    assert_eq!(graph[0].header("Authorization"), Some("Bearer token-1"));
    assert_eq!(graph[1].header("Authorization"), Some("Bearer token-2"));
    assert_eq!(server.token_requests().len(), 2);

    // A second 401 in a row is final.
    server.push(Canned::json(401, "{}"));
    server.push(Canned::json(
        401,
        r#"{"error":{"code":"InvalidAuthenticationToken","message":"expired"}}"#,
    ));
    let err = client
        .get_json::<serde_json::Value>("/sites/root", RequestKind::Get)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Graph(g) if g.status == 401 && g.code == "InvalidAuthenticationToken"),
        "{err:?}"
    );
    assert_eq!(server.graph_requests().len(), 4);
}

#[test]
fn token_endpoint_rejection_is_an_auth_error_without_the_secret() {
    let server = ScriptServer::start();
    server.push_token(Canned::json(
        401,
        &format!(
            r#"{{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: {SECRET}"}}"#
        ),
    ));
    let client = client(&server);
    let err = client
        .get_json::<serde_json::Value>("/sites", RequestKind::List)
        .unwrap_err();
    let Error::Auth(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("AADSTS7000215"), "{message}");
    assert!(!message.contains(SECRET), "{message}");
    assert!(server.graph_requests().is_empty());
}

#[test]
fn token_endpoint_failures_are_retried() {
    let server = ScriptServer::start();
    server.push_token(Canned::Reset);
    server.push_token(Canned::json(503, "").header("Retry-After", "0"));
    server.push(Canned::json(200, "{}"));
    client(&server)
        .get_json::<serde_json::Value>("/sites", RequestKind::List)
        .unwrap();
    assert_eq!(server.token_requests().len(), 3);
}

#[test]
fn a_throttled_answer_holds_every_thread_until_retry_after() {
    let server = ScriptServer::start();
    server.push(
        Canned::json(429, r#"{"error":{"code":"activityLimitReached"}}"#)
            .header("Retry-After", "1"),
    );
    server.push(Canned::json(200, PAGE));
    server.push(Canned::json(200, PAGE));
    let client = Arc::new(client(&server));
    let url = delta_url(&server);
    let first = {
        let (client, url) = (Arc::clone(&client), url.clone());
        thread::spawn(move || client.delta_page(&url))
    };
    wait_for("the 429 to be recorded", || {
        client.gate().stats().throttled == 1
    });
    let second = {
        let client = Arc::clone(&client);
        thread::spawn(move || client.delta_page(&url))
    };
    assert_eq!(
        first.join().unwrap().unwrap().delta_link.as_deref(),
        Some("DELTA")
    );
    assert_eq!(second.join().unwrap().unwrap().value.len(), 1);
    let graph = server.graph_requests();
    assert_eq!(graph.len(), 3);
    // The pause started after the 429 arrived, so nothing may arrive within 1 s of it.
    for later in &graph[1..] {
        assert!(
            later.at >= graph[0].at + Duration::from_secs(1),
            "sent inside the Retry-After window"
        );
    }
    let stats = client.gate().stats();
    assert_eq!((stats.requests, stats.throttled, stats.retries), (3, 1, 1));
}

#[test]
fn stop_interrupts_a_long_retry_after() {
    let server = ScriptServer::start();
    server.push(Canned::json(429, "").header("Retry-After", "120"));
    let client = Arc::new(client(&server));
    let waiter = {
        let client = Arc::clone(&client);
        let url = delta_url(&server);
        thread::spawn(move || client.delta_page(&url))
    };
    wait_for("the 429 to be recorded", || {
        client.gate().stats().throttled == 1
    });
    client.gate().stop();
    assert!(matches!(waiter.join().unwrap(), Err(Error::Stopped)));
    assert_eq!(server.graph_requests().len(), 1);
}

#[test]
fn unavailable_without_retry_after_backs_off_by_the_default() {
    let server = ScriptServer::start();
    server.push(Canned::json(503, "Service Unavailable"));
    server.push(Canned::json(200, PAGE));
    client(&server).delta_page(&delta_url(&server)).unwrap();
    let graph = server.graph_requests();
    assert!(graph[1].at >= graph[0].at + Duration::from_secs(1));
}

#[test]
fn server_errors_are_retried_then_succeed() {
    let server = ScriptServer::start();
    server.push(Canned::json(500, ""));
    server.push(Canned::json(504, "<html>Gateway Timeout</html>"));
    server.push(Canned::json(200, PAGE));
    let client = client(&server);
    assert_eq!(
        client.delta_page(&delta_url(&server)).unwrap().value[0].id,
        "A"
    );
    assert_eq!(client.gate().stats().retries, 2);
}

#[test]
fn attempts_are_bounded() {
    let server = ScriptServer::start();
    for _ in 0..4 {
        server.push(Canned::json(
            502,
            r#"{"error":{"code":"badGateway","message":"try later"}}"#,
        ));
    }
    let client = client(&server);
    let err = client.delta_page(&delta_url(&server)).unwrap_err();
    assert!(
        matches!(&err, Error::Graph(g) if g.status == 502 && g.code == "badGateway"),
        "{err:?}"
    );
    assert_eq!(server.graph_requests().len(), 3);
    assert_eq!(client.gate().stats().retries, 2);
}

#[test]
fn connection_resets_are_retried_and_bounded() {
    let server = ScriptServer::start();
    server.push(Canned::Reset);
    server.push(Canned::json(200, PAGE));
    let client = client(&server);
    client.delta_page(&delta_url(&server)).unwrap();
    for _ in 0..3 {
        server.push(Canned::Reset);
    }
    let err = client.delta_page(&delta_url(&server)).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(server.graph_requests().len(), 5);
}

#[test]
fn timeouts_are_retried() {
    let server = ScriptServer::start();
    server.push(Canned::Stall(Duration::from_millis(1500)));
    server.push(Canned::json(200, PAGE));
    client(&server).delta_page(&delta_url(&server)).unwrap();
    assert_eq!(server.graph_requests().len(), 2);
}

#[test]
fn gone_delta_means_resync_with_the_location() {
    let server = ScriptServer::start();
    let fresh = format!("{}/v1.0/drives/d1/root/delta", server.url);
    server.push(
        Canned::json(410, r#"{"error":{"code":"resyncRequired"}}"#).header("Location", &fresh),
    );
    server.push(Canned::json(410, ""));
    let client = client(&server);
    let err = client.delta_page(&delta_url(&server)).unwrap_err();
    assert!(
        matches!(&err, Error::ResyncRequired { location: Some(l) } if *l == fresh),
        "{err:?}"
    );
    let err = client.delta_page(&delta_url(&server)).unwrap_err();
    assert!(
        matches!(err, Error::ResyncRequired { location: None }),
        "{err:?}"
    );
    assert_eq!(server.graph_requests().len(), 2);
}

#[test]
fn client_errors_are_typed_and_not_retried() {
    let server = ScriptServer::start();
    server.push(Canned::json(
        404,
        r#"{"error":{"code":"itemNotFound","message":"gone"}}"#,
    ));
    server.push(Canned::json(403, "<html>Forbidden</html>"));
    let client = client(&server);
    let err = client
        .get_json::<serde_json::Value>("/drives/x", RequestKind::Get)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Graph(g) if g.status == 404 && g.code == "itemNotFound" && g.message == "gone")
    );
    let err = client
        .get_json::<serde_json::Value>("/drives/y", RequestKind::Get)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Graph(g) if g.status == 403 && g.code.is_empty()),
        "{err:?}"
    );
    assert_eq!(server.graph_requests().len(), 2);
    assert_eq!(client.gate().stats().retries, 0);
}

#[test]
fn undecodable_pages_are_protocol_errors() {
    let server = ScriptServer::start();
    server.push(Canned::json(200, "<html>not json</html>"));
    server.push(Canned::json(200, r#"{"value":[]}"#));
    let client = client(&server);
    let err = client.delta_page(&delta_url(&server)).unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(m) if m.contains("<html>")),
        "{err:?}"
    );
    let err = client.delta_page(&delta_url(&server)).unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(m) if m.contains("nextLink")),
        "{err:?}"
    );
}

#[test]
fn delta_requests_carry_user_agent_prefer_and_their_cost() {
    let server = ScriptServer::start();
    server.push(Canned::json(200, PAGE));
    server.push(Canned::json(200, PAGE));
    let client = client(&server);
    client
        .delta_page(&client.initial_delta_url("b!drive/1"))
        .unwrap();
    client.delta_page(&delta_url(&server)).unwrap();
    let graph = server.graph_requests();
    assert_eq!(
        graph[0].path,
        "/v1.0/drives/b!drive%2F1/root/delta?$select=id,name,parentReference,eTag,cTag,size,file,folder,root,\
         deleted,shared,lastModifiedDateTime&$top=1000"
    );
    let user_agent = format!("ISV|m365sync|m365sync/{}", crate::VERSION);
    for request in &graph {
        assert_eq!(request.header("User-Agent"), Some(user_agent.as_str()));
        assert_eq!(request.header("Prefer"), Some(PREFER_SHARING));
    }
    // Initial delta costs 2 RU, delta with a token 1 RU.
    assert_eq!(client.gate().stats().ru_spent, 3);

    let quiet = client_with(&server, r#","track_permissions":false"#);
    server.push(Canned::json(200, PAGE));
    quiet.delta_page(&delta_url(&server)).unwrap();
    assert_eq!(server.graph_requests()[2].header("Prefer"), None);
}

#[test]
fn rate_limit_headers_reach_the_gate() {
    let server = ScriptServer::start();
    server.push(
        Canned::json(200, PAGE)
            .header("RateLimit-Limit", "100")
            .header("RateLimit-Remaining", "0")
            .header("RateLimit-Reset", "1"),
    );
    let client = client(&server);
    client.delta_page(&delta_url(&server)).unwrap();
    assert!(client.gate().stats().paused_ms >= 900);
}

#[test]
fn send_json_and_delete() {
    let server = ScriptServer::start();
    server.push(Canned::json(201, r#"{"id":"sub-1"}"#));
    server.push(Canned::json(204, ""));
    server.push(Canned::json(204, ""));
    server.push(Canned::json(404, r#"{"error":{"code":"itemNotFound"}}"#));
    let client = client(&server);
    let body = serde_json::json!({"changeType": "updated"});
    let created = client
        .send_json(
            "POST",
            "subscriptions",
            &body,
            &[("Prefer", "includesecuritywebhooks")],
            RequestKind::Write,
        )
        .unwrap();
    assert_eq!(created["id"], "sub-1");
    let patched = client
        .send_json(
            "PATCH",
            "/subscriptions/sub-1",
            &body,
            &[],
            RequestKind::Write,
        )
        .unwrap();
    assert_eq!(patched, serde_json::Value::Null);
    client.delete("/subscriptions/sub-1").unwrap();
    let err = client.delete("/subscriptions/sub-1").unwrap_err();
    assert!(
        matches!(&err, Error::Graph(g) if g.status == 404),
        "{err:?}"
    );
    let graph = server.graph_requests();
    assert_eq!(
        (graph[0].method.as_str(), graph[0].path.as_str()),
        ("POST", "/v1.0/subscriptions")
    );
    assert_eq!(graph[0].header("Prefer"), Some("includesecuritywebhooks"));
    assert_eq!(graph[0].header("Content-Type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&graph[0].body).unwrap(),
        body
    );
    assert_eq!(graph[1].method, "PATCH");
    assert_eq!(graph[2].method, "DELETE");
}

#[test]
fn the_token_never_leaves_graphs_origin() {
    let server = ScriptServer::start();
    let client = client(&server);
    let err = client
        .get_json::<serde_json::Value>("http://example.invalid/steal", RequestKind::Get)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(server.requests().is_empty());
}

#[test]
fn debug_output_shows_neither_secret_nor_token() {
    let server = ScriptServer::start();
    server.push(Canned::json(200, "{}"));
    let client = client(&server);
    client
        .get_json::<serde_json::Value>("/me", RequestKind::Get)
        .unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(!debug.contains("token-1"), "{debug}");
    assert!(debug.contains("app-1"), "{debug}");
}

#[test]
fn secret_from_a_missing_environment_variable_is_a_config_error() {
    let server = ScriptServer::start();
    let mut config = config(&server, "");
    config.client_secret = None;
    config.client_secret_env = Some("M365SYNC_GRAPH_TEST_UNSET_VARIABLE".into());
    let err = GraphClient::new(&config, Arc::new(ThrottleGate::new(&config.throttle))).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

#[test]
fn url_helpers() {
    assert!(has_token_param(
        "https://g/v1.0/drives/d/root/delta?token=abc"
    ));
    assert!(has_token_param(
        "https://g/v1.0/drives/d/root/delta?$select=id&token=latest"
    ));
    assert!(has_token_param("https://g/v1.0/sites/delta?$deltatoken=x"));
    assert!(!has_token_param(
        "https://g/v1.0/drives/d/root/delta?$select=id&$top=5"
    ));
    assert!(!has_token_param("https://g/v1.0/drives/token=x/root/delta"));
    assert_eq!(
        origin("HTTPS://Graph.Microsoft.com/v1.0/x?y"),
        Some("https://graph.microsoft.com".into())
    );
    assert_eq!(
        origin("http://127.0.0.1:8080"),
        Some("http://127.0.0.1:8080".into())
    );
    assert_eq!(origin("/sites"), None);
    assert_eq!(origin("ftp://x/y"), None);
    assert_eq!(
        encode_path_segment("b!aZ-_.~ é/?#%"),
        "b!aZ-_.~%20%C3%A9%2F%3F%23%25"
    );
}
