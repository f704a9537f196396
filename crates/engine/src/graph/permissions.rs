//! An item's permissions: `GET /drives/{d}/items/{i}/permissions`, every page.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::graph::GraphClient;
use crate::graph::download::item_path;
use crate::graph::throttle::RequestKind;
use crate::graph::types::Collection;
use crate::permissions::GraphPermission;

/// Most pages one item's permissions may span (a loop guard: 1,000 pages of 100).
const MAX_PAGES: usize = 1000;

/// The permissions of one item as Graph listed them.
#[derive(Debug, Clone)]
pub(crate) struct ItemPermissions {
    /// Every permission object, in order.
    pub value: Vec<GraphPermission>,
    /// Requests made (1 + pages beyond the first).
    pub requests: usize,
}

impl GraphClient {
    /// Every permission of an item, following `@odata.nextLink`; 5 RU per page. A 403
    /// (the app lacks Sites.FullControl.All) or 404 (the item is gone) is returned as
    /// the Graph error. Stops between pages once `stopping` is set.
    pub(crate) fn item_permissions(
        &self,
        drive_id: &str,
        item_id: &str,
        stopping: &AtomicBool,
    ) -> Result<ItemPermissions> {
        let mut url = format!("{}/permissions", item_path(drive_id, item_id));
        let mut out = ItemPermissions {
            value: Vec::new(),
            requests: 0,
        };
        loop {
            if stopping.load(Ordering::SeqCst) {
                return Err(Error::Stopped);
            }
            let page: Collection<GraphPermission> = self.get_json(&url, RequestKind::Permission)?;
            out.requests += 1;
            out.value.extend(page.value);
            match page.next_link {
                None => return Ok(out),
                Some(_) if out.requests >= MAX_PAGES => {
                    return Err(Error::Protocol(format!(
                        "the permissions of item {item_id} span more than {MAX_PAGES} pages"
                    )));
                }
                Some(next) if next == url => {
                    return Err(Error::Protocol(format!(
                        "the permissions of item {item_id}: nextLink points to the same page"
                    )));
                }
                Some(next) => url = next,
            }
        }
    }
}
