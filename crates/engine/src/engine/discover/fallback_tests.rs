//! Enumeration against a scripted Graph: a tenant without `/sites/delta` is listed
//! with `/sites` pages instead, and a site whose libraries cannot be read is
//! reported, not taken for empty.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use m365sync_http::{Request, Response, Server, ServerOptions};
use serde_json::json;

use super::{FeedState, Feeds, GroupsFeed, Listing, Pager, SitesFeed, enumerate};
use crate::config::Config;
use crate::graph::{GraphClient, ThrottleGate};

/// A fake Graph on 127.0.0.1 that answers from a fixed table and counts requests by path.
struct FakeGraph {
    _server: Server,
    url: String,
    hits: Arc<Mutex<BTreeMap<String, u32>>>,
}

fn answer(path: &str, base: &str) -> (u16, String) {
    let drives = |id: &str| json!({"value": [{"id": id, "name": "Documents", "driveType": "documentLibrary"}]});
    let body = match path {
        "/t/oauth2/v2.0/token" => {
            json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "tok"})
        }
        "/v1.0/sites/delta" => {
            return (
                400,
                json!({"error": {"code": "invalidRequest", "message": "delta is not supported"}})
                    .to_string(),
            );
        }
        "/v1.0/sites" => json!({
            "value": [{"id": "h,1,1", "webUrl": "https://h/sites/a"}],
            "@odata.nextLink": format!("{base}/v1.0/sites/page2"),
        }),
        "/v1.0/sites/page2" => json!({"value": [
            {"id": "h,2,2", "webUrl": "https://h/sites/b"},
            {"id": "h,3,3", "webUrl": "https://h/sites/c"},
        ]}),
        "/v1.0/sites/h,1,1/drives" => drives("b!a"),
        "/v1.0/sites/h,2,2/drives" => drives("b!b"),
        "/v1.0/sites/h,3,3/drives" => {
            return (
                403,
                json!({"error": {"code": "accessDenied", "message": "no"}}).to_string(),
            );
        }
        _ => return (404, json!({"error": {"code": "itemNotFound"}}).to_string()),
    };
    (200, body.to_string())
}

impl FakeGraph {
    fn start() -> FakeGraph {
        // The links in the answers need the server's own URL, known once it is bound.
        let base = Arc::new(OnceLock::<String>::new());
        let hits = Arc::new(Mutex::new(BTreeMap::new()));
        let (h, b) = (hits.clone(), base.clone());
        let handler = move |req: Request| {
            let path = req.head.path().to_string();
            *h.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
            let (status, body) = answer(&path, b.get().map_or("", String::as_str));
            Response::new(status)
                .with_header("Content-Type", "application/json")
                .with_body(body.into_bytes())
        };
        let server = Server::start("127.0.0.1:0", ServerOptions::default(), Arc::new(handler))
            .expect("bind");
        let url = format!("http://{}", server.local_addr());
        base.set(url.clone()).expect("set once");
        FakeGraph {
            _server: server,
            url,
            hits,
        }
    }

    fn hits(&self, path: &str) -> u32 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

#[test]
fn without_sites_delta_sites_are_listed_page_by_page_every_round() {
    let fake = FakeGraph::start();
    let config = Config::from_json(
        &json!({
            "tenant_id": "t", "client_id": "c", "client_secret": "s", "database": "unused.db",
            "graph_url": format!("{}/v1.0", fake.url), "login_url": fake.url,
            "http_timeout_secs": 30, "throttle": {"max_attempts": 1},
            "scope": {"all_sites": true}
        })
        .to_string(),
    )
    .unwrap();
    let client = GraphClient::new(&config, Arc::new(ThrottleGate::new(&config.throttle))).unwrap();
    let stopping = AtomicBool::new(false);
    let pager = Pager {
        client: &client,
        page_size: 1,
        stopping: &stopping,
    };
    let mut feeds = Feeds {
        sites: SitesFeed::delta(),
        groups: GroupsFeed::resume(FeedState::default()),
    };
    for _ in 0..2 {
        let inv = enumerate(&pager, &config.scope, &mut feeds).unwrap();
        assert_eq!(inv.sites, Listing::Complete);
        let listed: Vec<(&str, Listing)> = inv
            .site_list
            .iter()
            .map(|s| (s.site.id.as_str(), s.drives))
            .collect();
        assert_eq!(
            listed,
            [
                ("h,1,1", Listing::Complete),
                ("h,2,2", Listing::Complete),
                ("h,3,3", Listing::Failed)
            ]
        );
        let ids: Vec<&str> = inv.drives.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["b!a", "b!b"]);
        assert_eq!(inv.problems.len(), 1);
        assert!(inv.problems[0].contains("h,3,3"), "{:?}", inv.problems);
    }
    assert_eq!(fake.hits("/v1.0/sites/delta"), 1, "asked once, then listed");
    assert_eq!(fake.hits("/v1.0/sites"), 2);
    assert_eq!(fake.hits("/v1.0/sites/page2"), 2);
}
