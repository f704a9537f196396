//! Everything that talks HTTP to Microsoft Graph.

pub mod types;
