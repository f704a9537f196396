//! Which discovered drives are in scope: `scope.all_sites`, `scope.all_onedrives`,
//! `scope.all_groups`, and include/exclude rules on sites, users, groups, drive ids
//! and drive names.
//!
//! A drive is in scope when `all_sites` covers it (a site library), `all_onedrives`
//! covers it (a user's OneDrive), `all_groups` covers it (a Microsoft 365 group's
//! drive) or an `include` rule matches it, and no `exclude` rule matches it. A rule
//! matches when every field it sets matches:
//!
//! - `site`: the site id or the site's web URL, as a pattern;
//! - `user`: the user principal name of a OneDrive's owner, as a pattern;
//! - `group`: the display name or the mail of a group drive's group, as a pattern;
//! - `drive_id`: the drive id, exactly;
//! - `drive_name`: the library name (`Documents`, `Preservation Hold Library`) or
//!   `OneDrive`, as a pattern.
//!
//! A group's drive is the default library of the group's site, so it is also a site
//! library: found through `/groups` and through `/sites`, it is one drive (keyed by
//! its id) whose home is the group *and* its site. `all_sites` and `all_groups` both
//! cover it, `site` rules match its site (when sites were listed) and `group` rules
//! its group (when groups were listed). Groups are listed only when `all_groups` or
//! an include rule with `group` asks for them, so existing configurations need no
//! `Group.Read.All` permission.
//!
//! Patterns are case-insensitive globs where `*` matches any run of characters and
//! `?` exactly one (see [`glob_match`]). Drives listed in the configuration's `drives`
//! are outside these rules: they are always mirrored.

use std::fmt;

use serde::Deserialize;

/// The `scope` section of the configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ScopeConfig {
    /// Every document library of every site.
    pub all_sites: bool,
    /// Every user's OneDrive.
    pub all_onedrives: bool,
    /// Every Microsoft 365 group's drive.
    pub all_groups: bool,
    /// Drives brought into scope in addition to the `all_*` switches.
    pub include: Vec<ScopeRule>,
    /// Drives kept out of scope, whatever brought them in.
    pub exclude: Vec<ScopeRule>,
}

/// One include or exclude rule: it matches a drive when every field it sets matches.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ScopeRule {
    /// Pattern of the site id or the site's web URL (site libraries only).
    pub site: Option<String>,
    /// Pattern of the owner's user principal name (OneDrives only).
    pub user: Option<String>,
    /// Pattern of the group's display name or mail (group drives only).
    pub group: Option<String>,
    /// A drive id, matched exactly.
    pub drive_id: Option<String>,
    /// Pattern of the drive's name.
    pub drive_name: Option<String>,
}

/// Where a drive lives: what the `site` and `user` rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveHome<'a> {
    /// A document library of a site.
    Site {
        /// Graph site id.
        id: &'a str,
        /// The site's web URL.
        web_url: &'a str,
    },
    /// A user's OneDrive.
    User {
        /// The owner's user principal name.
        upn: &'a str,
    },
    /// A Microsoft 365 group's drive (its site's default library).
    Group {
        /// The group's display name.
        name: &'a str,
        /// The group's mail address (empty when Graph sent none).
        mail: &'a str,
        /// The group's site as (id, web URL), when sites were listed too.
        site: Option<(&'a str, &'a str)>,
    },
}

impl<'a> DriveHome<'a> {
    /// The site (id, web URL) of a library, group drives included when known.
    fn site(&self) -> Option<(&'a str, &'a str)> {
        match *self {
            DriveHome::Site { id, web_url } => Some((id, web_url)),
            DriveHome::Group { site, .. } => site,
            DriveHome::User { .. } => None,
        }
    }
}

/// What the rules know about a drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriveFacts<'a> {
    /// Graph drive id.
    pub drive_id: &'a str,
    /// Drive name.
    pub drive_name: &'a str,
    /// Its site or owner.
    pub home: DriveHome<'a>,
}

/// Whether a drive is in scope, and which setting or rule decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// In scope; the text names what brought it in, e.g. `scope.all_sites`.
    Included(String),
    /// Out of scope; the text names the exclude rule, or says nothing brought it in.
    Excluded(String),
}

impl Verdict {
    /// Whether the drive is in scope.
    pub fn is_included(&self) -> bool {
        matches!(self, Verdict::Included(_))
    }

    /// The setting or rule that decided.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Included(r) | Verdict::Excluded(r) => r,
        }
    }
}

/// The reason given for a drive that nothing brought into scope.
pub const NOT_INCLUDED: &str =
    "not covered by scope.all_sites, scope.all_onedrives, scope.all_groups or an include rule";

impl ScopeConfig {
    /// Whether discovery has anything to look for.
    pub fn is_active(&self) -> bool {
        self.all_sites || self.all_onedrives || self.all_groups || !self.include.is_empty()
    }

