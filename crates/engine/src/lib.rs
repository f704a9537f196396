//! # m365sync
//!
//! A change-detection engine for OneDrive and SharePoint. It discovers drives,
//! crawls each with Graph delta queries into a SQLite mirror, listens for change
//! notifications, and hands every change to the host as an ordered, durable,
//! at-least-once stream of events.
//!
//! Its tests, benchmarks and the demo run against a faithful Graph simulator, the
//! `m365sync-sim` crate, so no Microsoft account is needed.

#![warn(missing_docs)]

#[macro_use]
extern crate m365sync_ffi_support;

pub mod config;
pub mod engine;
pub mod error;
pub mod event;
pub mod ffi;
pub mod graph;
pub mod scope;
pub mod store;
pub mod time;
pub mod webhook;

pub use config::Config;
pub use engine::{Ack, Engine, EventHandler, Status, TenantSubscriptionStatus};
pub use error::{Error, GraphError, Result};
pub use event::{Event, EventKind};

/// The crate version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
