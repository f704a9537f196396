//! Fuzzing on stable Rust (proptest): the parsers of untrusted input (delta pages,
//! notification bodies, configs) and the store's path and event derivation never
//! panic; bad input is a clear error.
//!
//! Cases per run are set by the `cases(N)` of each block below (2,000 per byte/text
//! target, 500 per structured one: 8,000 inputs in all);
//! `PROPTEST_CASES=N` runs N per target instead.

use std::sync::Arc;

use m365sync_sim::fuzz::{CONFIG_KEYS, bytes, cases, object, word};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::config::Config;
use crate::engine::notify::secret::hash_client_state;
use crate::engine::notify::{
    Intake, IntakeCounters, KnownSubscription, Registry, Signal, SignalSink,
};
use crate::error::Error;
use crate::graph::reply::Reply;
use crate::graph::types::{DeltaPage, DriveItem};
use crate::store::{ApplyOptions, Cursor, NewDrive, Store};

/// Decodes a delta page as the Graph client does.
fn decode_page(body: &[u8]) -> Result<DeltaPage, String> {
    let reply = Reply {
        status: 200,
        location: None,
        body: body.to_vec(),
    };
    reply.decode().map_err(|e| e.to_string())
}

const ITEM_KEYS: &[&str] = &[
    "id",
    "name",
    "parentReference",
    "eTag",
    "cTag",
    "size",
    "file",
    "folder",
    "root",
    "deleted",
    "shared",
    "@microsoft.graph.sharedChanged",
    "lastModifiedDateTime",
    "hashes",
    "quickXorHash",
    "driveId",
    "childCount",
    "value",
    "@odata.nextLink",
    "@odata.deltaLink",
];

/// A small pool of ids, so that items collide, point at each other and form loops.
const IDS: &[&str] = &["root", "a", "b", "c", "d", "e"];

/// A driveItem JSON with adversarial but well-typed fields.
fn item() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(IDS),
        proptest::option::of(word(&["x", "x/y", "", "..", "é", "a b"])),
        proptest::option::of(proptest::sample::select(IDS)),
        0u8..16,
        proptest::option::of("[a-c]{1,2}"),
        proptest::option::of("[a-c]{1,2}"),
        proptest::option::of(any::<i64>()),
        proptest::option::of(proptest::sample::select(&["True", "False", ""][..])),
    )
        .prop_map(
            |(id, name, parent, facets, etag, ctag, size, shared_changed)| {
                let mut v = json!({ "id": id });
                let o = v.as_object_mut().unwrap();
                let mut put = |k: &str, val: Value| {
                    o.insert(k.to_string(), val);
                };
                if let Some(n) = name {
                    put("name", json!(n));
                }
                if let Some(p) = parent {
                    put("parentReference", json!({ "id": p }));
                }
                for (bit, facet) in [(1, "file"), (2, "folder"), (4, "deleted"), (8, "root")] {
                    if facets & bit != 0 {
                        put(facet, json!({}));
                    }
                }
                if let Some(e) = etag {
                    put("eTag", json!(e));
                }
                if let Some(c) = ctag {
                    put("cTag", json!(c));
                }
                if let Some(s) = size {
                    put("size", json!(s));
                }
                if let Some(s) = shared_changed {
                    put("@microsoft.graph.sharedChanged", json!(s));
                    put("shared", json!({ "scope": "users" }));
                }
                v
            },
        )
}

struct Ignore;

impl SignalSink for Ignore {
    fn deliver(&self, _: Vec<Signal>) {}
}

const SUBSCRIPTION: &str = "sub-1";
const CLIENT_STATE: &str = "state-1";

fn intake() -> Intake {
    let registry = Arc::new(Registry::default());
    registry.insert(
        SUBSCRIPTION,
        KnownSubscription {
            drive_id: "drive-1".into(),
            client_state_hash: hash_client_state(CLIENT_STATE),
        },
    );
    Intake::new(
        registry,
        Arc::new(IntakeCounters::default()),
        Arc::new(Ignore),
    )
}

