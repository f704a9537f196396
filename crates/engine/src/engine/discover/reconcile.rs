//! Brings the store in line with an [`Inventory`]: new drives in scope are added
//! (`drive_added`), drives that disappeared or left scope are flagged removed
//! (`drive_removed`, items kept). Configured drives are never removed, and nothing is
//! removed on the strength of a listing that failed.
//!
//! The store's drive records know a library's site but not a group drive's group, so
//! the drives that were ever a group's are remembered (drive id → group id) in the
//! store's `meta` table: when the group goes, its drive is reported removed even when
//! sites are not listed.

use std::collections::{BTreeMap, HashMap, HashSet};

use log::{info, warn};

use super::enumerate::{FoundDrive, Inventory, Listing};
use crate::error::Result;
use crate::event::EventKind;
use crate::scope::NOT_INCLUDED;
use crate::store::{DriveRecord, NewDrive, SiteRecord, Store};

/// `meta` key of the map from group drive ids to their group ids.
const GROUP_DRIVES_KEY: &str = "discover.group_drives";

/// The drives known to belong to a group: drive id → group id.
type GroupDrives = BTreeMap<String, String>;

fn load_group_drives(store: &Store) -> Result<GroupDrives> {
    Ok(match store.meta(GROUP_DRIVES_KEY)? {
        Some(json) => serde_json::from_str(&json).unwrap_or_else(|e| {
            warn!("discovery: {GROUP_DRIVES_KEY} is unreadable ({e}); starting afresh");
            GroupDrives::new()
        }),
        None => GroupDrives::new(),
    })
}

/// Remembers the group of every group drive in scope (before the drive is added, so
/// that a crash in between only repeats the work).
fn remember_group_drives(store: &Store, inv: &Inventory) -> Result<GroupDrives> {
    let mut map = load_group_drives(store)?;
    let mut changed = false;
    for d in inv.drives.iter().filter(|d| d.verdict.is_included()) {
        if let Some(group) = d.group() {
            if map.get(&d.id) != Some(&group.id) {
                map.insert(d.id.clone(), group.id.clone());
                changed = true;
            }
        }
    }
    if changed {
        let json = serde_json::to_string(&map).unwrap_or_else(|_| "{}".into());
        store.set_meta(GROUP_DRIVES_KEY, &json)?;
    }
    Ok(map)
}

/// What a reconciliation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Drives that came into scope (new, or back after a removal).
    pub added: Vec<String>,
    /// Drives flagged removed.
    pub removed: Vec<String>,
    /// Seq of the last event appended (0 when none).
    pub last_seq: i64,
}

/// Applies `inv` to the store; `configured` are the drive ids of the configuration.
pub fn reconcile(store: &Store, inv: &Inventory, configured: &HashSet<&str>) -> Result<Changes> {
    let mut changes = Changes::default();
    if inv.sites == Listing::Complete {
        sync_sites(store, inv)?;
    }
    let stored: HashMap<String, DriveRecord> = store
        .drives()?
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect();
    let found: HashMap<&str, &FoundDrive> = inv.drives.iter().map(|d| (d.id.as_str(), d)).collect();
    let group_drives = remember_group_drives(store, inv)?;

    for drive in inv.drives.iter().filter(|d| d.verdict.is_included()) {
        let record = stored.get(&drive.id);
        let new = NewDrive {
            id: &drive.id,
            // A group drive found without its site keeps the site it was seen with.
            site_id: drive
                .site_id()
                .or_else(|| record.and_then(|r| r.site_id.as_deref())),
            name: Some(&drive.name),
            kind: drive.kind.as_deref(),
        };
        if record.is_none_or(|r| r.removed) {
            // The event goes first: a crash before the upsert repeats it next
            // round instead of losing it.
            let detail = format!("{} ({})", drive.describe(), drive.verdict.reason());
            changes.last_seq = store.append_event(EventKind::DriveAdded, &drive.id, &detail)?;
            store.upsert_drive(&new)?;
            info!("drive {} added: {detail}", drive.id);
            changes.added.push(drive.id.clone());
        } else if record.is_some_and(|r| differs(r, &new)) {
            store.upsert_drive(&new)?;
        }
    }

    let mut gone: Vec<&DriveRecord> = stored
        .values()
        .filter(|r| !r.removed && !configured.contains(r.id.as_str()))
        .collect();
    gone.sort_by(|a, b| a.id.cmp(&b.id));
    for record in gone {
        let Some(reason) = removal_reason(record, inv, &found, &group_drives) else {
            continue;
        };
        changes.last_seq = store.append_event(EventKind::DriveRemoved, &record.id, &reason)?;
        store.mark_drive_removed(&record.id)?;
        info!("drive {} removed: {reason}", record.id);
        changes.removed.push(record.id.clone());
    }
    Ok(changes)
}

