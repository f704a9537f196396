//! The C ABI's contract: header freshness, version, result codes, NULL and UTF-8
//! checks, configuration errors, and the simulator's control commands.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

use crate::support::ffi::*;
use ::m365sync_sim::ffi::*;
use m365sync::ffi::*;
use serde_json::json;

fn text(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: the library returns NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
}

#[test]
fn the_library_version_is_the_crate_version() {
    assert_eq!(text(m365sync_version()), m365sync::VERSION);
}

#[test]
fn every_result_code_has_a_distinct_description() {
    let names: Vec<String> = (0..=13)
        .map(|code| text(m365sync_result_str(code)))
        .collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert_eq!(names[0], "ok");
    assert!(!names.contains(&"unknown result code".to_string()));
    assert_eq!(text(m365sync_result_str(14)), "unknown result code");
    assert_eq!(text(m365sync_result_str(u32::MAX)), "unknown result code");
    assert_eq!(m365sync_result::Panic as u32, 12);
    assert_eq!(m365sync_result::HashMismatch as u32, 13);
}

fn assert_invalid(result: m365sync_result, argument: &str) {
    assert_eq!(result, m365sync_result::InvalidArgument, "{argument}");
    let message = last_error();
    assert!(message.contains(argument), "{argument}: {message}");
}

unsafe extern "C" fn accept(_: *mut c_void, _: *const m365sync_event) -> c_int {
    0
}

