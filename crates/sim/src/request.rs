//! HTTP requests as the simulator's handlers see them, independent of the HTTP server.

/// A fully read request: method, decoded path and query, headers and body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Percent-decoded path without the query, e.g. `/v1.0/drives/d1/root/delta`.
    pub path: String,
    /// Percent-decoded query pairs in order.
    pub query: Vec<(String, String)>,
    /// Headers in order; names compared case-insensitively.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl SimRequest {
    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether any `Prefer` header contains `token` (comma-separated, case-insensitive).
    pub fn prefers(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("prefer"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_case_insensitive_for_headers() {
        let r = SimRequest {
            method: "GET".into(),
            path: "/v1.0/sites".into(),
            query: vec![("$top".into(), "5".into())],
            headers: vec![(
                "prefer".into(),
                "hierarchicalsharing, deltashowsharingchanges".into(),
            )],
            body: Vec::new(),
        };
        assert_eq!(r.query("$top"), Some("5"));
        assert_eq!(r.header("Prefer").map(str::len), Some(44));
        assert!(r.prefers("deltaShowSharingChanges"));
        assert!(!r.prefers("includesecuritywebhooks"));
    }
}
