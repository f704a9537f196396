//! The tenant's Microsoft 365 groups and their drives, kept current across discovery
//! rounds with `/groups/delta` (by deltaLink, like drives), or listed with `/groups`
//! for a one-off inventory. A group's drive (`/groups/{id}/drive`) is fetched once
//! and remembered with the group, so a round costs requests only for new groups.

use log::debug;
use serde::{Deserialize, Serialize};

use super::feed::{FeedState, follow};
use super::pager::{DRIVE_SELECT, Pager, fetch_all, is_fatal, plain_segment};
use crate::error::{Error, Result};
use crate::graph::RequestKind;
use crate::graph::types::{Drive, Group};
use crate::scope::ScopeConfig;

/// Fields of a group discovery reads.
const GROUP_SELECT: &str = "id,displayName,mail,groupTypes";
/// Graph caps directory pages at 999 objects.
const MAX_DIRECTORY_PAGE: u32 = 999;

/// A live Microsoft 365 group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// Directory object id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Mail address (empty when Graph sent none).
    pub mail: String,
}

/// A group's drive as `/groups/{id}/drive` returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDrive {
    /// Drive id.
    pub id: String,
    /// Library name.
    pub name: String,
    /// Graph `driveType`.
    pub kind: Option<String>,
}

/// What a feed keeps of a group: the group, and its drive once fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownGroup {
    /// The group.
    pub group: GroupInfo,
    /// Its drive; `None` until fetched (or while Graph has none yet: a new group's
    /// site is provisioned a little after the group).
    pub drive: Option<GroupDrive>,
}

/// The groups of one round, with their drives where fetched.
#[derive(Debug, Clone, Default)]
pub struct GroupsRound {
    /// Every live Microsoft 365 group, sorted by id.
    pub groups: Vec<KnownGroup>,
    /// Drive requests that failed (the round's listing is then partial).
    pub problems: Vec<String>,
}

/// Where the list of groups comes from, and what the last round learned.
#[derive(Debug, Clone)]
pub struct GroupsFeed {
    use_delta: bool,
    state: FeedState<KnownGroup>,
}

impl GroupsFeed {
    /// A feed that follows `/groups/delta`, continuing from a saved state.
    pub fn resume(state: FeedState<KnownGroup>) -> GroupsFeed {
        GroupsFeed {
            use_delta: true,
            state,
        }
    }

    /// A feed that lists `/groups` (Unified only) every time.
    pub fn listing() -> GroupsFeed {
        GroupsFeed {
            use_delta: false,
            state: FeedState::default(),
        }
    }

    /// The state to save (deltaLink, known groups and their drives).
    pub fn state(&self) -> &FeedState<KnownGroup> {
        &self.state
    }

    /// Every live Microsoft 365 group, with the drive of each group `scope` may
    /// include (fetched when not known yet).
    pub fn fetch(&mut self, pager: &Pager<'_>, scope: &ScopeConfig) -> Result<GroupsRound> {
        if self.use_delta {
            let page = pager.page_size.min(MAX_DIRECTORY_PAGE);
            let prefer = format!("odata.maxpagesize={page}");
            follow(
                pager,
                "/groups/delta",
                &format!("/groups/delta?$select={GROUP_SELECT}"),
                &[("Prefer", prefer.as_str())],
                &mut self.state,
                apply_change,
            )?;
        } else {
            let first = format!(
                "/groups?$filter=groupTypes/any(c:c+eq+'Unified')&$select={GROUP_SELECT}&$top={}",
                pager.page_size.min(MAX_DIRECTORY_PAGE)
            );
            self.state.known.clear();
            for group in fetch_all::<Group>(pager, &first, RequestKind::List)? {
                apply_change(&mut self.state.known, group);
            }
        }
        let mut problems = Vec::new();
        for known in self.state.known.values_mut() {
            let group = &known.group;
            if known.drive.is_some() || !scope.may_include_group(&group.name, &group.mail) {
                continue;
            }
            if !plain_segment(&group.id) {
                problems.push(format!("group id {:?} is not a Graph id", group.id));
                continue;
            }
            pager.check_stop()?;
            let url = format!("/groups/{}/drive?$select={DRIVE_SELECT}", group.id);
            match pager.client.get_json::<Drive>(&url, RequestKind::Get) {
                Ok(drive) if !drive.id.is_empty() => {
                    known.drive = Some(GroupDrive {
                        id: drive.id,
                        name: drive.name.unwrap_or_default(),
                        kind: drive.drive_type,
                    });
                }
                Ok(_) => problems.push(format!("group {}: a drive without an id", group.name)),
                Err(Error::Graph(g)) if g.status == 404 => {
                    debug!("group {} has no drive (yet)", group.name);
                }
                Err(e) if is_fatal(&e) => return Err(e),
                Err(e) => problems.push(format!("drive of group {}: {e}", group.name)),
            }
        }
        Ok(GroupsRound {
            groups: self.state.known.values().cloned().collect(),
            problems,
        })
    }
}

/// Folds one `/groups` or `/groups/delta` entry into the known groups: a removed
/// group or one that is not a Microsoft 365 group goes; an update keeps what it does
/// not restate (delta may send only the changed properties) and the fetched drive.
fn apply_change(known: &mut std::collections::BTreeMap<String, KnownGroup>, g: Group) {
    let unified = g
        .group_types
        .as_ref()
        .map(|types| types.iter().any(|t| t.eq_ignore_ascii_case("Unified")));
    if g.removed.is_some() || unified == Some(false) {
        known.remove(&g.id);
        return;
    }
    match known.get_mut(&g.id) {
        Some(k) => {
            if let Some(name) = g.display_name {
                k.group.name = name;
            }
            if let Some(mail) = g.mail {
                k.group.mail = mail;
            }
        }
        // A group first seen without its types is not known to be a Microsoft 365 group.
        None if unified.is_none() => {}
        None => {
            known.insert(
                g.id.clone(),
                KnownGroup {
                    group: GroupInfo {
                        name: g.display_name.unwrap_or_default(),
                        mail: g.mail.unwrap_or_default(),
                        id: g.id,
                    },
                    drive: None,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn group(id: &str, name: Option<&str>, types: Option<&[&str]>) -> Group {
        Group {
            id: id.into(),
            display_name: name.map(str::to_string),
            mail: name.map(|n| format!("{n}@x")),
            group_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
            removed: None,
        }
    }

    #[test]
    fn changes_fold_into_the_known_groups() {
        let mut known = BTreeMap::new();
        apply_change(&mut known, group("a", Some("A"), Some(&["Unified"])));
        apply_change(&mut known, group("s", Some("Sec"), Some(&[])));
        apply_change(&mut known, group("u", Some("Unknown"), None));
        assert_eq!(known.keys().collect::<Vec<_>>(), ["a"]);
        known.get_mut("a").unwrap().drive = Some(GroupDrive {
            id: "b!a".into(),
            name: "Documents".into(),
            kind: None,
        });
        // A partial update keeps the drive and the mail.
        apply_change(&mut known, group("a", None, None));
        let mut renamed = group("a", Some("A2"), None);
        renamed.mail = None;
        apply_change(&mut known, renamed);
        let a = &known["a"];
        assert_eq!(
            (a.group.name.as_str(), a.group.mail.as_str()),
            ("A2", "A@x")
        );
        assert!(a.drive.is_some());
        let mut gone = group("a", None, None);
        gone.removed = Some(serde_json::json!({"reason": "changed"}));
        apply_change(&mut known, gone);
        assert!(known.is_empty());
    }
}
