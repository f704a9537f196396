//! The path forms Microsoft's docs give for the resources the engine uses: how a
//! request names a site, a drive and an item, and how those names resolve.
//!
//! - Sites: `/sites/{id}`, `/sites/root`, `/sites/{hostname}` (its root site) and
//!   `/sites/{hostname}:/{server-relative-path}` (closed with `:` when more follows).
//! - Drives: `/drives/{id}`, `/sites/{site}/drive`, `/users/{id}/drive`,
//!   `/groups/{id}/drive`, and `/me/drive` (which an app-only token cannot use).
//! - Items below any drive form: `root`, `items/root`, `items/{id}`, `root:/{path}`
//!   and `items/{id}:/{relative-path}` (closed with `:` when more follows).

use crate::drive::Drive;
use crate::fault::SimError;
use crate::tenant::{HOST, Tenant};

/// How a request names a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SiteRef<'a> {
    /// `{hostname},{site-collection-id},{web-id}`, or `root`.
    Id(&'a str),
    /// `{hostname}`: the root site of that host.
    Host(&'a str),
    /// `{hostname}:/{server-relative-path}`.
    Path {
        /// The host name.
        host: &'a str,
        /// The server-relative path, e.g. `sites/marketing`.
        path: String,
    },
}

/// How a request names a drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DriveRef<'a> {
    /// `/drives/{id}`.
    Drive(&'a str),
    /// `/users/{id}/drive`.
    User(&'a str),
    /// `/sites/{site}/drive`.
    Site(SiteRef<'a>),
    /// `/groups/{id}/drive`.
    Group(&'a str),
    /// `/me/drive`.
    Me,
}

/// How a request names an item of a drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemRef<'a> {
    /// `root` or `items/root`.
    Root,
    /// `items/{id}`.
    Id(&'a str),
    /// `root:/{path}` (`from` is `None`) or `items/{id}:/{path}`.
    Path {
        /// The item the path starts at; the root when `None`.
        from: Option<&'a str>,
        /// The path below it, `/`-separated, without leading or trailing `/`.
        path: String,
    },
}

/// A site reference at the start of `segs` (after `sites`), and what follows it.
pub(crate) fn site_ref<'a>(segs: &'a [&'a str]) -> Option<(SiteRef<'a>, &'a [&'a str])> {
    let (first, rest) = segs.split_first()?;
    if let Some(host) = first.strip_suffix(':') {
        let (path, rest) = colon_path(rest);
        return Some((SiteRef::Path { host, path }, rest));
    }
    if first.contains(',') || *first == "root" {
        return Some((SiteRef::Id(first), rest));
    }
    if first.contains('.') {
        return Some((SiteRef::Host(first), rest));
    }
    Some((SiteRef::Id(first), rest))
}

/// A drive reference at the start of `segs` (the path below `/v1.0`), and what
/// follows it.
pub(crate) fn drive_ref<'a>(segs: &'a [&'a str]) -> Option<(DriveRef<'a>, &'a [&'a str])> {
    match segs {
        ["drives", id, rest @ ..] => Some((DriveRef::Drive(id), rest)),
        ["me", "drive", rest @ ..] => Some((DriveRef::Me, rest)),
        ["users", id, "drive", rest @ ..] => Some((DriveRef::User(id), rest)),
        ["groups", id, "drive", rest @ ..] => Some((DriveRef::Group(id), rest)),
        ["sites", site @ ..] => match site_ref(site)? {
            (site, ["drive", rest @ ..]) => Some((DriveRef::Site(site), rest)),
            _ => None,
        },
        _ => None,
    }
}

/// An item reference at the start of `segs` (after a drive), and what follows it.
pub(crate) fn item_ref<'a>(segs: &'a [&'a str]) -> Option<(ItemRef<'a>, &'a [&'a str])> {
    match segs {
        ["root", rest @ ..] | ["items", "root", rest @ ..] => Some((ItemRef::Root, rest)),
        ["root:", rest @ ..] => {
            let (path, rest) = colon_path(rest);
            Some((ItemRef::Path { from: None, path }, rest))
        }
        ["items", id, rest @ ..] => match id.strip_suffix(':') {
            Some(from) => {
                let (path, rest) = colon_path(rest);
                let from = (from != "root").then_some(from);
                Some((ItemRef::Path { from, path }, rest))
            }
            None => Some((ItemRef::Id(id), rest)),
        },
        _ => None,
    }
}

/// The segments of a `:/a/b:` path up to the one that closes it with `:` (or all of
/// them when none does), joined, and the segments after it.
fn colon_path<'a>(segs: &'a [&'a str]) -> (String, &'a [&'a str]) {
    match segs.iter().position(|s| s.ends_with(':')) {
        Some(last) => {
            let mut parts: Vec<&str> = segs[..=last].to_vec();
            parts[last] = parts[last].trim_end_matches(':');
            (join(&parts), &segs[last + 1..])
        }
        None => (join(segs), &[]),
    }
}

fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

impl Tenant {
    /// The site a reference names.
    pub(crate) fn resolve_site(&self, site: &SiteRef<'_>) -> Result<usize, SimError> {
        let by_url = |url: String| {
            self.live_sites()
                .find(|&s| self.sites[s].web_url.eq_ignore_ascii_case(&url))
                .ok_or_else(|| SimError::NotFound(format!("site {url} not found")))
        };
        match site {
            SiteRef::Id(id) => self.site(id),
            SiteRef::Host(host) if host.eq_ignore_ascii_case(HOST) => self.site("root"),
            SiteRef::Host(host) => Err(SimError::NotFound(format!("host {host} not found"))),
            SiteRef::Path { host, path } if path.is_empty() => {
                self.resolve_site(&SiteRef::Host(host))
            }
            SiteRef::Path { host, path } => by_url(format!("https://{host}/{path}")),
        }
    }

    /// The drive a reference names.
    pub(crate) fn resolve_drive(&self, drive: &DriveRef<'_>) -> Result<usize, SimError> {
        match drive {
            DriveRef::Drive(id) => self.drive(id),
            DriveRef::User(id) => self.user_drive(id),
            DriveRef::Group(id) => self.group_drive(id),
            DriveRef::Site(site) => {
                let s = self.resolve_site(site)?;
                self.site_drive(&self.sites[s].id)
            }
            DriveRef::Me => Err(SimError::Invalid(
                "/me request is only valid with delegated authentication flow.".into(),
            )),
        }
    }
}

impl Drive {
    /// The live item a reference names.
    pub(crate) fn resolve_item(&self, item: &ItemRef<'_>) -> Result<u32, SimError> {
        match item {
            ItemRef::Root => Ok(0),
            ItemRef::Id(id) => self.live(id),
            ItemRef::Path { from, path } => {
                let start = match from {
                    Some(id) => self.live(id)?,
                    None => 0,
                };
                self.item_at(start, path)
            }
        }
    }

    /// The live item at `path` below `start` (names compared without case, as
    /// SharePoint does).
    fn item_at(&self, start: u32, path: &str) -> Result<u32, SimError> {
        let mut at = start;
        for name in path.split('/').filter(|n| !n.is_empty()) {
            at = self.items[at as usize]
                .children
                .iter()
                .copied()
                .find(|&c| {
                    let child = &self.items[c as usize];
                    !child.is_deleted() && child.name.eq_ignore_ascii_case(name)
                })
                .ok_or_else(|| {
                    SimError::NotFound(format!("item {path} not found in drive {}", self.id))
                })?;
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_forms_split_off_what_follows() {
        let segs = ["sites", "root", "drive", "root", "delta"];
        assert_eq!(
            drive_ref(&segs),
            Some((DriveRef::Site(SiteRef::Id("root")), &["root", "delta"][..]))
        );
        let segs = ["sites", "sim.sharepoint.com:", "sites", "a:", "drive"];
        let (drive, rest) = drive_ref(&segs).unwrap();
        assert_eq!(
            drive,
            DriveRef::Site(SiteRef::Path {
                host: "sim.sharepoint.com",
                path: "sites/a".into()
            })
        );
        assert!(rest.is_empty());
        assert_eq!(
            drive_ref(&["groups", "g", "drive"]),
            Some((DriveRef::Group("g"), &[][..]))
        );
        assert_eq!(drive_ref(&["me", "drive"]), Some((DriveRef::Me, &[][..])));
        assert_eq!(drive_ref(&["sites", "x", "lists"]), None);
    }

    #[test]
    fn item_forms_with_and_without_the_closing_colon() {
        assert_eq!(
            item_ref(&["root:", "A", "b.txt:", "content"]),
            Some((
                ItemRef::Path {
                    from: None,
                    path: "A/b.txt".into()
                },
                &["content"][..]
            ))
        );
        assert_eq!(
            item_ref(&["root:", "A", "b.txt"]),
            Some((
                ItemRef::Path {
                    from: None,
                    path: "A/b.txt".into()
                },
                &[][..]
            ))
        );
        assert_eq!(
            item_ref(&["items", "X1:", "c:"]),
            Some((
                ItemRef::Path {
                    from: Some("X1"),
                    path: "c".into()
                },
                &[][..]
            ))
        );
        assert_eq!(
            item_ref(&["items", "root", "delta"]),
            Some((ItemRef::Root, &["delta"][..]))
        );
        assert_eq!(
            item_ref(&["items", "X1", "content"]),
            Some((ItemRef::Id("X1"), &["content"][..]))
        );
        assert_eq!(item_ref(&["children"]), None);
    }

    #[test]
    fn site_forms() {
        assert_eq!(site_ref(&["h,1,2"]), Some((SiteRef::Id("h,1,2"), &[][..])));
        assert_eq!(
            site_ref(&["sim.sharepoint.com"]),
            Some((SiteRef::Host("sim.sharepoint.com"), &[][..]))
        );
        assert_eq!(
            site_ref(&["sim.sharepoint.com:", "sites", "team"]),
            Some((
                SiteRef::Path {
                    host: "sim.sharepoint.com",
                    path: "sites/team".into()
                },
                &[][..]
            ))
        );
    }
}
