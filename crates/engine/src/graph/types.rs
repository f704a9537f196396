//! Serde types for the Graph payloads the engine reads.
//!
//! Unknown fields are ignored and every optional field may be missing: business
//! drives omit `cTag` on folders and on some creates and deletes, and deleted items
//! may lack `name`.

use serde::Deserialize;

/// A facet whose presence is all we need (`root`, `deleted`); its fields are ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Marker {}

/// `parentReference` of a driveItem (delta carries no `path` in it).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ItemReference {
    /// Id of the drive holding the parent.
    #[serde(default)]
    pub drive_id: Option<String>,
    /// Id of the parent item.
    #[serde(default)]
    pub id: Option<String>,
}

/// File hashes; OneDrive for Business reports only `quickXorHash`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Hashes {
    /// Base64 quickXorHash of the content.
    #[serde(default)]
    pub quick_xor_hash: Option<String>,
    /// SHA-1 (personal drives).
    #[serde(default)]
    pub sha1_hash: Option<String>,
    /// SHA-256 (personal drives).
    #[serde(default)]
    pub sha256_hash: Option<String>,
    /// CRC32 (personal drives).
    #[serde(default)]
    pub crc32_hash: Option<String>,
}

/// `package`: the item is a container such as a OneNote notebook.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct PackageFacet {
    /// `oneNote` for notebooks.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// `malware`: Microsoft flagged the file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct MalwareFacet {
    /// What was found, when Graph says.
    #[serde(default)]
    pub description: Option<String>,
}

/// `remoteItem`: a shortcut's target in another drive.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RemoteItemFacet {
    /// The target's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The target's parent, with its drive.
    #[serde(default)]
    pub parent_reference: Option<ItemReference>,
}

/// One identity of an identity set.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GraphIdentity {
    /// Object id.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Email (SharePoint) or UPN.
    #[serde(default)]
    pub email: Option<String>,
}

/// `createdBy` / `lastModifiedBy`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct GraphIdentitySet {
    /// The user, if a user acted.
    #[serde(default)]
    pub user: Option<GraphIdentity>,
    /// The app, if an app acted.
    #[serde(default)]
    pub application: Option<GraphIdentity>,
}

/// `fileSystemInfo`: the times a client reported.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FileSystemInfo {
    /// ISO-8601 creation time.
    #[serde(default)]
    pub created_date_time: Option<String>,
    /// ISO-8601 modification time.
    #[serde(default)]
    pub last_modified_date_time: Option<String>,
}

/// The `file` facet.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FileFacet {
    /// MIME type reported by Graph.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// Content hashes.
    #[serde(default)]
    pub hashes: Option<Hashes>,
}

/// The `folder` facet.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FolderFacet {
    /// Number of direct children.
    #[serde(default)]
    pub child_count: Option<u64>,
}

