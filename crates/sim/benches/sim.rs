//! Simulator benchmark: generating a 1,000,000-item drive, its memory, and serving a
//! full enumeration at `$top=1000` with a typical `$select`.
//!
//! Run with `cargo bench --bench sim` (set `SIM_BENCH_ITEMS` for another size).
//! Targets: generation <= 5 s, enumeration <= 3 s of simulator CPU, < 1 KB per item.

use std::io::Read;
use std::time::{Duration, Instant};

use m365sync_sim::request::SimRequest;
use m365sync_sim::{Outcome, SimConfig, Simulator};

const SELECT: &str =
    "id,name,parentReference,eTag,cTag,size,file,folder,deleted,lastModifiedDateTime";

/// Resident set size of this process, in bytes (Linux; 0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn serve(sim: &Simulator, req: &SimRequest) -> Vec<u8> {
    match sim.serve(req) {
        Outcome::Reply(r) if r.status < 300 => r.body,
        Outcome::Reply(r) => panic!("status {}: {}", r.status, String::from_utf8_lossy(&r.body)),
        Outcome::Reset => panic!("reset"),
    }
}

/// The value of a top-level string field near the end of a page (the links).
fn link(body: &[u8], key: &str) -> Option<String> {
    let tail = &body[body.len().saturating_sub(2048)..];
    let text = String::from_utf8_lossy(tail);
    let start = text.find(&format!("\"{key}\":\""))? + key.len() + 4;
    Some(text[start..].split('"').next()?.to_string())
}

fn request_for(url: &str, token: &str) -> SimRequest {
    let rest = url.split_once("/v1.0").map_or(url, |(_, r)| r);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    SimRequest {
        method: "GET".into(),
        path: format!("/v1.0{path}"),
        query: query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        headers: vec![("Authorization".into(), format!("Bearer {token}"))],
        body: Vec::new(),
    }
}

fn main() {
    let items: u64 = std::env::var("SIM_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let config = SimConfig {
        sites: 1,
        libraries_per_site: 1,
        users: 0,
        users_without_drive: 0,
        items,
        depth: 6,
        seed: 42,
        ..SimConfig::default()
    };
    let rss0 = rss_bytes();
    let t0 = Instant::now();
    let sim = Simulator::start(config).expect("start");
    let generation = t0.elapsed();
    let rss1 = rss_bytes();
    println!("generate {items} items: {:.2} s", generation.as_secs_f64());
    println!(
        "memory: {:.0} MB resident for the tenant, {:.0} B per item",
        (rss1 - rss0) as f64 / 1e6,
        (rss1 - rss0) as f64 / items as f64
    );

    let form = format!(
        "client_id={}&client_secret={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&grant_type=client_credentials",
        sim.client_id(),
        sim.client_secret()
    );
    let token_req = SimRequest {
        method: "POST".into(),
        path: format!("/{}/oauth2/v2.0/token", sim.tenant_id()),
        body: form.into_bytes(),
        ..SimRequest::default()
    };
    let token_json: serde_json::Value = serde_json::from_slice(&serve(&sim, &token_req)).unwrap();
    let token = token_json["access_token"].as_str().unwrap().to_string();

    let drive = sim.drives()[0].id.clone();
    let mut url = format!(
        "{}/drives/{drive}/root/delta?$top=1000&$select={SELECT}",
        sim.graph_url()
    );
    let (mut pages, mut bytes, mut served) = (0u64, 0u64, Duration::ZERO);
    loop {
        let req = request_for(&url, &token);
        let t = Instant::now();
        let body = serve(&sim, &req);
        served += t.elapsed();
        pages += 1;
        bytes += body.len() as u64;
        match link(&body, "@odata.nextLink") {
            Some(next) => url = next,
            None => {
                assert!(
                    link(&body, "@odata.deltaLink").is_some(),
                    "last page has a deltaLink"
                );
                break;
            }
        }
    }
    println!(
        "full enumeration in-process: {pages} pages, {:.0} MB JSON, {:.2} s simulator CPU ({:.2} ms/page)",
        bytes as f64 / 1e6,
        served.as_secs_f64(),
        served.as_secs_f64() * 1000.0 / pages as f64
    );

    // The same over HTTP (wall clock, client reads the bytes without parsing).
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build();
    let mut url = format!(
        "{}/drives/{drive}/root/delta?$top=1000&$select={SELECT}",
        sim.graph_url()
    );
    let t = Instant::now();
    let mut http_pages = 0;
    loop {
        let resp = agent
            .get(&url)
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .expect("page");
        let mut body = Vec::new();
        resp.into_reader().read_to_end(&mut body).expect("body");
        http_pages += 1;
        match link(&body, "@odata.nextLink") {
            Some(next) => url = next,
            None => break,
        }
    }
    println!(
        "full enumeration over HTTP: {http_pages} pages in {:.2} s wall",
        t.elapsed().as_secs_f64()
    );
    sim.shutdown();
}
