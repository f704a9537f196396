//! `GET /drives/{d}/items/{i}/permissions` (and the other item path forms): an
//! item's effective grants as Graph `permission` objects, paged. Inherited ones
//! carry `inheritedFrom`, naming the item they come from.

use crate::fault::SimError;
use crate::graph;
use crate::paths::{DriveRef, ItemRef};
use crate::permissions::render::GrantView;
use crate::request::SimRequest;
use crate::response::SimResponse;
use crate::state::Shared;
use crate::stats::Counters;
use crate::tenant::Tenant;

/// Serves an authorised, admitted permissions request; with the
/// `permissions_denied` fault, `403 accessDenied` as when the app lacks
/// Sites.FullControl.All.
pub(crate) fn serve(
    shared: &Shared,
    t: &Tenant,
    drive: &DriveRef<'_>,
    item: &ItemRef<'_>,
    req: &SimRequest,
    base: &str,
) -> Result<SimResponse, SimError> {
    let counters = &shared.counters;
    Counters::bump(&counters.permission_requests);
    if shared.faults.permissions_denied() {
        return Ok(SimResponse::graph_error(
            403,
            "accessDenied",
            "Access denied. Sites.FullControl.All is required.",
        ));
    }
    let d = t.resolve_drive(drive)?;
    let drive = &t.drives[d];
    let idx = drive.resolve_item(item)?;
    let source = drive.permission_source(idx);
    let view = GrantView::new(t, d);
    let inherited = (source != idx).then(|| view.inherited_from(source));
    let all = drive
        .grants(source)
        .iter()
        .map(|g| {
            let mut v = view.graph_json(g);
            if let Some(from) = &inherited {
                v["inheritedFrom"] = from.clone();
            }
            v
        })
        .collect();
    let path = format!(
        "/drives/{}/items/{}/permissions",
        drive.id,
        drive.item_id(idx)
    );
    let page = graph::page(req, base, &path, all, shared.permission_page_size);
    if page.status == 200 && req.query("$skiptoken").is_some() {
        Counters::bump(&counters.permission_pages);
    }
    Ok(page)
}
