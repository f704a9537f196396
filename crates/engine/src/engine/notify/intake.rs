//! Checks of incoming notifications and validation requests, shared by the built-in
//! listener and by hosts that run their own HTTP server.
//!
//! Checking is pure and quick (JSON parse, a hash, a map lookup), so the listener can
//! answer before anything else happens; [`Intake::dispatch`] then hands the verified
//! signals to the engine, which only marks drives dirty or queues lifecycle work.

use std::collections::BTreeSet;
use std::sync::Arc;

use log::{debug, warn};

use super::registry::Registry;
use super::secret::client_state_matches;
use super::stats::{IntakeCounters, Rejection};
use crate::engine::messages::LifecycleEvent;
use crate::graph::types::{Notification, NotificationBatch};

/// Longest validation token echoed back, in bytes (Graph's are about 120).
pub const MAX_VALIDATION_TOKEN_BYTES: usize = 1024;

/// What a verified notification asks the engine to do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    /// Something changed on the drive (or notifications were missed): run delta.
    Changed {
        /// The drive concerned.
        drive_id: String,
    },
    /// A lifecycle event for one of our subscriptions.
    Lifecycle {
        /// The subscription concerned.
        subscription_id: String,
        /// Its drive.
        drive_id: String,
        /// What happened.
        event: LifecycleEvent,
    },
}

/// Receives verified signals; must not block (it runs on request threads).
pub trait SignalSink: Send + Sync {
    /// Acts on one request's signals, each drive at most once.
    fn deliver(&self, signals: Vec<Signal>);
}

/// The outcome of checking one notification POST.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Distinct signals of the accepted notifications, in a stable order.
    pub signals: Vec<Signal>,
    /// Notifications accepted.
    pub accepted: usize,
    /// Notifications rejected (unknown subscription, bad clientState).
    pub rejected: usize,
}

/// Checks requests against the [`Registry`] and counts the outcomes.
pub struct Intake {
    registry: Arc<Registry>,
    counters: Arc<IntakeCounters>,
    sink: Arc<dyn SignalSink>,
}

impl Intake {
    /// An intake checking against `registry`, counting into `counters`, delivering to `sink`.
    pub fn new(
        registry: Arc<Registry>,
        counters: Arc<IntakeCounters>,
        sink: Arc<dyn SignalSink>,
    ) -> Intake {
        Intake {
            registry,
            counters,
            sink,
        }
    }

    /// The counters this intake bumps.
    #[cfg(test)]
    fn counters(&self) -> &IntakeCounters {
        &self.counters
    }

    /// Parses a notification body and checks each entry's subscription and clientState.
    /// Fails only when the body is not a notification batch; entries that fail their
    /// checks are counted and left out.
    pub fn verify(&self, body: &[u8]) -> Result<Verified, Rejection> {
        let batch: NotificationBatch = serde_json::from_slice(body).map_err(|e| {
            debug!("malformed notification body: {e}");
            self.counters.rejected(Rejection::Malformed);
            Rejection::Malformed
        })?;
        let mut signals = BTreeSet::new();
        let mut verified = Verified::default();
        for n in &batch.value {
            match self.check(n) {
                Ok(signal) => {
                    verified.accepted += 1;
                    signals.insert(signal);
                }
                Err(why) => {
                    verified.rejected += 1;
                    self.counters.rejected(why);
                }
            }
        }
        verified.signals = signals.into_iter().collect();
        Ok(verified)
    }

    /// Hands verified signals to the engine.
    pub fn dispatch(&self, verified: Verified) {
        if !verified.signals.is_empty() {
            self.sink.deliver(verified.signals);
        }
    }

    /// [`Intake::verify`] then [`Intake::dispatch`], for hosts that answer after the call.
    pub fn handle(&self, body: &[u8]) -> Result<Verified, Rejection> {
        let verified = self.verify(body)?;
        self.dispatch(verified.clone());
        Ok(verified)
    }

    /// See [`validation_response`].
    pub fn validation_response(&self, token: &str) -> Result<String, Rejection> {
        validation_response(&self.counters, token)
    }

    /// Counts a request refused before its body was looked at.
    pub fn refused(&self, why: Rejection) {
        self.counters.rejected(why);
    }

    fn check(&self, n: &Notification) -> Result<Signal, Rejection> {
        let id = n
            .subscription_id
            .as_deref()
            .ok_or(Rejection::UnknownSubscription)?;
        let known = self
            .registry
            .get(id)
            .ok_or(Rejection::UnknownSubscription)?;
        let presented = n.client_state.as_deref().unwrap_or_default();
        if !client_state_matches(presented, &known.client_state_hash) {
            warn!("notification for subscription {id} with a wrong clientState: dropped");
            return Err(Rejection::BadClientState);
        }
        let event = match n.lifecycle_event.as_deref() {
            None => {
                self.counters.accepted();
                return Ok(Signal::Changed {
                    drive_id: known.drive_id,
                });
            }
            Some(e) => e,
        };
        self.counters.lifecycle();
        let event = match event {
            "reauthorizationRequired" => LifecycleEvent::ReauthorizationRequired,
            "subscriptionRemoved" => LifecycleEvent::SubscriptionRemoved,
            other => {
                // `missed` and anything new: a delta run catches up whatever it was.
                debug!("lifecycle event {other} on subscription {id}: running delta");
                return Ok(Signal::Changed {
                    drive_id: known.drive_id,
                });
            }
        };
        Ok(Signal::Lifecycle {
            subscription_id: id.to_string(),
            drive_id: known.drive_id,
            event,
        })
    }
}

