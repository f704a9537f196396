//! The content host: a second listener, on another origin than Graph, that serves
//! file bytes at the pre-authenticated download URLs.
//!
//! A request needs no bearer token (the URL is the credential; requests that carry an
//! `Authorization` header are counted, so tests can prove a client never sends its
//! token here). After the URL's check it is charged `costs.download` RU on the
//! tenant's budget and admitted by the egress budget (429 otherwise), then rolled with
//! the fault dice (503, 500, reset) like a Graph request. The body is the item's
//! current content (a URL issued before an edit serves the new bytes, as SharePoint's
//! do), whole (`200`) or one range (`206`, `416` when unsatisfiable), streamed as the
//! client reads, and may be cut, overrun or misplaced by the `download_` faults.

use crate::content::range::{self, Asked};
use crate::content::tempauth::{DOWNLOAD_PATH, Refusal};
use crate::content::{Content, not_modified, with_tags};
use crate::faults::DownloadFault;
use crate::ids;
use crate::request::SimRequest;
use crate::response::SimResponse;
use crate::router::{self, Outcome};
use crate::state::Shared;
use crate::stats::Counters;
use crate::throttle::Verdict;

/// The route label downloads are counted under.
pub(crate) const ROUTE: &str = "GET /_layouts/15/download.aspx";

/// Routes one request to the content host, for the tenant its URL names.
pub(crate) fn dispatch(hub: &crate::hub::Hub, req: &SimRequest) -> Outcome {
    serve(hub.by_download(req), req)
}

/// Serves one content host request of a tenant.
fn serve(shared: &Shared, req: &SimRequest) -> Outcome {
    let c = &shared.counters;
    Counters::bump(&c.download_requests);
    if req.header("authorization").is_some() {
        Counters::bump(&c.download_requests_with_authorization);
    }
    if req.path != DOWNLOAD_PATH {
        c.request("unknown (content host)");
        return Outcome::Reply(SimResponse::graph_error(
            404,
            "itemNotFound",
            &format!("Resource not found: {}", req.path),
        ));
    }
    c.request(ROUTE);
    if req.method != "GET" && req.method != "HEAD" {
        return Outcome::Reply(SimResponse::graph_error(
            405,
            "methodNotAllowed",
            &format!("{} is not allowed here", req.method),
        ));
    }
    let (drive_id, item_id) = match authorised(shared, req) {
        Ok(ids) => ids,
        Err(refused) => return Outcome::Reply(refused),
    };
    let cost = shared.throttle.config().costs.download;
    let mut rate_headers = match router::charge(shared, req, cost) {
        Ok(headers) => headers,
        Err(throttled) => {
            Counters::bump(&c.downloads_throttled);
            return Outcome::Reply(throttled);
        }
    };
    if let Verdict::Throttle {
        retry_after_secs,
        violation,
    } = shared.egress.admit(std::time::Instant::now())
    {
        Counters::bump(&c.downloads_throttled);
        return Outcome::Reply(router::refuse(shared, req, retry_after_secs, violation));
    }
    if let Some(injected) = router::inject(shared) {
        return injected;
    }
    let t = shared.tenant.read();
    let found = t.drive(drive_id).and_then(|d| {
        let drive = &t.drives[d];
        drive.live(item_id).map(|idx| (drive, idx))
    });
    let mut resp = match found {
        Ok((drive, idx)) if drive.items[idx as usize].has_content() => {
            match not_modified(drive, idx, req) {
                Some(unchanged) => unchanged,
                None => with_tags(body(shared, drive.content(idx), req), drive, idx),
            }
        }
        Ok(_) => SimResponse::graph_error(404, "itemNotFound", "The item has no content stream"),
        Err(e) => e.response(),
    };
    resp.headers.append(&mut rate_headers);
    Outcome::Reply(resp)
}

/// The drive and item of a valid, current download URL, or the 401.
fn authorised<'r>(shared: &Shared, req: &'r SimRequest) -> Result<(&'r str, &'r str), SimResponse> {
    let refused = |message: &str| SimResponse::graph_error(401, "unauthenticated", message);
    let (Some(drive), Some(item), Some(token)) = (
        req.query("driveId"),
        req.query("UniqueId"),
        req.query("tempauth"),
    ) else {
        return Err(refused("The download URL is not valid"));
    };
    match shared
        .download_urls
        .check(drive, item, token, ids::unix_now())
    {
        Ok(()) => Ok((drive, item)),
        Err(Refusal::Invalid) => Err(refused("The download URL is not valid")),
        Err(Refusal::Expired) => Err(refused("The download URL has expired")),
    }
}

/// The 200, 206 or 416 for `content`, with the download faults the dice choose.
fn body(shared: &Shared, content: Content, req: &SimRequest) -> SimResponse {
    let len = content.len();
    let (status, first, last) = match range::asked(req.header("range"), len) {
        Asked::All => (200, 0, len),
        Asked::Part { first, last } => (206, first, last + 1),
        Asked::Unsatisfiable => {
            return SimResponse::graph_error(
                416,
                "invalidRange",
                "The requested range is not satisfiable",
            )
            .with_header("Content-Range", format!("bytes */{len}"));
        }
    };
    let (mut start, asked) = (first, last - first);
    let (mut announced, mut produced, mut extra) = (asked, asked, 0);
    match shared.faults.roll_download() {
        DownloadFault::None => {}
        DownloadFault::Cut { fraction, reset } => {
            produced = (asked as f64 * fraction) as u64;
            if reset {
                Counters::bump(&shared.counters.resets_injected);
            }
        }
        DownloadFault::Overrun { extra: more } => {
            announced += more;
            extra = more;
        }
        DownloadFault::WrongRange if status == 206 => {
            // Elsewhere in the file, the same length: from 0, or from 1 if 0 was asked.
            let moved = if start > 0 { 0 } else { 1 };
            if moved + asked <= len {
                start = moved;
            }
        }
        DownloadFault::WrongRange => {}
    }
    let chunks = content
        .chunks(start, start + produced)
        .chain((extra > 0).then(|| vec![0; extra as usize]));
    let resp = SimResponse::empty(status)
        .with_header("Content-Type", "application/octet-stream")
        .with_header("Accept-Ranges", "bytes")
        .with_stream(announced, shared.egress.meter(chunks));
    if status == 206 {
        let end = (start + asked).saturating_sub(1);
        resp.with_header("Content-Range", format!("bytes {start}-{end}/{len}"))
    } else {
        resp
    }
}
