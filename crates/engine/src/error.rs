//! The crate's one error type.

use std::fmt;

/// Every failure m365sync reports. The C ABI maps each variant to a result code.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the message names the field.
    Config(String),
    /// An argument passed by the caller is invalid (bad JSON, bad UTF-8, out of range).
    InvalidInput(String),
    /// Authentication with the identity endpoint failed (wrong tenant, client id or secret).
    Auth(String),
    /// Graph answered with an error status.
    Graph(GraphError),
    /// The delta token is no longer valid (410 Gone): the drive must be re-enumerated.
    ResyncRequired {
        /// A fresh enumeration link from the `Location` header, when Graph sent one.
        location: Option<String>,
    },
    /// The network failed (connection refused or reset, timeout, TLS) after all retries.
    Transport(String),
    /// Graph sent a body that is not the JSON we expect.
    Protocol(String),
    /// The SQLite store failed.
    Store(rusqlite::Error),
    /// A file could not be read or written.
    Io(std::io::Error),
    /// The operation is not valid in the engine's current state (e.g. `start` twice).
    State(String),
    /// The engine is stopping; the operation was abandoned.
    Stopped,
    /// A downloaded file did not hash to what Graph reported, on two downloads in a row
    /// (nothing was kept).
    HashMismatch {
        /// The item downloaded.
        item_id: String,
        /// The hash Graph reported.
        expected: String,
        /// The hash of the bytes received.
        actual: String,
    },
}

/// An error status from Graph, with the code and message of its JSON body when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    /// HTTP status code.
    pub status: u16,
    /// `error.code` of the body, e.g. `itemNotFound`; empty when the body had none.
    pub code: String,
    /// `error.message` of the body; empty when the body had none.
    pub message: String,
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "invalid configuration: {m}"),
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Error::Auth(m) => write!(
                f,
                "authentication failed: {m} (check tenant_id, client_id and the client secret)"
            ),
            Error::Graph(e) => write!(f, "{e}"),
            Error::ResyncRequired { .. } => {
                write!(
                    f,
                    "delta token expired (410 Gone); the drive will be re-enumerated"
                )
            }
            Error::Transport(m) => write!(f, "network error talking to Graph: {m}"),
            Error::Protocol(m) => write!(f, "unexpected response from Graph: {m}"),
            Error::Store(e) => write!(f, "database error: {e}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::State(m) => write!(f, "invalid state: {m}"),
            Error::Stopped => write!(f, "the engine is stopping"),
            Error::HashMismatch {
                item_id,
                expected,
                actual,
            } => write!(
                f,
                "the content of item {item_id} hashes to {actual}, but Graph reported {expected} \
                 (twice; the download was discarded)"
            ),
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph answered {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}