/// The body of the answer to a validation request: the decoded token itself.
/// Empty, overlong or non-text tokens are refused; nothing else is ever echoed.
pub fn validation_response(counters: &IntakeCounters, token: &str) -> Result<String, Rejection> {
    let ok = !token.is_empty()
        && token.len() <= MAX_VALIDATION_TOKEN_BYTES
        && !token.chars().any(char::is_control);
    if ok {
        counters.validation();
        Ok(token.to_string())
    } else {
        counters.rejected(Rejection::BadValidationToken);
        Err(Rejection::BadValidationToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::notify::{ClientState, KnownSubscription};
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Signal>>);
    impl SignalSink for Recorder {
        fn deliver(&self, signals: Vec<Signal>) {
            self.0.lock().extend(signals);
        }
    }

    fn intake() -> (Intake, Arc<Recorder>, ClientState) {
        let registry = Arc::new(Registry::default());
        let secret = ClientState::generate();
        registry.insert(
            "s1",
            KnownSubscription {
                drive_id: "d1".into(),
                client_state_hash: secret.hash(),
            },
        );
        let sink = Arc::new(Recorder::default());
        let intake = Intake::new(registry, Arc::default(), sink.clone());
        (intake, sink, secret)
    }

    fn note(sub: &str, state: &str, lifecycle: Option<&str>) -> serde_json::Value {
        let mut v = serde_json::json!({"subscriptionId": sub, "clientState": state,
            "changeType": "updated", "resource": "/drives/d1/root"});
        if let Some(l) = lifecycle {
            v["lifecycleEvent"] = l.into();
        }
        v
    }

    #[test]
    fn duplicates_in_one_post_make_one_signal() {
        let (intake, sink, secret) = intake();
        let n = note("s1", secret.expose(), None);
        let body = serde_json::json!({"value": [n.clone(), n.clone(), n]}).to_string();
        let v = intake.handle(body.as_bytes()).unwrap();
        assert_eq!((v.accepted, v.rejected), (3, 0));
        assert_eq!(
            *sink.0.lock(),
            vec![Signal::Changed {
                drive_id: "d1".into()
            }]
        );
        assert_eq!(intake.counters().snapshot().accepted, 3);
    }

    #[test]
    fn bad_client_state_and_unknown_subscriptions_are_counted_not_delivered() {
        let (intake, sink, secret) = intake();
        let body = serde_json::json!({"value": [
            note("s1", "forged", None),
            note("s2", secret.expose(), None),
            {"clientState": secret.expose()},
        ]})
        .to_string();
        let v = intake.handle(body.as_bytes()).unwrap();
        assert_eq!((v.accepted, v.rejected), (0, 3));
        assert!(sink.0.lock().is_empty());
        let stats = intake.counters().snapshot();
        assert_eq!(stats.rejected_client_state, 1);
        assert_eq!(stats.rejected_unknown_subscription, 2);
        for bad in [&b"not json"[..], b"{}", b"{\"value\":5}", b"[]", b""] {
            assert_eq!(intake.handle(bad), Err(Rejection::Malformed));
        }
        assert_eq!(intake.counters().snapshot().rejected_malformed, 5);
    }

    #[test]
    fn lifecycle_events_are_told_apart() {
        let (intake, sink, secret) = intake();
        let body = serde_json::json!({"value": [
            note("s1", secret.expose(), Some("reauthorizationRequired")),
            note("s1", secret.expose(), Some("subscriptionRemoved")),
            note("s1", secret.expose(), Some("missed")),
        ]})
        .to_string();
        intake.handle(body.as_bytes()).unwrap();
        let lifecycle = |event| Signal::Lifecycle {
            subscription_id: "s1".into(),
            drive_id: "d1".into(),
            event,
        };
        assert_eq!(
            *sink.0.lock(),
            vec![
                Signal::Changed {
                    drive_id: "d1".into()
                },
                lifecycle(LifecycleEvent::ReauthorizationRequired),
                lifecycle(LifecycleEvent::SubscriptionRemoved),
            ]
        );
        assert_eq!(intake.counters().snapshot().lifecycle, 3);
    }

    #[test]
    fn validation_tokens_are_echoed_within_limits() {
        let (intake, _, _) = intake();
        let token = "Validation: Testing client application reachability";
        assert_eq!(intake.validation_response(token).unwrap(), token);
        let long = "x".repeat(MAX_VALIDATION_TOKEN_BYTES + 1);
        for bad in ["", long.as_str(), "a\r\nSet-Cookie: x"] {
            assert_eq!(
                intake.validation_response(bad),
                Err(Rejection::BadValidationToken)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_body_is_verified_or_rejected_without_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
        ) {
            let (intake, _, _) = intake();
            let _ = intake.handle(&body);
        }

        #[test]
        fn any_token_is_answered_or_refused_without_panic(token in "\\PC{0,64}") {
            let (intake, _, _) = intake();
            if let Ok(echo) = intake.validation_response(&token) {
                proptest::prop_assert_eq!(echo, token);
            }
        }
    }
}
