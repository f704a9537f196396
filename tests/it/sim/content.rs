//! The content host: downloads on their own origin with the hash Graph reports, ranges,
//! conditional requests, URL expiry, items without content, faults, budgets, counters.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::sim::{Client, Reply, agent, control, send, small_config};
use m365sync_sim::{
    Faults, ItemPatch, RuCosts, SimConfig, Simulator, SnapshotItem, ThrottleConfig, quick_xor_hash,
};
use serde_json::{Value, json};

/// The route label of downloads in the stats.
const DOWNLOADS: &str = "GET /_layouts/15/download.aspx";

struct Tenant {
    sim: Simulator,
    client: Client,
    drive: String,
}

impl Tenant {
    fn start(config: SimConfig) -> Tenant {
        let sim = Simulator::start(config).unwrap();
        let client = Client::new(&sim);
        let drive = sim.drives()[0].id.clone();
        Tenant { sim, client, drive }
    }

    fn item_url(&self, drive: &str, id: &str) -> String {
        format!("{}/drives/{drive}/items/{id}", self.sim.graph_url())
    }

    /// `GET .../content` (with the bearer token) and extra headers.
    fn content(&self, drive: &str, id: &str, query: &str, headers: &[(&str, &str)]) -> Reply {
        let url = format!("{}/content{query}", self.item_url(drive, id));
        self.client.get_with(&url, headers)
    }

    /// The download URL `/content` redirects to.
    fn location(&self, drive: &str, id: &str) -> String {
        let r = self.content(drive, id, "", &[]);
        assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
        r.header("Location").unwrap().to_string()
    }

    /// Every live item of every drive, with its drive.
    fn items(&self) -> Vec<(String, SnapshotItem)> {
        self.sim
            .drives()
            .into_iter()
            .flat_map(|d| {
                let items = self.sim.snapshot(&d.id).unwrap();
                items.into_iter().map(move |i| (d.id.clone(), i))
            })
            .collect()
    }

    fn of_kind(&self, kind: &str) -> (String, SnapshotItem) {
        self.items()
            .into_iter()
            .find(|(_, i)| i.kind == kind)
            .unwrap_or_else(|| panic!("the tenant has no {kind} item"))
    }
}

/// A GET without a token.
fn download(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    send(req, None).expect("transport")
}

/// A GET read until the connection ends, so that a body cut short is seen as it came:
/// the head (status line and header fields) and the body bytes.
fn raw_get(url: &str, range: Option<&str>) -> (String, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, target) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let range = range.map_or(String::new(), |r| format!("Range: {r}\r\n"));
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\n{range}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    // A reset ends the read with an error: what came before it is the answer.
    let _ = stream.read_to_end(&mut bytes);
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    (head, bytes[split + 4..].to_vec())
}

fn head_field<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn hash_in(item: &Value) -> &str {
    item["file"]["hashes"]["quickXorHash"].as_str().unwrap()
}

