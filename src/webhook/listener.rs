//! The built-in notification listener: tiny_http, a few request threads, and the
//! checks of [`Intake`].
//!
//! Each request is answered (202 for a notification batch) before its signals are
//! dispatched, and dispatching only marks drives dirty: no Graph call ever happens on
//! a request thread.
//!
//! tiny_http 0.12 gives no access to the sockets, so no socket timeout can be set
//! (one on the listening socket would also time out its accept loop, which then
//! stops for good). Bodies are therefore read on their own short-lived threads, at
//! most [`MAX_BODY_READERS`] at once: a slow client never holds a request thread; a
//! body that keeps trickling is cut off at `read_timeout` (408), one over the size
//! limit at once (413). A client that goes silent holds its body thread until it
//! disconnects; put the reverse proxy's timeouts in front of the listener. (Bodies
//! of at most 1 KiB are read whole by tiny_http's own per-connection threads before
//! the request is queued, so they never reach a request thread slowly either.)

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use crate::error::{Error, Result};
use crate::net::RequestPool;
use crate::urlcode;
use crate::webhook::intake::Intake;
use crate::webhook::stats::Rejection;

/// Size of each read of a request body.
const READ_CHUNK: usize = 16 * 1024;
/// Bodies read at the same time; beyond this, requests get 503 at once.
pub const MAX_BODY_READERS: usize = 64;

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
    /// Serve HTTPS with this certificate.
    pub tls: Option<TlsIdentity>,
}

/// A PEM certificate chain and its private key; `Debug` never shows the key.
#[derive(Clone)]
pub struct TlsIdentity {
    /// PEM certificate chain.
    pub certificate: Vec<u8>,
    /// PEM private key (PKCS#8 or RSA, unencrypted).
    pub private_key: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity(***)")
    }
}

/// A running listener. Dropping it stops it.
pub struct Listener {
    pool: RequestPool,
}

impl Listener {
    /// Binds `listen` (e.g. `127.0.0.1:0`) and starts the request threads.
    pub fn start(listen: &str, options: ListenerOptions, intake: Arc<Intake>) -> Result<Listener> {
        let readers = Arc::new(AtomicUsize::new(0));
        let options = Arc::new(options);
        let handler: crate::net::RequestHandler = {
            let options = options.clone();
            Arc::new(move |rq| serve(rq, &options, &intake, &readers))
        };
        let tls = options.tls.clone().map(|id| tiny_http::SslConfig {
            certificate: id.certificate,
            private_key: id.private_key,
        });
        let pool = RequestPool::start(listen, options.threads, "m365sync-webhook", handler, tls)
            .map_err(|e| Error::Config(format!("field `webhook.listen`: {listen}: {e}")))?;
        info!("webhook listener on {}{}", pool.addr, options.path);
        Ok(Listener { pool })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.pool.addr
    }

    /// Stops the request threads and waits for them. Idempotent.
    pub fn stop(&mut self) {
        self.pool.stop();
    }
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

/// Answers what needs no body at once; hands requests with a body to a reader thread.
fn serve(
    rq: tiny_http::Request,
    options: &Arc<ListenerOptions>,
    intake: &Arc<Intake>,
    readers: &Arc<AtomicUsize>,
) {
    match head(&rq, options, intake) {
        Ok(Some(answer)) => respond(rq, answer),
        Ok(None) => {
            let Some(slot) = ReaderSlot::take(readers) else {
                intake.refused(Rejection::Busy);
                return respond(rq, rejection_answer(Rejection::Busy));
            };
            let (options, intake) = (options.clone(), intake.clone());
            let spawned = std::thread::Builder::new()
                .name("m365sync-webhook-body".into())
                .spawn(move || {
                    let _slot = slot;
                    serve_body(rq, &options, &intake);
                });
            if let Err(e) = spawned {
                warn!("cannot start a body reader: {e}");
            }
        }
        Err(why) => {
            intake.refused(why);
            respond(rq, rejection_answer(why));
        }
    }
}

/// Reads, checks and answers a notification POST, then dispatches its signals.
fn serve_body(mut rq: tiny_http::Request, options: &ListenerOptions, intake: &Intake) {
    let body = match read_body(rq.as_reader(), options) {
        Ok(body) => body,
        Err(why) => {
            intake.refused(why);
            return respond(rq, rejection_answer(why));
        }
    };
    match intake.verify(&body) {
        Ok(verified) => {
            respond(rq, Answer::new(202, ""));
            // Only now, with Graph answered, does the engine hear about it.
            intake.dispatch(verified);
        }
        Err(why) => respond(rq, rejection_answer(why)),
    }
}

/// A place among the [`MAX_BODY_READERS`], given back on drop.
struct ReaderSlot(Arc<AtomicUsize>);

impl ReaderSlot {
    fn take(readers: &Arc<AtomicUsize>) -> Option<ReaderSlot> {
        readers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_BODY_READERS).then_some(n + 1)
            })
            .ok()
            .map(|_| ReaderSlot(readers.clone()))
    }
}

