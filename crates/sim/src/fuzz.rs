//! Proptest strategies for fuzzing m365sync and its hosts on stable Rust: case counts
//! and random JSON shaped like the real inputs (configs, delta pages, notifications,
//! simulator commands). Behind the `fuzz` feature.
//!
//! Each target runs the number of cases its test names (chosen so that all fuzz tests
//! together add well under 30 s to `cargo test`); `PROPTEST_CASES=N` runs N instead.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// A proptest configuration running `default_cases` cases, or `PROPTEST_CASES`.
pub fn cases(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        // Failures are reported with their input; no files written into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any byte string up to 2 KiB.
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..2048)
}

/// A string that is often one of `words` and otherwise arbitrary text.
pub fn word(words: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        3 => proptest::sample::select(words).prop_map(str::to_string),
        1 => ".{0,12}",
    ]
    .boxed()
}

/// Any JSON value, nested a few levels; object keys are drawn from `keys` (the fields
/// the parser knows, so the input gets past the first check) or arbitrary.
pub fn json(keys: &'static [&'static str]) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        word(keys).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((word(keys), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// An object holding some of `keys` with random values (the shape of a config, an item).
pub fn object(keys: &'static [&'static str]) -> BoxedStrategy<Value> {
    proptest::collection::vec((proptest::sample::select(keys), json(keys)), 0..keys.len())
        .prop_map(|kv| {
            Value::Object(
                kv.into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<_, _>>(),
            )
        })
        .boxed()
}

/// The keys of an m365sync engine configuration, at every level (the fields a config
/// parser knows, so that random objects get past its first check).
pub const CONFIG_KEYS: &[&str] = &[
    "tenant_id",
    "client_id",
    "client_secret",
    "client_secret_env",
    "client_assertion_file",
    "client_certificate_file",
    "managed_identity",
    "proxy",
    "no_proxy",
    "tls",
    "ca_file",
    "user_agent",
    "cloud",
    "graph_url",
    "login_url",
    "database",
    "drives",
    "workers",
    "poll_interval_secs",
    "page_size",
    "emit_initial_items",
    "track_permissions",
    "item_provenance",
    "http_timeout_secs",
    "throttle",
    "webhook",
    "safety_interval_secs",
    "scope",
    "discover_interval_secs",
    "audit_interval_secs",
    "listen",
    "public_url",
    "path",
    "expiry_secs",
    "tls_cert_file",
    "ru_per_minute",
    "requests_per_second",
    "max_attempts",
    "all_sites",
    "include",
    "exclude",
    "site",
];
