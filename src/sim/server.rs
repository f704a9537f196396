//! The HTTP front: tiny_http with a fixed pool of worker threads.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sim::request::SimRequest;
use crate::sim::response::SimResponse;
use crate::sim::router::Outcome;
use crate::urlcode;
use crate::{Error, Result};

/// Largest request body accepted.
const MAX_BODY: u64 = 16 * 1024 * 1024;
/// How often idle workers look at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// Turns a request into an outcome; must not block for long.
pub(crate) type Handler = Arc<dyn Fn(&SimRequest) -> Outcome + Send + Sync>;

/// A running listener and its workers.
pub(crate) struct HttpServer {
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// The bound address.
    pub addr: SocketAddr,
}

impl HttpServer {
    /// Binds `listen` and starts `threads` workers calling `handler`.
    pub fn start(listen: &str, threads: usize, handler: Handler) -> Result<HttpServer> {
        let socket = crate::net::listen_nodelay(listen)
            .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
        let server = tiny_http::Server::from_listener(socket, None)
            .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| Error::Config(format!("{listen} is not an IP address")))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..threads)
            .map(|i| {
                let (server, stop, handler) = (server.clone(), stop.clone(), handler.clone());
                std::thread::Builder::new()
                    .name(format!("sim-http-{i}"))
                    .spawn(move || worker(&server, &stop, &handler))
                    .map_err(Error::Io)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(HttpServer {
            server,
            workers,
            stop,
            addr,
        })
    }

    /// Stops the workers and waits for them.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker(server: &tiny_http::Server, stop: &AtomicBool, handler: &Handler) {
    while !stop.load(Ordering::SeqCst) {
        match server.recv_timeout(POLL) {
            Ok(Some(rq)) => serve_one(rq, handler),
            Ok(None) => {}
            Err(e) => {
                log::warn!("simulator listener failed: {e}");
                std::thread::sleep(POLL);
            }
        }
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
