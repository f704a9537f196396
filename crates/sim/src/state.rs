//! The simulator's shared state and the mutations both control APIs use.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::api::{
    ItemPatch, LinkOptions, SimDrive, SimGroup, SimItem, SimPermission, SimPermissions, SimStats,
    SimUser, SnapshotItem, TenantCounts, TenantSummary,
};
use crate::auth::Auth;
use crate::config::SimConfig;
use crate::content::egress::Egress;
use crate::content::tempauth::DownloadUrls;
use crate::delta::TokenPolicy;
use crate::drive::{Body, Drive, Update};
use crate::fault::SimError;
use crate::faults::FaultDice;
use crate::ids;
use crate::stats::Counters;
use crate::subscriptions::{ChangeOrigin, GroupChange, Subscriptions};
use crate::tenant::Tenant;
use crate::throttle::Throttle;

/// One tenant's state: everything the HTTP workers and the Rust handle share about it
/// (see [`crate::hub::Hub`] for the tenants of a simulator).
pub(crate) struct Shared {
    /// The tenant's index in the simulator (0 for the first).
    pub index: u32,
    pub tenant: Arc<RwLock<Tenant>>,
    pub auth: Auth,
    pub throttle: Throttle,
    pub faults: FaultDice,
    pub counters: Counters,
    pub subs: Arc<Subscriptions>,
    pub tokens: TokenPolicy,
    /// Issues and checks the content host's pre-authenticated download URLs.
    pub download_urls: DownloadUrls,
    /// The content host's bytes and their budget.
    pub egress: Arc<Egress>,
    /// `http://host:port` of the listener, for links when a request has no usable Host.
    pub base_url: String,
    /// Permissions per page of `/permissions` without `$top`.
    pub permission_page_size: usize,
}

fn now32() -> u32 {
    u32::try_from(ids::unix_now()).unwrap_or(u32::MAX)
}

impl Shared {
    /// Builds the state of tenant `index` for `config` (that tenant's, see
    /// [`SimConfig::for_tenant`]) around its already generated data and the app's
    /// certificates (read from `config.client_certificate_files`); Graph is at
    /// `base_url`, the content host at `content_url`.
    pub fn new(
        index: u32,
        config: &SimConfig,
        tenant: Tenant,
        subs_for: impl FnOnce(Arc<RwLock<Tenant>>) -> Arc<Subscriptions>,
        base_url: String,
        content_url: String,
        certificates: Arc<crate::identity::Certificates>,
    ) -> Shared {
        let tenant = Arc::new(RwLock::new(tenant));
        Shared {
            index,
            subs: subs_for(tenant.clone()),
            tenant,
            auth: Auth {
                index,
                tenant_id: config.tenant_id.clone(),
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                lifetime_secs: config.token_lifetime_secs,
                graph_resource: config.graph_resource.trim_end_matches('/').to_string(),
                federated: config.federated_credentials.clone(),
                certificates,
                key: rand::random(),
                generation: Default::default(),
            },
            throttle: Throttle::new(config.throttle.clone()),
            faults: FaultDice::new(config.faults.clone()),
            counters: Counters::default(),
            tokens: TokenPolicy {
                key: rand::random(),
                max_age_secs: config.delta_token_max_age_secs,
            },
            download_urls: DownloadUrls::new(content_url, index, config.download_url_ttl_secs),
            egress: Arc::new(Egress::new(
                config.throttle.egress_bytes_per_hour,
                config.throttle.egress_window_secs,
            )),
            base_url,
            permission_page_size: config.permission_page_size,
        }
    }

    /// Runs a mutation of one drive's items, then tells the subscriptions module
    /// (lock released).
    fn mutate<T>(
        &self,
        drive_id: &str,
        origin: ChangeOrigin,
        f: impl FnOnce(&mut Drive, u32) -> Result<T, SimError>,
    ) -> Result<T, SimError> {
        self.mutate_tenant(drive_id, origin, |t, d, now| f(&mut t.drives[d], now))
    }

