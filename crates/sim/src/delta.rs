//! Delta queries: opaque tokens, full enumerations and incremental feeds.
//!
//! Paging is stateless and idempotent: every link carries its whole cursor, so a
//! client that retries a page (after a reset, say) gets the same items again.
//! A full enumeration walks the arena in index order up to the arena length at its
//! start; an item whose ancestors have not had their turn yet (a move under a newer
//! folder) is preceded by them, so parents always come before children. Its final
//! deltaLink holds the change sequence at its start, so changes made during the
//! crawl come in the next round.

use std::collections::HashSet;

use crate::content::tempauth::DownloadUrls;
use crate::drive::{Drive, NO_PARENT};
use crate::faults::TombstoneOmission;
use crate::ids;
use crate::item_json::{ItemWriter, Props, View};
use crate::json::JsonOut;
use crate::response::SimResponse;
use crate::tenant::Tenant;

/// Page size without `$top`.
pub(crate) const DEFAULT_TOP: usize = 200;
/// Largest page served.
pub(crate) const MAX_TOP: usize = 1000;

/// Where a feed continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cursor {
    /// A full enumeration: next arena index to visit, below `bound`.
    Full {
        start_seq: u64,
        bound: u32,
        next: u32,
    },
    /// Changes with a sequence number above `since`.
    Changes { since: u64 },
}

/// The content of a `token=` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeltaToken {
    pub drive: u32,
    pub epoch: u64,
    pub issued: u64,
    pub cursor: Cursor,
}

impl DeltaToken {
    fn fields(&self) -> (char, [u64; 6]) {
        let (kind, a, b, c) = match self.cursor {
            Cursor::Full {
                start_seq,
                bound,
                next,
            } => ('F', start_seq, u64::from(bound), u64::from(next)),
            Cursor::Changes { since } => ('C', since, 0, 0),
        };
        (
            kind,
            [u64::from(self.drive), self.epoch, self.issued, a, b, c],
        )
    }

    fn mac(kind: char, fields: &[u64; 6], key: u64) -> u64 {
        fields
            .iter()
            .fold(ids::mix(key, kind as u64), |h, &f| ids::mix(h, f))
    }

    /// The URL-safe token string, signed with `key` so forged tokens are refused.
    pub fn encode(&self, key: u64) -> String {
        let (kind, f) = self.fields();
        let mac = Self::mac(kind, &f, key);
        format!(
            "{kind}{:x}.{:x}.{:x}.{:x}.{:x}.{:x}.{mac:x}",
            f[0], f[1], f[2], f[3], f[4], f[5]
        )
    }

    /// Parses and verifies a token; `None` for anything malformed or forged.
    pub fn decode(s: &str, key: u64) -> Option<DeltaToken> {
        let kind = s.chars().next()?;
        let parts: Vec<u64> = s
            .get(1..)?
            .split('.')
            .map(|p| u64::from_str_radix(p, 16).ok())
            .collect::<Option<_>>()?;
        let [drive, epoch, issued, a, b, c, mac] = parts.as_slice().try_into().ok()?;
        let fields = [drive, epoch, issued, a, b, c];
        if Self::mac(kind, &fields, key) != mac {
            return None;
        }
        let cursor = match kind {
            'F' => Cursor::Full {
                start_seq: a,
                bound: u32::try_from(b).ok()?,
                next: u32::try_from(c).ok()?,
            },
            'C' => Cursor::Changes { since: a },
            _ => return None,
        };
        Some(DeltaToken {
            drive: u32::try_from(drive).ok()?,
            epoch,
            issued,
            cursor,
        })
    }
}

/// One delta request, parsed from the HTTP request.
pub(crate) struct DeltaRequest<'a> {
    pub drive: usize,
    pub token: Option<&'a str>,
    pub select: Option<&'a str>,
    pub top: Option<&'a str>,
    pub hierarchical_sharing: bool,
    pub show_sharing_changes: bool,
    /// `http://host:port`, for the links.
    pub base: &'a str,
    /// The injected defect: delete tombstones incremental feeds leave out.
    pub omit_tombstones: TombstoneOmission,
    /// Issues `@microsoft.graph.downloadUrl` when it is selected.
    pub download_urls: &'a DownloadUrls,
}

/// Token signing key and expiry settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenPolicy {
    pub key: u64,
    pub max_age_secs: u64,
}

