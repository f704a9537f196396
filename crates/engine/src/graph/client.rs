//! [`GraphClient`]: one keep-alive HTTP agent shared by every worker, with the
//! bearer token, the [`ThrottleGate`] and retries applied to each request.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::graph::auth::TokenSource;
use crate::graph::credential::Credential;
use crate::graph::download::DownloadRoutes;
use crate::graph::network::{Network, Route};
use crate::graph::reply::{Reply, is_retryable_transport};
use crate::graph::throttle::{RequestKind, ThrottleGate, parse_retry_after};
use crate::graph::types::DeltaPage;

/// Fields the engine reads from delta; `$select` keeps pages small.
const DELTA_SELECT: &str = "id,name,parentReference,eTag,cTag,size,file,folder,root,deleted,shared,lastModifiedDateTime,\
     package,malware,remoteItem";
/// The provenance facets, selected with `item_provenance` (the larger part of what the
/// facets add to a first crawl's writes).
const PROVENANCE_SELECT: &str = ",createdBy,lastModifiedBy,webUrl,sharepointIds,fileSystemInfo";
/// `Prefer` of delta requests when permissions are tracked.
const PREFER_SHARING: &str = "deltashowremovedasdeleted, deltatraversepermissiongaps, deltashowsharingchanges, hierarchicalsharing";

/// Talks to Graph for one tenant. `Send + Sync`; share it between workers with an `Arc`.
pub struct GraphClient {
    route: Route,
    graph_url: String,
    graph_origin: String,
    page_size: u32,
    track_permissions: bool,
    item_provenance: bool,
    auth: TokenSource,
    gate: Arc<ThrottleGate>,
    downloads: DownloadRoutes,
}

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GraphClient>();
};

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.graph_url)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Why an attempt failed in a way worth retrying.
enum Retryable {
    /// 429 or 503: the gate already holds every thread; retry without extra sleep.
    Throttled(Reply),
    /// Another 5xx: retry after a backoff.
    Server(Reply),
    /// Transport failure (reset, timeout, refused): retry after a backoff.
    Transport(String),
}

impl GraphClient {
    /// A client for the tenant of `config`, its requests paced by `gate`; resolves the secret.
    pub fn new(config: &Config, gate: Arc<ThrottleGate>) -> Result<GraphClient> {
        let env = |name: &str| std::env::var(name).ok();
        let credential = Credential::resolve(config, &env)?;
        let network = Network::new(config, &env)?;
        let route = network.route_to(&config.graph_url)?;
        let login_route = network.route_to(&credential.endpoint(config))?;
        let graph_url = config.graph_url.trim_end_matches('/').to_owned();
        let graph_origin = origin(&graph_url).ok_or_else(|| {
            Error::Config(format!(
                "field `graph_url`: not an http(s) URL: {graph_url}"
            ))
        })?;
        Ok(GraphClient {
            auth: TokenSource::new(config, credential, login_route, Arc::clone(&gate)),
            route,
            graph_url,
            graph_origin,
            page_size: config.page_size,
            track_permissions: config.track_permissions,
            item_provenance: config.item_provenance,
            gate,
            downloads: DownloadRoutes::new(config, &env),
        })
    }

    /// The gate all requests of this client pass through.
    pub fn gate(&self) -> &Arc<ThrottleGate> {
        &self.gate
    }

    /// The routes to download hosts.
    pub(crate) fn download_routes(&self) -> &DownloadRoutes {
        &self.downloads
    }

    /// First delta URL of a drive: {graph_url}/drives/{id}/root/delta?$select=...&$top={page_size}
    /// ($select = [`DELTA_SELECT`], and [`PROVENANCE_SELECT`] with `item_provenance`).
    pub fn initial_delta_url(&self, drive_id: &str) -> String {
        let provenance = if self.item_provenance {
            PROVENANCE_SELECT
        } else {
            ""
        };
        format!(
            "{}/drives/{}/root/delta?$select={DELTA_SELECT}{provenance}&$top={}",
            self.graph_url,
            encode_path_segment(drive_id),
            self.page_size
        )
    }

