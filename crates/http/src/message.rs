//! Requests as handlers see them, and the responses they give back.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// A request's method, target and header fields (its body is read separately).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// The method as sent, e.g. `POST` (methods are case-sensitive).
    pub method: String,
    /// The request target's path and query, still percent-encoded (an absolute-form
    /// target, RFC 9112 §3.2.2, is reduced to them).
    pub target: String,
    /// Header fields, each name in the order of its first appearance, in lower case
    /// (compare them case-insensitively); values trimmed.
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
pub(crate) type After = Box<dyn FnOnce() + Send>;

/// A response: status, header fields and body, sent with `Content-Length`.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields; the server adds `Content-Length`, `Date` and `Connection`
    /// itself and ignores those (and `Transfer-Encoding`) when given here. Names are
    /// sent in title case (`content-type` as `Content-Type`).
    pub headers: Vec<(String, String)>,
    /// The body; not sent for `HEAD` requests, though its length is announced.
    /// Ignored when the body is a stream ([`Response::with_stream`]).
    pub body: Vec<u8>,
    stream: Option<BodyStream>,
    after: Option<After>,
}

/// A body produced chunk by chunk: its announced length, and its chunks.
pub(crate) struct BodyStream {
    pub(crate) length: u64,
    pub(crate) chunks: Chunks,
}

/// The chunks of a streamed body.
pub(crate) type Chunks = Box<dyn Iterator<Item = Vec<u8>> + Send>;

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body_len())
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
            stream: None,
            after: None,
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// The server's own answer to a request it refuses: `status` and its reason.
    pub(crate) fn refusal(status: u16) -> Response {
        Response::text(status, format!("{}\n", reason(status).to_ascii_lowercase()))
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

    /// Sets a body of `length` bytes made by `chunks`, which the server takes one at a
    /// time on its blocking pool as the client reads, so a large body is never held
    /// in memory whole. `Content-Length` announces `length`; chunks that end short of
    /// it (or run past it) end the connection mid-body: a truncated response.
    pub fn with_stream(
        mut self,
        length: u64,
        chunks: impl Iterator<Item = Vec<u8>> + Send + 'static,
    ) -> Response {
        self.body = Vec::new();
        self.stream = Some(BodyStream {
            length,
            chunks: Box::new(chunks),
        });
        self
    }

    /// The length of the body, whole or streamed.
    fn body_len(&self) -> u64 {
        self.stream
            .as_ref()
            .map_or(self.body.len() as u64, |s| s.length)
    }

    /// Takes the streamed body, if any.
    pub(crate) fn take_stream(&mut self) -> Option<BodyStream> {
        self.stream.take()
    }

    /// Runs `after` once the response has been written to the socket (or writing it
    /// failed, or the client went away): work that must not delay the answer. It runs
    /// on the server's I/O thread, so it must be quick (hand long work to a thread).
    pub fn then(mut self, after: impl FnOnce() + Send + 'static) -> Response {
        self.after = Some(Box::new(after));
        self
    }

    /// Takes the work registered with [`Response::then`].
    pub(crate) fn take_after(&mut self) -> Option<After> {
        self.after.take()
    }

    /// The header fields to send: the handler's, less those that could break the
    /// framing (CR, LF, NUL, a name that is no token) or that the server manages,
    /// then `Date`, `Content-Length` (not for 1xx and 204, RFC 9110 §8.6) and, when
    /// the connection closes after this response, `Connection: close`.
    pub(crate) fn header_map(&self, close: bool) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.headers.len() + 3);
        let managed = ["content-length", "transfer-encoding", "connection", "date"];
        for (name, value) in &self.headers {
            if managed.iter().any(|m| name.eq_ignore_ascii_case(m)) {
                continue;
            }
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => {
                    map.append(name, value);
                }
                _ => log::warn!("dropping a malformed response header field {name:?}"),
            }
        }
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        map.insert(
            header::DATE,
            HeaderValue::from_str(&date).expect("an HTTP date"),
        );
        if self.status >= 200 && self.status != 204 {
            map.insert(header::CONTENT_LENGTH, HeaderValue::from(self.body_len()));
        }
        if close {
            map.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        map
    }

    /// The whole response as bytes on the wire, closing the connection: for the few
    /// answers sent where hyper has no request (a head refused by its deadline or
    /// its request line, `503` at the connection cap).
    pub(crate) fn wire_bytes(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status)).into_bytes();
        for (name, value) in &self.header_map(true) {
            out.extend(title_case(name.as_str()).into_bytes());
            out.extend(b": ");
            out.extend(value.as_bytes());
            out.extend(b"\r\n");
        }
        out.extend(b"\r\n");
        out.extend(&self.body);
        out
    }
}

/// The reason phrase of a status code (informative only; clients ignore it).
pub(crate) fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Status")
}

/// `content-type` as `Content-Type`, as hyper sends names (`title_case_headers`).
fn title_case(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let c = if upper { c.to_ascii_uppercase() } else { c };
            upper = c == '-';
            c
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_carry_length_and_drop_unsafe_or_managed_fields() {
        let r = Response::text(200, "hello")
            .with_header("X-Ok", "1")
            .with_header("X-Bad", "a\r\nSet-Cookie: x")
            .with_header("Content-Length", "99")
            .with_header("Bad:Name", "x");
        let map = r.header_map(true);
        assert_eq!(map["x-ok"], "1");
        assert_eq!(map["content-length"], "5");
        assert_eq!(map["connection"], "close");
        assert!(map.contains_key("date"));
        assert!(!map.contains_key("x-bad") && !map.contains_key("set-cookie"));
        assert_eq!(map.len(), 5, "{map:?}");
        let no_content = Response::new(204).header_map(false);
        assert!(
            !no_content.contains_key("content-length") && !no_content.contains_key("connection")
        );
    }

    #[test]
    fn answers_sent_without_hyper_are_whole_and_close() {
        let bytes = Response::text(408, "late\n").wire_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nContent-Length: 5\r\n")
                && text.contains("\r\nConnection: close\r\n")
        );
        assert!(text.ends_with("\r\n\r\nlate\n"), "{text}");
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