pub(crate) fn encode_query_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~,".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Serves one delta page (or 410, or 400 for a bad query).
pub(crate) fn serve(tenant: &Tenant, policy: TokenPolicy, req: &DeltaRequest<'_>) -> SimResponse {
    let drive = &tenant.drives[req.drive];
    let top = match req.top {
        None => DEFAULT_TOP,
        Some(t) => match t.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX_TOP),
            _ => {
                return SimResponse::graph_error(
                    400,
                    "invalidRequest",
                    &format!("Invalid $top value {t:?}"),
                );
            }
        },
    };
    let props = match req.select {
        None => Props::ALL,
        Some(s) => match Props::parse(s) {
            Ok(p) => p,
            Err(m) => return SimResponse::graph_error(400, "BadRequest", &m),
        },
    };
    let mut extra = String::new();
    if let Some(s) = req.select {
        extra.push_str("&$select=");
        extra.push_str(&encode_query_value(s));
    }
    if let Some(t) = req.top {
        extra.push_str("&$top=");
        extra.push_str(&encode_query_value(t));
    }
    let link = |token: Option<DeltaToken>| match token {
        Some(t) => format!(
            "{}/v1.0/drives/{}/root/delta?token={}{extra}",
            req.base,
            drive.id,
            t.encode(policy.key)
        ),
        None => format!(
            "{}/v1.0/drives/{}/root/delta?{}",
            req.base,
            drive.id,
            extra.trim_start_matches('&')
        )
        .trim_end_matches('?')
        .to_string(),
    };
    let now = ids::unix_now();
    let token_at = |cursor| DeltaToken {
        drive: req.drive as u32,
        epoch: tenant.epoch,
        issued: now,
        cursor,
    };
    let cursor = match req.token {
        None => Cursor::Full {
            start_seq: drive.seq,
            bound: drive.items.len() as u32,
            next: 0,
        },
        Some("latest") => {
            let body = page_json(
                req.base,
                &[],
                None,
                Some(&link(Some(token_at(Cursor::Changes { since: drive.seq })))),
            );
            return SimResponse::json_bytes(200, body);
        }
        Some(t) => match DeltaToken::decode(t, policy.key) {
            Some(tok)
                if tok.drive as usize == req.drive
                    && tok.epoch == tenant.epoch
                    && (policy.max_age_secs == 0
                        || now.saturating_sub(tok.issued) <= policy.max_age_secs) =>
            {
                tok.cursor
            }
            _ => {
                return SimResponse::graph_error(
                    410,
                    "resyncRequired",
                    "The delta token is expired or not valid. Start a new enumeration from the Location header.",
                )
                .with_header("Location", link(None));
            }
        },
    };
    let view = View {
        props,
        hierarchical_sharing: req.hierarchical_sharing,
        annotate_sharing_changes: req.show_sharing_changes
            && matches!(cursor, Cursor::Changes { .. }),
        download_urls: Some(req.download_urls),
    };
    let writer = ItemWriter::new(drive, view);
    let mut items = JsonOut::with_capacity(top * 320);
    let (next, done) = match cursor {
        Cursor::Full {
            start_seq,
            bound,
            next,
        } => {
            let (next, done) = full_page(drive, &writer, &mut items, bound, next, top);
            (
                Cursor::Full {
                    start_seq,
                    bound,
                    next,
                },
                done.then_some(Cursor::Changes { since: start_seq }),
            )
        }
        Cursor::Changes { since } => {
            let feed = ChangeFeed {
                drive,
                drive_idx: req.drive,
                omit: req.omit_tombstones,
            };
            let (last, done) = changes_page(&feed, &writer, &mut items, since, top);
            (
                Cursor::Changes { since: last },
                done.then_some(Cursor::Changes { since: drive.seq }),
            )
        }
    };
    let body = match done {
        Some(d) => page_json(req.base, &items.buf, None, Some(&link(Some(token_at(d))))),
        None => page_json(
            req.base,
            &items.buf,
            Some(&link(Some(token_at(next)))),
            None,
        ),
    };
    SimResponse::json_bytes(200, body)
}

fn page_json(base: &str, items: &[u8], next: Option<&str>, delta: Option<&str>) -> Vec<u8> {
    let mut out = JsonOut::with_capacity(items.len() + 512);
    out.raw("{\"@odata.context\":");
    out.string(&format!("{base}/v1.0/$metadata#Collection(driveItem)"));
    out.raw(",\"value\":[");
    out.buf.extend_from_slice(items);
    out.raw("]");
    if let Some(n) = next {
        out.raw(",\"@odata.nextLink\":");
        out.string(n);
    }
    if let Some(d) = delta {
        out.raw(",\"@odata.deltaLink\":");
        out.string(d);
    }
    out.raw("}");
    out.buf
}

