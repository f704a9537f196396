//! Permission changes and queries named the way the control APIs name them: drives
//! by index, items by id, principals as `user:{upn}`, `group:{id}` or `guest:{email}`.

use crate::api::{LinkOptions, SimPermission, SimPermissions};
use crate::fault::SimError;
use crate::ids;
use crate::permissions::grant::{self, Grant, Grantee, Link, LinkScope, LinkType, Roles};
use crate::permissions::inheritance::inherited_refusal;
use crate::permissions::render::GrantView;
use crate::tenant::{DOMAIN, Tenant};

impl Tenant {
    /// The grantee a principal names: `user:{upn or id}` (a tenant user),
    /// `group:{id or mail}` (a directory group) or `guest:{email}` (anyone outside
    /// the tenant).
    fn grantee(&self, principal: &str) -> Result<Grantee, SimError> {
        match principal.split_once(':') {
            Some(("user", upn)) => Ok(Grantee::User(self.user(upn)?)),
            Some(("group", id)) => Ok(Grantee::Group(self.group(id)?)),
            Some(("guest", email)) => {
                let email = grant::email(email)?;
                if email.ends_with(&format!("@{DOMAIN}")) {
                    return Err(SimError::Invalid(format!(
                        "{email} is in the tenant: grant it as user:{email}"
                    )));
                }
                Ok(Grantee::Guest(email))
            }
            _ => Err(SimError::Invalid(format!(
                "unknown principal {principal:?}: expected user:{{upn}}, group:{{id}} or guest:{{email}}"
            ))),
        }
    }

    /// Gives `roles` on an item to a principal (see [`Tenant::grantee`]), breaking
    /// the item's inheritance first; a principal's existing grant gets the new roles.
    pub fn grant<S: AsRef<str>>(
        &mut self,
        d: usize,
        item: &str,
        principal: &str,
        roles: &[S],
        now: u32,
    ) -> Result<SimPermission, SimError> {
        let grant = Grant {
            roles: Roles::parse(roles)?,
            grantee: self.grantee(principal)?,
        };
        self.put(d, item, grant, now)
    }

    /// Adds a sharing link of `link_type` (`view`, `edit`, `embed`) and `scope`
    /// (`anonymous`, `organization`, `users`) to an item, breaking its inheritance first.
    pub fn create_link(
        &mut self,
        d: usize,
        item: &str,
        link_type: &str,
        scope: &str,
        options: &LinkOptions,
        now: u32,
    ) -> Result<SimPermission, SimError> {
        let kind = LinkType::parse(link_type)?;
        let scope = LinkScope::parse(scope)?;
        let recipients = options
            .recipients
            .iter()
            .map(|r| grant::email(r))
            .collect::<Result<Vec<_>, _>>()?;
        match (scope, recipients.is_empty()) {
            (LinkScope::Users, true) => {
                return Err(SimError::Invalid(
                    "a users link needs at least one recipient".into(),
                ));
            }
            (LinkScope::Anonymous | LinkScope::Organization, false) => {
                return Err(SimError::Invalid(format!(
                    "only a users link has recipients, not an {} one",
                    scope.as_str()
                )));
            }
            _ => {}
        }
        let expiration = options
            .expiration
            .as_deref()
            .map(expiration_date)
            .transpose()?;
        let link = Link {
            serial: self.drives[d].next_link_serial(),
            kind,
            scope,
            expiration,
            password: options.password,
            recipients,
        };
        let grant = Grant {
            roles: kind.roles(),
            grantee: Grantee::Link(Box::new(link)),
        };
        self.put(d, item, grant, now)
    }

    fn put(
        &mut self,
        d: usize,
        item: &str,
        grant: Grant,
        now: u32,
    ) -> Result<SimPermission, SimError> {
        let idx = self.drives[d].live(item)?;
        let pos = self.drives[d].put_grant(idx, grant, now)?;
        Ok(GrantView::new(self, d).truth(&self.drives[d].grants(idx)[pos]))
    }

    /// Removes the grant with permission id `id` from an item with unique
    /// permissions; refused (400) when the item inherits or the grant is an
    /// owner's, 404 when the item has no such grant.
    pub fn revoke(&mut self, d: usize, item: &str, id: &str, now: u32) -> Result<(), SimError> {
        let drive = &self.drives[d];
        let idx = drive.live(item)?;
        if !drive.is_unique(idx) {
            return Err(inherited_refusal());
        }
        let pos = GrantView::new(self, d)
            .position(drive.grants(idx), id)
            .ok_or_else(|| {
                SimError::NotFound(format!("permission {id} not found on item {item}"))
            })?;
        self.drives[d].remove_grant(idx, pos, now)
    }

    /// Restores an item's inheritance (`inherit`), or breaks it (a copy of what it
    /// inherited); returns its permissions afterwards.
    pub fn set_inheritance(
        &mut self,
        d: usize,
        item: &str,
        inherit: bool,
        now: u32,
    ) -> Result<SimPermissions, SimError> {
        let drive = &mut self.drives[d];
        let idx = drive.live(item)?;
        if inherit {
            drive.restore_inheritance(idx, now)?;
        } else {
            drive.break_inheritance(idx, now)?;
        }
        Ok(self.permissions_at(d, idx))
    }

    /// The effective permissions of a live item.
    pub fn permissions(&self, d: usize, item: &str) -> Result<SimPermissions, SimError> {
        Ok(self.permissions_at(d, self.drives[d].live(item)?))
    }

    fn permissions_at(&self, d: usize, idx: u32) -> SimPermissions {
        let drive = &self.drives[d];
        let source = drive.permission_source(idx);
        let view = GrantView::new(self, d);
        SimPermissions {
            inherited_from: (source != idx).then(|| drive.item_id(source)),
            grants: drive.grants(source).iter().map(|g| view.truth(g)).collect(),
        }
    }

    /// The ids of a drive's items with unique permissions, the root first.
    pub fn permission_roots(&self, d: usize) -> Vec<String> {
        let drive = &self.drives[d];
        drive
            .unique_items()
            .into_iter()
            .map(|idx| drive.item_id(idx))
            .collect()
    }
}

/// An ISO 8601 date and time, as Graph writes it (UTC, whole seconds).
fn expiration_date(s: &str) -> Result<Box<str>, SimError> {
    let ts: jiff::Timestamp = s.parse().map_err(|e| {
        SimError::Invalid(format!(
            "expiration {s:?} is not an ISO 8601 date and time ({e})"
        ))
    })?;
    let secs = u64::try_from(ts.as_second())
        .map_err(|_| SimError::Invalid(format!("expiration {s:?} is before 1970")))?;
    Ok(ids::iso8601(secs).into_boxed_str())
}
