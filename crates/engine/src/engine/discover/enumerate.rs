//! Enumeration of the tenant's drives in three parts: sites → their libraries, users
//! → their OneDrives, Microsoft 365 groups → their drives. Each part can be
//! refreshed alone (a `/sites` or `/groups` notification refreshes its part only);
//! the parts are then merged — a group's drive found as a site library too is one
//! drive, whose home is the group and its site — and every drive is judged by the
//! scope rules. Reads Graph only.

use std::collections::HashMap;

use log::debug;

use super::groups::{GroupInfo, GroupsFeed};
use super::pager::{DRIVE_SELECT, Pager, fetch_all, is_fatal, plain_segment};
use super::sites::{SiteInfo, SitesFeed};
use crate::error::{Error, Result};
use crate::graph::RequestKind;
use crate::graph::types::{Drive, User};
use crate::scope::{DriveFacts, DriveHome, ScopeConfig, Verdict};

/// Graph caps `$top` of `/users` at 999.
const MAX_USERS_TOP: u32 = 999;

/// How completely a part of the tenant was looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Listing {
    /// Not looked at: no drive there can be in scope.
    #[default]
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
    /// A Microsoft 365 group's drive (its site's default library).
    Group {
        /// The group.
        group: GroupInfo,
        /// The group's site, when the sites listing found the drive too.
        site: Option<SiteInfo>,
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
    pub(crate) fn facts(&self) -> DriveFacts<'_> {
        DriveFacts {
            drive_id: &self.id,
            drive_name: &self.name,
            home: match &self.home {
                FoundHome::Site(s) => DriveHome::Site {
                    id: &s.id,
                    web_url: &s.web_url,
                },
                FoundHome::User { upn, .. } => DriveHome::User { upn },
                FoundHome::Group { group, site } => DriveHome::Group {
                    name: &group.name,
                    mail: &group.mail,
                    site: site.as_ref().map(|s| (s.id.as_str(), s.web_url.as_str())),
                },
            },
        }
    }

    /// The site id of a library (a group drive's when its site is known).
    pub fn site_id(&self) -> Option<&str> {
        match &self.home {
            FoundHome::Site(s) | FoundHome::Group { site: Some(s), .. } => Some(&s.id),
            FoundHome::User { .. } | FoundHome::Group { site: None, .. } => None,
        }
    }

    /// The group of a group drive.
    pub fn group(&self) -> Option<&GroupInfo> {
        match &self.home {
            FoundHome::Group { group, .. } => Some(group),
            _ => None,
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
            FoundHome::Group { group, .. } if group.mail.is_empty() => {
                format!("group {}, library {}", group.name, self.name)
            }
            FoundHome::Group { group, .. } => {
                format!(
                    "group {} <{}>, library {}",
                    group.name, group.mail, self.name
                )
            }
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
    /// How groups' drives were looked at.
    pub groups: Listing,
    /// Every live Microsoft 365 group (empty unless `groups` is `Complete` or `Partial`).
    pub group_list: Vec<GroupInfo>,
    /// Every drive found, in scope or not, each once.
    pub drives: Vec<FoundDrive>,
    /// What went wrong without failing the whole enumeration.
    pub problems: Vec<String>,
}

/// One part of the tenant as last enumerated: how it was listed, the drives found
/// there (not yet judged) and what went wrong.
#[derive(Debug, Clone, Default)]
pub struct Part {
    /// How completely the part was looked at.
    pub listing: Listing,
    /// The drives found there.
    pub drives: Vec<FoundDrive>,
    /// What went wrong there.
    pub problems: Vec<String>,
}

impl Part {
    fn failed(problem: String) -> Part {
        Part {
            listing: Listing::Failed,
            drives: Vec::new(),
            problems: vec![problem],
        }
    }
}

/// Which parts a discovery round looks at again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    /// Sites and their libraries.
    pub sites: bool,
    /// Users and their OneDrives.
    pub users: bool,
    /// Groups and their drives.
    pub groups: bool,
}

impl Refresh {
    /// Every part.
    pub const ALL: Refresh = Refresh {
        sites: true,
        users: true,
        groups: true,
    };
    /// Nothing.
    pub const NONE: Refresh = Refresh {
        sites: false,
        users: false,
        groups: false,
    };

    /// Both sets of parts.
    pub fn union(self, other: Refresh) -> Refresh {
        Refresh {
            sites: self.sites || other.sites,
            users: self.users || other.users,
            groups: self.groups || other.groups,
        }
    }
}

