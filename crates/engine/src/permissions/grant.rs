//! One grant as the engine stores and reports it, read leniently from Graph's
//! `permission` objects.
//!
//! Graph describes a grantee in several overlapping ways (`grantedToV2` with `user`,
//! `group`, `siteUser`, `siteGroup`, `application` or `device`; the legacy `grantedTo`;
//! `grantedToIdentitiesV2` for the recipients of a link). A [`Grant`] keeps one
//! normalised principal, the link, and whether anyone outside the tenant is involved.
//! Unknown fields are ignored and missing ones stay empty: a permission object is never
//! refused, at worst it becomes a grant of kind [`GrantKind::Unknown`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who or what a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    /// A directory user (a member or a guest).
    User,
    /// A Microsoft 365 or security group.
    Group,
    /// A SharePoint user known only to the site.
    SiteUser,
    /// A SharePoint site group (Owners, Members, Visitors, …).
    SiteGroup,
    /// An application.
    Application,
    /// A device.
    Device,
    /// A sharing link (anyone, organization or specific people).
    Link,
    /// A permission object naming no grantee the engine knows.
    Unknown,
}

/// One identity: a user, group, site user or group, application or device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Directory object id, when Graph sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Email address or user principal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// SharePoint login name (`i:0#.f|membership|…`; guests' contain `#ext#`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_name: Option<String>,
}

impl Principal {
    /// Whether `who` names this principal: its id, email or login name (case-insensitive),
    /// or the user part of a login name.
    pub fn matches(&self, who: &str) -> bool {
        let same = |v: &Option<String>| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(who));
        same(&self.id)
            || same(&self.email)
            || same(&self.login_name)
            || self
                .login_name
                .as_deref()
                .and_then(|l| l.rsplit('|').next())
                .is_some_and(|l| l.eq_ignore_ascii_case(who))
    }

    /// Whether this principal is outside the tenant: a guest login name (`#ext#`), or an
    /// email whose domain is not one of `internal_domains` (when that list is not empty).
    pub fn is_external(&self, internal_domains: &[String]) -> bool {
        let guest = |v: &Option<String>| v.as_deref().is_some_and(|v| v.contains("#ext#"));
        if guest(&self.login_name) || guest(&self.email) {
            return true;
        }
        match (&self.email, internal_domains.is_empty()) {
            (Some(email), false) => email.rsplit_once('@').is_some_and(|(_, domain)| {
                !internal_domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(domain))
            }),
            _ => false,
        }
    }
}

/// A sharing link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharingLink {
    /// `view`, `edit`, `embed` or whatever Graph sent.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub link_type: Option<String>,
    /// `anonymous` (anyone with the link), `organization`, `users` or whatever Graph sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The link's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

/// One permission on an item, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Graph's permission id (stable per principal on SharePoint).
    pub id: String,
    /// `read`, `write`, `owner`, … as Graph sent them.
    pub roles: Vec<String>,
    /// Who or what the grant is for.
    pub kind: GrantKind,
    /// The grantee, for every kind but links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// The link, for [`GrantKind::Link`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<SharingLink>,
    /// The people a specific-people link was sent to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<Principal>,
    /// When the grant expires (ISO 8601), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Whether the link needs a password.
    #[serde(default)]
    pub has_password: bool,
    /// Whether a principal outside the tenant holds it (a guest, or an email outside
    /// `permissions.internal_domains`). Anyone links are not "external": see
    /// [`Grant::is_anyone_link`].
    #[serde(default)]
    pub external: bool,
}

impl Grant {
    /// Whether anyone holding the link can use it, signed in or not.
    pub fn is_anyone_link(&self) -> bool {
        self.link
            .as_ref()
            .and_then(|l| l.scope.as_deref())
            .is_some_and(|s| s.eq_ignore_ascii_case("anonymous"))
    }

    /// Whether `who` (an id, email or login name) is the grantee or a recipient.
    pub fn names(&self, who: &str) -> bool {
        self.principal
            .iter()
            .chain(&self.recipients)
            .any(|p| p.matches(who))
    }
}

