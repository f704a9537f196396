//! `libm365sync_sim`: the Graph simulator over the C ABI, so C and Python hosts can
//! test their pipelines offline. `build.rs` turns this module into
//! `include/m365sync_sim.h`, which includes the engine's `m365sync.h` for the
//! `m365sync_result` codes. The conventions are the engine's (see `m365sync.h`),
//! except that this library keeps its own last error (`m365sync_sim_last_error`) and
//! frees its own strings (`m365sync_sim_string_free`). It is a test double: link it
//! into tests and examples, never into a production build.

#![allow(non_camel_case_types)]

mod command;

use std::ffi::{CString, c_char};

use m365sync_ffi_support::strings::{owned_string, to_cstring};
use m365sync_ffi_support::{FfiError, Handle, invalid_argument, m365sync_result};
use serde_json::{Value, json};

use crate::{Error, Result, SimConfig, SimTenant, Simulator};
use command::{control_request, reply_json};

/// A running Graph simulator on 127.0.0.1. Opaque; created by
/// `m365sync_sim_start`, released by `m365sync_sim_free`. Its functions may be
/// called from any thread, concurrently.
pub struct m365sync_sim {
    _private: [u8; 0],
}

/// The simulator and the C copy of its URL.
pub struct SimHandle {
    sim: Simulator,
    url: CString,
}

impl Handle for m365sync_sim {
    type Inner = SimHandle;
}

/// Parses a simulator configuration, naming the offending field on error.
fn sim_config(json: &str) -> Result<SimConfig> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "" | "." => Error::Config(format!("simulator: {}", e.into_inner())),
            _ => Error::Config(format!("simulator field `{path}`: {}", e.into_inner())),
        }
    })
}

/// Generates a tenant and starts a simulator. `config_json` is a JSON object with
/// the simulator's settings (e.g. `{"items": 200, "seed": 7}`; `"{}"` for the
/// defaults; the CLI's `m365sync sim` flags have the same names); it listens on
/// `127.0.0.1` with a free port unless `listen` says otherwise. On success
/// `*out_sim` receives a simulator to release with `m365sync_sim_free`.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out_sim` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_start(
    config_json: *const c_char,
    out_sim: *mut *mut m365sync_sim,
) -> m365sync_result {
    ffi_panic_boundary! {
        let json = try_str!(config_json);
        let out = try_out!(out_sim);
        let config = try_rust!(sim_config(json));
        let sim = try_rust!(Simulator::start(config));
        let url = to_cstring(sim.url());
        *out = m365sync_sim::into_raw(SimHandle { sim, url });
        m365sync_result::Ok
    }
}

/// The simulator's base URL, `http://127.0.0.1:PORT`. Borrowed: valid until
/// `m365sync_sim_free`. NULL when `sim` is NULL.
///
/// # Safety
/// `sim` is NULL or a live simulator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_url(sim: *const m365sync_sim) -> *const c_char {
    ffi_panic_boundary! {
        let handle = try_ref!(sim);
        handle.url.as_ptr()
    }
}

/// The simulator's drives as a JSON array of objects (`id`, `kind`, `name`,
/// `site_id`, `owner_user_id`, `root_id`), like `GET /_sim/drives`. On success
/// `*out_json` receives an owned string to release with `m365sync_sim_string_free`.
///
/// # Safety
/// `sim` is NULL or a live simulator; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_drives_json(
    sim: *const m365sync_sim,
    out_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let handle = try_ref!(sim);
        let out = try_out!(out_json);
        *out = owned_string(&json!(handle.sim.drives()).to_string());
        m365sync_result::Ok
    }
}

/// The id of the simulator's drive number `index` (0-based, in the order of
/// `m365sync_sim_drives_json`). An index past the end gives
/// `M365SYNC_RESULT_INVALID_ARGUMENT`. On success `*out_id` receives an owned
/// string to release with `m365sync_sim_string_free`.
///
/// # Safety
/// `sim` is NULL or a live simulator; `out_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_drive_id(
    sim: *const m365sync_sim,
    index: usize,
    out_id: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let handle = try_ref!(sim);
        let out = try_out!(out_id);
        let drives = handle.sim.drives();
        let Some(drive) = drives.get(index) else {
            return invalid_argument(&format!(
                "argument `index` is {index} but the simulator has {} drives",
                drives.len()
            ));
        };
        *out = owned_string(&drive.id);
        m365sync_result::Ok
    }
}

