//! Wake-ups between the threads that write the journal and the one that delivers it.

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::Duration;

/// One wake-up shared by the journals of many tenants, so that a single dispatcher
/// sleeps until any of them has something new.
#[derive(Default)]
pub struct Bell {
    rung: Mutex<u64>,
    changed: Condvar,
}

impl Bell {
    /// Wakes the waiter.
    pub fn ring(&self) {
        *self.rung.lock() += 1;
        self.changed.notify_all();
    }

    /// How many times the bell rang so far (pass it to [`Bell::wait_after`]).
    pub fn rung(&self) -> u64 {
        *self.rung.lock()
    }

    /// Waits until the bell rings after `seen` rings, or `timeout` passes.
    pub fn wait_after(&self, seen: u64, timeout: Duration) {
        let mut rung = self.rung.lock();
        if *rung == seen {
            self.changed.wait_for(&mut rung, timeout);
        }
    }
}

/// The newest journal seq known to be committed, with a condition variable so the
/// dispatcher sleeps until there is something new (or until it is told to stop).
#[derive(Default)]
pub struct JournalSignal {
    state: Mutex<SignalState>,
    changed: Condvar,
    /// Also rung on every change, for a dispatcher serving many journals.
    bell: Option<Arc<Bell>>,
}

#[derive(Default)]
struct SignalState {
    last_seq: i64,
    stopping: bool,
}

impl JournalSignal {
    /// A signal that also rings `bell` on every change.
    pub fn with_bell(bell: Arc<Bell>) -> JournalSignal {
        JournalSignal {
            bell: Some(bell),
            ..JournalSignal::default()
        }
    }

    fn ring(&self) {
        if let Some(bell) = &self.bell {
            bell.ring();
        }
    }

    /// Records that events up to `seq` are committed and wakes the waiters.
    pub fn published(&self, seq: i64) {
        let mut s = self.state.lock();
        if seq > s.last_seq {
            s.last_seq = seq;
            self.changed.notify_all();
            drop(s);
            self.ring();
        }
    }

    /// Wakes the waiters without publishing anything (e.g. a new handler was set).
    pub fn poke(&self) {
        {
            let _guard = self.state.lock();
            self.changed.notify_all();
        }
        self.ring();
    }

    /// Wakes every waiter for good.
    pub fn stop(&self) {
        self.state.lock().stopping = true;
        self.changed.notify_all();
        self.ring();
    }

    /// Waits until a seq greater than `seen` is published, the signal is stopped, or
    /// `timeout` passes. Returns false once stopped.
    pub fn wait_beyond(&self, seen: i64, timeout: Duration) -> bool {
        let mut s = self.state.lock();
        if !s.stopping && s.last_seq <= seen {
            self.changed.wait_for(&mut s, timeout);
        }
        !s.stopping
    }

    /// The newest seq published.
    pub fn last_seq(&self) -> i64 {
        self.state.lock().last_seq
    }

    /// Whether `stop` was called.
    pub fn is_stopping(&self) -> bool {
        self.state.lock().stopping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiter_wakes_on_publish_and_on_stop() {
        let signal = Arc::new(JournalSignal::default());
        let s2 = signal.clone();
        let t = std::thread::spawn(move || s2.wait_beyond(0, Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        signal.published(3);
        assert!(t.join().unwrap());
        // Already beyond: returns at once.
        assert!(signal.wait_beyond(2, Duration::from_secs(30)));
        signal.stop();
        assert!(!signal.wait_beyond(3, Duration::from_secs(30)));
        assert!(signal.is_stopping());
    }
}
