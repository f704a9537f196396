//! Permission details: who can reach each item.
//!
//! With `permissions.fetch` on, the engine asks Graph for the permissions of every
//! permission-hierarchy root the delta feed reveals (the drive root, and items whose
//! `shared` facet `Prefer: hierarchicalsharing` reports) and of every item whose sharing
//! changes afterwards. Everything else inherits: the effective permissions of an item
//! are those of its nearest ancestor-or-self with unique permissions, computed from the
//! mirror's parent chain, so a moved item inherits from its new parent at once.

mod grant;

use serde::{Deserialize, Serialize};

pub(crate) use grant::GraphPermission;
pub use grant::{Grant, GrantKind, Principal, SharingLink};

/// The effective permissions of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectivePermissions {
    /// The drive.
    pub drive_id: String,
    /// The item asked about.
    pub item_id: String,
    /// Its path in the mirror.
    pub path: String,
    /// The ancestor the grants are inherited from; `None` when the item has unique
    /// permissions (or when no ancestor's permissions are known yet).
    pub inherited_from: Option<String>,
    /// Whether the permissions are known: false while the item and its ancestors wait
    /// for their first fetch (or Graph refused it).
    pub known: bool,
    /// The grants, by id.
    pub grants: Vec<Grant>,
}

/// What a `permissions_changed` event carries in its `detail` (as JSON) when the
/// engine fetches permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionChange {
    /// The ancestor the item now inherits from; `None` when it has unique permissions.
    pub inherited_from: Option<String>,
    /// Grants the item (and everything inheriting from it) gained.
    pub added: Vec<Grant>,
    /// Grants it lost (a grant whose roles changed is removed and added).
    pub removed: Vec<Grant>,
    /// The effective grants after the change.
    pub grants: Vec<Grant>,
    /// How many items the change affects: the item and its descendants that inherit
    /// from it (like a folder rename, one event for the whole subtree).
    pub affected: u64,
}

impl PermissionChange {
    /// The change from `before` to `after` (both sorted by id), or `None` when the
    /// effective grants and their source are the same.
    pub fn between(
        before: &[Grant],
        before_source: Option<&str>,
        after: Vec<Grant>,
        inherited_from: Option<String>,
        affected: u64,
    ) -> Option<PermissionChange> {
        let added: Vec<Grant> = after
            .iter()
            .filter(|g| !before.contains(g))
            .cloned()
            .collect();
        let removed: Vec<Grant> = before
            .iter()
            .filter(|g| !after.contains(g))
            .cloned()
            .collect();
        if added.is_empty() && removed.is_empty() && before_source == inherited_from.as_deref() {
            return None;
        }
        Some(PermissionChange {
            inherited_from,
            added,
            removed,
            grants: after,
            affected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(id: &str, role: &str) -> Grant {
        Grant {
            id: id.into(),
            roles: vec![role.into()],
            kind: GrantKind::User,
            principal: None,
            link: None,
            recipients: Vec::new(),
            expires: None,
            has_password: false,
            external: false,
        }
    }

    #[test]
    fn the_diff_names_added_removed_and_changed_grants() {
        let before = [g("a", "read"), g("b", "read")];
        let c = PermissionChange::between(
            &before,
            None,
            vec![g("a", "write"), g("c", "read")],
            None,
            3,
        )
        .unwrap();
        assert_eq!(c.added, [g("a", "write"), g("c", "read")]);
        assert_eq!(c.removed, [g("a", "read"), g("b", "read")]);
        assert_eq!(c.affected, 3);
        assert!(
            PermissionChange::between(&before, Some("r"), before.to_vec(), Some("r".into()), 1)
                .is_none()
        );
        let moved =
            PermissionChange::between(&before, Some("r"), before.to_vec(), Some("s".into()), 1)
                .unwrap();
        assert!(moved.added.is_empty() && moved.removed.is_empty());
    }
}
