//! `m365sync discover`: the drives a configuration's scope covers, without crawling.

use std::path::PathBuf;

use clap::Args;
use m365sync::{Config, FoundDrive, FoundHome, inventory};
use serde::Serialize;

/// Flags of `m365sync discover`.
#[derive(Args)]
pub struct DiscoverArgs {
    /// Configuration file (JSON).
    #[arg(long)]
    config: PathBuf,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// One drive as printed.
#[derive(Serialize)]
struct Row {
    drive_id: String,
    name: String,
    kind: Option<String>,
    site_id: Option<String>,
    site_url: Option<String>,
    owner: Option<String>,
    /// The group's display name, for a Microsoft 365 group's drive.
    group: Option<String>,
    /// The group's mail.
    group_mail: Option<String>,
    in_scope: bool,
    /// The setting or rule that decided.
    rule: String,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Report {
    drives: Vec<Row>,
    problems: Vec<String>,
}

/// The reason shown for drives listed in the configuration's `drives`.
const CONFIGURED: &str = "drives (configured)";

impl Row {
    fn found(d: &FoundDrive, configured: bool) -> Row {
        let (site_id, site_url) = match &d.home {
            FoundHome::Site(s) | FoundHome::Group { site: Some(s), .. } => {
                (Some(s.id.clone()), Some(s.web_url.clone()))
            }
            _ => (None, None),
        };
        let owner = match &d.home {
            FoundHome::User { upn, .. } => Some(upn.clone()),
            _ => None,
        };
        let group = d.group();
        Row {
            drive_id: d.id.clone(),
            name: d.name.clone(),
            kind: d.kind.clone(),
            site_id,
            site_url,
            owner,
            group: group.map(|g| g.name.clone()),
            group_mail: group.map(|g| g.mail.clone()).filter(|m| !m.is_empty()),
            in_scope: configured || d.verdict.is_included(),
            rule: if configured {
                CONFIGURED.to_string()
            } else {
                d.verdict.reason().to_string()
            },
        }
    }

    fn configured_only(id: &str) -> Row {
        Row {
            drive_id: id.to_string(),
            name: String::new(),
            kind: None,
            site_id: None,
            site_url: None,
            owner: None,
            group: None,
            group_mail: None,
            in_scope: true,
            rule: CONFIGURED.to_string(),
        }
    }

    /// Where the drive lives: its group (by name), site or owner.
    fn place(&self) -> &str {
        self.group
            .as_deref()
            .or(self.site_url.as_deref())
            .filter(|u| !u.is_empty())
            .or(self.site_id.as_deref())
            .or(self.owner.as_deref())
            .unwrap_or("-")
    }
}

/// Enumerates and prints; in-scope drives first, then the excluded ones with their rule.
pub fn discover(args: DiscoverArgs) -> Result<(), String> {
    let config = Config::from_file(&args.config).map_err(|e| e.to_string())?;
    let stop = crate::run::ctrl_c_flag()?;
    let inv = inventory(&config, &stop).map_err(|e| e.to_string())?;
    let mut rows: Vec<Row> = inv
        .drives
        .iter()
        .map(|d| Row::found(d, config.drives.contains(&d.id)))
        .collect();
    for id in &config.drives {
        if !rows.iter().any(|r| &r.drive_id == id) {
            rows.push(Row::configured_only(id));
        }
    }
    rows.sort_by(|a, b| {
        (!a.in_scope, a.place(), &a.name, &a.drive_id).cmp(&(
            !b.in_scope,
            b.place(),
            &b.name,
            &b.drive_id,
        ))
    });
    if args.json {
        let report = Report {
            drives: rows,
            problems: inv.problems,
        };
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    for p in &inv.problems {
        eprintln!("warning: {p}");
    }
    if !config.scope.is_active() {
        eprintln!(
            "note: the scope is empty (no all_sites, all_onedrives, all_groups or include rule)"
        );
    }
    println!(
        "{:<8} {:<50} {:<28} {:<44} rule",
        "scope", "group, site or owner", "library", "drive id"
    );
    for r in &rows {
        println!(
            "{:<8} {:<50} {:<28} {:<44} {}",
            if r.in_scope { "in" } else { "excluded" },
            r.place(),
            r.name,
            r.drive_id,
            r.rule
        );
    }
    let in_scope = rows.iter().filter(|r| r.in_scope).count();
    println!(
        "{in_scope} drives in scope, {} excluded",
        rows.len() - in_scope
    );
    Ok(())
}
