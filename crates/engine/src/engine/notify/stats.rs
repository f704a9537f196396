//! Counters of the notification intake, shown in status.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Why a request or a notification was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The body is not a notification batch (bad JSON, wrong shape).
    Malformed,
    /// The subscription id is not one of ours (or none was given).
    UnknownSubscription,
    /// The clientState does not match the subscription's secret.
    BadClientState,
    /// A method other than POST.
    WrongMethod,
    /// A path other than the configured one.
    WrongPath,
    /// The body exceeds `webhook.max_body_bytes`.
    TooLarge,
    /// The body was not read within `webhook.read_timeout_ms`.
    Timeout,
    /// A validation token that is empty, too long or not text.
    BadValidationToken,
    /// The listener was at its connection cap: refused, or cut off while sending.
    Busy,
}

/// Live counters; cheap to bump from any thread.
#[derive(Debug, Default)]
pub struct IntakeCounters {
    accepted: AtomicU64,
    lifecycle: AtomicU64,
    validations: AtomicU64,
    rejected: [AtomicU64; 9],
}

impl IntakeCounters {
    /// Counts one accepted change notification.
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Relaxed);
    }

    /// Counts one accepted lifecycle notification.
    pub fn lifecycle(&self) {
        self.lifecycle.fetch_add(1, Relaxed);
    }

    /// Counts one answered validation request.
    pub fn validation(&self) {
        self.validations.fetch_add(1, Relaxed);
    }

    /// Counts one rejection.
    pub fn rejected(&self, why: Rejection) {
        self.rejected[why as usize].fetch_add(1, Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> NotificationStats {
        let r = |why: Rejection| self.rejected[why as usize].load(Relaxed);
        NotificationStats {
            accepted: self.accepted.load(Relaxed),
            lifecycle: self.lifecycle.load(Relaxed),
            validations: self.validations.load(Relaxed),
            rejected_malformed: r(Rejection::Malformed),
            rejected_unknown_subscription: r(Rejection::UnknownSubscription),
            rejected_client_state: r(Rejection::BadClientState),
            rejected_method: r(Rejection::WrongMethod),
            rejected_path: r(Rejection::WrongPath),
            rejected_too_large: r(Rejection::TooLarge),
            rejected_timeout: r(Rejection::Timeout),
            rejected_validation_token: r(Rejection::BadValidationToken),
            rejected_busy: r(Rejection::Busy),
        }
    }
}

/// Notification counters since start, by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotificationStats {
    /// Change notifications accepted (each may trigger at most one delta run).
    pub accepted: u64,
    /// Lifecycle notifications accepted.
    pub lifecycle: u64,
    /// Validation requests answered.
    pub validations: u64,
    /// Bodies that were not a notification batch.
    pub rejected_malformed: u64,
    /// Notifications for a subscription that is not ours.
    pub rejected_unknown_subscription: u64,
    /// Notifications with a wrong clientState.
    pub rejected_client_state: u64,
    /// Requests with a method other than POST.
    pub rejected_method: u64,
    /// Requests to another path.
    pub rejected_path: u64,
    /// Bodies over the size limit.
    pub rejected_too_large: u64,
    /// Requests not read in time.
    pub rejected_timeout: u64,
    /// Validation tokens that were empty, too long or not text.
    pub rejected_validation_token: u64,
    /// Requests refused or cut off at the listener's connection cap.
    pub rejected_busy: u64,
}

impl NotificationStats {
    /// Every rejection, whatever the reason.
    pub fn rejected(&self) -> u64 {
        self.rejected_malformed
            + self.rejected_unknown_subscription
            + self.rejected_client_state
            + self.rejected_method
            + self.rejected_path
            + self.rejected_too_large
            + self.rejected_timeout
            + self.rejected_validation_token
            + self.rejected_busy
    }
}
