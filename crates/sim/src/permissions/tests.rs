//! The permission model through the simulator's Rust API, its control API and
//! Graph's `/permissions` and delta routes (served in process).

use serde_json::{Value, json};

use crate::api::{LinkOptions, SimPermission};
use crate::config::{Faults, SharingConfig, SimConfig};
use crate::request::SimRequest;
use crate::{Outcome, SimItem, Simulator};

const NO_SHARING: SharingConfig = SharingConfig {
    unique_folder_permille: 0,
    unique_file_permille: 0,
    anyone_link_percent: 0,
    organization_link_percent: 0,
    guest_percent: 0,
};

/// A simulator without generated items: the root site's library, one more site's,
/// and two users' OneDrives (a third user has none).
struct Fixture {
    sim: Simulator,
    token: String,
    drive: String,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(SimConfig::default())
    }

    fn with(config: SimConfig) -> Fixture {
        let sim = Simulator::start(SimConfig {
            items: 0,
            threads: 1,
            sharing: NO_SHARING,
            ..config
        })
        .unwrap();
        let token = sim.shared.auth.issue().1;
        let drive = sim.drives()[0].id.clone();
        Fixture { sim, token, drive }
    }

    fn folder(&self, parent: &str, name: &str) -> SimItem {
        self.sim
            .create_item(&self.drive, parent, name, true, b"")
            .unwrap()
    }

    fn file(&self, parent: &str, name: &str) -> SimItem {
        self.sim
            .create_item(&self.drive, parent, name, false, b"x")
            .unwrap()
    }

    fn grant(&self, item: &str, principal: &str, roles: &[&str]) -> SimPermission {
        self.sim.grant(&self.drive, item, principal, roles).unwrap()
    }

    fn link(&self, item: &str, link_type: &str, scope: &str) -> SimPermission {
        self.sim
            .create_link(&self.drive, item, link_type, scope, LinkOptions::default())
            .unwrap()
    }

    /// The effective grants' ids and where they come from.
    fn ids(&self, item: &str) -> (Option<String>, Vec<String>) {
        let p = self.sim.permissions(&self.drive, item).unwrap();
        (
            p.inherited_from,
            p.grants.into_iter().map(|g| g.id).collect(),
        )
    }

    fn root(&self) -> String {
        self.sim.root_id(&self.drive).unwrap()
    }

    /// Serves a request in process: (status, JSON body or null).
    fn send(&self, method: &str, url: &str, prefer: &str, body: Option<Value>) -> (u16, Value) {
        let url = url.split_once("/v1.0").map_or(url, |(_, rest)| rest);
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let path = if path.starts_with("/_sim") {
            path.to_string()
        } else {
            format!("/v1.0{path}")
        };
        let mut headers = vec![("Authorization".into(), format!("Bearer {}", self.token))];
        if !prefer.is_empty() {
            headers.push(("Prefer".into(), prefer.into()));
        }
        let req = SimRequest {
            method: method.into(),
            path,
            query: query
                .split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        };
        match self.sim.serve(&req) {
            Outcome::Reply(r) => (
                r.status,
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            ),
            Outcome::Reset => panic!("reset"),
        }
    }

    fn get(&self, url: &str) -> (u16, Value) {
        self.send("GET", url, "", None)
    }

    fn permissions_url(&self, item: &str) -> String {
        format!("/drives/{}/items/{item}/permissions", self.drive)
    }

    /// Follows a delta feed to its end: (items, deltaLink).
    fn delta(&self, url: &str, prefer: &str) -> (Vec<Value>, String) {
        let mut url = url.to_string();
        let mut items = Vec::new();
        loop {
            let (status, page) = self.send("GET", &url, prefer, None);
            assert_eq!(status, 200, "{page}");
            items.extend(page["value"].as_array().unwrap().iter().cloned());
            match page["@odata.nextLink"].as_str() {
                Some(next) => url = next.to_string(),
                None => return (items, page["@odata.deltaLink"].as_str().unwrap().into()),
            }
        }
    }

    fn latest(&self) -> String {
        let (_, link) = self.delta(
            &format!("/drives/{}/root/delta?token=latest", self.drive),
            "",
        );
        link
    }
}