/// The feeds kept between rounds.
#[derive(Debug, Clone)]
pub struct Feeds {
    /// `/sites/delta` (or listing).
    pub sites: SitesFeed,
    /// `/groups/delta` (or listing).
    pub groups: GroupsFeed,
}

impl Feeds {
    /// Feeds that list everything every time (a one-off inventory).
    pub fn listing() -> Feeds {
        Feeds {
            sites: SitesFeed::listing(),
            groups: GroupsFeed::listing(),
        }
    }
}

/// The tenant's parts as last enumerated, kept between rounds so that a round can
/// refresh some parts and reuse the others.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// Site libraries.
    pub sites: Part,
    /// The live sites, and whether each one's libraries were listed.
    pub site_list: Vec<FoundSite>,
    /// Users' OneDrives.
    pub users: Part,
    /// Groups' drives.
    pub groups: Part,
    /// The live Microsoft 365 groups.
    pub group_list: Vec<GroupInfo>,
}

impl Parts {
    /// Enumerates the parts `which` names (those `scope` needs; the others are
    /// `NotNeeded`). A part whose listing failed records it; an error that ends the
    /// round (stop, transport, auth) is also returned, after being recorded.
    pub fn refresh(
        &mut self,
        pager: &Pager<'_>,
        scope: &ScopeConfig,
        feeds: &mut Feeds,
        which: Refresh,
    ) -> Result<()> {
        if which.sites {
            self.site_list.clear();
            self.sites = Part::default();
            if scope.needs_sites() {
                self.sites = self.list_sites(pager, scope, &mut feeds.sites)?;
            }
        }
        if which.users {
            self.users = Part::default();
            if scope.needs_users() {
                match users_onedrives(pager, scope) {
                    Ok(part) => self.users = part,
                    Err(e) => {
                        self.users = Part::failed(format!("listing users: {e}"));
                        if is_fatal(&e) {
                            return Err(e);
                        }
                    }
                }
            }
        }
        if which.groups {
            self.group_list.clear();
            self.groups = Part::default();
            if scope.needs_groups() {
                self.groups = self.list_groups(pager, scope, &mut feeds.groups)?;
            }
        }
        Ok(())
    }

    fn list_sites(
        &mut self,
        pager: &Pager<'_>,
        scope: &ScopeConfig,
        feed: &mut SitesFeed,
    ) -> Result<Part> {
        let list = match feed.fetch(pager) {
            Ok(list) => list,
            Err(e) if is_fatal(&e) => {
                self.sites = Part::failed(format!("listing sites: {e}"));
                return Err(e);
            }
            Err(e) => return Ok(Part::failed(format!("listing sites: {e}"))),
        };
        let mut part = Part {
            listing: Listing::Complete,
            ..Part::default()
        };
        for site in list {
            let drives = match site_libraries(pager, scope, &site, &mut part) {
                Ok(listing) => listing,
                Err(e) => {
                    self.sites = Part::failed(format!("libraries of site {}: {e}", site.id));
                    return Err(e);
                }
            };
            self.site_list.push(FoundSite { site, drives });
        }
        Ok(part)
    }

    fn list_groups(
        &mut self,
        pager: &Pager<'_>,
        scope: &ScopeConfig,
        feed: &mut GroupsFeed,
    ) -> Result<Part> {
        let round = match feed.fetch(pager, scope) {
            Ok(round) => round,
            Err(e) if is_fatal(&e) => {
                self.groups = Part::failed(format!("listing groups: {e}"));
                return Err(e);
            }
            Err(e) => return Ok(Part::failed(format!("listing groups: {e}"))),
        };
        let mut part = Part {
            listing: if round.problems.is_empty() {
                Listing::Complete
            } else {
                Listing::Partial
            },
            drives: Vec::new(),
            problems: round.problems,
        };
        for known in round.groups {
            if let Some(drive) = known.drive {
                part.drives.push(FoundDrive {
                    id: drive.id,
                    name: drive.name,
                    kind: drive.kind,
                    home: FoundHome::Group {
                        group: known.group.clone(),
                        site: None,
                    },
                    verdict: Verdict::Excluded(String::new()),
                });
            }
            self.group_list.push(known.group);
        }
        Ok(part)
    }

