//! The messages between the engine's threads, on one page: what the scheduler, the
//! subscription manager and discovery are told, and by whom.
//!
//! - [`SchedulerMsg`]: from workers (a job ended), notifications (a drive changed),
//!   discovery (drives came or went), the manager (a drive's mode) and `stop`.
//! - [`ManagerMsg`]: from the notification intake (lifecycle events), discovery
//!   (drives came or went) and `stop`.
//! - [`Wake`]: from the notification intake to discovery (`/sites`, `/groups`).

use crate::engine::crawl::JobOutcome;
use crate::error::Result;

/// Messages the scheduler receives.
pub enum SchedulerMsg {
    /// A worker finished a job.
    JobDone {
        /// The drive of the job.
        drive: String,
        /// How it ended.
        result: Result<JobOutcome>,
    },
    /// Something changed on the drive: run a delta as soon as possible.
    Dirty(String),
    /// A drive came into scope: crawl it.
    AddDrive(String),
    /// A drive left scope or disappeared: schedule it no more.
    RemoveDrive(String),
    /// The drive gained or lost its subscription.
    SetMode {
        /// The drive.
        drive: String,
        /// How its changes are noticed from now on.
        mode: DriveMode,
    },
    /// Stop scheduling; workers finish their page in flight.
    Stop,
}

/// How a drive's changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveMode {
    /// Delta every poll interval.
    Polling,
    /// A live subscription; delta on notification, plus the safety net.
    Webhook,
}

impl DriveMode {
    /// `polling` or `webhook`, as status shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            DriveMode::Polling => "polling",
            DriveMode::Webhook => "webhook",
        }
    }
}

/// Messages the manager receives.
#[derive(Debug)]
pub enum ManagerMsg {
    /// A verified lifecycle notification.
    Lifecycle {
        /// The subscription concerned.
        subscription_id: String,
        /// Its drive.
        drive_id: String,
        /// What Graph said.
        event: LifecycleEvent,
    },
    /// Discovery brought a drive into scope: subscribe to it.
    DriveAdded(String),
    /// Discovery saw a drive go: delete its subscription.
    DriveRemoved(String),
    /// Stop (deleting the subscriptions first when configured).
    Stop,
}

/// Lifecycle events Graph may send about a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LifecycleEvent {
    /// Reauthorize (or renew) the subscription soon, or it stops.
    ReauthorizationRequired,
    /// The subscription is gone: create a new one and catch up with delta.
    SubscriptionRemoved,
}

/// What wakes discovery before its interval: a notification on `/sites` or `/groups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A site collection was created or deleted.
    Sites,
    /// A group was created, changed or deleted.
    Groups,
}
