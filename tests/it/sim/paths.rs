//! Every path form Microsoft's Graph docs give for the resources m365sync uses, one by
//! one against the simulator: a site by id, as `root`, by host name and by
//! server-relative path; a drive by id and through its site, user or group; items
//! as `root`, `items/root`, `items/{id}`, `root:/{path}` and `items/{id}:/{path}`;
//! delta, content and permissions on each.

use crate::support::sim::{Client, agent, send, small_config};
use m365sync_sim::{SimConfig, Simulator};
use serde_json::Value;

/// A tenant with one team site (a group's), a user with a OneDrive, and in the
/// group's library `Reports/Q1/summary.txt`.
struct Tenant {
    sim: Simulator,
    client: Client,
    site_id: String,
    group_id: String,
    user_id: String,
    user_drive: String,
    /// The site's server-relative path, from its `webUrl`.
    site_path: String,
    drive: String,
    folder: String,
    file: String,
}

fn tenant() -> Tenant {
    let sim = Simulator::start(SimConfig {
        sites: 1,
        users: 1,
        users_without_drive: 0,
        groups: 0,
        items: 0,
        ..small_config()
    })
    .unwrap();
    let group = sim.add_group("Finance Team", true).unwrap();
    let drive = group.drive_id.clone().expect("a unified group has a drive");
    let root = sim.root_id(&drive).unwrap();
    let reports = sim
        .create_item(&drive, &root, "Reports", true, b"")
        .unwrap();
    let q1 = sim
        .create_item(&drive, &reports.id, "Q1", true, b"")
        .unwrap();
    let file = sim
        .create_item(&drive, &q1.id, "summary.txt", false, b"figures")
        .unwrap();
    let user = sim
        .drives()
        .into_iter()
        .find(|d| d.owner_user_id.is_some())
        .expect("a OneDrive");
    let client = Client::new(&sim);
    let site_id = group.site_id.clone().expect("a group site");
    let site = client
        .get(&format!("{}/sites/{site_id}", sim.graph_url()))
        .json();
    let site_path = site["webUrl"]
        .as_str()
        .and_then(|u| u.strip_prefix("https://sim.sharepoint.com/"))
        .expect("a site below the tenant's host")
        .to_string();
    Tenant {
        client,
        site_path,
        site_id,
        group_id: group.id,
        user_id: user.owner_user_id.unwrap(),
        user_drive: user.id,
        drive,
        folder: reports.id,
        file: file.id,
        sim,
    }
}

impl Tenant {
    /// GETs `path` below `/v1.0`; asserts the status and returns the JSON body.
    fn get(&self, path: &str, status: u16) -> Value {
        let r = self.client.get(&format!("{}{path}", self.sim.graph_url()));
        assert_eq!(
            r.status,
            status,
            "GET {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    /// The form of each way the docs name the group's site.
    fn site_forms(&self) -> Vec<String> {
        vec![
            format!("/sites/{}", self.site_id),
            format!("/sites/sim.sharepoint.com:/{}", self.site_path),
            format!("/sites/sim.sharepoint.com:/{}:", self.site_path),
        ]
    }

    /// Each way the docs name the group's library.
    fn drive_forms(&self) -> Vec<String> {
        vec![
            format!("/drives/{}", self.drive),
            format!("/groups/{}/drive", self.group_id),
            format!("/sites/{}/drive", self.site_id),
            format!("/sites/sim.sharepoint.com:/{}:/drive", self.site_path),
        ]
    }
}

#[test]
fn site_forms_name_the_same_site() {
    let t = tenant();
    for form in t.site_forms() {
        assert_eq!(t.get(&form, 200)["id"], t.site_id.as_str(), "{form}");
    }
    let root = t.get("/sites/root", 200);
    assert_eq!(t.get("/sites/sim.sharepoint.com", 200)["id"], root["id"]);
    assert!(root["root"].is_object());
    let all = t.get("/sites/getAllSites", 200);
    let ids: Vec<&str> = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&t.site_id.as_str()), "{ids:?}");
    t.get("/sites/sim.sharepoint.com:/sites/nowhere", 404);
    t.get("/sites/other.sharepoint.com", 404);
}