#[test]
fn null_pointers_are_refused_and_out_params_untouched() {
    let f = Fixture::new(r#"{"items": 5}"#);
    let (sim, engine) = (f.sim, f.engine);
    let json = c("{}");
    let mut out_str: *mut c_char = ptr::null_mut();
    let mut out_engine: *mut m365sync_engine = ptr::null_mut();
    let mut out_sim: *mut m365sync_sim = ptr::null_mut();
    let mut count = 7usize;
    unsafe {
        assert_invalid(
            m365sync_engine_new(ptr::null(), &mut out_engine),
            "config_json",
        );
        assert_invalid(
            m365sync_engine_new(json.as_ptr(), ptr::null_mut()),
            "out_engine",
        );
        assert_invalid(m365sync_engine_start(ptr::null()), "engine");
        assert_invalid(m365sync_engine_stop(ptr::null()), "engine");
        assert_invalid(
            m365sync_engine_set_event_callback(ptr::null(), None, ptr::null_mut()),
            "engine",
        );
        assert_invalid(m365sync_engine_ack(ptr::null(), 1), "engine");
        assert_invalid(
            m365sync_engine_status_json(ptr::null(), &mut out_str),
            "engine",
        );
        assert_invalid(
            m365sync_engine_status_json(engine, ptr::null_mut()),
            "out_json",
        );
        let next = |e, cb, out| m365sync_engine_next_events(e, -1, 10, 0, cb, ptr::null_mut(), out);
        assert_invalid(next(ptr::null(), Some(accept), &mut count), "engine");
        assert_invalid(next(engine, None, &mut count), "callback");
        assert_invalid(next(engine, Some(accept), ptr::null_mut()), "out_count");
        assert_invalid(
            m365sync_engine_next_events(
                engine,
                -1,
                0,
                0,
                Some(accept),
                ptr::null_mut(),
                &mut count,
            ),
            "max_events",
        );
        let body = b"{}";
        assert_invalid(
            m365sync_engine_handle_notification(ptr::null(), body.as_ptr(), body.len()),
            "engine",
        );
        assert_invalid(
            m365sync_engine_handle_notification(engine, ptr::null(), 5),
            "body",
        );
        assert_invalid(
            m365sync_engine_validation_response(ptr::null(), json.as_ptr(), &mut out_str),
            "engine",
        );
        assert_invalid(
            m365sync_engine_validation_response(engine, ptr::null(), &mut out_str),
            "token",
        );
        assert_invalid(
            m365sync_engine_validation_response(engine, json.as_ptr(), ptr::null_mut()),
            "out_body",
        );
        assert_invalid(m365sync_sim_start(ptr::null(), &mut out_sim), "config_json");
        assert_invalid(
            m365sync_sim_start(json.as_ptr(), ptr::null_mut()),
            "out_sim",
        );
        assert!(m365sync_sim_url(ptr::null()).is_null());
        assert_invalid(m365sync_sim_drives_json(ptr::null(), &mut out_str), "sim");
        assert_invalid(m365sync_sim_drives_json(sim, ptr::null_mut()), "out_json");
        assert_invalid(m365sync_sim_drive_id(ptr::null(), 0, &mut out_str), "sim");
        assert_invalid(m365sync_sim_drive_id(sim, 0, ptr::null_mut()), "out_id");
        assert_invalid(m365sync_sim_drive_id(sim, 1000, &mut out_str), "index");
        assert_invalid(
            m365sync_sim_engine_config_json(ptr::null(), json.as_ptr(), &mut out_str),
            "sim",
        );
        assert_invalid(
            m365sync_sim_engine_config_json(sim, ptr::null(), &mut out_str),
            "extra_json",
        );
        assert_invalid(
            m365sync_sim_engine_config_json(sim, json.as_ptr(), ptr::null_mut()),
            "out_json",
        );
        assert_invalid(
            m365sync_sim_apply(ptr::null(), json.as_ptr(), &mut out_str),
            "sim",
        );
        assert_invalid(
            m365sync_sim_apply(sim, ptr::null(), &mut out_str),
            "command_json",
        );
        assert_invalid(
            m365sync_sim_apply(sim, json.as_ptr(), ptr::null_mut()),
            "out_json",
        );
        assert_eq!(
            m365sync_set_log_callback(9, None, ptr::null_mut()),
            m365sync_result::InvalidArgument
        );
        // Frees of NULL are no-ops.
        m365sync_engine_free(ptr::null_mut());
        m365sync_sim_free(ptr::null_mut());
        m365sync_string_free(ptr::null_mut());
    }
    assert!(out_str.is_null() && out_engine.is_null() && out_sim.is_null());
    assert_eq!(count, 7);
}

fn new_engine(config: &[u8]) -> (m365sync_result, String) {
    let mut bytes = config.to_vec();
    bytes.push(0);
    let sentinel = ptr::dangling_mut::<m365sync_engine>();
    let mut out = sentinel;
    let result = unsafe { m365sync_engine_new(bytes.as_ptr().cast(), &mut out) };
    assert_eq!(out, sentinel, "out_engine written on failure");
    (result, last_error())
}

#[test]
fn bad_configurations_say_what_is_wrong() {
    let (result, message) = new_engine(b"{\"tenant_id\":\"\xff\"}");
    assert_eq!(result, m365sync_result::InvalidArgument);
    assert!(message.contains("UTF-8"), "{message}");
    let (result, message) = new_engine(b"{not json");
    assert_eq!(result, m365sync_result::InvalidConfig);
    assert!(message.contains("invalid configuration"), "{message}");
    let (result, message) = new_engine(
        br#"{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x.db","wrokers":2}"#,
    );
    assert_eq!(result, m365sync_result::InvalidConfig);
    assert!(message.contains("wrokers"), "{message}");
    let (result, message) = new_engine(
        br#"{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x.db","workers":0}"#,
    );
    assert_eq!(result, m365sync_result::InvalidConfig);
    assert!(message.contains("workers"), "{message}");

    let mut sim = ptr::null_mut();
    let result = unsafe { m365sync_sim_start(c(r#"{"itemz": 3}"#).as_ptr(), &mut sim) };
    assert_eq!(result, m365sync_result::InvalidConfig);
    assert!(last_error().contains("itemz"), "{}", last_error());
    assert!(sim.is_null());
}

#[test]
fn last_error_is_per_thread() {
    let (result, _) = new_engine(b"[]");
    assert_eq!(result, m365sync_result::InvalidConfig);
    let other = std::thread::spawn(last_error).join().unwrap();
    assert_eq!(other, "");
    assert!(!last_error().is_empty());
}

#[test]
fn simulator_commands_mutate_the_tenant() {
    let sim = start_sim(r#"{"items": 10, "seed": 3}"#);
    let url = text(unsafe { m365sync_sim_url(sim) });
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let mut drives = ptr::null_mut();
    ok(unsafe { m365sync_sim_drives_json(sim, &mut drives) });
    let drives: serde_json::Value = serde_json::from_str(&take_string(drives)).unwrap();
    let drive = first_drive(sim);
    assert_eq!(drives[0]["id"], drive.as_str());

    let folder = apply(
        sim,
        &json!({"op":"create","drive":drive,"parent_id":"root","name":"Docs","folder":true}),
    );
    assert_eq!(folder["path"], "/Docs");
    let file = apply(
        sim,
        &json!({"op":"create","drive":drive,"parent_id":folder["id"],"name":"a.txt","content":"hello"}),
    );
    assert_eq!(
        (file["path"].as_str(), file["size"].as_u64()),
        (Some("/Docs/a.txt"), Some(5))
    );
    let renamed = apply(
        sim,
        &json!({"op":"update","drive":drive,"item":file["id"],"name":"b.txt"}),
    );
    assert_eq!(renamed["path"], "/Docs/b.txt");
    assert_eq!(
        apply(sim, &json!({"op":"share","drive":drive,"item":file["id"]}))["shared"],
        true
    );
    let snapshot = apply(sim, &json!({"op":"snapshot","drive":drive}));
    assert!(
        snapshot
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["path"] == "/Docs/b.txt")
    );
    assert_eq!(
        apply(sim, &json!({"op":"delete","drive":drive,"item":file["id"]})),
        json!(null)
    );
    assert_eq!(
        apply(sim, &json!({"op":"expire_delta_tokens"})),
        json!(null)
    );
    assert_eq!(
        apply(sim, &json!({"op":"faults","error_503_rate":0.0})),
        json!(null)
    );
    let stats = apply(sim, &json!({"op":"stats"}));
    assert!(stats["requests_by_route"]["POST /_sim/drives/{id}/items"].as_u64() >= Some(2));

    let refused = |command: &str| {
        let mut out = ptr::null_mut();
        let result = unsafe { m365sync_sim_apply(sim, c(command).as_ptr(), &mut out) };
        assert!(out.is_null());
        (result, last_error())
    };
    let gone = format!(
        r#"{{"op":"delete","drive":"{drive}","item":{}}}"#,
        file["id"]
    );
    let (result, message) = refused(&gone);
    assert_eq!(result, m365sync_result::InvalidArgument);
    assert!(message.contains("404"), "{message}");
    let (result, message) = refused(r#"{"op":"create","drive":"#);
    assert_eq!(result, m365sync_result::InvalidJson);
    assert!(message.contains("JSON"), "{message}");
    let (result, message) = refused(r#"{"op":"teleport"}"#);
    assert_eq!(result, m365sync_result::InvalidArgument);
    assert!(message.contains("teleport"), "{message}");
    let (_, message) = refused(&format!(
        r#"{{"op":"create","drive":"{drive}","parent_id":"root","name":"x","colour":"red"}}"#
    ));
    assert!(message.contains("colour"), "{message}");
    let (result, _) = refused(r#"{"op":"faults","error_503_rate":2.0}"#);
    assert_eq!(result, m365sync_result::InvalidArgument);
    unsafe { m365sync_sim_free(sim) };
}

#[test]
fn engine_config_for_the_simulator_merges_extra_keys() {
    let sim = start_sim(r#"{"items": 3, "sites": 2, "users": 1, "users_without_drive": 0}"#);
    let mut out = ptr::null_mut();
    let extra = c(r#"{"database": "x.db", "workers": 3, "tenant_id": "other"}"#);
    ok(unsafe { m365sync_sim_engine_config_json(sim, extra.as_ptr(), &mut out) });
    let config: serde_json::Value = serde_json::from_str(&take_string(out)).unwrap();
    assert_eq!(config["workers"], 3);
    assert_eq!(config["tenant_id"], "other");
    assert_eq!(config["drives"].as_array().unwrap().len(), 3);
    let url = text(unsafe { m365sync_sim_url(sim) });
    assert_eq!(config["graph_url"], format!("{url}/v1.0"));
    let result = unsafe { m365sync_sim_engine_config_json(sim, c("[1]").as_ptr(), &mut out) };
    assert_eq!(result, m365sync_result::InvalidJson);
    unsafe { m365sync_sim_free(sim) };
}
