//! The Graph simulator: a tenant model served over HTTP like Microsoft Graph.

pub mod delivery;
pub mod request;
pub mod response;
pub mod subscriptions;
