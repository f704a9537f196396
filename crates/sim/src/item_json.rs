//! Serialises driveItems the way Graph delta returns them, honouring `$select`.

use crate::content::tempauth::DownloadUrls;
use crate::drive::{Drive, NO_PARENT, flag};
use crate::ids;
use crate::json::JsonOut;

/// A set of driveItem properties (`$select`); `id` is always included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Props(u32);

/// The selectable properties; the last one, the download URL, only when asked for.
const PROPERTIES: [&str; 21] = [
    "name",
    "parentReference",
    "eTag",
    "cTag",
    "size",
    "file",
    "folder",
    "createdDateTime",
    "lastModifiedDateTime",
    "root",
    "deleted",
    "shared",
    "package",
    "malware",
    "remoteItem",
    "createdBy",
    "lastModifiedBy",
    "webUrl",
    "sharepointIds",
    "fileSystemInfo",
    "@microsoft.graph.downloadUrl",
];

/// Real driveItem properties the simulator accepts in `$select` but does not model.
const UNMODELLED: [&str; 7] = [
    "description",
    "image",
    "photo",
    "video",
    "audio",
    "specialFolder",
    "webDavUrl",
];

impl Props {
    /// Every modelled property but the download URL (no `$select`).
    pub const ALL: Props = Props((1 << (PROPERTIES.len() - 1)) - 1);

    /// Parses a `$select` value; an unknown property is an error naming it.
    pub fn parse(select: &str) -> Result<Props, String> {
        let mut bits = 0u32;
        for name in select.split(',').map(str::trim) {
            if name == "id" || UNMODELLED.iter().any(|u| u.eq_ignore_ascii_case(name)) {
                continue;
            }
            match PROPERTIES.iter().position(|p| p.eq_ignore_ascii_case(name)) {
                Some(i) => bits |= 1 << i,
                None => {
                    return Err(format!(
                        "Could not find a property named '{name}' on type 'microsoft.graph.driveItem'."
                    ));
                }
            }
        }
        Ok(Props(bits))
    }

    fn has(self, name: &str) -> bool {
        PROPERTIES
            .iter()
            .position(|p| *p == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// How items are presented, from the request's Prefer headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub props: Props,
    /// `Prefer: hierarchicalsharing`.
    pub hierarchical_sharing: bool,
    /// `Prefer: deltashowsharingchanges` and an incremental feed.
    pub annotate_sharing_changes: bool,
    /// Issues `@microsoft.graph.downloadUrl` when it is selected.
    pub download_urls: Option<&'a DownloadUrls>,
}

/// Pre-resolved property flags, so the per-item path does no string compares.
struct Wanted {
    name: bool,
    parent: bool,
    etag: bool,
    ctag: bool,
    size: bool,
    file: bool,
    folder: bool,
    created: bool,
    modified: bool,
    root: bool,
    deleted: bool,
    shared: bool,
    package: bool,
    malware: bool,
    remote: bool,
    created_by: bool,
    modified_by: bool,
    web_url: bool,
    sharepoint_ids: bool,
    fs_info: bool,
    download_url: bool,
}

impl Wanted {
    fn of(p: Props) -> Wanted {
        Wanted {
            name: p.has("name"),
            parent: p.has("parentReference"),
            etag: p.has("eTag"),
            ctag: p.has("cTag"),
            size: p.has("size"),
            file: p.has("file"),
            folder: p.has("folder"),
            created: p.has("createdDateTime"),
            modified: p.has("lastModifiedDateTime"),
            root: p.has("root"),
            deleted: p.has("deleted"),
            shared: p.has("shared"),
            package: p.has("package"),
            malware: p.has("malware"),
            remote: p.has("remoteItem"),
            created_by: p.has("createdBy"),
            modified_by: p.has("lastModifiedBy"),
            web_url: p.has("webUrl"),
            sharepoint_ids: p.has("sharepointIds"),
            fs_info: p.has("fileSystemInfo"),
            download_url: p.has("@microsoft.graph.downloadUrl"),
        }
    }
}

/// Writes items of one drive as JSON objects.
pub(crate) struct ItemWriter<'a> {
    drive: &'a Drive,
    view: View<'a>,
    wanted: Wanted,
    /// When download URLs are issued (Unix seconds).
    now: u64,
}

fn mime_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

impl<'a> ItemWriter<'a> {
    /// A writer for `drive` with the given presentation.
    pub fn new(drive: &'a Drive, view: View<'a>) -> ItemWriter<'a> {
        ItemWriter {
            drive,
            view,
            wanted: Wanted::of(view.props),
            now: ids::unix_now(),
        }
    }

