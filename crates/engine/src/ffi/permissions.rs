//! Permission details from C: effective permissions of an item, and the items a grant
//! filter matches, as JSON.

use std::ffi::c_char;

use crate::ffi::engine::m365sync_engine;
use crate::store::GrantFilter;
use m365sync_ffi_support::m365sync_result;
use m365sync_ffi_support::strings::owned_string;

/// The effective permissions of a live item as an owned JSON string (release with
/// `m365sync_string_free`): `{"drive_id","item_id","path","inherited_from","known",
/// "grants":[{"id","roles","kind","principal","link","recipients","expires",
/// "has_password","external"}]}`, or `null` when the item is unknown.
///
/// # Safety
/// `engine` is NULL or a live engine; `drive_id` and `item_id` are NULL or
/// NUL-terminated; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_effective_permissions_json(
    engine: *const m365sync_engine,
    drive_id: *const c_char,
    item_id: *const c_char,
    out_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        let (drive, item) = (try_str!(drive_id), try_str!(item_id));
        let out = try_out!(out_json);
        let found = try_rust!(engine.effective_permissions(drive, item));
        *out = owned_string(&serde_json::to_string(&found).unwrap_or_default());
        m365sync_result::Ok
    }
}

/// Up to `limit` items (0 = all) whose effective permissions hold a grant `filter`
/// accepts — `"anyone_links"`, `"external"` or `"principal:WHO"` (an id, email or
/// login name) — as an owned JSON array of the objects
/// `m365sync_engine_effective_permissions_json` returns. `drive_id` NULL means every
/// drive. An unknown filter gives `M365SYNC_RESULT_INVALID_ARGUMENT`.
///
/// # Safety
/// `engine` is NULL or a live engine; `drive_id` is NULL or NUL-terminated; `filter`
/// is NULL or NUL-terminated; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_items_with_grants_json(
    engine: *const m365sync_engine,
    drive_id: *const c_char,
    filter: *const c_char,
    limit: usize,
    out_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        let drive = if drive_id.is_null() { None } else { Some(try_str!(drive_id)) };
        let filter: GrantFilter = try_rust!(try_str!(filter).parse());
        let out = try_out!(out_json);
        let mut found = Vec::new();
        try_rust!(engine.items_with_grants(drive, &filter, &mut |e| {
            found.push(e);
            Ok(limit == 0 || found.len() < limit)
        }));
        *out = owned_string(&serde_json::to_string(&found).unwrap_or_default());
        m365sync_result::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_arguments_are_refused() {
        let mut out = std::ptr::null_mut();
        // SAFETY: NULL handles are refused before anything is read.
        let r = unsafe {
            m365sync_engine_effective_permissions_json(
                std::ptr::null(),
                c"d".as_ptr(),
                c"i".as_ptr(),
                &mut out,
            )
        };
        assert_eq!(r, m365sync_result::InvalidArgument);
        let r = unsafe {
            m365sync_engine_items_with_grants_json(
                std::ptr::null(),
                std::ptr::null(),
                c"external".as_ptr(),
                0,
                &mut out,
            )
        };
        assert_eq!(r, m365sync_result::InvalidArgument);
        assert!(out.is_null());
    }
}
