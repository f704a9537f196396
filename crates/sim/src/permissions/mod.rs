//! The permission model: items with unique permissions hold grants (to users,
//! groups, site groups, guests, or sharing links), every other item inherits those
//! of its nearest ancestor with unique permissions; the drive root always has them.
//!
//! - [`grant`]: what a grant is;
//! - [`inheritance`]: which items hold grants, and the changes of a drive's grants;
//! - [`mutations`]: the changes and queries of the control APIs, by principal name;
//! - [`render`]: permission ids, Graph `permission` objects and the truth API's view;
//! - [`endpoint`]: Graph's `/permissions` route;
//! - [`generate`]: sharing in generated tenants.

pub(crate) mod endpoint;
pub(crate) mod generate;
pub(crate) mod grant;
pub(crate) mod inheritance;
mod mutations;
mod render;

#[cfg(test)]
mod tests;

pub(crate) use inheritance::Permissions;
