//! The host's job queue: workers take jobs round-robin over the tenants that have one,
//! the tenant with the fewest running jobs first, so a tenant with many drives (or a
//! throttled one) cannot starve the others. No tenant holds more than `cap` workers
//! (the host sets all but one), so one whose jobs wait out a long Retry-After leaves
//! a worker to the rest.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// How long an idle worker sleeps before looking again (a throttled tenant's pause
/// may have ended); it is woken earlier by every new job.
const RECHECK: Duration = Duration::from_millis(100);

/// Jobs waiting per tenant, and how many of each tenant's jobs run.
pub struct FairQueue<J> {
    state: Mutex<State<J>>,
    ready: Condvar,
}

struct State<J> {
    waiting: HashMap<String, VecDeque<J>>,
    running: HashMap<String, usize>,
    /// Tenants in the order they are offered a worker; the one served goes last.
    order: VecDeque<String>,
    /// Most jobs of one tenant running at once.
    cap: usize,
    stopped: bool,
}

impl<J> FairQueue<J> {
    /// An empty queue letting a tenant run at most `cap` (at least 1) jobs at once.
    pub fn new(cap: usize) -> Self {
        FairQueue {
            state: Mutex::new(State {
                waiting: HashMap::new(),
                running: HashMap::new(),
                order: VecDeque::new(),
                cap: cap.max(1),
                stopped: false,
            }),
            ready: Condvar::new(),
        }
    }

    /// Queues a job of `tenant`.
    pub fn push(&self, tenant: &str, job: J) {
        let mut s = self.state.lock();
        if !s.order.iter().any(|t| t == tenant) {
            s.order.push_back(tenant.to_string());
        }
        s.waiting
            .entry(tenant.to_string())
            .or_default()
            .push_back(job);
        self.ready.notify_one();
    }

    /// Drops the waiting jobs of `tenant` (running ones end on their own).
    pub fn forget(&self, tenant: &str) -> Vec<J> {
        let mut s = self.state.lock();
        s.order.retain(|t| t != tenant);
        s.waiting.remove(tenant).map(Vec::from).unwrap_or_default()
    }

    /// The next job without waiting: of the tenants with a waiting job that `runnable`
    /// accepts (e.g. not throttled), the one with the fewest running jobs, ties
    /// broken round-robin. The job counts as running until [`FairQueue::done`].
    #[cfg(test)]
    pub fn try_take(&self, runnable: &dyn Fn(&str) -> bool) -> Option<(String, J)> {
        self.state.lock().take(runnable)
    }

    /// Like [`FairQueue::try_take`], waiting until a job comes; `None` once stopped.
    pub fn take(&self, runnable: &dyn Fn(&str) -> bool) -> Option<(String, J)> {
        let mut s = self.state.lock();
        loop {
            if s.stopped {
                return None;
            }
            if let Some(found) = s.take(runnable) {
                return Some(found);
            }
            self.ready.wait_for(&mut s, RECHECK);
        }
    }

    /// Records the end of a job of `tenant` taken earlier.
    pub fn done(&self, tenant: &str) {
        let mut s = self.state.lock();
        if let Some(n) = s.running.get_mut(tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.running.remove(tenant);
            }
        }
        self.ready.notify_one();
    }

    /// Wakes every waiting worker for good.
    pub fn stop(&self) {
        self.state.lock().stopped = true;
        self.ready.notify_all();
    }
}

impl<J> State<J> {
    fn take(&mut self, runnable: &dyn Fn(&str) -> bool) -> Option<(String, J)> {
        let mut best: Option<(usize, usize)> = None;
        for (i, tenant) in self.order.iter().enumerate() {
            let has_work = self.waiting.get(tenant).is_some_and(|q| !q.is_empty());
            if !has_work || !runnable(tenant) {
                continue;
            }
            let running = self.running.get(tenant).copied().unwrap_or(0);
            if running >= self.cap {
                continue;
            }
            if best.is_none_or(|(_, fewest)| running < fewest) {
                best = Some((i, running));
            }
        }
        let (i, _) = best?;
        let tenant = self.order.remove(i)?;
        let job = self.waiting.get_mut(&tenant)?.pop_front()?;
        *self.running.entry(tenant.clone()).or_default() += 1;
        self.order.push_back(tenant.clone());
        Some((tenant, job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn tenants_take_turns_whatever_their_backlog() {
        let q = FairQueue::new(8);
        for d in 0..10 {
            q.push("busy", format!("busy-{d}"));
        }
        q.push("a", "a-0".to_string());
        q.push("b", "b-0".to_string());
        // Two workers: the busy tenant gets one, the others get the next turns.
        let order: Vec<String> = (0..4)
            .map(|_| {
                let (tenant, job) = q.try_take(&all).unwrap();
                q.done(&tenant);
                job
            })
            .collect();
        assert_eq!(order, ["busy-0", "a-0", "b-0", "busy-1"]);
    }

    #[test]
    fn the_tenant_with_fewest_running_jobs_goes_first() {
        let q = FairQueue::new(8);
        for d in 0..3 {
            q.push("busy", d);
        }
        let (t, _) = q.try_take(&all).unwrap();
        assert_eq!(t, "busy");
        // Still running; a newcomer is served before the busy tenant's second job.
        q.push("quiet", 100);
        assert_eq!(q.try_take(&all).unwrap(), ("quiet".to_string(), 100));
        assert_eq!(q.try_take(&all).unwrap().0, "busy");
    }

    #[test]
    fn a_tenant_that_is_not_runnable_is_skipped_and_forgotten_tenants_vanish() {
        let q = FairQueue::new(8);
        q.push("throttled", 1);
        q.push("ok", 2);
        let not_throttled = |t: &str| t != "throttled";
        assert_eq!(q.try_take(&not_throttled).unwrap(), ("ok".to_string(), 2));
        assert!(q.try_take(&not_throttled).is_none());
        assert_eq!(q.forget("throttled"), vec![1]);
        assert!(q.try_take(&all).is_none());
        q.stop();
        assert!(q.take(&all).is_none());
    }

    #[test]
    fn no_tenant_runs_more_than_its_cap() {
        let q = FairQueue::new(2);
        for d in 0..3 {
            q.push("busy", d);
        }
        assert!(q.try_take(&all).is_some());
        assert!(q.try_take(&all).is_some());
        assert!(q.try_take(&all).is_none(), "a third worker for one tenant");
        q.done("busy");
        assert_eq!(q.try_take(&all).unwrap(), ("busy".to_string(), 2));
        q.stop();
        assert!(q.take(&all).is_none());
    }
}
