//! What a grant is: a set of roles given to one principal or carried by a link.

use crate::fault::SimError;

/// A set of roles: `read`, `write`, `owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Roles(u8);

/// The role names in the order Graph lists them, with their bits.
const ROLE_NAMES: [(&str, u8); 3] = [("read", 1), ("write", 2), ("owner", 4)];

impl Roles {
    /// `read`.
    pub const READ: Roles = Roles(1);
    /// `write`.
    pub const WRITE: Roles = Roles(2);
    /// `owner`.
    pub const OWNER: Roles = Roles(4);

    /// Parses role names: at least one, each `read`, `write` or `owner`.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Roles, SimError> {
        let mut bits = 0;
        for name in names {
            let name = name.as_ref();
            match ROLE_NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some((_, bit)) => bits |= bit,
                None => {
                    return Err(SimError::Invalid(format!(
                        "unknown role {name:?}: expected read, write or owner"
                    )));
                }
            }
        }
        if bits == 0 {
            return Err(SimError::Invalid("a grant needs at least one role".into()));
        }
        Ok(Roles(bits))
    }

    /// The role names, in Graph's order.
    pub fn names(self) -> Vec<&'static str> {
        ROLE_NAMES
            .iter()
            .filter(|(_, bit)| self.0 & bit != 0)
            .map(|(n, _)| *n)
            .collect()
    }

    /// Whether the set holds `owner`.
    pub fn has_owner(self) -> bool {
        self.0 & Roles::OWNER.0 != 0
    }
}

/// The kind of a sharing link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkType {
    /// Read-only.
    View,
    /// Read-write.
    Edit,
    /// An embeddable, read-only link.
    Embed,
}

/// Who a sharing link works for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkScope {
    /// Anyone with the link, signed in or not.
    Anonymous,
    /// Anyone in the tenant.
    Organization,
    /// The link's recipients only.
    Users,
}

impl LinkType {
    /// Parses `view`, `edit` or `embed`.
    pub fn parse(s: &str) -> Result<LinkType, SimError> {
        match s {
            "view" => Ok(LinkType::View),
            "edit" => Ok(LinkType::Edit),
            "embed" => Ok(LinkType::Embed),
            _ => Err(SimError::Invalid(format!(
                "unknown link type {s:?}: expected view, edit or embed"
            ))),
        }
    }

    /// Graph's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkType::View => "view",
            LinkType::Edit => "edit",
            LinkType::Embed => "embed",
        }
    }

    /// The roles a link of this type gives.
    pub fn roles(self) -> Roles {
        match self {
            LinkType::Edit => Roles::WRITE,
            LinkType::View | LinkType::Embed => Roles::READ,
        }
    }
}

impl LinkScope {
    /// Parses `anonymous`, `organization` or `users`.
    pub fn parse(s: &str) -> Result<LinkScope, SimError> {
        match s {
            "anonymous" => Ok(LinkScope::Anonymous),
            "organization" => Ok(LinkScope::Organization),
            "users" => Ok(LinkScope::Users),
            _ => Err(SimError::Invalid(format!(
                "unknown link scope {s:?}: expected anonymous, organization or users"
            ))),
        }
    }

    /// Graph's name of the scope.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkScope::Anonymous => "anonymous",
            LinkScope::Organization => "organization",
            LinkScope::Users => "users",
        }
    }
}

/// A sharing link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    /// The drive-wide number the link's id derives from (see
    /// [`crate::permissions::Permissions::next_link_serial`]).
    pub serial: u64,
    pub kind: LinkType,
    pub scope: LinkScope,
    /// ISO 8601 UTC (`YYYY-MM-DDThh:mm:ssZ`).
    pub expiration: Option<Box<str>>,
    pub password: bool,
    /// Lower-case e-mail addresses of a `users`-scope link's recipients.
    pub recipients: Vec<Box<str>>,
}

/// The three site groups every site has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SiteRole {
    /// "{site} Owners": full control.
    Owners,
    /// "{site} Members": edit.
    Members,
    /// "{site} Visitors": read.
    Visitors,
}

impl SiteRole {
    /// The suffix of the group's name.
    pub fn suffix(self) -> &'static str {
        match self {
            SiteRole::Owners => "Owners",
            SiteRole::Members => "Members",
            SiteRole::Visitors => "Visitors",
        }
    }

    /// SharePoint's numeric id of the group in a site (3, 5 and 4 on a new site).
    pub fn number(self) -> u32 {
        match self {
            SiteRole::Owners => 3,
            SiteRole::Members => 5,
            SiteRole::Visitors => 4,
        }
    }
}

/// Who a grant is given to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Grantee {
    /// A tenant user (index into the tenant's users).
    User(usize),
    /// A directory group (index into the tenant's groups).
    Group(usize),
    /// A site group of the drive's site.
    SiteGroup(SiteRole),
    /// An external user, by lower-case e-mail address.
    Guest(Box<str>),
    /// Whoever holds a sharing link.
    Link(Box<Link>),
}

/// Roles given to one grantee on an item with unique permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub roles: Roles,
    pub grantee: Grantee,
}

impl Grant {
    /// Whether this grant is the one of `grantee` (a principal has at most one per
    /// item; links are never the same principal as anything).
    pub fn is_for(&self, grantee: &Grantee) -> bool {
        !matches!(grantee, Grantee::Link(_)) && self.grantee == *grantee
    }
}

/// Checks an e-mail address; returns it in lower case.
pub(crate) fn email(s: &str) -> Result<Box<str>, SimError> {
    let bad = || SimError::Invalid(format!("{s:?} is not an e-mail address"));
    let (local, domain) = s.split_once('@').ok_or_else(bad)?;
    let valid = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/\\\"<>,;".contains(c));
    if !valid {
        return Err(bad());
    }
    Ok(s.to_ascii_lowercase().into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_in_any_order_and_list_in_graphs() {
        let r = Roles::parse(&["owner", "READ"]).unwrap();
        assert_eq!(r.names(), ["read", "owner"]);
        assert!(r.has_owner());
        assert!(!Roles::WRITE.has_owner());
        assert!(Roles::parse::<&str>(&[]).is_err());
        assert!(Roles::parse(&["admin"]).is_err());
    }

    #[test]
    fn links_and_emails_are_checked() {
        assert_eq!(LinkType::parse("edit").unwrap().roles(), Roles::WRITE);
        assert!(LinkType::parse("share").is_err());
        assert_eq!(LinkScope::parse("users").unwrap().as_str(), "users");
        assert!(LinkScope::parse("public").is_err());
        assert_eq!(
            &*email("Ann@Partner3.example").unwrap(),
            "ann@partner3.example"
        );
        for bad in [
            "",
            "ann",
            "@x.example",
            "ann@",
            "ann@x",
            "a b@x.example",
            "a@b@x.example",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }
}
