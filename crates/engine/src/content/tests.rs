//! Downloads against two scripted servers: Graph, and a download host on another origin.

use base64::Engine as _;

use crate::content::fetch::{Request, fetch};
use crate::content::sink::{FileSink, WriterSink, partial_path};
use crate::content::{Download, SkipReason};
use crate::error::Error;
use crate::graph::GraphClient;
use crate::graph::script_server::{Canned, ScriptServer};

/// Two scripted servers and a client whose Graph is the first.
struct Rig {
    graph: ScriptServer,
    host: ScriptServer,
    client: GraphClient,
    dir: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        let graph = ScriptServer::start();
        let host = ScriptServer::start();
        let client = graph.client(4);
        Rig {
            graph,
            host,
            client,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Queues item metadata on Graph: a file of `bytes` with cTag `ctag`.
    fn metadata(&self, bytes: &[u8], ctag: &str) {
        self.graph
            .push(Canned::json(200, &file_json(bytes, ctag, &self.url())));
    }

    /// Downloads the item into `f.bin`, which must then hold `bytes`.
    fn assert_downloads(&self, bytes: &[u8]) {
        let dest = self.dir.path().join("f.bin");
        let got = self.fetch(None, &dest).unwrap();
        assert!(matches!(got, Download::Downloaded { .. }), "{got:?}");
        assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    }

    fn url(&self) -> String {
        format!("{}/dl?tempauth=abc", self.host.url)
    }

    fn fetch(&self, last_ctag: Option<&str>, dest: &std::path::Path) -> crate::Result<Download> {
        let mut sink = FileSink::new(dest)?;
        let req = Request {
            drive_id: "d",
            item_id: "F",
            last_ctag,
        };
        fetch(&self.client, &req, &mut sink)
    }
}

fn quick_xor(bytes: &[u8]) -> String {
    let mut h = quickxorhash::QuickXorHash::new();
    h.update(bytes);
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

fn file_json(bytes: &[u8], ctag: &str, url: &str) -> String {
    serde_json::json!({
        "id": "F", "name": "f.bin", "size": bytes.len(), "cTag": ctag,
        "file": { "hashes": { "quickXorHash": quick_xor(bytes) } },
        "@microsoft.graph.downloadUrl": url,
    })
    .to_string()
}

/// An answer whose head announces `announced` body bytes but carries `body`.
fn raw(status: u16, extra: &str, announced: usize, body: &[u8]) -> Canned {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {announced}\r\nConnection: close\r\n{extra}\r\n"
    )
    .into_bytes();
    out.extend_from_slice(body);
    Canned::Raw(out)
}

/// A 206 with every byte of `bytes` from `from` on.
fn rest_from(bytes: &[u8], from: usize) -> Canned {
    let range = format!(
        "Content-Range: bytes {from}-{}/{}\r\n",
        bytes.len() - 1,
        bytes.len()
    );
    raw(206, &range, bytes.len() - from, &bytes[from..])
}

fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn a_truncated_body_resumes_with_range_and_the_token_never_leaves_graph() {
    let rig = Rig::new();
    let bytes = content(5000);
    rig.metadata(&bytes, "c1");
    rig.host.push(raw(200, "", 5000, &bytes[..1200]));
    rig.host.push(rest_from(&bytes, 1200));
    let dest = rig.dir.path().join("f.bin");
    let got = rig.fetch(None, &dest).unwrap();
    assert_eq!(
        got,
        Download::Downloaded {
            bytes: 5000,
            hash: quick_xor(&bytes),
            ctag: "c1".into()
        }
    );
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    assert!(!partial_path(&dest).exists());
    let asked = rig.host.requests();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[0].header("Range"), None);
    assert_eq!(asked[1].header("Range"), Some("bytes=1200-"));
    assert!(asked.iter().all(|r| r.header("Authorization").is_none()));
    assert!(
        rig.graph.graph_requests()[0]
            .header("Authorization")
            .is_some()
    );
    assert!(
        rig.graph.graph_requests()[0]
            .path
            .contains("%40microsoft.graph.downloadUrl")
            || rig.graph.graph_requests()[0]
                .path
                .contains("@microsoft.graph.downloadUrl")
    );
}

