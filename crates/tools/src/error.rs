//! The tools' error: a failure of the engine (its store) or of the simulator.

use std::fmt;

/// What a check or a mutation of the harnesses failed with.
#[derive(Debug)]
pub enum Error {
    /// The engine, or its store, failed.
    Engine(m365sync::Error),
    /// The simulator refused or failed.
    Sim(m365sync_sim::Error),
    /// A file of the managed mirror could not be read.
    Io(std::io::Error),
}

/// Shorthand for results of the tools.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Engine(e) => write!(f, "{e}"),
            Error::Sim(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<m365sync::Error> for Error {
    fn from(e: m365sync::Error) -> Self {
        Error::Engine(e)
    }
}

impl From<m365sync_sim::Error> for Error {
    fn from(e: m365sync_sim::Error) -> Self {
        Error::Sim(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// Any error as the message the CLI prints (the harnesses' entry points return `String`).
pub(crate) fn message(e: impl fmt::Display) -> String {
    e.to_string()
}