    /// One delta page (GET url as is; RequestKind by whether the URL has a token param). 410 → Err(ResyncRequired{location}).
    /// Sends `Prefer: deltashowremovedasdeleted, deltatraversepermissiongaps, deltashowsharingchanges, hierarchicalsharing`
    /// when config.track_permissions.
    pub fn delta_page(&self, url: &str) -> Result<DeltaPage> {
        let kind = if has_token_param(url) {
            RequestKind::DeltaWithToken
        } else {
            RequestKind::DeltaInitial
        };
        let prefer = [("Prefer", PREFER_SHARING)];
        let headers: &[(&str, &str)] = if self.track_permissions { &prefer } else { &[] };
        let reply = self.execute("GET", url, None, headers, kind)?;
        if reply.status == 410 {
            return Err(Error::ResyncRequired {
                location: reply.location,
            });
        }
        let page: DeltaPage = reply.success()?.decode()?;
        if page.next_link.is_none() && page.delta_link.is_none() {
            return Err(Error::Protocol(
                "delta page has neither @odata.nextLink nor @odata.deltaLink".into(),
            ));
        }
        Ok(page)
    }

    /// GET a path (relative to graph_url, e.g. "/sites?$top=100") or absolute URL; JSON-decoded.
    pub fn get_json<T: DeserializeOwned>(&self, path_or_url: &str, kind: RequestKind) -> Result<T> {
        self.get_json_with(path_or_url, &[], kind)
    }

    /// [`GraphClient::get_json`] with extra headers (e.g. `Prefer: odata.maxpagesize=100`).
    pub fn get_json_with<T: DeserializeOwned>(
        &self,
        path_or_url: &str,
        headers: &[(&str, &str)],
        kind: RequestKind,
    ) -> Result<T> {
        self.execute("GET", path_or_url, None, headers, kind)?
            .success()?
            .decode()
    }

    /// POST/PATCH with a JSON body (extra headers e.g. Prefer); returns the decoded JSON body (serde_json::Value::Null for empty).
    pub fn send_json(
        &self,
        method: &str,
        path_or_url: &str,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
        kind: RequestKind,
    ) -> Result<serde_json::Value> {
        let reply = self
            .execute(method, path_or_url, Some(body), headers, kind)?
            .success()?;
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        reply.decode()
    }

    /// GET a path or URL and return the answer whatever its status (after retries).
    pub(crate) fn get_reply(&self, path_or_url: &str, kind: RequestKind) -> Result<Reply> {
        self.execute("GET", path_or_url, None, &[], kind)
    }

    /// DELETE a path or URL: 204/200 are success; 404 → Err(Graph 404).
    pub fn delete(&self, path_or_url: &str) -> Result<()> {
        self.execute("DELETE", path_or_url, None, &[], RequestKind::Write)?
            .success()?;
        Ok(())
    }

