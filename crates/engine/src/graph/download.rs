//! File bytes: an item's download URL from Graph, and its bytes from the download host.
//!
//! Download URLs are pre-authenticated and live on another host than Graph
//! (SharePoint's, or a CDN's): requests for bytes carry no bearer token, take that
//! host's proxy route, and pass the tenant's gate in its background lane.

use std::collections::HashMap;
use std::io::Read;
use std::time::SystemTime;

use parking_lot::Mutex;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::graph::GraphClient;
use crate::graph::client::{encode_path_segment, origin};
use crate::graph::network::{Network, Route};
use crate::graph::reply::{Reply, is_retryable_transport};
use crate::graph::throttle::{RequestKind, parse_retry_after};
use crate::graph::types::DriveItem;

/// What a download needs to know of an item (kind facets, tags, size, hashes, URL).
const DOWNLOAD_SELECT: &str = "id,name,size,eTag,cTag,file,folder,root,package,malware,remoteItem,deleted,\
     @microsoft.graph.downloadUrl";

/// Environment variables that decide proxies, read once when the client is made.
const PROXY_VARIABLES: [&str; 4] = ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"];

/// The routes to download hosts, one per origin, made on first use.
pub(crate) struct DownloadRoutes {
    config: Config,
    env: HashMap<String, String>,
    routes: Mutex<HashMap<String, Route>>,
}

impl DownloadRoutes {
    /// Routes decided by `config` and the proxy variables `env` has now.
    pub fn new(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> DownloadRoutes {
        let env = PROXY_VARIABLES
            .iter()
            .flat_map(|v| [v.to_string(), v.to_ascii_lowercase()])
            .filter_map(|name| env(&name).map(|value| (name, value)))
            .collect();
        DownloadRoutes {
            config: config.clone(),
            env,
            routes: Mutex::new(HashMap::new()),
        }
    }

    fn route(&self, url: &str) -> Result<Route> {
        let key = origin(url)
            .ok_or_else(|| Error::Protocol(format!("the download URL is not http(s): {url}")))?;
        if let Some(route) = self.routes.lock().get(&key) {
            return Ok(route.clone());
        }
        let lookup = |name: &str| self.env.get(name).cloned();
        let route = Network::new(&self.config, &lookup)?.download_route_to(url)?;
        self.routes.lock().insert(key, route.clone());
        Ok(route)
    }
}

/// The answer of a download host to a request for bytes.
pub(crate) enum Bytes {
    /// 200 or 206: the body begins at byte `start` of a file of `total` bytes (when
    /// the answer says), and holds `length` bytes (its Content-Length, when sent).
    Body {
        /// Offset of the body's first byte in the file.
        start: u64,
        /// The whole file's length, from Content-Range (206) or Content-Length (200).
        total: Option<u64>,
        /// Bytes in this body.
        length: Option<u64>,
        /// The body.
        reader: Box<dyn Read + Send>,
    },
    /// 401/403: the URL expired (or never worked); get a fresh one.
    Expired,
    /// 404/410: the item is gone.
    Gone,
    /// 416: nothing at or after the offset.
    PastEnd,
    /// 429/503: the gate now holds every request of the tenant; try again.
    Throttled,
    /// 5xx other than 503: try again after a backoff.
    ServerError(u16),
    /// The connection failed in a way worth retrying (reset, timeout, refused).
    Interrupted(String),
}

impl GraphClient {
    /// The item as a download needs it, with `@microsoft.graph.downloadUrl`.
    pub fn download_item(&self, drive_id: &str, item_id: &str) -> Result<DriveItem> {
        let path = format!("{}?$select={DOWNLOAD_SELECT}", item_path(drive_id, item_id));
        self.get_json(&path, RequestKind::Content)
    }

