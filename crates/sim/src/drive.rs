//! One drive: an arena of items, its change sequence and its mutations.

use std::collections::HashMap;
use std::sync::Arc;

use crate::api::SnapshotItem;
use crate::fault::SimError;
use crate::ids;

/// Parent index of the root.
pub(crate) const NO_PARENT: u32 = u32::MAX;

/// Item flag bits.
pub(crate) mod flag {
    /// The item is a folder.
    pub const FOLDER: u8 = 1;
    /// The item is a tombstone.
    pub const DELETED: u8 = 2;
    /// Sharing was set explicitly on the item.
    pub const SHARED: u8 = 4;
    /// Sharing was removed explicitly from the item.
    pub const UNSHARED: u8 = 8;
    /// The item's last change was a permission change.
    pub const PERMISSION_CHANGE: u8 = 16;
    /// A OneNote notebook: a `package`, with no `file` facet and no content.
    pub const PACKAGE: u8 = 32;
    /// Flagged as malware.
    pub const MALWARE: u8 = 64;
    /// A shortcut to a folder of another drive (`remoteItem`).
    pub const REMOTE: u8 = 128;
    /// The kinds the generator gives some files (at most one per item).
    pub const KINDS: u8 = PACKAGE | MALWARE | REMOTE;
}

/// One driveItem. Ids, eTags and cTags are derived from the index and counters.
#[derive(Debug)]
pub(crate) struct Item {
    pub name: Box<str>,
    pub children: Vec<u32>,
    pub size: u64,
    /// Sequence number of the item's last change (0 = generated, never changed).
    pub changed_seq: u64,
    pub parent: u32,
    pub etag_ver: u32,
    pub ctag_ver: u32,
    pub created: u32,
    pub modified: u32,
    pub flags: u8,
}

impl Item {
    pub fn is_folder(&self) -> bool {
        self.flags & flag::FOLDER != 0
    }
    pub fn is_deleted(&self) -> bool {
        self.flags & flag::DELETED != 0
    }
}

/// Whether a drive is a site library or a user's OneDrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriveKind {
    /// A site's document library.
    Library,
    /// A user's OneDrive for Business.
    Business,
}

impl DriveKind {
    /// Graph's `driveType`.
    pub fn as_str(self) -> &'static str {
        match self {
            DriveKind::Library => "documentLibrary",
            DriveKind::Business => "business",
        }
    }
}

/// The bytes of a file: uploaded through the control API, or generated from a seed.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    Stored(Arc<[u8]>),
    Generated { seed: u64, size: u64 },
}

impl Content {
    /// Copies the bytes in `start..end` (clamped to the size).
    pub fn slice(&self, start: u64, end: u64) -> Vec<u8> {
        match self {
            Content::Stored(b) => {
                let end = end.min(b.len() as u64) as usize;
                b.get(start as usize..end).unwrap_or_default().to_vec()
            }
            Content::Generated { seed, size } => {
                let end = end.min(*size);
                (start..end.max(start))
                    .map(|i| (ids::mix(*seed, i / 8) >> ((i % 8) * 8)) as u8)
                    .collect()
            }
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Stored(b) => b.len() as u64,
            Content::Generated { size, .. } => *size,
        }
    }
}

/// Changes applied by [`Drive::update`].
pub(crate) struct Update<'a> {
    pub name: Option<&'a str>,
    pub parent: Option<u32>,
    pub content: Option<&'a [u8]>,
}

/// A drive and its items.
#[derive(Debug)]
pub(crate) struct Drive {
    pub id: String,
    /// Per-drive part of item ids.
    pub tag: String,
    pub salt: u64,
    pub kind: DriveKind,
    pub name: String,
    pub site: Option<usize>,
    pub owner: Option<usize>,
    pub created: u32,
    /// The library was removed from its site: lookups by id fail, listings skip it.
    pub removed: bool,
    pub items: Vec<Item>,
    /// Last change sequence number handed out.
    pub seq: u64,
    /// (seq, item) in seq order; entries whose item has changed since are stale.
    log: Vec<(u64, u32)>,
    stale: usize,
    stored: HashMap<u32, Arc<[u8]>>,
    shared_count: usize,
    live: usize,
}

const ID_INDEX_CHARS: usize = 7;
const MAX_NAME: usize = 255;