/// An engine configuration (JSON object) that points at this simulator, with its
/// credentials, and mirrors all its current drives. The keys of `extra_json`, a
/// JSON object such as `{"database": "agent.db", "poll_interval_secs": 1}`, are
/// added or override; `database` must come from there. The result is checked by
/// `m365sync_engine_new`, not here. On success `*out_json` receives an owned
/// string to release with `m365sync_sim_string_free`.
///
/// # Safety
/// `sim` is NULL or a live simulator; `extra_json` is NULL or a NUL-terminated
/// string; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_engine_config_json(
    sim: *const m365sync_sim,
    extra_json: *const c_char,
    out_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let handle = try_ref!(sim);
        let extra = try_str!(extra_json);
        let out = try_out!(out_json);
        *out = owned_string(&try_rust!(engine_config(&handle.sim, extra)));
        m365sync_result::Ok
    }
}

/// A tenant's engine configuration with the keys of `extra` (a JSON object).
fn engine_config(tenant: &SimTenant, extra: &str) -> std::result::Result<String, FfiError> {
    let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(extra) else {
        return Err(FfiError::new(
            m365sync_result::InvalidJson,
            "argument `extra_json` must be a JSON object",
        ));
    };
    Ok(tenant.engine_config(Value::Object(extra)).to_string())
}

/// Tenant `tenant` of the simulator, or the error naming the valid range.
fn tenant_of(sim: &Simulator, tenant: u32) -> std::result::Result<SimTenant, FfiError> {
    sim.tenant(tenant).map_err(|e| {
        FfiError::new(
            m365sync_result::InvalidArgument,
            format!("argument `tenant`: {e}"),
        )
    })
}

/// How many tenants the simulator serves (its `tenants` setting, at least 1), into
/// `*out_count`. Tenant 0 is the one the other `m365sync_sim_*` functions address;
/// the `m365sync_sim_tenant_*` functions and the `"tenant"` key of
/// `m365sync_sim_apply` address the others.
///
/// # Safety
/// `sim` is NULL or a live simulator; `out_count` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_tenant_count(
    sim: *const m365sync_sim,
    out_count: *mut u32,
) -> m365sync_result {
    ffi_panic_boundary! {
        let handle = try_ref!(sim);
        let out = try_out!(out_count);
        *out = handle.sim.tenant_count();
        m365sync_result::Ok
    }
}

/// Tenant number `tenant` (0-based) as a JSON object: `index`, `tenant_id`,
/// `client_id`, `client_secret`, `drives` (the array `m365sync_sim_drives_json` gives
/// for tenant 0), `items`, `requests`, `throttled`, `violations`, `ru_used`. A tenant
/// past the end gives `M365SYNC_RESULT_INVALID_ARGUMENT`. On success `*out_json`
/// receives an owned string to release with `m365sync_sim_string_free`.
///
/// # Safety
/// `sim` is NULL or a live simulator; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_tenant_json(
    sim: *const m365sync_sim,
    tenant: u32,
    out_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let handle = try_ref!(sim);
        let out = try_out!(out_json);
        let tenant = try_rust!(tenant_of(&handle.sim, tenant));
        let mut summary = json!(tenant.summary());
        summary["drives"] = json!(tenant.drives());
        *out = owned_string(&summary.to_string());
        m365sync_result::Ok
    }
}

/// `m365sync_sim_engine_config_json` for tenant number `tenant` (0-based): its
/// tenant id, client secret and drives. A tenant past the end gives
/// `M365SYNC_RESULT_INVALID_ARGUMENT`. On success `*out_json` receives an owned string
/// to release with `m365sync_sim_string_free`.
///
/// # Safety
/// `sim` is NULL or a live simulator; `extra_json` is NULL or a NUL-terminated
/// string; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_tenant_engine_config_json(
    sim: *const m365sync_sim,
    tenant: u32,
    extra_json: *const c_char,
    out_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let handle = try_ref!(sim);
        let extra = try_str!(extra_json);
        let out = try_out!(out_json);
        let tenant = try_rust!(tenant_of(&handle.sim, tenant));
        *out = owned_string(&try_rust!(engine_config(&tenant, extra)));
        m365sync_result::Ok
    }
}

