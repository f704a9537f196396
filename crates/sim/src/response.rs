//! HTTP responses produced by the simulator's handlers, independent of the HTTP server.

use serde_json::{Value, json};

/// A finished response: status, headers and body (whole, or streamed).
#[derive(Debug)]
pub struct SimResponse {
    /// HTTP status code.
    pub status: u16,
    /// Extra headers (Content-Type is among them when there is a body).
    pub headers: Vec<(String, String)>,
    /// The body bytes; empty when the body is streamed.
    pub body: Vec<u8>,
    /// A body made as the client reads it (file downloads), instead of `body`.
    pub stream: Option<BodyStream>,
}

/// A body produced chunk by chunk as the client reads it, so a large file is never
/// held in memory whole.
pub struct BodyStream {
    /// The length `Content-Length` announces.
    pub length: u64,
    /// The chunks, taken one at a time. Chunks that end short of `length` end the
    /// connection mid-body; the HTTP server cuts chunks that run past it.
    pub chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStream")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl SimResponse {
    /// A JSON response from already-serialised bytes.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> SimResponse {
        SimResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
            stream: None,
        }
    }

    /// A JSON response from a `serde_json::Value`.
    pub fn json(status: u16, value: &Value) -> SimResponse {
        SimResponse::json_bytes(status, value.to_string().into_bytes())
    }

    /// An empty response (e.g. 204 No Content).
    pub fn empty(status: u16) -> SimResponse {
        SimResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            stream: None,
        }
    }

    /// A Graph-shaped error: `{"error":{"code","message","innerError":{...}}}`.
    pub fn graph_error(status: u16, code: &str, message: &str) -> SimResponse {
        SimResponse::json(
            status,
            &json!({
                "error": {
                    "code": code,
                    "message": message,
                    "innerError": {
                        "date": httpdate::fmt_http_date(std::time::SystemTime::now()),
                        "request-id": "00000000-0000-0000-0000-000000000000",
                    }
                }
            }),
        )
    }

    /// Sets a streamed body of `length` bytes made by `chunks` (see [`BodyStream`]).
    pub fn with_stream(
        mut self,
        length: u64,
        chunks: impl Iterator<Item = Vec<u8>> + Send + 'static,
    ) -> SimResponse {
        self.body = Vec::new();
        self.stream = Some(BodyStream {
            length,
            chunks: Box::new(chunks),
        });
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> SimResponse {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_error_is_graph_shaped() {
        let r = SimResponse::graph_error(404, "itemNotFound", "no such item");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["code"], "itemNotFound");
        assert!(v["error"]["innerError"].is_object());
        assert_eq!(r.status, 404);
    }
}
