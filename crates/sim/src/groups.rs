//! Microsoft 365 groups: the tenant's groups (each Unified group with its own site
//! and drive) and the Graph routes `/groups`, `/groups/{id}`, `/groups/{id}/drive`
//! and `/groups/delta`.
//!
//! `/groups/delta` pages are stateless like drive delta: the `$skiptoken` of a
//! nextLink holds the round's bounds and offset, the `$deltatoken` of a deltaLink the
//! group sequence number it was issued at; both are signed.

use serde_json::{Map, Value, json};

use crate::api::SimGroup;
use crate::delta::{Cursor, DeltaToken, TokenPolicy, encode_query_value};
use crate::fault::SimError;
use crate::ids;
use crate::request::SimRequest;
use crate::response::SimResponse;
use crate::tenant::{DOMAIN, Tenant, check_label};

/// Marks group delta tokens (drive delta tokens carry a drive index, sites `u32::MAX`).
const GROUPS_TOKEN: u32 = u32::MAX - 1;
/// Page size of `/groups/delta` without `Prefer: odata.maxpagesize`.
const DEFAULT_PAGE: usize = 100;
/// Largest page of `/groups/delta`.
const MAX_PAGE: usize = 999;
/// The only `$filter` `/groups` understands: Microsoft 365 (Unified) groups.
const UNIFIED_FILTER: &str = "grouptypes/any(c:ceq'unified')";
/// Properties a group has (what `$select` may name).
const PROPERTIES: [&str; 9] = [
    "id",
    "displayName",
    "mail",
    "mailNickname",
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
    "visibility",
    "createdDateTime",
];

/// A directory group.
#[derive(Debug)]
pub(crate) struct Group {
    pub id: String,
    pub name: String,
    /// Lower-case alphanumeric nickname, the local part of `mail`.
    pub nickname: String,
    /// A Microsoft 365 (Unified) group, with a site and a drive; else a security group.
    pub unified: bool,
    /// The group's site (Unified groups only).
    pub site: Option<usize>,
    /// Deleted: lookups fail, listings skip it, `/groups/delta` reports it `@removed`.
    pub removed: bool,
    /// Group sequence number of its last change.
    pub seq: u64,
    pub created: u32,
}

impl Group {
    /// `{nickname}@sim.onmicrosoft.com` for Unified groups (security groups have no mail).
    pub fn mail(&self) -> Option<String> {
        self.unified.then(|| format!("{}@{DOMAIN}", self.nickname))
    }
}

impl Tenant {
    /// Adds a group; a Unified one gets a site (named after it) with a "Documents"
    /// library. Returns the group index.
    pub fn add_group(&mut self, name: &str, unified: bool, now: u32) -> Result<usize, SimError> {
        check_label("group name", name)?;
        let nickname: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if nickname.is_empty() {
            return Err(SimError::Invalid(format!(
                "group name {name:?} needs a letter or digit"
            )));
        }
        if self.group_index.contains_key(&nickname) {
            return Err(SimError::Conflict(format!(
                "a group with mail nickname {nickname:?} already exists"
            )));
        }
        let n = self.groups.len() as u64;
        let id = ids::guid(ids::mix(self.seed(), 0x6209 << 32 | n)).to_ascii_lowercase();
        let g = self.groups.len();
        let site = unified.then(|| {
            let s = self.push_site(&nickname, false, now);
            self.sites[s].group = Some(g);
            self.sites[s].name = name.to_string();
            s
        });
        self.group_seq += 1;
        self.group_index.insert(id.clone(), g);
        self.group_index.insert(nickname.clone(), g);
        self.groups.push(Group {
            id,
            name: name.to_string(),
            nickname,
            unified,
            site,
            removed: false,
            seq: self.group_seq,
            created: now,
        });
        Ok(g)
    }

    /// Deletes a group and its site (with the site's libraries).
    pub fn remove_group(&mut self, g: usize) {
        if let Some(s) = self.groups[g].site {
            self.drop_site(s);
        }
        self.group_seq += 1;
        let group = &mut self.groups[g];
        group.removed = true;
        group.seq = self.group_seq;
        self.group_index.remove(&group.id);
        self.group_index.remove(&group.nickname);
    }

    /// Renames a group (its site keeps its URL, as in SharePoint).
    pub fn rename_group(&mut self, g: usize, name: &str) -> Result<(), SimError> {
        check_label("group name", name)?;
        self.group_seq += 1;
        let group = &mut self.groups[g];
        group.name = name.to_string();
        group.seq = self.group_seq;
        Ok(())
    }

    /// A live group's index by id or mail (nickname).
    pub fn group(&self, id: &str) -> Result<usize, SimError> {
        let key = id.split('@').next().unwrap_or(id).to_ascii_lowercase();
        self.group_index
            .get(id)
            .or_else(|| self.group_index.get(&key))
            .copied()
            .ok_or_else(|| SimError::NotFound(format!("group {id} not found")))
    }

