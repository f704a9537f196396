//! One request as hyper hands it over: checked against the limits hyper does not
//! keep itself, its body read within its deadline and size, the handler run on the
//! blocking pool, and its response turned into hyper's.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;

use http::header::{self, HeaderMap};
use http::request::Parts;
use http::{StatusCode, Version};
use http_body::Body as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use crate::body::ResponseBody;
use crate::connection::Conn;
use crate::{Head, Refusal, Reply, Request, Response};

/// Why hyper is to drop a connection without an answer.
#[derive(Debug)]
pub(crate) enum Abort {
    /// The handler asked for a reset.
    Reset,
    /// The client went away while its body was read.
    Gone,
}

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Abort::Reset => "the handler asked for a reset",
            Abort::Gone => "the client went away",
        })
    }
}

impl std::error::Error for Abort {}

/// The hyper service of one connection.
pub(crate) struct Service {
    conn: Arc<Conn>,
}

impl Service {
    pub(crate) fn new(conn: Arc<Conn>) -> Service {
        Service { conn }
    }
}

type Answer = Result<hyper::Response<ResponseBody>, Abort>;

impl hyper::service::Service<hyper::Request<Incoming>> for Service {
    type Response = hyper::Response<ResponseBody>;
    type Error = Abort;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        Box::pin(serve(self.conn.clone(), request))
    }
}

async fn serve(conn: Arc<Conn>, request: hyper::Request<Incoming>) -> Answer {
    conn.request_arrived();
    let shared = conn.shared().clone();
    let options = &shared.options;
    let (parts, body) = request.into_parts();
    let close = wants_close(&parts) || shared.stopping();
    let head = match head_of(&parts, options.max_request_line, options.max_head_bytes) {
        Ok(head) => head,
        Err((status, why)) => return Ok(refuse(&conn, status, why)),
    };
    let has_body = !body.is_end_stream();
    match catch_unwind(AssertUnwindSafe(|| shared.handler.head(&head))) {
        // The body is left unread: the connection cannot carry another request.
        Ok(Some(response)) => {
            if has_body {
                conn.linger();
            }
            return Ok(respond(&conn, response, close || has_body));
        }
        Ok(None) => {}
        Err(_) => return Ok(panicked(&conn, &head)),
    }
    let max = options.max_body_bytes;
    if body.size_hint().lower() > max as u64 {
        return Ok(refuse(&conn, 413, Refusal::BodyTooLarge));
    }
    let read = tokio::time::timeout(options.read_timeout, Limited::new(body, max).collect());
    let body = match read.await {
        Ok(Ok(body)) => body.to_bytes(),
        Err(_) => return Ok(refuse(&conn, 408, Refusal::Timeout)),
        Ok(Err(e)) if e.is::<LengthLimitError>() => {
            return Ok(refuse(&conn, 413, Refusal::BodyTooLarge));
        }
        Ok(Err(e)) if malformed(&*e) => return Ok(refuse(&conn, 400, Refusal::Malformed)),
        Ok(Err(e)) => {
            log::debug!("{}: reading a body failed: {e}", options.name);
            return Err(Abort::Gone);
        }
    };
    conn.handling();
    let handler = shared.handler.clone();
    let request = Request {
        head,
        body: body.into(),
    };
    let (method, path) = (request.head.method.clone(), request.head.path().to_string());
    let reply = tokio::task::spawn_blocking(move || handler.handle(request)).await;
    match reply {
        Ok(Reply::Respond(response)) => Ok(respond(&conn, response, close || shared.stopping())),
        Ok(Reply::Reset) => {
            conn.reset();
            Err(Abort::Reset)
        }
        Err(_) => {
            log::error!("{}: the handler panicked on {method} {path}", options.name);
            Ok(respond(&conn, internal_error(), close))
        }
    }
}

/// What handlers see of a request head, or the status refusing it: limits hyper
/// does not keep (a request line that reached hyper whole, a head smaller than its
/// smallest buffer), codings and expectations this server does not implement.
fn head_of(
    parts: &Parts,
    max_request_line: usize,
    max_head: usize,
) -> Result<Head, (u16, Refusal)> {
    let malformed = (400, Refusal::Malformed);
    // Origin form, or the absolute form servers must accept too (RFC 9112 §3.2.2;
    // clients send it through proxies, ureq even inside CONNECT tunnels) reduced to
    // it; never authority form (CONNECT), never a scheme other than http(s).
    if parts
        .uri
        .scheme_str()
        .is_some_and(|s| !s.eq_ignore_ascii_case("http") && !s.eq_ignore_ascii_case("https"))
    {
        return Err(malformed);
    }
    let target = parts.uri.path_and_query().ok_or(malformed)?.as_str();
    let line = parts.method.as_str().len() + target.len() + " HTTP/1.1 ".len();
    if line > max_request_line {
        return Err((414, Refusal::HeadTooLarge));
    }
    let mut size = line + 2;
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let value = std::str::from_utf8(value.as_bytes()).map_err(|_| malformed)?;
        size += name.as_str().len() + value.len() + 4;
        headers.push((name.as_str().to_string(), value.to_string()));
    }
    if size > max_head {
        return Err((431, Refusal::HeadTooLarge));
    }
    // hyper decodes a final `chunked` and leaves other codings to us: we have none.
    if parts.headers.contains_key(header::TRANSFER_ENCODING)
        && !tokens(&parts.headers, header::TRANSFER_ENCODING).eq(["chunked"])
    {
        return Err((501, Refusal::Malformed));
    }
    if let Some(expect) = parts.headers.get(header::EXPECT) {
        if !expect.as_bytes().eq_ignore_ascii_case(b"100-continue") {
            return Err((417, Refusal::Malformed));
        }
    }
    Ok(Head {
        method: parts.method.as_str().to_string(),
        target: target.to_string(),
        headers,
    })
}

