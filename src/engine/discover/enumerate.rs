//! One enumeration of the tenant's drives: sites → their libraries, users → their
//! OneDrives, each drive judged by the scope rules. Reads Graph only.

use std::sync::atomic::{AtomicBool, Ordering};

use log::debug;
use serde::de::DeserializeOwned;

use super::sites::{SiteInfo, SitesFeed};
use crate::error::{Error, Result};
use crate::graph::types::{Collection, Drive, User};
use crate::graph::{GraphClient, RequestKind};
use crate::scope::{DriveFacts, DriveHome, ScopeConfig, Verdict};

/// Fields of a drive discovery reads.
const DRIVE_SELECT: &str = "id,name,driveType,webUrl";
/// Graph caps `$top` of `/users` at 999.
const MAX_USERS_TOP: u32 = 999;

/// What a listing request needs: the client, the page size and the stop flag.
#[derive(Debug, Clone, Copy)]
pub struct Pager<'a> {
    /// The shared Graph client (and its ThrottleGate).
    pub client: &'a GraphClient,
    /// `$top` of list requests; Graph may return fewer.
    pub page_size: u32,
    /// Set when the engine stops: the enumeration ends with [`Error::Stopped`].
    pub stopping: &'a AtomicBool,
}

impl Pager<'_> {
    /// `Err(Stopped)` once the stop flag is set.
    pub(super) fn check_stop(&self) -> Result<()> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(Error::Stopped);
        }
        Ok(())
    }
}

/// Every item of a paged collection, following `@odata.nextLink` to the end.
pub(super) fn fetch_all<T: DeserializeOwned>(
    pager: &Pager<'_>,
    first: &str,
    kind: RequestKind,
) -> Result<Vec<T>> {
    let mut all = Vec::new();
    let mut url = first.to_string();
    loop {
        pager.check_stop()?;
        let page: Collection<T> = pager.client.get_json(&url, kind)?;
        all.extend(page.value);
        match page.next_link {
            Some(next) if next == url => {
                return Err(Error::Protocol(format!(
                    "{first}: nextLink points to the same page"
                )));
            }
            Some(next) => url = next,
            None => return Ok(all),
        }
    }
}

/// How completely a part of the tenant was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Not looked at: no drive there can be in scope.
    NotNeeded,
    /// Looked at in full.
    Complete,
    /// Looked at, but some requests failed (see [`Inventory::problems`]).
    Partial,
    /// The listing failed.
    Failed,
}

/// A live site and how its libraries were listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSite {
    /// The site.
    pub site: SiteInfo,
    /// `Complete` when its libraries were listed, `NotNeeded` when none can be in scope.
    pub drives: Listing,
}

/// Where a found drive lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundHome {
    /// A document library of a site.
    Site(SiteInfo),
    /// A user's OneDrive.
    User {
        /// Directory object id of the owner.
        id: String,
        /// The owner's user principal name.
        upn: String,
    },
}

/// A drive found by enumeration, with the scope verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundDrive {
    /// Graph drive id.
    pub id: String,
    /// Library name, or the OneDrive's name.
    pub name: String,
    /// Graph `driveType` (`documentLibrary`, `business`, `personal`).
    pub kind: Option<String>,
    /// Its site or owner.
    pub home: FoundHome,
    /// In scope or not, and why.
    pub verdict: Verdict,
}

impl FoundDrive {
    /// What the scope rules look at.
    pub fn facts(&self) -> DriveFacts<'_> {
        DriveFacts {
            drive_id: &self.id,
            drive_name: &self.name,
            home: match &self.home {
                FoundHome::Site(s) => DriveHome::Site {
                    id: &s.id,
                    web_url: &s.web_url,
                },
                FoundHome::User { upn, .. } => DriveHome::User { upn },
            },
        }
    }

    /// The site id of a library.
    pub fn site_id(&self) -> Option<&str> {
        match &self.home {
            FoundHome::Site(s) => Some(&s.id),
            FoundHome::User { .. } => None,
        }
    }

    /// One line saying where the drive lives, e.g. `site https://…/sites/HR, library Documents`.
    pub fn describe(&self) -> String {
        match &self.home {
            FoundHome::Site(s) => {
                let site = if s.web_url.is_empty() {
                    &s.id
                } else {
                    &s.web_url
                };
                format!("site {site}, library {}", self.name)
            }
            FoundHome::User { upn, .. } => format!("OneDrive of {upn}"),
        }
    }
}

/// The result of one enumeration.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// How the set of sites was obtained.
    pub sites: Listing,
    /// Every live site (empty unless `sites` is `Complete`).
    pub site_list: Vec<FoundSite>,
    /// How users' OneDrives were looked at.
    pub users: Listing,
    /// Every drive found, in scope or not, each once.
    pub drives: Vec<FoundDrive>,
    /// What went wrong without failing the whole enumeration.
    pub problems: Vec<String>,
}

