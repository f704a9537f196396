//! The tenant: sites, users, groups and drives, with lookups by id.

use std::collections::HashMap;

use crate::api::{SimDrive, SimUser};
use crate::drive::{Drive, DriveKind};
use crate::fault::SimError;
use crate::groups::Group;
use crate::ids;
use crate::subscriptions::Target;

/// Host name used in site ids and web URLs.
pub(crate) const HOST: &str = "sim.sharepoint.com";
/// The tenant's domain: of generated users' names and groups' mail.
pub(crate) const DOMAIN: &str = "sim.onmicrosoft.com";

/// A SharePoint site collection.
#[derive(Debug)]
pub(crate) struct Site {
    pub id: String,
    pub name: String,
    pub web_url: String,
    pub is_root: bool,
    /// The site was deleted: lookups by id fail, listings skip it, `/sites/delta`
    /// reports it as `@removed`.
    pub removed: bool,
    pub drives: Vec<usize>,
    /// The Microsoft 365 group whose site this is.
    pub group: Option<usize>,
    /// Tenant-wide site sequence number of the last change, creation or removal
    /// (for `/sites/delta`).
    pub seq: u64,
    pub created: u32,
}

/// A directory user.
#[derive(Debug)]
pub(crate) struct User {
    pub id: String,
    pub upn: String,
    pub display_name: String,
    pub drive: Option<usize>,
}

/// Everything the simulator serves.
#[derive(Debug)]
pub(crate) struct Tenant {
    seed: u64,
    pub sites: Vec<Site>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub drives: Vec<Drive>,
    site_index: HashMap<String, usize>,
    user_index: HashMap<String, usize>,
    /// Live groups by id and by lower-case mail.
    pub(crate) group_index: HashMap<String, usize>,
    drive_index: HashMap<String, usize>,
    pub site_seq: u64,
    /// Tenant-wide group sequence number of the last group change (for `/groups/delta`).
    pub group_seq: u64,
    /// Bumped by "expire delta tokens": tokens of older epochs get 410.
    pub epoch: u64,
}

pub(crate) fn check_label(what: &str, s: &str) -> Result<(), SimError> {
    if s.trim().is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
        return Err(SimError::Invalid(format!("invalid {what} {s:?}")));
    }
    Ok(())
}

impl Tenant {
    /// A tenant with its root site and that site's "Documents" library.
    pub fn new(seed: u64, now: u32) -> Tenant {
        let mut t = Tenant {
            seed,
            sites: Vec::new(),
            users: Vec::new(),
            groups: Vec::new(),
            drives: Vec::new(),
            site_index: HashMap::new(),
            user_index: HashMap::new(),
            group_index: HashMap::new(),
            drive_index: HashMap::new(),
            site_seq: 0,
            group_seq: 0,
            epoch: 0,
        };
        t.push_site("root", true, now);
        t
    }

