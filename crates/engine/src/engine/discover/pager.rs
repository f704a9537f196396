//! Paged Graph listings as discovery makes them: the [`Pager`] (client, page size and
//! stop flag), following `@odata.nextLink`, and the rules every part shares.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::graph::types::Collection;
use crate::graph::{GraphClient, RequestKind};

/// Fields of a drive discovery reads.
pub(super) const DRIVE_SELECT: &str = "id,name,driveType,webUrl";
/// What a listing request needs: the client, the page size and the stop flag.
#[derive(Debug, Clone, Copy)]
pub struct Pager<'a> {
    /// The shared Graph client (and its ThrottleGate).
    pub client: &'a GraphClient,
    /// `$top` of list requests; Graph may return fewer.
    pub page_size: u32,
    /// Set when the engine stops: the enumeration ends with [`Error::Stopped`].
    pub stopping: &'a AtomicBool,
}

impl Pager<'_> {
    /// `Err(Stopped)` once the stop flag is set.
    pub(super) fn check_stop(&self) -> Result<()> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(Error::Stopped);
        }
        Ok(())
    }
}

/// Every item of a paged collection, following `@odata.nextLink` to the end.
pub(super) fn fetch_all<T: DeserializeOwned>(
    pager: &Pager<'_>,
    first: &str,
    kind: RequestKind,
) -> Result<Vec<T>> {
    let mut all = Vec::new();
    let mut url = first.to_string();
    loop {
        pager.check_stop()?;
        let page: Collection<T> = pager.client.get_json(&url, kind)?;
        all.extend(page.value);
        match page.next_link {
            Some(next) if next == url => {
                return Err(Error::Protocol(format!(
                    "{first}: nextLink points to the same page"
                )));
            }
            Some(next) => url = next,
            None => return Ok(all),
        }
    }
}

/// Whether an id can go into a URL path segment as is. Graph ids (`host,guid,guid`,
/// GUIDs, `b!…`) always can; anything else is not an id we follow.
pub(super) fn plain_segment(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$'()*+,;=:@".contains(&b))
}

/// Errors that end the whole enumeration rather than one site's or user's part.
pub(super) fn is_fatal(e: &Error) -> bool {
    matches!(e, Error::Stopped | Error::Transport(_) | Error::Auth(_))
}
