//! Downloads from C: to a path, or streamed to a write callback; pending files.

use std::ffi::{c_char, c_void};
use std::io::Write;
use std::path::Path;

use crate::content::Download;
use crate::ffi::engine::m365sync_engine;
use m365sync_ffi_support::strings::owned_string;
use m365sync_ffi_support::{m365sync_result, null_argument};

/// Receives the next `len` bytes of a download (borrowed for the call). Returns 0
/// to go on; any other value aborts the download with `M365SYNC_RESULT_IO`.
/// Runs on the calling thread of `m365sync_engine_download_to`.
pub type m365sync_write_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, bytes: *const u8, len: usize) -> i32>;

/// A `Write` over a host's write callback.
struct CallbackWriter {
    callback: unsafe extern "C" fn(*mut c_void, *const u8, usize) -> i32,
    userdata: *mut c_void,
}

impl Write for CallbackWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // SAFETY: the host promised a valid callback; the bytes live for the call.
        let code = unsafe { (self.callback)(self.userdata, buf.as_ptr(), buf.len()) };
        if code == 0 {
            Ok(buf.len())
        } else {
            Err(std::io::Error::other(format!(
                "the write callback returned {code}"
            )))
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the result as owned JSON to `out` when it is not NULL.
fn give_result(result: &Download, out: *mut *mut c_char) {
    if !out.is_null() {
        let json = serde_json::to_string(result).unwrap_or_default();
        // SAFETY: checked non-NULL; the caller promised it is writable.
        unsafe { *out = owned_string(&json) };
    }
}

/// Downloads an item's current content to the file `dest_path` through the
/// tenant's throttle gate: bytes go to `dest_path.partial` (resumed if one is
/// there), are checked against Graph's hash, made durable and renamed into place.
/// Blocks until done. `*out_result_json` (NULL if not wanted) receives an owned
/// JSON object to release with `m365sync_string_free`:
/// `{"result":"downloaded","bytes":N,"hash":"...","ctag":"..."}`,
/// `{"result":"unchanged","ctag":"..."}` (the cTag last downloaded) or
/// `{"result":"skipped","reason":"folder|package|shortcut|malware|deleted"}`.
/// A second hash mismatch gives `M365SYNC_RESULT_HASH_MISMATCH`; a missing
/// directory or an unknown drive or item `M365SYNC_RESULT_INVALID_ARGUMENT`.
///
/// # Safety
/// `engine` is NULL or a live engine; the strings are NULL or NUL-terminated;
/// `out_result_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_download(
    engine: *const m365sync_engine,
    drive_id: *const c_char,
    item_id: *const c_char,
    dest_path: *const c_char,
    out_result_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        let (drive, item, dest) = (try_str!(drive_id), try_str!(item_id), try_str!(dest_path));
        let result = try_rust!(engine.download(drive, item, Path::new(dest)));
        give_result(&result, out_result_json);
        m365sync_result::Ok
    }
}

/// Like `m365sync_engine_download`, but streams the bytes to `callback` as they
/// arrive (to object storage, a pipe), on the calling thread. After a reset the
/// download resumes without repeating a byte; the hash is checked at the end, so
/// on any error (a mismatch included) the host must discard what it received.
///
/// # Safety
/// `engine` is NULL or a live engine; the strings are NULL or NUL-terminated;
/// `callback` is NULL or a valid function; `out_result_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_download_to(
    engine: *const m365sync_engine,
    drive_id: *const c_char,
    item_id: *const c_char,
    callback: m365sync_write_callback,
    userdata: *mut c_void,
    out_result_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        let (drive, item) = (try_str!(drive_id), try_str!(item_id));
        let Some(callback) = callback else {
            return null_argument("callback");
        };
        let mut writer = CallbackWriter { callback, userdata };
        let result = try_rust!(engine.download_to(drive, item, &mut writer));
        give_result(&result, out_result_json);
        m365sync_result::Ok
    }
}

/// Up to `limit` files of a drive whose current content was never downloaded, as
/// an owned JSON array (release with `m365sync_string_free`) of
/// `{"drive_id","item_id","path","ctag","size","stored_ctag"}`.
///
/// # Safety
/// `engine` is NULL or a live engine; `drive_id` is NULL or NUL-terminated;
/// `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_engine_pending_downloads_json(
    engine: *const m365sync_engine,
    drive_id: *const c_char,
    limit: usize,
    out_json: *mut *mut c_char,
) -> m365sync_result {
    ffi_panic_boundary! {
        let engine = try_ref!(engine);
        let drive = try_str!(drive_id);
        let out = try_out!(out_json);
        let pending = try_rust!(engine.pending_downloads(drive, limit));
        *out = owned_string(&serde_json::to_string(&pending).unwrap_or_default());
        m365sync_result::Ok
    }
}
