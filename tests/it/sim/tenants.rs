//! One simulator, many tenants: credentials, data, budgets, notifications and the
//! control API per tenant, and an engine that mirrors exactly one tenant.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::support::engine::{Workdir, all_synced, sim_config, store};
use crate::support::sim::{agent, control, iso_in, percent_decode, send};
use crate::support::{wait_for, wait_until};
use m365sync_http::{Request, Response, Server, ServerOptions};
use m365sync_sim::{SimTenant, Simulator};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// A simulator of `tenants` small tenants (two sites, one user with a OneDrive).
fn sim(tenants: u32, extra: Value) -> Simulator {
    let mut config = json!({
        "tenants": tenants, "sites": 2, "libraries_per_site": 1, "users": 1,
        "users_without_drive": 0, "items": 30, "depth": 2, "seed": 21
    });
    crate::support::merge(&mut config, extra);
    Simulator::start(sim_config(config)).expect("simulator")
}

/// The token endpoint's answer for `tenant_id` with `secret`.
fn token_reply(t: &SimTenant, tenant_id: &str, secret: &str) -> crate::support::sim::Reply {
    let form = format!(
        "client_id={}&client_secret={secret}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&grant_type=client_credentials",
        t.client_id()
    );
    let req = agent()
        .post(&format!("{}/{tenant_id}/oauth2/v2.0/token", t.login_url()))
        .set("Content-Type", "application/x-www-form-urlencoded");
    send(req, Some(form.as_bytes())).expect("token request")
}

/// An access token of tenant `t`, fetched with its own secret.
fn token(t: &SimTenant) -> String {
    let r = token_reply(t, t.tenant_id(), t.client_secret());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string()
}

/// `GET {graph}{path}` with `token`: (status, JSON body).
fn graph_get(t: &SimTenant, token: &str, path: &str) -> (u16, Value) {
    let req = agent()
        .get(&format!("{}{path}", t.graph_url()))
        .set("Authorization", &format!("Bearer {token}"));
    let r = send(req, None).expect("transport");
    let body = if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r.status, body)
}

fn drive_ids(t: &SimTenant) -> Vec<String> {
    t.drives().into_iter().map(|d| d.id).collect()
}