/// Checks a file or folder name as SharePoint would.
pub(crate) fn check_name(name: &str) -> Result<(), SimError> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME
        || name == "."
        || name == ".."
        || name.trim() != name
        || name
            .chars()
            .any(|c| c.is_control() || "\"*:<>?/\\|".contains(c));
    if bad {
        return Err(SimError::Invalid(format!("invalid item name {name:?}")));
    }
    Ok(())
}

impl Drive {
    /// A drive with just its root.
    pub fn new(
        id: String,
        salt: u64,
        kind: DriveKind,
        name: String,
        site: Option<usize>,
        owner: Option<usize>,
        now: u32,
    ) -> Drive {
        let root = Item {
            name: "root".into(),
            children: Vec::new(),
            size: 0,
            changed_seq: 0,
            parent: NO_PARENT,
            etag_ver: 1,
            ctag_ver: 1,
            created: now,
            modified: now,
            flags: flag::FOLDER,
        };
        Drive {
            id,
            tag: ids::base32(salt, 8),
            salt,
            kind,
            name,
            site,
            owner,
            created: now,
            removed: false,
            items: vec![root],
            seq: 0,
            log: Vec::new(),
            stale: 0,
            stored: HashMap::new(),
            shared_count: 0,
            live: 1,
        }
    }

    /// Live items, the root included.
    pub fn live_count(&self) -> usize {
        self.live
    }

    /// Writes the id of item `idx` into `out`.
    pub fn write_item_id(&self, out: &mut Vec<u8>, idx: u32) {
        out.extend_from_slice(b"01");
        out.extend_from_slice(self.tag.as_bytes());
        let v = u64::from(idx);
        for i in (0..ID_INDEX_CHARS).rev() {
            out.push(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[((v >> (5 * i)) & 31) as usize]);
        }
    }

    /// The id of item `idx`.
    pub fn item_id(&self, idx: u32) -> String {
        let mut v = Vec::with_capacity(2 + 8 + ID_INDEX_CHARS);
        self.write_item_id(&mut v, idx);
        String::from_utf8(v).unwrap_or_default()
    }

    /// The arena index of an item id (`root` names the root), tombstones included.
    pub fn parse_id(&self, id: &str) -> Option<u32> {
        if id == "root" {
            return Some(0);
        }
        let rest = id.strip_prefix("01")?.strip_prefix(self.tag.as_str())?;
        if rest.len() != ID_INDEX_CHARS {
            return None;
        }
        let idx = u32::try_from(ids::parse_base32(rest)?).ok()?;
        ((idx as usize) < self.items.len()).then_some(idx)
    }

    /// The index of a live item, or NotFound.
    pub fn live(&self, id: &str) -> Result<u32, SimError> {
        match self.parse_id(id) {
            Some(idx) if !self.items[idx as usize].is_deleted() => Ok(idx),
            _ => Err(SimError::NotFound(format!(
                "item {id} not found in drive {}",
                self.id
            ))),
        }
    }

    /// The index of a live folder, or an error.
    fn live_folder(&self, id: &str) -> Result<u32, SimError> {
        let idx = self.live(id)?;
        if !self.items[idx as usize].is_folder() {
            return Err(SimError::Invalid(format!("item {id} is not a folder")));
        }
        Ok(idx)
    }

    /// The index of a live folder named by id (for callers holding an id string).
    pub fn folder(&self, id: &str) -> Result<u32, SimError> {
        self.live_folder(id)
    }

    /// Appends a generated item without recording a change (sequence 0).
    /// `kind` is one of [`flag::KINDS`] or 0.
    pub fn add_generated(
        &mut self,
        parent: u32,
        name: String,
        folder: bool,
        size: u64,
        time: u32,
        kind: u8,
    ) -> u32 {
        let idx = self.items.len() as u32;
        self.items.push(Item {
            name: name.into_boxed_str(),
            children: Vec::new(),
            size: if folder { 0 } else { size },
            changed_seq: 0,
            parent,
            etag_ver: 1,
            ctag_ver: 1,
            created: time,
            modified: time,
            flags: if folder {
                flag::FOLDER
            } else {
                kind & flag::KINDS
            },
        });
        self.items[parent as usize].children.push(idx);
        self.live += 1;
        idx
    }

