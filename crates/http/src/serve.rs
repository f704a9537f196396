//! One connection's life: requests read, handled and answered in turn until the
//! client or a rule closes it.

use std::io::Read;
use std::net::Shutdown;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::parse::{Framing, HeadLimits, parse_head};
use crate::read::{self, ReadError};
use crate::server::{Phase, Shared, Slot};
use crate::wire::{Stream, Wire};
use crate::{Refusal, Reply, Request, Response};

/// How long a closing connection drains what the client still sends, so that the
/// error answer is not destroyed by a reset (closing with unread data resets).
const LINGER: Duration = Duration::from_secs(1);
/// Most bytes drained while lingering.
const LINGER_BYTES: usize = 1024 * 1024;

/// Serves requests on `stream` until it closes.
pub(crate) fn connection(stream: Stream, slot: &Slot, shared: &Shared) {
    let options = &shared.options;
    let limits = HeadLimits {
        max_request_line: options.max_request_line,
        max_headers: options.max_headers,
    };
    let mut wire = Wire::new(stream);
    while !shared.stopping() {
        slot.set(Phase::Idle);
        if wire.buffered().is_empty() && wire.fill(Instant::now() + options.idle_timeout).is_err() {
            return; // idle too long, or closed: nothing was asked, nothing to answer
        }
        slot.set(Phase::Reading);
        let deadline = Instant::now() + options.read_timeout;
        let head = read::head(
            &mut wire,
            options.max_head_bytes,
            options.max_request_line,
            deadline,
        );
        let parsed = match head.map(|h| parse_head(&h, limits)) {
            Ok(Ok(parsed)) => parsed,
            Ok(Err(e)) => {
                let why = if matches!(e.status, 414 | 431) {
                    Refusal::HeadTooLarge
                } else {
                    Refusal::Malformed
                };
                return refuse(&mut wire, shared, why, e.status, e.reason);
            }
            Err(e) => return refuse_read(&mut wire, shared, e),
        };
        let is_head = parsed.head.method == "HEAD";
        let close = !parsed.keep_alive;
        if let Some(response) = shared.handler.head(&parsed.head) {
            // The body is left unread: the connection cannot carry another request.
            let close = close || parsed.framing != Framing::Empty;
            if !respond(&mut wire, shared, response, close, is_head) || close {
                return linger(&mut wire);
            }
            continue;
        }
        if matches!(parsed.framing, Framing::Length(n) if n > options.max_body_bytes as u64) {
            return refuse_read(&mut wire, shared, ReadError::BodyTooLarge);
        }
        if parsed.expect_continue
            && parsed.framing != Framing::Empty
            && wire
                .send(&[b"HTTP/1.1 100 Continue\r\n\r\n"], options.write_timeout)
                .is_err()
        {
            return;
        }
        let deadline = Instant::now() + options.read_timeout;
        let body = match read::body(&mut wire, parsed.framing, options.max_body_bytes, deadline) {
            Ok(body) => body,
            Err(e) => return refuse_read(&mut wire, shared, e),
        };
        slot.set(Phase::Handling);
        let (method, path) = (parsed.head.method.clone(), parsed.head.path().to_string());
        let request = Request {
            head: parsed.head,
            body,
        };
        let reply = {
            let _pass = shared.active.enter();
            catch_unwind(AssertUnwindSafe(|| shared.handler.handle(request)))
        };
        let reply = reply.unwrap_or_else(|_| {
            log::error!("{}: the handler panicked on {method} {path}", options.name);
            Reply::Respond(Response::text(500, "internal error\n"))
        });
        match reply {
            Reply::Reset => return reset(wire.stream()),
            Reply::Respond(response) => {
                let close = close || shared.stopping();
                if !respond(&mut wire, shared, response, close, is_head) || close {
                    return;
                }
            }
        }
    }
}

/// Writes a response (no body for `HEAD`), then runs its follow-up work; false when
/// the client is gone.
fn respond(
    wire: &mut Wire,
    shared: &Shared,
    mut response: Response,
    close: bool,
    is_head: bool,
) -> bool {
    let after = response.take_after();
    let head = response.head_bytes(close);
    let no_body = is_head || response.status < 200 || response.status == 204;
    let body: &[u8] = if no_body { &[] } else { &response.body };
    let sent = wire.send(&[&head, body], shared.options.write_timeout);
    if let Err(e) = &sent {
        log::debug!("{}: the client went away: {e}", shared.options.name);
    }
    if let Some(after) = after {
        after();
    }
    sent.is_ok()
}

/// Answers a request that could not be read whole, if anyone is there to hear it.
fn refuse_read(wire: &mut Wire, shared: &Shared, e: ReadError) {
    let (why, status, reason) = match e {
        ReadError::Closed => return,
        ReadError::Timeout => (Refusal::Timeout, 408, "request timeout"),
        ReadError::HeadTooLarge(status) => {
            (Refusal::HeadTooLarge, status, "request head too large")
        }
        ReadError::BodyTooLarge => (Refusal::BodyTooLarge, 413, "request body too large"),
        ReadError::Malformed => (Refusal::Malformed, 400, "malformed chunked body"),
    };
    refuse(wire, shared, why, status, reason);
}

/// Tells the handler, answers `status` and closes.
fn refuse(wire: &mut Wire, shared: &Shared, why: Refusal, status: u16, reason: &str) {
    log::debug!(
        "{}: refused a request: {status} {reason}",
        shared.options.name
    );
    shared.handler.refused(why);
    if respond(
        wire,
        shared,
        Response::text(status, format!("{reason}\n")),
        true,
        false,
    ) {
        linger(wire);
    }
}

/// Half-closes, then reads and drops what the client still sends for a moment.
fn linger(wire: &mut Wire) {
    let tcp = wire.stream().tcp();
    let _ = tcp.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 8192];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tcp.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&mut &*tcp).read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// Drops the connection with a TCP reset (`SO_LINGER` 0, then close).
fn reset(stream: &Stream) {
    let tcp = stream.tcp();
    if let Err(e) = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO)) {
        log::debug!("cannot arm a reset: {e}");
    }
    // The socket closes (and resets) once the table's second handle goes too.
}
