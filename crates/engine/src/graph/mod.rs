//! Everything that talks HTTP to Microsoft Graph.

mod auth;
mod certificate;
pub mod client;
mod credential;
pub mod download;
mod network;
pub(crate) mod permissions;

pub(crate) use network::check_proxy_url;
pub(crate) mod reply;
#[cfg(test)]
pub(crate) mod script_server;
pub mod throttle;
pub mod types;

pub use client::GraphClient;
pub use throttle::{RequestKind, ThrottleGate, ThrottleStats};
