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
use crate::paths::{self, DriveRef, ItemRef, SiteRef};
use crate::request::SimRequest;
use crate::response::SimResponse;
use crate::state::Shared;
use crate::tenant::Tenant;

/// Whose drives a listing names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DrivesOf<'a> {
    /// `/sites/{site}/drives`.
    Site(SiteRef<'a>),
    /// `/users/{id}/drives`.
    User(&'a str),
    /// `/groups/{id}/drives`.
    Group(&'a str),
}

/// A recognised Graph route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    Sites,
    /// `/sites/getAllSites`: every site of the tenant.
    AllSites,
    SitesDelta,
    Groups,
    GroupsDelta,
    Group(&'a str),
    Site(SiteRef<'a>),
    Drives(DrivesOf<'a>),
    Users,
    User(&'a str),
    DriveOf(DriveRef<'a>),
    /// Delta of a drive's root; `items_form` when named `items/root/delta`.
    Delta {
        drive: DriveRef<'a>,
        items_form: bool,
    },
    /// Delta asked of a folder other than the root, which SharePoint refuses.
    FolderDelta,
    Item(DriveRef<'a>, ItemRef<'a>),
    Content(DriveRef<'a>, ItemRef<'a>),
    Permissions(DriveRef<'a>, ItemRef<'a>),
    Subscriptions,
}

impl<'a> Route<'a> {
    /// Matches a path below `/v1.0` (already split on `/`), in any of the forms of
    /// [`crate::paths`].
    pub fn parse(segs: &'a [&'a str]) -> Option<Route<'a>> {
        Some(match segs {
            ["sites"] => Route::Sites,
            ["sites", "getAllSites"] | ["sites", "getAllSites()"] => Route::AllSites,
            ["sites", "delta"] | ["sites", "delta()"] => Route::SitesDelta,
            ["groups"] => Route::Groups,
            ["groups", "delta"] | ["groups", "delta()"] => Route::GroupsDelta,
            ["groups", id] => Route::Group(id),
            ["groups", id, "drives"] => Route::Drives(DrivesOf::Group(id)),
            ["users"] => Route::Users,
            ["users", id] => Route::User(id),
            ["users", id, "drives"] => Route::Drives(DrivesOf::User(id)),
            ["subscriptions", ..] => Route::Subscriptions,
            ["sites", site @ ..] => match paths::site_ref(site)? {
                (site, []) => Route::Site(site),
                (site, ["drives"]) => Route::Drives(DrivesOf::Site(site)),
                _ => Route::on_drive(segs)?,
            },
            _ => Route::on_drive(segs)?,
        })
    }

    /// A route on a drive or on one of its items.
    fn on_drive(segs: &'a [&'a str]) -> Option<Route<'a>> {
        let (drive, rest) = paths::drive_ref(segs)?;
        if rest.is_empty() {
            return Some(Route::DriveOf(drive));
        }
        let items_form = rest.first() == Some(&"items");
        let (item, rest) = paths::item_ref(rest)?;
        Some(match (item, rest) {
            (item, []) => Route::Item(drive, item),
            (item, ["content"]) => Route::Content(drive, item),
            (item, ["permissions"]) => Route::Permissions(drive, item),
            (ItemRef::Root, ["delta"] | ["delta()"]) => Route::Delta { drive, items_form },
            (_, ["delta"] | ["delta()"]) => Route::FolderDelta,
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
            Route::AllSites => "GET /sites/getAllSites",
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
            Route::Site(_) => "GET /sites/{id}",
            Route::Drives(DrivesOf::Site(_)) => "GET /sites/{id}/drives",
            Route::Drives(DrivesOf::User(_)) => "GET /users/{id}/drives",
            Route::Drives(DrivesOf::Group(_)) => "GET /groups/{id}/drives",
            Route::Users => "GET /users",
            Route::User(_) => "GET /users/{id}",
            Route::DriveOf(DriveRef::Drive(_)) => "GET /drives/{id}",
            Route::DriveOf(DriveRef::User(_)) => "GET /users/{id}/drive",
            Route::DriveOf(DriveRef::Site(_)) => "GET /sites/{id}/drive",
            Route::DriveOf(DriveRef::Group(_)) => "GET /groups/{id}/drive",
            Route::DriveOf(DriveRef::Me) => "GET /me/drive",
            Route::Delta {
                items_form: true, ..
            } => "GET /drives/{id}/items/root/delta",
            Route::Delta { drive, .. } => match drive {
                DriveRef::Drive(_) => "GET /drives/{id}/root/delta",
                DriveRef::User(_) => "GET /users/{id}/drive/root/delta",
                DriveRef::Site(_) => "GET /sites/{id}/drive/root/delta",
                DriveRef::Group(_) => "GET /groups/{id}/drive/root/delta",
                DriveRef::Me => "GET /me/drive/root/delta",
            },
            Route::FolderDelta => "GET /drives/{id}/items/{id}/delta",
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
            Route::Sites | Route::AllSites | Route::Drives(_) | Route::Users | Route::Groups => {
                c.list
            }
            Route::GroupsDelta => {
                if req.query("$skiptoken").is_some() || req.query("$deltatoken").is_some() {
                    c.delta_with_token
                } else {
                    c.delta_without_token
                }
            }
            Route::SitesDelta | Route::Delta { .. } => {
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

fn page_size(req: &SimRequest, default_top: usize) -> Result<usize, SimResponse> {
    match req.query("$top") {
        None => Ok(default_top),
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

/// A paged plain collection of the default page size (see [`page`]).
fn collection(req: &SimRequest, base: &str, path: &str, all: Vec<Value>) -> SimResponse {
    page(req, base, path, all, delta::DEFAULT_TOP)
}

/// One page of a plain collection: `$top` (`default_top` without it, at most
/// [`MAX_TOP`]) and an opaque `$skiptoken` offset; the nextLink keeps the request's
/// other query options (`$select`, `$filter`).
pub(crate) fn page(
    req: &SimRequest,
    base: &str,
    path: &str,
    all: Vec<Value>,
    default_top: usize,
) -> SimResponse {
    let top = match page_size(req, default_top) {
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

fn item_response(shared: &Shared, drive: &Drive, idx: u32, req: &SimRequest) -> SimResponse {
    let props = match req.query("$select").map(Props::parse).transpose() {
        Ok(p) => p.unwrap_or(Props::ALL),
        Err(m) => return SimResponse::graph_error(400, "BadRequest", &m),
    };
    let view = View {
        props,
        hierarchical_sharing: req.prefers("hierarchicalsharing"),
        annotate_sharing_changes: false,
        download_urls: Some(&shared.download_urls),
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
            Route::AllSites => collection(
                req,
                base,
                "/sites/getAllSites",
                t.live_sites().map(|s| site_json(&t, s)).collect(),
            ),
            Route::SitesDelta => sites_delta(shared, &t, req, base),
            Route::Site(site) => SimResponse::json(200, &site_json(&t, t.resolve_site(&site)?)),
            Route::Drives(of) => {
                let (drives, path) = match of {
                    DrivesOf::Site(site) => {
                        let s = t.resolve_site(&site)?;
                        (
                            t.sites[s].drives.clone(),
                            format!("/sites/{}/drives", t.sites[s].id),
                        )
                    }
                    DrivesOf::User(id) => {
                        let u = t.user(id)?;
                        (
                            t.users[u].drive.into_iter().collect(),
                            format!("/users/{id}/drives"),
                        )
                    }
                    DrivesOf::Group(id) => {
                        (vec![t.group_drive(id)?], format!("/groups/{id}/drives"))
                    }
                };
                let all = drives.iter().map(|&d| drive_json(&t, d)).collect();
                collection(req, base, &path, all)
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
            Route::DriveOf(r) => SimResponse::json(200, &drive_json(&t, t.resolve_drive(&r)?)),
            Route::Delta { drive, .. } => {
                let d = t.resolve_drive(&drive)?;
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
                        download_urls: &shared.download_urls,
                    },
                )
            }
            Route::FolderDelta => {
                return Err(SimError::Invalid(
                    "Delta is only supported on the root folder of a drive.".into(),
                ));
            }
            Route::Item(d, item) => {
                let drive = &t.drives[t.resolve_drive(&d)?];
                item_response(shared, drive, drive.resolve_item(&item)?, req)
            }
            Route::Content(d, item) => {
                let drive = &t.drives[t.resolve_drive(&d)?];
                content::redirect(shared, drive, drive.resolve_item(&item)?, req)?
            }
            Route::Permissions(d, item) => {
                crate::permissions::endpoint::serve(shared, &t, &d, &item, req, base)?
            }
            // Handled above, before the lock.
            Route::Subscriptions => {
                SimResponse::graph_error(500, "generalException", "misrouted subscription request")
            }
        })
    })();
    result.unwrap_or_else(|e| e.response())
}
