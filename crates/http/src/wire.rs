//! One connection's bytes: plain TCP or TLS underneath, a read buffer on top, and
//! every read bounded by a deadline (the socket's read timeout is set to the time
//! left before each read, so a client that trickles cannot stretch it).

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The transport of one connection.
pub(crate) enum Stream {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS (the handshake happens on the first read).
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Why reading stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// The deadline passed.
    Timeout,
    /// The peer closed the connection, or it failed.
    Closed,
}

/// Size of each socket read.
const READ_CHUNK: usize = 16 * 1024;

/// A connection with a read buffer.
pub(crate) struct Wire {
    stream: Stream,
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    pos: usize,
}

impl Wire {
    pub(crate) fn new(stream: Stream) -> Wire {
        Wire {
            stream,
            buf: Vec::new(),
            pos: 0,
        }
    }

    pub(crate) fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The buffered bytes not consumed yet.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks `n` buffered bytes as consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos += n;
        debug_assert!(self.pos <= self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Takes up to `n` buffered bytes.
    pub(crate) fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buffered().len());
        let taken = self.buffered()[..n].to_vec();
        self.consume(n);
        taken
    }

    /// Reads more bytes into the buffer before `deadline`; returns how many.
    pub(crate) fn fill(&mut self, deadline: Instant) -> Result<usize, ReadFailure> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let start = self.buf.len();
        self.buf.resize(start + READ_CHUNK, 0);
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(ReadFailure::Timeout);
            }
            // A zero timeout would mean "none": the deadline check above prevents it.
            if self.stream.tcp().set_read_timeout(Some(left)).is_err() {
                break Err(ReadFailure::Closed);
            }
            match self.stream.read(&mut self.buf[start..]) {
                Ok(0) => break Err(ReadFailure::Closed),
                Ok(n) => break Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue; // the loop's deadline check decides
                }
                Err(e) => {
                    log::trace!("connection read failed: {e}");
                    break Err(ReadFailure::Closed);
                }
            }
        };
        self.buf.truncate(start + *result.as_ref().unwrap_or(&0));
        result
    }

    /// Writes `parts` in order (small ones in one segment) within `timeout` per write.
    pub(crate) fn send(&mut self, parts: &[&[u8]], timeout: Duration) -> io::Result<()> {
        self.stream.tcp().set_write_timeout(Some(timeout))?;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total <= 64 * 1024 {
            self.stream.write_all(&parts.concat())?;
        } else {
            for part in parts {
                self.stream.write_all(part)?;
            }
        }
        self.stream.flush()
    }
}
