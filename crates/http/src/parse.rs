//! Parsing a request head (request line and header fields) strictly: anything
//! ambiguous is refused rather than guessed, because guesses are how request
//! smuggling starts.

use crate::message::Head;

/// Limits of a request head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    /// Longest request line (method, target, version).
    pub max_request_line: usize,
    /// Most header fields.
    pub max_headers: usize,
}

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed head and what it says about the connection.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// Method, target and header fields.
    pub head: Head,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the client allows the connection to stay open after the response.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (HTTP/1.1 only).
    pub expect_continue: bool,
}

/// Why a head was refused, with the status to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeadError {
    /// 400, 414, 417, 431, 501 or 505.
    pub status: u16,
    /// A short reason for the log and the body.
    pub reason: &'static str,
}

fn bad(reason: &'static str) -> HeadError {
    HeadError {
        status: 400,
        reason,
    }
}

/// `tchar` of RFC 9110: the characters of methods and header names.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// Parses `bytes`: the head up to and excluding the blank line that ends it.
/// Lines end in CRLF; a bare LF is accepted (RFC 9112 allows it), a bare CR is not.
pub(crate) fn parse_head(bytes: &[u8], limits: HeadLimits) -> Result<Parsed, HeadError> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut lines = bytes
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    if request_line.len() > limits.max_request_line {
        return Err(HeadError {
            status: 414,
            reason: "request line too long",
        });
    }
    let (method, target, version) = request_line_parts(request_line)?;
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == limits.max_headers {
            return Err(HeadError {
                status: 431,
                reason: "too many header fields",
            });
        }
        headers.push(header_field(line)?);
    }
    let head = Head {
        method,
        target,
        headers,
    };
    let framing = framing(&head, version)?;
    let connection = |option: &str| {
        head.headers_named("connection")
            .flat_map(|v| v.split(','))
            .any(|o| o.trim().eq_ignore_ascii_case(option))
    };
    let keep_alive = match version {
        Version::Http11 => !connection("close"),
        Version::Http10 => connection("keep-alive") && !connection("close"),
    };
    let expect_continue = match head.header("expect") {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("100-continue") => version == Version::Http11,
        Some(_) => {
            return Err(HeadError {
                status: 417,
                reason: "unsupported expectation",
            });
        }
    };
    Ok(Parsed {
        head,
        framing,
        keep_alive,
        expect_continue,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Http10,
    Http11,
}

fn request_line_parts(line: &[u8]) -> Result<(String, String, Version), HeadError> {
    let mut parts = line.split(|&c| c == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !is_token(method) {
        return Err(bad("malformed method"));
    }
    // Origin form (`/path?query`), or the absolute form servers must accept too (RFC
    // 9112 §3.2.2; clients send it through proxies, ureq even inside CONNECT tunnels),
    // reduced to its origin form. Visible ASCII only; no `*`.
    let target = origin_form(target);
    if target.first() != Some(&b'/') || !target.iter().all(|c| c.is_ascii_graphic()) {
        return Err(bad("malformed request target"));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        v if v.starts_with(b"HTTP/") => {
            return Err(HeadError {
                status: 505,
                reason: "HTTP version not supported",
            });
        }
        _ => return Err(bad("malformed HTTP version")),
    };
    // Both checked to be ASCII above.
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok((text(method), text(target), version))
}

/// The path and query of an absolute-form target (`/` when it has neither); any other
/// target as it is.
fn origin_form(target: &[u8]) -> &[u8] {
    let lower = target.to_ascii_lowercase();
    let scheme = [&b"http://"[..], b"https://"]
        .into_iter()
        .find(|s| lower.starts_with(s));
    let Some(scheme) = scheme else {
        return target;
    };
    let rest = &target[scheme.len()..];
    match rest.iter().position(|&c| c == b'/' || c == b'?') {
        Some(i) if rest[i] == b'/' => &rest[i..],
        // `http://host?query` has no path to keep the query on: refused below.
        Some(_) => target,
        None => b"/",
    }
}

fn header_field(line: &[u8]) -> Result<(String, String), HeadError> {
    if line.first().is_some_and(|&c| c == b' ' || c == b'\t') {
        return Err(bad("folded header field"));
    }
    let colon = line
        .iter()
        .position(|&c| c == b':')
        .ok_or_else(|| bad("header field without a colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if !is_token(name) {
        return Err(bad("malformed header field name"));
    }
    let value = value.trim_ascii();
    if value.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f) {
        return Err(bad("control character in a header field"));
    }
    let value = std::str::from_utf8(value).map_err(|_| bad("header field is not UTF-8"))?;
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        value.to_string(),
    ))
}