impl Drop for ReaderSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn respond(rq: tiny_http::Request, answer: Answer) {
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
}

/// Checks path, method, validation token and announced size: `Some` answer when the
/// request is settled without its body, `None` when the body must be read.
fn head(
    rq: &tiny_http::Request,
    options: &ListenerOptions,
    intake: &Intake,
) -> std::result::Result<Option<Answer>, Rejection> {
    let url = rq.url();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if path != options.path {
        return Err(Rejection::WrongPath);
    }
    if *rq.method() != tiny_http::Method::Post {
        return Err(Rejection::WrongMethod);
    }
    if let Some(token) = validation_token(query) {
        // An undecodable token is refused like an empty one (and counted once, there).
        return Ok(Some(
            match intake.validation_response(token.as_deref().unwrap_or_default()) {
                Ok(echo) => Answer::new(200, &echo),
                Err(why) => rejection_answer(why),
            },
        ));
    }
    if rq.body_length().is_some_and(|n| n > options.max_body_bytes) {
        return Err(Rejection::TooLarge);
    }
    Ok(None)
}

/// The `validationToken` query parameter if present: decoded, or `None` when its
/// percent-encoding is broken.
fn validation_token(query: &str) -> Option<Option<String>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == "validationToken").then(|| urlcode::decode(value, true))
    })
}

/// Reads the body up to the size limit and within the time limit.
fn read_body(
    reader: &mut dyn Read,
    options: &ListenerOptions,
) -> std::result::Result<Vec<u8>, Rejection> {
    let deadline = Instant::now() + options.read_timeout;
    let mut body = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
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
                return Err(Rejection::Timeout);
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
        Rejection::Busy => Answer::new(503, "busy"),
        Rejection::Malformed
        | Rejection::BadValidationToken
        | Rejection::UnknownSubscription
        | Rejection::BadClientState => Answer::new(400, "bad request"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields one byte per read, pausing first: a client that trickles.
    struct Trickle(Duration);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            std::thread::sleep(self.0);
            buf[0] = b'x';
            Ok(1)
        }
    }

    fn options(max_body_bytes: usize, read_timeout: Duration) -> ListenerOptions {
        ListenerOptions {
            path: "/n".into(),
            max_body_bytes,
            read_timeout,
            threads: 1,
            tls: None,
        }
    }

    #[test]
    fn trickling_bodies_time_out_and_big_ones_stop_at_the_limit() {
        let slow = options(1 << 20, Duration::from_millis(100));
        let mut trickle = Trickle(Duration::from_millis(5));
        assert_eq!(read_body(&mut trickle, &slow), Err(Rejection::Timeout));
        let small = options(64, Duration::from_secs(600));
        let mut endless = Trickle(Duration::ZERO);
        assert_eq!(read_body(&mut endless, &small), Err(Rejection::TooLarge));
        let mut body: &[u8] = b"{\"value\":[]}";
        assert_eq!(read_body(&mut body, &small).unwrap(), b"{\"value\":[]}");
    }

    #[test]
    fn validation_tokens_are_found_and_decoded() {
        assert_eq!(validation_token(""), None);
        assert_eq!(validation_token("a=1"), None);
        assert_eq!(
            validation_token("a=1&validationToken=x%20y+z"),
            Some(Some("x y z".into()))
        );
        assert_eq!(validation_token("validationToken=%zz"), Some(None));
    }
}
