//! Strings across the boundary: borrowed inputs, owned outputs, and their free.

use std::ffi::{CStr, CString, c_char};

use crate::result::{Failure, invalid_argument, null_argument};

/// A C string with the same text; NUL bytes (which C strings cannot hold) are dropped.
pub fn to_cstring(text: &str) -> CString {
    CString::new(text).unwrap_or_else(|_| CString::new(text.replace('\0', "")).unwrap_or_default())
}

/// Borrows a NUL-terminated UTF-8 argument named `name`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the call.
pub unsafe fn borrow_str<'a, F: Failure>(ptr: *const c_char, name: &str) -> Result<&'a str, F> {
    if ptr.is_null() {
        return Err(null_argument(name));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes
        .to_str()
        .map_err(|e| invalid_argument(&format!("argument `{name}` is not valid UTF-8: {e}")))
}

/// Hands `text` to the host as an owned string, to be released with
/// [`free_owned_string`] (behind the library's `*_string_free`).
pub fn owned_string(text: &str) -> *mut c_char {
    to_cstring(text).into_raw()
}

/// Frees a string made by [`owned_string`]; NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a string returned by [`owned_string`] of this library and not freed yet.
pub unsafe fn free_owned_string(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` came from `CString::into_raw` in `owned_string`.
        drop(unsafe { CString::from_raw(s) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_are_dropped_not_fatal() {
        assert_eq!(to_cstring("a\0b").to_str().unwrap(), "ab");
        assert_eq!(to_cstring("plain").to_str().unwrap(), "plain");
    }
}