#[test]
fn tokens_are_per_tenant_and_read_only_their_tenant() {
    let sim = sim(3, json!({}));
    let (t0, t1) = (sim.tenant(0).unwrap(), sim.tenant(1).unwrap());
    assert_eq!(sim.tenant_count(), 3);
    assert!(sim.tenant(3).is_err());

    // Each tenant's secret works at its own endpoint only.
    let wrong = token_reply(&t1, t1.tenant_id(), t0.client_secret());
    assert_eq!(
        wrong.status, 401,
        "tenant 0's secret is refused in tenant 1"
    );
    assert_eq!(wrong.json()["error"], "invalid_client");
    let wrong = token_reply(&t0, t0.tenant_id(), t1.client_secret());
    assert_eq!(
        wrong.status, 401,
        "tenant 1's secret is refused in tenant 0"
    );
    let unknown = token_reply(&t0, "no-such-tenant", t0.client_secret());
    assert_eq!(unknown.status, 400);

    let (tok0, tok1) = (token(&t0), token(&t1));
    let (d0, d1) = (drive_ids(&t0)[0].clone(), drive_ids(&t1)[0].clone());
    // The same URLs for everyone: the token decides whose data is read.
    let (status, root) = graph_get(&t1, &tok1, &format!("/drives/{d1}/root"));
    assert_eq!(status, 200, "{root}");
    assert_eq!(graph_get(&t0, &tok0, &format!("/drives/{d0}/root")).0, 200);
    let (status, err) = graph_get(&t1, &tok1, &format!("/drives/{d0}/root"));
    assert_eq!(status, 404, "tenant 0's drive with tenant 1's token: {err}");
    assert_eq!(err["error"]["code"], "itemNotFound");
    assert_eq!(graph_get(&t0, &tok0, &format!("/drives/{d1}/root")).0, 404);
    assert_eq!(
        graph_get(&t0, &tok0, &format!("/drives/{d1}/root/delta")).0,
        404
    );
    // Discovery lists the token's tenant only.
    let (_, sites) = graph_get(&t1, &tok1, "/sites");
    let listed: BTreeSet<String> = sites["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let (_, sites0) = graph_get(&t0, &tok0, "/sites");
    assert!(
        sites0["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| { !listed.contains(s["id"].as_str().unwrap()) })
    );

    // A token moved to another tenant fails its signature there; a tenant that does
    // not exist is refused too.
    let forged = format!("{tok0}.1");
    assert_eq!(
        graph_get(&t1, &forged, &format!("/drives/{d1}/root")).0,
        401
    );
    let stripped = tok1.rsplit_once('.').unwrap().0.to_string();
    assert_eq!(
        graph_get(&t0, &stripped, &format!("/drives/{d0}/root")).0,
        401
    );
    assert_eq!(graph_get(&t0, &format!("{tok0}.9"), "/sites").0, 401);

    // Expiring tenant 1's tokens leaves tenant 0's valid.
    let r = control(&sim, "POST", "/_sim/tenants/1/expire-access-tokens", None);
    assert_eq!(r.status, 204);
    assert_eq!(graph_get(&t1, &tok1, &format!("/drives/{d1}/root")).0, 401);
    assert_eq!(graph_get(&t0, &tok0, &format!("/drives/{d0}/root")).0, 200);
}

#[test]
fn tenants_have_their_own_ids_secrets_and_data_deterministically() {
    let sim = sim(3, json!({}));
    let tenants = sim.tenants();
    let single = self::sim(1, json!({}));
    // Tenant 0 is the one-tenant simulator's tenant, unchanged.
    assert_eq!(tenants[0].tenant_id(), single.tenant_id());
    assert_eq!(tenants[0].client_secret(), single.client_secret());
    assert_eq!(drive_ids(&tenants[0]), drive_ids(&single));
    assert_eq!(tenants[1].tenant_id(), format!("{}-1", single.tenant_id()));

    let ids: BTreeSet<&str> = tenants.iter().map(|t| t.tenant_id()).collect();
    let secrets: BTreeSet<&str> = tenants.iter().map(|t| t.client_secret()).collect();
    let clients: BTreeSet<&str> = tenants.iter().map(|t| t.client_id()).collect();
    assert_eq!((ids.len(), secrets.len(), clients.len()), (3, 3, 1));
    let mut all_drives = BTreeSet::new();
    for t in &tenants {
        assert_eq!(t.drives().len(), 3, "two libraries and a OneDrive each");
        for d in drive_ids(t) {
            assert!(all_drives.insert(d), "drive ids are unique across tenants");
        }
    }
    let names = |t: &SimTenant| -> Vec<String> {
        let d = drive_ids(t)[0].clone();
        t.snapshot(&d)
            .unwrap()
            .into_iter()
            .map(|i| i.path)
            .collect()
    };
    assert_ne!(names(&tenants[1]), names(&tenants[2]), "own generated data");
    assert_ne!(
        tenants[1].users()[0].id,
        tenants[2].users()[0].id,
        "own directory"
    );

    // The same configuration builds the same tenants.
    let again = self::sim(3, json!({}));
    let t2 = again.tenant(2).unwrap();
    assert_eq!(t2.tenant_id(), tenants[2].tenant_id());
    assert_eq!(t2.client_secret(), tenants[2].client_secret());
    assert_eq!(drive_ids(&t2), drive_ids(&tenants[2]));
    assert_eq!(names(&t2), names(&tenants[2]));
}

#[test]
fn each_tenant_has_its_own_budget_and_counters() {
    let sim = sim(2, json!({ "throttle": { "retry_after_secs": 120 } }));
    let (t0, t1) = (sim.tenant(0).unwrap(), sim.tenant(1).unwrap());
    let (tok0, tok1) = (token(&t0), token(&t1));
    let (d0, d1) = (drive_ids(&t0)[0].clone(), drive_ids(&t1)[0].clone());
    // A storm on tenant 0 through its handle, then one through the control API.
    t0.throttle_storm(std::time::Duration::from_secs(600));
    let (status, err) = graph_get(&t0, &tok0, &format!("/drives/{d0}/root"));
    assert_eq!(status, 429, "{err}");
    // Inside tenant 0's Retry-After window (a violation, unless within the grace
    // period after the first 429): tenant 0 only.
    assert_eq!(graph_get(&t0, &tok0, &format!("/drives/{d0}/root")).0, 429);
    assert_eq!(graph_get(&t1, &tok1, &format!("/drives/{d1}/root")).0, 200);

    let (s0, s1) = (t0.stats(), t1.stats());
    assert_eq!(s0.throttled, 2);
    assert_eq!((s1.throttled, s1.violations), (0, 0));
    assert!(s1.ru_used > 0);
    let total = sim.total_stats();
    assert_eq!(total.tenants, 2);
    assert_eq!(total.counts.requests, s0.requests + s1.requests);
    assert_eq!(
        (total.counts.throttled, total.counts.violations),
        (2, s0.violations)
    );
    assert_eq!(total.counts.ru_used, s0.ru_used + s1.ru_used);

    let storm = json!({ "secs": 600 });
    let r = control(&sim, "POST", "/_sim/tenants/1/throttle-storm", Some(storm));
    assert_eq!(r.status, 204);
    assert_eq!(graph_get(&t1, &tok1, &format!("/drives/{d1}/root")).0, 429);
    assert_eq!(t1.stats().throttled, 1);
}

/// A webhook endpoint that answers handshakes and records notifications.
struct Hook {
    url: String,
    posts: Arc<Mutex<Vec<Value>>>,
    _server: Server,
}

impl Hook {
    fn start() -> Hook {
        let posts = Arc::new(Mutex::new(Vec::new()));
        let p = posts.clone();
        let handler = move |request: Request| {
            if let Some((_, token)) = request.head.query().split_once("validationToken=") {
                let decoded = percent_decode(token.split('&').next().unwrap_or_default());
                return Response::text(200, decoded);
            }
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            p.lock()
                .extend(body["value"].as_array().cloned().unwrap_or_default());
            Response::new(202)
        };
        let server = Server::start("127.0.0.1:0", ServerOptions::default(), Arc::new(handler))
            .expect("bind");
        Hook {
            url: format!("http://{}/hook", server.local_addr()),
            posts,
            _server: server,
        }
    }

    fn wait_where(&self, what: &str, pick: impl Fn(&Value) -> bool) -> Vec<Value> {
        wait_for(what, || {
            let found: Vec<Value> = self
                .posts
                .lock()
                .iter()
                .filter(|n| pick(n))
                .cloned()
                .collect();
            (!found.is_empty()).then_some(found)
        })
    }
}

fn subscribe(t: &SimTenant, token: &str, drive: &str, hook: &Hook, state: &str) -> String {
    let body = json!({
        "changeType": "updated",
        "notificationUrl": hook.url,
        "lifecycleNotificationUrl": hook.url,
        "resource": format!("/drives/{drive}/root"),
        "expirationDateTime": iso_in(3600),
        "clientState": state,
    });
    let req = agent()
        .post(&format!("{}/subscriptions", t.graph_url()))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/json");
    let r = send(req, Some(body.to_string().as_bytes())).expect("transport");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_string()
}

#[test]
fn notifications_carry_their_tenant_and_go_to_its_url() {
    // Lifecycle notifications are due at once: the lead exceeds the lifetime.
    let sim = sim(
        2,
        json!({ "notifications": { "lifecycle_lead_secs": 7200 } }),
    );
    let (t0, t1) = (sim.tenant(0).unwrap(), sim.tenant(1).unwrap());
    let (hook0, hook1) = (Hook::start(), Hook::start());
    let (d0, d1) = (drive_ids(&t0)[0].clone(), drive_ids(&t1)[0].clone());
    let sub0 = subscribe(&t0, &token(&t0), &d0, &hook0, "state-zero");
    let sub1 = subscribe(&t1, &token(&t1), &d1, &hook1, "state-one");
    // A subscription of tenant 0 cannot watch tenant 1's drive.
    let req = agent()
        .post(&format!("{}/subscriptions", t0.graph_url()))
        .set("Authorization", &format!("Bearer {}", token(&t0)))
        .set("Content-Type", "application/json");
    let foreign = json!({
        "changeType": "updated", "notificationUrl": hook0.url,
        "resource": format!("/drives/{d1}/root"), "expirationDateTime": iso_in(3600),
        "clientState": "x",
    });
    let r = send(req, Some(foreign.to_string().as_bytes())).expect("transport");
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));

    t1.create_item(&d1, "root", "one.txt", false, b"1").unwrap();
    t0.create_item(&d0, "root", "zero.txt", false, b"0")
        .unwrap();
    let is_change = |n: &Value| n["changeType"] == "updated";
    let changes0 = hook0.wait_where("tenant 0's change", is_change);
    let changes1 = hook1.wait_where("tenant 1's change", is_change);
    for (changes, t, sub, state) in [
        (&changes0, &t0, &sub0, "state-zero"),
        (&changes1, &t1, &sub1, "state-one"),
    ] {
        for n in changes {
            assert_eq!(n["tenantId"], t.tenant_id(), "{n}");
            assert_eq!(n["subscriptionId"], sub.as_str(), "{n}");
            assert_eq!(n["clientState"], state, "{n}");
        }
    }
    let is_lifecycle = |n: &Value| n["lifecycleEvent"] == "reauthorizationRequired";
    let life1 = hook1.wait_where("tenant 1's lifecycle notification", is_lifecycle);
    assert_eq!(life1[0]["tenantId"], t1.tenant_id());
    assert_eq!(life1[0]["subscriptionId"], sub1.as_str());
    let life0 = hook0.wait_where("tenant 0's lifecycle notification", is_lifecycle);
    assert_eq!(life0[0]["tenantId"], t0.tenant_id());

    let n1 = &t1.stats().notifications;
    assert_eq!(n1["subscriptions_active"], 1);
    let r = control(&sim, "POST", "/_sim/tenants/1/expire-subscriptions", None);
    assert_eq!(r.status, 204);
    assert_eq!(t1.stats().notifications["subscriptions_active"], 0);
    assert_eq!(t0.stats().notifications["subscriptions_active"], 1);
}

