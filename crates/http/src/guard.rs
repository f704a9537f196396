//! A connection's transport as hyper sees it: plain TCP or TLS underneath, with the
//! deadlines hyper does not keep itself. While a request head is awaited, the first
//! byte must come within `idle_timeout` (else the connection closes quietly) and the
//! whole head within `read_timeout` of it (else `408`), and the request line may be
//! at most `max_request_line` long (else `414`; hyper alone would only see a head
//! over its buffer and answer `431`). Each write must progress within
//! `write_timeout`. Nothing here parses HTTP: the only byte looked for is the LF
//! that ends the request line.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;

use crate::Refusal;
use crate::connection::Conn;

/// The transport of one connection.
pub(crate) enum Stream {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    /// The TCP socket underneath, to read past the TLS session (draining).
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_mut().0,
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Stream::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

/// How far the awaited request line has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// Nothing but empty lines yet (RFC 9112 §2.2 lets a server skip them).
    Leading,
    /// This many bytes of the request line, without an LF so far.
    Request(usize),
    /// The request line has ended.
    Ended,
}

impl Line {
    /// Follows `bytes`; true when the request line (with its CR) is over `max` bytes.
    pub(crate) fn follow(&mut self, mut bytes: &[u8], max: usize) -> bool {
        loop {
            match self {
                Line::Leading => {
                    let empty = bytes.iter().take_while(|&&c| c == b'\r' || c == b'\n');
                    bytes = &bytes[empty.count()..];
                    if bytes.is_empty() {
                        return false;
                    }
                    *self = Line::Request(0);
                }
                Line::Request(seen) => {
                    let (len, ended) = match bytes.iter().position(|&c| c == b'\n') {
                        Some(lf) => (*seen + lf, true),
                        None => (*seen + bytes.len(), false),
                    };
                    *self = if ended {
                        Line::Ended
                    } else {
                        Line::Request(len)
                    };
                    return len > max + 1;
                }
                Line::Ended => return false,
            }
        }
    }
}

/// The transport with the deadlines and the request-line limit.
pub(crate) struct Guard {
    stream: Stream,
    conn: Arc<Conn>,
    head_timer: Pin<Box<Sleep>>,
    write_timer: Option<Pin<Box<Sleep>>>,
    write_timeout: Duration,
}

impl Guard {
    pub(crate) fn new(stream: Stream, conn: Arc<Conn>) -> Guard {
        let write_timeout = conn.options().write_timeout;
        Guard {
            stream,
            conn,
            head_timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            write_timer: None,
            write_timeout,
        }
    }

    pub(crate) fn into_stream(self) -> Stream {
        self.stream
    }

    /// Waits for the head deadline while a head is awaited: a silent client is closed
    /// (end of stream), a slow head refused (an error: the connection answers 408).
    fn head_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((deadline, started)) = self.conn.head_deadline() else {
            return Poll::Pending;
        };
        if self.head_timer.deadline() != deadline {
            self.head_timer.as_mut().reset(deadline);
        }
        ready!(self.head_timer.as_mut().poll(cx));
        if !started {
            return Poll::Ready(Ok(())); // idle too long: nothing asked, nothing to answer
        }
        self.conn.refuse(408, Refusal::Timeout);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the request head did not arrive in time",
        )))
    }

    /// Bounds a write by `write_timeout` of no progress.
    fn write_deadline<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.write_timer = None;
            return poll;
        }
        let timeout = self.write_timeout;
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(timer.as_mut().poll(cx));
        self.write_timer = None;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client does not take the response",
        )))
    }
}

impl AsyncRead for Guard {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if !new.is_empty() && this.conn.head_bytes(new) {
                    this.conn.refuse(414, Refusal::HeadTooLarge);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "request line too long",
                    )));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.head_deadline(cx),
            failed => failed,
        }
    }
}

impl AsyncWrite for Guard {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.write_deadline(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.write_deadline(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_flush(cx);
        let poll = this.write_deadline(cx, poll);
        if let Poll::Ready(Ok(())) = poll {
            // hyper flushes once a response is wholly written: its follow-up work may run.
            this.conn.run_after();
        }
        poll
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.write_deadline(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_is_measured_after_empty_lines_until_its_lf() {
        let mut line = Line::Leading;
        assert!(!line.follow(b"\r\n\r\nGET /abc", 10));
        assert_eq!(line, Line::Request(8));
        assert!(!line.follow(b"de HTTP", 20));
        assert!(line.follow(b"/1.1", 15), "19 bytes, no LF yet");
        let mut ended = Line::Leading;
        assert!(!ended.follow(b"GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaa", 15));
        assert_eq!(ended, Line::Ended);
        assert!(
            !ended.follow(&[b'a'; 100], 15),
            "header lines are hyper's to limit"
        );
        let mut long = Line::Leading;
        assert!(long.follow(b"GET /0123456789 HTTP/1.1\r\n", 15));
    }
}