    /// Merges the parts and judges every drive: a drive found as a group's and as a
    /// site library is one drive of that group and site.
    pub fn inventory(&self, scope: &ScopeConfig) -> Inventory {
        let mut libraries: HashMap<&str, &SiteInfo> = HashMap::new();
        for d in &self.sites.drives {
            if let FoundHome::Site(site) = &d.home {
                libraries.insert(&d.id, site);
            }
        }
        let group_drives = self.groups.drives.iter().map(|d| {
            let mut d = d.clone();
            if let FoundHome::Group { site, .. } = &mut d.home {
                *site = libraries.get(d.id.as_str()).map(|s| (*s).clone());
            }
            d
        });
        let mut seen = std::collections::HashSet::new();
        let drives: Vec<FoundDrive> = group_drives
            .chain(self.sites.drives.iter().cloned())
            .chain(self.users.drives.iter().cloned())
            .filter(|d| seen.insert(d.id.clone()))
            .map(|mut d| {
                d.verdict = scope.verdict(&d.facts());
                d
            })
            .collect();
        Inventory {
            sites: self.sites.listing,
            site_list: if self.sites.listing == Listing::Complete {
                self.site_list.clone()
            } else {
                Vec::new()
            },
            users: self.users.listing,
            groups: self.groups.listing,
            group_list: self.group_list.clone(),
            drives,
            problems: [&self.sites, &self.users, &self.groups]
                .iter()
                .flat_map(|p| p.problems.iter().cloned())
                .collect(),
        }
    }
}

/// Enumerates every part of the drives `scope` may cover; `feeds` keep the site
/// and group lists between calls.
pub fn enumerate(pager: &Pager<'_>, scope: &ScopeConfig, feeds: &mut Feeds) -> Result<Inventory> {
    let mut parts = Parts::default();
    parts.refresh(pager, scope, feeds, Refresh::ALL)?;
    Ok(parts.inventory(scope))
}

/// Lists one site's libraries into `part` when any of them may be in scope.
fn site_libraries(
    pager: &Pager<'_>,
    scope: &ScopeConfig,
    site: &SiteInfo,
    part: &mut Part,
) -> Result<Listing> {
    if !scope.may_include_site(&site.id, &site.web_url) {
        return Ok(Listing::NotNeeded);
    }
    if !plain_segment(&site.id) {
        part.problems
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
                push_drive(part, d, FoundHome::Site(site.clone()));
            }
            Ok(Listing::Complete)
        }
        Err(e) if is_fatal(&e) => Err(e),
        Err(e) => {
            part.problems
                .push(format!("libraries of site {}: {e}", site.id));
            Ok(Listing::Failed)
        }
    }
}

/// Lists users and fetches the OneDrive of each who may be in scope; a user without a
/// OneDrive (404) is skipped.
fn users_onedrives(pager: &Pager<'_>, scope: &ScopeConfig) -> Result<Part> {
    let first = format!(
        "/users?$select=id,userPrincipalName&$top={}",
        pager.page_size.min(MAX_USERS_TOP)
    );
    let users = fetch_all::<User>(pager, &first, RequestKind::List)?;
    let mut part = Part {
        listing: Listing::Complete,
        ..Part::default()
    };
    for user in users {
        let upn = user.user_principal_name.unwrap_or_default();
        if !scope.may_include_user(&upn) {
            continue;
        }
        if !plain_segment(&user.id) {
            part.problems
                .push(format!("user id {:?} is not a Graph id", user.id));
            part.listing = Listing::Partial;
            continue;
        }
        pager.check_stop()?;
        let url = format!("/users/{}/drive?$select={DRIVE_SELECT}", user.id);
        match pager.client.get_json::<Drive>(&url, RequestKind::Get) {
            Ok(drive) => {
                let home = FoundHome::User { id: user.id, upn };
                push_drive(&mut part, drive, home);
            }
            Err(Error::Graph(g)) if g.status == 404 => {
                debug!("user {upn} has no OneDrive");
            }
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => {
                part.problems.push(format!("OneDrive of {upn}: {e}"));
                part.listing = Listing::Partial;
            }
        }
    }
    Ok(part)
}

/// Adds a found drive to `part`; it is judged once the parts are merged.
fn push_drive(part: &mut Part, drive: Drive, home: FoundHome) {
    if drive.id.is_empty() {
        part.problems
            .push("Graph listed a drive without an id".into());
        return;
    }
    part.drives.push(FoundDrive {
        id: drive.id,
        name: drive.name.unwrap_or_default(),
        kind: drive.drive_type,
        home,
        verdict: Verdict::Excluded(String::new()),
    });
}