/// Writes items separated by commas and remembers what this page emitted.
struct PageWriter<'w, 'd> {
    writer: &'w ItemWriter<'d>,
    out: &'w mut JsonOut,
    emitted: HashSet<u32>,
    count: usize,
}

impl PageWriter<'_, '_> {
    fn emit(&mut self, idx: u32, own_change: bool) {
        if self.count > 0 {
            self.out.raw(",");
        }
        self.writer.write(self.out, idx, own_change);
        self.emitted.insert(idx);
        self.count += 1;
    }
}

/// Full enumeration from arena index `next`; returns the next index and whether it is done.
fn full_page(
    drive: &Drive,
    writer: &ItemWriter<'_>,
    out: &mut JsonOut,
    bound: u32,
    mut next: u32,
    top: usize,
) -> (u32, bool) {
    let bound = bound.min(drive.items.len() as u32);
    let mut page = PageWriter {
        writer,
        out,
        emitted: HashSet::new(),
        count: 0,
    };
    let mut chain = Vec::new();
    while next < bound && page.count < top {
        let idx = next;
        let item = &drive.items[idx as usize];
        if item.is_deleted() || page.emitted.contains(&idx) {
            next += 1;
            continue;
        }
        // Ancestors from the parent up; those at or after this index (or created after
        // the enumeration started) have not been emitted yet: emit from the topmost down.
        chain.clear();
        let mut a = item.parent;
        let mut needed = 0;
        while a != NO_PARENT {
            chain.push(a);
            if (a > idx || a >= bound) && !page.emitted.contains(&a) {
                needed = chain.len();
            }
            a = drive.items[a as usize].parent;
        }
        chain.truncate(needed);
        chain.retain(|a| !page.emitted.contains(a));
        if page.count > 0 && page.count + chain.len() + 1 > top {
            break;
        }
        for &a in chain.iter().rev() {
            page.emit(a, false);
        }
        page.emit(idx, false);
        next += 1;
    }
    (next, next >= bound)
}

/// The drive an incremental feed reads, and the tombstones it leaves out.
struct ChangeFeed<'d> {
    drive: &'d Drive,
    drive_idx: usize,
    omit: TombstoneOmission,
}

/// Changes after `since`; returns the last sequence emitted and whether the feed is drained.
fn changes_page(
    feed: &ChangeFeed<'_>,
    writer: &ItemWriter<'_>,
    out: &mut JsonOut,
    since: u64,
    top: usize,
) -> (u64, bool) {
    let mut page = PageWriter {
        writer,
        out,
        emitted: HashSet::new(),
        count: 0,
    };
    let mut last = since;
    let mut chain = Vec::new();
    let drive = feed.drive;
    for (seq, idx) in drive.changes_after(since) {
        if drive.items[idx as usize].is_deleted() && feed.omit.omits(feed.drive_idx, idx) {
            last = seq;
            continue;
        }
        chain.clear();
        let mut a = drive.items[idx as usize].parent;
        while a != NO_PARENT && !page.emitted.contains(&a) && !drive.items[a as usize].is_deleted()
        {
            chain.push(a);
            a = drive.items[a as usize].parent;
        }
        if page.count > 0 && page.count + chain.len() + 1 > top {
            return (last, false);
        }
        for &a in chain.iter().rev() {
            page.emit(a, false);
        }
        page.emit(idx, true);
        last = seq;
    }
    (last, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let t = DeltaToken {
            drive: 3,
            epoch: 1,
            issued: 99,
            cursor: Cursor::Full {
                start_seq: 5,
                bound: 10,
                next: 4,
            },
        };
        let s = t.encode(42);
        assert_eq!(DeltaToken::decode(&s, 42), Some(t));
        assert_eq!(DeltaToken::decode(&s, 43), None);
        assert_eq!(DeltaToken::decode(&s.replace(".4.", ".5."), 42), None);
        for junk in ["", "F", "C1.2", "Zzz", "F1.2.3.4.5.6.7.8", "C\u{e9}"] {
            assert_eq!(DeltaToken::decode(junk, 42), None);
        }
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
    }

    proptest::proptest! {
        #[test]
        fn any_token_string_is_refused_or_parsed_without_panic(s in ".*") {
            let _ = DeltaToken::decode(&s, 1);
        }

        #[test]
        fn every_cursor_round_trips(drive in 0u32.., since in 0u64.., bound in 0u32.., next in 0u32..) {
            for cursor in [Cursor::Changes { since }, Cursor::Full { start_seq: since, bound, next }] {
                let t = DeltaToken { drive, epoch: 2, issued: 3, cursor };
                proptest::prop_assert_eq!(DeltaToken::decode(&t.encode(9), 9), Some(t));
            }
        }
    }
}
