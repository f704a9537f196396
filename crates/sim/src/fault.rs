//! Errors of the simulator's own operations and how they look over HTTP.

use crate::response::SimResponse;

/// Why a control operation or a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SimError {
    /// The drive, item, site or user does not exist.
    NotFound(String),
    /// The request is malformed or not allowed.
    Invalid(String),
    /// A sibling with that name exists.
    Conflict(String),
}

impl SimError {
    /// The Graph-shaped error response.
    pub fn response(&self) -> SimResponse {
        match self {
            SimError::NotFound(m) => SimResponse::graph_error(404, "itemNotFound", m),
            SimError::Invalid(m) => SimResponse::graph_error(400, "invalidRequest", m),
            SimError::Conflict(m) => SimResponse::graph_error(409, "nameAlreadyExists", m),
        }
    }
}

impl From<SimError> for crate::Error {
    fn from(e: SimError) -> Self {
        match e {
            SimError::NotFound(m) => crate::Error::InvalidInput(format!("not found: {m}")),
            SimError::Invalid(m) | SimError::Conflict(m) => crate::Error::InvalidInput(m),
        }
    }
}
