//! The built-in notification listener: tiny_http on a socket with read and write
//! timeouts, a few request threads, and the checks of [`Intake`].
//!
//! Each request is answered (202 for a notification batch) before its signals are
//! dispatched, and dispatching only marks drives dirty: no Graph call ever happens on
//! a request thread. A slow or oversized request holds one request thread for at most
//! about twice `read_timeout` and never the others.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use crate::error::{Error, Result};
use crate::urlcode;
use crate::webhook::intake::Intake;
use crate::webhook::stats::Rejection;

/// How often idle request threads look at the stop flag.
const POLL: Duration = Duration::from_millis(200);
/// Size of each read of a request body.
const READ_CHUNK: usize = 16 * 1024;

/// How the listener treats requests.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    /// The only path notifications and validation requests are accepted on.
    pub path: String,
    /// Largest body read; larger ones get 413.
    pub max_body_bytes: usize,
    /// Limit of each socket read and of reading a whole body.
    pub read_timeout: Duration,
    /// Request threads.
    pub threads: usize,
}

/// A running listener. Dropping it stops it.
pub struct Listener {
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl Listener {
    /// Binds `listen` (e.g. `127.0.0.1:0`) and starts the request threads.
    pub fn start(listen: &str, options: ListenerOptions, intake: Arc<Intake>) -> Result<Listener> {
        let socket = bind(listen, options.read_timeout)?;
        let addr = socket.local_addr()?;
        let server = tiny_http::Server::from_listener(socket, None)
            .map_err(|e| Error::Config(format!("field `webhook.listen`: {e}")))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let options = Arc::new(options);
        let workers = (0..options.threads.max(1))
            .map(|i| {
                let (server, stop) = (server.clone(), stop.clone());
                let (options, intake) = (options.clone(), intake.clone());
                std::thread::Builder::new()
                    .name(format!("m365sync-webhook-{i}"))
                    .spawn(move || {
                        while !stop.load(Ordering::SeqCst) {
                            match server.recv_timeout(POLL) {
                                Ok(Some(rq)) => serve(rq, &options, &intake),
                                Ok(None) => {}
                                Err(e) => {
                                    warn!("webhook listener failed: {e}");
                                    std::thread::sleep(POLL);
                                }
                            }
                        }
                    })
                    .map_err(Error::Io)
            })
            .collect::<Result<Vec<_>>>()?;
        info!("webhook listener on {addr}{}", options.path);
        Ok(Listener {
            server,
            workers,
            stop,
            addr,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the request threads and waits for them. Idempotent.
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

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A listening socket whose accepted connections inherit read and write timeouts
/// (Linux and the BSDs copy them on accept), so that tiny_http's header reading and
/// our body reading both give up on silent clients.
fn bind(listen: &str, timeout: Duration) -> Result<TcpListener> {
    let bad = |why: String| Error::Config(format!("field `webhook.listen`: {listen}: {why}"));
    let addr = listen
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("resolves to no address".into()))?;
    let listener = TcpListener::bind(addr).map_err(|e| bad(e.to_string()))?;
    let sock = socket2::SockRef::from(&listener);
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    Ok(listener)
}

/// An answer: status and a short text body.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn new(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.to_string(),
        }
    }
}

fn serve(mut rq: tiny_http::Request, options: &ListenerOptions, intake: &Intake) {
    let mut pending = None;
    let answer = match answer(&mut rq, options, intake) {
        Ok((answer, verified)) => {
            pending = verified;
            answer
        }
        Err(why) => {
            intake.refused(why);
            rejection_answer(why)
        }
    };
    let mut response = tiny_http::Response::from_string(answer.body)
        .with_status_code(answer.status)
        .with_chunked_threshold(usize::MAX);
    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"text/plain"[..]) {
        response.add_header(h);
    }
    if answer.status == 405 {
        if let Ok(h) = tiny_http::Header::from_bytes(&b"Allow"[..], &b"POST"[..]) {
            response.add_header(h);
        }
    }
    if let Err(e) = rq.respond(response) {
        debug!("webhook client went away: {e}");
    }
    // Only now, with Graph answered, does the engine hear about it.
    if let Some(verified) = pending {
        intake.dispatch(verified);
    }
}

type Handled = (Answer, Option<crate::webhook::intake::Verified>);

fn answer(
    rq: &mut tiny_http::Request,
    options: &ListenerOptions,
    intake: &Intake,
) -> std::result::Result<Handled, Rejection> {
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    if path != options.path {
        return Err(Rejection::WrongPath);
    }
    if *rq.method() != tiny_http::Method::Post {
        return Err(Rejection::WrongMethod);
    }
    if let Some(token) = validation_token(query)? {
        let echo = intake.validation_response(&token)?;
        return Ok((Answer::new(200, &echo), None));
    }
    if rq.body_length().is_some_and(|n| n > options.max_body_bytes) {
        return Err(Rejection::TooLarge);
    }
    let body = read_body(rq, options)?;
    let verified = intake.verify(&body)?;
    Ok((Answer::new(202, ""), Some(verified)))
}

/// The decoded `validationToken` query parameter, if present.
fn validation_token(query: &str) -> std::result::Result<Option<String>, Rejection> {
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "validationToken" {
            return urlcode::decode(value, true)
                .map(Some)
                .ok_or(Rejection::BadValidationToken);
        }
    }
    Ok(None)
}

/// Reads the body up to the size limit and within the time limit.
fn read_body(
    rq: &mut tiny_http::Request,
    options: &ListenerOptions,
) -> std::result::Result<Vec<u8>, Rejection> {
    let deadline = Instant::now() + options.read_timeout;
    let mut body = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let reader = rq.as_reader();
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(body),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                return Err(Rejection::Timeout);
            }
            Err(e) => {
                debug!("reading a notification body failed: {e}");
                return Err(Rejection::Malformed);
            }
        };
        if body.len() + n > options.max_body_bytes {
            return Err(Rejection::TooLarge);
        }
        body.extend_from_slice(&chunk[..n]);
        if Instant::now() > deadline {
            return Err(Rejection::Timeout);
        }
    }
}

fn rejection_answer(why: Rejection) -> Answer {
    match why {
        Rejection::WrongPath => Answer::new(404, "not found"),
        Rejection::WrongMethod => Answer::new(405, "method not allowed"),
        Rejection::TooLarge => Answer::new(413, "request body too large"),
        Rejection::Timeout => Answer::new(408, "request timeout"),
        Rejection::Malformed
        | Rejection::BadValidationToken
        | Rejection::UnknownSubscription
        | Rejection::BadClientState => Answer::new(400, "bad request"),
    }
}
