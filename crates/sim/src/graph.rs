//! Graph endpoints under `/v1.0`: route table, costs and handlers.

use serde_json::{Value, json};

use crate::config::RuCosts;
use crate::content;
use crate::delta::{self, Cursor, DeltaRequest, DeltaToken, MAX_TOP, encode_query_value};
use crate::drive::Drive;
use crate::fault::SimError;
use crate::groups;
use crate::ids;
use crate::item_json::{ItemWriter, Props, View};
use crate::json::JsonOut;
use crate::request::SimRequest;
use crate::response::SimResponse;
use crate::state::Shared;
use crate::tenant::Tenant;

/// How a delta route names its drive.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DriveRef<'a> {
    Drive(&'a str),
    User(&'a str),
    Site(&'a str),
}

/// A recognised Graph route.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Route<'a> {
    Sites,
    SitesDelta,
    Groups,
    GroupsDelta,
    Group(&'a str),
    Site(&'a str),
    SiteDrives(&'a str),
    Users,
    User(&'a str),
    GroupDrive(&'a str),
    DriveOf(DriveRef<'a>),
    Delta(DriveRef<'a>),
    Item(&'a str, &'a str),
    Content(&'a str, &'a str),
    Permissions(&'a str, &'a str),
    Subscriptions,
}

impl<'a> Route<'a> {
    /// Matches a path below `/v1.0` (already split on `/`).
    pub fn parse(segs: &[&'a str]) -> Option<Route<'a>> {
        use DriveRef as R;
        Some(match segs {
            ["sites"] => Route::Sites,
            ["sites", "delta"] | ["sites", "delta()"] => Route::SitesDelta,
            ["sites", id] => Route::Site(id),
            ["sites", id, "drives"] => Route::SiteDrives(id),
            ["sites", id, "drive"] => Route::DriveOf(R::Site(id)),
            ["sites", id, "drive", "root", "delta"] => Route::Delta(R::Site(id)),
            ["groups"] => Route::Groups,
            ["groups", "delta"] | ["groups", "delta()"] => Route::GroupsDelta,
            ["groups", id] => Route::Group(id),
            ["groups", id, "drive"] => Route::GroupDrive(id),
            ["users"] => Route::Users,
            ["users", id] => Route::User(id),
            ["users", id, "drive"] => Route::DriveOf(R::User(id)),
            ["users", id, "drive", "root", "delta"] => Route::Delta(R::User(id)),
            ["drives", id] => Route::DriveOf(R::Drive(id)),
            ["drives", id, "root"] => Route::Item(id, "root"),
            ["drives", id, "root", "delta"] => Route::Delta(R::Drive(id)),
            ["drives", id, "items", item] => Route::Item(id, item),
            ["drives", id, "items", item, "content"] => Route::Content(id, item),
            ["drives", id, "items", item, "permissions"] => Route::Permissions(id, item),
            ["subscriptions", ..] => Route::Subscriptions,
            _ => return None,
        })
    }

    /// The label requests are counted under. Delta feeds of sites and groups count
    /// requests that follow a link apart from first requests, so that tests can tell
    /// a deltaLink round from a new enumeration.
    pub fn label(&self, req: &SimRequest) -> &'static str {
        let method = req.method.as_str();
        match self {
            Route::Sites => "GET /sites",
            Route::SitesDelta if req.query("token").is_some() => "GET /sites/delta?token",
            Route::SitesDelta => "GET /sites/delta",
            Route::Groups => "GET /groups",
            Route::GroupsDelta if req.query("$skiptoken").is_some() => {
                "GET /groups/delta?$skiptoken"
            }
            Route::GroupsDelta if req.query("$deltatoken").is_some() => {
                "GET /groups/delta?$deltatoken"
            }
            Route::GroupsDelta => "GET /groups/delta",
            Route::Group(_) => "GET /groups/{id}",
            Route::GroupDrive(_) => "GET /groups/{id}/drive",
            Route::Site(_) => "GET /sites/{id}",
            Route::SiteDrives(_) => "GET /sites/{id}/drives",
            Route::Users => "GET /users",
            Route::User(_) => "GET /users/{id}",
            Route::DriveOf(DriveRef::Drive(_)) => "GET /drives/{id}",
            Route::DriveOf(DriveRef::User(_)) => "GET /users/{id}/drive",
            Route::DriveOf(DriveRef::Site(_)) => "GET /sites/{id}/drive",
            Route::Delta(DriveRef::Drive(_)) => "GET /drives/{id}/root/delta",
            Route::Delta(DriveRef::User(_)) => "GET /users/{id}/drive/root/delta",
            Route::Delta(DriveRef::Site(_)) => "GET /sites/{id}/drive/root/delta",
            Route::Item(..) => "GET /drives/{id}/items/{id}",
            Route::Content(..) => "GET /drives/{id}/items/{id}/content",
            Route::Permissions(..) => "GET /drives/{id}/items/{id}/permissions",
            Route::Subscriptions => match method {
                "GET" => "GET /subscriptions",
                "POST" => "POST /subscriptions",
                "PATCH" => "PATCH /subscriptions/{id}",
                "DELETE" => "DELETE /subscriptions/{id}",
                _ => "other /subscriptions",
            },
        }
    }

    /// Whether the method is served on this route.
    pub fn allows(&self, method: &str) -> bool {
        match self {
            Route::Subscriptions => true,
            _ => method == "GET",
        }
    }

    /// Resource units this request costs.
    pub fn cost(&self, req: &SimRequest, c: &RuCosts) -> u64 {
        match self {
            Route::Sites | Route::SiteDrives(_) | Route::Users | Route::Groups => c.list,
            Route::GroupsDelta => {
                if req.query("$skiptoken").is_some() || req.query("$deltatoken").is_some() {
                    c.delta_with_token
                } else {
                    c.delta_without_token
                }
            }
            Route::SitesDelta | Route::Delta(_) => {
                if req.query("token").is_some() {
                    c.delta_with_token
                } else {
                    c.delta_without_token
                }
            }
            Route::Permissions(..) => c.permission,
            Route::Subscriptions => {
                if req.method == "GET" {
                    c.get
                } else {
                    c.write
                }
            }
            _ => c.get,
        }
    }
}

fn resolve(t: &Tenant, r: DriveRef<'_>) -> Result<usize, SimError> {
    match r {
        DriveRef::Drive(id) => t.drive(id),
        DriveRef::User(id) => t.user_drive(id),
        DriveRef::Site(id) => t.site_drive(id),
    }
}

fn page_size(req: &SimRequest) -> Result<usize, SimResponse> {
    match req.query("$top") {
        None => Ok(delta::DEFAULT_TOP),
        Some(t) => match t.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n.min(MAX_TOP)),
            _ => Err(SimResponse::graph_error(
                400,
                "invalidRequest",
                &format!("Invalid $top value {t:?}"),
            )),
        },
    }
}

/// A paged plain collection: `$top` and an opaque `$skiptoken` offset; the nextLink
/// keeps the request's other query options (`$select`, `$filter`).
fn collection(req: &SimRequest, base: &str, path: &str, all: Vec<Value>) -> SimResponse {
    let top = match page_size(req) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let skip = match req.query("$skiptoken") {
        None => 0,
        Some(s) => match s.strip_prefix("o").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return SimResponse::graph_error(400, "invalidRequest", "Invalid $skiptoken"),
        },
    };
    let total = all.len();
    let end = skip.saturating_add(top).min(total);
    let value: Vec<Value> = all.into_iter().take(end).skip(skip).collect();
    let mut body = json!({
        "@odata.context": format!("{base}/v1.0/$metadata#{}", path.trim_start_matches('/')),
        "value": value,
    });
    if end < total {
        let kept: String = req
            .query
            .iter()
            .filter(|(k, _)| k != "$top" && k != "$skiptoken")
            .map(|(k, v)| format!("&{}={}", encode_query_value(k), encode_query_value(v)))
            .collect();
        body["@odata.nextLink"] = json!(format!(
            "{base}/v1.0{path}?$top={top}&$skiptoken=o{end}{kept}"
        ));
    }
    SimResponse::json(200, &body)
}

fn site_json(t: &Tenant, s: usize) -> Value {
    let site = &t.sites[s];
    let mut v = json!({
        "id": site.id,
        "name": site.name,
        "displayName": site.name,
        "webUrl": site.web_url,
        "createdDateTime": ids::iso8601(u64::from(site.created)),
        "siteCollection": { "hostname": crate::tenant::HOST },
    });
    if site.is_root {
        v["root"] = json!({});
    }
    v
}

fn user_json(t: &Tenant, u: usize) -> Value {
    let user = &t.users[u];
    json!({
        "id": user.id,
        "userPrincipalName": user.upn,
        "displayName": user.display_name,
        "mail": user.upn,
    })
}

fn drive_json(t: &Tenant, d: usize) -> Value {
    let drive = &t.drives[d];
    let owner = match (drive.site, drive.owner) {
        (_, Some(u)) => {
            json!({ "user": { "id": t.users[u].id, "displayName": t.users[u].display_name } })
        }
        (Some(s), None) => match t.sites[s].group {
            Some(g) => {
                json!({ "group": { "id": t.groups[g].id, "displayName": t.groups[g].name } })
            }
            None => json!({ "group": { "id": t.sites[s].id, "displayName": t.sites[s].name } }),
        },
        (None, None) => json!({}),
    };
    let web_url = match (drive.site, drive.owner) {
        (Some(s), _) => format!("{}/{}", t.sites[s].web_url, drive.name.replace(' ', "%20")),
        (_, Some(u)) => format!(
            "https://sim-my.sharepoint.com/personal/{}/Documents",
            t.users[u].upn.replace(['@', '.'], "_")
        ),
        _ => String::new(),
    };
    json!({
        "id": drive.id,
        "name": drive.name,
        "driveType": drive.kind.as_str(),
        "createdDateTime": ids::iso8601(u64::from(drive.created)),
        "webUrl": web_url,
        "owner": owner,
    })
}

fn item_response(drive: &Drive, idx: u32, req: &SimRequest) -> SimResponse {
    let props = match req.query("$select").map(Props::parse).transpose() {
        Ok(p) => p.unwrap_or(Props::ALL),
        Err(m) => return SimResponse::graph_error(400, "BadRequest", &m),
    };
    let view = View {
        props,
        hierarchical_sharing: req.prefers("hierarchicalsharing"),
        annotate_sharing_changes: false,
    };
    let mut out = JsonOut::with_capacity(512);
    ItemWriter::new(drive, view).write(&mut out, idx, false);
    SimResponse::json_bytes(200, out.buf)
}

/// `/sites/delta`: every site once, then sites created since the token.
fn sites_delta(shared: &Shared, t: &Tenant, req: &SimRequest, base: &str) -> SimResponse {
    let fresh = format!("{base}/v1.0/sites/delta");
    let since = match req.query("token") {
        None => 0,
        Some("latest") => t.site_seq,
        Some(tok) => match DeltaToken::decode(tok, shared.tokens.key) {
            Some(DeltaToken {
                drive: u32::MAX,
                epoch,
                cursor: Cursor::Changes { since },
                ..
            }) if epoch == t.epoch => since,
            _ => {
                return SimResponse::graph_error(
                    410,
                    "resyncRequired",
                    "The delta token is expired or not valid.",
                )
                .with_header("Location", fresh);
            }
        },
    };
    // A full enumeration lists the live sites; a round with a token also reports
    // the sites deleted since, as Graph does, with an `@removed` marker.
    let value: Vec<Value> = (0..t.sites.len())
        .filter(|&s| t.sites[s].seq > since && (since > 0 || !t.sites[s].removed))
        .map(|s| {
            if t.sites[s].removed {
                json!({ "id": t.sites[s].id, "@removed": { "state": "deleted" } })
            } else {
                site_json(t, s)
            }
        })
        .collect();
    let token = DeltaToken {
        drive: u32::MAX,
        epoch: t.epoch,
        issued: ids::unix_now(),
        cursor: Cursor::Changes { since: t.site_seq },
    };
    SimResponse::json(
        200,
        &json!({
            "@odata.context": format!("{base}/v1.0/$metadata#Collection(site)"),
            "value": value,
            "@odata.deltaLink": format!("{fresh}?token={}", token.encode(shared.tokens.key)),
        }),
    )
}

/// Serves an authorised, admitted Graph request (subscriptions excepted).
pub(crate) fn serve(
    shared: &Shared,
    route: Route<'_>,
    req: &SimRequest,
    base: &str,
) -> SimResponse {
    if let Route::Subscriptions = route {
        // Outside the tenant lock: the module resolves drives through it.
        return shared.subs.handle(req);
    }
    let t = shared.tenant.read();
    let result: Result<SimResponse, SimError> = (|| {
        Ok(match route {
            Route::Sites => collection(
                req,
                base,
                "/sites",
                t.live_sites().map(|s| site_json(&t, s)).collect(),
            ),
            Route::SitesDelta => sites_delta(shared, &t, req, base),
            Route::Site(id) => SimResponse::json(200, &site_json(&t, t.site(id)?)),
            Route::SiteDrives(id) => {
                let s = t.site(id)?;
                let all = t.sites[s]
                    .drives
                    .iter()
                    .map(|&d| drive_json(&t, d))
                    .collect();
                collection(req, base, &format!("/sites/{id}/drives"), all)
            }
            Route::Users => collection(
                req,
                base,
                "/users",
                (0..t.users.len()).map(|u| user_json(&t, u)).collect(),
            ),
            Route::User(id) => SimResponse::json(200, &user_json(&t, t.user(id)?)),
            Route::Groups => match groups::list(&t, req) {
                Ok(all) => collection(req, base, "/groups", all),
                Err(bad) => bad,
            },
            Route::GroupsDelta => groups::delta(&t, shared.tokens, req, base),
            Route::Group(id) => groups::get(&t, req, id)?,
            Route::GroupDrive(id) => SimResponse::json(200, &drive_json(&t, t.group_drive(id)?)),
            Route::DriveOf(r) => SimResponse::json(200, &drive_json(&t, resolve(&t, r)?)),
            Route::Delta(r) => {
                let d = resolve(&t, r)?;
                delta::serve(
                    &t,
                    shared.tokens,
                    &DeltaRequest {
                        drive: d,
                        token: req.query("token"),
                        select: req.query("$select"),
                        top: req.query("$top"),
                        hierarchical_sharing: req.prefers("hierarchicalsharing"),
                        show_sharing_changes: req.prefers("deltashowsharingchanges"),
                        base,
                        omit_tombstones: shared.faults.tombstone_omission(),
                    },
                )
            }
            Route::Item(d, item) => {
                let drive = &t.drives[t.drive(d)?];
                item_response(drive, drive.live(item)?, req)
            }
            Route::Content(d, item) => {
                let drive = &t.drives[t.drive(d)?];
                let idx = drive.live(item)?;
                if drive.items[idx as usize].is_folder() {
                    return Err(SimError::Invalid("a folder has no content".into()));
                }
                let url = content::download_url(
                    shared.download_key,
                    base,
                    &drive.id,
                    &drive.item_id(idx),
                );
                let mut r = SimResponse::empty(302).with_header("Location", url);
                r.headers.push(("Content-Length".into(), "0".into()));
                r
            }
            Route::Permissions(d, item) => {
                let drive = &t.drives[t.drive(d)?];
                let idx = drive.live(item)?;
                let value = if drive.effectively_shared(idx) {
                    vec![
                        json!({ "id": "sim-share", "roles": ["read"], "link": { "scope": "users", "type": "view" } }),
                    ]
                } else {
                    Vec::new()
                };
                SimResponse::json(200, &json!({ "value": value }))
            }
            // Handled above, before the lock.
            Route::Subscriptions => {
                SimResponse::graph_error(500, "generalException", "misrouted subscription request")
            }
        })
    })();
    result.unwrap_or_else(|e| e.response())
}
