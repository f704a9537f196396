//! One subscription as the simulator stores it, and the JSON Graph shows for it.

use serde_json::{Value, json};

use super::time::format_iso;
use super::validate::SubscriptionSpec;

/// The application id the simulator reports as owner of every subscription.
const APPLICATION_ID: &str = "5f1c5a1e-5a1e-4a1e-8a1e-5a1e5a1e5a1e";

/// Lifecycle events the simulator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LifecycleEvent {
    /// Sent `lifecycle_lead_secs` before expiry.
    ReauthorizationRequired,
    /// Sent on expiry when `send_removed_on_expire` is on.
    SubscriptionRemoved,
}

impl LifecycleEvent {
    fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::ReauthorizationRequired => "reauthorizationRequired",
            LifecycleEvent::SubscriptionRemoved => "subscriptionRemoved",
        }
    }
}

/// A random version-4 GUID, lower-case and hyphenated.
pub(crate) fn new_guid() -> String {
    let v = rand::random::<u128>() & !(0xF000u128 << 64) | (0x4000u128 << 64);
    let v = v & !(0xC000u128 << 48) | (0x8000u128 << 48);
    let hex = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A live subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub id: String,
    /// What was asked for (with the expiry of the latest renewal).
    pub spec: SubscriptionSpec,
    /// Created with `Prefer: includesecuritywebhooks`: permission changes notify too.
    pub security_webhooks: bool,
    /// The expiry for which `reauthorizationRequired` was already queued.
    pub lifecycle_notified_for: Option<i64>,
}

impl Subscription {
    /// A subscription with a fresh id from a validated create request.
    pub(crate) fn new(spec: SubscriptionSpec, security_webhooks: bool) -> Subscription {
        Subscription {
            id: new_guid(),
            spec,
            security_webhooks,
            lifecycle_notified_for: None,
        }
    }

    /// The subscription resource as Graph returns it.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.spec.resource,
            "applicationId": APPLICATION_ID,
            "changeType": self.spec.change_type,
            "clientState": self.spec.client_state,
            "notificationUrl": self.spec.notification_url,
            "lifecycleNotificationUrl": self.spec.lifecycle_url,
            "expirationDateTime": format_iso(self.spec.expires_ms),
            "creatorId": APPLICATION_ID,
            "latestSupportedTlsVersion": self.spec.tls_version,
            "includeResourceData": false,
        })
    }

    /// One entry of a change-notification POST: `resource` is what changed (the
    /// subscription's resource for drives and `/sites`, `Groups/{id}` for groups), with
    /// `resourceData` when Graph sends one.
    pub(crate) fn change_notification(
        &self,
        tenant_id: &str,
        change_type: &str,
        resource: &str,
        resource_data: Option<Value>,
    ) -> Value {
        let mut n = json!({
            "subscriptionId": self.id,
            "subscriptionExpirationDateTime": format_iso(self.spec.expires_ms),
            "clientState": self.spec.client_state,
            "changeType": change_type,
            "resource": resource,
            "tenantId": tenant_id,
        });
        if let Some(data) = resource_data {
            n["resourceData"] = data;
        }
        n
    }

    /// One entry of a lifecycle-notification POST.
    pub(crate) fn lifecycle_notification(&self, tenant_id: &str, event: LifecycleEvent) -> Value {
        json!({
            "subscriptionId": self.id,
            "subscriptionExpirationDateTime": format_iso(self.spec.expires_ms),
            "clientState": self.spec.client_state,
            "lifecycleEvent": event.as_str(),
            "tenantId": tenant_id,
            "resource": self.spec.resource,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_version_4() {
        for _ in 0..100 {
            let g = new_guid();
            assert_eq!(g.len(), 36);
            assert_eq!(&g[14..15], "4");
            assert!(matches!(&g[19..20], "8" | "9" | "a" | "b"), "{g}");
            assert_ne!(g, new_guid());
        }
    }
}