    fn check_unique(&self, parent: u32, name: &str, except: Option<u32>) -> Result<(), SimError> {
        let clash = self.items[parent as usize]
            .children
            .iter()
            .any(|&c| Some(c) != except && self.items[c as usize].name.eq_ignore_ascii_case(name));
        if clash {
            return Err(SimError::Conflict(format!(
                "an item named {name:?} already exists in that folder"
            )));
        }
        Ok(())
    }

    /// Creates a file or folder under a live folder.
    pub fn create(
        &mut self,
        parent: u32,
        name: &str,
        folder: bool,
        content: &[u8],
        now: u32,
    ) -> Result<u32, SimError> {
        check_name(name)?;
        if !self.items[parent as usize].is_folder() || self.items[parent as usize].is_deleted() {
            return Err(SimError::Invalid("the parent is not a live folder".into()));
        }
        if folder && !content.is_empty() {
            return Err(SimError::Invalid("a folder cannot have content".into()));
        }
        self.check_unique(parent, name, None)?;
        let idx = self.add_generated(
            parent,
            name.to_string(),
            folder,
            content.len() as u64,
            now,
            0,
        );
        if !folder {
            self.stored.insert(idx, Arc::from(content));
        }
        self.touch(idx);
        Ok(idx)
    }

    /// Renames, moves and/or rewrites an item.
    pub fn update(&mut self, idx: u32, change: Update<'_>, now: u32) -> Result<(), SimError> {
        let item = &self.items[idx as usize];
        if item.is_deleted() {
            return Err(SimError::NotFound("the item was deleted".into()));
        }
        if idx == 0 && (change.name.is_some() || change.parent.is_some()) {
            return Err(SimError::Invalid(
                "the root cannot be renamed or moved".into(),
            ));
        }
        if change.content.is_some() && item.is_folder() {
            return Err(SimError::Invalid("a folder has no content".into()));
        }
        let target = change.parent.unwrap_or(item.parent);
        if let Some(name) = change.name {
            check_name(name)?;
        }
        if change.parent.is_some() {
            let t = &self.items[target as usize];
            if !t.is_folder() || t.is_deleted() {
                return Err(SimError::Invalid(
                    "the new parent is not a live folder".into(),
                ));
            }
            let mut up = target;
            while up != NO_PARENT {
                if up == idx {
                    return Err(SimError::Invalid("cannot move a folder into itself".into()));
                }
                up = self.items[up as usize].parent;
            }
        }
        let name = change
            .name
            .map(str::to_string)
            .unwrap_or_else(|| item.name.to_string());
        self.check_unique(target, &name, Some(idx))?;

        let old_parent = item.parent;
        if target != old_parent {
            self.items[old_parent as usize]
                .children
                .retain(|&c| c != idx);
            self.items[target as usize].children.push(idx);
        }
        let item = &mut self.items[idx as usize];
        item.parent = target;
        item.name = name.into_boxed_str();
        item.etag_ver += 1;
        item.modified = now;
        item.flags &= !flag::PERMISSION_CHANGE;
        if let Some(bytes) = change.content {
            item.ctag_ver += 1;
            item.size = bytes.len() as u64;
            self.stored.insert(idx, Arc::from(bytes));
        }
        self.touch(idx);
        Ok(())
    }

    /// Deletes an item and, for a folder, everything below it (each gets a tombstone).
    pub fn delete(&mut self, idx: u32, now: u32) -> Result<(), SimError> {
        if idx == 0 {
            return Err(SimError::Invalid("the root cannot be deleted".into()));
        }
        if self.items[idx as usize].is_deleted() {
            return Err(SimError::NotFound("the item was already deleted".into()));
        }
        let parent = self.items[idx as usize].parent;
        self.items[parent as usize].children.retain(|&c| c != idx);
        let mut stack = vec![idx];
        while let Some(i) = stack.pop() {
            let item = &mut self.items[i as usize];
            stack.extend(std::mem::take(&mut item.children).into_iter().rev());
            if item.flags & flag::SHARED != 0 {
                self.shared_count -= 1;
            }
            item.flags = (item.flags & flag::FOLDER) | flag::DELETED;
            item.etag_ver += 1;
            item.modified = now;
            self.stored.remove(&i);
            self.live -= 1;
            self.touch(i);
        }
        Ok(())
    }

