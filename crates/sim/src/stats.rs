//! Request counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Counters updated by the HTTP workers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub violations: AtomicU64,
    pub ru_used: AtomicU64,
    pub resets_injected: AtomicU64,
    pub errors_injected: AtomicU64,
    /// Requests to the content host.
    pub download_requests: AtomicU64,
    /// 429s of the content host (resource units or egress).
    pub downloads_throttled: AtomicU64,
    /// Requests to the content host that carried an `Authorization` header.
    pub download_requests_with_authorization: AtomicU64,
    /// Requests the `/permissions` route answered.
    pub permission_requests: AtomicU64,
    /// Pages of permissions served beyond the first of a listing.
    pub permission_pages: AtomicU64,
    by_route: Mutex<BTreeMap<&'static str, u64>>,
}

impl Counters {
    /// Counts one request on `route`.
    pub fn request(&self, route: &'static str) {
        self.requests.fetch_add(1, Relaxed);
        *self.by_route.lock().entry(route).or_insert(0) += 1;
    }

    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// A copy of the per-route counts.
    pub fn routes(&self) -> BTreeMap<String, u64> {
        self.by_route
            .lock()
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect()
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}
