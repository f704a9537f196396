//! Unique and inherited permissions of a drive's items.
//!
//! Only the roots of permission hierarchies hold grants: the drive root always, and
//! every item whose inheritance was broken. Any other item inherits from its nearest
//! ancestor with unique permissions, found by walking up the parents, so a move
//! needs no bookkeeping. The items with unique permissions also carry
//! [`flag::UNIQUE`], so that walk reads only the item arena (it runs for every item
//! of a delta page without `hierarchicalsharing`).

use std::collections::HashMap;

use crate::drive::{Drive, DriveKind, NO_PARENT, flag};
use crate::fault::SimError;
use crate::permissions::grant::{Grant, Grantee, LinkScope, Roles, SiteRole};

/// The grants of the items with unique permissions of one drive.
#[derive(Debug)]
pub(crate) struct Permissions {
    /// Item index → its grants, for every item with unique permissions.
    unique: HashMap<u32, Vec<Grant>>,
    /// Sharing links made so far (their ids derive from this serial).
    links_made: u64,
}

impl Permissions {
    /// The permissions of a new drive: its root's grants only. A OneDrive's owner
    /// owns its root; a library's root belongs to its site's groups.
    pub fn new(kind: DriveKind, owner: Option<usize>) -> Permissions {
        let root = match (kind, owner) {
            (DriveKind::Business, Some(u)) => vec![Grant {
                roles: Roles::OWNER,
                grantee: Grantee::User(u),
            }],
            (DriveKind::Business, None) => Vec::new(),
            (DriveKind::Library, _) => [
                (SiteRole::Owners, Roles::OWNER),
                (SiteRole::Members, Roles::WRITE),
                (SiteRole::Visitors, Roles::READ),
            ]
            .into_iter()
            .map(|(group, roles)| Grant {
                roles,
                grantee: Grantee::SiteGroup(group),
            })
            .collect(),
        };
        Permissions {
            unique: HashMap::from([(0, root)]),
            links_made: 0,
        }
    }

    /// A new link's serial number.
    pub fn next_link_serial(&mut self) -> u64 {
        self.links_made += 1;
        self.links_made
    }
}

impl Drive {
    /// Whether item `idx` has unique permissions (the root always has).
    pub fn is_unique(&self, idx: u32) -> bool {
        self.items[idx as usize].flags & flag::UNIQUE != 0
    }

    /// The item `idx` takes its permissions from: itself when unique, else its
    /// nearest ancestor with unique permissions.
    pub fn permission_source(&self, mut idx: u32) -> u32 {
        if self.permissions.unique.len() == 1 {
            return 0;
        }
        while idx != NO_PARENT && !self.is_unique(idx) {
            idx = self.items[idx as usize].parent;
        }
        if idx == NO_PARENT { 0 } else { idx }
    }

    /// The grants of an item with unique permissions (empty for any other).
    pub fn grants(&self, source: u32) -> &[Grant] {
        self.permissions
            .unique
            .get(&source)
            .map_or(&[], Vec::as_slice)
    }

    /// The items with unique permissions, the root first.
    pub fn unique_items(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self.permissions.unique.keys().copied().collect();
        all.sort_unstable();
        all
    }

    /// `scope` of the `shared` facet of a hierarchy with these grants: `anonymous`
    /// with an anyone link, else `organization` with an organization link, else `users`.
    pub fn sharing_scope(&self, source: u32) -> &'static str {
        let scopes = self.grants(source).iter().filter_map(|g| match &g.grantee {
            Grantee::Link(link) => Some(link.scope),
            _ => None,
        });
        let mut scope = LinkScope::Users;
        for s in scopes {
            match s {
                LinkScope::Anonymous => return LinkScope::Anonymous.as_str(),
                LinkScope::Organization => scope = s,
                LinkScope::Users => {}
            }
        }
        scope.as_str()
    }

    /// Gives item `idx` unique permissions, a copy of those it inherits (ids
    /// included), without recording a change; returns its grants.
    pub(crate) fn make_unique(&mut self, idx: u32) -> &mut Vec<Grant> {
        if !self.is_unique(idx) {
            let copy = self.grants(self.permission_source(idx)).to_vec();
            self.items[idx as usize].flags |= flag::UNIQUE;
            self.permissions.unique.insert(idx, copy);
        }
        self.permissions.unique.entry(idx).or_default()
    }

    /// Forgets the unique permissions of a deleted item.
    pub(crate) fn forget_permissions(&mut self, idx: u32) {
        self.permissions.unique.remove(&idx);
    }

    /// A new link's serial number.
    pub(crate) fn next_link_serial(&mut self) -> u64 {
        self.permissions.next_link_serial()
    }

    /// Breaks the inheritance of a live item: it gets a copy of the grants it
    /// inherited. Refused when it has unique permissions already.
    pub fn break_inheritance(&mut self, idx: u32, now: u32) -> Result<(), SimError> {
        self.check_live(idx)?;
        if self.is_unique(idx) {
            return Err(SimError::Invalid(
                "the item already has unique permissions".into(),
            ));
        }
        self.make_unique(idx);
        self.permissions_changed(idx, now);
        Ok(())
    }

    /// Drops the unique permissions of a live item: it inherits again. Refused on
    /// the root and on an item that inherits already.
    pub fn restore_inheritance(&mut self, idx: u32, now: u32) -> Result<(), SimError> {
        self.check_live(idx)?;
        if idx == 0 {
            return Err(SimError::Invalid(
                "the drive root cannot inherit permissions".into(),
            ));
        }
        if !self.is_unique(idx) {
            return Err(SimError::Invalid(
                "the item already inherits its permissions".into(),
            ));
        }
        self.permissions.unique.remove(&idx);
        self.items[idx as usize].flags &= !flag::UNIQUE;
        self.permissions_changed(idx, now);
        self.items[idx as usize].flags |= flag::RESTORED;
        Ok(())
    }

    /// Gives `grant` on a live item, breaking its inheritance first: the roles of
    /// the principal's grant are replaced if it has one, else the grant is added.
    /// Returns the grant's position in the item's list.
    pub fn put_grant(&mut self, idx: u32, grant: Grant, now: u32) -> Result<usize, SimError> {
        self.check_live(idx)?;
        let grants = self.make_unique(idx);
        let pos = match grants.iter().position(|g| g.is_for(&grant.grantee)) {
            Some(pos) => {
                grants[pos].roles = grant.roles;
                pos
            }
            None => {
                grants.push(grant);
                grants.len() - 1
            }
        };
        self.permissions_changed(idx, now);
        Ok(pos)
    }

    /// Removes the grant at `pos` of a live item with unique permissions. Refused
    /// for an `owner` grant, so a unique item keeps at least one grant.
    pub fn remove_grant(&mut self, idx: u32, pos: usize, now: u32) -> Result<(), SimError> {
        self.check_live(idx)?;
        let Some(grants) = self.permissions.unique.get_mut(&idx) else {
            return Err(inherited_refusal());
        };
        if grants[pos].roles.has_owner() {
            return Err(SimError::Invalid(
                "an owner's permission cannot be removed".into(),
            ));
        }
        grants.remove(pos);
        self.permissions_changed(idx, now);
        Ok(())
    }

    fn check_live(&self, idx: u32) -> Result<(), SimError> {
        if self.items[idx as usize].is_deleted() {
            return Err(SimError::NotFound("the item was deleted".into()));
        }
        Ok(())
    }
}

/// The refusal to remove a grant an item only inherits.
pub(crate) fn inherited_refusal() -> SimError {
    SimError::Invalid(
        "inherited permissions cannot be removed: break the item's inheritance first".into(),
    )
}