    /// Checks every rule; the error names the field (`scope.include[0].site`) and the problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (list, rules) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, rule) in rules.iter().enumerate() {
                rule.validate()
                    .map_err(|(field, why)| (format!("scope.{list}[{i}]{field}"), why))?;
            }
        }
        Ok(())
    }

    /// Decides whether `drive` is in scope.
    pub(crate) fn verdict(&self, drive: &DriveFacts<'_>) -> Verdict {
        if let Some((i, rule)) = self
            .exclude
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches(drive))
        {
            return Verdict::Excluded(format!("exclude[{i}] ({rule})"));
        }
        match drive.home {
            DriveHome::Group { .. } if self.all_groups => {
                return Verdict::Included("scope.all_groups".into());
            }
            DriveHome::Site { .. } | DriveHome::Group { site: Some(_), .. } if self.all_sites => {
                return Verdict::Included("scope.all_sites".into());
            }
            DriveHome::User { .. } if self.all_onedrives => {
                return Verdict::Included("scope.all_onedrives".into());
            }
            _ => {}
        }
        match self
            .include
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches(drive))
        {
            Some((i, rule)) => Verdict::Included(format!("include[{i}] ({rule})")),
            None => Verdict::Excluded(NOT_INCLUDED.into()),
        }
    }

    /// Whether any library of this site could be in scope: when not, its drives need
    /// not be listed at all. (A rule with `group` alone finds its drive through
    /// `/groups`; with `site` as well it needs the site listed too.)
    pub fn may_include_site(&self, id: &str, web_url: &str) -> bool {
        self.all_sites
            || self.site_rules().any(|r| {
                r.site
                    .as_deref()
                    .is_none_or(|p| site_matches(p, id, web_url))
            })
    }

    /// Whether this user's OneDrive could be in scope: when not, it need not be fetched.
    pub fn may_include_user(&self, upn: &str) -> bool {
        self.all_onedrives
            || self
                .user_rules()
                .any(|r| r.user.as_deref().is_none_or(|p| glob_match(p, upn)))
    }

    /// Whether this group's drive could be in scope: when not, it need not be fetched.
    pub fn may_include_group(&self, name: &str, mail: &str) -> bool {
        self.all_groups
            || self.include.iter().any(|r| {
                r.group
                    .as_deref()
                    .is_some_and(|p| glob_match(p, name) || glob_match(p, mail))
            })
    }

    /// Whether any site library could be in scope (so sites must be enumerated).
    pub fn needs_sites(&self) -> bool {
        self.all_sites || self.site_rules().next().is_some()
    }

    /// Whether any OneDrive could be in scope (so users must be enumerated).
    pub fn needs_users(&self) -> bool {
        self.all_onedrives || self.user_rules().next().is_some()
    }

    /// Whether any group drive could be in scope (so groups must be enumerated).
    pub fn needs_groups(&self) -> bool {
        self.all_groups || self.include.iter().any(|r| r.group.is_some())
    }

    /// Include rules that may match a site library.
    fn site_rules(&self) -> impl Iterator<Item = &ScopeRule> {
        self.include
            .iter()
            .filter(|r| r.user.is_none() && (r.group.is_none() || r.site.is_some()))
    }

    /// Include rules that may match a OneDrive.
    fn user_rules(&self) -> impl Iterator<Item = &ScopeRule> {
        self.include
            .iter()
            .filter(|r| r.site.is_none() && r.group.is_none())
    }
}

fn site_matches(pattern: &str, id: &str, web_url: &str) -> bool {
    glob_match(pattern, id) || glob_match(pattern, web_url)
}

impl ScopeRule {
    /// Whether every field the rule sets matches `drive`.
    pub(crate) fn matches(&self, drive: &DriveFacts<'_>) -> bool {
        let site_ok = match (&self.site, drive.home.site()) {
            (None, _) => true,
            (Some(p), Some((id, web_url))) => site_matches(p, id, web_url),
            (Some(_), None) => false,
        };
        let user_ok = match (&self.user, drive.home) {
            (None, _) => true,
            (Some(p), DriveHome::User { upn }) => glob_match(p, upn),
            (Some(_), _) => false,
        };
        let group_ok = match (&self.group, drive.home) {
            (None, _) => true,
            (Some(p), DriveHome::Group { name, mail, .. }) => {
                glob_match(p, name) || glob_match(p, mail)
            }
            (Some(_), _) => false,
        };
        site_ok
            && user_ok
            && group_ok
            && self.drive_id.as_deref().is_none_or(|d| d == drive.drive_id)
            && self
                .drive_name
                .as_deref()
                .is_none_or(|p| glob_match(p, drive.drive_name))
    }

    fn fields(&self) -> [(&'static str, Option<&str>); 5] {
        [
            ("site", self.site.as_deref()),
            ("user", self.user.as_deref()),
            ("group", self.group.as_deref()),
            ("drive_id", self.drive_id.as_deref()),
            ("drive_name", self.drive_name.as_deref()),
        ]
    }

    /// The error names the field as a suffix (`.site`), empty for the rule as a whole.
    fn validate(&self) -> Result<(), (String, String)> {
        let fields = self.fields();
        if fields.iter().all(|(_, v)| v.is_none()) {
            return Err((
                String::new(),
                "set at least one of site, user, group, drive_id, drive_name".into(),
            ));
        }
        for (name, value) in fields {
            if value.is_some_and(|v| v.trim().is_empty()) {
                return Err((format!(".{name}"), "must not be empty".into()));
            }
        }
        if self.site.is_some() && self.user.is_some() {
            return Err((
                String::new(),
                "site and user never match the same drive (a library has no owner, a OneDrive no site); use two rules".into(),
            ));
        }
        if self.group.is_some() && self.user.is_some() {
            return Err((
                String::new(),
                "group and user never match the same drive (a OneDrive belongs to no group); use two rules".into(),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for ScopeRule {
    /// `site="…", drive_name="…"`: the fields the rule sets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in self.fields() {
            if let Some(v) = value {
                if !first {
                    f.write_str(", ")?;
                }
                write!(f, "{name}={v:?}")?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Whether `text` matches the glob `pattern`, ignoring case: `*` matches any run of
/// characters (none included), `?` exactly one; every other character matches itself.
///
/// Runs in O(pattern × text) time at worst, without recursion.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ti) = (0, 0);
    // Position after the last `*` seen, and the text position it is retried from.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                pi += 1;
                star = Some((pi, ti));
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry.
                Some((sp, st)) => {
                    pi = sp;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests;
