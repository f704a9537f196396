//! Opaque handles: a C pointer type standing for a boxed Rust object.

/// A zero-size C type whose pointers stand for a `Box<Self::Inner>`.
pub trait Handle: Sized {
    /// The Rust object behind the handle.
    type Inner;

    /// Boxes `inner` and returns the pointer the host will own.
    fn into_raw(inner: Self::Inner) -> *mut Self {
        Box::into_raw(Box::new(inner)).cast()
    }

    /// Borrows the object, or `None` for NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or was returned by [`Handle::into_raw`] and not freed yet.
    unsafe fn as_inner<'a>(ptr: *const Self) -> Option<&'a Self::Inner> {
        // SAFETY: per the contract, a non-NULL pointer is a live `Box<Inner>`.
        unsafe { ptr.cast::<Self::Inner>().as_ref() }
    }

    /// Drops the object; NULL is a no-op.
    ///
    /// # Safety
    /// `ptr` is NULL or was returned by [`Handle::into_raw`] and not freed yet; no
    /// other thread uses it during or after the call.
    unsafe fn free(ptr: *mut Self) {
        if !ptr.is_null() {
            // SAFETY: per the contract, the pointer owns a `Box<Inner>`.
            drop(unsafe { Box::from_raw(ptr.cast::<Self::Inner>()) });
        }
    }
}