    /// The download URL `/content` redirects to, for an item whose metadata came
    /// without one. The redirect is not followed (it would carry the token).
    pub fn content_location(&self, drive_id: &str, item_id: &str) -> Result<String> {
        let path = format!("{}/content", item_path(drive_id, item_id));
        let reply = self.get_reply(&path, RequestKind::Content)?;
        match (reply.status, reply.location) {
            (300..=399, Some(location)) => Ok(location),
            (status, _) if (200..300).contains(&status) => Err(Error::Protocol(format!(
                "{path} answered {status} without redirecting to a download URL"
            ))),
            (status, location) => Err(Reply {
                status,
                location,
                body: reply.body,
            }
            .graph_error()),
        }
    }

    /// Requests the bytes of `url` from `offset` on: through the gate's background
    /// lane, without the bearer token. A 429/503 pauses the gate before returning.
    pub fn open_bytes(&self, url: &str, offset: u64) -> Result<Bytes> {
        if self.is_graph_url(url) {
            return Err(Error::Protocol(format!(
                "the download URL {url} is on Graph's own host; refusing to send it there without the token"
            )));
        }
        let route = self.download_routes().route(url)?;
        let mut request = route.agent.get(url);
        if offset > 0 {
            request = request.set("Range", &format!("bytes={offset}-"));
        }
        let kind = RequestKind::Content;
        self.gate().acquire_in(kind.cost(), kind.lane())?;
        let response = match request.call() {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(t)) => {
                let message = route.failure(&t);
                log::debug!("download from {} failed: {message}", host(url));
                if is_retryable_transport(&t) {
                    return Ok(Bytes::Interrupted(message));
                }
                return Err(Error::Transport(message));
            }
        };
        let status = response.status();
        log::debug!("GET (download) {} -> {status}", host(url));
        if status == 429 || status == 503 {
            let retry_after = response
                .header("Retry-After")
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            self.gate().on_throttled(retry_after);
            return Ok(Bytes::Throttled);
        }
        self.gate().on_success();
        let number = |name: &str| response.header(name).and_then(|v| v.trim().parse().ok());
        Ok(match status {
            200 => Bytes::Body {
                start: 0,
                total: number("Content-Length"),
                length: number("Content-Length"),
                reader: response.into_reader(),
            },
            206 => {
                let range = response.header("Content-Range").and_then(content_range);
                let Some((start, total)) = range else {
                    return Err(Error::Protocol(format!(
                        "a 206 answer from {} without a valid Content-Range",
                        host(url)
                    )));
                };
                Bytes::Body {
                    start,
                    total,
                    length: number("Content-Length"),
                    reader: response.into_reader(),
                }
            }
            401 | 403 => Bytes::Expired,
            404 | 410 => Bytes::Gone,
            416 => Bytes::PastEnd,
            500..=599 => Bytes::ServerError(status),
            _ => {
                return Err(Error::Protocol(format!(
                    "the download host {} answered {status}",
                    host(url)
                )));
            }
        })
    }
}

/// `/drives/{drive}/items/{item}`, each id encoded as one path segment.
pub(crate) fn item_path(drive_id: &str, item_id: &str) -> String {
    format!(
        "/drives/{}/items/{}",
        encode_path_segment(drive_id),
        encode_path_segment(item_id)
    )
}

/// `scheme://host[:port]` of a URL, for logs: the query (with its credentials) is left out.
fn host(url: &str) -> String {
    origin(url).unwrap_or_else(|| "(not a URL)".into())
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`) as (START, TOTAL).
fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.trim().strip_prefix("bytes ")?;
    let (range, total) = spec.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse().ok()?),
    };
    Some((start, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse_strictly() {
        assert_eq!(content_range("bytes 0-9/100"), Some((0, Some(100))));
        assert_eq!(content_range("bytes 90-99/*"), Some((90, None)));
        for bad in [
            "",
            "bytes */100",
            "items 0-1/2",
            "bytes 5-2/10",
            "bytes x-1/2",
            "bytes 0-1/y",
        ] {
            assert_eq!(content_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn logged_hosts_leave_the_query_out() {
        assert_eq!(
            host("https://t.sharepoint.com/_layouts/15/download.aspx?tempauth=SECRET"),
            "https://t.sharepoint.com"
        );
    }
}