    /// Runs a mutation of one drive (given to `f` by index) that needs the rest of
    /// the tenant too (its users and groups), then tells the subscriptions module
    /// (lock released).
    fn mutate_tenant<T>(
        &self,
        drive_id: &str,
        origin: ChangeOrigin,
        f: impl FnOnce(&mut Tenant, usize, u32) -> Result<T, SimError>,
    ) -> Result<T, SimError> {
        let result = {
            let mut t = self.tenant.write();
            let d = t.drive(drive_id)?;
            f(&mut t, d, now32())?
        };
        self.subs.drive_changed(drive_id, origin);
        Ok(result)
    }

    fn item_of(d: &Drive, idx: u32) -> SimItem {
        d.snapshot_item(idx, d.path(idx))
    }

    /// Creates a file or folder.
    pub fn create_item(
        &self,
        drive: &str,
        parent_id: &str,
        name: &str,
        folder: bool,
        body: Body<'_>,
    ) -> Result<SimItem, SimError> {
        self.mutate(drive, ChangeOrigin::Content, |d, now| {
            let parent = d.folder(parent_id)?;
            let idx = d.create(parent, name, folder, body, now)?;
            Ok(Self::item_of(d, idx))
        })
    }

    /// Renames, moves or rewrites an item.
    pub fn update_item(
        &self,
        drive: &str,
        item: &str,
        patch: &ItemPatch,
    ) -> Result<SimItem, SimError> {
        let content = match (&patch.content, patch.size) {
            (Some(bytes), None) => Some(Body::Bytes(bytes)),
            (None, Some(size)) => Some(Body::Generated(size)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(SimError::Invalid(
                    "content and size cannot be given together".into(),
                ));
            }
        };
        self.mutate(drive, ChangeOrigin::Content, |d, now| {
            let idx = d.live(item)?;
            let parent = patch
                .parent_id
                .as_deref()
                .map(|p| d.folder(p))
                .transpose()?;
            let change = Update {
                name: patch.name.as_deref(),
                parent,
                content,
            };
            d.update(idx, change, now)?;
            Ok(Self::item_of(d, idx))
        })
    }

    /// Deletes an item (and everything below a folder).
    pub fn delete_item(&self, drive: &str, item: &str) -> Result<(), SimError> {
        self.mutate(drive, ChangeOrigin::Content, |d, now| {
            let idx = d.live(item)?;
            d.delete(idx, now)
        })
    }

    /// Gives `roles` on an item to `principal` (`user:{upn}`, `group:{id}`,
    /// `guest:{email}`).
    pub fn grant<S: AsRef<str>>(
        &self,
        drive: &str,
        item: &str,
        principal: &str,
        roles: &[S],
    ) -> Result<SimPermission, SimError> {
        self.mutate_tenant(drive, ChangeOrigin::Permissions, |t, d, now| {
            t.grant(d, item, principal, roles, now)
        })
    }

    /// Adds a sharing link to an item.
    pub fn create_link(
        &self,
        drive: &str,
        item: &str,
        link_type: &str,
        scope: &str,
        options: &LinkOptions,
    ) -> Result<SimPermission, SimError> {
        self.mutate_tenant(drive, ChangeOrigin::Permissions, |t, d, now| {
            t.create_link(d, item, link_type, scope, options, now)
        })
    }

    /// Removes a grant from an item with unique permissions.
    pub fn revoke(&self, drive: &str, item: &str, permission_id: &str) -> Result<(), SimError> {
        self.mutate_tenant(drive, ChangeOrigin::Permissions, |t, d, now| {
            t.revoke(d, item, permission_id, now)
        })
    }