#[test]
fn downloads_come_from_the_content_host_with_the_hash_graph_reports() {
    let t = Tenant::start(SimConfig {
        items: 300,
        ..small_config()
    });
    assert_ne!(t.sim.content_url(), t.sim.url());
    assert!(t.sim.content_url().starts_with("http://127.0.0.1:"));
    let pattern: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let stored = t
        .sim
        .create_item(&t.drive, "root", "pattern.bin", false, &pattern)
        .unwrap();
    // Over three blocks of the generator and a few bytes.
    let sized = t
        .sim
        .create_file_sized(&t.drive, "root", "sized.bin", 3 * 163_840 + 17)
        .unwrap();
    let snapshot = t.sim.snapshot(&t.drive).unwrap();
    let mut files: Vec<&SnapshotItem> = snapshot.iter().filter(|i| i.kind == "file").collect();
    files.sort_by_key(|i| i.size);
    files.dedup_by_key(|i| i.size);
    let picked = [files[0], files[files.len() / 2], files[files.len() - 1]];
    let select = "$select=id,file,eTag,cTag,size,@microsoft.graph.downloadUrl";
    let (feed, _, _) = t.client.delta_all(
        &format!(
            "{}/drives/{}/root/delta?{select}",
            t.sim.graph_url(),
            t.drive
        ),
        &[],
    );
    for item in picked.into_iter().chain([&stored, &sized]) {
        let location = t.location(&t.drive, &item.id);
        assert!(
            location.starts_with(&format!(
                "{}/_layouts/15/download.aspx?UniqueId={}&driveId=",
                t.sim.content_url(),
                item.id
            )),
            "{location}"
        );
        assert!(location.contains("&tempauth="), "{location}");
        // Pre-authenticated: no Authorization header.
        let r = download(&location, &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len() as u64, item.size, "{}", item.path);
        assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
        assert_eq!(r.header("ETag"), Some(item.etag.as_str()));
        assert_eq!(r.header("CTag"), item.ctag.as_deref());
        let hash = quick_xor_hash(&r.body);
        assert_eq!(Some(&hash), item.quick_xor_hash.as_ref(), "{}", item.path);
        let got = t.client.get(&t.item_url(&t.drive, &item.id));
        assert_eq!(hash_in(&got.json()), hash);
        let entry = feed
            .iter()
            .find(|e| e["id"] == item.id.as_str())
            .expect("every file is in the enumeration");
        assert_eq!(hash_in(entry), hash);
        let url = entry["@microsoft.graph.downloadUrl"].as_str().unwrap();
        assert_eq!(download(url, &[]).body, r.body);
        assert_eq!(
            t.sim.read_content(&t.drive, &item.id, 0, u64::MAX).unwrap(),
            r.body
        );
    }
    assert_eq!(
        download(&t.location(&t.drive, &stored.id), &[]).body,
        pattern
    );
    // Item GET gives the URL when it is selected, only then, and only for files.
    let url = |id: &str, query: &str| {
        t.client
            .get(&format!("{}{query}", t.item_url(&t.drive, id)))
            .json()["@microsoft.graph.downloadUrl"]
            .clone()
    };
    let selected = url(&stored.id, "?$select=id,name,@microsoft.graph.downloadUrl");
    assert_eq!(download(selected.as_str().unwrap(), &[]).body, pattern);
    assert!(url(&stored.id, "").is_null());
    let root = t.sim.root_id(&t.drive).unwrap();
    assert!(url(&root, "?$select=id,@microsoft.graph.downloadUrl").is_null());
    let folders = feed.iter().filter(|e| e.get("file").is_none());
    assert!(folders.clone().count() > 0);
    assert!(
        folders
            .into_iter()
            .all(|e| e.get("@microsoft.graph.downloadUrl").is_none())
    );
}

