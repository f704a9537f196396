//! How grants look: their ids, Graph `permission` objects and the truth API's view.
//!
//! Nothing here is stored: a principal's permission id is derived from its claim
//! (as SharePoint's are), so the same principal has the same id on every item, and
//! a link's id from its drive-wide serial.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::api::SimPermission;
use crate::drive::Drive;
use crate::ids;
use crate::permissions::grant::{Grant, Grantee, Link, LinkScope, SiteRole};
use crate::tenant::{DOMAIN, HOST, Tenant, User};

/// Salt of site-group permission ids.
const SITE_GROUP_SALT: u64 = 0x5347_5250;
/// Salt of link permission ids.
const LINK_ID_SALT: u64 = 0x4C49_4E4B;
/// Salt of link URLs.
const LINK_URL_SALT: u64 = 0x4C55_524C;

/// A person a grant or a link's recipient list names.
enum Person<'a> {
    /// A tenant user.
    Member(usize, &'a User),
    /// An external user, by lower-case e-mail address.
    Guest(&'a str),
}

/// Renders the grants of one drive.
pub(crate) struct GrantView<'a> {
    tenant: &'a Tenant,
    drive: &'a Drive,
}

impl<'a> GrantView<'a> {
    /// A view of the grants of drive `d`.
    pub fn new(tenant: &'a Tenant, d: usize) -> GrantView<'a> {
        GrantView {
            tenant,
            drive: &tenant.drives[d],
        }
    }

    /// The permission id of a grant.
    pub fn id(&self, grant: &Grant) -> String {
        match &grant.grantee {
            Grantee::SiteGroup(role) => ids::guid(ids::mix(
                self.site_salt() ^ SITE_GROUP_SALT,
                u64::from(role.number()),
            ))
            .to_ascii_lowercase(),
            Grantee::Link(link) => ids::guid(ids::mix(self.drive.salt ^ LINK_ID_SALT, link.serial))
                .to_ascii_lowercase(),
            Grantee::User(u) => claim_id(&member_login(&self.tenant.users[*u])),
            Grantee::Guest(email) => claim_id(&guest_login(email)),
            Grantee::Group(g) => {
                let group = &self.tenant.groups[*g];
                let provider = if group.unified {
                    "c:0o.c|federateddirectoryclaimprovider|"
                } else {
                    "c:0t.c|tenant|"
                };
                claim_id(&format!("{provider}{}", group.id))
            }
        }
    }

    /// The position of the grant with permission id `id` among `grants`.
    pub fn position(&self, grants: &[Grant], id: &str) -> Option<usize> {
        grants.iter().position(|g| self.id(g) == id)
    }

    /// The grant as a Graph `permission` object (without `inheritedFrom`).
    pub fn graph_json(&self, grant: &Grant) -> Value {
        let mut v = json!({ "id": self.id(grant), "roles": grant.roles.names() });
        match &grant.grantee {
            Grantee::User(u) => {
                v["grantedToV2"] = person_json(&Person::Member(*u, &self.tenant.users[*u]));
            }
            Grantee::Guest(email) => v["grantedToV2"] = person_json(&Person::Guest(email)),
            Grantee::Group(g) => {
                let group = &self.tenant.groups[*g];
                let mut identity = json!({ "id": group.id, "displayName": group.name });
                if let Some(mail) = group.mail() {
                    identity["email"] = json!(mail);
                }
                v["grantedToV2"] = json!({ "group": identity });
            }
            Grantee::SiteGroup(role) => {
                let name = self.site_group_name(*role);
                v["grantedToV2"] = json!({ "siteGroup": {
                    "id": role.number().to_string(),
                    "displayName": name,
                    "loginName": name,
                }});
            }
            Grantee::Link(link) => self.write_link(&mut v, link),
        }
        v
    }

    fn write_link(&self, v: &mut Value, link: &Link) {
        v["link"] = json!({
            "type": link.kind.as_str(),
            "scope": link.scope.as_str(),
            "webUrl": format!(
                "https://{HOST}/:u:/g/{}",
                ids::base32(ids::mix(self.drive.salt ^ LINK_URL_SALT, link.serial), 12)
            ),
            "preventsDownload": false,
        });
        v["hasPassword"] = json!(link.password);
        if let Some(expiration) = &link.expiration {
            v["expirationDateTime"] = json!(expiration);
        }
        if link.scope == LinkScope::Users {
            let identities: Vec<Value> = link
                .recipients
                .iter()
                .map(|email| person_json(&self.person(email)))
                .collect();
            v["grantedToIdentitiesV2"] = json!(identities);
        }
    }

    /// The truth API's view of a grant.
    pub fn truth(&self, grant: &Grant) -> SimPermission {
        let (kind, principal, external) = match &grant.grantee {
            Grantee::User(u) => ("user", Some(self.tenant.users[*u].upn.clone()), false),
            Grantee::Group(g) => ("group", Some(self.tenant.groups[*g].id.clone()), false),
            Grantee::SiteGroup(role) => ("site_group", Some(self.site_group_name(*role)), false),
            Grantee::Guest(email) => ("guest", Some(email.to_string()), true),
            Grantee::Link(link) => {
                let external = link.scope == LinkScope::Anonymous
                    || link
                        .recipients
                        .iter()
                        .any(|email| matches!(self.person(email), Person::Guest(_)));
                ("link", None, external)
            }
        };
        let link = match &grant.grantee {
            Grantee::Link(link) => Some(link),
            _ => None,
        };
        SimPermission {
            id: self.id(grant),
            roles: grant.roles.names().into_iter().map(String::from).collect(),
            kind: kind.to_string(),
            principal,
            link_type: link.map(|l| l.kind.as_str().to_string()),
            link_scope: link.map(|l| l.scope.as_str().to_string()),
            external,
        }
    }

    /// `inheritedFrom` of the permissions an item takes from `source`.
    pub fn inherited_from(&self, source: u32) -> Value {
        let d = self.drive;
        let path = if source == 0 {
            String::new()
        } else {
            d.path(source)
        };
        json!({
            "driveId": d.id,
            "id": d.item_id(source),
            "path": format!("/drives/{}/root:{path}", d.id),
        })
    }

    /// A tenant user when the address is one's, else an external user.
    fn person<'e>(&self, email: &'e str) -> Person<'e>
    where
        'a: 'e,
    {
        match self.tenant.user(email) {
            Ok(u) => Person::Member(u, &self.tenant.users[u]),
            Err(_) => Person::Guest(email),
        }
    }