    /// Restores (`inherit`) or breaks an item's inheritance; returns its permissions.
    pub fn set_inheritance(
        &self,
        drive: &str,
        item: &str,
        inherit: bool,
    ) -> Result<SimPermissions, SimError> {
        self.mutate_tenant(drive, ChangeOrigin::Permissions, |t, d, now| {
            t.set_inheritance(d, item, inherit, now)
        })
    }

    /// Shares an item with an organization view link; returns the item.
    pub fn share(&self, drive: &str, item: &str) -> Result<SimItem, SimError> {
        self.mutate_tenant(drive, ChangeOrigin::Permissions, |t, d, now| {
            t.create_link(
                d,
                item,
                "view",
                "organization",
                &LinkOptions::default(),
                now,
            )?;
            Ok(Self::item_of(&t.drives[d], t.drives[d].live(item)?))
        })
    }

    /// Restores an item's inheritance; returns the item.
    pub fn unshare(&self, drive: &str, item: &str) -> Result<SimItem, SimError> {
        self.mutate_tenant(drive, ChangeOrigin::Permissions, |t, d, now| {
            t.set_inheritance(d, item, true, now)?;
            Ok(Self::item_of(&t.drives[d], t.drives[d].live(item)?))
        })
    }

    /// The effective permissions of an item.
    pub fn permissions(&self, drive: &str, item: &str) -> Result<SimPermissions, SimError> {
        let t = self.tenant.read();
        t.permissions(t.drive(drive)?, item)
    }

    /// The ids of a drive's items with unique permissions, the root first.
    pub fn permission_roots(&self, drive: &str) -> Result<Vec<String>, SimError> {
        let t = self.tenant.read();
        Ok(t.permission_roots(t.drive(drive)?))
    }

    /// Adds a site; returns its id.
    pub fn add_site(&self, name: &str) -> Result<String, SimError> {
        let id = {
            let mut t = self.tenant.write();
            let s = t.add_site(name, now32())?;
            t.sites[s].id.clone()
        };
        self.subs.sites_changed(&id);
        Ok(id)
    }

    /// Adds a library to a site; returns the drive id.
    pub fn add_library(&self, site: &str, name: &str) -> Result<String, SimError> {
        let mut t = self.tenant.write();
        let s = t.site(site)?;
        let d = t.add_library(s, name, now32())?;
        Ok(t.drives[d].id.clone())
    }

    /// Removes a document library from a site.
    pub fn remove_library(&self, site: &str, drive: &str) -> Result<(), SimError> {
        let mut t = self.tenant.write();
        let s = t.site(site)?;
        let d = t.drive(drive)?;
        t.remove_library(s, d)
    }

    /// Deletes a site and its libraries.
    pub fn remove_site(&self, site: &str) -> Result<(), SimError> {
        let id = {
            let mut t = self.tenant.write();
            let s = t.site(site)?;
            t.remove_site(s)?;
            t.sites[s].id.clone()
        };
        self.subs.sites_changed(&id);
        Ok(())
    }

    /// Adds a group (a Unified one with its site and drive).
    pub fn add_group(&self, name: &str, unified: bool) -> Result<SimGroup, SimError> {
        let group = {
            let mut t = self.tenant.write();
            let g = t.add_group(name, unified, now32())?;
            t.sim_group(g)
        };
        self.subs.group_changed(&group.id, GroupChange::Created);
        if let Some(site) = &group.site_id {
            self.subs.sites_changed(site);
        }
        Ok(group)
    }

    /// Renames a group.
    pub fn rename_group(&self, id: &str, name: &str) -> Result<SimGroup, SimError> {
        let group = {
            let mut t = self.tenant.write();
            let g = t.group(id)?;
            t.rename_group(g, name)?;
            t.sim_group(g)
        };
        self.subs.group_changed(&group.id, GroupChange::Updated);
        Ok(group)
    }