    /// The seed tenant ids derive from.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    pub(crate) fn push_site(&mut self, name: &str, is_root: bool, now: u32) -> usize {
        let n = self.sites.len() as u64;
        let id = format!(
            "{HOST},{},{}",
            ids::guid(ids::mix(self.seed, 0x5173 << 32 | n)),
            ids::guid(ids::mix(self.seed, 0x5174 << 32 | n))
        );
        let slug: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let web_url = if is_root {
            format!("https://{HOST}")
        } else {
            format!("https://{HOST}/sites/{slug}")
        };
        self.site_seq += 1;
        self.site_index.insert(id.clone(), self.sites.len());
        self.sites.push(Site {
            id,
            name: name.to_string(),
            web_url,
            is_root,
            removed: false,
            drives: Vec::new(),
            group: None,
            seq: self.site_seq,
            created: now,
        });
        let site = self.sites.len() - 1;
        self.push_drive(
            DriveKind::Library,
            "Documents".into(),
            Some(site),
            None,
            now,
        );
        site
    }

    fn push_drive(
        &mut self,
        kind: DriveKind,
        name: String,
        site: Option<usize>,
        owner: Option<usize>,
        now: u32,
    ) -> usize {
        let n = self.drives.len() as u64;
        let id = ids::drive_id(self.seed, n);
        let salt = ids::mix(self.seed, 0xD0 << 40 | n);
        let idx = self.drives.len();
        self.drive_index.insert(id.clone(), idx);
        self.drives
            .push(Drive::new(id, salt, kind, name, site, owner, now));
        if let Some(s) = site {
            self.sites[s].drives.push(idx);
        }
        idx
    }

    /// Adds a site (with a "Documents" library); returns its index.
    pub fn add_site(&mut self, name: &str, now: u32) -> Result<usize, SimError> {
        check_label("site name", name)?;
        Ok(self.push_site(name, false, now))
    }

    /// Adds a document library to a site; returns the drive index.
    pub fn add_library(&mut self, site: usize, name: &str, now: u32) -> Result<usize, SimError> {
        check_label("library name", name)?;
        let clash = self.sites[site]
            .drives
            .iter()
            .any(|&d| self.drives[d].name.eq_ignore_ascii_case(name));
        if clash {
            return Err(SimError::Conflict(format!(
                "the site already has a library named {name:?}"
            )));
        }
        Ok(self.push_drive(DriveKind::Library, name.to_string(), Some(site), None, now))
    }

    /// Removes a document library from its site; its id no longer resolves.
    pub fn remove_library(&mut self, site: usize, drive: usize) -> Result<(), SimError> {
        let Some(pos) = self.sites[site].drives.iter().position(|&d| d == drive) else {
            return Err(SimError::NotFound(format!(
                "drive {} is not a library of site {}",
                self.drives[drive].id, self.sites[site].id
            )));
        };
        self.sites[site].drives.remove(pos);
        self.forget_drive(drive);
        Ok(())
    }

    /// Deletes a site with its libraries; neither the root site nor a group's site
    /// (delete the group instead) can be deleted.
    pub fn remove_site(&mut self, site: usize) -> Result<(), SimError> {
        if self.sites[site].is_root {
            return Err(SimError::Invalid("the root site cannot be deleted".into()));
        }
        if let Some(g) = self.sites[site].group {
            return Err(SimError::Invalid(format!(
                "the site belongs to group {}: delete the group instead",
                self.groups[g].id
            )));
        }
        self.drop_site(site);
        Ok(())
    }

    /// Deletes a site with its libraries, whoever owns it.
    pub(crate) fn drop_site(&mut self, site: usize) {
        for d in std::mem::take(&mut self.sites[site].drives) {
            self.forget_drive(d);
        }
        self.site_seq += 1;
        let s = &mut self.sites[site];
        s.removed = true;
        s.seq = self.site_seq;
        self.site_index.remove(&s.id);
    }

    /// Takes a drive out of the id index and flags it removed (its slot stays, so
    /// indices and generated ids stay stable).
    fn forget_drive(&mut self, drive: usize) {
        let d = &mut self.drives[drive];
        d.removed = true;
        self.drive_index.remove(&d.id);
    }

    /// Indices of the sites that exist (deleted ones skipped).
    pub fn live_sites(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.sites.len()).filter(|&s| !self.sites[s].removed)
    }

    /// Indices of the drives that exist (removed libraries skipped).
    pub fn live_drives(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.drives.len()).filter(|&d| !self.drives[d].removed)
    }

    /// Adds a user, with or without a OneDrive; returns the user index.
    pub fn add_user(&mut self, upn: &str, with_drive: bool, now: u32) -> Result<usize, SimError> {
        check_label("user principal name", upn)?;
        if !upn.contains('@') || upn.contains(char::is_whitespace) || upn.contains('/') {
            return Err(SimError::Invalid(format!(
                "{upn:?} is not a user principal name"
            )));
        }
        let key = upn.to_ascii_lowercase();
        if self.user_index.contains_key(&key) {
            return Err(SimError::Conflict(format!("user {upn} already exists")));
        }
        let n = self.users.len() as u64;
        let id = ids::guid(ids::mix(self.seed, 0x05E5 << 32 | n)).to_ascii_lowercase();
        let idx = self.users.len();
        let display_name = upn.split('@').next().unwrap_or(upn).to_string();
        self.users.push(User {
            id: id.clone(),
            upn: upn.to_string(),
            display_name,
            drive: None,
        });
        self.user_index.insert(id, idx);
        self.user_index.insert(key, idx);
        if with_drive {
            let d = self.push_drive(DriveKind::Business, "OneDrive".into(), None, Some(idx), now);
            self.users[idx].drive = Some(d);
        }
        Ok(idx)
    }

    /// A drive's index by id.
    pub fn drive(&self, id: &str) -> Result<usize, SimError> {
        self.drive_index
            .get(id)
            .copied()
            .ok_or_else(|| SimError::NotFound(format!("drive {id} not found")))
    }

    /// A site's index by id (`root` names the root site).
    pub fn site(&self, id: &str) -> Result<usize, SimError> {
        if id == "root" {
            return Ok(0);
        }
        self.site_index
            .get(id)
            .copied()
            .ok_or_else(|| SimError::NotFound(format!("site {id} not found")))
    }

    /// A user's index by id or user principal name.
    pub fn user(&self, id: &str) -> Result<usize, SimError> {
        self.user_index
            .get(id)
            .or_else(|| self.user_index.get(&id.to_ascii_lowercase()))
            .copied()
            .ok_or_else(|| SimError::NotFound(format!("user {id} not found")))
    }

    /// A user's OneDrive, or 404 when the user has none.
    pub fn user_drive(&self, id: &str) -> Result<usize, SimError> {
        let u = self.user(id)?;
        self.users[u]
            .drive
            .ok_or_else(|| SimError::NotFound(format!("user {id} has no OneDrive")))
    }

    /// A site's default library.
    pub fn site_drive(&self, id: &str) -> Result<usize, SimError> {
        let s = self.site(id)?;
        self.sites[s]
            .drives
            .first()
            .copied()
            .ok_or_else(|| SimError::NotFound(format!("site {id} has no library")))
    }

    /// What a subscription resource watches, if it exists.
    pub fn resolve_resource(&self, resource: &str) -> Option<Target> {
        let parts: Vec<&str> = resource.trim_matches('/').split('/').collect();
        let d = match parts.as_slice() {
            ["sites"] => return Some(Target::Sites),
            ["groups"] => return Some(Target::Groups),
            ["groups", id] => {
                let g = self.group(id).ok()?;
                return Some(Target::Group(self.groups[g].id.clone()));
            }
            _ => match crate::paths::drive_ref(&parts)? {
                (drive, ["root"] | ["items", "root"]) => self.resolve_drive(&drive).ok()?,
                _ => return None,
            },
        };
        Some(Target::Drive(self.drives[d].id.clone()))
    }

    /// The control API's view of a drive.
    pub fn sim_drive(&self, d: usize) -> SimDrive {
        let drive = &self.drives[d];
        SimDrive {
            id: drive.id.clone(),
            kind: drive.kind.as_str().to_string(),
            name: drive.name.clone(),
            site_id: drive.site.map(|s| self.sites[s].id.clone()),
            owner_user_id: drive.owner.map(|u| self.users[u].id.clone()),
            root_id: drive.item_id(0),
        }
    }

    /// The control API's view of a user.
    pub fn sim_user(&self, u: usize) -> SimUser {
        let user = &self.users[u];
        SimUser {
            id: user.id.clone(),
            upn: user.upn.clone(),
            display_name: user.display_name.clone(),
            drive_id: user.drive.map(|d| self.drives[d].id.clone()),
        }
    }

    /// Live items across all drives, roots included.
    pub fn item_count(&self) -> u64 {
        self.drives
            .iter()
            .filter(|d| !d.removed)
            .map(|d| d.live_count() as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_resources_resolve() {
        let mut t = Tenant::new(1, 0);
        let s = t.add_site("Team", 0).unwrap();
        let lib = t.add_library(s, "Archive", 0).unwrap();
        assert!(matches!(
            t.add_library(s, "archive", 0),
            Err(SimError::Conflict(_))
        ));
        let u = t.add_user("ann@x.test", true, 0).unwrap();
        let n = t.add_user("bob@x.test", false, 0).unwrap();
        assert!(t.add_user("ANN@x.test", true, 0).is_err());
        assert!(t.add_user("nobody", true, 0).is_err());
        let site_id = t.sites[s].id.clone();
        assert_eq!(t.site(&site_id).unwrap(), s);
        assert_eq!(t.user("Ann@X.test").unwrap(), u);
        assert!(t.user_drive(&t.users[n].id.clone()).is_err());
        let drive_id = t.drives[lib].id.clone();
        for form in [
            format!("/drives/{drive_id}/root"),
            format!("/drives/{drive_id}/items/root"),
        ] {
            assert_eq!(
                t.resolve_resource(&form),
                Some(Target::Drive(drive_id.clone()))
            );
        }
        assert_eq!(
            t.resolve_resource(&format!("/drives/{drive_id}/items/x")),
            None
        );
        let first = t.sites[s].drives[0];
        assert_eq!(
            t.resolve_resource(&format!("/sites/{site_id}/drive/root")),
            Some(Target::Drive(t.drives[first].id.clone()))
        );
        let ud = t.users[u].drive.unwrap();
        assert_eq!(
            t.resolve_resource(&format!("/users/{}/drive/root", t.users[u].id)),
            Some(Target::Drive(t.drives[ud].id.clone()))
        );
        assert_eq!(t.resolve_resource("sites"), Some(Target::Sites));
        assert_eq!(t.resolve_resource("/groups"), Some(Target::Groups));
        assert_eq!(t.resolve_resource("/groups/nope"), None);
        assert_eq!(t.resolve_resource("/me/drive/root"), None);
        assert_eq!(t.sim_drive(ud).kind, "business");
        assert_eq!(t.drives.len(), 4);
    }

    #[test]
    fn removed_libraries_and_sites_stop_resolving() {
        let mut t = Tenant::new(1, 0);
        let s = t.add_site("Team", 0).unwrap();
        let docs = t.sites[s].drives[0];
        let lib = t.add_library(s, "Archive", 0).unwrap();
        let lib_id = t.drives[lib].id.clone();
        t.remove_library(s, lib).unwrap();
        assert!(t.drive(&lib_id).is_err());
        assert!(matches!(
            t.remove_library(s, lib),
            Err(SimError::NotFound(_))
        ));
        assert_eq!(t.sites[s].drives, vec![docs]);
        assert_eq!(t.live_drives().count(), 2);

        let seq_before = t.site_seq;
        let site_id = t.sites[s].id.clone();
        t.remove_site(s).unwrap();
        assert!(t.site(&site_id).is_err());
        assert!(t.drives[docs].removed);
        assert_eq!(t.sites[s].seq, seq_before + 1, "a removal is a change");
        assert_eq!(t.live_sites().collect::<Vec<_>>(), vec![0]);
        assert!(matches!(t.remove_site(0), Err(SimError::Invalid(_))));
        // A new library may reuse a removed library's name.
        let s2 = t.add_site("Other", 0).unwrap();
        let a = t.add_library(s2, "Archive", 0).unwrap();
        t.remove_library(s2, a).unwrap();
        t.add_library(s2, "Archive", 0).unwrap();
    }
}
