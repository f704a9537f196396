//! The scheduler thread: decides which drive runs a delta job next.
//!
//! It owns every per-drive timer (poll or safety-net interval, error backoff, the
//! minimum interval between notification-triggered runs) and the flags that guarantee
//! a drive is never processed by two workers at once. Workers report back when a job
//! ends; a drive marked dirty while its job runs is run once more after it, however
//! many times it was marked, so bursts of notifications coalesce into at most two runs.
//! That re-run starts at once when a single notification batch came during the job (the
//! next change of a quiet drive must not wait), and no earlier than `min_dirty` after
//! the job's start when several did (a burst, or continuous traffic).
//!
//! Each drive has a [`DriveMode`]: with a live subscription it waits
//! `safety_interval` between runs (notifications make it dirty in between), otherwise
//! it is polled every `poll_interval`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log::debug;
use rand::Rng;

use crate::engine::messages::{DriveMode, SchedulerMsg};
use crate::error::Error;

/// Longest wait between two attempts at a failing drive.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(300);

/// One job handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The drive to process.
    pub drive: String,
    /// Run a drift audit (a full enumeration) after catching up, not only delta.
    pub audit: bool,
}

#[derive(Debug, Clone)]
struct DriveSlot {
    next_due: Instant,
    running: bool,
    /// Notification batches that marked the drive while its job ran.
    marks_while_running: u32,
    failures: u32,
    /// Removed while its job ran: the slot goes when the job ends.
    retired: bool,
    mode: DriveMode,
    last_start: Option<Instant>,
    /// A re-run is already set for when the minimum interval has passed.
    rerun_scheduled: bool,
    /// When the next drift audit falls due (`None` with audits off).
    next_audit: Option<Instant>,
    /// The running job is an audit.
    auditing: bool,
}

/// The intervals a [`Schedule`] applies.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    /// Between two runs of a polled drive.
    pub poll: Duration,
    /// Between two runs of a drive with a live subscription and no notification.
    pub safety: Duration,
    /// Shortest time between the starts of two notification-triggered runs of a drive.
    pub min_dirty: Duration,
    /// Between two drift audits of a drive (zero = no audits).
    pub audit: Duration,
}

/// Timing state of every drive; pure logic, driven by [`run`].
pub struct Schedule {
    slots: HashMap<String, DriveSlot>,
    intervals: Intervals,
}

impl Schedule {
    /// A schedule with the given intervals (jittered by ±10 % on success); drives start polled.
    pub fn new(intervals: Intervals) -> Schedule {
        Schedule {
            slots: HashMap::new(),
            intervals,
        }
    }

    /// Adds a drive, due at once. Returns false if it was known.
    pub fn add(&mut self, drive: &str, now: Instant) -> bool {
        if let Some(slot) = self.slots.get_mut(drive) {
            if !std::mem::take(&mut slot.retired) {
                return false;
            }
            // Back before its last job ended: run again right after it.
            slot.marks_while_running = 1;
            return true;
        }
        self.slots.insert(
            drive.to_string(),
            DriveSlot {
                next_due: now,
                running: false,
                marks_while_running: 0,
                failures: 0,
                retired: false,
                mode: DriveMode::Polling,
                last_start: None,
                rerun_scheduled: false,
                next_audit: (!self.intervals.audit.is_zero()).then(|| now + self.intervals.audit),
                auditing: false,
            },
        );
        true
    }

    /// Sets when the drive's next audit falls due (with audits on), e.g. one interval
    /// after the last audit a previous run of the engine recorded.
    pub fn set_audit_due(&mut self, drive: &str, at: Instant) {
        if let Some(slot) = self.slots.get_mut(drive) {
            if slot.next_audit.is_some() {
                slot.next_audit = Some(at);
                slot.next_due = slot.next_due.min(at);
            }
        }
    }

    /// Whether the job just handed out for `drive` is to be an audit (its audit is due).
    pub fn take_audit(&mut self, drive: &str, now: Instant) -> bool {
        let Some(slot) = self.slots.get_mut(drive) else {
            return false;
        };
        slot.auditing = slot.running && slot.next_audit.is_some_and(|at| at <= now);
        slot.auditing
    }

    /// Removes a drive; one whose job is running goes when the job ends.
    pub fn remove(&mut self, drive: &str) {
        match self.slots.get_mut(drive) {
            Some(slot) if slot.running => {
                slot.retired = true;
                slot.marks_while_running = 0;
            }
            Some(_) => {
                self.slots.remove(drive);
            }
            None => {}
        }
    }