fn find<'v>(items: &'v [Value], id: &str) -> &'v Value {
    items
        .iter()
        .rfind(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in the feed"))
}

#[test]
fn roots_belong_to_the_site_groups_or_the_onedrives_owner() {
    let f = Fixture::new();
    let library = f.sim.permissions(&f.drive, &f.root()).unwrap();
    assert_eq!(library.inherited_from, None);
    let groups: Vec<(&str, &str, &str)> = library
        .grants
        .iter()
        .map(|g| {
            (
                g.kind.as_str(),
                g.principal.as_deref().unwrap(),
                g.roles[0].as_str(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("site_group", "root Owners", "owner"),
            ("site_group", "root Members", "write"),
            ("site_group", "root Visitors", "read"),
        ]
    );
    let onedrive = f
        .sim
        .drives()
        .into_iter()
        .find(|d| d.kind == "business")
        .unwrap();
    let owner = f.sim.permissions(&onedrive.id, "root").unwrap().grants;
    assert_eq!(owner.len(), 1);
    assert_eq!(
        (owner[0].kind.as_str(), owner[0].principal.as_deref()),
        ("user", Some("user0@sim.onmicrosoft.com"))
    );
    assert_eq!(owner[0].roles, ["owner"]);
    assert_eq!(f.sim.permission_roots(&f.drive).unwrap(), [f.root()]);
}

#[test]
fn items_inherit_from_their_nearest_unique_ancestor() {
    let f = Fixture::new();
    let a = f.folder("root", "A");
    let b = f.folder(&a.id, "B");
    let file = f.file(&b.id, "f.txt");
    let (from, root_ids) = f.ids(&f.root());
    assert_eq!(from, None);
    assert_eq!(f.ids(&file.id), (Some(f.root()), root_ids.clone()));

    let copy = f.sim.break_inheritance(&f.drive, &a.id).unwrap();
    assert_eq!(copy.inherited_from, None);
    let ids: Vec<String> = copy.grants.iter().map(|g| g.id.clone()).collect();
    assert_eq!(ids, root_ids, "a copy with the same ids");
    assert_eq!(f.ids(&file.id).0, Some(a.id.clone()));

    let on_b = f.grant(&b.id, "user:user1@sim.onmicrosoft.com", &["write"]);
    assert_eq!(f.ids(&file.id).0, Some(b.id.clone()));
    assert_eq!(f.ids(&b.id).1.len(), 4);
    let on_a = f.grant(&a.id, "user:user1@sim.onmicrosoft.com", &["read"]);
    assert_eq!(on_a.id, on_b.id, "one principal, one id on every item");
    assert_eq!(
        f.sim.permission_roots(&f.drive).unwrap(),
        [f.root(), a.id.clone(), b.id.clone()]
    );
    assert!(
        f.sim
            .snapshot(&f.drive)
            .unwrap()
            .iter()
            .all(|i| i.shared == (i.id == a.id || i.id == b.id))
    );
}

#[test]
fn a_principal_has_one_grant_per_item_and_each_link_its_own_id() {
    let f = Fixture::new();
    let a = f.folder("root", "A");
    let b = f.folder(&a.id, "B");
    f.grant(&a.id, "guest:Ann@Partner3.example", &["read"]);
    let again = f.grant(&a.id, "guest:ann@partner3.example", &["write", "read"]);
    assert_eq!(again.roles, ["read", "write"]);
    assert!(again.external);
    let grants = f.sim.permissions(&f.drive, &a.id).unwrap().grants;
    assert_eq!(grants.iter().filter(|g| g.kind == "guest").count(), 1);

    let one = f.link(&a.id, "view", "organization");
    let two = f.link(&a.id, "view", "organization");
    assert_ne!(one.id, two.id);
    assert_eq!(
        (
            one.link_type.as_deref(),
            one.link_scope.as_deref(),
            one.roles.clone()
        ),
        (Some("view"), Some("organization"), vec!["read".to_string()])
    );
    assert!(!one.external);
    assert!(f.link(&a.id, "edit", "anonymous").external);
    let copied = f.sim.break_inheritance(&f.drive, &b.id).unwrap().grants;
    assert!(
        copied.iter().any(|g| g.id == one.id),
        "links keep their ids"
    );

    let users = f
        .sim
        .create_link(
            &f.drive,
            &b.id,
            "view",
            "users",
            LinkOptions {
                recipients: vec!["user1@sim.onmicrosoft.com".into()],
                ..LinkOptions::default()
            },
        )
        .unwrap();
    assert!(!users.external, "a tenant user is no outsider");
}

#[test]
fn refusals_say_why_with_graphs_status() {
    let f = Fixture::new();
    let a = f.folder("root", "A");
    let file = f.file(&a.id, "f.txt");
    let item = |id: &str| format!("/_sim/drives/{}/items/{id}", f.drive);
    let status = |method: &str, path: String, body: Option<Value>| {
        let (status, v) = f.send(method, &path, "", body);
        (
            status,
            v["error"]["message"].as_str().unwrap_or("").to_string(),
        )
    };
    let root_owners = f.ids(&f.root()).1[0].clone();
    let (code, message) = status(
        "DELETE",
        format!("{}/permissions/{root_owners}", item(&file.id)),
        None,
    );
    assert_eq!(code, 400);
    assert!(message.contains("inherited"), "{message}");
    f.sim.break_inheritance(&f.drive, &a.id).unwrap();
    assert_eq!(
        status("DELETE", format!("{}/permissions/nope", item(&a.id)), None).0,
        404
    );
    let (code, message) = status(
        "DELETE",
        format!("{}/permissions/{root_owners}", item(&a.id)),
        None,
    );
    assert_eq!(code, 400);
    assert!(message.contains("owner"), "{message}");
    let guest = f.grant(&a.id, "guest:bo@partner1.example", &["read"]);
    let path = format!("{}/permissions/{}", item(&a.id), guest.id);
    assert_eq!(status("DELETE", path, None).0, 204);
    assert_eq!(f.ids(&a.id).1.len(), 3);

    for (path, why) in [
        (format!("{}/break-inheritance", item(&a.id)), "unique"),
        (format!("{}/restore-inheritance", item(&f.root())), "root"),
        (
            format!("{}/restore-inheritance", item(&file.id)),
            "inherits",
        ),
    ] {
        let (code, message) = status("POST", path, None);
        assert_eq!(code, 400);
        assert!(message.contains(why), "{message}");
    }
    let grant = |principal: &str, roles: Value| {
        status(
            "POST",
            format!("{}/permissions", item(&file.id)),
            Some(json!({ "principal": principal, "roles": roles })),
        )
        .0
    };
    assert_eq!(
        grant("user:nobody@sim.onmicrosoft.com", json!(["read"])),
        404
    );
    assert_eq!(grant("group:nope", json!(["read"])), 404);
    assert_eq!(grant("guest:not-an-address", json!(["read"])), 400);
    assert_eq!(
        grant("guest:user1@sim.onmicrosoft.com", json!(["read"])),
        400
    );
    assert_eq!(grant("bob", json!(["read"])), 400);
    assert_eq!(grant("user:user1@sim.onmicrosoft.com", json!([])), 400);
    assert_eq!(
        grant("user:user1@sim.onmicrosoft.com", json!(["admin"])),
        400
    );
    let link = |body: Value| status("POST", format!("{}/links", item(&file.id)), Some(body)).0;
    assert_eq!(link(json!({"type": "view", "scope": "users"})), 400);
    assert_eq!(
        link(json!({"type": "view", "scope": "anonymous", "recipients": ["a@b.example"]})),
        400
    );
    assert_eq!(
        link(json!({"type": "view", "scope": "anonymous", "expiration": "soon"})),
        400
    );
    assert_eq!(link(json!({"type": "share", "scope": "anonymous"})), 400);
    assert_eq!(
        f.ids(&file.id).0,
        Some(a.id.clone()),
        "refusals change nothing"
    );
    assert!(f.sim.unshare_item(&f.drive, &file.id).is_err());
}

#[test]
fn moves_follow_the_new_parent_unless_the_item_is_unique() {
    let f = Fixture::new();
    let shared = f.folder("root", "Shared");
    let plain = f.folder("root", "Plain");
    let file = f.file(&shared.id, "f.txt");
    let unique = f.folder(&shared.id, "Unique");
    f.grant(&shared.id, "guest:ann@partner3.example", &["read"]);
    f.link(&unique.id, "view", "anonymous");
    assert_eq!(f.ids(&file.id).0, Some(shared.id.clone()));
    let before = f.ids(&unique.id);
    for item in [&file.id, &unique.id] {
        let patch = crate::ItemPatch {
            parent_id: Some(plain.id.clone()),
            ..crate::ItemPatch::default()
        };
        f.sim.update_item(&f.drive, item, patch).unwrap();
    }
    assert_eq!(f.ids(&file.id).0, Some(f.root()));
    assert_eq!(f.ids(&unique.id), before);
}

#[test]
fn deleting_a_folder_drops_the_unique_permissions_below_it() {
    let f = Fixture::new();
    let top = f.folder("root", "Top");
    let inner = f.folder(&top.id, "Inner");
    let file = f.file(&inner.id, "f.txt");
    f.link(&inner.id, "edit", "organization");
    f.link(&file.id, "view", "anonymous");
    assert_eq!(f.sim.permission_roots(&f.drive).unwrap().len(), 3);
    f.sim.delete_item(&f.drive, &top.id).unwrap();
    assert_eq!(f.sim.permission_roots(&f.drive).unwrap(), [f.root()]);
    assert!(f.sim.permissions(&f.drive, &file.id).is_err());
}

#[test]
fn the_endpoint_lists_graph_permission_objects() {
    let f = Fixture::new();
    let group = f.sim.add_group("Sales Team", true).unwrap();
    let folder = f.folder("root", "Docs");
    let file = f.file(&folder.id, "plan.txt");
    f.grant(&folder.id, "user:user1@sim.onmicrosoft.com", &["write"]);
    f.grant(&folder.id, "guest:ann@partner3.example", &["read"]);
    f.grant(&folder.id, &format!("group:{}", group.id), &["read"]);
    let options = LinkOptions {
        password: true,
        expiration: Some("2030-01-02T03:04:05+01:00".into()),
        recipients: vec![
            "user2@sim.onmicrosoft.com".into(),
            "bo@partner1.example".into(),
        ],
    };
    f.sim
        .create_link(&f.drive, &folder.id, "edit", "users", options)
        .unwrap();

    let (status, page) = f.get(&f.permissions_url(&folder.id));
    assert_eq!(status, 200, "{page}");
    let value = page["value"].as_array().unwrap();
    assert_eq!(value.len(), 7);
    assert!(value.iter().all(|p| p.get("inheritedFrom").is_none()));
    let owners = &value[0];
    assert_eq!(owners["roles"], json!(["owner"]));
    assert_eq!(
        owners["grantedToV2"]["siteGroup"]["displayName"],
        "root Owners"
    );
    assert_eq!(
        owners["grantedToV2"]["siteGroup"]["loginName"],
        "root Owners"
    );
    assert_eq!(owners["grantedToV2"]["siteGroup"]["id"], "3");

    let user = &value[3];
    let user1 = &f.sim.users()[1];
    assert_eq!(user["roles"], json!(["write"]));
    assert_eq!(
        user["grantedToV2"]["user"],
        json!({"id": user1.id, "displayName": "user1", "email": "user1@sim.onmicrosoft.com"})
    );
    let site_user = &user["grantedToV2"]["siteUser"];
    assert_eq!(
        site_user["loginName"],
        "i:0#.f|membership|user1@sim.onmicrosoft.com"
    );
    assert!(site_user["id"].is_string() && site_user["email"].is_string());

    let guest = &value[4]["grantedToV2"];
    assert_eq!(
        guest["user"],
        json!({"displayName": "ann", "email": "ann@partner3.example"})
    );
    assert_eq!(
        guest["siteUser"]["loginName"],
        "i:0#.f|membership|ann_partner3.example#ext#@sim.onmicrosoft.com"
    );

    assert_eq!(
        value[5]["grantedToV2"]["group"],
        json!({"id": group.id, "displayName": "Sales Team", "email": group.mail})
    );

    let link = &value[6];
    assert_eq!(link["roles"], json!(["write"]));
    assert_eq!(link["link"]["type"], "edit");
    assert_eq!(link["link"]["scope"], "users");
    assert_eq!(link["link"]["preventsDownload"], false);
    assert!(
        link["link"]["webUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(link["hasPassword"], true);
    assert_eq!(link["expirationDateTime"], "2030-01-02T02:04:05Z");
    let recipients = link["grantedToIdentitiesV2"].as_array().unwrap();
    assert_eq!(recipients.len(), 2);
    assert!(recipients[0]["user"]["id"].is_string());
    assert!(recipients[1]["user"].get("id").is_none());

    let forms = [
        f.permissions_url(&file.id),
        format!("/drives/{}/root:/Docs/plan.txt:/permissions", f.drive),
        format!(
            "/drives/{}/items/{}:/plan.txt:/permissions",
            f.drive, folder.id
        ),
    ];
    for url in forms {
        let (status, page) = f.get(&url);
        assert_eq!(status, 200, "{url}: {page}");
        let value = page["value"].as_array().unwrap();
        assert_eq!(value.len(), 7);
        assert!(value.iter().all(|p| p["inheritedFrom"]
            == json!({"driveId": f.drive, "id": folder.id, "path": format!("/drives/{}/root:/Docs", f.drive)})));
    }
    let (_, page) = f.get(&format!("/drives/{}/root/permissions", f.drive));
    assert!(page["value"][0].get("inheritedFrom").is_none());
    let other = f.file("root", "top.txt");
    let (_, page) = f.get(&f.permissions_url(&other.id));
    assert_eq!(
        page["value"][0]["inheritedFrom"]["path"],
        format!("/drives/{}/root:", f.drive)
    );
    assert!(f.get(&f.permissions_url("nope")).0 == 404);
}

#[test]
fn permissions_come_in_pages() {
    let f = Fixture::with(SimConfig {
        permission_page_size: 4,
        ..SimConfig::default()
    });
    let folder = f.folder("root", "Many");
    for n in 0..7 {
        f.grant(
            &folder.id,
            &format!("guest:g{n}@partner2.example"),
            &["read"],
        );
    }
    let mut url = f.permissions_url(&folder.id);
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    loop {
        let (status, page) = f.get(&url);
        assert_eq!(status, 200, "{page}");
        let value = page["value"].as_array().unwrap();
        sizes.push(value.len());
        ids.extend(value.iter().map(|p| p["id"].as_str().unwrap().to_string()));
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(sizes, [4, 4, 2]);
    assert_eq!(ids, f.ids(&folder.id).1);
    let (_, all) = f.get(&format!("{}?$top=1000", f.permissions_url(&folder.id)));
    assert_eq!(all["value"].as_array().unwrap().len(), 10);
    assert!(all.get("@odata.nextLink").is_none());
    let (_, three) = f.get(&format!("{}?$top=3", f.permissions_url(&folder.id)));
    assert!(
        three["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$top=3")
    );
    assert_eq!(
        f.get(&format!("{}?$top=0", f.permissions_url(&folder.id)))
            .0,
        400
    );
    let stats = f.sim.stats();
    // Pages beyond the first: the two the nextLinks led to.
    assert_eq!((stats.permission_requests, stats.permission_pages), (6, 2));
}

#[test]
fn the_denied_fault_refuses_permissions_only() {
    let f = Fixture::new();
    f.sim
        .set_faults(Faults {
            permissions_denied: true,
            ..Faults::default()
        })
        .unwrap();
    let (status, body) = f.get(&f.permissions_url("root"));
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "accessDenied");
    assert_eq!(
        body["error"]["message"],
        "Access denied. Sites.FullControl.All is required."
    );
    assert_eq!(f.get(&format!("/drives/{}/root", f.drive)).0, 200);
    let stats = f.sim.stats();
    assert_eq!((stats.permission_requests, stats.permission_pages), (1, 0));
    let (status, _) = f.send(
        "POST",
        "/_sim/faults",
        "",
        Some(json!({"permissions_denied": false})),
    );
    assert_eq!(status, 204);
    assert_eq!(f.get(&f.permissions_url("root")).0, 200);
}

#[test]
fn delta_shows_sharing_by_the_prefer_headers() {
    let f = Fixture::new();
    let anyone = f.folder("root", "Anyone");
    let child = f.file(&anyone.id, "inside.txt");
    let org = f.folder("root", "Org");
    let users = f.folder("root", "Users");
    let since = f.latest();
    f.link(&anyone.id, "view", "organization");
    f.link(&anyone.id, "view", "anonymous");
    f.link(&org.id, "edit", "organization");
    f.grant(&users.id, "user:user2@sim.onmicrosoft.com", &["read"]);

    let both = "deltashowremovedasdeleted, deltatraversepermissiongaps, deltashowsharingchanges, hierarchicalsharing";
    let (items, after_share) = f.delta(&since, both);
    assert!(
        items.iter().all(|v| v["id"] != child.id.as_str()),
        "{items:?}"
    );
    for (item, scope) in [
        (&anyone, "anonymous"),
        (&org, "organization"),
        (&users, "users"),
    ] {
        let v = find(&items, &item.id);
        assert_eq!(v["shared"], json!({ "scope": scope }));
        assert_eq!(v["@microsoft.graph.sharedChanged"], "True");
    }
    let (plain, _) = f.delta(&since, "hierarchicalsharing");
    assert!(
        find(&plain, &anyone.id)
            .get("@microsoft.graph.sharedChanged")
            .is_none()
    );

    let full = format!("/drives/{}/root/delta", f.drive);
    let (hier, _) = f.delta(&full, "hierarchicalsharing");
    assert!(find(&hier, &child.id).get("shared").is_none());
    assert!(find(&hier, &f.root()).get("shared").is_none());
    assert!(
        find(&hier, &anyone.id)
            .get("@microsoft.graph.sharedChanged")
            .is_none()
    );
    let (flat, _) = f.delta(&full, "");
    assert_eq!(find(&flat, &child.id)["shared"]["scope"], "anonymous");
    assert!(find(&flat, &f.root()).get("shared").is_none());

    f.sim.restore_inheritance(&f.drive, &anyone.id).unwrap();
    let (items, after_restore) = f.delta(&after_share, both);
    let v = find(&items, &anyone.id);
    assert_eq!(v["shared"], json!({}));
    assert_eq!(v["@microsoft.graph.sharedChanged"], "True");
    let (flat, _) = f.delta(&full, "");
    assert!(find(&flat, &child.id).get("shared").is_none());

    let rename = crate::ItemPatch {
        name: Some("Renamed".into()),
        ..crate::ItemPatch::default()
    };
    f.sim.update_item(&f.drive, &anyone.id, rename).unwrap();
    let (items, _) = f.delta(&after_restore, both);
    let v = find(&items, &anyone.id);
    assert!(v.get("shared").is_none() && v.get("@microsoft.graph.sharedChanged").is_none());
}

#[test]
fn permission_changes_bump_the_items_etag() {
    let f = Fixture::new();
    let file = f.file("root", "f.txt");
    let shared = f.sim.share_item(&f.drive, &file.id).unwrap();
    assert!(shared.shared);
    assert_ne!(shared.etag, file.etag);
    assert_eq!(shared.ctag, file.ctag, "the content did not change");
    let unshared = f.sim.unshare_item(&f.drive, &file.id).unwrap();
    assert!(!unshared.shared);
    assert_ne!(unshared.etag, shared.etag);
}
