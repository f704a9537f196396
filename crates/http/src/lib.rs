//! A small, strict HTTP/1.1 server: the simulator's front and the webhook listener
//! (an internal crate of m365sync; embedders never call it).
//!
//! One listener thread accepts connections (`TCP_NODELAY`); each connection gets its
//! own thread, up to [`ServerOptions::max_connections`]. At that cap the connection
//! that has waited longest for (the rest of) a request is closed to make room, so
//! idle or trickling clients cannot lock out a real one; only when every connection
//! is busy handling a request does a new one get `503` and is closed.
//!
//! Per request: the head must arrive within `read_timeout` of its first byte, and the
//! body within `read_timeout` after that (else `408` and close); an idle keep-alive
//! connection is closed after `idle_timeout`. Request line, head size and header
//! count are limited (`414`/`431`), malformed or ambiguous framing is refused
//! (`400`; `Transfer-Encoding` other than `chunked`: `501`; HTTP/2 or later: `505`).
//! Bodies come with `Content-Length` or chunked coding (decoded, same size limit,
//! `413`). `Expect: 100-continue` is answered once the head passed its checks,
//! `HEAD` gets the head of the response without the body, and `Connection: close`
//! and HTTP/1.0 are honoured. Responses always carry `Content-Length`.
//!
//! A [`Handler`] may answer from the head alone ([`Handler::head`]: a wrong path
//! need not have its body read), answers whole requests ([`Handler::handle`]) with
//! at most [`ServerOptions::max_active`] running at once, can ask for a TCP reset
//! instead of an answer ([`Reply::Reset`]), and hears of requests the server refused
//! itself ([`Handler::refused`]). [`Server::stop`] closes every connection and joins
//! every thread. HTTPS uses rustls ([`TlsConfig`]).
//!
//! Why not tiny_http (used before): its task pool queued a new connection behind
//! threads blocked on idle keep-alive ones, so a request could sit unread until a
//! client timed out (crawls stalled ~5 s), and it gave no access to the socket: no
//! read timeouts against slow clients, no real connection reset, no connection cap.

mod gate;
mod message;
mod parse;
mod read;
mod serve;
mod server;
mod tls;
pub mod urlcode;
mod wire;

pub use message::{Head, Reply, Request, Response};
pub use server::{Server, ServerOptions};
pub use tls::{TlsConfig, TlsError};

/// A request the server refused on its own, before or instead of the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The head or the chunked coding was malformed (`400`, `417`, `501`, `505`).
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

/// Answers requests; called on connection threads, so it must be quick and not block.
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
