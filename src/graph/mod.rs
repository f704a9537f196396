//! Everything that talks HTTP to Microsoft Graph.

pub mod auth;
pub mod client;
mod reply;
#[cfg(test)]
mod script_server;
pub mod throttle;
pub mod types;

pub use auth::{AccessToken, TokenSource};
pub use client::GraphClient;
pub use throttle::{RequestKind, ThrottleGate, ThrottleStats, parse_retry_after};
