//! The Graph simulator: a tenant model served over HTTP like Microsoft Graph.

pub mod request;
pub mod response;
