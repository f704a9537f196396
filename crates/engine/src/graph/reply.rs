//! A Graph answer read off the wire, and how it turns into values or typed errors.

use std::io::Read;

use serde::de::DeserializeOwned;

use crate::error::{Error, GraphError, Result};

/// Largest body we read (a 1000-item delta page is a few MB).
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// Longest body excerpt quoted in a protocol error.
const EXCERPT_CHARS: usize = 200;

/// Status, `Location` and body of one HTTP answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Reply {
    /// Reads the whole answer. A failure while reading the body is a transport error
    /// (retryable); a body above the size limit is a protocol error.
    pub fn read(response: ureq::Response) -> Result<Reply> {
        let status = response.status();
        let location = response.header("Location").map(str::to_owned);
        let mut body = Vec::new();
        response
            .into_reader()
            .take(MAX_BODY_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| Error::Transport(format!("reading the answer body: {e}")))?;
        if body.len() as u64 > MAX_BODY_BYTES {
            return Err(Error::Protocol(format!(
                "answer body larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        Ok(Reply {
            status,
            location,
            body,
        })
    }

    /// The reply itself when its status is 2xx, else the Graph error it carries.
    pub fn success(self) -> Result<Reply> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            Err(self.graph_error())
        }
    }

    /// The typed error of a non-2xx answer: `{"error":{"code","message"}}` when the body
    /// has it, empty code and message otherwise.
    pub fn graph_error(&self) -> Error {
        let json: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let field = |name: &str| {
            json.get("error")
                .and_then(|e| e.get(name))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Error::Graph(GraphError {
            status: self.status,
            code: field("code"),
            message: field("message"),
        })
    }

    /// Decodes the body as `T`; a mismatch is a protocol error naming the JSON path and
    /// quoting the start of the body.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            Error::Protocol(format!("{e} (body starts with {:?})", excerpt(&self.body)))
        })
    }
}

/// The first characters of a body, for error messages.
fn excerpt(body: &[u8]) -> String {
    let head = &body[..body.len().min(EXCERPT_CHARS * 4)];
    String::from_utf8_lossy(head)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

/// Whether a transport failure may go away on retry (network trouble, timeouts, resets)
/// rather than being a mistake of ours (bad URL, scheme, redirects).
pub(crate) fn is_retryable_transport(t: &ureq::Transport) -> bool {
    use ureq::ErrorKind::*;
    matches!(
        t.kind(),
        Dns | ConnectionFailed | Io | BadStatus | BadHeader | ProxyConnect
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            location: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn graph_error_bodies_are_parsed_and_other_bodies_tolerated() {
        let e = reply(
            404,
            r#"{"error":{"code":"itemNotFound","message":"The resource could not be found."}}"#,
        )
        .graph_error();
        assert!(
            matches!(&e, Error::Graph(g) if g.status == 404 && g.code == "itemNotFound"
            && g.message == "The resource could not be found.")
        );
        for body in [
            "<html>Bad gateway</html>",
            "",
            r#"{"error":"x"}"#,
            r#"{"error":{"code":5}}"#,
        ] {
            let e = reply(502, body).graph_error();
            assert!(
                matches!(&e, Error::Graph(g) if g.status == 502 && g.code.is_empty()),
                "{body}"
            );
        }
        assert!(reply(204, "").success().is_ok());
        assert!(matches!(reply(301, "").success(), Err(Error::Graph(_))));
    }

    #[test]
    fn undecodable_bodies_are_protocol_errors_with_a_short_excerpt() {
        let long = format!("<html>{}</html>", "é".repeat(1000));
        let err = reply(200, &long).decode::<serde_json::Value>().unwrap_err();
        let Error::Protocol(message) = err else {
            panic!("{err:?}")
        };
        assert!(message.contains("<html>"), "{message}");
        assert!(message.chars().count() < 400, "{message}");
        let err = reply(200, r#"{"value":[{"id":5}]}"#)
            .decode::<crate::graph::types::DeltaPage>()
            .unwrap_err();
        assert!(err.to_string().contains("value[0].id"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn any_body_yields_a_value_or_an_error(
            status in 100u16..600,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let reply = Reply { status, location: None, body };
            let is_graph = matches!(reply.graph_error(), Error::Graph(g) if g.status == status);
            proptest::prop_assert!(is_graph);
            let _ = reply.decode::<crate::graph::types::DeltaPage>();
        }
    }

    #[test]
    fn excerpt_respects_char_boundaries() {
        let text = "ü".repeat(300);
        assert_eq!(excerpt(text.as_bytes()).chars().count(), EXCERPT_CHARS);
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
    }
}