const NOTIFICATION_KEYS: &[&str] = &[
    "value",
    "subscriptionId",
    "clientState",
    "changeType",
    "resource",
    "tenantId",
    "subscriptionExpirationDateTime",
    "lifecycleEvent",
    "sub-1",
    "state-1",
    "updated",
    "reauthorizationRequired",
];

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn delta_page_bytes_decode_or_fail_cleanly(body in bytes()) {
        let _ = decode_page(&body);
    }

    #[test]
    fn notification_bytes_are_refused_cleanly(body in bytes()) {
        let intake = intake();
        let _ = intake.handle(&body);
    }

    #[test]
    fn config_text_parses_or_names_the_problem(text in ".{0,400}") {
        match Config::from_json(&text) {
            Ok(_) => {}
            Err(Error::Config(m)) => prop_assert!(!m.is_empty()),
            Err(e) => prop_assert!(false, "not a config error: {e:?}"),
        }
    }
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn delta_page_json_decodes_or_names_the_path(page in object(ITEM_KEYS)) {
        let body = serde_json::to_vec(&page).unwrap();
        if let Err(m) = decode_page(&body) {
            prop_assert!(!m.is_empty());
        }
        let items = json!({ "value": [page.clone(), page], "@odata.deltaLink": "x" });
        let _ = decode_page(&serde_json::to_vec(&items).unwrap());
    }

    #[test]
    fn notification_json_is_accepted_or_refused_without_panic(
        entries in proptest::collection::vec(object(NOTIFICATION_KEYS), 0..4),
        known in any::<bool>(),
    ) {
        let mut entries = entries;
        if known {
            entries.push(json!({
                "subscriptionId": SUBSCRIPTION, "clientState": CLIENT_STATE,
                "changeType": "updated", "resource": "drives/drive-1/root"
            }));
        }
        let intake = intake();
        let body = serde_json::to_vec(&json!({ "value": entries })).unwrap();
        if let Ok(v) = intake.handle(&body) {
            prop_assert!(v.accepted + v.rejected <= entries.len());
            prop_assert!(!known || v.accepted >= 1);
        }
    }

    #[test]
    fn config_json_parses_or_names_the_field(config in object(CONFIG_KEYS)) {
        match Config::from_json(&config.to_string()) {
            Ok(_) | Err(Error::Config(_)) => {}
            Err(e) => prop_assert!(false, "not a config error: {e:?}"),
        }
    }

    #[test]
    fn any_page_sequence_applies_and_keeps_the_counts(
        pages in proptest::collection::vec(
            (proptest::collection::vec(item(), 0..8), any::<bool>()),
            1..6,
        ),
        emit_initial_items in any::<bool>(),
    ) {
        let mut store = Store::open_in_memory().unwrap();
        store.upsert_drive(&NewDrive { id: "d", ..NewDrive::default() }).unwrap();
        let opts = ApplyOptions {
            emit_initial_items,
            ..ApplyOptions::default()
        };
        for (items, last) in pages {
            let body = serde_json::to_vec(&json!({ "value": items, "@odata.deltaLink": "l" }))
                .unwrap();
            let page = decode_page(&body).map_err(TestCaseError::fail)?;
            let items: Vec<DriveItem> = page.value;
            let cursor = if last { Cursor::Delta("l") } else { Cursor::Next("n") };
            store.apply_page("d", &items, cursor, &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let mirror = store.mirror("d").unwrap();
        let drive = store.drive("d").unwrap().unwrap();
        let roots = mirror.iter().filter(|m| m.path == "/").count() as i64;
        prop_assert!(mirror.iter().all(|m| m.path.starts_with('/')));
        prop_assert!(drive.item_count >= 0);
        prop_assert!(drive.item_count <= mirror.len() as i64, "{} > {}", drive.item_count, mirror.len());
        prop_assert!(drive.item_count >= mirror.len() as i64 - roots.max(1));
    }
}