#[test]
fn the_control_api_serves_every_tenant_over_http() {
    let sim = sim(3, json!({}));
    let listing = control(&sim, "GET", "/_sim/tenants", None);
    assert_eq!(listing.status, 200);
    let listing = listing.json();
    let tenants = listing["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 3);
    for (k, t) in tenants.iter().enumerate() {
        let handle = sim.tenant(k as u32).unwrap();
        assert_eq!(t["index"], k);
        assert_eq!(t["tenant_id"], handle.tenant_id());
        assert_eq!(t["client_id"], handle.client_id());
        assert_eq!(t["client_secret"], handle.client_secret());
        assert_eq!(t["drives"], 3);
    }
    assert_eq!(listing["total"]["tenants"], 3);
    assert_eq!(listing["total"]["drives"], 9);

    let t1 = sim.tenant(1).unwrap();
    let d1 = drive_ids(&t1)[0].clone();
    let d0 = sim.drives()[0].id.clone();
    let drives = control(&sim, "GET", "/_sim/tenants/1/drives", None).json();
    let listed: Vec<&str> = drives
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, drive_ids(&t1));
    let new = json!({ "parent_id": "root", "name": "made-over-http.txt", "content": "x" });
    let path = format!("/_sim/tenants/1/drives/{d1}/items");
    let r = control(&sim, "POST", &path, Some(new.clone()));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert!(t1.snapshot(&d1).unwrap().iter().any(|i| i.id == id));
    // Tenant 1's control API does not reach tenant 0's drives, and the reverse.
    let r = control(
        &sim,
        "POST",
        &format!("/_sim/tenants/1/drives/{d0}/items"),
        Some(new.clone()),
    );
    assert_eq!(r.status, 404);
    let r = control(&sim, "POST", &format!("/_sim/drives/{d1}/items"), Some(new));
    assert_eq!(r.status, 404);
    let snap = control(
        &sim,
        "GET",
        &format!("/_sim/tenants/1/snapshot?drive={d1}"),
        None,
    );
    assert_eq!(snap.status, 200);
    let stats = control(&sim, "GET", "/_sim/tenants/1/stats", None).json();
    assert_eq!(
        stats["requests_by_route"]["POST /_sim/drives/{id}/items"],
        2
    );
    let stats0 = control(&sim, "GET", "/_sim/stats", None).json();
    assert_eq!(
        stats0["requests_by_route"]["POST /_sim/drives/{id}/items"],
        1
    );
    let r = control(
        &sim,
        "DELETE",
        &format!("/_sim/tenants/1/drives/{d1}/items/{id}"),
        None,
    );
    assert_eq!(r.status, 204);

    // Bad tenants: a clear 404 JSON error.
    for bad in ["3", "x", "-1", "1e3", "99999999999"] {
        let r = control(&sim, "GET", &format!("/_sim/tenants/{bad}/stats"), None);
        assert_eq!(r.status, 404, "tenant {bad}");
        let message = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains("0 to 2"), "{message}");
    }
    assert_eq!(control(&sim, "POST", "/_sim/tenants", None).status, 404);
}