/// A `permission` object as Graph sends it: any JSON, read field by field, so an odd
/// value makes that field empty rather than failing the page.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct GraphPermission(Value);

/// The string at `key` of a JSON object, if it is one.
fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Identity keys of `grantedToV2`, most specific first.
const IDENTITY_KEYS: [(&str, GrantKind); 6] = [
    ("group", GrantKind::Group),
    ("siteGroup", GrantKind::SiteGroup),
    ("user", GrantKind::User),
    ("siteUser", GrantKind::SiteUser),
    ("application", GrantKind::Application),
    ("device", GrantKind::Device),
];

/// The principal an identity set names, and its kind: the most specific identity, with
/// the login name of its SharePoint counterpart.
fn identity_set(set: &Value) -> Option<(GrantKind, Principal)> {
    let (key, kind) = IDENTITY_KEYS
        .iter()
        .find(|(key, _)| set.get(key).is_some_and(Value::is_object))?;
    let identity = &set[key];
    let site = ["siteUser", "siteGroup"]
        .iter()
        .find_map(|k| set.get(k).filter(|v| v.is_object()));
    let pick = |field: &str| text(identity, field).or_else(|| site.and_then(|s| text(s, field)));
    Some((
        *kind,
        Principal {
            id: pick("id"),
            display_name: pick("displayName"),
            email: pick("email").or_else(|| pick("userPrincipalName")),
            login_name: text(identity, "loginName")
                .or_else(|| site.and_then(|s| text(s, "loginName"))),
        },
    ))
}

impl GraphPermission {
    /// The id of the item this permission comes from, when it is inherited.
    pub(crate) fn inherited_from_id(&self) -> Option<String> {
        self.0.get("inheritedFrom").and_then(|v| text(v, "id"))
    }

