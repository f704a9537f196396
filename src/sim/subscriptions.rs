//! Change-notification subscriptions (placeholder until the subscriptions module lands).
//!
//! This file only fixes the API the rest of the simulator calls; every subscription
//! route answers 501 `notSupported` and no notification is ever sent.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sim::request::SimRequest;
use crate::sim::response::SimResponse;

/// Knobs for notification delivery (part of SimConfig.notifications and of /_sim/faults "notifications").
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationConfig {}

/// What kind of change happened on a drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOrigin {
    /// Items were created, modified or deleted.
    Content,
    /// Sharing changed.
    Permissions,
}

/// What the subscriptions module needs from the tenant.
pub struct SubscriptionContext {
    /// Tenant id put in notifications.
    pub tenant_id: String,
    /// Maps a subscription resource ("/drives/{id}/root", "/users/{id}/drive/root", "/sites/{id}/drive/root"
    /// or "/me/drive/root") to the drive id it watches, or None when it does not exist.
    #[allow(clippy::type_complexity)] // the agreed contract spells the type out
    pub resolve_drive: Box<dyn Fn(&str) -> Option<String> + Send + Sync>,
    /// Initial delivery knobs.
    pub config: NotificationConfig,
}

/// The subscription store and delivery machinery.
pub struct Subscriptions {
    ctx: SubscriptionContext,
}

impl Subscriptions {
    /// Creates the module.
    pub fn new(ctx: SubscriptionContext) -> Arc<Subscriptions> {
        Arc::new(Subscriptions { ctx })
    }

    /// Handles any request whose path starts with /v1.0/subscriptions (auth already checked).
    pub fn handle(&self, req: &SimRequest) -> SimResponse {
        SimResponse::graph_error(
            501,
            "notSupported",
            &format!(
                "{} {} is not supported by this simulator build",
                req.method, req.path
            ),
        )
    }

    /// Called (without holding tenant locks) after every mutation of a drive.
    pub fn drive_changed(&self, drive_id: &str, origin: ChangeOrigin) {
        log::trace!("drive {drive_id} changed ({origin:?}); no subscriptions in this build");
    }

    /// Replaces the delivery fault knobs.
    pub fn set_config(&self, config: NotificationConfig) {
        log::debug!("notification config {config:?} ignored; no subscriptions in this build");
    }

    /// Expires subscriptions now (all when None): they disappear like expired ones.
    pub fn expire(&self, id: Option<&str>) {
        log::debug!("expire {id:?}: no subscriptions in this build");
    }

    /// Stats object (sent, failed, retried, dropped, duplicated, active subscriptions...).
    pub fn stats(&self) -> serde_json::Value {
        json!({ "tenant": self.ctx.tenant_id, "sent": 0, "failed": 0, "active": 0 })
    }

    /// Stops delivery threads.
    pub fn shutdown(&self) {}
}