#[test]
fn an_engine_mirrors_exactly_its_tenant() {
    let sim = sim(2, json!({}));
    let t1 = sim.tenant(1).unwrap();
    let work = Workdir::new();
    let config = t1.engine_config(json!({
        "database": work.db(),
        "workers": 2,
        "poll_interval_secs": 1,
        "http_timeout_secs": 5,
    }));
    assert_eq!(config["tenant_id"], t1.tenant_id());
    let engine =
        m365sync::Engine::open(m365sync::Config::from_json(&config.to_string()).expect("config"))
            .expect("open the engine");
    engine.start().expect("start the engine");
    let mirror = store(&work.db());
    let truth = |t: &SimTenant| -> BTreeSet<(String, String, String)> {
        drive_ids(t)
            .into_iter()
            .flat_map(|d| {
                t.snapshot(&d)
                    .unwrap()
                    .into_iter()
                    .map(move |i| (d.clone(), i.id, i.path))
            })
            .collect()
    };
    let mirrored = || -> BTreeSet<(String, String, String)> {
        mirror
            .drives()
            .unwrap()
            .into_iter()
            .flat_map(|d| {
                let items = mirror.items(&d.id).unwrap();
                items.into_iter().map(move |i| (d.id.clone(), i.id, i.path))
            })
            .collect()
    };
    let want = truth(&t1);
    wait_until("the mirror of tenant 1", || {
        all_synced(&mirror) && mirrored() == want
    });
    let drives: BTreeSet<String> = mirror.drives().unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(drives, drive_ids(&t1).into_iter().collect());
    assert!(
        truth(&sim.tenant(0).unwrap()).is_disjoint(&mirrored()),
        "nothing of tenant 0"
    );
    assert_eq!(sim.stats().ru_used, 0, "tenant 0 served no Graph request");
    assert!(t1.stats().ru_used > 0);
    engine.stop();
}

#[test]
fn the_cli_serves_several_tenants_and_refuses_none() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let exe = env!("CARGO_BIN_EXE_m365sync");
    let refused = Command::new(exe)
        .args(["sim", "--listen", "127.0.0.1:0", "--tenants", "0"])
        .output()
        .expect("run m365sync sim");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("sim.tenants"), "{stderr}");

    let mut child = Command::new(exe)
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--items",
            "10",
            "--tenants",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn m365sync sim");
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(12)
        .map(|l| l.unwrap())
        .collect();
    let url = lines[0].strip_prefix("listening on ").unwrap().to_string();
    let listing = send(agent().get(&format!("{url}/_sim/tenants")), None).unwrap();
    child.kill().expect("stop the child we started");
    let _ = child.wait();
    let listing = listing.json();
    for t in listing["tenants"].as_array().unwrap() {
        let (id, secret) = (
            t["tenant_id"].as_str().unwrap(),
            t["client_secret"].as_str().unwrap(),
        );
        assert!(
            lines.iter().any(|l| l.contains(id) && l.contains(secret)),
            "{id} and its secret are printed: {lines:?}"
        );
    }
}