    /// A Unified group's drive (its site's default library), or 404.
    pub fn group_drive(&self, id: &str) -> Result<usize, SimError> {
        let g = self.group(id)?;
        self.groups[g]
            .site
            .and_then(|s| self.sites[s].drives.first().copied())
            .ok_or_else(|| SimError::NotFound(format!("group {id} has no drive")))
    }

    /// The control API's view of a group.
    pub fn sim_group(&self, g: usize) -> SimGroup {
        let group = &self.groups[g];
        SimGroup {
            id: group.id.clone(),
            name: group.name.clone(),
            mail: group.mail(),
            unified: group.unified,
            site_id: group.site.map(|s| self.sites[s].id.clone()),
            drive_id: group
                .site
                .and_then(|s| self.sites[s].drives.first())
                .map(|&d| self.drives[d].id.clone()),
        }
    }

    /// Indices of the groups that exist.
    pub fn live_groups(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.groups.len()).filter(|&g| !self.groups[g].removed)
    }
}

/// The group as Graph shows it, every property.
pub(crate) fn group_json(t: &Tenant, g: usize) -> Value {
    let group = &t.groups[g];
    let types: Vec<&str> = if group.unified {
        vec!["Unified"]
    } else {
        vec![]
    };
    json!({
        "id": group.id,
        "displayName": group.name,
        "mail": group.mail(),
        "mailNickname": group.nickname,
        "mailEnabled": group.unified,
        "securityEnabled": !group.unified,
        "groupTypes": types,
        "visibility": if group.unified { Some("Private") } else { None },
        "createdDateTime": ids::iso8601(u64::from(group.created)),
    })
}

/// The properties `$select` names, checked (`id` is always returned).
fn parse_select(req: &SimRequest) -> Result<Option<Vec<String>>, SimResponse> {
    let Some(select) = req.query("$select") else {
        return Ok(None);
    };
    let mut props = vec!["id".to_string()];
    for p in select.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some(known) = PROPERTIES.iter().find(|k| k.eq_ignore_ascii_case(p)) else {
            return Err(SimResponse::graph_error(
                400,
                "Request_BadRequest",
                &format!("Could not find a property named '{p}' on type 'microsoft.graph.group'."),
            ));
        };
        props.push((*known).to_string());
    }
    Ok(Some(props))
}

/// `value` reduced to the selected properties.
fn selected(value: Value, props: Option<&[String]>) -> Value {
    match (value, props) {
        (Value::Object(map), Some(props)) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| props.contains(k))
                .collect::<Map<String, Value>>(),
        ),
        (v, _) => v,
    }
}

/// Whether `$filter` asks for Unified groups only; an error for any other filter.
fn unified_only(req: &SimRequest) -> Result<bool, SimResponse> {
    let Some(filter) = req.query("$filter") else {
        return Ok(false);
    };
    let normal: String = filter
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .map(|c| if c == '"' { '\'' } else { c })
        .collect();
    if normal == UNIFIED_FILTER {
        Ok(true)
    } else {
        Err(SimResponse::graph_error(
            400,
            "Request_UnsupportedQuery",
            &format!("Unsupported query: $filter={filter}"),
        ))
    }
}

/// `GET /groups`: every live group (or the Unified ones), with `$select`, as a list
/// of JSON values for the paged collection.
pub(crate) fn list(t: &Tenant, req: &SimRequest) -> Result<Vec<Value>, SimResponse> {
    let props = parse_select(req)?;
    let unified = unified_only(req)?;
    Ok(t.live_groups()
        .filter(|&g| !unified || t.groups[g].unified)
        .map(|g| selected(group_json(t, g), props.as_deref()))
        .collect())
}

/// `GET /groups/{id}`.
pub(crate) fn get(t: &Tenant, req: &SimRequest, id: &str) -> Result<SimResponse, SimError> {
    let g = t.group(id)?;
    Ok(match parse_select(req) {
        Ok(props) => SimResponse::json(200, &selected(group_json(t, g), props.as_deref())),
        Err(bad) => bad,
    })
}

/// The page size asked for with `Prefer: odata.maxpagesize=N`.
fn max_page_size(req: &SimRequest) -> usize {
    req.header("prefer")
        .into_iter()
        .flat_map(|p| p.split(','))
        .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .find_map(|n| n.trim().parse::<usize>().ok())
        .map_or(DEFAULT_PAGE, |n| n.clamp(1, MAX_PAGE))
}

fn expired(fresh: &str) -> SimResponse {
    SimResponse::graph_error(
        410,
        "resyncRequired",
        "The delta token is expired or not valid; start a new round without it.",
    )
    .with_header("Location", fresh)
}