/// Whether the names the store keeps are stale.
fn differs(r: &DriveRecord, new: &NewDrive<'_>) -> bool {
    r.site_id.as_deref() != new.site_id
        || r.name.as_deref() != new.name
        || r.kind.as_deref() != new.kind
}

/// Why a stored drive is no longer in scope, or `None` to keep it (it is in scope, it
/// is not a discovered drive, or the listing that would tell failed).
fn removal_reason(
    record: &DriveRecord,
    inv: &Inventory,
    found: &HashMap<&str, &FoundDrive>,
    group_drives: &GroupDrives,
) -> Option<String> {
    if let Some(drive) = found.get(record.id.as_str()) {
        let verdict = &drive.verdict;
        return (!verdict.is_included()).then(|| format!("out of scope: {}", verdict.reason()));
    }
    if let Some(group_id) = group_drives.get(&record.id) {
        match inv.groups {
            Listing::NotNeeded if record.site_id.is_none() => {
                return Some(format!("out of scope: {NOT_INCLUDED}"));
            }
            // Groups are not listed: the drive is judged as its site's library.
            Listing::NotNeeded => {}
            Listing::Failed => return None,
            Listing::Complete | Listing::Partial => {
                return match inv.group_list.iter().find(|g| &g.id == group_id) {
                    None => Some(format!("group {group_id} was deleted")),
                    Some(g) if inv.groups == Listing::Complete => {
                        Some(format!("no longer the drive of group {}", g.name))
                    }
                    Some(_) => None,
                };
            }
        }
    }
    if let Some(site_id) = record.site_id.as_deref() {
        return match inv.sites {
            Listing::NotNeeded => Some(format!("out of scope: {NOT_INCLUDED}")),
            Listing::Failed | Listing::Partial => None,
            Listing::Complete => match inv.site_list.iter().find(|s| s.site.id == site_id) {
                None => Some(format!("site {site_id} was deleted")),
                Some(site) => match site.drives {
                    Listing::Complete => Some(format!("no longer a library of site {site_id}")),
                    Listing::NotNeeded => Some(format!("out of scope: {NOT_INCLUDED}")),
                    Listing::Failed | Listing::Partial => None,
                },
            },
        };
    }
    if matches!(record.kind.as_deref(), Some("business" | "personal")) {
        return match inv.users {
            Listing::NotNeeded => Some(format!("out of scope: {NOT_INCLUDED}")),
            Listing::Complete => Some("no longer the OneDrive of a user in scope".into()),
            Listing::Failed | Listing::Partial => None,
        };
    }
    // Neither a library nor a OneDrive as far as the store knows: not discovery's.
    None
}