/// The body's framing (RFC 9112 §6.3): chunked or Content-Length, never both.
fn framing(head: &Head, version: Version) -> Result<Framing, HeadError> {
    let mut codings = head
        .headers_named("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .peekable();
    if codings.peek().is_some() {
        let chunked_only = codings.all(|c| c.eq_ignore_ascii_case("chunked"));
        if version == Version::Http10 || head.header("content-length").is_some() {
            return Err(bad("Transfer-Encoding with HTTP/1.0 or Content-Length"));
        }
        // Only `chunked`, once: other codings (gzip, ...) are not implemented.
        let count = head
            .headers_named("transfer-encoding")
            .flat_map(|v| v.split(','))
            .count();
        return if chunked_only && count == 1 {
            Ok(Framing::Chunked)
        } else {
            Err(HeadError {
                status: 501,
                reason: "transfer coding not implemented",
            })
        };
    }
    let mut length = None;
    for value in head
        .headers_named("content-length")
        .flat_map(|v| v.split(','))
    {
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("malformed Content-Length"));
        }
        let n: u64 = value.parse().map_err(|_| bad("malformed Content-Length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(bad("conflicting Content-Length values"));
        }
        length = Some(n);
    }
    Ok(match length {
        None | Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn absolute_targets_are_reduced_to_their_origin_form() {
        assert_eq!(origin_form(b"https://h:1/a/b?c=d"), b"/a/b?c=d");
        assert_eq!(origin_form(b"HTTP://h"), b"/");
        assert_eq!(origin_form(b"/x"), b"/x");
        assert_eq!(origin_form(b"http://h?q"), b"http://h?q");
        assert_eq!(origin_form(b"ftp://h/x"), b"ftp://h/x");
    }

    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_request_line: 64,
        max_headers: 4,
    };

    fn parse(head: &str) -> Result<Parsed, HeadError> {
        parse_head(head.as_bytes(), LIMITS)
    }

    fn status(head: &str) -> u16 {
        parse(head).map_or_else(|e| e.status, |_| 200)
    }

    #[test]
    fn a_plain_request_is_parsed() {
        let p = parse("POST /hook?validationToken=a%20b HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nX-A:  b c \r\n")
            .unwrap();
        assert_eq!(p.head.method, "POST");
        assert_eq!(p.head.path(), "/hook");
        assert_eq!(p.head.query(), "validationToken=a%20b");
        assert_eq!(p.head.header("x-a"), Some("b c"));
        assert_eq!(p.framing, Framing::Length(12));
        assert!(p.keep_alive && !p.expect_continue);
    }

    #[test]
    fn connection_options_and_expectations() {
        assert!(
            !parse("GET / HTTP/1.1\r\nConnection: Close\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(!parse("GET / HTTP/1.0\r\n").unwrap().keep_alive);
        assert!(
            parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(
            parse("POST / HTTP/1.1\r\nExpect: 100-Continue\r\n")
                .unwrap()
                .expect_continue
        );
        assert!(
            !parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\n")
                .unwrap()
                .expect_continue
        );
        assert_eq!(status("POST / HTTP/1.1\r\nExpect: something\r\n"), 417);
    }

    #[test]
    fn framing_is_unambiguous() {
        let chunked = parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n").unwrap();
        assert_eq!(chunked.framing, Framing::Chunked);
        assert_eq!(
            parse("POST / HTTP/1.1\r\nContent-Length: 0\r\n")
                .unwrap()
                .framing,
            Framing::Empty
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n")
                .unwrap()
                .framing,
            Framing::Length(5)
        );
        for smuggled in [
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +5\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n",
        ] {
            assert_eq!(status(smuggled), 400, "{smuggled}");
        }
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n"),
            501
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n"),
            501
        );
    }

    #[test]
    fn malformed_heads_get_their_status() {
        assert_eq!(
            status(&format!("GET /{} HTTP/1.1\r\n", "a".repeat(64))),
            414
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n"),
            431
        );
        assert_eq!(status("GET / HTTP/2.0\r\n"), 505);
        for broken in [
            "",
            "GET /\r\n",
            "GET  / HTTP/1.1\r\n",
            "GET http://x?q HTTP/1.1\r\n",
            "GET ftp://x/ HTTP/1.1\r\n",
            "G(T / HTTP/1.1\r\n",
            "GET /a\u{7f} HTTP/1.1\r\n",
            "GET / HTTP/1.1\r\n folded: x\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n",
            "GET / HTTP/1.1\r\nbad name: x\r\n",
            "GET / HTTP/1.1\r\nx: a\u{1}b\r\n",
            "GET / HTTP/1.1\r\nx: a\rb\r\n",
        ] {
            assert_eq!(status(broken), 400, "{broken:?}");
        }
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nx: \xff\r\n", LIMITS)
                .unwrap_err()
                .status,
            400
        );
    }

    proptest::proptest! {
        #[test]
        fn any_head_is_parsed_or_refused_without_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            if let Err(e) = parse_head(&bytes, LIMITS) {
                proptest::prop_assert!([400, 414, 417, 431, 501, 505].contains(&e.status));
            }
        }
    }
}
