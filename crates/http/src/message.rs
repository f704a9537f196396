//! Requests as handlers see them, and the responses they give back.

use std::fmt::Write as _;

/// A request's method, target and header fields (its body is read separately).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// The method as sent, e.g. `POST` (methods are case-sensitive).
    pub method: String,
    /// The request target as sent: path and query, still percent-encoded.
    pub target: String,
    /// Header fields in order, values trimmed; names compared case-insensitively.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The target's path (before any `?`), still percent-encoded.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The target's query (after the first `?`), still percent-encoded; empty if none.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A whole request: its head and its body (decoded if it was chunked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Method, target and header fields.
    pub head: Head,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// Work to run once a response has been written.
type After = Box<dyn FnOnce() + Send>;

/// A response: status, header fields and body, sent with `Content-Length`.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields; the server adds `Content-Length`, `Date` and `Connection`
    /// itself and ignores those (and `Transfer-Encoding`) when given here.
    pub headers: Vec<(String, String)>,
    /// The body; not sent for `HEAD` requests, though its length is announced.
    pub body: Vec<u8>,
    after: Option<After>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Response {
    /// A response with this status and no body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            after: None,
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: Vec<u8>) -> Response {
        self.body = body;
        self
    }

    /// Runs `after` on the connection's thread once the response has been written
    /// (or writing it failed): work that must not delay the answer.
    pub fn then(mut self, after: impl FnOnce() + Send + 'static) -> Response {
        self.after = Some(Box::new(after));
        self
    }

    /// Takes the work registered with [`Response::then`].
    pub(crate) fn take_after(&mut self) -> Option<After> {
        self.after.take()
    }

    /// The status line and header fields, ending with the blank line.
    /// Header fields that could break the framing (CR, LF, NUL) are dropped.
    pub(crate) fn head_bytes(&self, close: bool) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        let managed = ["content-length", "transfer-encoding", "connection", "date"];
        for (name, value) in &self.headers {
            if managed.iter().any(|m| name.eq_ignore_ascii_case(m)) {
                continue;
            }
            let safe =
                |s: &str| !s.is_empty() && !s.bytes().any(|c| matches!(c, b'\r' | b'\n' | 0));
            if !safe(name) || name.contains(':') || !(value.is_empty() || safe(value)) {
                log::warn!("dropping a malformed response header field {name:?}");
                continue;
            }
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let _ = write!(head, "Date: {date}\r\n");
        // 1xx and 204 have no body, and no Content-Length (RFC 9110 §8.6).
        if self.status >= 200 && self.status != 204 {
            let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// What a handler wants done with a request.
#[derive(Debug)]
pub enum Reply {
    /// Send this response.
    Respond(Response),
    /// Reset the connection without answering (TCP RST): a simulated network fault.
    Reset,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Reply {
        Reply::Respond(response)
    }
}

/// The reason phrase of a status code (informative only; clients ignore it).
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_carry_length_and_drop_unsafe_or_managed_fields() {
        let r = Response::text(200, "hello")
            .with_header("X-Ok", "1")
            .with_header("X-Bad", "a\r\nSet-Cookie: x")
            .with_header("Content-Length", "99")
            .with_header("Bad:Name", "x");
        let head = String::from_utf8(r.head_bytes(true)).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("X-Ok: 1\r\n"));
        assert!(head.contains("Content-Length: 5\r\n"));
        assert!(head.contains("Connection: close\r\n"));
        assert!(!head.contains("Set-Cookie") && !head.contains("99") && !head.contains("Bad:"));
        assert!(head.ends_with("\r\n\r\n"));
    }

    #[test]
    fn path_and_query_split_at_the_first_question_mark() {
        let head = Head {
            target: "/a/b?x=1?y".into(),
            ..Head::default()
        };
        assert_eq!((head.path(), head.query()), ("/a/b", "x=1?y"));
    }
}
