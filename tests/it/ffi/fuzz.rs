//! Fuzzing the C ABI with random bytes (proptest, stable Rust): configuration JSON,
//! notification bodies, validation tokens and simulator commands go through the real
//! `extern "C"` functions; every call returns a result code, none panics or crashes.
//!
//! 1,000 cases per byte target and 300 per structured one (about 4,000 calls in all);
//! `PROPTEST_CASES=N` runs N per target instead.

use std::ffi::CString;
use std::ptr;
use std::sync::OnceLock;

use crate::support::engine::{Workdir, engine_json, one_drive_sim};
use crate::support::ffi::{c, last_error, ok, take_string};
use ::m365sync_sim::Simulator;
use ::m365sync_sim::ffi::*;
use ::m365sync_sim::fuzz::{CONFIG_KEYS, bytes, cases, object};
use m365sync::ffi::*;
use proptest::prelude::*;
use serde_json::json;

/// Random bytes as a C string (interior NULs dropped: C cannot pass them).
fn c_bytes(bytes: &[u8]) -> CString {
    CString::new(
        bytes
            .iter()
            .copied()
            .filter(|&b| b != 0)
            .collect::<Vec<u8>>(),
    )
    .unwrap()
}

/// A started engine with a host-fed webhook section (its subscription attempts fail:
/// nothing listens at the public URL, so it polls), shared by the cases of this binary.
struct Fed {
    engine: usize,
    _sim: Simulator,
    _dir: Workdir,
}

fn fed_engine() -> *const m365sync_engine {
    static FED: OnceLock<Fed> = OnceLock::new();
    let fed = FED.get_or_init(|| {
        let sim = one_drive_sim(10, json!({ "seed": 31 }));
        let dir = Workdir::new();
        let config = engine_json(
            &sim,
            &dir.db(),
            json!({
                "poll_interval_secs": 3600,
                "webhook": { "public_url": "http://127.0.0.1:9/hook", "retry_secs": 3600 }
            }),
        );
        let mut engine = ptr::null_mut();
        ok(unsafe { m365sync_engine_new(c(&config.to_string()).as_ptr(), &mut engine) });
        ok(unsafe { m365sync_engine_start(engine) });
        Fed {
            engine: engine as usize,
            _sim: sim,
            _dir: dir,
        }
    });
    fed.engine as *const m365sync_engine
}

const SIM_KEYS: &[&str] = &[
    "op",
    "drive",
    "item",
    "parent_id",
    "name",
    "folder",
    "content",
    "faults",
    "error_503_rate",
    "omit_tombstone_rate",
    "seed",
    "create",
    "delete",
    "update",
    "share",
];

fn assert_refused_or_ok(result: m365sync_result) -> Result<(), TestCaseError> {
    prop_assert!(result != m365sync_result::Panic, "panic: {}", last_error());
    if result != m365sync_result::Ok {
        prop_assert!(!last_error().is_empty());
    }
    Ok(())
}

fn engine_new(config: &CString) -> Result<(), TestCaseError> {
    let mut engine = ptr::null_mut();
    let result = unsafe { m365sync_engine_new(config.as_ptr(), &mut engine) };
    assert_refused_or_ok(result)?;
    // A random text that happens to be a valid config opens an engine: free it.
    unsafe { m365sync_engine_free(engine) };
    Ok(())
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn engine_new_refuses_random_bytes(body in bytes()) {
        engine_new(&c_bytes(&body))?;
    }

    #[test]
    fn handle_notification_refuses_random_bytes(body in bytes()) {
        let result = unsafe { m365sync_engine_handle_notification(fed_engine(), body.as_ptr(), body.len()) };
        assert_refused_or_ok(result)?;
    }

    #[test]
    fn validation_response_echoes_or_refuses_random_tokens(token in bytes()) {
        let token = c_bytes(&token);
        let mut out = ptr::null_mut();
        let result = unsafe { m365sync_engine_validation_response(fed_engine(), token.as_ptr(), &mut out) };
        assert_refused_or_ok(result)?;
        if result == m365sync_result::Ok {
            let echoed = take_string(out);
            prop_assert_eq!(echoed.as_bytes(), token.as_bytes());
        } else {
            prop_assert!(out.is_null());
        }
    }
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn engine_new_refuses_random_config_objects(config in object(CONFIG_KEYS)) {
        engine_new(&c(&config.to_string()))?;
    }

    #[test]
    fn sim_apply_refuses_random_commands(command in object(SIM_KEYS), raw in bytes()) {
        static SIM: OnceLock<usize> = OnceLock::new();
        let sim = *SIM.get_or_init(|| {
            let mut sim = ptr::null_mut();
            ok(unsafe { m365sync_sim_start(c(r#"{"items": 5, "users": 0, "users_without_drive": 0}"#).as_ptr(), &mut sim) });
            sim as usize
        }) as *const m365sync_sim;
        for text in [c(&command.to_string()), c_bytes(&raw)] {
            let mut out = ptr::null_mut();
            let result = unsafe { m365sync_sim_apply(sim, text.as_ptr(), &mut out) };
            assert_refused_or_ok(result)?;
            if result == m365sync_result::Ok {
                take_string(out);
            }
        }
    }
}