#[test]
fn ranges_and_conditional_requests() {
    let t = Tenant::start(small_config());
    let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let f = t
        .sim
        .create_item(&t.drive, "root", "data.bin", false, &body)
        .unwrap();
    let location = t.location(&t.drive, &f.id);
    let part = download(&location, &[("Range", "bytes=10-19")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.header("Content-Range"), Some("bytes 10-19/1000"));
    assert_eq!(part.header("Content-Length"), Some("10"));
    assert_eq!(part.header("ETag"), Some(f.etag.as_str()));
    assert_eq!(part.body, body[10..20].to_vec());
    let tail = download(&location, &[("Range", "bytes=-5")]);
    assert_eq!(tail.header("Content-Range"), Some("bytes 995-999/1000"));
    assert_eq!(tail.body, body[995..].to_vec());
    let from = download(&location, &[("Range", "bytes=990-")]);
    assert_eq!(from.body, body[990..].to_vec());
    let past = download(&location, &[("Range", "bytes=5000-")]);
    assert_eq!(past.status, 416);
    assert_eq!(past.header("Content-Range"), Some("bytes */1000"));
    let several = download(&location, &[("Range", "bytes=0-1,5-6")]);
    assert_eq!((several.status, several.body.len()), (200, 1000));

    // If-None-Match with the current eTag or cTag: 304, on /content and on the URL.
    let ctag = f.ctag.clone().unwrap();
    for tag in [f.etag.as_str(), ctag.as_str()] {
        let r = download(&location, &[("If-None-Match", tag)]);
        assert_eq!(r.status, 304, "{tag}");
        assert!(r.body.is_empty());
        let r = t.content(&t.drive, &f.id, "", &[("If-None-Match", tag)]);
        assert_eq!(r.status, 304, "{tag}");
        assert!(r.header("Location").is_none());
    }
    let stale = download(&location, &[("If-None-Match", "\"{0},1\"")]);
    assert_eq!(stale.status, 200);

    // A file of 2 GiB is served a range at a time without being held anywhere.
    let big = t
        .sim
        .create_file_sized(&t.drive, "root", "big.iso", 1 << 31)
        .unwrap();
    let location = t.location(&t.drive, &big.id);
    let end = download(&location, &[("Range", "bytes=-100")]);
    assert_eq!(end.status, 206);
    assert_eq!(
        end.header("Content-Range"),
        Some("bytes 2147483548-2147483647/2147483648")
    );
    let truth = t
        .sim
        .read_content(&t.drive, &big.id, (1 << 31) - 100, 100)
        .unwrap();
    assert_eq!(end.body, truth);
    let (head, _) = raw_get(&location, Some("bytes=0-0"));
    assert_eq!(head_field(&head, "Content-Length"), Some("1"));
}

#[test]
fn download_urls_expire_and_serve_the_current_content() {
    let t = Tenant::start(small_config());
    let f = t
        .sim
        .create_item(&t.drive, "root", "a.txt", false, b"first")
        .unwrap();
    let location = t.location(&t.drive, &f.id);
    assert_eq!(download(&location, &[]).body, b"first");
    // An edit after the URL was issued: the URL serves the new bytes.
    let edited = t
        .sim
        .update_item(
            &t.drive,
            &f.id,
            ItemPatch {
                content: Some(b"second".to_vec()),
                ..ItemPatch::default()
            },
        )
        .unwrap();
    let r = download(&location, &[]);
    assert_eq!(r.body, b"second");
    assert_eq!(Some(quick_xor_hash(&r.body)), edited.quick_xor_hash);

    t.sim.expire_download_urls();
    let expired = download(&location, &[]);
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["error"]["code"], "unauthenticated");
    assert_eq!(
        expired.json()["error"]["message"],
        "The download URL has expired"
    );
    let fresh = t.location(&t.drive, &f.id);
    assert_eq!(download(&fresh, &[]).status, 200);
    assert_eq!(
        control(&t.sim, "POST", "/_sim/expire-download-urls", None).status,
        204
    );
    assert_eq!(download(&fresh, &[]).status, 401);

    let fresh = t.location(&t.drive, &f.id);
    let other = t
        .sim
        .create_item(&t.drive, "root", "b.txt", false, b"other")
        .unwrap();
    let forged = fresh.replace(&f.id, &other.id);
    assert_eq!(download(&forged, &[]).status, 401);
    let tampered = format!("{}0", fresh);
    let refused = download(&tampered, &[]);
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.json()["error"]["message"],
        "The download URL is not valid"
    );
    let bare = fresh.split("&tempauth").next().unwrap();
    assert_eq!(download(bare, &[]).status, 401);
    let elsewhere = format!("{}/_layouts/15/other.aspx", t.sim.content_url());
    assert_eq!(download(&elsewhere, &[]).status, 404);
    t.sim.delete_item(&t.drive, &f.id).unwrap();
    assert_eq!(download(&fresh, &[]).status, 404);
}

#[test]
fn sized_edits_give_new_bytes_and_hashes_without_storing_them() {
    let t = Tenant::start(small_config());
    let created = control(
        &t.sim,
        "POST",
        &format!("/_sim/drives/{}/items", t.drive),
        Some(json!({ "parent_id": "root", "name": "video.mp4", "size": 5_000_000 })),
    );
    assert_eq!(created.status, 201);
    let created = created.json();
    assert_eq!(
        (created["size"].as_u64(), &created["kind"]),
        (Some(5_000_000), &json!("file"))
    );
    let id = created["id"].as_str().unwrap().to_string();
    let r = download(&t.location(&t.drive, &id), &[]);
    assert_eq!(r.body.len(), 5_000_000);
    assert_eq!(created["quick_xor_hash"], quick_xor_hash(&r.body).as_str());
    let patched = control(
        &t.sim,
        "PATCH",
        &format!("/_sim/drives/{}/items/{id}", t.drive),
        Some(json!({ "size": 5_000_000 })),
    )
    .json();
    assert_ne!(patched["ctag"], created["ctag"]);
    assert_ne!(patched["etag"], created["etag"]);
    assert_ne!(patched["quick_xor_hash"], created["quick_xor_hash"]);
    let again = download(&t.location(&t.drive, &id), &[]);
    assert_ne!(again.body, r.body);
    assert_eq!(
        patched["quick_xor_hash"],
        quick_xor_hash(&again.body).as_str()
    );
    let both = control(
        &t.sim,
        "PATCH",
        &format!("/_sim/drives/{}/items/{id}", t.drive),
        Some(json!({ "size": 5, "content": "x" })),
    );
    assert_eq!(both.status, 400);
    let smaller = t
        .sim
        .update_item(
            &t.drive,
            &id,
            ItemPatch {
                size: Some(10),
                ..ItemPatch::default()
            },
        )
        .unwrap();
    assert_eq!(smaller.size, 10);
    assert_eq!(download(&t.location(&t.drive, &id), &[]).body.len(), 10);
}