    /// Sets or removes explicit sharing on an item (a permission change).
    pub fn set_shared(&mut self, idx: u32, shared: bool, now: u32) -> Result<(), SimError> {
        let item = &mut self.items[idx as usize];
        if item.is_deleted() {
            return Err(SimError::NotFound("the item was deleted".into()));
        }
        let was = item.flags & flag::SHARED != 0;
        item.flags &= !(flag::SHARED | flag::UNSHARED);
        item.flags |= flag::PERMISSION_CHANGE;
        if shared {
            item.flags |= flag::SHARED;
        } else if was {
            item.flags |= flag::UNSHARED;
        }
        item.etag_ver += 1;
        item.modified = now;
        match (was, shared) {
            (false, true) => self.shared_count += 1,
            (true, false) => self.shared_count -= 1,
            _ => {}
        }
        self.touch(idx);
        Ok(())
    }

    /// Whether the item or one of its ancestors is shared explicitly.
    pub fn effectively_shared(&self, mut idx: u32) -> bool {
        if self.shared_count == 0 {
            return false;
        }
        while idx != NO_PARENT {
            let item = &self.items[idx as usize];
            if item.flags & flag::SHARED != 0 {
                return true;
            }
            idx = item.parent;
        }
        false
    }

    /// Assigns the next sequence number to an item.
    fn touch(&mut self, idx: u32) {
        self.seq += 1;
        let item = &mut self.items[idx as usize];
        if item.changed_seq != 0 {
            self.stale += 1;
        }
        item.changed_seq = self.seq;
        self.log.push((self.seq, idx));
        if self.log.len() > 4096 && self.stale * 2 > self.log.len() {
            let items = &self.items;
            self.log
                .retain(|&(s, i)| items[i as usize].changed_seq == s);
            self.stale = 0;
        }
    }

