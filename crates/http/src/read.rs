//! Reading a request off the wire: the head up to its blank line, then the body by
//! `Content-Length` or chunked coding, each within its deadline and size limit.

use std::time::Instant;

use crate::parse::Framing;
use crate::wire::{ReadFailure, Wire};

/// Why a request could not be read whole.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The deadline passed (408).
    Timeout,
    /// The peer closed the connection, or it failed.
    Closed,
    /// The request line (414) or the head (431) is over its limit.
    HeadTooLarge(u16),
    /// The body is over its limit (413).
    BodyTooLarge,
    /// The chunked coding is broken (400).
    Malformed,
}

impl From<ReadFailure> for ReadError {
    fn from(f: ReadFailure) -> ReadError {
        match f {
            ReadFailure::Timeout => ReadError::Timeout,
            ReadFailure::Closed => ReadError::Closed,
        }
    }
}

/// Longest chunk-size or trailer line of a chunked body.
const MAX_CHUNK_LINE: usize = 4096;

/// Reads a request head (without its blank line) before `deadline`, skipping empty
/// lines before it (RFC 9112 §2.2). The head and its request line may be at most
/// `max_head` and `max_request_line` bytes.
pub(crate) fn head(
    wire: &mut Wire,
    max_head: usize,
    max_request_line: usize,
    deadline: Instant,
) -> Result<Vec<u8>, ReadError> {
    let mut scanned: usize = 0;
    loop {
        let leading = wire
            .buffered()
            .iter()
            .take_while(|&&c| c == b'\r' || c == b'\n')
            .count();
        wire.consume(leading);
        scanned = scanned.saturating_sub(leading);
        let buffered = wire.buffered();
        let end = head_end(buffered, scanned);
        if end.map_or(buffered.len(), |e| e.0) > max_head {
            let line_ends = buffered.iter().position(|&c| c == b'\n');
            return Err(ReadError::HeadTooLarge(match line_ends {
                Some(n) if n <= max_request_line + 1 => 431,
                _ => 414,
            }));
        }
        if let Some((head_len, consumed)) = end {
            let head = buffered[..head_len].to_vec();
            wire.consume(consumed);
            return Ok(head);
        }
        scanned = buffered.len().saturating_sub(3);
        wire.fill(deadline)?;
    }
}

/// Where the blank line ending a head is: (end of the head, end of the blank line).
fn head_end(buffered: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while let Some(n) = buffered[i..].iter().position(|&c| c == b'\n') {
        let lf = i + n;
        match buffered.get(lf + 1..) {
            Some([b'\n', ..]) => return Some((lf + 1, lf + 2)),
            Some([b'\r', b'\n', ..]) => return Some((lf + 1, lf + 3)),
            _ => i = lf + 1,
        }
    }
    None
}

/// Reads a body framed by `framing`, at most `max` bytes, before `deadline`.
pub(crate) fn body(
    wire: &mut Wire,
    framing: Framing,
    max: usize,
    deadline: Instant,
) -> Result<Vec<u8>, ReadError> {
    match framing {
        Framing::Empty => Ok(Vec::new()),
        Framing::Length(n) => {
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n <= max)
                .ok_or(ReadError::BodyTooLarge)?;
            exactly(wire, n, deadline)
        }
        Framing::Chunked => chunked(wire, max, deadline),
    }
}

fn exactly(wire: &mut Wire, n: usize, deadline: Instant) -> Result<Vec<u8>, ReadError> {
    while wire.buffered().len() < n {
        wire.fill(deadline)?;
    }
    Ok(wire.take(n))
}

/// Decodes a chunked body; chunk extensions and trailer fields are read and ignored.
fn chunked(wire: &mut Wire, max: usize, deadline: Instant) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let size_line = line(wire, deadline)?;
        let digits = size_line
            .split(|&c| c == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii_end();
        if digits.is_empty() || digits.len() > 16 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(ReadError::Malformed);
        }
        let size = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| u64::from_str_radix(d, 16).ok())
            .ok_or(ReadError::Malformed)?;
        if size == 0 {
            let mut trailers = 0;
            while !line(wire, deadline)?.is_empty() {
                trailers += 1;
                if trailers > 64 {
                    return Err(ReadError::Malformed);
                }
            }
            return Ok(body);
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= max.saturating_sub(body.len()))
            .ok_or(ReadError::BodyTooLarge)?;
        body.extend(exactly(wire, size, deadline)?);
        if !line(wire, deadline)?.is_empty() {
            return Err(ReadError::Malformed);
        }
    }
}

