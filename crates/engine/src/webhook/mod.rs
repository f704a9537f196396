//! Change notifications from Graph: the validation handshake, the 202-first
//! notification listener, clientState secrets, and the checks shared with hosts that
//! run their own HTTP server.
//!
//! TLS: Graph requires https. The listener serves it itself with
//! `webhook.tls_cert_file` / `tls_key_file`, or speaks plain HTTP behind a reverse
//! proxy that terminates TLS (point `webhook.public_url` at the proxy).

pub mod intake;
pub mod listener;
pub mod registry;
pub mod secret;
pub mod stats;

pub use intake::{Intake, LifecycleEvent, Signal, SignalSink};
pub use listener::{Listener, ListenerOptions, TlsIdentity};
pub use registry::{KnownSubscription, Registry};
pub use secret::ClientState;
pub use stats::{IntakeCounters, NotificationStats, Rejection};