    /// Writes item `idx`. `own_change` is false when it only appears as a parent.
    pub fn write(&self, out: &mut JsonOut, idx: u32, own_change: bool) {
        let d = self.drive;
        let w = &self.wanted;
        let item = &d.items[idx as usize];
        let deleted = item.is_deleted();
        out.raw("{\"id\":\"");
        d.write_item_id(&mut out.buf, idx);
        out.raw("\"");
        if w.name && !deleted {
            out.raw(",\"name\":");
            out.string(&item.name);
        }
        if w.etag {
            out.raw(",\"eTag\":\"");
            d.write_tag(&mut out.buf, idx, false, b"\\\"");
            out.raw("\"");
        }
        if w.ctag && !deleted && !item.is_folder() {
            out.raw(",\"cTag\":\"");
            d.write_tag(&mut out.buf, idx, true, b"\\\"");
            out.raw("\"");
        }
        if w.size && !deleted {
            out.raw(",\"size\":");
            out.number(item.size);
        }
        if w.created && !deleted {
            out.raw(",\"createdDateTime\":\"");
            ids::write_iso8601(&mut out.buf, u64::from(item.created));
            out.raw("\"");
        }
        if w.modified {
            out.raw(",\"lastModifiedDateTime\":\"");
            ids::write_iso8601(&mut out.buf, u64::from(item.modified));
            out.raw("\"");
        }
        if w.parent {
            out.raw(",\"parentReference\":{\"driveId\":\"");
            out.raw(&d.id);
            out.raw("\",\"driveType\":\"");
            out.raw(d.kind.as_str());
            out.raw("\"");
            if item.parent != NO_PARENT {
                out.raw(",\"id\":\"");
                d.write_item_id(&mut out.buf, item.parent);
                out.raw("\"");
            }
            out.raw("}");
        }
        if item.is_folder() {
            if w.folder {
                out.raw(",\"folder\":{\"childCount\":");
                out.number(item.children.len() as u64);
                out.raw("}");
            }
        } else if item.flags & flag::REMOTE != 0 {
            if w.remote && !deleted {
                out.raw(",\"remoteItem\":{\"id\":\"01");
                out.raw(&ids::base32(ids::mix(d.salt, u64::from(idx)), 12));
                out.raw("\",\"parentReference\":{\"driveId\":\"b!");
                out.raw(&ids::base32(ids::mix(d.salt ^ 1, u64::from(idx)), 12));
                out.raw("\",\"driveType\":\"business\"},\"folder\":{\"childCount\":0}}");
            }
        } else if item.flags & flag::PACKAGE != 0 {
            if w.package && !deleted {
                out.raw(",\"package\":{\"type\":\"oneNote\"}");
            }
        } else if w.file {
            if deleted {
                out.raw(",\"file\":{}");
            } else {
                out.raw(",\"file\":{\"mimeType\":\"");
                out.raw(mime_type(&item.name));
                out.raw("\"");
                if let Some(hash) = d.quick_xor_hash(idx) {
                    out.raw(",\"hashes\":{\"quickXorHash\":\"");
                    ids::write_base64(&mut out.buf, &hash);
                    out.raw("\"}");
                }
                out.raw("}");
            }
        }
        if w.download_url && !deleted && item.has_content() && item.flags & flag::MALWARE == 0 {
            if let Some(urls) = self.view.download_urls {
                out.raw(",\"@microsoft.graph.downloadUrl\":");
                out.string(&urls.url(&d.id, &d.item_id(idx), self.now));
            }
        }
        if w.malware && !deleted && item.flags & flag::MALWARE != 0 {
            out.raw(",\"malware\":{\"description\":\"Sim.Test.Malware (simulated)\"}");
        }
        if !deleted {
            self.write_provenance(out, idx);
        }
        if w.root && idx == 0 {
            out.raw(",\"root\":{}");
        }
        if w.deleted && deleted {
            out.raw(",\"deleted\":{\"state\":\"deleted\"}");
        }
        if w.shared && !deleted {
            self.write_shared(out, idx);
        }
        if own_change
            && self.view.annotate_sharing_changes
            && item.flags & flag::PERMISSION_CHANGE != 0
        {
            out.raw(",\"@microsoft.graph.sharedChanged\":\"True\"");
        }
        out.raw("}");
    }

