//! Retry-After across restarts: the end of the throttle pause is saved in the store when
//! a 429/503 sets it and restored when the engine opens, so that a process that crashed
//! (or was killed) during a Retry-After window does not call Graph inside it again.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::error::Result;
use crate::graph::throttle::ThrottleGate;
use crate::store::Store;

/// The `meta` key: the pause's end in milliseconds since the Unix epoch.
const KEY: &str = "throttle_paused_until_ms";

/// Pauses `gate` until the saved instant, if it is still ahead.
pub fn restore(store: &Store, gate: &ThrottleGate) -> Result<()> {
    if let Some(ms) = store.meta(KEY)?.and_then(|v| v.parse::<u64>().ok()) {
        gate.pause_until(UNIX_EPOCH + Duration::from_millis(ms));
    }
    Ok(())
}

/// Makes `gate` save every pause it is given into the database at `db` (its own
/// connection: the hook runs on the thread that received the 429).
pub fn persist(db: &Path, gate: &ThrottleGate) -> Result<()> {
    let store = Mutex::new(Store::open(db)?);
    gate.set_pause_hook(Box::new(move |until: SystemTime| {
        // Rounded up: a restored pause ending a fraction of a millisecond early sends
        // every waiting thread into the last instant of Graph's window.
        let ms = until
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros().div_ceil(1000));
        if let Err(e) = store.lock().set_meta(KEY, &ms.to_string()) {
            log::warn!("cannot save the throttle pause; a restart before it ends may call Graph too early: {e}");
        }
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_pause_is_restored_by_the_next_gate() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("p.db");
        let store = Store::open(&db).unwrap();
        let gate = ThrottleGate::new(&crate::config::ThrottleConfig::default());
        persist(&db, &gate).unwrap();
        gate.on_throttled(Some(Duration::from_secs(3600)));
        let saved: u64 = store.meta(KEY).unwrap().unwrap().parse().unwrap();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(saved > now_ms + 3_000_000, "{saved} vs {now_ms}");

        let next = ThrottleGate::new(&crate::config::ThrottleConfig::default());
        restore(&store, &next).unwrap();
        assert!(next.stats().paused_ms > 3_000_000, "{:?}", next.stats());
        // A pause in the past restores nothing.
        store.set_meta(KEY, "1").unwrap();
        let fresh = ThrottleGate::new(&crate::config::ThrottleConfig::default());
        restore(&store, &fresh).unwrap();
        assert_eq!(fresh.stats().paused_ms, 0);
    }
}