    /// "{site} Owners" and the like (a library's site; the drive name elsewhere).
    fn site_group_name(&self, role: SiteRole) -> String {
        let d = self.drive;
        let site = d
            .site
            .map_or(d.name.as_str(), |s| &self.tenant.sites[s].name);
        format!("{site} {}", role.suffix())
    }

    /// What site-group ids of this drive's site derive from.
    fn site_salt(&self) -> u64 {
        let d = self.drive;
        d.site
            .map_or(d.salt, |s| ids::mix(self.tenant.seed(), s as u64))
    }
}

/// A permission id: the URL-safe base64 of the principal's claim.
fn claim_id(claim: &str) -> String {
    URL_SAFE_NO_PAD.encode(claim)
}

/// The claim of a tenant user.
fn member_login(user: &User) -> String {
    format!("i:0#.f|membership|{}", user.upn.to_ascii_lowercase())
}

/// The claim of an external user: `ann_partner3.example#ext#@{tenant domain}`.
fn guest_login(email: &str) -> String {
    format!(
        "i:0#.f|membership|{}#ext#@{DOMAIN}",
        email.replace('@', "_")
    )
}

/// `{"user": {...}, "siteUser": {...}}` of a person; an external user has no
/// directory id.
fn person_json(person: &Person<'_>) -> Value {
    let (user, site_user_id, login) = match person {
        Person::Member(u, user) => (
            json!({ "id": user.id, "displayName": user.display_name, "email": user.upn }),
            10 + *u as u64,
            member_login(user),
        ),
        Person::Guest(email) => (
            json!({ "displayName": display_name(email), "email": email }),
            100_000 + ids::hash_str(email) % 900_000,
            guest_login(email),
        ),
    };
    let mut site_user = user.clone();
    if let Some(fields) = site_user.as_object_mut() {
        fields.insert("id".into(), json!(site_user_id.to_string()));
        fields.insert("loginName".into(), json!(login));
    }
    json!({ "user": user, "siteUser": site_user })
}

/// The display name of an external user: the local part of the address.
fn display_name(email: &str) -> &str {
    email.split('@').next().unwrap_or(email)
}