#[test]
fn items_without_content_malware_notebooks_shortcuts_and_folders() {
    let t = Tenant::start(SimConfig {
        items: 3000,
        ..small_config()
    });
    let (drive, malware) = t.of_kind("malware");
    let refused = t.content(&drive, &malware.id, "", &[]);
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["error"]["code"], "malwareDetected");
    let allowed = t.content(&drive, &malware.id, "?AVOverride=1", &[]);
    assert_eq!(allowed.status, 302);
    let r = download(allowed.header("Location").unwrap(), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(Some(quick_xor_hash(&r.body)), malware.quick_xor_hash);
    let selected = t
        .client
        .get(&format!(
            "{}?$select=id,@microsoft.graph.downloadUrl",
            t.item_url(&drive, &malware.id)
        ))
        .json();
    assert!(selected.get("@microsoft.graph.downloadUrl").is_none());

    for kind in ["package", "remote"] {
        let (drive, item) = t.of_kind(kind);
        assert_eq!(item.quick_xor_hash, None, "{kind}");
        let r = t.content(&drive, &item.id, "", &[]);
        assert_eq!(r.status, 404, "{kind}");
        assert_eq!(r.json()["error"]["code"], "itemNotFound");
        let message = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains("no content stream"), "{message}");
        assert!(t.sim.read_content(&drive, &item.id, 0, 1).is_err());
    }
    let (drive, folder) = t.of_kind("folder");
    assert_eq!(t.content(&drive, &folder.id, "", &[]).status, 400);
    assert_eq!(folder.quick_xor_hash, None);
}

#[test]
fn download_faults_cut_stretch_and_misplace_bodies() {
    let t = Tenant::start(small_config());
    let f = t
        .sim
        .create_file_sized(&t.drive, "root", "f.bin", 300_000)
        .unwrap();
    let truth = t.sim.read_content(&t.drive, &f.id, 0, 300_000).unwrap();
    let location = t.location(&t.drive, &f.id);
    let set = |faults: Faults| t.sim.set_faults(faults).unwrap();

    for (reset, faults) in [
        (
            true,
            Faults {
                download_reset_rate: 1.0,
                ..Faults::default()
            },
        ),
        (
            false,
            Faults {
                download_truncate_rate: 1.0,
                ..Faults::default()
            },
        ),
    ] {
        set(faults);
        let resets = t.sim.stats().resets_injected;
        let (head, body) = raw_get(&location, None);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(head_field(&head, "Content-Length"), Some("300000"));
        assert!(body.len() < 300_000, "{}", body.len());
        assert_eq!(body, truth[..body.len()].to_vec());
        assert_eq!(t.sim.stats().resets_injected, resets + u64::from(reset));
    }

    set(Faults {
        download_overrun_rate: 1.0,
        ..Faults::default()
    });
    let (head, body) = raw_get(&location, Some("bytes=0-99"));
    assert_eq!(
        head_field(&head, "Content-Range"),
        Some("bytes 0-99/300000")
    );
    let announced: usize = head_field(&head, "Content-Length")
        .unwrap()
        .parse()
        .unwrap();
    assert!((101..=1124).contains(&announced), "{announced}");
    assert_eq!(body.len(), announced);
    assert_eq!(body[..100], truth[..100]);

    set(Faults {
        download_wrong_range_rate: 1.0,
        ..Faults::default()
    });
    let moved = download(&location, &[("Range", "bytes=1000-1999")]);
    assert_eq!(moved.status, 206);
    assert_eq!(moved.header("Content-Range"), Some("bytes 0-999/300000"));
    assert_eq!(moved.body, truth[..1000].to_vec());
    let moved = download(&location, &[("Range", "bytes=0-9")]);
    assert_eq!(moved.header("Content-Range"), Some("bytes 1-10/300000"));
    assert_eq!(moved.body, truth[1..11].to_vec());
    assert_eq!(
        download(&location, &[]).body,
        truth,
        "no range, nothing to move"
    );

    set(Faults {
        error_503_rate: 1.0,
        ..Faults::default()
    });
    let unavailable = download(&location, &[]);
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.header("Retry-After"), Some("1"));
    set(Faults {
        reset_rate: 1.0,
        ..Faults::default()
    });
    assert!(send(agent().get(&location), None).is_err(), "reset");

    // The control API takes the download knobs and checks them.
    let faults = |body: Value| control(&t.sim, "POST", "/_sim/faults", Some(body)).status;
    assert_eq!(
        faults(json!({ "download_truncate_rate": 1.0, "seed": 3 })),
        204
    );
    let (_, body) = raw_get(&location, None);
    assert!(body.len() < 300_000);
    assert_eq!(faults(json!({ "download_truncate_rate": 2.0 })), 400);
    assert_eq!(
        faults(json!({ "download_reset_rate": 0.6, "download_overrun_rate": 0.6 })),
        400
    );
    assert_eq!(faults(json!({ "download_everything": 1.0 })), 400);
    assert_eq!(faults(json!({})), 204);
    assert_eq!(download(&location, &[]).body, truth);
}