/// One line of a chunked body, without its CRLF (or bare LF).
fn line(wire: &mut Wire, deadline: Instant) -> Result<Vec<u8>, ReadError> {
    loop {
        if let Some(lf) = wire.buffered().iter().position(|&c| c == b'\n') {
            let mut line = wire.take(lf + 1);
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(line);
        }
        if wire.buffered().len() > MAX_CHUNK_LINE {
            return Err(ReadError::Malformed);
        }
        wire.fill(deadline)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Stream;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// A wire whose peer has sent `bytes` and then closed its side.
    fn wire_with(bytes: &[u8]) -> Wire {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.write_all(bytes).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        Wire::new(Stream::Plain(listener.accept().unwrap().0))
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[test]
    fn heads_end_at_the_blank_line_and_leave_the_rest() {
        let mut w = wire_with(b"\r\nGET / HTTP/1.1\r\nA: b\r\n\r\nxyz");
        assert_eq!(
            head(&mut w, 100, 50, soon()).unwrap(),
            b"GET / HTTP/1.1\r\nA: b\r\n"
        );
        assert_eq!(w.buffered(), b"xyz");
        let mut lf = wire_with(b"GET / HTTP/1.1\nA: b\n\n");
        assert_eq!(
            head(&mut lf, 100, 50, soon()).unwrap(),
            b"GET / HTTP/1.1\nA: b\n"
        );
        let mut long_line = wire_with(&[b'a'; 200]);
        assert_eq!(
            head(&mut long_line, 100, 50, soon()),
            Err(ReadError::HeadTooLarge(414))
        );
        let mut many = wire_with(format!("GET / HTTP/1.1\r\n{}", "a: b\r\n".repeat(40)).as_bytes());
        assert_eq!(
            head(&mut many, 100, 50, soon()),
            Err(ReadError::HeadTooLarge(431))
        );
        let mut cut = wire_with(b"GET / HTTP/1.1\r\n");
        assert_eq!(head(&mut cut, 100, 50, soon()), Err(ReadError::Closed));
    }

    #[test]
    fn chunked_bodies_are_decoded_within_the_limit() {
        let coded = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\nnext";
        let mut w = wire_with(coded);
        assert_eq!(
            body(&mut w, Framing::Chunked, 100, soon()).unwrap(),
            b"hello, world"
        );
        assert_eq!(w.buffered(), b"next");
        let mut big = wire_with(coded);
        assert_eq!(
            body(&mut big, Framing::Chunked, 11, soon()),
            Err(ReadError::BodyTooLarge)
        );
        for broken in [
            &b"x\r\n"[..],
            b"5\r\nhelloX\r\n",
            b"fffffffffffffffff\r\n",
            b"\r\n",
        ] {
            let mut w = wire_with(broken);
            assert_eq!(
                body(&mut w, Framing::Chunked, 100, soon()),
                Err(ReadError::Malformed)
            );
        }
        let mut huge = wire_with(b"ffffffffffffffff\r\n");
        assert_eq!(
            body(&mut huge, Framing::Chunked, 100, soon()),
            Err(ReadError::BodyTooLarge)
        );
    }

    #[test]
    fn length_bodies_are_read_exactly_or_refused() {
        let mut w = wire_with(b"abcdef");
        assert_eq!(
            body(&mut w, Framing::Length(4), 10, soon()).unwrap(),
            b"abcd"
        );
        assert_eq!(
            body(&mut w, Framing::Length(11), 10, soon()),
            Err(ReadError::BodyTooLarge)
        );
        assert_eq!(
            body(&mut w, Framing::Length(5), 10, soon()),
            Err(ReadError::Closed)
        );
    }

    #[test]
    fn a_silent_peer_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut w = Wire::new(Stream::Plain(listener.accept().unwrap().0));
        let deadline = Instant::now() + Duration::from_millis(50);
        assert_eq!(head(&mut w, 100, 50, deadline), Err(ReadError::Timeout));
    }
}