/// Whether an id can go into a URL path segment as is. Graph ids (`host,guid,guid`,
/// GUIDs, `b!…`) always can; anything else is not an id we follow.
fn plain_segment(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$'()*+,;=:@".contains(&b))
}

/// Errors that end the whole enumeration rather than one site's or user's part.
fn is_fatal(e: &Error) -> bool {
    matches!(e, Error::Stopped | Error::Transport(_) | Error::Auth(_))
}

/// Enumerates the drives `scope` may cover. `sites` keeps the site list between calls.
pub fn enumerate(
    pager: &Pager<'_>,
    scope: &ScopeConfig,
    sites: &mut SitesFeed,
) -> Result<Inventory> {
    let mut inv = Inventory {
        sites: Listing::NotNeeded,
        site_list: Vec::new(),
        users: Listing::NotNeeded,
        drives: Vec::new(),
        problems: Vec::new(),
    };
    if scope.needs_sites() {
        match sites.fetch(pager) {
            Ok(list) => {
                inv.sites = Listing::Complete;
                for site in list {
                    let drives = site_libraries(pager, scope, &site, &mut inv)?;
                    inv.site_list.push(FoundSite { site, drives });
                }
            }
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => {
                inv.sites = Listing::Failed;
                inv.problems.push(format!("listing sites: {e}"));
            }
        }
    }
    if scope.needs_users() {
        inv.users = users_onedrives(pager, scope, &mut inv)?;
    }
    let mut seen = std::collections::HashSet::new();
    inv.drives.retain(|d| seen.insert(d.id.clone()));
    Ok(inv)
}

/// Lists one site's libraries into `inv` when any of them may be in scope.
fn site_libraries(
    pager: &Pager<'_>,
    scope: &ScopeConfig,
    site: &SiteInfo,
    inv: &mut Inventory,
) -> Result<Listing> {
    if !scope.may_include_site(&site.id, &site.web_url) {
        return Ok(Listing::NotNeeded);
    }
    if !plain_segment(&site.id) {
        inv.problems
            .push(format!("site id {:?} is not a Graph id", site.id));
        return Ok(Listing::Failed);
    }
    let first = format!(
        "/sites/{}/drives?$select={DRIVE_SELECT}&$top={}",
        site.id, pager.page_size
    );
    match fetch_all::<Drive>(pager, &first, RequestKind::List) {
        Ok(drives) => {
            debug!("site {}: {} libraries", site.id, drives.len());
            for d in drives {
                push_drive(inv, scope, d, FoundHome::Site(site.clone()));
            }
            Ok(Listing::Complete)
        }
        Err(e) if is_fatal(&e) => Err(e),
        Err(e) => {
            inv.problems
                .push(format!("libraries of site {}: {e}", site.id));
            Ok(Listing::Failed)
        }
    }
}

/// Lists users and fetches the OneDrive of each who may be in scope; a user without a
/// OneDrive (404) is skipped.
fn users_onedrives(pager: &Pager<'_>, scope: &ScopeConfig, inv: &mut Inventory) -> Result<Listing> {
    let first = format!(
        "/users?$select=id,userPrincipalName&$top={}",
        pager.page_size.min(MAX_USERS_TOP)
    );
    let users = match fetch_all::<User>(pager, &first, RequestKind::List) {
        Ok(users) => users,
        Err(e) if is_fatal(&e) => return Err(e),
        Err(e) => {
            inv.problems.push(format!("listing users: {e}"));
            return Ok(Listing::Failed);
        }
    };
    let mut listing = Listing::Complete;
    for user in users {
        let upn = user.user_principal_name.unwrap_or_default();
        if !scope.may_include_user(&upn) {
            continue;
        }
        if !plain_segment(&user.id) {
            inv.problems
                .push(format!("user id {:?} is not a Graph id", user.id));
            listing = Listing::Partial;
            continue;
        }
        pager.check_stop()?;
        let url = format!("/users/{}/drive?$select={DRIVE_SELECT}", user.id);
        match pager.client.get_json::<Drive>(&url, RequestKind::Get) {
            Ok(drive) => {
                let home = FoundHome::User { id: user.id, upn };
                push_drive(inv, scope, drive, home);
            }
            Err(Error::Graph(g)) if g.status == 404 => {
                debug!("user {upn} has no OneDrive");
            }
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => {
                inv.problems.push(format!("OneDrive of {upn}: {e}"));
                listing = Listing::Partial;
            }
        }
    }
    Ok(listing)
}

fn push_drive(inv: &mut Inventory, scope: &ScopeConfig, drive: Drive, home: FoundHome) {
    if drive.id.is_empty() {
        inv.problems
            .push("Graph listed a drive without an id".into());
        return;
    }
    let mut found = FoundDrive {
        id: drive.id,
        name: drive.name.unwrap_or_default(),
        kind: drive.drive_type,
        home,
        verdict: Verdict::Excluded(String::new()),
    };
    found.verdict = scope.verdict(&found.facts());
    inv.drives.push(found);
}