    /// `createdBy`, `lastModifiedBy`, `webUrl`, `sharepointIds` and `fileSystemInfo`,
    /// as selected: derived from the drive and the item, so they cost no memory.
    fn write_provenance(&self, out: &mut JsonOut, idx: u32) {
        let (d, w) = (self.drive, &self.wanted);
        let item = &d.items[idx as usize];
        let person = |out: &mut JsonOut, key: &str, n: u64| {
            let who = ids::mix(d.salt, n) % 8;
            out.raw(",\"");
            out.raw(key);
            out.raw("\":{\"user\":{\"id\":\"");
            ids::write_guid(&mut out.buf, ids::mix(0x5553_4552, who));
            out.raw(&format!(
                "\",\"displayName\":\"Sim User {who}\",\"email\":\"simuser{who}@sim.onmicrosoft.com\"}}}}"
            ));
        };
        if w.created_by {
            person(out, "createdBy", u64::from(idx));
        }
        if w.modified_by {
            person(
                out,
                "lastModifiedBy",
                u64::from(idx) ^ u64::from(item.etag_ver),
            );
        }
        if w.web_url {
            out.raw(",\"webUrl\":\"https://sim.sharepoint.com/_layouts/15/Doc.aspx?sourcedoc=");
            ids::write_guid(&mut out.buf, ids::mix(d.salt ^ 2, u64::from(idx)));
            out.raw("\"");
        }
        if w.sharepoint_ids {
            out.raw(",\"sharepointIds\":{\"listId\":\"");
            ids::write_guid(&mut out.buf, ids::mix(d.salt, 0x4C49_5354));
            out.raw(&format!(
                "\",\"listItemId\":\"{}\",\"listItemUniqueId\":\"",
                idx + 1
            ));
            ids::write_guid(&mut out.buf, ids::mix(d.salt ^ 2, u64::from(idx)));
            out.raw("\",\"siteUrl\":\"https://sim.sharepoint.com\"}");
        }
        if w.fs_info {
            out.raw(",\"fileSystemInfo\":{\"createdDateTime\":\"");
            ids::write_iso8601(&mut out.buf, u64::from(item.created));
            out.raw("\",\"lastModifiedDateTime\":\"");
            ids::write_iso8601(&mut out.buf, u64::from(item.modified));
            out.raw("\"}");
        }
    }