    /// The normalised grant; `fallback_id` names a permission Graph sent without an id.
    pub(crate) fn into_grant(self, fallback_id: String, internal_domains: &[String]) -> Grant {
        let v = &self.0;
        let field = |a: &str, b: &str| v.get(a).filter(|x| !x.is_null()).or_else(|| v.get(b));
        let principal = field("grantedToV2", "grantedTo").and_then(identity_set);
        let recipients: Vec<Principal> = field("grantedToIdentitiesV2", "grantedToIdentities")
            .and_then(Value::as_array)
            .map(|sets| {
                sets.iter()
                    .filter_map(identity_set)
                    .map(|(_, p)| p)
                    .collect()
            })
            .unwrap_or_default();
        let link = v
            .get("link")
            .filter(|l| l.is_object())
            .map(|l| SharingLink {
                link_type: text(l, "type"),
                scope: text(l, "scope"),
                web_url: text(l, "webUrl"),
            });
        let kind = match (&link, &principal) {
            (Some(_), _) => GrantKind::Link,
            (None, Some((kind, _))) => *kind,
            (None, None) => GrantKind::Unknown,
        };
        let principal = principal.filter(|_| link.is_none()).map(|(_, p)| p);
        let external = principal
            .iter()
            .chain(&recipients)
            .any(|p| p.is_external(internal_domains));
        Grant {
            id: text(v, "id")
                .filter(|id| !id.is_empty())
                .unwrap_or(fallback_id),
            roles: v
                .get("roles")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            kind,
            principal,
            link,
            recipients,
            expires: text(v, "expirationDateTime"),
            has_password: v
                .get("hasPassword")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            external,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(v: Value) -> Grant {
        let p: GraphPermission = serde_json::from_value(v).unwrap();
        p.into_grant("fallback".into(), &[])
    }

    #[test]
    fn users_guests_groups_and_links_are_normalised() {
        let user = grant(json!({"id":"u1","roles":["write"],"grantedToV2":{
            "user":{"id":"aad-1","displayName":"Ann","email":"ann@contoso.example"},
            "siteUser":{"id":"7","loginName":"i:0#.f|membership|ann@contoso.example"}}}));
        assert_eq!(user.kind, GrantKind::User);
        let p = user.principal.as_ref().unwrap();
        assert_eq!(p.id.as_deref(), Some("aad-1"));
        assert_eq!(
            p.login_name.as_deref(),
            Some("i:0#.f|membership|ann@contoso.example")
        );
        assert!(!user.external && user.names("ANN@contoso.example") && user.names("aad-1"));

        let guest = grant(json!({"id":"g","roles":["read"],"grantedToV2":{
            "user":{"displayName":"Bo","email":"bo@partner.example"},
            "siteUser":{"loginName":"i:0#.f|membership|bo_partner.example#ext#@contoso.example"}}}));
        assert!(guest.external);
        assert!(guest.principal.unwrap().id.is_none());

        let group = grant(json!({"id":"gr","roles":["read"],"grantedToV2":{
            "group":{"id":"grp-1","displayName":"Sales"},"siteGroup":{"id":"3"}}}));
        assert_eq!(group.kind, GrantKind::Group);

        let link = grant(json!({"id":"l","roles":["read"],"hasPassword":true,
            "expirationDateTime":"2027-01-01T00:00:00Z",
            "link":{"type":"view","scope":"anonymous","webUrl":"https://x/l"}}));
        assert_eq!(link.kind, GrantKind::Link);
        assert!(link.is_anyone_link() && link.has_password);
        assert_eq!(link.expires.as_deref(), Some("2027-01-01T00:00:00Z"));

        let people = grant(json!({"id":"p","roles":["write"],
            "link":{"type":"edit","scope":"users"},
            "grantedToIdentitiesV2":[{"user":{"email":"cy@partner.example"},
                "siteUser":{"loginName":"i:0#.f|membership|cy_partner.example#ext#@t"}}]}));
        assert!(people.external && !people.is_anyone_link() && people.names("cy@partner.example"));
    }

    #[test]
    fn odd_objects_become_unknown_grants_without_failing() {
        let odd = grant(
            json!({"id":7,"roles":["sp.full control", 3],"link":"not an object",
            "grantedToV2":{"somethingNew":{"id":"x"}},"hasPassword":"yes","extra":[1,2]}),
        );
        assert_eq!(odd.kind, GrantKind::Unknown);
        assert_eq!(odd.id, "fallback");
        assert_eq!(odd.roles, ["sp.full control"]);
        assert!(!odd.has_password);
        let legacy =
            grant(json!({"id":"old","roles":"read","grantedTo":{"user":{"displayName":"Dee"}}}));
        assert!(legacy.roles.is_empty());
        assert_eq!(legacy.kind, GrantKind::User);
        assert_eq!(
            legacy.principal.unwrap().display_name.as_deref(),
            Some("Dee")
        );
    }

    #[test]
    fn unexpected_link_types_and_identities_without_email_are_kept() {
        let link = grant(json!({"id":"l","roles":["read"],
            "link":{"type":"blocksDownload","scope":"existingAccess"}}));
        assert_eq!(link.kind, GrantKind::Link);
        let l = link.link.unwrap();
        assert_eq!(
            (l.link_type.as_deref(), l.scope.as_deref()),
            (Some("blocksDownload"), Some("existingAccess"))
        );
        let app = grant(json!({"id":"a","roles":["write"],"grantedToV2":{
            "application":{"id":"app-1","displayName":"Sync"}}}));
        assert_eq!(app.kind, GrantKind::Application);
        let p = app.principal.unwrap();
        assert_eq!((p.id.as_deref(), p.email), (Some("app-1"), None));
        let nobody = grant(json!({"id":"n","roles":["read"],"grantedToV2":{}}));
        assert_eq!((nobody.kind, nobody.principal), (GrantKind::Unknown, None));
    }

    #[test]
    fn internal_domains_make_other_emails_external() {
        let p = Principal {
            email: Some("eve@elsewhere.example".into()),
            ..Principal::default()
        };
        assert!(!p.is_external(&[]));
        assert!(p.is_external(&["contoso.example".into()]));
        assert!(!p.is_external(&["ELSEWHERE.example".into()]));
    }
}
