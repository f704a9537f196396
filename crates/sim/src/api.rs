//! Public value types of the simulator's control API.

use serde::{Deserialize, Serialize};

/// A drive as the control API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimDrive {
    /// Drive id (`b!...`).
    pub id: String,
    /// `documentLibrary` for a site library, `business` for a user's OneDrive.
    pub kind: String,
    /// Library name, or "OneDrive".
    pub name: String,
    /// The site holding a library.
    pub site_id: Option<String>,
    /// The user owning a OneDrive.
    pub owner_user_id: Option<String>,
    /// Id of the drive's root item.
    pub root_id: String,
}

/// Ground truth about one live item (the root included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotItem {
    /// Item id, unique within the drive.
    pub id: String,
    /// Name (`root` for the root).
    pub name: String,
    /// Parent id; `None` for the root.
    pub parent_id: Option<String>,
    /// Path from the root: `/` for the root, `/Folder/file.txt` below it.
    pub path: String,
    /// Whether the item is a folder (the root is one).
    pub is_folder: bool,
    /// Size in bytes (0 for folders).
    pub size: u64,
    /// cTag as delta reports it; `None` for folders.
    pub ctag: Option<String>,
    /// eTag as delta reports it.
    pub etag: String,
    /// Whether the item has unique permissions (not inherited) and is not the drive
    /// root: what delta's `shared` facet shows with `Prefer: hierarchicalsharing`.
    pub shared: bool,
    /// The base64 QuickXorHash of the bytes a download serves (files with content
    /// only: not folders, notebooks or shortcuts).
    pub quick_xor_hash: Option<String>,
    /// `file`, `folder`, `package` (a OneNote notebook), `malware` (a file flagged
    /// by antivirus) or `remote` (a shortcut to another drive's folder).
    pub kind: String,
}

/// An item returned by the mutation methods: the same facts as a snapshot entry.
pub type SimItem = SnapshotItem;

/// Changes to apply to an item; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemPatch {
    /// New name (rename).
    pub name: Option<String>,
    /// New parent folder id (move).
    pub parent_id: Option<String>,
    /// New content (files only); bumps cTag and eTag.
    pub content: Option<Vec<u8>>,
    /// New generated content of this size (files only, not with `content`): new
    /// bytes and hash, cTag and eTag bumped, nothing stored (for edits of large files).
    pub size: Option<u64>,
}

/// Counters of the simulator, as `GET /_sim/stats` returns them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SimStats {
    /// Requests received (all routes, control API included).
    pub requests: u64,
    /// Requests per route label, e.g. `GET /drives/{id}/root/delta`.
    pub requests_by_route: std::collections::BTreeMap<String, u64>,
    /// Responses 429 sent.
    pub throttled: u64,
    /// Requests sent while a Retry-After was in force.
    pub violations: u64,
    /// Resource units charged (throttled requests included).
    pub ru_used: u64,
    /// Connections dropped on purpose.
    pub resets_injected: u64,
    /// 500/503 responses injected on purpose.
    pub errors_injected: u64,
    /// Requests to the content host (download URLs).
    pub download_requests: u64,
    /// Body bytes the content host produced for its clients: minus the sizes of the
    /// files fetched, what was downloaded again.
    pub download_bytes: u64,
    /// 429s of the content host (resource units or egress budget).
    pub downloads_throttled: u64,
    /// Requests to the content host that carried an `Authorization` header (which
    /// a client should never send there).
    pub download_requests_with_authorization: u64,
    /// Requests the `/permissions` route answered (refused ones included, those
    /// throttled or failed by an injected error before it not).
    pub permission_requests: u64,
    /// Pages of permissions served beyond the first of a listing (200 answers to a
    /// `/permissions` nextLink).
    pub permission_pages: u64,
    /// Live items across all drives, roots included.
    pub items: u64,
    /// The subscriptions module's counters (sent, failed, active subscriptions, ...).
    pub notifications: serde_json::Value,
}

