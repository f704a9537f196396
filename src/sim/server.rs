//! The HTTP front: tiny_http with a fixed pool of worker threads.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::net::RequestPool;
use crate::sim::request::SimRequest;
use crate::sim::response::SimResponse;
use crate::sim::router::Outcome;
use crate::urlcode;
use crate::{Error, Result};

/// Largest request body accepted.
const MAX_BODY: u64 = 16 * 1024 * 1024;
/// Turns a request into an outcome; must not block for long.
pub(crate) type Handler = Arc<dyn Fn(&SimRequest) -> Outcome + Send + Sync>;

/// A running listener and its workers (stopped on drop).
pub(crate) struct HttpServer {
    pool: RequestPool,
    /// The bound address.
    pub addr: SocketAddr,
}

impl HttpServer {
    /// Binds `listen` and starts `threads` workers calling `handler`.
    pub fn start(listen: &str, threads: usize, handler: Handler) -> Result<HttpServer> {
        let serve: crate::net::RequestHandler = Arc::new(move |rq| serve_one(rq, &handler));
        let pool = RequestPool::start(listen, threads, "sim-http", serve, None)
            .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
        Ok(HttpServer {
            addr: pool.addr,
            pool,
        })
    }

    /// Stops the workers and waits for them.
    pub fn stop(&mut self) {
        self.pool.stop();
    }
}

/// Reads a tiny_http request into a [`SimRequest`], or the 4xx to answer.
fn read_request(rq: &mut tiny_http::Request) -> std::result::Result<SimRequest, SimResponse> {
    let mut body = Vec::new();
    if rq
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .is_err()
    {
        return Err(SimResponse::graph_error(
            400,
            "invalidRequest",
            "The request body could not be read",
        ));
    }
    if body.len() as u64 > MAX_BODY {
        return Err(SimResponse::graph_error(
            413,
            "requestTooLarge",
            "The request body is too large",
        ));
    }
    let url = rq.url().to_string();
    let (raw_path, raw_query) = url.split_once('?').unwrap_or((&url, ""));
    let malformed =
        || SimResponse::graph_error(400, "invalidRequest", "Malformed URL: bad percent-encoding");
    let path = urlcode::decode(raw_path, false).ok_or_else(malformed)?;
    let query = urlcode::parse_pairs(raw_query).ok_or_else(malformed)?;
    Ok(SimRequest {
        method: rq.method().as_str().to_ascii_uppercase(),
        path,
        query,
        headers: rq
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        body,
    })
}

fn serve_one(mut rq: tiny_http::Request, handler: &Handler) {
    let outcome = match read_request(&mut rq) {
        Ok(req) => catch_unwind(AssertUnwindSafe(|| handler(&req))).unwrap_or_else(|_| {
            log::error!("simulator handler panicked on {} {}", req.method, req.path);
            Outcome::Reply(SimResponse::graph_error(
                500,
                "generalException",
                "The simulator failed on this request",
            ))
        }),
        Err(resp) => Outcome::Reply(resp),
    };
    match outcome {
        Outcome::Reply(resp) => {
            // Content-Length rather than chunks: one large write per body.
            let mut out = tiny_http::Response::from_data(resp.body)
                .with_status_code(resp.status)
                .with_chunked_threshold(usize::MAX);
            for (k, v) in &resp.headers {
                if k.eq_ignore_ascii_case("content-length") {
                    continue;
                }
                match tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                    Ok(h) => out.add_header(h),
                    Err(()) => log::warn!("dropping invalid response header {k}"),
                }
            }
            if let Err(e) = rq.respond(out) {
                log::debug!("client went away: {e}");
            }
        }
        Outcome::Reset => {
            // tiny_http does not expose the socket: write a line that is not HTTP so the
            // client fails at once with a transport error and drops the connection.
            let mut w = rq.into_writer();
            let _ = w.write_all(b"\0RESET\r\n\r\n");
            let _ = w.flush();
        }
    }
}