/// The comma-separated options of every `name` field, lower-cased.
fn tokens(headers: &HeaderMap, name: header::HeaderName) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(name)
        .into_iter()
        .flat_map(|v| {
            std::str::from_utf8(v.as_bytes())
                .unwrap_or_default()
                .split(',')
        })
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
}

/// Whether the client wants the connection closed after this request (RFC 9112 §9.3).
fn wants_close(parts: &Parts) -> bool {
    let mut options = tokens(&parts.headers, header::CONNECTION);
    match parts.version {
        Version::HTTP_11 => options.any(|o| o == "close"),
        _ => {
            let options: Vec<_> = options.collect();
            !options.iter().any(|o| o == "keep-alive") || options.iter().any(|o| o == "close")
        }
    }
}

/// Whether a body failed on broken chunked coding (not on a client gone away).
fn malformed(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
            );
        }
        source = e.source();
    }
    false
}

/// Tells the handler, and answers `status` with the connection closing.
fn refuse(conn: &Arc<Conn>, status: u16, why: Refusal) -> hyper::Response<ResponseBody> {
    log::debug!("{}: refused a request: {status}", conn.options().name);
    conn.shared().handler.refused(why);
    conn.linger();
    respond(conn, Response::refusal(status), true)
}

fn internal_error() -> Response {
    Response::text(500, "internal error\n")
}

fn panicked(conn: &Arc<Conn>, head: &Head) -> hyper::Response<ResponseBody> {
    log::error!(
        "{}: the handler panicked on the head of {} {}",
        conn.options().name,
        head.method,
        head.path()
    );
    respond(conn, internal_error(), true)
}

/// hyper's form of `response`; `HEAD` answers lose their body in hyper.
fn respond(conn: &Arc<Conn>, mut response: Response, close: bool) -> hyper::Response<ResponseBody> {
    let after = response.take_after();
    let headers = response.header_map(close);
    let status = StatusCode::from_u16(response.status).unwrap_or_else(|_| {
        log::error!(
            "{}: the handler answered status {}",
            conn.options().name,
            response.status
        );
        StatusCode::INTERNAL_SERVER_ERROR
    });
    let body = std::mem::take(&mut response.body);
    let stream = response.take_stream();
    let mut out = hyper::Response::new(ResponseBody::new(body, stream, conn.clone(), after));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(request: http::request::Builder) -> Parts {
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn closing_follows_the_version_and_connection_options() {
        let close = |version, connection: Option<&str>| {
            let mut r = http::Request::builder().version(version);
            if let Some(c) = connection {
                r = r.header("connection", c);
            }
            wants_close(&parts(r))
        };
        assert!(!close(Version::HTTP_11, None));
        assert!(close(Version::HTTP_11, Some("Upgrade, Close")));
        assert!(close(Version::HTTP_10, None));
        assert!(!close(Version::HTTP_10, Some("Keep-Alive")));
    }

    #[test]
    fn heads_are_checked_against_what_hyper_leaves_to_us() {
        let head = |r: http::request::Builder| head_of(&parts(r), 64, 200).map_err(|e| e.0);
        let ok = head(
            http::Request::builder()
                .method(http::Method::POST)
                .uri("http://example.com/hook?validationToken=a%20b")
                .header("X-A", "é"),
        )
        .unwrap();
        assert_eq!((ok.path(), ok.query()), ("/hook", "validationToken=a%20b"));
        assert_eq!(ok.header("x-a"), Some("é"));
        let uri = format!("/{}", "a".repeat(60));
        assert_eq!(
            head(http::Request::builder().uri(uri.as_str())).unwrap_err(),
            414
        );
        let many = (0..15).fold(http::Request::builder(), |r, i| {
            r.header(format!("x-{i}"), "v".repeat(10))
        });
        assert_eq!(head(many).unwrap_err(), 431);
        let te = |v| head(http::Request::builder().header("transfer-encoding", v));
        assert!(te("Chunked").is_ok());
        assert_eq!(te("gzip, chunked").unwrap_err(), 501);
        assert_eq!(te("chunked, chunked").unwrap_err(), 501);
        assert_eq!(
            head(http::Request::builder().header("expect", "x")).unwrap_err(),
            417
        );
        assert!(head(http::Request::builder().header("expect", "100-Continue")).is_ok());
        let binary = http::HeaderValue::from_bytes(b"\xff").unwrap();
        assert_eq!(
            head(http::Request::builder().header("x", binary)).unwrap_err(),
            400
        );
    }
}