#[test]
fn drive_forms_name_the_same_drive_and_list_it() {
    let t = tenant();
    for form in t.drive_forms() {
        assert_eq!(t.get(&form, 200)["id"], t.drive.as_str(), "{form}");
    }
    assert_eq!(
        t.get(&format!("/users/{}/drive", t.user_id), 200)["id"],
        t.user_drive.as_str()
    );
    for list in [
        format!("/sites/{}/drives", t.site_id),
        format!("/groups/{}/drives", t.group_id),
        format!("/sites/sim.sharepoint.com:/{}:/drives", t.site_path),
    ] {
        assert_eq!(
            t.get(&list, 200)["value"][0]["id"],
            t.drive.as_str(),
            "{list}"
        );
    }
    let mine = t.get(&format!("/users/{}/drives", t.user_id), 200);
    assert_eq!(mine["value"][0]["id"], t.user_drive.as_str());
    // An app-only token has no signed-in user.
    let me = t.get("/me/drive", 400);
    assert!(
        me["error"]["message"]
            .as_str()
            .unwrap()
            .contains("delegated"),
        "{me}"
    );
}

#[test]
fn item_forms_name_the_same_item_on_every_drive_form() {
    let t = tenant();
    for drive in t.drive_forms() {
        let root = t.get(&format!("{drive}/root"), 200);
        assert_eq!(t.get(&format!("{drive}/items/root"), 200)["id"], root["id"]);
        for form in [
            format!("{drive}/items/{}", t.file),
            format!("{drive}/root:/Reports/Q1/summary.txt"),
            format!("{drive}/root:/Reports/Q1/summary.txt:"),
            format!("{drive}/root:/reports/q1/SUMMARY.txt:"),
            format!("{drive}/items/{}:/Q1/summary.txt:", t.folder),
            format!("{drive}/items/root:/Reports/Q1/summary.txt:"),
        ] {
            assert_eq!(t.get(&form, 200)["id"], t.file.as_str(), "{form}");
        }
        t.get(&format!("{drive}/root:/Reports/none.txt:"), 404);
    }
}

#[test]
fn content_and_permissions_on_every_item_form() {
    let t = tenant();
    for item in [
        format!("/drives/{}/items/{}", t.drive, t.file),
        format!("/drives/{}/root:/Reports/Q1/summary.txt:", t.drive),
        format!("/groups/{}/drive/items/{}", t.group_id, t.file),
        format!("/sites/{}/drive/root:/Reports/Q1/summary.txt:", t.site_id),
    ] {
        let r = t
            .client
            .get(&format!("{}{item}/content", t.sim.graph_url()));
        assert_eq!(r.status, 302, "{item}/content");
        let location = r.header("Location").unwrap();
        assert!(
            location.starts_with(t.sim.content_url()),
            "{item}: {location}"
        );
        let bytes = send(agent().get(location), None).unwrap();
        assert_eq!(
            (bytes.status, bytes.body.as_slice()),
            (200, &b"figures"[..]),
            "{item}/content"
        );
        assert!(t.get(&format!("{item}/permissions"), 200)["value"].is_array());
    }
}

#[test]
fn delta_on_every_drive_form_and_only_on_the_root() {
    let t = tenant();
    let mut forms: Vec<String> = t
        .drive_forms()
        .iter()
        .map(|d| format!("{d}/root/delta"))
        .collect();
    forms.push(format!("/drives/{}/items/root/delta", t.drive));
    forms.push(format!("/drives/{}/root/delta()", t.drive));
    for form in &forms {
        let (items, _, _) = t
            .client
            .delta_all(&format!("{}{form}", t.sim.graph_url()), &[]);
        let ids: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
        assert!(ids.contains(&t.file.as_str()), "{form}: {ids:?}");
    }
    let (items, _, _) = t.client.delta_all(
        &format!("{}/users/{}/drive/root/delta", t.sim.graph_url(), t.user_id),
        &[],
    );
    assert!(!items.is_empty());
    let refused = t.get(
        &format!("/drives/{}/items/{}/delta", t.drive, t.folder),
        400,
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("root"),
        "{refused}"
    );
    assert!(
        t.sim.stats().requests_by_route["GET /drives/{id}/items/root/delta"] >= 1,
        "the items form is counted under its own route"
    );
}
