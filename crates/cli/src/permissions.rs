//! `m365sync permissions`: who can reach an item, and which items anyone links,
//! external principals or one principal reach, from an engine's database.

use std::io::Write;
use std::path::PathBuf;

use clap::{ArgGroup, Args};
use m365sync::{Database, EffectivePermissions, Grant, GrantFilter, GrantKind};

use crate::err;

/// Flags of `m365sync permissions`.
#[derive(Args)]
#[command(group(ArgGroup::new("query").required(true)
    .args(["item", "path", "anyone_links", "external", "principal"])))]
pub struct PermissionsArgs {
    /// The engine's database (it must have run with `permissions.fetch`).
    #[arg(long)]
    db: PathBuf,
    /// Only this drive (default: every drive the database knows).
    #[arg(long)]
    drive: Option<String>,
    /// The effective permissions of the item with this id.
    #[arg(long)]
    item: Option<String>,
    /// The effective permissions of the item at this path (`/A/b.txt`).
    #[arg(long)]
    path: Option<String>,
    /// Every item an anyone link reaches.
    #[arg(long)]
    anyone_links: bool,
    /// Every item shared with principals outside the tenant.
    #[arg(long)]
    external: bool,
    /// Every item this user or group (id, email or login name) holds a grant on.
    #[arg(long)]
    principal: Option<String>,
    /// One JSON object per line per item.
    #[arg(long)]
    json: bool,
}

/// Runs the query and prints one line per item.
pub fn permissions(args: PermissionsArgs) -> Result<(), String> {
    let db = Database::open(&args.db).map_err(err)?;
    let mut out = std::io::stdout().lock();
    let mut print = |e: &EffectivePermissions| -> Result<(), String> {
        let line = if args.json {
            serde_json::to_string(e).map_err(err)?
        } else {
            describe(e)
        };
        writeln!(out, "{line}").map_err(err)
    };
    let filter = if args.anyone_links {
        Some(GrantFilter::AnyoneLinks)
    } else if args.external {
        Some(GrantFilter::External)
    } else {
        args.principal.clone().map(GrantFilter::Principal)
    };
    if let Some(filter) = filter {
        let mut failure = None;
        db.items_with_grants(args.drive.as_deref(), &filter, &mut |e| {
            failure = print(&e).err();
            Ok(failure.is_none())
        })
        .map_err(err)?;
        return failure.map_or(Ok(()), Err);
    }
    let drives = match &args.drive {
        Some(d) => vec![d.clone()],
        None => db
            .drives()
            .map_err(err)?
            .into_iter()
            .map(|d| d.id)
            .collect(),
    };
    let mut found = 0;
    for drive in drives {
        let item = match (&args.item, &args.path) {
            (Some(id), _) => Some(id.clone()),
            (None, Some(path)) => db.item_by_path(&drive, path).map_err(err)?.map(|i| i.id),
            (None, None) => None,
        };
        let Some(item) = item else { continue };
        if let Some(e) = db.effective_permissions(&drive, &item).map_err(err)? {
            print(&e)?;
            found += 1;
        }
    }
    if found == 0 {
        return Err("no such item in the database".into());
    }
    Ok(())
}

/// `PATH  (drive D, item I)  unique|inherited from X|not fetched yet: grants`.
fn describe(e: &EffectivePermissions) -> String {
    let source = match (&e.inherited_from, e.known) {
        (_, false) => "not fetched yet".to_owned(),
        (Some(from), true) => format!("inherited from {from}"),
        (None, true) => "unique".to_owned(),
    };
    let grants: Vec<String> = e.grants.iter().map(grant_text).collect();
    format!(
        "{}  (drive {}, item {})  {source}: {}",
        e.path,
        e.drive_id,
        e.item_id,
        grants.join(", ")
    )
}

/// `who (roles)`, e.g. `anyone link, view (read)` or `ann@contoso.com (write, external)`.
fn grant_text(g: &Grant) -> String {
    let who = match (&g.link, &g.principal) {
        (Some(link), _) => format!(
            "{} link, {}",
            link.scope.as_deref().unwrap_or("unknown-scope"),
            link.link_type.as_deref().unwrap_or("unknown-type")
        ),
        (None, Some(p)) => p
            .email
            .clone()
            .or_else(|| p.display_name.clone())
            .or_else(|| p.login_name.clone())
            .or_else(|| p.id.clone())
            .unwrap_or_else(|| g.id.clone()),
        (None, None) => format!("permission {}", g.id),
    };
    let mut tags = g.roles.clone();
    if g.kind == GrantKind::Group || g.kind == GrantKind::SiteGroup {
        tags.push("group".into());
    }
    if g.external {
        tags.push("external".into());
    }
    format!("{who} ({})", tags.join(", "))
}