/// `GET /groups/delta`: the live groups once, then the groups created, changed or
/// deleted (`@removed`) since the deltaLink; paged by `Prefer: odata.maxpagesize`.
pub(crate) fn delta(t: &Tenant, policy: TokenPolicy, req: &SimRequest, base: &str) -> SimResponse {
    let fresh = format!("{base}/v1.0/groups/delta");
    let props = match parse_select(req) {
        Ok(p) => p,
        Err(bad) => return bad,
    };
    if req.query("$filter").is_some() {
        return SimResponse::graph_error(
            400,
            "Request_UnsupportedQuery",
            "$filter is not supported on /groups/delta here; filter on groupTypes yourself",
        );
    }
    let decode = |tok: &str| match DeltaToken::decode(tok, policy.key) {
        Some(d) if d.drive == GROUPS_TOKEN && d.epoch == t.epoch => Some(d.cursor),
        _ => None,
    };
    // (since, upto, offset): the round reports groups with since < seq <= upto.
    let (since, upto, offset) = match (req.query("$skiptoken"), req.query("$deltatoken")) {
        (Some(skip), _) => match decode(skip) {
            Some(Cursor::Full {
                start_seq,
                bound,
                next,
            }) => (start_seq, u64::from(bound), next as usize),
            _ => return expired(&fresh),
        },
        (None, Some("latest")) => (t.group_seq, t.group_seq, 0),
        (None, Some(tok)) => match decode(tok) {
            Some(Cursor::Changes { since }) => (since, t.group_seq, 0),
            _ => return expired(&fresh),
        },
        (None, None) => (0, t.group_seq, 0),
    };
    let Ok(bound) = u32::try_from(upto) else {
        return SimResponse::graph_error(500, "generalException", "group sequence overflow");
    };
    let page = max_page_size(req);
    let round: Vec<usize> = (0..t.groups.len())
        .filter(|&g| {
            let group = &t.groups[g];
            group.seq > since && group.seq <= upto && (since > 0 || !group.removed)
        })
        .collect();
    let end = offset.saturating_add(page).min(round.len());
    let value: Vec<Value> = round[offset.min(end)..end]
        .iter()
        .map(|&g| {
            let group = &t.groups[g];
            if group.removed {
                json!({ "id": group.id, "@removed": { "reason": "changed" } })
            } else {
                selected(group_json(t, g), props.as_deref())
            }
        })
        .collect();
    let select = req
        .query("$select")
        .map(|s| format!("&$select={}", encode_query_value(s)))
        .unwrap_or_default();
    let token = |cursor| DeltaToken {
        drive: GROUPS_TOKEN,
        epoch: t.epoch,
        issued: ids::unix_now(),
        cursor,
    };
    let mut body = json!({
        "@odata.context": format!("{base}/v1.0/$metadata#groups"),
        "value": value,
    });
    if end < round.len() {
        let next = token(Cursor::Full {
            start_seq: since,
            bound,
            next: end as u32,
        });
        body["@odata.nextLink"] = json!(format!(
            "{fresh}?$skiptoken={}{select}",
            next.encode(policy.key)
        ));
    } else {
        let done = token(Cursor::Changes { since: upto });
        body["@odata.deltaLink"] = json!(format!(
            "{fresh}?$deltatoken={}{select}",
            done.encode(policy.key)
        ));
    }
    SimResponse::json(200, &body)
        .with_header("Preference-Applied", format!("odata.maxpagesize={page}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::HOST;

    #[test]
    fn unified_groups_get_a_site_and_a_drive_and_deletion_takes_them_along() {
        let mut t = Tenant::new(1, 0);
        let g = t.add_group("Marketing Team", true, 0).unwrap();
        let sec = t.add_group("Auditors", false, 0).unwrap();
        assert!(matches!(
            t.add_group("marketing-team", true, 0),
            Err(SimError::Conflict(_))
        ));
        assert!(t.add_group("!!", true, 0).is_err());
        let group = &t.groups[g];
        assert_eq!(
            group.mail().as_deref(),
            Some("marketingteam@sim.onmicrosoft.com")
        );
        let site = group.site.unwrap();
        assert_eq!(
            t.sites[site].web_url,
            format!("https://{HOST}/sites/marketingteam")
        );
        assert_eq!(t.sites[site].group, Some(g));
        let d = t.group_drive(&group.id).unwrap();
        assert_eq!(t.drives[d].site, Some(site));
        assert_eq!(t.group("MarketingTeam@sim.onmicrosoft.com").unwrap(), g);
        assert!(t.group_drive(&t.groups[sec].id.clone()).is_err());
        assert!(matches!(t.remove_site(site), Err(SimError::Invalid(_))));

        let seq = t.group_seq;
        let id = t.groups[g].id.clone();
        t.remove_group(g);
        assert!(t.group(&id).is_err());
        assert!(t.sites[site].removed && t.drives[d].removed);
        assert_eq!(t.groups[g].seq, seq + 1);
        assert_eq!(t.live_groups().collect::<Vec<_>>(), vec![sec]);
    }
}