    /// The `shared` facet. With hierarchical sharing only the roots of permission
    /// hierarchies below the drive root carry it (and, until its next change, an
    /// item whose inheritance was just restored, as `{}`); without it every item
    /// below such a root does.
    fn write_shared(&self, out: &mut JsonOut, idx: u32) {
        let d = self.drive;
        let source = if self.view.hierarchical_sharing {
            if d.items[idx as usize].flags & flag::RESTORED != 0 {
                out.raw(",\"shared\":{}");
                return;
            }
            if d.is_unique(idx) { idx } else { 0 }
        } else {
            d.permission_source(idx)
        };
        if source != 0 {
            out.raw(",\"shared\":{\"scope\":\"");
            out.raw(d.sharing_scope(source));
            out.raw("\"}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::{Body, DriveKind, Update};
    use serde_json::Value;

    fn drive(kind: DriveKind) -> Drive {
        Drive::new("b!d".into(), 3, kind, "Docs".into(), None, None, 0)
    }

    fn render(d: &Drive, idx: u32, view: View) -> Value {
        let mut o = JsonOut::with_capacity(256);
        ItemWriter::new(d, view).write(&mut o, idx, true);
        serde_json::from_slice(&o.buf).unwrap()
    }

    #[test]
    fn select_limits_properties_and_deletes_hide_name_and_ctag() {
        let mut d = drive(DriveKind::Business);
        let f = d
            .create(0, "Résumé 'v2'.txt", false, Body::Bytes(b"xy"), 5)
            .unwrap();
        let all = View {
            props: Props::ALL,
            hierarchical_sharing: false,
            annotate_sharing_changes: false,
            download_urls: None,
        };
        let v = render(&d, f, all);
        assert_eq!(v["name"], "Résumé 'v2'.txt");
        assert_eq!(v["size"], 2);
        assert!(v["cTag"].as_str().unwrap().starts_with("\"c:{"));
        assert_eq!(v["parentReference"]["id"], d.item_id(0).as_str());
        assert!(v["parentReference"].get("path").is_none());
        assert_eq!(
            v["file"]["hashes"]["quickXorHash"],
            crate::quick_xor_hash(b"xy").as_str()
        );
        assert!(
            v.get("@microsoft.graph.downloadUrl").is_none(),
            "only when selected"
        );
        let root = render(&d, 0, all);
        assert!(root["root"].is_object() && root["cTag"].is_null());

        let sel = View {
            props: Props::parse("name,eTag").unwrap(),
            ..all
        };
        let v = render(&d, f, sel);
        assert_eq!(v.as_object().unwrap().len(), 3);
        assert!(Props::parse("name,bogus").is_err());
        assert!(Props::parse("id,webUrl").is_ok());

        d.delete(f, 6).unwrap();
        let v = render(&d, f, all);
        assert!(v["deleted"].is_object());
        assert!(v.get("name").is_none() && v.get("cTag").is_none());
    }

    #[test]
    fn sharing_facets_follow_the_prefer_headers() {
        let mut d = drive(DriveKind::Library);
        let folder = d.create(0, "F", true, Body::Bytes(b""), 1).unwrap();
        let child = d
            .create(folder, "c.txt", false, Body::Bytes(b""), 1)
            .unwrap();
        d.break_inheritance(folder, 2).unwrap();
        let flat = View {
            props: Props::ALL,
            hierarchical_sharing: false,
            annotate_sharing_changes: true,
            download_urls: None,
        };
        let hier = View {
            hierarchical_sharing: true,
            ..flat
        };
        assert_eq!(render(&d, child, flat)["shared"]["scope"], "users");
        assert!(render(&d, child, hier).get("shared").is_none());
        assert!(render(&d, 0, hier).get("shared").is_none(), "not the root");
        assert!(render(&d, 0, flat).get("shared").is_none());
        let f = render(&d, folder, hier);
        assert_eq!(f["shared"]["scope"], "users");
        assert_eq!(f["@microsoft.graph.sharedChanged"], "True");
        d.restore_inheritance(folder, 3).unwrap();
        assert_eq!(render(&d, folder, hier)["shared"], serde_json::json!({}));
        assert!(render(&d, folder, flat).get("shared").is_none());
        let rename = Update {
            name: Some("G"),
            parent: None,
            content: None,
        };
        d.update(folder, rename, 4).unwrap();
        let f = render(&d, folder, hier);
        assert!(f.get("shared").is_none(), "only until the next change");
        assert!(f.get("@microsoft.graph.sharedChanged").is_none());
    }

    #[test]
    fn download_urls_only_for_files_with_content_when_selected() {
        let mut d = drive(DriveKind::Business);
        let file = d.create(0, "f.txt", false, Body::Bytes(b"x"), 1).unwrap();
        let folder = d.create(0, "F", true, Body::Bytes(b""), 1).unwrap();
        let notebook = d.add_generated(0, "N".into(), false, 5, 1, flag::PACKAGE);
        let malware = d.add_generated(0, "m.exe".into(), false, 5, 1, flag::MALWARE);
        let urls = DownloadUrls::new("http://c:2".into(), 0, 60);
        let view = View {
            props: Props::parse("id,@microsoft.graph.downloadUrl").unwrap(),
            hierarchical_sharing: false,
            annotate_sharing_changes: false,
            download_urls: Some(&urls),
        };
        let url = render(&d, file, view)["@microsoft.graph.downloadUrl"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            url.starts_with("http://c:2/_layouts/15/download.aspx?UniqueId="),
            "{url}"
        );
        for none in [folder, notebook, malware, 0] {
            assert!(
                render(&d, none, view)
                    .get("@microsoft.graph.downloadUrl")
                    .is_none()
            );
        }
        let notebook_json = render(
            &d,
            notebook,
            View {
                props: Props::ALL,
                ..view
            },
        );
        assert!(notebook_json.get("file").is_none() && notebook_json["package"].is_object());
    }

    proptest::proptest! {
        #[test]
        fn select_parsing_never_panics(s in ".*") {
            let _ = Props::parse(&s);
        }
    }
}
