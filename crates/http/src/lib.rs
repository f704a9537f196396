//! The HTTP/1.1 server of the webhook listener and the simulator's front (an internal
//! crate of m365sync; embedders never call it): [hyper] speaks the protocol, this crate
//! adds the limits, the connection cap, synchronous handlers and the simulator's faults.
//!
//! One thread per server runs a single-threaded tokio runtime: it accepts connections
//! (`TCP_NODELAY`) and drives each one's hyper connection. Handlers are synchronous
//! and run on the runtime's blocking pool, at most [`ServerOptions::max_active`] at
//! once. At most [`ServerOptions::max_connections`] connections are open: at that cap
//! the connection that has waited longest for (the rest of) a request is closed to
//! make room, so idle or trickling clients cannot lock out a real one; only when every
//! connection is busy handling a request does a new one get `503` and is closed.
//!
//! Per request: the head must arrive within `read_timeout` of its first byte, and the
//! body within `read_timeout` after that (else `408` and close); an idle keep-alive
//! connection is closed after `idle_timeout`. Request line, head size and header
//! count are limited (`414`/`431`), malformed or ambiguous framing is refused by hyper
//! (`400`: differing `Content-Length`s, folded or malformed header fields, a bare CR;
//! `Transfer-Encoding` other than a single `chunked`: `501`; a request with both
//! `Transfer-Encoding` and `Content-Length` is read by its chunked coding alone and
//! its connection closed after it, as RFC 9112 §6.1 requires). Bodies come with
//! `Content-Length` or chunked coding (decoded, same size limit, `413`, at once when
//! `Content-Length` announces too much). `Expect: 100-continue` is answered when the
//! body is read, `HEAD` gets the head of the response without the body, and
//! `Connection: close` and HTTP/1.0 are honoured. Responses carry `Content-Length`;
//! a large body can be streamed, made chunk by chunk as the client reads it
//! ([`Response::with_stream`]).
//!
//! A [`Handler`] may answer from the head alone ([`Handler::head`]: a wrong path
//! need not have its body read), answers whole requests ([`Handler::handle`]), can ask
//! for a TCP reset instead of an answer ([`Reply::Reset`]), and hears of requests the
//! server refused itself ([`Handler::refused`]); a handler that panics gets `500`.
//! [`Server::stop`] closes every connection (a request being handled is answered
//! first) and joins every thread. HTTPS uses rustls ([`TlsConfig`]).
//!
//! Why hyper: the HTTP/1.1 parser and framing facing the internet are the part most
//! worth taking from a library that many servers run and fuzz, rather than keeping our
//! own; what hyper leaves to its user (deadlines per phase, the cap, resets) is here.
//! Before it, our own parser replaced tiny_http, whose task pool queued new
//! connections behind idle keep-alive ones and gave no access to the socket.

mod body;
mod connection;
mod guard;
mod message;
mod server;
mod service;
mod tls;
pub mod urlcode;

pub use message::{Head, Reply, Request, Response};
pub use server::{Server, ServerOptions};
pub use tls::{TlsConfig, TlsError};

/// A request the server refused on its own, before or instead of the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The head or the chunked coding was malformed (`400`, `417`, `501`).
    Malformed,
    /// The request line or the head was over its limit (`414`, `431`).
    HeadTooLarge,
    /// The body was over [`ServerOptions::max_body_bytes`] (`413`).
    BodyTooLarge,
    /// The head or the body did not arrive in time (`408`).
    Timeout,
    /// The server was at its connection cap: this request was refused (`503`) or cut off.
    Busy,
}

/// Answers requests. [`Handler::handle`] runs on the server's blocking pool and may
/// take its time (it holds one of [`ServerOptions::max_active`] places);
/// [`Handler::head`] and [`Handler::refused`] run on the server's I/O thread and must
/// be quick.
pub trait Handler: Send + Sync + 'static {
    /// Answers a request from its head alone, before its body is read (the body is
    /// then never read and the connection is closed), or `None` to read the body
    /// and call [`Handler::handle`].
    fn head(&self, head: &Head) -> Option<Response> {
        let _ = head;
        None
    }

    /// Answers a whole request.
    fn handle(&self, request: Request) -> Reply;

    /// Told of each request the server refused itself.
    fn refused(&self, why: Refusal) {
        let _ = why;
    }
}

impl<F> Handler for F
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    fn handle(&self, request: Request) -> Reply {
        Reply::Respond(self(request))
    }
}

#[cfg(test)]
mod tests;
