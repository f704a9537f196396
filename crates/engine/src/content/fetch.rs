//! One download: resolve the URL, stream, resume, verify.

use std::io::Read;

use crate::content::hash::{Expected, Hasher, mismatch};
use crate::content::sink::Sink;
use crate::content::{Download, SkipReason};
use crate::error::{Error, Result};
use crate::graph::download::Bytes;
use crate::graph::types::DriveItem;
use crate::graph::{GraphClient, ThrottleGate};

/// Bytes read from the network per call (the most a reset can cost twice).
pub(crate) const READ_BUFFER: usize = 256 * 1024;

/// The item to download and what the store knows of it.
pub(crate) struct Request<'a> {
    /// The drive.
    pub drive_id: &'a str,
    /// The item.
    pub item_id: &'a str,
    /// The cTag of the last successful download, if any: the same cTag now means
    /// [`Download::Unchanged`].
    pub last_ctag: Option<&'a str>,
}

/// What Graph says of the file right now.
struct Source {
    url: String,
    ctag: String,
    size: u64,
    expected: Expected,
}

/// Why the item has nothing to download, if so.
fn skip_reason(item: &DriveItem) -> Option<SkipReason> {
    if item.is_deleted() {
        Some(SkipReason::Deleted)
    } else if item.is_folder() {
        Some(SkipReason::Folder)
    } else if item.package.is_some() {
        Some(SkipReason::Package)
    } else if item.remote_item.is_some() {
        Some(SkipReason::Shortcut)
    } else if item.malware.is_some() {
        Some(SkipReason::Malware)
    } else if item.file.is_none() {
        // No file facet and none of the above: a package of a type we do not know.
        Some(SkipReason::Package)
    } else {
        None
    }
}

/// What Graph says of the file now, or why it has nothing to download.
fn current(
    client: &GraphClient,
    req: &Request<'_>,
) -> Result<std::result::Result<Source, SkipReason>> {
    let item = client
        .download_item(req.drive_id, req.item_id)
        .map_err(|e| naming_item(e, req))?;
    if let Some(reason) = skip_reason(&item) {
        return Ok(Err(reason));
    }
    let size = item
        .size
        .and_then(|s| u64::try_from(s).ok())
        .ok_or_else(|| Error::Protocol(format!("item {} has no valid size", req.item_id)))?;
    let url = match item.download_url.clone() {
        Some(url) => url,
        None => client
            .content_location(req.drive_id, req.item_id)
            .map_err(|e| naming_item(e, req))?,
    };
    Ok(Ok(Source {
        url,
        ctag: item.c_tag.clone().unwrap_or_default(),
        size,
        expected: Expected::of(item.file.as_ref().and_then(|f| f.hashes.as_ref())),
    }))
}

/// A 404 names the drive and item instead of Graph's generic message.
fn naming_item(e: Error, req: &Request<'_>) -> Error {
    match e {
        Error::Graph(g) if g.status == 404 => Error::InvalidInput(format!(
            "item {} not found in drive {} ({})",
            req.item_id, req.drive_id, g
        )),
        other => other,
    }
}

/// Downloads the item into `sink`.
///
/// A hash mismatch discards what was written and starts over once with fresh
/// metadata; a second one fails with both hashes. Resets, truncated bodies, 5xx and
/// 429/503 (which pause the whole tenant at the gate) resume from the bytes held, up
/// to `throttle.max_attempts` failures in a row without progress.
pub(crate) fn fetch(
    client: &GraphClient,
    req: &Request<'_>,
    sink: &mut dyn Sink,
) -> Result<Download> {
    let mut mismatches = 0;
    loop {
        let source = match current(client, req)? {
            Err(reason) => return Ok(Download::Skipped { reason }),
            Ok(source) if !source.ctag.is_empty() && req.last_ctag == Some(&source.ctag) => {
                return Ok(Download::Unchanged { ctag: source.ctag });
            }
            Ok(source) => source,
        };
        let mut hasher = Hasher::new(&source.expected);
        let written = transfer(client, req, source, sink, &mut hasher)?;
        let (source, actual) = (written, hasher.finish());
        match mismatch(&source.expected, &actual) {
            None => {
                sink.finish()?;
                return Ok(Download::Downloaded {
                    bytes: source.size,
                    hash: actual.quick_xor.unwrap_or_default(),
                    ctag: source.ctag,
                });
            }
            Some((expected, actual)) => {
                sink.discard();
                mismatches += 1;
                log::warn!(
                    "item {} of drive {}: downloaded bytes hash to {actual}, Graph reported {expected}",
                    req.item_id,
                    req.drive_id
                );
                if mismatches == 2 {
                    return Err(Error::HashMismatch {
                        item_id: req.item_id.to_string(),
                        expected,
                        actual,
                    });
                }
            }
        }
    }
}

