//! The HTTP control API under `/_sim` (no auth).
//!
//! Permissions of an item `/_sim/drives/{d}/items/{i}`:
//! - `GET .../permissions`: the truth (`SimPermissions`);
//! - `POST .../permissions` `{"principal":"user:{upn}"|"group:{id}"|"guest:{email}","roles":[...]}`:
//!   a grant (201, `SimPermission`);
//! - `DELETE .../permissions/{permission id}`: a revoke (204);
//! - `POST .../links` `{"type","scope","password"?,"expiration"?,"recipients"?}`: a
//!   sharing link (201, `SimPermission`);
//! - `POST .../break-inheritance`, `POST .../restore-inheritance`: the item's
//!   permissions afterwards (`SimPermissions`);
//! - `POST .../share` (an organization view link) and `DELETE .../share` (restore
//!   inheritance): the item.
//!
//! `GET /_sim/drives/{d}/permission-roots` lists the items with unique permissions,
//! `GET /_sim/users` and `GET /_sim/groups` the principals.
//!
//! Every route serves tenant 0; `/_sim/tenants/{k}/...` serves the same routes for
//! tenant `k`, and `GET /_sim/tenants` lists the tenants (index, tenant id, client
//! id and secret, drive and item counts, request counters) with their totals.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::api::{ItemPatch, LinkOptions};
use crate::config::Faults;
use crate::drive::Body;
use crate::fault::SimError;
use crate::request::SimRequest;
use crate::response::SimResponse;
use crate::state::Shared;
use crate::subscriptions::NotificationConfig;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewItem {
    parent_id: String,
    name: String,
    #[serde(default)]
    folder: bool,
    #[serde(default)]
    content: String,
    /// Generated content of this size instead of `content`.
    size: Option<u64>,
}