/// One driveItem as delta returns it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DriveItem {
    /// Item id, unique within its drive.
    pub id: String,
    /// File or folder name; may be absent on deleted items.
    #[serde(default)]
    pub name: Option<String>,
    /// The parent; absent on the root.
    #[serde(default)]
    pub parent_reference: Option<ItemReference>,
    /// Entity tag: changes on any change to the item, metadata included.
    #[serde(default)]
    pub e_tag: Option<String>,
    /// Content tag: changes when the content changes (files only on business drives).
    #[serde(default)]
    pub c_tag: Option<String>,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<i64>,
    /// Present on files.
    #[serde(default)]
    pub file: Option<FileFacet>,
    /// Present on folders (and the root).
    #[serde(default)]
    pub folder: Option<FolderFacet>,
    /// Present on the drive's root item.
    #[serde(default)]
    pub root: Option<Marker>,
    /// Present when the item was deleted.
    #[serde(default)]
    pub deleted: Option<Marker>,
    /// Sharing facet, kept verbatim to detect permission changes.
    #[serde(default)]
    pub shared: Option<serde_json::Value>,
    /// `"True"` when the item appears because its permissions changed.
    #[serde(default, rename = "@microsoft.graph.sharedChanged")]
    pub shared_changed: Option<String>,
    /// ISO-8601 creation time.
    #[serde(default)]
    pub created_date_time: Option<String>,
    /// ISO-8601 last modification time.
    #[serde(default)]
    pub last_modified_date_time: Option<String>,
    /// A OneNote notebook or another package.
    #[serde(default)]
    pub package: Option<PackageFacet>,
    /// Flagged as malware.
    #[serde(default)]
    pub malware: Option<MalwareFacet>,
    /// A shortcut to another drive's item.
    #[serde(default)]
    pub remote_item: Option<RemoteItemFacet>,
    /// Who created it.
    #[serde(default)]
    pub created_by: Option<GraphIdentitySet>,
    /// Who changed it last.
    #[serde(default)]
    pub last_modified_by: Option<GraphIdentitySet>,
    /// Where a browser opens it.
    #[serde(default)]
    pub web_url: Option<String>,
    /// SharePoint ids.
    #[serde(default, rename = "sharepointIds")]
    pub sharepoint_ids: Option<crate::facets::SharePointIds>,
    /// Client-reported times.
    #[serde(default)]
    pub file_system_info: Option<FileSystemInfo>,
    /// A short-lived, pre-authenticated URL of the file's bytes (only when selected).
    #[serde(default, rename = "@microsoft.graph.downloadUrl")]
    pub download_url: Option<String>,
}

impl DriveItem {
    /// Whether this item is a folder (the root counts as one).
    pub fn is_folder(&self) -> bool {
        self.folder.is_some() || self.root.is_some()
    }

    /// Whether this item is a delete tombstone.
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }

    /// Whether Graph flagged a permission change on this item.
    pub fn sharing_changed(&self) -> bool {
        self.shared_changed
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The parent item's id, if any.
    pub fn parent_id(&self) -> Option<&str> {
        self.parent_reference.as_ref()?.id.as_deref()
    }

    /// The quickXorHash (or another hash) of a file, used when `cTag` is missing.
    pub fn content_hash(&self) -> Option<&str> {
        let h = self.file.as_ref()?.hashes.as_ref()?;
        h.quick_xor_hash
            .as_deref()
            .or(h.sha256_hash.as_deref())
            .or(h.sha1_hash.as_deref())
    }
}

/// One page of a delta feed: exactly one of the two links is set.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeltaPage {
    /// Items of this page; an item may appear more than once (the last wins).
    #[serde(default)]
    pub value: Vec<DriveItem>,
    /// More pages follow: fetch this URL next.
    #[serde(default, rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    /// The feed is complete: store this URL for the next round.
    #[serde(default, rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
}

/// A page of a plain collection (`/sites`, `/users`, `/subscriptions`, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "T: serde::de::DeserializeOwned"))]
pub struct Collection<T> {
    /// Items of this page.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// Next page, if any.
    #[serde(default, rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    /// Present on delta collections once complete.
    #[serde(default, rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
}

/// A SharePoint site.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    /// Site id (`host,siteCollectionId,webId`).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Short name.
    #[serde(default)]
    pub name: Option<String>,
    /// URL of the site.
    #[serde(default)]
    pub web_url: Option<String>,
    /// Set on `/sites/delta` entries for removed sites.
    #[serde(default, rename = "@removed")]
    pub removed: Option<serde_json::Value>,
    /// Present on the tenant's root site.
    #[serde(default)]
    pub root: Option<Marker>,
}

/// A directory group, as `/groups` and `/groups/delta` return it (delta may send only
/// the changed properties of an updated group).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Object id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Mail address (Microsoft 365 groups).
    #[serde(default)]
    pub mail: Option<String>,
    /// `["Unified"]` for Microsoft 365 groups.
    #[serde(default)]
    pub group_types: Option<Vec<String>>,
    /// Set on `/groups/delta` entries for deleted groups.
    #[serde(default, rename = "@removed")]
    pub removed: Option<serde_json::Value>,
}

