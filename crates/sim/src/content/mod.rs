//! File content: the bytes of each file, their hash, and how they are fetched.
//!
//! A file's bytes are stored (uploaded through the control API, hashed once) or
//! generated on demand from its content seed ([`generate`]). Graph's `/content`
//! answers with a redirect to a pre-authenticated URL ([`tempauth`]) on the content
//! host, a listener of its own ([`host`]), which serves the bytes with ranges,
//! streaming them as the client reads.

pub(crate) mod egress;
mod generate;
pub(crate) mod host;
mod range;
pub(crate) mod tempauth;

use std::sync::Arc;

use quickxorhash::QuickXorHash;

use crate::drive::{Drive, flag};
use crate::fault::SimError;
use crate::ids;
use crate::request::SimRequest;
use crate::response::SimResponse;
use crate::state::Shared;

pub(crate) use generate::Generated;

/// Bytes of a streamed body produced at a time.
const CHUNK: usize = 64 * 1024;

/// Bytes uploaded through the control API, with their hash.
#[derive(Debug)]
pub(crate) struct Stored {
    bytes: Box<[u8]>,
    hash: [u8; 20],
}

impl Stored {
    /// Keeps `bytes` and hashes them once.
    pub fn new(bytes: &[u8]) -> Stored {
        Stored {
            bytes: bytes.into(),
            hash: hash_of(bytes),
        }
    }
}

fn hash_of(bytes: &[u8]) -> [u8; 20] {
    let mut hasher = QuickXorHash::new();
    hasher.update(bytes);
    hasher.finalize()
}

/// The base64 QuickXorHash of `bytes`, as Graph reports `file.hashes.quickXorHash`:
/// for tests that compare downloaded bytes with an item's hash.
pub fn quick_xor_hash(bytes: &[u8]) -> String {
    base64_hash(&hash_of(bytes))
}

/// The bytes of a file.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    /// Uploaded bytes.
    Stored(Arc<Stored>),
    /// Bytes made from a seed.
    Generated(Generated),
}

impl Content {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Stored(s) => s.bytes.len() as u64,
            Content::Generated(g) => g.size,
        }
    }

    /// The QuickXorHash of the whole content.
    pub fn quick_xor_hash(&self) -> [u8; 20] {
        match self {
            Content::Stored(s) => s.hash,
            Content::Generated(g) => g.quick_xor_hash(),
        }
    }

    /// Copies the bytes in `start..end` (clamped to the length).
    pub fn slice(&self, start: u64, end: u64) -> Vec<u8> {
        let end = end.min(self.len());
        let start = start.min(end);
        match self {
            Content::Stored(s) => s.bytes[start as usize..end as usize].to_vec(),
            Content::Generated(g) => {
                let mut out = vec![0; (end - start) as usize];
                g.fill(start, &mut out);
                out
            }
        }
    }

    /// The bytes in `start..end` (clamped) as chunks of at most 64 KiB, each made
    /// when it is taken.
    pub fn chunks(self, start: u64, end: u64) -> impl Iterator<Item = Vec<u8>> + Send + 'static {
        let end = end.min(self.len());
        let mut at = start.min(end);
        std::iter::from_fn(move || {
            let next = end.min(at + CHUNK as u64);
            let chunk = (at < next).then(|| self.slice(at, next));
            at = next;
            chunk
        })
    }
}

/// The base64 QuickXorHash, as Graph writes `file.hashes.quickXorHash`.
pub(crate) fn base64_hash(hash: &[u8; 20]) -> String {
    let mut out = Vec::with_capacity(28);
    ids::write_base64(&mut out, hash);
    String::from_utf8(out).unwrap_or_default()
}

/// The `304 Not Modified` for a request whose `If-None-Match` names the item's
/// current eTag or cTag (quoted as served, or bare).
fn not_modified(drive: &Drive, idx: u32, req: &SimRequest) -> Option<SimResponse> {
    let asked = req.header("if-none-match")?.trim();
    let etag = drive.etag(idx);
    let ctag = drive.ctag(idx);
    let names = |tag: &str| asked == tag || asked == tag.trim_matches('"');
    let current = names(&etag) || ctag.as_deref().is_some_and(names);
    current.then(|| with_tags(SimResponse::empty(304), drive, idx))
}

/// Adds the item's `ETag` and `CTag` headers.
fn with_tags(resp: SimResponse, drive: &Drive, idx: u32) -> SimResponse {
    let resp = resp.with_header("ETag", drive.etag(idx));
    match drive.ctag(idx) {
        Some(ctag) => resp.with_header("CTag", ctag),
        None => resp,
    }
}

/// Graph's answer to `GET .../content`: a 302 to a download URL on the content host;
/// 304 for a current `If-None-Match`; 403 for malware without `AVOverride=1`; 404
/// for an item without a content stream (a notebook, a shortcut); 400 for a folder.
pub(crate) fn redirect(
    shared: &Shared,
    drive: &Drive,
    idx: u32,
    req: &SimRequest,
) -> Result<SimResponse, SimError> {
    let item = &drive.items[idx as usize];
    if item.is_folder() {
        return Err(SimError::Invalid("a folder has no content".into()));
    }
    if !item.has_content() {
        return Err(SimError::NotFound(
            "The item has no content stream (a OneNote notebook or a shortcut)".into(),
        ));
    }
    if item.flags & flag::MALWARE != 0 && req.query("AVOverride") != Some("1") {
        return Ok(SimResponse::graph_error(
            403,
            "malwareDetected",
            "Malware was detected in the file; add AVOverride=1 to download it anyway",
        ));
    }
    if let Some(unchanged) = not_modified(drive, idx, req) {
        return Ok(unchanged);
    }
    let url = shared
        .download_urls
        .url(&drive.id, &drive.item_id(idx), ids::unix_now());
    Ok(SimResponse::empty(302).with_header("Location", url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_and_chunks_agree_for_both_kinds() {
        let stored = Content::Stored(Arc::new(Stored::new(&[7u8; 200_000])));
        let generated = Content::Generated(Generated {
            seed: 9,
            size: 200_000,
        });
        for c in [stored, generated] {
            let all = c.slice(0, c.len());
            assert_eq!(all.len(), 200_000);
            assert_eq!(c.slice(10, 20), all[10..20].to_vec());
            assert_eq!(c.slice(199_990, 300_000).len(), 10);
            assert!(c.slice(300_000, 400_000).is_empty());
            let chunks: Vec<Vec<u8>> = c.clone().chunks(5, 150_000).collect();
            assert_eq!(chunks.len(), 3);
            assert!(chunks.iter().all(|ch| ch.len() <= CHUNK));
            assert_eq!(chunks.concat(), all[5..150_000].to_vec());
            assert_eq!(c.quick_xor_hash(), hash_of(&all));
            assert_eq!(c.chunks(9, 9).count(), 0);
        }
    }
}
