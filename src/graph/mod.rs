//! Everything that talks HTTP to Microsoft Graph.

pub mod throttle;
pub mod types;

pub use throttle::{RequestKind, ThrottleGate, ThrottleStats, parse_retry_after};
