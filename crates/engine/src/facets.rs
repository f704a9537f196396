//! The facets of an item beyond its place and version: what kind of thing it is
//! (a OneNote package, a shortcut to another drive's folder, flagged as malware), its
//! content's type and hashes, who made and changed it, and where it lives in
//! SharePoint. Kept in the mirror and carried by item events.

use serde::{Deserialize, Serialize};

use crate::graph::types::{DriveItem, GraphIdentitySet};

/// A person (or app) as Graph names the author of an item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Directory object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email or user principal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Where the target of a shortcut (`remoteItem`) lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRef {
    /// The drive holding the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive_id: Option<String>,
    /// The target item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
}

/// An item's SharePoint identifiers (`sharepointIds`; read in Graph's camelCase,
/// written in snake_case like the other facets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharePointIds {
    /// The list (document library).
    #[serde(default, alias = "listId", skip_serializing_if = "Option::is_none")]
    pub list_id: Option<String>,
    /// The list item's integer id.
    #[serde(default, alias = "listItemId", skip_serializing_if = "Option::is_none")]
    pub list_item_id: Option<String>,
    /// The list item's unique id.
    #[serde(
        default,
        alias = "listItemUniqueId",
        skip_serializing_if = "Option::is_none"
    )]
    pub list_item_unique_id: Option<String>,
    /// The site collection.
    #[serde(default, alias = "siteId", skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
    /// The site's URL.
    #[serde(default, alias = "siteUrl", skip_serializing_if = "Option::is_none")]
    pub site_url: Option<String>,
    /// The web (subsite).
    #[serde(default, alias = "webId", skip_serializing_if = "Option::is_none")]
    pub web_id: Option<String>,
}

/// A file's content hashes (OneDrive for Business and SharePoint give quickXorHash).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHashes {
    /// Base64 quickXorHash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_xor: Option<String>,
    /// Hex SHA-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// Hex SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Hex CRC32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
}

/// The facets of one item; every field is absent when Graph did not report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFacets {
    /// `package.type` (`oneNote` for a notebook): a container, not a file, and never
    /// a download candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// `malware.description` when Microsoft flagged the file (empty when it gave none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malware: Option<String>,
    /// A shortcut to a folder shared from another drive: its content is that drive's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteRef>,
    /// `file.mimeType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// `file.hashes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<ContentHashes>,
    /// `createdBy.user` (or the app that created it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<Person>,
    /// `lastModifiedBy.user` (or the app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_by: Option<Person>,
    /// `webUrl`: where a browser opens the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// `sharepointIds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharepoint_ids: Option<SharePointIds>,
    /// `fileSystemInfo.createdDateTime` (as the client reported it), ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_created: Option<String>,
    /// `fileSystemInfo.lastModifiedDateTime`, ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_modified: Option<String>,
}

impl ItemFacets {
    /// The facets Graph reported on `item`.
    pub(crate) fn of(item: &DriveItem) -> ItemFacets {
        let file = item.file.as_ref();
        let hashes = file.and_then(|f| f.hashes.as_ref()).map(|h| ContentHashes {
            quick_xor: h.quick_xor_hash.clone(),
            sha1: h.sha1_hash.clone(),
            sha256: h.sha256_hash.clone(),
            crc32: h.crc32_hash.clone(),
        });
        let person = |set: &Option<GraphIdentitySet>| {
            let set = set.as_ref()?;
            let who = set.user.as_ref().or(set.application.as_ref())?;
            Some(Person {
                id: who.id.clone(),
                name: who.display_name.clone(),
                email: who.email.clone(),
            })
        };
        ItemFacets {
            package: item
                .package
                .as_ref()
                .map(|p| p.kind.clone().unwrap_or_default()),
            malware: item
                .malware
                .as_ref()
                .map(|m| m.description.clone().unwrap_or_default()),
            remote: item.remote_item.as_ref().map(|r| RemoteRef {
                drive_id: r.parent_reference.as_ref().and_then(|p| p.drive_id.clone()),
                item_id: r.id.clone(),
            }),
            mime_type: file.and_then(|f| f.mime_type.clone()),
            hashes,
            created_by: person(&item.created_by),
            modified_by: person(&item.last_modified_by),
            web_url: item.web_url.clone(),
            sharepoint_ids: item.sharepoint_ids.clone(),
            fs_created: item
                .file_system_info
                .as_ref()
                .and_then(|f| f.created_date_time.clone()),
            fs_modified: item
                .file_system_info
                .as_ref()
                .and_then(|f| f.last_modified_date_time.clone()),
        }
    }

    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        *self == ItemFacets::default()
    }

    /// Whether the item has bytes of its own to download: not a package, not a
    /// shortcut, not flagged as malware.
    pub fn is_download_candidate(&self) -> bool {
        self.package.is_none() && self.remote.is_none() && self.malware.is_none()
    }

    /// The stored form: compact JSON, or `None` when empty.
    pub(crate) fn to_json(&self) -> Option<String> {
        (!self.is_empty()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// Reads the stored form (empty facets for none or for unreadable JSON).
    pub(crate) fn from_json(text: Option<&str>) -> ItemFacets {
        text.filter(|t| !t.is_empty())
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}
