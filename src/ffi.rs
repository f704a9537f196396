//! The C ABI (see issue: C ABI). Nothing is exported yet.