/// A directory group as the control API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimGroup {
    /// Group id (a GUID).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `{nickname}@sim.onmicrosoft.com` (Microsoft 365 groups only).
    pub mail: Option<String>,
    /// A Microsoft 365 (Unified) group; else a security group.
    pub unified: bool,
    /// The group's site (Microsoft 365 groups only).
    pub site_id: Option<String>,
    /// The group's drive: its site's default library (Microsoft 365 groups only).
    pub drive_id: Option<String>,
}

/// A directory user as the control API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUser {
    /// User id (a GUID).
    pub id: String,
    /// User principal name, also the user's mail.
    pub upn: String,
    /// Display name.
    pub display_name: String,
    /// The user's OneDrive, if any.
    pub drive_id: Option<String>,
}

/// One grant on an item, as the truth API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPermission {
    /// The permission id Graph's `/permissions` reports (the same principal has
    /// the same id on every item; each link has its own).
    pub id: String,
    /// `read`, `write` and/or `owner`.
    pub roles: Vec<String>,
    /// `user`, `group`, `site_group`, `guest` or `link`.
    pub kind: String,
    /// The user principal name, group id, site-group name or guest e-mail address;
    /// `None` for a link.
    pub principal: Option<String>,
    /// A link's type: `view`, `edit` or `embed`.
    pub link_type: Option<String>,
    /// A link's scope: `anonymous`, `organization` or `users`.
    pub link_scope: Option<String>,
    /// Whether the grant reaches outside the tenant: a guest, an anyone link, or a
    /// `users` link with a recipient who is not a tenant user.
    pub external: bool,
}

/// The effective permissions of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPermissions {
    /// The id of the item the permissions are inherited from; `None` when the item
    /// has unique permissions itself (the drive root always has).
    pub inherited_from: Option<String>,
    /// The grants in force, in Graph's order.
    pub grants: Vec<SimPermission>,
}

/// Options of a new sharing link ([`crate::Simulator::create_link`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkOptions {
    /// The link asks for a password (`hasPassword`).
    pub password: bool,
    /// When the link expires, ISO 8601 (`expirationDateTime`).
    pub expiration: Option<String>,
    /// The e-mail addresses a `users`-scope link is for (required for that scope,
    /// refused for the others); tenant users or external ones.
    pub recipients: Vec<String>,
}

/// What a tenant holds and what it served (one line of `GET /_sim/tenants`, or the
/// sums over every tenant).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCounts {
    /// Drives that exist.
    pub drives: u64,
    /// Live items across the drives, roots included.
    pub items: u64,
    /// Requests served (Graph, token endpoint, content host, control API).
    pub requests: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Requests sent while a Retry-After of the tenant was in force.
    pub violations: u64,
    /// Resource units charged on the tenant's budget.
    pub ru_used: u64,
}

impl std::ops::AddAssign<&TenantCounts> for TenantCounts {
    fn add_assign(&mut self, other: &TenantCounts) {
        self.drives += other.drives;
        self.items += other.items;
        self.requests += other.requests;
        self.throttled += other.throttled;
        self.violations += other.violations;
        self.ru_used += other.ru_used;
    }
}

/// One tenant of a simulator as `GET /_sim/tenants` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSummary {
    /// The tenant's index (`/_sim/tenants/{index}/...`, `Simulator::tenant`).
    pub index: u32,
    /// The tenant id its token endpoint answers to.
    pub tenant_id: String,
    /// The app's client id (the same in every tenant).
    pub client_id: String,
    /// The app's client secret in this tenant.
    pub client_secret: String,
    /// Its drives, items and request counters.
    #[serde(flatten)]
    pub counts: TenantCounts,
}

/// The sums over every tenant of a simulator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantTotals {
    /// How many tenants.
    pub tenants: u64,
    /// The sums of their counts.
    #[serde(flatten)]
    pub counts: TenantCounts,
}

impl TenantTotals {
    /// The sums of `tenants`.
    pub fn of(tenants: &[TenantSummary]) -> TenantTotals {
        let mut totals = TenantTotals::default();
        for t in tenants {
            totals.tenants += 1;
            totals.counts += &t.counts;
        }
        totals
    }
}