    /// Deletes a group with its site and drive.
    pub fn remove_group(&self, id: &str) -> Result<(), SimError> {
        let group = {
            let mut t = self.tenant.write();
            let g = t.group(id)?;
            let group = t.sim_group(g);
            t.remove_group(g);
            group
        };
        self.subs.group_changed(&group.id, GroupChange::Deleted);
        if let Some(site) = &group.site_id {
            self.subs.sites_changed(site);
        }
        Ok(())
    }

    /// The live groups.
    pub fn groups(&self) -> Vec<SimGroup> {
        let t = self.tenant.read();
        t.live_groups().map(|g| t.sim_group(g)).collect()
    }

    /// Adds a user; returns the user id and the OneDrive id.
    pub fn add_user(
        &self,
        upn: &str,
        with_drive: bool,
    ) -> Result<(String, Option<String>), SimError> {
        let mut t = self.tenant.write();
        let u = t.add_user(upn, with_drive, now32())?;
        let drive = t.users[u].drive.map(|d| t.drives[d].id.clone());
        Ok((t.users[u].id.clone(), drive))
    }

    /// The directory users.
    pub fn users(&self) -> Vec<SimUser> {
        let t = self.tenant.read();
        (0..t.users.len()).map(|u| t.sim_user(u)).collect()
    }

    /// All drives.
    pub fn drives(&self) -> Vec<SimDrive> {
        let t = self.tenant.read();
        t.live_drives().map(|d| t.sim_drive(d)).collect()
    }

    /// Ground truth of one drive.
    pub fn snapshot(&self, drive: &str) -> Result<Vec<SnapshotItem>, SimError> {
        let t = self.tenant.read();
        let d = t.drive(drive)?;
        Ok(t.drives[d].snapshot())
    }

    /// `len` bytes of a file's content from `start` (fewer at its end).
    pub fn read_content(
        &self,
        drive: &str,
        item: &str,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>, SimError> {
        let t = self.tenant.read();
        let d = &t.drives[t.drive(drive)?];
        let idx = d.live(item)?;
        if !d.items[idx as usize].has_content() {
            return Err(SimError::Invalid(format!("item {item} has no content")));
        }
        Ok(d.content(idx).slice(start, start.saturating_add(len)))
    }

    /// Makes every delta token issued so far answer 410.
    pub fn expire_delta_tokens(&self) {
        self.tenant.write().epoch += 1;
    }

    /// The tenant's line of `GET /_sim/tenants`.
    pub fn summary(&self) -> TenantSummary {
        let c = &self.counters;
        let (drives, items) = {
            let t = self.tenant.read();
            (t.live_drives().count() as u64, t.item_count())
        };
        TenantSummary {
            index: self.index,
            tenant_id: self.auth.tenant_id.clone(),
            client_id: self.auth.client_id.clone(),
            client_secret: self.auth.client_secret.clone(),
            counts: TenantCounts {
                drives,
                items,
                requests: Counters::get(&c.requests),
                throttled: Counters::get(&c.throttled),
                violations: Counters::get(&c.violations),
                ru_used: Counters::get(&c.ru_used),
            },
        }
    }

    /// The counters.
    pub fn stats(&self) -> SimStats {
        let c = &self.counters;
        SimStats {
            requests: Counters::get(&c.requests),
            requests_by_route: c.routes(),
            throttled: Counters::get(&c.throttled),
            violations: Counters::get(&c.violations),
            ru_used: Counters::get(&c.ru_used),
            resets_injected: Counters::get(&c.resets_injected),
            errors_injected: Counters::get(&c.errors_injected),
            download_requests: Counters::get(&c.download_requests),
            download_bytes: self.egress.total(),
            downloads_throttled: Counters::get(&c.downloads_throttled),
            download_requests_with_authorization: Counters::get(
                &c.download_requests_with_authorization,
            ),
            permission_requests: Counters::get(&c.permission_requests),
            permission_pages: Counters::get(&c.permission_pages),
            items: self.tenant.read().item_count(),
            notifications: self.subs.stats(),
        }
    }
}