    /// Marks a drive dirty: an idle drive is due now (low latency); a running one is
    /// re-run once its job ends: at once when one notification batch marked it during
    /// the job, else no earlier than the minimum interval after that job's start (so a
    /// burst or continuous traffic costs one run per interval).
    pub fn mark_dirty(&mut self, drive: &str, now: Instant) {
        if let Some(slot) = self.slots.get_mut(drive).filter(|s| !s.retired) {
            if slot.running {
                slot.marks_while_running = slot.marks_while_running.saturating_add(1);
            } else if !slot.rerun_scheduled {
                slot.next_due = slot.next_due.min(now);
            }
        }
    }

    /// Switches a drive between polling and webhook mode. Going back to polling
    /// brings its next run within one poll interval.
    pub fn set_mode(&mut self, drive: &str, mode: DriveMode, now: Instant) {
        let poll = self.intervals.poll;
        if let Some(slot) = self.slots.get_mut(drive) {
            if mode == DriveMode::Polling && slot.mode == DriveMode::Webhook {
                slot.next_due = slot.next_due.min(now + poll);
            }
            slot.mode = mode;
        }
    }

    /// Takes every drive that is due and idle, marking it running.
    pub fn take_due(&mut self, now: Instant) -> Vec<String> {
        let mut due: Vec<(Instant, String)> = self
            .slots
            .iter_mut()
            .filter(|(_, s)| !s.running && s.next_due <= now)
            .map(|(id, s)| {
                s.running = true;
                s.rerun_scheduled = false;
                s.last_start = Some(now);
                (s.next_due, id.clone())
            })
            .collect();
        due.sort();
        due.into_iter().map(|(_, id)| id).collect()
    }

    /// Records the end of a job and sets the drive's next due time.
    pub fn job_done(&mut self, drive: &str, ok: bool, now: Instant, jitter: f64) {
        let Intervals {
            poll,
            safety,
            min_dirty,
            audit,
        } = self.intervals;
        let Some(slot) = self.slots.get_mut(drive) else {
            return;
        };
        if slot.retired {
            self.slots.remove(drive);
            return;
        }
        slot.running = false;
        if ok {
            slot.failures = 0;
            let interval = match slot.mode {
                DriveMode::Polling => poll,
                DriveMode::Webhook => safety,
            };
            let marks = std::mem::take(&mut slot.marks_while_running);
            slot.rerun_scheduled = marks > 0;
            slot.next_due = match marks {
                0 => now + interval.mul_f64(jitter),
                // A lone notification (often the next change, landing just before the
                // job ended) is served at once, as for an idle drive.
                1 => now,
                _ => slot.earliest_rerun(now, min_dirty),
            };
        } else {
            slot.failures = slot.failures.saturating_add(1);
            slot.marks_while_running = 0;
            let backoff = Duration::from_secs(1u64 << slot.failures.min(16))
                .min(MAX_ERROR_BACKOFF)
                .min(poll.max(Duration::from_secs(1)));
            slot.next_due = now + backoff.mul_f64(jitter);
        }
        if std::mem::take(&mut slot.auditing) && ok {
            slot.next_audit = Some(now + audit.mul_f64(jitter));
        }
        // A due audit makes the drive due; one that failed stays due and runs after
        // the error backoff.
        if let (Some(at), true) = (slot.next_audit, ok) {
            slot.next_due = slot.next_due.min(at.max(now));
        }
    }

    /// When the next idle drive falls due, if any.
    pub fn next_wake(&self) -> Option<Instant> {
        self.slots
            .values()
            .filter(|s| !s.running)
            .map(|s| s.next_due)
            .min()
    }

    /// Whether any job is running.
    #[cfg(test)]
    fn any_running(&self) -> bool {
        self.slots.values().any(|s| s.running)
    }
}

impl DriveSlot {
    /// `now`, or later when the last run started less than `min_dirty` ago.
    fn earliest_rerun(&self, now: Instant, min_dirty: Duration) -> Instant {
        self.last_start
            .map_or(now, |start| now.max(start + min_dirty))
    }
}

