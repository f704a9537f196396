//! Tests of the subscriptions module through `handle()`, with real HTTP to test endpoints.

use std::time::Instant;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::test_receiver::{Endpoint, HANG_GUARD, Validation};
use super::time::{format_iso, parse_iso};
use super::*;

const HOUR_MS: i64 = 3_600_000;

/// Fast retries so failure tests finish quickly.
fn fast() -> NotificationConfig {
    NotificationConfig {
        retry_base_ms: 20,
        retry_max_ms: 200,
        max_attempts: 50,
        ..NotificationConfig::default()
    }
}

fn subs(config: NotificationConfig) -> Arc<Subscriptions> {
    Subscriptions::new(SubscriptionContext {
        tenant_id: "tenant-1".into(),
        resolve: Box::new(|r| match r {
            "/drives/d1/root" | "/me/drive/root" => Some(Target::Drive("d1".into())),
            "/drives/d2/root" => Some(Target::Drive("d2".into())),
            "/sites" => Some(Target::Sites),
            "/groups" => Some(Target::Groups),
            "/groups/g1" => Some(Target::Group("g1".into())),
            _ => None,
        }),
        config,
    })
}

fn request(method: &str, path: &str, body: &[u8]) -> SimRequest {
    SimRequest {
        method: method.into(),
        path: path.into(),
        body: body.to_vec(),
        ..SimRequest::default()
    }
}