/// Records the live sites and flags the ones that disappeared.
fn sync_sites(store: &Store, inv: &Inventory) -> Result<()> {
    let stored: HashMap<String, SiteRecord> = store
        .sites()?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let mut live = HashSet::new();
    for found in &inv.site_list {
        let s = &found.site;
        live.insert(s.id.as_str());
        let current = stored.get(&s.id).is_some_and(|r| {
            !r.removed && r.name == s.name && r.web_url.as_deref() == Some(s.web_url.as_str())
        });
        if !current {
            store.upsert_site(&s.id, s.name.as_deref(), Some(&s.web_url))?;
        }
    }
    for site in stored
        .values()
        .filter(|s| !s.removed && !live.contains(s.id.as_str()))
    {
        store.mark_site_removed(&site.id)?;
        info!("site {} is gone", site.id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::discover::enumerate::{FoundHome, FoundSite};
    use crate::engine::discover::groups::GroupInfo;
    use crate::engine::discover::sites::SiteInfo;
    use crate::scope::Verdict;

    fn site(id: &str) -> SiteInfo {
        SiteInfo {
            id: id.into(),
            name: Some(format!("Site {id}")),
            web_url: format!("https://x/sites/{id}"),
        }
    }

    fn library(id: &str, site_id: &str, included: bool) -> FoundDrive {
        FoundDrive {
            id: id.into(),
            name: format!("Lib {id}"),
            kind: Some("documentLibrary".into()),
            home: FoundHome::Site(site(site_id)),
            verdict: if included {
                Verdict::Included("scope.all_sites".into())
            } else {
                Verdict::Excluded("exclude[0] (drive_name=\"x\")".into())
            },
        }
    }

    fn onedrive(id: &str) -> FoundDrive {
        FoundDrive {
            id: id.into(),
            name: "OneDrive".into(),
            kind: Some("business".into()),
            home: FoundHome::User {
                id: format!("u-{id}"),
                upn: format!("{id}@x"),
            },
            verdict: Verdict::Included("scope.all_onedrives".into()),
        }
    }

    fn inventory(sites: &[(&str, Listing)], drives: Vec<FoundDrive>) -> Inventory {
        Inventory {
            sites: Listing::Complete,
            site_list: sites
                .iter()
                .map(|(id, l)| FoundSite {
                    site: site(id),
                    drives: *l,
                })
                .collect(),
            users: Listing::Complete,
            groups: Listing::NotNeeded,
            group_list: Vec::new(),
            drives,
            problems: Vec::new(),
        }
    }

    fn group(id: &str) -> GroupInfo {
        GroupInfo {
            id: id.into(),
            name: format!("Group {id}"),
            mail: format!("{id}@x"),
        }
    }

    fn group_drive(id: &str, group_id: &str) -> FoundDrive {
        FoundDrive {
            id: id.into(),
            name: "Documents".into(),
            kind: Some("documentLibrary".into()),
            home: FoundHome::Group {
                group: group(group_id),
                site: None,
            },
            verdict: Verdict::Included("scope.all_groups".into()),
        }
    }

    fn kinds(store: &Store) -> Vec<(String, String)> {
        store
            .events_after(0, 1000)
            .unwrap()
            .into_iter()
            .map(|e| (e.kind.as_str().to_string(), e.drive_id))
            .collect()
    }

    fn live(store: &Store) -> Vec<String> {
        store
            .drives()
            .unwrap()
            .into_iter()
            .filter(|d| !d.removed)
            .map(|d| d.id)
            .collect()
    }

    #[test]
    fn new_drives_are_added_once_with_an_event() {
        let store = Store::open_in_memory().unwrap();
        let inv = inventory(
            &[("s1", Listing::Complete)],
            vec![
                library("d1", "s1", true),
                library("d2", "s1", false),
                onedrive("o1"),
            ],
        );
        let none = HashSet::new();
        let c = reconcile(&store, &inv, &none).unwrap();
        assert_eq!(c.added, ["d1", "o1"]);
        assert!(c.removed.is_empty());
        assert_eq!(c.last_seq, 2);
        let d1 = store.drive("d1").unwrap().unwrap();
        assert_eq!(d1.site_id.as_deref(), Some("s1"));
        assert_eq!(d1.kind.as_deref(), Some("documentLibrary"));
        assert_eq!(store.sites().unwrap().len(), 1);
        let again = reconcile(&store, &inv, &none).unwrap();
        assert_eq!(again, Changes::default(), "a second round changes nothing");
        assert_eq!(kinds(&store).len(), 2);
    }

    #[test]
    fn removals_need_a_complete_listing_and_spare_configured_drives() {
        let store = Store::open_in_memory().unwrap();
        let none = HashSet::new();
        let full = inventory(
            &[("s1", Listing::Complete), ("s2", Listing::Complete)],
            vec![
                library("d1", "s1", true),
                library("d2", "s2", true),
                library("d3", "s2", true),
                onedrive("o1"),
            ],
        );
        reconcile(&store, &full, &none).unwrap();

        // s2's listing failed, users partial: nothing there is removed.
        let mut degraded = inventory(
            &[("s1", Listing::Complete), ("s2", Listing::Failed)],
            vec![library("d1", "s1", true)],
        );
        degraded.users = Listing::Partial;
        assert_eq!(
            reconcile(&store, &degraded, &none).unwrap(),
            Changes::default()
        );

        // The sites listing failed altogether: nothing removed either.
        let mut failed = inventory(&[], vec![]);
        failed.sites = Listing::Failed;
        failed.users = Listing::Failed;
        assert_eq!(
            reconcile(&store, &failed, &none).unwrap(),
            Changes::default()
        );

        // d3 is gone from a listed site, s1 is deleted, o1 is gone; d1 is configured.
        let configured: HashSet<&str> = ["d1"].into();
        let after = inventory(
            &[("s2", Listing::Complete)],
            vec![library("d2", "s2", true)],
        );
        let c = reconcile(&store, &after, &configured).unwrap();
        assert_eq!(c.removed, ["d3", "o1"]);
        assert_eq!(live(&store), ["d1", "d2"]);
        let sites = store.sites().unwrap();
        assert!(sites.iter().any(|s| s.id == "s1" && s.removed));
        let events = store.events_after(0, 100).unwrap();
        let d3 = events
            .iter()
            .find(|e| e.drive_id == "d3" && e.kind == EventKind::DriveRemoved)
            .unwrap();
        assert!(d3.detail.contains("no longer a library"), "{}", d3.detail);
    }

    #[test]
    fn drives_leaving_scope_are_removed_and_can_come_back() {
        let store = Store::open_in_memory().unwrap();
        let none = HashSet::new();
        reconcile(
            &store,
            &inventory(
                &[("s1", Listing::Complete)],
                vec![library("d1", "s1", true)],
            ),
            &none,
        )
        .unwrap();
        let excluded = inventory(
            &[("s1", Listing::Complete)],
            vec![library("d1", "s1", false)],
        );
        let c = reconcile(&store, &excluded, &none).unwrap();
        assert_eq!(c.removed, ["d1"]);
        let e = store.events_after(1, 10).unwrap();
        assert!(
            e[0].detail.starts_with("out of scope: exclude[0]"),
            "{}",
            e[0].detail
        );

        let skipped = inventory(&[("s1", Listing::NotNeeded)], vec![]);
        assert_eq!(
            reconcile(&store, &skipped, &none).unwrap(),
            Changes::default()
        );

        let back = inventory(
            &[("s1", Listing::Complete)],
            vec![library("d1", "s1", true)],
        );
        assert_eq!(reconcile(&store, &back, &none).unwrap().added, ["d1"]);
        assert_eq!(live(&store), ["d1"]);
    }

    #[test]
    fn group_drives_go_with_their_group_and_only_on_a_group_listing() {
        let store = Store::open_in_memory().unwrap();
        let none = HashSet::new();
        let groups = |live: &[&str], listing: Listing| {
            let mut inv = inventory(&[], vec![]);
            inv.sites = Listing::NotNeeded;
            inv.users = Listing::NotNeeded;
            inv.groups = listing;
            inv.group_list = live.iter().map(|g| group(g)).collect();
            inv.drives = live
                .iter()
                .map(|g| group_drive(&format!("d-{g}"), g))
                .collect();
            inv
        };
        let c = reconcile(&store, &groups(&["g1", "g2"], Listing::Complete), &none).unwrap();
        assert_eq!(c.added, ["d-g1", "d-g2"]);
        let d1 = store.drive("d-g1").unwrap().unwrap();
        assert_eq!(
            (d1.site_id, d1.kind.as_deref()),
            (None, Some("documentLibrary"))
        );

        // Nothing is removed when the group listing failed.
        let failed = groups(&[], Listing::Failed);
        assert_eq!(
            reconcile(&store, &failed, &none).unwrap(),
            Changes::default()
        );
        // A partial listing (a drive request failed) still tells a deleted group.
        let mut partial = groups(&["g1"], Listing::Partial);
        partial.drives.clear();
        let c = reconcile(&store, &partial, &none).unwrap();
        assert_eq!(c.removed, ["d-g2"]);
        let events = store.events_after(0, 100).unwrap();
        let last = events.last().unwrap();
        assert_eq!(last.detail, "group g2 was deleted");
        // Groups no longer in scope at all: their drives leave scope.
        let mut off = groups(&[], Listing::NotNeeded);
        off.group_list.clear();
        let c = reconcile(&store, &off, &none).unwrap();
        assert_eq!(c.removed, ["d-g1"]);
        assert!(
            store
                .events_after(0, 100)
                .unwrap()
                .last()
                .unwrap()
                .detail
                .starts_with("out of scope")
        );
    }

    #[test]
    fn a_group_drive_found_as_a_library_too_is_one_drive_with_its_site() {
        let store = Store::open_in_memory().unwrap();
        let mut merged = group_drive("d-g1", "g1");
        merged.home = FoundHome::Group {
            group: group("g1"),
            site: Some(site("s1")),
        };
        let mut inv = inventory(&[("s1", Listing::Complete)], vec![merged]);
        inv.groups = Listing::Complete;
        inv.group_list = vec![group("g1")];
        let c = reconcile(&store, &inv, &HashSet::new()).unwrap();
        assert_eq!(c.added, ["d-g1"]);
        assert_eq!(
            store.drive("d-g1").unwrap().unwrap().site_id.as_deref(),
            Some("s1")
        );
        // Seen again through the groups only: the site it was seen with stays.
        let mut alone = inventory(&[], vec![group_drive("d-g1", "g1")]);
        alone.sites = Listing::Failed;
        alone.groups = Listing::Complete;
        alone.group_list = vec![group("g1")];
        assert_eq!(
            reconcile(&store, &alone, &HashSet::new()).unwrap(),
            Changes::default()
        );
        assert_eq!(
            store.drive("d-g1").unwrap().unwrap().site_id.as_deref(),
            Some("s1")
        );
    }

    #[test]
    fn drives_unknown_to_discovery_are_left_alone() {
        let store = Store::open_in_memory().unwrap();
        store
            .upsert_drive(&NewDrive {
                id: "legacy",
                ..NewDrive::default()
            })
            .unwrap();
        let mut inv = inventory(&[], vec![]);
        inv.sites = Listing::NotNeeded;
        inv.users = Listing::NotNeeded;
        assert_eq!(
            reconcile(&store, &inv, &HashSet::new()).unwrap(),
            Changes::default()
        );
    }
}
