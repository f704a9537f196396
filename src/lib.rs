//! # m365sync
//!
//! A change-detection engine for OneDrive and SharePoint. It discovers drives,
//! crawls each with Graph delta queries into a SQLite mirror, listens for change
//! notifications, and hands every change to the host as an ordered, durable,
//! at-least-once stream of events.
//!
//! The crate also contains a faithful Graph simulator ([`sim`]) so that the engine,
//! its tests and its benchmarks run on one machine without a Microsoft account.

#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod error;
pub mod event;
pub mod ffi;
pub mod graph;
pub mod http;
pub mod scope;
pub mod sim;
pub mod store;
pub mod time;
pub(crate) mod urlcode;
pub mod verify;
pub mod webhook;

pub use config::Config;
pub use engine::{Ack, Engine, EventHandler, Status, TenantSubscriptionStatus};
pub use error::{Error, GraphError, Result};
pub use event::{Event, EventKind};

/// The crate version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