/// The scheduler thread's loop: hands due drives to `jobs` until told to stop.
pub fn run(mut schedule: Schedule, inbox: Receiver<SchedulerMsg>, jobs: Sender<Job>) {
    let mut rng = rand::rng();
    loop {
        for job in due_jobs(&mut schedule, Instant::now()) {
            if jobs.send(job).is_err() {
                return;
            }
        }
        let msg = match schedule.next_wake() {
            Some(at) => inbox.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match msg {
            Ok(msg) => {
                if !apply(&mut schedule, msg, Instant::now(), &mut rng) {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Takes the jobs of every drive that is due and idle (see [`Schedule::take_due`]).
pub fn due_jobs(schedule: &mut Schedule, now: Instant) -> Vec<Job> {
    let due = schedule.take_due(now);
    due.into_iter()
        .map(|drive| {
            let audit = schedule.take_audit(&drive, now);
            debug!(
                "scheduling {} of drive {drive}",
                if audit { "an audit" } else { "delta" }
            );
            Job { drive, audit }
        })
        .collect()
}

/// Applies one message to `schedule`; false when it says stop.
pub fn apply(schedule: &mut Schedule, msg: SchedulerMsg, now: Instant, rng: &mut impl Rng) -> bool {
    match msg {
        SchedulerMsg::JobDone { drive, result } => {
            let ok = !matches!(result, Err(ref e) if !matches!(e, Error::Stopped));
            schedule.job_done(&drive, ok, now, rng.random_range(0.9..1.1));
        }
        SchedulerMsg::Dirty(drive) => schedule.mark_dirty(&drive, now),
        SchedulerMsg::AddDrive(drive) => {
            schedule.add(&drive, now);
        }
        SchedulerMsg::RemoveDrive(drive) => schedule.remove(&drive),
        SchedulerMsg::SetMode { drive, mode } => schedule.set_mode(&drive, mode, now),
        SchedulerMsg::Stop => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLL: Duration = Duration::from_secs(60);
    const SAFETY: Duration = Duration::from_secs(86_400);

    fn schedule(min_dirty: Duration) -> Schedule {
        Schedule::new(Intervals {
            poll: POLL,
            safety: SAFETY,
            min_dirty,
            audit: Duration::ZERO,
        })
    }

    #[test]
    fn a_drive_is_never_handed_out_twice() {
        let t0 = Instant::now();
        let mut s = schedule(Duration::ZERO);
        assert!(s.add("a", t0));
        assert!(!s.add("a", t0));
        assert_eq!(s.take_due(t0), vec!["a".to_string()]);
        s.mark_dirty("a", t0);
        assert!(s.take_due(t0).is_empty(), "running drive handed out again");
        assert!(s.any_running());
    }

    #[test]
    fn dirty_while_running_reruns_once() {
        let t0 = Instant::now();
        let mut s = schedule(Duration::ZERO);
        s.add("a", t0);
        s.take_due(t0);
        for _ in 0..1000 {
            s.mark_dirty("a", t0);
        }
        s.job_done("a", true, t0, 1.0);
        assert_eq!(s.take_due(t0).len(), 1);
        s.job_done("a", true, t0, 1.0);
        assert!(s.take_due(t0).is_empty());
        assert_eq!(s.next_wake(), Some(t0 + POLL));
    }

    #[test]
    fn success_waits_a_poll_interval_and_failures_back_off() {
        let t0 = Instant::now();
        let mut s = schedule(Duration::ZERO);
        s.add("a", t0);
        s.take_due(t0);
        s.job_done("a", false, t0, 1.0);
        assert_eq!(s.next_wake(), Some(t0 + Duration::from_secs(2)));
        s.take_due(t0 + Duration::from_secs(2));
        s.job_done("a", false, t0, 1.0);
        assert_eq!(s.next_wake(), Some(t0 + Duration::from_secs(4)));
        for _ in 0..20 {
            s.take_due(t0 + Duration::from_secs(3600));
            s.job_done("a", false, t0, 1.0);
        }
        assert_eq!(
            s.next_wake(),
            Some(t0 + POLL),
            "backoff is capped by the poll interval"
        );
        s.take_due(t0 + Duration::from_secs(3600));
        s.job_done("a", true, t0, 1.0);
        assert_eq!(s.next_wake(), Some(t0 + POLL));
    }

    #[test]
    fn removed_drives_are_no_longer_handed_out() {
        let t0 = Instant::now();
        let mut s = schedule(Duration::ZERO);
        s.add("idle", t0);
        s.add("busy", t0);
        assert_eq!(s.take_due(t0).len(), 2);
        s.job_done("idle", true, t0, 1.0);
        s.remove("idle");
        s.remove("busy");
        s.remove("unknown");
        assert_eq!(s.next_wake(), None);
        s.mark_dirty("busy", t0);
        s.job_done("busy", true, t0, 1.0);
        assert!(s.take_due(t0 + POLL * 2).is_empty());
        assert!(!s.any_running());
        assert!(s.add("idle", t0), "a removed drive can come back");
    }

    #[test]
    fn a_drive_back_while_its_job_runs_runs_again_after_it() {
        let t0 = Instant::now();
        let mut s = schedule(Duration::ZERO);
        s.add("a", t0);
        s.take_due(t0);
        s.remove("a");
        assert!(s.add("a", t0));
        assert!(!s.add("a", t0));
        assert!(s.take_due(t0).is_empty(), "its job still runs");
        s.job_done("a", true, t0, 1.0);
        assert_eq!(s.take_due(t0), vec!["a".to_string()]);
    }

    #[test]
    fn dirty_idle_drive_is_due_at_once() {
        let t0 = Instant::now();
        let mut s = schedule(Duration::ZERO);
        s.add("a", t0);
        s.take_due(t0);
        s.job_done("a", true, t0, 1.0);
        assert!(s.take_due(t0).is_empty());
        s.mark_dirty("a", t0);
        assert_eq!(s.take_due(t0).len(), 1);
        s.mark_dirty("unknown", t0);
    }

    #[test]
    fn webhook_drives_wait_the_safety_interval_and_polling_returns() {
        let t0 = Instant::now();
        let mut s = schedule(Duration::ZERO);
        s.add("a", t0);
        s.set_mode("a", DriveMode::Webhook, t0);
        s.take_due(t0);
        s.job_done("a", true, t0, 1.0);
        assert_eq!(s.next_wake(), Some(t0 + SAFETY));
        s.set_mode("a", DriveMode::Polling, t0);
        assert_eq!(s.next_wake(), Some(t0 + POLL));
        s.set_mode("unknown", DriveMode::Webhook, t0);
    }

    #[test]
    fn minimum_interval_spaces_reruns_but_not_idle_runs() {
        let t0 = Instant::now();
        let gap = Duration::from_secs(5);
        let mut s = schedule(gap);
        s.add("a", t0);
        s.set_mode("a", DriveMode::Webhook, t0);
        s.take_due(t0);
        s.mark_dirty("a", t0);
        s.mark_dirty("a", t0);
        let t1 = t0 + Duration::from_secs(1);
        s.job_done("a", true, t1, 1.0);
        s.mark_dirty("a", t1);
        assert!(
            s.take_due(t1).is_empty(),
            "re-run before the minimum interval"
        );
        assert_eq!(s.next_wake(), Some(t0 + gap));
        assert_eq!(s.take_due(t0 + gap).len(), 1);
        let t2 = t0 + gap + Duration::from_secs(1);
        s.job_done("a", true, t2, 1.0);
        // Idle again: the next notification runs at once.
        s.mark_dirty("a", t2);
        assert_eq!(s.take_due(t2).len(), 1);
    }

    #[test]
    fn a_lone_notification_during_a_job_reruns_at_once() {
        let t0 = Instant::now();
        let mut s = schedule(Duration::from_secs(5));
        s.add("a", t0);
        s.set_mode("a", DriveMode::Webhook, t0);
        s.take_due(t0);
        s.mark_dirty("a", t0);
        let t1 = t0 + Duration::from_millis(10);
        s.job_done("a", true, t1, 1.0);
        assert_eq!(s.take_due(t1).len(), 1, "the next change waited");
    }

    #[test]
    fn audits_fall_due_every_interval_and_retry_after_failures() {
        const AUDIT: Duration = Duration::from_secs(600);
        let t0 = Instant::now();
        let mut s = Schedule::new(Intervals {
            poll: POLL,
            safety: SAFETY,
            min_dirty: Duration::ZERO,
            audit: AUDIT,
        });
        s.add("a", t0);
        assert_eq!(s.take_due(t0), vec!["a".to_string()]);
        assert!(!s.take_audit("a", t0), "the first crawl is no audit");
        s.job_done("a", true, t0, 1.0);
        // Polled rounds until the audit falls due.
        let t1 = t0 + AUDIT;
        while s.next_wake().is_some_and(|at| at < t1) {
            let at = s.next_wake().unwrap();
            assert_eq!(s.take_due(at).len(), 1);
            assert!(!s.take_audit("a", at));
            s.job_done("a", true, at, 1.0);
        }
        assert_eq!(s.take_due(t1).len(), 1);
        assert!(s.take_audit("a", t1));
        s.job_done("a", false, t1, 1.0);
        let t2 = s.next_wake().unwrap();
        assert!(t2 > t1, "a failed audit waits for the error backoff");
        assert_eq!(s.take_due(t2).len(), 1);
        assert!(s.take_audit("a", t2), "a failed audit is tried again");
        s.job_done("a", true, t2, 1.0);
        assert_eq!(s.next_wake(), Some(t2 + POLL));
        let t3 = t2 + POLL;
        s.take_due(t3);
        assert!(!s.take_audit("a", t3), "the next audit is an interval away");
        s.job_done("a", true, t3, 1.0);

        // A previous run's last audit sets the first one.
        s.add("b", t3);
        s.set_audit_due("b", t3);
        assert!(s.take_due(t3).contains(&"b".to_string()));
        assert!(s.take_audit("b", t3));
        assert!(!s.take_audit("unknown", t3));
    }

    #[test]
    fn without_an_audit_interval_no_job_is_an_audit() {
        let t0 = Instant::now();
        let mut s = schedule(Duration::ZERO);
        s.add("a", t0);
        s.set_audit_due("a", t0);
        s.take_due(t0);
        assert!(!s.take_audit("a", t0 + SAFETY * 10));
    }
}