/// An owner identity of a drive.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Object id.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `owner` of a drive.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySet {
    /// The owning user, for OneDrives.
    #[serde(default)]
    pub user: Option<Identity>,
    /// The owning group, for group drives.
    #[serde(default)]
    pub group: Option<Identity>,
}

/// A drive (document library or OneDrive).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Drive {
    /// Drive id.
    pub id: String,
    /// Library or drive name, e.g. "Documents".
    #[serde(default)]
    pub name: Option<String>,
    /// `business`, `documentLibrary` or `personal`.
    #[serde(default)]
    pub drive_type: Option<String>,
    /// URL of the drive.
    #[serde(default)]
    pub web_url: Option<String>,
    /// Owner of the drive.
    #[serde(default)]
    pub owner: Option<IdentitySet>,
}

/// A directory user.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id.
    pub id: String,
    /// Sign-in name.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A change-notification subscription as Graph returns it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Subscription id.
    pub id: String,
    /// Subscribed resource, e.g. `/drives/{id}/root`.
    #[serde(default)]
    pub resource: Option<String>,
    /// `updated` for drives.
    #[serde(default)]
    pub change_type: Option<String>,
    /// Where notifications are POSTed.
    #[serde(default)]
    pub notification_url: Option<String>,
    /// UTC expiry, ISO-8601.
    #[serde(default)]
    pub expiration_date_time: Option<String>,
}

/// One entry of a notification POST's `value` array.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The subscription this notification belongs to.
    #[serde(default)]
    pub subscription_id: Option<String>,
    /// The secret we set on the subscription, echoed back.
    #[serde(default)]
    pub client_state: Option<String>,
    /// `updated` for drives.
    #[serde(default)]
    pub change_type: Option<String>,
    /// The subscribed resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Set on lifecycle notifications: `reauthorizationRequired`, `subscriptionRemoved`, `missed`.
    #[serde(default)]
    pub lifecycle_event: Option<String>,
    /// Tenant of the subscription.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Expiry of the subscription.
    #[serde(default)]
    pub subscription_expiration_date_time: Option<String>,
}

/// The body of a notification POST.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NotificationBatch {
    /// One or more notifications.
    pub value: Vec<Notification>,
}

/// The token endpoint's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// Lifetime in seconds (managed-identity endpoints send it as a string).
    #[serde(default, deserialize_with = "number_or_string")]
    pub expires_in: Option<u64>,
}

/// A count sent as a JSON number or as a string of digits.
fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Number(u64),
        Text(String),
    }
    match Option::<Count>::deserialize(d)? {
        None => Ok(None),
        Some(Count::Number(n)) => Ok(Some(n)),
        Some(Count::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("not a number of seconds: {t:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_delete_without_name_or_ctag_parses() {
        let page: DeltaPage = serde_json::from_str(
            r#"{"value":[{"id":"A","deleted":{"state":"deleted"},"parentReference":{"driveId":"d","id":"R"}}],
                "@odata.deltaLink":"http://x/delta?token=1","unknown":1}"#,
        )
        .unwrap();
        let item = &page.value[0];
        assert!(item.is_deleted());
        assert_eq!(item.name, None);
        assert_eq!(item.parent_id(), Some("R"));
        assert!(page.next_link.is_none());
    }

    #[test]
    fn shared_changed_flag_is_a_string() {
        let item: DriveItem =
            serde_json::from_str(r#"{"id":"A","@microsoft.graph.sharedChanged":"True"}"#).unwrap();
        assert!(item.sharing_changed());
        let item: DriveItem = serde_json::from_str(r#"{"id":"A"}"#).unwrap();
        assert!(!item.sharing_changed());
    }
}
