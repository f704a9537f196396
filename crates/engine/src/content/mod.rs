//! File content: downloads through the tenant's gate, resumable and hash-verified.
//!
//! [`fetch`] resolves an item's download URL on Graph, streams its bytes into a
//! [`sink`] (a `.partial` file renamed into place, or a host's writer), resumes with
//! `Range` after a reset, fetches a fresh URL when one expires, and checks the bytes
//! against the hashes Graph reported ([`hash`]).

pub(crate) mod fetch;
pub(crate) mod hash;
pub(crate) mod sink;
#[cfg(test)]
mod tests;

use serde::Serialize;

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Download {
    /// The bytes were written and verified.
    Downloaded {
        /// Bytes in the file.
        bytes: u64,
        /// Base64 QuickXorHash of the bytes (verified against Graph's when it gave one).
        hash: String,
        /// The cTag of the content downloaded.
        ctag: String,
    },
    /// Nothing was written: the item's cTag equals the one last downloaded.
    Unchanged {
        /// The current (and last downloaded) cTag.
        ctag: String,
    },
    /// The item has no content of its own to download.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
}

/// Why an item was not downloaded. The numeric values are part of the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum SkipReason {
    /// A folder (or the root).
    Folder = 1,
    /// A package such as a OneNote notebook: no `file` facet, no content stream.
    Package = 2,
    /// A shortcut to an item of another drive (`remoteItem`).
    Shortcut = 3,
    /// Microsoft flagged the file as malware.
    Malware = 4,
    /// The item was deleted.
    Deleted = 5,
}

impl SkipReason {
    /// The snake_case name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Folder => "folder",
            SkipReason::Package => "package",
            SkipReason::Shortcut => "shortcut",
            SkipReason::Malware => "malware",
            SkipReason::Deleted => "deleted",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