fn json_of(r: &SimResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn error_code(r: &SimResponse) -> String {
    json_of(r)["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn expiry_in(s: &Subscriptions, ms: i64) -> String {
    format_iso(s.core.clock.now_ms() + ms)
}

fn create_body(s: &Subscriptions, url: &str, resource: &str) -> Value {
    json!({
        "changeType": "updated",
        "resource": resource,
        "notificationUrl": url,
        "expirationDateTime": expiry_in(s, HOUR_MS),
        "clientState": "s3cret",
    })
}

fn create_with(s: &Subscriptions, body: &Value, prefer: Option<&str>) -> SimResponse {
    let mut req = request("POST", "/v1.0/subscriptions", body.to_string().as_bytes());
    if let Some(p) = prefer {
        req.headers.push(("Prefer".into(), p.into()));
    }
    s.handle(&req)
}

/// Creates a subscription and returns its id.
fn create(s: &Subscriptions, url: &str, resource: &str) -> String {
    let r = create_with(s, &create_body(s, url, resource), None);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    json_of(&r)["id"].as_str().unwrap().to_string()
}

fn stat(s: &Subscriptions, name: &str) -> u64 {
    s.stats()[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no stat {name}"))
}

fn wait_stat(s: &Subscriptions, name: &str, pred: impl Fn(u64) -> bool) {
    let deadline = Instant::now() + HANG_GUARD;
    while !pred(stat(s, name)) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {name}: {}",
            s.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn subscriptions_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Subscriptions>();
    assert_send_sync::<SubscriptionContext>();
}

#[test]
fn tenants_share_one_timer_started_by_the_first_subscription() {
    let first = subs(fast());
    let second = first.sibling(SubscriptionContext {
        tenant_id: "tenant-2".into(),
        resolve: Box::new(|r| (r == "/drives/e1/root").then(|| Target::Drive("e1".into()))),
        config: fast(),
    });
    assert!(Arc::ptr_eq(&first.timer, &second.timer));
    assert!(first.timer.state.lock().thread.is_none(), "idle: no thread");
    let hook = Endpoint::start();
    let id = create(&second, hook.url(), "/drives/e1/root");
    assert!(first.timer.state.lock().thread.is_some());
    // The shared timer expires the second tenant's subscription.
    second.expire(None);
    assert_eq!(stat(&second, "expired"), 1);
    assert_eq!(stat(&first, "expired"), 0);
    // Each tenant's notifications carry its own id.
    let id2 = create(&second, hook.url(), "/drives/e1/root");
    assert_ne!(id, id2);
    second.drive_changed("e1", ChangeOrigin::Content);
    first.drive_changed("e1", ChangeOrigin::Content);
    let posts = hook.wait_until("a notification", |p| !p.is_empty());
    assert_eq!(posts[0]["value"][0]["tenantId"], "tenant-2");
    second.shutdown();
    assert!(
        first.timer.state.lock().thread.is_some(),
        "the other still runs it"
    );
    first.shutdown();
    assert!(first.timer.state.lock().thread.is_none());
}

#[test]
fn create_validates_the_endpoint_then_returns_the_subscription() {
    let hook = Endpoint::start();
    let s = subs(fast());
    let r = create_with(&s, &create_body(&s, hook.url(), "/drives/d1/root"), None);
    assert_eq!(r.status, 201);
    let sub = json_of(&r);
    let tokens = hook.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].starts_with("Validation: Testing client application reachability"));
    assert_eq!(sub["resource"], "/drives/d1/root");
    assert_eq!(sub["changeType"], "updated");
    assert_eq!(sub["notificationUrl"], hook.url());
    assert_eq!(sub["clientState"], "s3cret");
    assert_eq!(sub["latestSupportedTlsVersion"], "v1_2");
    assert_eq!(sub["lifecycleNotificationUrl"], Value::Null);
    assert!(sub["applicationId"].is_string() && sub["creatorId"].is_string());
    let id = sub["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert!(parse_iso(sub["expirationDateTime"].as_str().unwrap()).is_some());

    let got = s.handle(&request("GET", &format!("/v1.0/subscriptions/{id}"), b""));
    assert_eq!(got.status, 200);
    assert_eq!(json_of(&got)["id"], id);
    let list = json_of(&s.handle(&request("GET", "/v1.0/subscriptions", b"")));
    assert_eq!(list["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(stat(&s, "created"), 1);
    assert_eq!(stat(&s, "subscriptions_active"), 1);
}

#[test]
fn a_failed_handshake_creates_nothing() {
    let hook = Endpoint::start();
    let lifecycle = Endpoint::start();
    let s = subs(fast());
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let unreachable = format!("http://127.0.0.1:{closed_port}/hook");
    for validation in [
        Validation::WrongToken,
        Validation::Status(500),
        Validation::Status(202),
    ] {
        hook.configure(|b| b.validation = validation);
        let r = create_with(&s, &create_body(&s, hook.url(), "/drives/d1/root"), None);
        assert_eq!((r.status, error_code(&r)), (400, "ValidationError".into()));
        assert!(
            json_of(&r)["error"]["message"]
                .as_str()
                .unwrap()
                .contains("validation request failed")
        );
    }
    let r = create_with(&s, &create_body(&s, &unreachable, "/drives/d1/root"), None);
    assert_eq!(error_code(&r), "ValidationError");

    hook.configure(|b| b.validation = Validation::Echo);
    lifecycle.configure(|b| b.validation = Validation::WrongToken);
    let mut body = create_body(&s, hook.url(), "/drives/d1/root");
    body["lifecycleNotificationUrl"] = json!(lifecycle.url());
    let r = create_with(&s, &body, None);
    assert_eq!(error_code(&r), "ValidationError");
    assert_eq!(lifecycle.tokens().len(), 1);

    assert_eq!(stat(&s, "validation_failed"), 5);
    assert_eq!(stat(&s, "created"), 0);
    let list = json_of(&s.handle(&request("GET", "/v1.0/subscriptions", b"")));
    assert_eq!(list["value"], json!([]));
}

#[test]
fn bad_requests_get_graph_errors_without_a_handshake() {
    let hook = Endpoint::start();
    let s = subs(fast());
    let r = s.handle(&request("POST", "/v1.0/subscriptions", b"{not json"));
    assert_eq!((r.status, error_code(&r)), (400, "InvalidRequest".into()));
    let mut body = create_body(&s, hook.url(), "/drives/nope/root");
    assert_eq!(error_code(&create_with(&s, &body, None)), "InvalidRequest");
    body["resource"] = json!("/drives/d1/root");
    body["expirationDateTime"] = json!(expiry_in(&s, 42_300 * 60_000 + 60_000));
    assert_eq!(error_code(&create_with(&s, &body, None)), "InvalidRequest");
    assert!(hook.tokens().is_empty());

    let r = s.handle(&request("PUT", "/v1.0/subscriptions", b""));
    assert_eq!(r.status, 405);
    assert_eq!(
        s.handle(&request("POST", "/v1.0/subscriptions/x", b""))
            .status,
        405
    );
    assert_eq!(
        s.handle(&request("GET", "/v1.0/subscriptions/x/reauthorize", b""))
            .status,
        405
    );
    for (method, path) in [
        ("GET", "/v1.0/subscriptions/unknown"),
        ("PATCH", "/v1.0/subscriptions/unknown"),
        ("DELETE", "/v1.0/subscriptions/unknown"),
        ("POST", "/v1.0/subscriptions/unknown/reauthorize"),
    ] {
        let r = s.handle(&request(method, path, b"{}"));
        assert_eq!(
            (r.status, error_code(&r)),
            (404, "ResourceNotFound".into()),
            "{method} {path}"
        );
    }
    assert_eq!(
        s.handle(&request("GET", "/v1.0/subscriptionsx", b""))
            .status,
        400
    );
    assert_eq!(
        s.handle(&request("GET", "/v1.0/subscriptions/a/b/c", b""))
            .status,
        400
    );
}

#[test]
fn renew_delete_and_reauthorize() {
    let hook = Endpoint::start();
    let s = subs(fast());
    let id = create(&s, hook.url(), "/me/drive/root");
    let path = format!("/v1.0/subscriptions/{id}");
    let new_expiry = expiry_in(&s, 48 * HOUR_MS);
    let body = json!({ "expirationDateTime": new_expiry, "clientState": "ignored" });
    let r = s.handle(&request("PATCH", &path, body.to_string().as_bytes()));
    assert_eq!(r.status, 200);
    assert_eq!(
        parse_iso(json_of(&r)["expirationDateTime"].as_str().unwrap()),
        parse_iso(&new_expiry)
    );
    assert_eq!(json_of(&r)["clientState"], "s3cret");
    let too_far = json!({ "expirationDateTime": expiry_in(&s, 30 * 24 * HOUR_MS) });
    let r = s.handle(&request("PATCH", &path, too_far.to_string().as_bytes()));
    assert_eq!(error_code(&r), "InvalidRequest");
    assert_eq!(
        error_code(&s.handle(&request("PATCH", &path, b"[1]"))),
        "InvalidRequest"
    );
    assert_eq!(
        error_code(&s.handle(&request("PATCH", &path, b"{}"))),
        "InvalidRequest"
    );

    let r = s.handle(&request("POST", &format!("{path}/reauthorize"), b""));
    assert_eq!(r.status, 200);
    assert_eq!(stat(&s, "reauthorized"), 1);

    assert_eq!(s.handle(&request("DELETE", &path, b"")).status, 204);
    assert_eq!(s.handle(&request("GET", &path, b"")).status, 404);
    assert_eq!(s.handle(&request("DELETE", &path, b"")).status, 404);
    assert_eq!(stat(&s, "deleted"), 1);
    assert_eq!(stat(&s, "subscriptions_active"), 0);
}

#[test]
fn expired_subscriptions_disappear_and_stop_notifying() {
    let hook = Endpoint::start();
    let s = subs(fast());
    let lazy = create(&s, hook.url(), "/drives/d1/root");
    s.core.clock.advance(HOUR_MS + 1);
    // Lazily on access...
    let r = s.handle(&request("GET", &format!("/v1.0/subscriptions/{lazy}"), b""));
    assert_eq!(r.status, 404);
    let renew = json!({ "expirationDateTime": expiry_in(&s, HOUR_MS) });
    let r = s.handle(&request(
        "PATCH",
        &format!("/v1.0/subscriptions/{lazy}"),
        renew.to_string().as_bytes(),
    ));
    assert_eq!(r.status, 404);
    s.drive_changed("d1", ChangeOrigin::Content);
    assert_eq!(stat(&s, "queued"), 0);

    // ...and by the timer thread.
    create(&s, hook.url(), "/drives/d1/root");
    s.core.clock.advance(HOUR_MS + 1);
    let deadline = Instant::now() + HANG_GUARD;
    while !s.core.table.lock().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the timer never expired the subscription"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(stat(&s, "expired"), 2);

    let id = create(&s, hook.url(), "/drives/d1/root");
    s.expire(Some("someone-else"));
    assert_eq!(stat(&s, "subscriptions_active"), 1);
    s.expire(Some(&id));
    assert_eq!(stat(&s, "subscriptions_active"), 0);
    assert_eq!(stat(&s, "expired"), 3);
}

#[test]
fn drive_changes_notify_the_drives_subscriptions() {
    let hook1 = Endpoint::start();
    let hook2 = Endpoint::start();
    let s = subs(fast());
    let a = create(&s, hook1.url(), "/drives/d1/root");
    let b = create(&s, hook1.url(), "/me/drive/root");
    let c = create(&s, hook2.url(), "/drives/d2/root");
    s.drive_changed("d1", ChangeOrigin::Content);
    assert_eq!(stat(&s, "queued"), 2);
    let got = hook1.wait_notifications(2);
    let mut ids: Vec<&str> = got
        .iter()
        .map(|n| n["subscriptionId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    for n in &got {
        assert_eq!(n["clientState"], "s3cret");
        assert_eq!(n["changeType"], "updated");
        assert_eq!(n["tenantId"], "tenant-1");
        assert!(parse_iso(n["subscriptionExpirationDateTime"].as_str().unwrap()).is_some());
        assert!(n.get("resourceData").is_none_or(Value::is_null));
    }
    let resources: Vec<&str> = got
        .iter()
        .map(|n| n["resource"].as_str().unwrap())
        .collect();
    assert!(resources.contains(&"/me/drive/root") && resources.contains(&"/drives/d1/root"));

    s.drive_changed("d2", ChangeOrigin::Content);
    let got2 = hook2.wait_notifications(1);
    assert_eq!(got2.len(), 1);
    assert_eq!(got2[0]["subscriptionId"], c.as_str());
    wait_stat(&s, "notifications_sent", |n| n == 3);
    assert_eq!(stat(&s, "posts_failed"), 0);
}

#[test]
fn site_and_group_changes_notify_their_subscriptions() {
    let hook = Endpoint::start();
    let s = subs(fast());
    let sites = create(&s, hook.url(), "/sites");
    let mut body = create_body(&s, hook.url(), "/groups");
    body["changeType"] = "updated,deleted".into();
    let r = create_with(&s, &body, None);
    assert_eq!(r.status, 201);
    let groups = json_of(&r)["id"].as_str().unwrap().to_string();
    assert_eq!(json_of(&r)["changeType"], "updated,deleted");
    let mut one = create_body(&s, hook.url(), "/groups/g1");
    one["changeType"] = "deleted".into();
    let one = json_of(&create_with(&s, &one, None))["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A drive subscription hears nothing of sites or groups, and vice versa.
    create(&s, hook.url(), "/drives/d1/root");

    s.sites_changed("site-1");
    s.group_changed("g1", GroupChange::Created);
    s.group_changed("g2", GroupChange::Deleted);
    s.group_changed("g1", GroupChange::Deleted);
    let want = [
        (sites.clone(), "updated", "/sites"),
        (groups.clone(), "updated", "Groups/g1"),
        (groups.clone(), "deleted", "Groups/g2"),
        (groups.clone(), "deleted", "Groups/g1"),
        (one.clone(), "deleted", "Groups/g1"),
    ];
    let want_set: std::collections::HashSet<_> = want
        .iter()
        .map(|(a, b, c)| (a.clone(), b.to_string(), c.to_string()))
        .collect();
    let all = hook.wait_notifications(5);
    assert_eq!(all.len(), 5);
    let all_set: std::collections::HashSet<_> = all
        .iter()
        .map(|n| {
            (
                n["subscriptionId"].as_str().unwrap().to_string(),
                n["changeType"].as_str().unwrap().to_string(),
                n["resource"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(all_set, want_set);
    let group_note = all.iter().find(|n| n["resource"] == "Groups/g2").unwrap();
    assert_eq!(group_note["resourceData"]["id"], "g2");
    assert_eq!(group_note["resourceData"]["organizationId"], "tenant-1");
    let site_note = all.iter().find(|n| n["resource"] == "/sites").unwrap();
    assert_eq!(site_note["resourceData"]["id"], "site-1");
}

#[test]
fn group_subscriptions_renew_within_the_group_lifetime() {
    let hook = Endpoint::start();
    let s = subs(fast());
    let id = create(&s, hook.url(), "/groups");
    let patch = |ms: i64| {
        let body = json!({ "expirationDateTime": expiry_in(&s, ms) }).to_string();
        s.handle(&request(
            "PATCH",
            &format!("/v1.0/subscriptions/{id}"),
            body.as_bytes(),
        ))
    };
    assert_eq!(patch(41_760 * 60_000 - 60_000).status, 200);
    let r = patch(42_300 * 60_000 - 60_000);
    assert_eq!(r.status, 400, "a driveItem lifetime is too long for groups");
    assert!(error_code(&r) == "InvalidRequest", "{}", error_code(&r));
}

#[test]
fn permission_changes_need_includesecuritywebhooks() {
    let hook = Endpoint::start();
    let s = subs(fast());
    create(&s, hook.url(), "/drives/d1/root");
    let body = create_body(&s, hook.url(), "/drives/d1/root");
    let r = create_with(&s, &body, Some("includesecuritywebhooks"));
    assert_eq!(r.status, 201);
    let secure = json_of(&r)["id"].as_str().unwrap().to_string();
    s.drive_changed("d1", ChangeOrigin::Permissions);
    assert_eq!(stat(&s, "queued"), 1);
    let got = hook.wait_notifications(1);
    assert_eq!(got[0]["subscriptionId"], secure.as_str());
    s.drive_changed("d1", ChangeOrigin::Content);
    assert_eq!(stat(&s, "queued"), 3);
}

#[test]
fn failing_and_slow_endpoints_are_retried() {
    let hook = Endpoint::start();
    let s = subs(NotificationConfig {
        response_deadline_ms: 300,
        ..fast()
    });
    create(&s, hook.url(), "/drives/d1/root");
    hook.configure(|b| b.fail_next = 2);
    s.drive_changed("d1", ChangeOrigin::Content);
    wait_stat(&s, "notifications_sent", |n| n == 1);
    assert_eq!(stat(&s, "retried"), 2);
    assert_eq!(stat(&s, "posts_failed"), 2);
    assert_eq!(hook.posts().len(), 3);

    // An answer after the deadline is a failure too, even if it is a 202.
    hook.configure(|b| b.reply_delay = Duration::from_millis(1500));
    s.drive_changed("d1", ChangeOrigin::Content);
    hook.wait_until("the slow POST", |p| p.len() >= 4);
    hook.configure(|b| b.reply_delay = Duration::ZERO);
    wait_stat(&s, "notifications_sent", |n| n == 2);
    assert!(stat(&s, "posts_failed") >= 3);
    assert!(stat(&s, "retried") >= 3);
}

#[test]
fn notifications_are_dropped_after_max_attempts() {
    let hook = Endpoint::start();
    let s = subs(NotificationConfig {
        max_attempts: 3,
        ..fast()
    });
    create(&s, hook.url(), "/drives/d1/root");
    hook.configure(|b| b.fail_next = u32::MAX);
    s.drive_changed("d1", ChangeOrigin::Content);
    wait_stat(&s, "dropped_after_retries", |n| n == 1);
    assert_eq!(hook.posts().len(), 3);
    assert_eq!(stat(&s, "retried"), 2);
    assert_eq!(stat(&s, "notifications_sent"), 0);
    assert_eq!(stat(&s, "pending"), 0);
}

#[test]
fn drop_and_duplicate_faults() {
    let hook = Endpoint::start();
    let s = subs(fast());
    create(&s, hook.url(), "/drives/d1/root");
    s.set_config(NotificationConfig {
        drop: 1.0,
        ..fast()
    });
    s.drive_changed("d1", ChangeOrigin::Content);
    assert_eq!(stat(&s, "dropped_by_fault"), 1);
    assert_eq!(stat(&s, "queued"), 0);
    s.set_config(NotificationConfig {
        duplicate: 1.0,
        ..fast()
    });
    s.drive_changed("d1", ChangeOrigin::Content);
    assert_eq!(stat(&s, "duplicated"), 1);
    assert_eq!(stat(&s, "queued"), 2);
    let got = hook.wait_notifications(2);
    assert_eq!(got[0], got[1]);
}

#[test]
fn lifecycle_notifications() {
    let hook = Endpoint::start();
    let life = Endpoint::start();
    let s = subs(fast());
    let mut body = create_body(&s, hook.url(), "/drives/d1/root");
    body["lifecycleNotificationUrl"] = json!(life.url());
    let r = create_with(&s, &body, None);
    assert_eq!(r.status, 201);
    assert_eq!(life.tokens().len(), 1);
    let id = json_of(&r)["id"].as_str().unwrap().to_string();
    assert_eq!(json_of(&r)["lifecycleNotificationUrl"], life.url());
    assert_eq!(
        stat(&s, "queued"),
        0,
        "an hour before expiry is outside the 600 s lead"
    );

    // Inside the lead window: reauthorizationRequired, once.
    s.core.clock.advance(HOUR_MS - 599_000);
    let got = life.wait_notifications(1);
    assert_eq!(got[0]["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(got[0]["subscriptionId"], id.as_str());
    assert_eq!(got[0]["clientState"], "s3cret");
    assert_eq!(got[0]["tenantId"], "tenant-1");
    assert_eq!(got[0]["resource"], "/drives/d1/root");
    for _ in 0..3 {
        s.core.sweep();
    }
    wait_stat(&s, "lifecycle_sent", |n| n == 1);
    assert_eq!(stat(&s, "queued"), 1);

    // A renewal re-arms it for the new expiry.
    let renew = json!({ "expirationDateTime": expiry_in(&s, HOUR_MS) });
    let path = format!("/v1.0/subscriptions/{id}");
    assert_eq!(
        s.handle(&request("PATCH", &path, renew.to_string().as_bytes()))
            .status,
        200
    );
    assert_eq!(stat(&s, "queued"), 1);
    s.core.clock.advance(HOUR_MS - 1000);
    life.wait_notifications(2);

    // Expiry is silent unless send_removed_on_expire is on.
    s.expire(Some(&id));
    assert_eq!(stat(&s, "queued"), 2);
    s.set_config(NotificationConfig {
        send_removed_on_expire: true,
        ..fast()
    });
    let mut body = create_body(&s, hook.url(), "/drives/d1/root");
    body["lifecycleNotificationUrl"] = json!(life.url());
    let r = create_with(&s, &body, None);
    let id2 = json_of(&r)["id"].as_str().unwrap().to_string();
    s.expire(None);
    let got = life.wait_notifications(3);
    let removed = got
        .iter()
        .find(|n| n["lifecycleEvent"] == "subscriptionRemoved")
        .unwrap();
    assert_eq!(removed["subscriptionId"], id2.as_str());
    assert_eq!(
        s.handle(&request("GET", &format!("/v1.0/subscriptions/{id2}"), b""))
            .status,
        404
    );
    assert!(
        hook.posts().is_empty(),
        "lifecycle events never go to the notification URL"
    );
}

#[test]
fn shutdown_is_idempotent_and_later_calls_are_harmless() {
    let hook = Endpoint::start();
    let s = subs(fast());
    create(&s, hook.url(), "/drives/d1/root");
    s.shutdown();
    s.shutdown();
    s.drive_changed("d1", ChangeOrigin::Content);
    s.expire(None);
    assert_eq!(stat(&s, "queued"), 0);
    drop(s);
    for _ in 0..5 {
        drop(subs(NotificationConfig::default()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn handle_never_panics(
        method in "(GET|POST|PATCH|DELETE|PUT|[A-Z]{0,7})",
        tail in "(/[a-z0-9%é]{0,12}){0,3}",
        body in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        thread_local! {
            static SUBS: Arc<Subscriptions> = subs(NotificationConfig::default());
        }
        let r = SUBS.with(|s| s.handle(&request(&method, &format!("/v1.0/subscriptions{tail}"), &body)));
        prop_assert!(r.status >= 200 && r.status < 600);
    }
}
