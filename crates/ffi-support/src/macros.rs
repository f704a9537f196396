//! The few macros every exported function is built from: one panic boundary and
//! small checks that turn bad pointers into `M365SYNC_RESULT_INVALID_ARGUMENT`.

/// Runs the body of an exported function; a panic becomes the function's failure
/// value (`M365SYNC_RESULT_PANIC`, NULL, or nothing) with the panic message as the
/// thread's last error. `return` inside the body returns from the function.
#[macro_export]
macro_rules! ffi_panic_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(payload) => $crate::result::panicked(payload),
        }
    };
}

/// Borrows the Rust object behind a handle pointer, or returns INVALID_ARGUMENT
/// (or NULL) from the function when the pointer is NULL.
#[macro_export]
macro_rules! try_ref {
    ($ptr:ident) => {
        match unsafe { $crate::handle::Handle::as_inner($ptr) } {
            Some(inner) => inner,
            None => return $crate::result::null_argument(stringify!($ptr)),
        }
    };
}

/// Borrows a NUL-terminated UTF-8 string argument as `&str`; NULL or invalid UTF-8
/// returns INVALID_ARGUMENT from the function.
#[macro_export]
macro_rules! try_str {
    ($ptr:ident) => {
        match unsafe { $crate::strings::borrow_str($ptr, stringify!($ptr)) } {
            Ok(s) => s,
            Err(failure) => return failure,
        }
    };
}

/// Borrows an out-parameter as `&mut T`; NULL returns INVALID_ARGUMENT from the function.
#[macro_export]
macro_rules! try_out {
    ($ptr:ident) => {
        match unsafe { $ptr.as_mut() } {
            Some(out) => out,
            None => return $crate::result::null_argument(stringify!($ptr)),
        }
    };
}

/// Unwraps a `Result` whose error converts into `FfiError`; an error becomes the thread's last error and its
/// result code is returned from the function.
#[macro_export]
macro_rules! try_rust {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(e) => return $crate::result::failed(e),
        }
    };
}

/// Borrows a `(pointer, length)` byte buffer as `&[u8]`; NULL with a non-zero length
/// returns INVALID_ARGUMENT from the function (NULL with length 0 is empty).
#[macro_export]
macro_rules! try_slice {
    ($ptr:ident, $len:ident) => {
        if $ptr.is_null() {
            if $len != 0 {
                return $crate::result::null_argument(stringify!($ptr));
            }
            &[][..]
        } else {
            // SAFETY: the caller promises `$len` readable bytes at `$ptr`.
            unsafe { ::std::slice::from_raw_parts($ptr, $len) }
        }
    };
}
