//! The simulator's public error type.

use std::fmt;

/// Why a simulator operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid, or the listener could not be bound.
    Config(String),
    /// The operation was refused: an unknown drive, item, site, user or group, a name
    /// conflict, or an argument out of range.
    InvalidInput(String),
}

/// Shorthand for results of the simulator.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "invalid simulator configuration: {m}"),
            Error::InvalidInput(m) => write!(f, "simulator refused the operation: {m}"),
        }
    }
}

impl std::error::Error for Error {}
