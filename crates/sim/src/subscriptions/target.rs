//! What a subscription watches, and the rules Graph applies to each kind of resource.

/// Graph's maximum lifetime of a driveItem subscription: 42,300 minutes.
const DRIVE_MAX_LIFETIME_MS: i64 = 42_300 * 60_000;
/// Graph's maximum lifetime of a SharePoint list subscription (what `/sites` is
/// treated as: Graph documents no other value for it): 42,300 minutes.
const SITES_MAX_LIFETIME_MS: i64 = 42_300 * 60_000;
/// Graph's maximum lifetime of a subscription on groups, users and other directory
/// resources: 41,760 minutes.
const GROUPS_MAX_LIFETIME_MS: i64 = 41_760 * 60_000;

/// The resource a subscription watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A drive root (`/drives/{id}/root`, `/users/{id}/drive/root`, ...): the drive id.
    Drive(String),
    /// The tenant's site collections (`/sites`): created and deleted sites.
    Sites,
    /// Every group of the tenant (`/groups`).
    Groups,
    /// One group (`/groups/{id}`): the group id.
    Group(String),
}

/// What happened to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupChange {
    /// The group was created.
    Created,
    /// A property of the group changed.
    Updated,
    /// The group was deleted.
    Deleted,
}

impl Target {
    /// The longest lifetime Graph grants a subscription on this resource, in ms.
    pub(crate) fn max_lifetime_ms(&self) -> i64 {
        match self {
            Target::Drive(_) => DRIVE_MAX_LIFETIME_MS,
            Target::Sites => SITES_MAX_LIFETIME_MS,
            Target::Groups | Target::Group(_) => GROUPS_MAX_LIFETIME_MS,
        }
    }

    /// Graph's name for the resource class in error messages.
    pub(crate) fn class(&self) -> &'static str {
        match self {
            Target::Drive(_) => "driveItem",
            Target::Sites => "list",
            Target::Groups | Target::Group(_) => "group",
        }
    }

    /// Whether `change_type` (`updated`, or for groups any of `created,updated,deleted`)
    /// is accepted on this resource; the error says what is.
    pub(crate) fn check_change_type(&self, change_type: &str) -> Result<(), String> {
        let types: Vec<String> = change_type
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        let directory = matches!(self, Target::Groups | Target::Group(_));
        let known = |t: &str| matches!(t, "created" | "updated" | "deleted");
        let ok = if directory {
            types.iter().all(|t| known(t))
        } else {
            types.len() == 1 && types[0] == "updated"
        };
        if ok {
            return Ok(());
        }
        Err(if directory {
            format!(
                "changeType '{change_type}' is not supported; use created, updated and/or deleted"
            )
        } else {
            format!(
                "changeType '{change_type}' is not supported for drive roots and lists; use 'updated'"
            )
        })
    }

    /// The change type a subscription asking for `change_type` is told for `change`,
    /// or `None` when it did not ask for it. A creation is reported as `updated` to a
    /// subscription that did not ask for `created`, as Graph does for directory objects.
    pub(crate) fn notified_as(change_type: &str, change: GroupChange) -> Option<&'static str> {
        let asked = |t: &str| {
            change_type
                .split(',')
                .any(|c| c.trim().eq_ignore_ascii_case(t))
        };
        match change {
            GroupChange::Created if asked("created") => Some("created"),
            GroupChange::Created | GroupChange::Updated if asked("updated") => Some("updated"),
            GroupChange::Deleted if asked("deleted") => Some("deleted"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_types_and_lifetimes_follow_the_resource() {
        let drive = Target::Drive("d".into());
        assert!(drive.check_change_type("updated").is_ok());
        assert!(drive.check_change_type("Updated").is_ok());
        assert!(drive.check_change_type("created").is_err());
        assert!(drive.check_change_type("updated,deleted").is_err());
        assert!(Target::Sites.check_change_type("updated").is_ok());
        assert!(Target::Sites.check_change_type("deleted").is_err());
        assert!(Target::Groups.check_change_type("updated,deleted").is_ok());
        assert!(Target::Groups.check_change_type("created, deleted").is_ok());
        assert!(
            Target::Group("g".into())
                .check_change_type("renamed")
                .is_err()
        );
        assert!(Target::Groups.check_change_type("").is_err());
        assert_eq!(Target::Groups.max_lifetime_ms(), 41_760 * 60_000);
        assert_eq!(Target::Sites.max_lifetime_ms(), 42_300 * 60_000);
        assert_eq!(drive.max_lifetime_ms(), 42_300 * 60_000);
    }

    #[test]
    fn group_changes_map_to_what_was_asked() {
        use GroupChange::*;
        let n = Target::notified_as;
        assert_eq!(n("updated,deleted", Created), Some("updated"));
        assert_eq!(n("created,updated", Created), Some("created"));
        assert_eq!(n("updated,deleted", Deleted), Some("deleted"));
        assert_eq!(n("updated", Deleted), None);
        assert_eq!(n("deleted", Updated), None);
        assert_eq!(n("created", Updated), None);
    }
}
