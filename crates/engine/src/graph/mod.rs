//! Everything that talks HTTP to Microsoft Graph.

mod auth;
mod certificate;
pub mod client;
mod credential;
mod network;

pub(crate) use network::check_proxy_url;
pub(crate) mod reply;
#[cfg(test)]
mod script_server;
pub mod throttle;
pub mod types;

pub use client::GraphClient;
pub use throttle::{RequestKind, ThrottleGate, ThrottleStats};