#[test]
fn an_expired_url_is_replaced_and_the_download_resumes() {
    let rig = Rig::new();
    let bytes = content(3000);
    rig.metadata(&bytes, "c1");
    rig.host.push(raw(200, "", 3000, &bytes[..1000]));
    rig.host
        .push(Canned::json(401, r#"{"error":{"code":"unauthenticated"}}"#));
    rig.metadata(&bytes, "c1");
    rig.host.push(rest_from(&bytes, 1000));
    let dest = rig.dir.path().join("f.bin");
    assert!(matches!(
        rig.fetch(None, &dest).unwrap(),
        Download::Downloaded { bytes: 3000, .. }
    ));
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    assert_eq!(rig.graph.graph_requests().len(), 2, "one fresh URL");
}

#[test]
fn a_partial_file_left_by_an_earlier_process_is_resumed() {
    let rig = Rig::new();
    let bytes = content(4000);
    let dest = rig.dir.path().join("f.bin");
    std::fs::write(partial_path(&dest), &bytes[..2500]).unwrap();
    rig.metadata(&bytes, "c1");
    rig.host.push(rest_from(&bytes, 2500));
    assert!(matches!(
        rig.fetch(None, &dest).unwrap(),
        Download::Downloaded { .. }
    ));
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    assert_eq!(rig.host.requests()[0].header("Range"), Some("bytes=2500-"));
}

#[test]
fn a_second_hash_mismatch_fails_with_both_hashes_and_keeps_nothing() {
    let rig = Rig::new();
    let bytes = content(100);
    let wrong = content(101)[1..].to_vec();
    for _ in 0..2 {
        rig.metadata(&bytes, "c1");
        rig.host.push(raw(200, "", 100, &wrong));
    }
    let dest = rig.dir.path().join("f.bin");
    match rig.fetch(None, &dest) {
        Err(Error::HashMismatch {
            item_id,
            expected,
            actual,
        }) => {
            assert_eq!(item_id, "F");
            assert_eq!(expected, quick_xor(&bytes));
            assert_eq!(actual, quick_xor(&wrong));
        }
        other => panic!("{other:?}"),
    }
    assert!(!dest.exists() && !partial_path(&dest).exists());
}

#[test]
fn one_hash_mismatch_starts_over_with_fresh_metadata() {
    let rig = Rig::new();
    let bytes = content(100);
    rig.metadata(&bytes, "c1");
    rig.host.push(raw(200, "", 100, &content(101)[1..]));
    rig.metadata(&bytes, "c1");
    rig.host.push(raw(200, "", 100, &bytes));
    rig.assert_downloads(&bytes);
}

#[test]
fn a_content_range_that_does_not_match_the_request_is_not_written() {
    let rig = Rig::new();
    let bytes = content(2000);
    rig.metadata(&bytes, "c1");
    rig.host.push(raw(200, "", 2000, &bytes[..500]));
    // Asked from 500, the host answers from 400: refused, then asked again.
    rig.host.push(rest_from(&bytes, 400));
    rig.host.push(rest_from(&bytes, 500));
    rig.assert_downloads(&bytes);
}

#[test]
fn a_host_announcing_more_bytes_than_the_file_has_is_an_error_and_nothing_is_kept() {
    let rig = Rig::new();
    let bytes = content(100);
    rig.metadata(&bytes, "c1");
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"extra");
    rig.host.push(raw(200, "", 105, &longer));
    rig.metadata(&bytes, "c1");
    let dest = rig.dir.path().join("f.bin");
    let err = rig.fetch(None, &dest).unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err}");
    assert!(!dest.exists() && !partial_path(&dest).exists());
}

#[test]
fn folders_packages_shortcuts_and_malware_are_skipped_and_a_known_ctag_is_unchanged() {
    let rig = Rig::new();
    let cases = [
        (
            r#"{"id":"F","folder":{"childCount":1}}"#,
            SkipReason::Folder,
        ),
        (
            r#"{"id":"F","package":{"type":"oneNote"}}"#,
            SkipReason::Package,
        ),
        (
            r#"{"id":"F","remoteItem":{"id":"X"}}"#,
            SkipReason::Shortcut,
        ),
        (
            r#"{"id":"F","size":3,"file":{},"malware":{}}"#,
            SkipReason::Malware,
        ),
        (r#"{"id":"F","deleted":{}}"#, SkipReason::Deleted),
    ];
    let dest = rig.dir.path().join("f.bin");
    for (json, reason) in cases {
        rig.graph.push(Canned::json(200, json));
        assert_eq!(
            rig.fetch(None, &dest).unwrap(),
            Download::Skipped { reason }
        );
    }
    rig.metadata(b"abc", "c7");
    assert_eq!(
        rig.fetch(Some("c7"), &dest).unwrap(),
        Download::Unchanged { ctag: "c7".into() }
    );
    assert!(rig.host.requests().is_empty());
    assert!(!dest.exists());
}

#[test]
fn unknown_items_and_missing_directories_are_clear_errors() {
    let rig = Rig::new();
    rig.graph.push(Canned::json(
        404,
        r#"{"error":{"code":"itemNotFound","message":"nope"}}"#,
    ));
    let err = rig.fetch(None, &rig.dir.path().join("f.bin")).unwrap_err();
    assert!(
        err.to_string().contains("item F not found in drive d"),
        "{err}"
    );
    let missing = rig.dir.path().join("no/such/dir/f.bin");
    let err = rig.fetch(None, &missing).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(
        rig.graph.graph_requests().len(),
        1,
        "no request for the bad path"
    );
}

#[test]
fn a_writer_gets_every_byte_once_across_a_reset() {
    let rig = Rig::new();
    let bytes = content(3000);
    rig.metadata(&bytes, "c1");
    rig.host.push(raw(200, "", 3000, &bytes[..700]));
    rig.host.push(Canned::Reset);
    rig.host.push(rest_from(&bytes, 700));
    let mut out = Vec::new();
    let req = Request {
        drive_id: "d",
        item_id: "F",
        last_ctag: None,
    };
    let got = fetch(&rig.client, &req, &mut WriterSink::new(&mut out)).unwrap();
    assert!(matches!(got, Download::Downloaded { bytes: 3000, .. }));
    assert_eq!(out, bytes);
}

#[test]
fn throttled_downloads_pause_the_gate_and_are_retried() {
    let rig = Rig::new();
    let bytes = content(10);
    rig.metadata(&bytes, "c1");
    rig.host
        .push(Canned::json(429, "{}").header("Retry-After", "1"));
    rig.host.push(raw(200, "", 10, &bytes));
    let dest = rig.dir.path().join("f.bin");
    let started = std::time::Instant::now();
    assert!(matches!(
        rig.fetch(None, &dest).unwrap(),
        Download::Downloaded { .. }
    ));
    let asked = rig.host.requests();
    assert!(asked[1].at >= asked[0].at + std::time::Duration::from_millis(900));
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(rig.client.gate().stats().throttled, 1);
}
