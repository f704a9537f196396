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
mod content;
mod database;
mod engine;
pub mod error;
pub mod event;
mod facets;
pub mod ffi;
#[cfg(test)]
mod fuzz;
mod graph;
mod permissions;
mod scope;
mod store;
mod time;

pub use config::Config;
pub use content::{Download, SkipReason};
pub use database::Database;
pub use engine::discover::{
    FoundDrive, FoundHome, FoundSite, GroupInfo, Inventory, Listing, SiteInfo, inventory,
};
pub use engine::notify::NotificationStats;
pub use engine::notify::listener::MAX_CONNECTIONS as WEBHOOK_MAX_CONNECTIONS;
pub use engine::{
    Ack, DriveStatus, Engine, EventHandler, Host, HostConfig, HostStatus, MirrorStats,
    NotificationReceipt, Progress, Status, TenantEvent, TenantEventHandler, TenantStatus,
    TenantSubscriptionStatus,
};
pub use error::{Error, GraphError, Result};
pub use event::{Event, EventKind, tenant_events};
pub use facets::{ContentHashes, ItemFacets, Person, RemoteRef, SharePointIds};
pub use graph::ThrottleStats;
pub use permissions::{
    EffectivePermissions, Grant, GrantKind, PermissionChange, Principal, SharingLink,
};
pub use scope::{ScopeConfig, ScopeRule, Verdict};
pub use store::{
    DriveRecord, DriveState, GrantFilter, MirrorItem, PendingDownload, SiteRecord, StoredContent,
};

/// The crate version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
