//! Which subscriptions are ours: subscription id → drive and clientState hash.
//!
//! Read on every notification (request threads), written by the subscription
//! manager when it creates, renews, recreates or drops a subscription.

use std::collections::HashMap;

use parking_lot::RwLock;

/// What a notification is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownSubscription {
    /// The drive the subscription watches.
    pub drive_id: String,
    /// Hex SHA-256 of the subscription's clientState.
    pub client_state_hash: String,
}

/// The live subscriptions of this engine. `Send + Sync`.
#[derive(Debug, Default)]
pub struct Registry {
    by_id: RwLock<HashMap<String, KnownSubscription>>,
}

impl Registry {
    /// Adds or replaces a subscription.
    pub fn insert(&self, subscription_id: &str, known: KnownSubscription) {
        self.by_id
            .write()
            .insert(subscription_id.to_string(), known);
    }

    /// Forgets a subscription; later notifications for it are rejected.
    pub fn remove(&self, subscription_id: &str) {
        self.by_id.write().remove(subscription_id);
    }

    /// The subscription with this id, if it is ours.
    pub fn get(&self, subscription_id: &str) -> Option<KnownSubscription> {
        self.by_id.read().get(subscription_id).cloned()
    }
}