    /// Items changed after `seq`, in sequence order, each with its sequence number.
    pub fn changes_after(&self, seq: u64) -> impl Iterator<Item = (u64, u32)> + '_ {
        let start = self.log.partition_point(|&(s, _)| s <= seq);
        self.log[start..]
            .iter()
            .copied()
            .filter(|&(s, i)| self.items[i as usize].changed_seq == s)
    }

    /// The bytes of a file.
    pub fn content(&self, idx: u32) -> Content {
        match self.stored.get(&idx) {
            Some(b) => Content::Stored(b.clone()),
            None => Content::Generated {
                seed: self.content_seed(idx),
                size: self.items[idx as usize].size,
            },
        }
    }

    /// A number standing for the current content of an item (for hashes and bytes).
    pub fn content_seed(&self, idx: u32) -> u64 {
        ids::mix(
            self.salt,
            u64::from(idx) << 32 | u64::from(self.items[idx as usize].ctag_ver),
        )
    }

    /// `/`-separated path of a live item (`/` for the root).
    pub fn path(&self, idx: u32) -> String {
        let mut parts = Vec::new();
        let mut i = idx;
        while i != 0 && i != NO_PARENT {
            parts.push(&*self.items[i as usize].name);
            i = self.items[i as usize].parent;
        }
        if parts.is_empty() {
            return "/".into();
        }
        parts.iter().rev().fold(String::new(), |mut s, p| {
            s.push('/');
            s.push_str(p);
            s
        })
    }

    /// The eTag string of an item.
    pub fn etag(&self, idx: u32) -> String {
        let mut v = Vec::with_capacity(48);
        self.write_tag(&mut v, idx, false, b"\"");
        String::from_utf8(v).unwrap_or_default()
    }

    /// The cTag string of a file (`None` for folders).
    pub fn ctag(&self, idx: u32) -> Option<String> {
        if self.items[idx as usize].is_folder() {
            return None;
        }
        let mut v = Vec::with_capacity(48);
        self.write_tag(&mut v, idx, true, b"\"");
        Some(String::from_utf8(v).unwrap_or_default())
    }

    /// Writes `"{GUID},N"` (eTag) or `"c:{GUID},N"` (cTag), with `quote` as the quote marks.
    pub fn write_tag(&self, out: &mut Vec<u8>, idx: u32, ctag: bool, quote: &[u8]) {
        let item = &self.items[idx as usize];
        out.extend_from_slice(quote);
        out.extend_from_slice(if ctag { b"c:{" } else { b"{" });
        ids::write_guid(out, ids::mix(self.salt, u64::from(idx)));
        out.extend_from_slice(b"},");
        let ver = if ctag { item.ctag_ver } else { item.etag_ver };
        out.extend_from_slice(ver.to_string().as_bytes());
        out.extend_from_slice(quote);
    }

    /// Every live item, parents first, with paths.
    pub fn snapshot(&self) -> Vec<SnapshotItem> {
        let mut out = Vec::with_capacity(self.live);
        let mut stack: Vec<(u32, String)> = vec![(0, "/".into())];
        while let Some((idx, path)) = stack.pop() {
            let item = &self.items[idx as usize];
            for &c in item.children.iter().rev() {
                let child = &self.items[c as usize];
                let p = if idx == 0 {
                    format!("/{}", child.name)
                } else {
                    format!("{path}/{}", child.name)
                };
                stack.push((c, p));
            }
            out.push(self.snapshot_item(idx, path));
        }
        out
    }

    /// The snapshot entry of one live item.
    pub fn snapshot_item(&self, idx: u32, path: String) -> SnapshotItem {
        let item = &self.items[idx as usize];
        SnapshotItem {
            id: self.item_id(idx),
            name: item.name.to_string(),
            parent_id: (item.parent != NO_PARENT).then(|| self.item_id(item.parent)),
            path,
            is_folder: item.is_folder(),
            size: item.size,
            ctag: self.ctag(idx),
            etag: self.etag(idx),
            shared: item.flags & flag::SHARED != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive() -> Drive {
        Drive::new(
            "b!x".into(),
            7,
            DriveKind::Library,
            "Docs".into(),
            None,
            None,
            0,
        )
    }

    #[test]
    fn ids_round_trip_and_reject_foreign_ids() {
        let mut d = drive();
        let f = d.create(0, "A", true, b"", 1).unwrap();
        let id = d.item_id(f);
        assert_eq!(d.parse_id(&id), Some(f));
        assert_eq!(d.parse_id("root"), Some(0));
        assert_eq!(d.parse_id("01AAAAAAAAAAAAAAA"), None);
        assert_eq!(d.parse_id(""), None);
        assert_eq!(d.parse_id(&id[..id.len() - 1]), None);
    }

    #[test]
    fn mutations_keep_the_tree_and_the_log_consistent() {
        let mut d = drive();
        let a = d.create(0, "A", true, b"", 1).unwrap();
        let b = d.create(a, "B", true, b"", 1).unwrap();
        let f = d.create(b, "f.txt", false, b"hello", 1).unwrap();
        assert_eq!(d.path(f), "/A/B/f.txt");
        assert!(matches!(
            d.create(b, "F.TXT", false, b"", 1),
            Err(SimError::Conflict(_))
        ));
        assert!(
            d.update(
                a,
                Update {
                    name: None,
                    parent: Some(b),
                    content: None
                },
                2
            )
            .is_err()
        );
        let etag = d.etag(f);
        let ctag = d.ctag(f);
        d.update(
            f,
            Update {
                name: Some("g.txt"),
                parent: Some(0),
                content: None,
            },
            2,
        )
        .unwrap();
        assert_ne!(d.etag(f), etag);
        assert_eq!(d.ctag(f), ctag);
        assert_eq!(d.path(f), "/g.txt");
        let seq = d.seq;
        d.delete(a, 3).unwrap();
        let changed: Vec<u32> = d.changes_after(seq).map(|(_, i)| i).collect();
        assert_eq!(changed, vec![a, b]);
        assert_eq!(d.live_count(), 2);
        assert_eq!(d.snapshot().len(), 2);
        assert_eq!(d.changes_after(0).count(), 3);
    }

    #[test]
    fn generated_content_is_deterministic_and_sliceable() {
        let c = Content::Generated { seed: 9, size: 100 };
        let all = c.slice(0, 100);
        assert_eq!(all.len(), 100);
        assert_eq!(c.slice(10, 20), all[10..20].to_vec());
        assert_eq!(c.slice(90, 200).len(), 10);
        assert!(c.slice(150, 200).is_empty());
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", ".", "..", "a/b", "a:b", " lead", "x\u{0}"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("Report 2024 (final).docx").is_ok());
    }
}
