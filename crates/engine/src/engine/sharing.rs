//! Queries of permission details: [`Engine::effective_permissions`] and
//! [`Engine::items_with_grants`] (the same on a [`Database`](crate::Database)).

use crate::engine::Engine;
use crate::error::Result;
use crate::permissions::EffectivePermissions;
use crate::store::GrantFilter;

impl Engine {
    /// The effective permissions of a live item: those of its nearest ancestor-or-self
    /// with unique permissions (named in `inherited_from` when it is an ancestor).
    /// `None` when the item is unknown; `known` is false while no permissions of the
    /// item or its ancestors were fetched yet (see `permissions.fetch`).
    pub fn effective_permissions(
        &self,
        drive_id: &str,
        item_id: &str,
    ) -> Result<Option<EffectivePermissions>> {
        self.api_store
            .lock()
            .effective_permissions(drive_id, item_id)
    }

    /// Every live item (of `drive_id`, or of every drive) whose effective permissions
    /// hold a grant `filter` accepts: anyone links, external principals, or one
    /// principal. Items come root by root, each hierarchy root followed by the items
    /// that inherit from it; `visit` returns false to stop.
    pub fn items_with_grants(
        &self,
        drive_id: Option<&str>,
        filter: &GrantFilter,
        visit: &mut dyn FnMut(EffectivePermissions) -> Result<bool>,
    ) -> Result<()> {
        self.api_store
            .lock()
            .items_with_grants(drive_id, filter, visit)
    }
}