    /// Sends one request with retries and returns the final answer, whatever its status.
    ///
    /// 401 refreshes the token and retries once; 429/503 pause the gate, other 5xx and
    /// transport failures back off; all of these are bounded by `throttle.max_attempts`.
    /// Other statuses are returned at once.
    fn execute(
        &self,
        method: &str,
        path_or_url: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
        kind: RequestKind,
    ) -> Result<Reply> {
        let url = self.resolve(path_or_url)?;
        let mut failures = 0;
        let mut refreshed = false;
        loop {
            let token = self.auth.token()?;
            let mut request = self
                .route
                .agent
                .request(method, &url)
                .set("Authorization", &token.bearer())
                .set("Accept", "application/json");
            for (name, value) in headers {
                request = request.set(name, value);
            }
            // Last check of the pause instant, right before the request leaves.
            self.gate.acquire_in(kind.cost(), kind.lane())?;
            let outcome = match body {
                Some(json) => request.send_json(json),
                None => request.call(),
            };
            let failure = match outcome {
                Ok(response) => {
                    self.observe(&response);
                    log::debug!("{method} {url} -> {}", response.status());
                    match Reply::read(response) {
                        Ok(reply) => return Ok(reply),
                        Err(Error::Transport(m)) => Retryable::Transport(m),
                        Err(e) => return Err(e),
                    }
                }
                Err(ureq::Error::Status(status, response)) => {
                    // Pause everyone before anything else, reading the body included.
                    self.observe(&response);
                    log::debug!("{method} {url} -> {status}");
                    let reply = match Reply::read(response) {
                        Ok(reply) => reply,
                        Err(Error::Transport(_)) => Reply {
                            status,
                            location: None,
                            body: Vec::new(),
                        },
                        Err(e) => return Err(e),
                    };
                    match status {
                        401 if !refreshed => {
                            refreshed = true;
                            self.auth.invalidate(&token);
                            continue;
                        }
                        429 | 503 => Retryable::Throttled(reply),
                        500..=599 => Retryable::Server(reply),
                        _ => return Ok(reply),
                    }
                }
                Err(ureq::Error::Transport(t)) => {
                    log::debug!("{method} {url} failed: {t}");
                    if !is_retryable_transport(&t) {
                        return Err(Error::Transport(self.route.failure(&t)));
                    }
                    Retryable::Transport(self.route.failure(&t))
                }
            };
            failures += 1;
            if failures >= self.gate.max_attempts() {
                log::warn!("{method} {url} failed after {failures} attempts");
                return match failure {
                    Retryable::Throttled(reply) | Retryable::Server(reply) => Ok(reply),
                    Retryable::Transport(message) => Err(Error::Transport(message)),
                };
            }
            self.gate.on_retry();
            if !matches!(failure, Retryable::Throttled(_)) {
                self.gate.sleep(self.gate.retry_delay(failures))?;
            }
        }
    }

    /// Feeds the gate with what any answer says about throttling: status first
    /// (never the body), then RateLimit-* headers, or their absence on a success.
    fn observe(&self, response: &ureq::Response) {
        let status = response.status();
        if status == 429 || status == 503 {
            let retry_after = response
                .header("Retry-After")
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            self.gate.on_throttled(retry_after);
        } else {
            self.gate.on_success();
        }
        let number = |name: &str| {
            response
                .header(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let (limit, remaining, reset) = (
            number("RateLimit-Limit"),
            number("RateLimit-Remaining"),
            number("RateLimit-Reset"),
        );
        if limit.is_some() || remaining.is_some() || reset.is_some() {
            self.gate.on_rate_limit(limit, remaining, reset);
        } else if (200..400).contains(&status) {
            self.gate.on_no_rate_limit();
        }
    }

    /// Whether `url` is an absolute URL on Graph's origin (scheme, host and port), so
    /// that following it sends the bearer token nowhere else.
    pub fn is_graph_url(&self, url: &str) -> bool {
        origin(url).is_some_and(|o| o == self.graph_origin)
    }

    /// An absolute URL for `path_or_url`. Absolute URLs must stay on Graph's origin:
    /// the bearer token is never sent elsewhere.
    fn resolve(&self, path_or_url: &str) -> Result<String> {
        match origin(path_or_url) {
            Some(o) if o == self.graph_origin => Ok(path_or_url.to_owned()),
            Some(o) => Err(Error::InvalidInput(format!(
                "refusing to send the Graph token to {o} (Graph is {})",
                self.graph_origin
            ))),
            None if path_or_url.starts_with('/') => Ok(format!("{}{path_or_url}", self.graph_url)),
            None => Ok(format!("{}/{path_or_url}", self.graph_url)),
        }
    }
}

/// `scheme://authority` of an http(s) URL, lowercased; `None` for anything else.
pub(crate) fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// Whether a delta URL carries a token (`token=` or `$deltatoken=` query parameter).
fn has_token_param(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else {
        return false;
    };
    query.split('&').any(|pair| {
        let key = pair.split('=').next().unwrap_or_default();
        matches!(key, "token" | "$deltatoken" | "%24deltatoken")
    })
}

/// Percent-encodes what may not appear raw in one path segment.
pub(crate) fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