/// Streams the whole file into `sink` and `hasher`, resuming after what the sink
/// holds. Returns the source the bytes came from (a fresh URL may have replaced an
/// expired one; a changed cTag restarts from zero).
fn transfer(
    client: &GraphClient,
    req: &Request<'_>,
    mut source: Source,
    sink: &mut dyn Sink,
    hasher: &mut Hasher,
) -> Result<Source> {
    let gate = client.gate();
    let mut have = sink.resume(hasher)?;
    if have > source.size {
        restart(sink, hasher, &source, &mut have)?;
    }
    let mut buf = vec![0u8; READ_BUFFER];
    let mut failures = 0;
    while have < source.size {
        let fail = |failures: &mut u32, why: String| -> Result<()> {
            *failures += 1;
            if *failures >= gate.max_attempts() {
                return Err(Error::Transport(format!(
                    "downloading item {} of drive {}: {why} ({failures} attempts)",
                    req.item_id, req.drive_id
                )));
            }
            gate.on_retry();
            Ok(())
        };
        match client.open_bytes(&source.url, have)? {
            Bytes::Body {
                start,
                total,
                length,
                mut reader,
            } => {
                if let Some(total) = total.filter(|&t| t != source.size) {
                    // The file changed since the metadata was read (start over), or
                    // the host is wrong about it.
                    let (ctag, size) = (source.ctag.clone(), source.size);
                    source = refreshed(client, req, source, sink, hasher, &mut have)?;
                    if source.ctag == ctag && source.size == size {
                        sink.discard();
                        return Err(Error::Protocol(format!(
                            "the download host says item {} has {total} bytes; Graph says {size}",
                            req.item_id
                        )));
                    }
                    continue;
                }
                if start != have {
                    if start == 0 {
                        restart(sink, hasher, &source, &mut have)?;
                    } else {
                        fail(
                            &mut failures,
                            format!("asked for bytes from {have}, got bytes from {start}"),
                        )?;
                        continue;
                    }
                }
                if length.is_some_and(|l| start + l > source.size) {
                    sink.discard();
                    return Err(Error::Protocol(format!(
                        "the download host announced {} bytes from {start} of item {}, which has {}",
                        length.unwrap_or_default(),
                        req.item_id,
                        source.size
                    )));
                }
                let before = have;
                let outcome = copy(
                    &mut *reader,
                    &mut buf,
                    &source,
                    sink,
                    hasher,
                    &mut have,
                    gate,
                );
                if have >= before + READ_BUFFER as u64 {
                    failures = 0;
                }
                match outcome {
                    Ok(()) if have == source.size => {}
                    Ok(()) => fail(
                        &mut failures,
                        format!("the body ended after {have} of {} bytes", source.size),
                    )?,
                    Err(Copy::Network(e)) => fail(&mut failures, format!("reading the body: {e}"))?,
                    Err(Copy::TooLong) => {
                        sink.discard();
                        return Err(Error::Protocol(format!(
                            "the download host sent more than the {} bytes of item {}",
                            source.size, req.item_id
                        )));
                    }
                    Err(Copy::Sink(e)) => return Err(e),
                    Err(Copy::Stopped) => return Err(Error::Stopped),
                }
            }
            Bytes::Expired => {
                log::debug!(
                    "the download URL of item {} expired; fetching a fresh one",
                    req.item_id
                );
                source = refreshed(client, req, source, sink, hasher, &mut have)?;
                fail(&mut failures, "the download URL kept expiring".into())?;
            }
            Bytes::Gone => {
                sink.discard();
                return Err(Error::InvalidInput(format!(
                    "item {} of drive {} is gone (deleted while downloading)",
                    req.item_id, req.drive_id
                )));
            }
            Bytes::PastEnd => {
                // The host has fewer bytes than we hold: the file changed, or the
                // partial bytes are not its.
                source = refreshed(client, req, source, sink, hasher, &mut have)?;
                restart(sink, hasher, &source, &mut have)?;
                fail(&mut failures, format!("no bytes after {have}"))?;
            }
            Bytes::Throttled => fail(&mut failures, "throttled".into())?,
            Bytes::ServerError(status) => {
                fail(
                    &mut failures,
                    format!("the download host answered {status}"),
                )?;
                gate.sleep(gate.retry_delay(failures))?;
            }
            Bytes::Interrupted(why) => {
                fail(&mut failures, why)?;
                gate.sleep(gate.retry_delay(failures))?;
            }
        }
    }
    Ok(source)
}

/// Why copying a body stopped early.
enum Copy {
    /// The connection failed (resumable).
    Network(std::io::Error),
    /// The body ran past the file's size.
    TooLong,
    /// The sink failed (a full disk, the host's writer).
    Sink(Error),
    /// The engine is stopping (the bytes held stay, to be resumed).
    Stopped,
}

/// Copies the body into the sink until it ends, never past the file's size in all;
/// a stop of the gate ends it between two reads.
fn copy(
    reader: &mut dyn Read,
    buf: &mut [u8],
    source: &Source,
    sink: &mut dyn Sink,
    hasher: &mut Hasher,
    have: &mut u64,
    gate: &ThrottleGate,
) -> std::result::Result<(), Copy> {
    let size = source.size;
    loop {
        if gate.is_stopped() {
            return Err(Copy::Stopped);
        }
        let n = match reader.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Copy::Network(e)),
        };
        if *have + n as u64 > size {
            return Err(Copy::TooLong);
        }
        sink.write(&buf[..n]).map_err(Copy::Sink)?;
        hasher.update(&buf[..n]);
        *have += n as u64;
    }
}

/// Forgets the bytes held and starts the file from zero.
fn restart(
    sink: &mut dyn Sink,
    hasher: &mut Hasher,
    source: &Source,
    have: &mut u64,
) -> Result<()> {
    sink.restart()?;
    *hasher = Hasher::new(&source.expected);
    *have = 0;
    Ok(())
}

/// Fresh metadata (a new URL); when the content changed meanwhile, the bytes held
/// belong to the old version and are dropped.
fn refreshed(
    client: &GraphClient,
    req: &Request<'_>,
    old: Source,
    sink: &mut dyn Sink,
    hasher: &mut Hasher,
    have: &mut u64,
) -> Result<Source> {
    let fresh = match current(client, req)? {
        Ok(fresh) => fresh,
        Err(reason) => {
            sink.discard();
            return Err(Error::InvalidInput(format!(
                "item {} of drive {} became a {reason} while downloading",
                req.item_id, req.drive_id
            )));
        }
    };
    if fresh.ctag != old.ctag || fresh.size != old.size {
        restart(sink, hasher, &fresh, have)?;
    }
    Ok(fresh)
}
