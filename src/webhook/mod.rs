//! Change notifications from Graph: the validation handshake, the 202-first
//! notification listener, clientState secrets, and the checks shared with hosts that
//! run their own HTTP server.
//!
//! TLS: the listener speaks plain HTTP; Graph requires https, so terminate TLS in the
//! host's reverse proxy and point `webhook.public_url` at it.

pub mod intake;
pub mod listener;
pub mod registry;
pub mod secret;
pub mod stats;

pub use intake::{Intake, LifecycleEvent, Signal, SignalSink, Verified};
pub use listener::{Listener, ListenerOptions, TlsIdentity};
pub use registry::{KnownSubscription, Registry};
pub use secret::ClientState;
pub use stats::{IntakeCounters, NotificationStats, Rejection};
