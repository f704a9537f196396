//! A counting gate: at most `limit` holders at once, the others wait their turn.

use parking_lot::{Condvar, Mutex};

/// Limits how many requests are handled at once.
pub(crate) struct Gate {
    limit: usize,
    inside: Mutex<usize>,
    freed: Condvar,
}

/// A place inside the gate, given back on drop.
pub(crate) struct Pass<'a>(&'a Gate);

impl Gate {
    pub(crate) fn new(limit: usize) -> Gate {
        Gate {
            limit: limit.max(1),
            inside: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Waits for a place.
    pub(crate) fn enter(&self) -> Pass<'_> {
        let mut inside = self.inside.lock();
        while *inside >= self.limit {
            self.freed.wait(&mut inside);
        }
        *inside += 1;
        Pass(self)
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        *self.0.inside.lock() -= 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn never_more_than_the_limit_inside() {
        let gate = Arc::new(Gate::new(2));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, now, most) = (gate.clone(), now.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        let _pass = gate.enter();
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        std::thread::yield_now();
                        now.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 2);
    }
}