/// Applies one control command to the simulator, as a JSON object with an `op`:
/// - `{"op":"create","drive":D,"parent_id":P,"name":N,"folder":false,"content":"..."}`
///   (`parent_id` may be `"root"`; `"size":S` instead of `content` makes a file of S
///   generated bytes, which may be many GB);
/// - `{"op":"update","drive":D,"item":I,"name"?:N,"parent_id"?:P,"content"?:"...","size"?:S}`
///   (rename, move, rewrite; `size`: new generated content of that size);
/// - `{"op":"delete"|"share"|"unshare","drive":D,"item":I}` (`share` adds an
///   organization view link, `unshare` restores the item's inheritance);
/// - `{"op":"permissions"|"break_inheritance"|"restore_inheritance","drive":D,"item":I}`:
///   the item's permissions (afterwards), `{"inherited_from":ID|null,"grants":[G...]}`
///   with each grant G `{"id","roles":[...],"kind":"user"|"group"|"site_group"|"guest"|"link",
///   "principal","link_type","link_scope","external"}`;
/// - `{"op":"grant","drive":D,"item":I,"principal":"user:UPN"|"group:ID"|"guest:EMAIL","roles":["read"|"write"|"owner",...]}`
///   and `{"op":"create_link","drive":D,"item":I,"type":"view"|"edit"|"embed",
///   "scope":"anonymous"|"organization"|"users","password"?:B,"expiration"?:ISO8601,"recipients"?:[EMAIL,...]}`
///   (both break the item's inheritance first; the result is the grant G);
/// - `{"op":"revoke","drive":D,"item":I,"permission":P}` (not on an item that
///   inherits, nor an owner's grant);
/// - `{"op":"permission_roots","drive":D}` (ids of the items with unique
///   permissions, the root first), `{"op":"users"}`, `{"op":"groups"}`;
/// - `{"op":"add_site","name":N}`, `{"op":"add_library","site":S,"name":N}`,
///   `{"op":"add_user","upn":U,"with_drive":true}`;
/// - `{"op":"faults","error_503_rate":0.1,"error_500_rate":0,"reset_rate":0,"seed":1}`
///   (`"permissions_denied":true`: `/permissions` answers 403);
/// - `{"op":"expire_delta_tokens"}`, `{"op":"expire_download_urls"}` (every download
///   URL issued so far answers 401), `{"op":"expire_subscriptions","id"?:ID}`;
/// - `{"op":"stats"}`, `{"op":"snapshot","drive":D}`.
///
/// Every command may carry `"tenant":K` (a number, 0-based, see
/// `m365sync_sim_tenant_count`) to address tenant K instead of tenant 0; a tenant
/// past the end gives `M365SYNC_RESULT_INVALID_ARGUMENT`.
///
/// Each is the HTTP control API request of the same name (`/_sim/...`, or
/// `/_sim/tenants/{K}/...`), served
/// without HTTP. On success `*out_json` receives the result as JSON (the item for
/// item operations, `null` when there is none), an owned string to release with
/// `m365sync_sim_string_free`. Malformed JSON gives `M365SYNC_RESULT_INVALID_JSON`; an
/// unknown op or key, or a refusal by the simulator (unknown item, name conflict)
/// gives `M365SYNC_RESULT_INVALID_ARGUMENT` with the reason in `m365sync_sim_last_error()`.
///
/// # Safety
/// `sim` is NULL or a live simulator; `command_json` is NULL or a NUL-terminated
/// string; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_apply(
    sim: *const m365sync_sim,
    command_json: *const c_char,
    out_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let handle = try_ref!(sim);
        let command = try_str!(command_json);
        let out = try_out!(out_json);
        let request = try_rust!(control_request(command));
        let result = try_rust!(reply_json(handle.sim.serve(&request)));
        *out = owned_string(&result);
        m365sync_result::Ok
    }
}

/// Stops the simulator's threads, waits for them, and releases it. NULL is a no-op.
///
/// # Safety
/// `sim` is NULL or a live simulator that no other thread uses any more.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_free(sim: *mut m365sync_sim) {
    ffi_panic_boundary! {
        // SAFETY: per this function's contract.
        unsafe { m365sync_sim::free(sim) }
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        let code = match e {
            Error::Config(_) => m365sync_result::InvalidConfig,
            Error::InvalidInput(_) => m365sync_result::InvalidArgument,
        };
        FfiError::new(code, e.to_string())
    }
}

/// The detailed message of the most recent failed `m365sync_sim_*` call on the
/// calling thread (empty when none failed yet). Borrowed: valid until the next
/// `m365sync_sim_*` call on this thread; never NULL; never freed.
#[unsafe(no_mangle)]
pub extern "C" fn m365sync_sim_last_error() -> *const c_char {
    ffi_panic_boundary! {
        m365sync_ffi_support::result::last_error_ptr()
    }
}

/// Frees a string that an `m365sync_sim_*` function returned as owned. NULL is a
/// no-op. Any thread.
///
/// # Safety
/// `s` is NULL or a string returned as owned by this library and not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_sim_string_free(s: *mut c_char) {
    ffi_panic_boundary! {
        // SAFETY: per this function's contract.
        unsafe { m365sync_ffi_support::strings::free_owned_string(s) }
    }
}

#[cfg(test)]
mod header_tests {
    const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/m365sync_sim.h"));
    const COMMITTED: &str = include_str!("../../include/m365sync_sim.h");

    #[test]
    fn committed_header_is_current() {
        assert!(
            GENERATED == COMMITTED,
            "include/m365sync_sim.h is stale: run `M365SYNC_UPDATE_HEADER=1 cargo build` and commit it"
        );
    }
}