#[test]
fn downloads_are_counted_charged_and_never_need_the_token() {
    let t = Tenant::start(SimConfig {
        throttle: ThrottleConfig {
            costs: RuCosts {
                download: 3,
                ..RuCosts::default()
            },
            ..ThrottleConfig::default()
        },
        ..small_config()
    });
    let f = t
        .sim
        .create_file_sized(&t.drive, "root", "f.bin", 100_000)
        .unwrap();
    let location = t.location(&t.drive, &f.id);
    let before = t.sim.stats();
    assert_eq!(download(&location, &[]).body.len(), 100_000);
    assert_eq!(
        download(&location, &[("Range", "bytes=0-999")]).body.len(),
        1000
    );
    let bearer = format!("Bearer {}", t.client.token);
    assert_eq!(
        download(&location, &[("Authorization", &bearer)]).status,
        200
    );
    let after = t.sim.stats();
    assert_eq!(after.download_requests - before.download_requests, 3);
    assert_eq!(after.download_bytes - before.download_bytes, 201_000);
    assert_eq!(after.ru_used - before.ru_used, 9);
    assert_eq!(after.download_requests_with_authorization, 1);
    assert_eq!(
        after.requests_by_route[DOWNLOADS] - before.requests_by_route.get(DOWNLOADS).unwrap_or(&0),
        3
    );
    assert_eq!(after.downloads_throttled, 0);
    let stats = control(&t.sim, "GET", "/_sim/stats", None).json();
    assert_eq!(stats["download_bytes"], after.download_bytes);
    assert_eq!(stats["download_requests_with_authorization"], 1);
}

#[test]
fn budgets_and_storms_throttle_downloads() {
    let t = Tenant::start(SimConfig {
        throttle: ThrottleConfig {
            egress_bytes_per_hour: 1000,
            retry_after_secs: 30,
            ..ThrottleConfig::default()
        },
        ..small_config()
    });
    let f = t
        .sim
        .create_item(&t.drive, "root", "f.bin", false, &[1; 600])
        .unwrap();
    let location = t.location(&t.drive, &f.id);
    assert_eq!(download(&location, &[]).status, 200);
    assert_eq!(download(&location, &[]).status, 200);
    let throttled = download(&location, &[]);
    assert_eq!(throttled.status, 429);
    let retry: u64 = throttled.header("Retry-After").unwrap().parse().unwrap();
    assert!((3500..=3600).contains(&retry), "{retry}");
    assert_eq!(
        throttled.json()["error"]["innerError"]["code"],
        "throttledRequest"
    );
    assert_eq!(t.sim.stats().downloads_throttled, 1);
    // Graph is not limited by the content host's egress.
    assert_eq!(t.content(&t.drive, &f.id, "", &[]).status, 302);

    let t = Tenant::start(SimConfig {
        throttle: ThrottleConfig {
            retry_after_secs: 30,
            ..ThrottleConfig::default()
        },
        ..small_config()
    });
    let location = t.location(&t.drive, &t.of_kind("file").1.id);
    t.sim.throttle_storm(Duration::from_secs(60));
    let stormed = download(&location, &[]);
    assert_eq!(stormed.status, 429);
    assert_eq!(stormed.header("Retry-After"), Some("30"));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(download(&location, &[]).status, 429);
    let stats = t.sim.stats();
    assert_eq!((stats.downloads_throttled, stats.violations), (2, 1));

    let t = Tenant::start(SimConfig {
        throttle: ThrottleConfig {
            ru_per_minute: 4,
            retry_after_secs: 30,
            ..ThrottleConfig::default()
        },
        ..small_config()
    });
    // One budget for Graph and the content host: the redirect costs 1, each download 1.
    let location = t.location(&t.drive, &t.of_kind("file").1.id);
    let statuses: Vec<u16> = (0..4).map(|_| download(&location, &[]).status).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(t.sim.stats().downloads_throttled, 1);
}