impl NewItem {
    fn body(&self) -> Result<Body<'_>, SimError> {
        match self.size {
            None => Ok(Body::Bytes(self.content.as_bytes())),
            Some(size) if self.content.is_empty() => Ok(Body::Generated(size)),
            Some(_) => Err(SimError::Invalid(
                "content and size cannot be given together".into(),
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchItem {
    name: Option<String>,
    parent_id: Option<String>,
    content: Option<String>,
    size: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    upn: String,
    #[serde(default = "yes")]
    with_drive: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    name: String,
    #[serde(default = "yes")]
    unified: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGrant {
    principal: String,
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLink {
    #[serde(rename = "type")]
    link_type: String,
    scope: String,
    #[serde(default)]
    password: bool,
    expiration: Option<String>,
    #[serde(default)]
    recipients: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Storm {
    secs: f64,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ExpireSubscriptions {
    id: Option<String>,
}

fn body<T: DeserializeOwned>(req: &SimRequest) -> Result<T, SimError> {
    if req.body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(SimError::Invalid("the body must be a JSON object".into()));
    }
    let mut de = serde_json::Deserializer::from_slice(&req.body);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| SimError::Invalid(format!("invalid JSON body: {e}")))
}

/// A body that may be empty (then all defaults).
fn optional_body<T: DeserializeOwned + Default>(req: &SimRequest) -> Result<T, SimError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        body(req)
    }
}

/// The body of `POST /_sim/faults`: the fields of [`Faults`] (all optional) and
/// optionally `notifications`, the webhook delivery knobs.
fn fault_knobs(req: &SimRequest) -> Result<(Faults, Option<NotificationConfig>), SimError> {
    let mut fields: serde_json::Map<String, serde_json::Value> = optional_body(req)?;
    let notifications = fields
        .remove("notifications")
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| SimError::Invalid(format!("invalid notifications: {e}")))?;
    let faults = serde_path_to_error::deserialize(serde_json::Value::Object(fields))
        .map_err(|e| SimError::Invalid(format!("invalid JSON body: {e}")))?;
    Ok((faults, notifications))
}

fn ok_json<T: serde::Serialize>(status: u16, v: &T) -> Result<SimResponse, SimError> {
    serde_json::to_value(v)
        .map(|v| SimResponse::json(status, &v))
        .map_err(|e| SimError::Invalid(e.to_string()))
}

/// The route label of a control request (for the stats).
pub(crate) fn label(method: &str, segs: &[&str]) -> &'static str {
    match (method, segs) {
        ("GET", ["drives"]) => "GET /_sim/drives",
        ("POST", ["drives", _, "items"]) => "POST /_sim/drives/{id}/items",
        ("PATCH", ["drives", _, "items", _]) => "PATCH /_sim/drives/{id}/items/{id}",
        ("DELETE", ["drives", _, "items", _]) => "DELETE /_sim/drives/{id}/items/{id}",
        ("POST", ["drives", _, "items", _, "share"]) => "POST /_sim/drives/{id}/items/{id}/share",
        ("DELETE", ["drives", _, "items", _, "share"]) => {
            "DELETE /_sim/drives/{id}/items/{id}/share"
        }
        ("GET", ["drives", _, "items", _, "permissions"]) => {
            "GET /_sim/drives/{id}/items/{id}/permissions"
        }
        ("POST", ["drives", _, "items", _, "permissions"]) => {
            "POST /_sim/drives/{id}/items/{id}/permissions"
        }
        ("DELETE", ["drives", _, "items", _, "permissions", _]) => {
            "DELETE /_sim/drives/{id}/items/{id}/permissions/{id}"
        }
        ("POST", ["drives", _, "items", _, "links"]) => "POST /_sim/drives/{id}/items/{id}/links",
        ("POST", ["drives", _, "items", _, "break-inheritance"]) => {
            "POST /_sim/drives/{id}/items/{id}/break-inheritance"
        }
        ("POST", ["drives", _, "items", _, "restore-inheritance"]) => {
            "POST /_sim/drives/{id}/items/{id}/restore-inheritance"
        }
        ("GET", ["drives", _, "permission-roots"]) => "GET /_sim/drives/{id}/permission-roots",
        ("POST", ["sites"]) => "POST /_sim/sites",
        ("POST", ["sites", _, "drives"]) => "POST /_sim/sites/{id}/drives",
        ("DELETE", ["sites", _]) => "DELETE /_sim/sites/{id}",
        ("DELETE", ["sites", _, "drives", _]) => "DELETE /_sim/sites/{id}/drives/{id}",
        ("GET", ["users"]) => "GET /_sim/users",
        ("POST", ["users"]) => "POST /_sim/users",
        ("GET", ["groups"]) => "GET /_sim/groups",
        ("POST", ["groups"]) => "POST /_sim/groups",
        ("PATCH", ["groups", _]) => "PATCH /_sim/groups/{id}",
        ("DELETE", ["groups", _]) => "DELETE /_sim/groups/{id}",
        ("POST", ["expire-delta-tokens"]) => "POST /_sim/expire-delta-tokens",
        ("POST", ["expire-download-urls"]) => "POST /_sim/expire-download-urls",
        ("POST", ["expire-subscriptions"]) => "POST /_sim/expire-subscriptions",
        ("POST", ["faults"]) => "POST /_sim/faults",
        ("POST", ["expire-access-tokens"]) => "POST /_sim/expire-access-tokens",
        ("POST", ["throttle-storm"]) => "POST /_sim/throttle-storm",
        ("GET", ["stats"]) => "GET /_sim/stats",
        ("GET", ["snapshot"]) => "GET /_sim/snapshot",
        ("GET", ["tenants"]) => "GET /_sim/tenants",
        _ => "unknown /_sim",
    }
}

/// `GET /_sim/tenants`: `{"tenants": [TenantSummary...], "total": TenantTotals}`.
pub(crate) fn tenants(hub: &crate::hub::Hub, req: &SimRequest) -> SimResponse {
    if req.method != "GET" {
        return SimError::NotFound(format!("no control route {} {}", req.method, req.path))
            .response();
    }
    let (tenants, total) = hub.summaries();
    SimResponse::json(200, &json!({ "tenants": tenants, "total": total }))
}

/// Serves a request below `/_sim` (`segs` are the segments after it).
pub(crate) fn serve(shared: &Shared, req: &SimRequest, segs: &[&str]) -> SimResponse {
    let result = (|| -> Result<SimResponse, SimError> {
        match (req.method.as_str(), segs) {
            ("GET", ["drives"]) => ok_json(200, &shared.drives()),
            ("POST", ["drives", d, "items"]) => {
                let b: NewItem = body(req)?;
                ok_json(
                    201,
                    &shared.create_item(d, &b.parent_id, &b.name, b.folder, b.body()?)?,
                )
            }
            ("PATCH", ["drives", d, "items", i]) => {
                let b: PatchItem = body(req)?;
                let patch = ItemPatch {
                    name: b.name,
                    parent_id: b.parent_id,
                    content: b.content.map(String::into_bytes),
                    size: b.size,
                };
                ok_json(200, &shared.update_item(d, i, &patch)?)
            }
            ("DELETE", ["drives", d, "items", i]) => {
                shared.delete_item(d, i)?;
                Ok(SimResponse::empty(204))
            }
            ("POST", ["drives", d, "items", i, "share"]) => ok_json(200, &shared.share(d, i)?),
            ("DELETE", ["drives", d, "items", i, "share"]) => ok_json(200, &shared.unshare(d, i)?),
            ("GET", ["drives", d, "items", i, "permissions"]) => {
                ok_json(200, &shared.permissions(d, i)?)
            }
            ("POST", ["drives", d, "items", i, "permissions"]) => {
                let b: NewGrant = body(req)?;
                ok_json(201, &shared.grant(d, i, &b.principal, &b.roles)?)
            }
            ("DELETE", ["drives", d, "items", i, "permissions", p]) => {
                shared.revoke(d, i, p)?;
                Ok(SimResponse::empty(204))
            }
            ("POST", ["drives", d, "items", i, "links"]) => {
                let b: NewLink = body(req)?;
                let options = LinkOptions {
                    password: b.password,
                    expiration: b.expiration,
                    recipients: b.recipients,
                };
                ok_json(
                    201,
                    &shared.create_link(d, i, &b.link_type, &b.scope, &options)?,
                )
            }
            ("POST", ["drives", d, "items", i, "break-inheritance"]) => {
                ok_json(200, &shared.set_inheritance(d, i, false)?)
            }
            ("POST", ["drives", d, "items", i, "restore-inheritance"]) => {
                ok_json(200, &shared.set_inheritance(d, i, true)?)
            }
            ("GET", ["drives", d, "permission-roots"]) => {
                ok_json(200, &shared.permission_roots(d)?)
            }
            ("POST", ["sites"]) => {
                let b: Named = body(req)?;
                let id = shared.add_site(&b.name)?;
                let t = shared.tenant.read();
                let drive_id = t.site_drive(&id).map(|d| t.drives[d].id.clone()).ok();
                Ok(SimResponse::json(
                    201,
                    &json!({ "id": id, "drive_id": drive_id }),
                ))
            }
            ("POST", ["sites", s, "drives"]) => {
                let b: Named = body(req)?;
                Ok(SimResponse::json(
                    201,
                    &json!({ "id": shared.add_library(s, &b.name)? }),
                ))
            }
            ("DELETE", ["sites", s]) => {
                shared.remove_site(s)?;
                Ok(SimResponse::empty(204))
            }
            ("DELETE", ["sites", s, "drives", d]) => {
                shared.remove_library(s, d)?;
                Ok(SimResponse::empty(204))
            }
            ("GET", ["users"]) => ok_json(200, &shared.users()),
            ("POST", ["users"]) => {
                let b: NewUser = body(req)?;
                let (id, drive_id) = shared.add_user(&b.upn, b.with_drive)?;
                Ok(SimResponse::json(
                    201,
                    &json!({ "id": id, "drive_id": drive_id }),
                ))
            }
            ("GET", ["groups"]) => ok_json(200, &shared.groups()),
            ("POST", ["groups"]) => {
                let b: NewGroup = body(req)?;
                ok_json(201, &shared.add_group(&b.name, b.unified)?)
            }
            ("PATCH", ["groups", g]) => {
                let b: Named = body(req)?;
                ok_json(200, &shared.rename_group(g, &b.name)?)
            }
            ("DELETE", ["groups", g]) => {
                shared.remove_group(g)?;
                Ok(SimResponse::empty(204))
            }
            ("POST", ["expire-delta-tokens"]) => {
                shared.expire_delta_tokens();
                Ok(SimResponse::empty(204))
            }
            ("POST", ["expire-download-urls"]) => {
                shared.download_urls.expire_all();
                Ok(SimResponse::empty(204))
            }
            ("POST", ["expire-subscriptions"]) => {
                let b: ExpireSubscriptions = optional_body(req)?;
                shared.subs.expire(b.id.as_deref());
                Ok(SimResponse::empty(204))
            }
            ("POST", ["faults"]) => {
                let (faults, notifications) = fault_knobs(req)?;
                faults
                    .validate()
                    .map_err(|e| SimError::Invalid(e.to_string()))?;
                shared.faults.set(faults);
                if let Some(n) = notifications {
                    shared.subs.set_config(n);
                }
                Ok(SimResponse::empty(204))
            }
            ("POST", ["expire-access-tokens"]) => {
                shared.auth.expire_tokens();
                Ok(SimResponse::empty(204))
            }
            ("POST", ["throttle-storm"]) => {
                let b: Storm = body(req)?;
                let duration = std::time::Duration::try_from_secs_f64(b.secs)
                    .ok()
                    .filter(|d| d.as_secs() <= 86_400)
                    .ok_or_else(|| SimError::Invalid("secs must be between 0 and 86400".into()))?;
                shared.throttle.storm(std::time::Instant::now() + duration);
                Ok(SimResponse::empty(204))
            }
            ("GET", ["stats"]) => ok_json(200, &shared.stats()),
            ("GET", ["snapshot"]) => {
                let d = req
                    .query("drive")
                    .ok_or_else(|| SimError::Invalid("missing ?drive=ID".into()))?;
                ok_json(200, &shared.snapshot(d)?)
            }
            _ => Err(SimError::NotFound(format!(
                "no control route {} {}",
                req.method, req.path
            ))),
        }
    })();
    result.unwrap_or_else(|e| e.response())
}
