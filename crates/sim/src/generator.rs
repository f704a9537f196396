//! The seeded tenant generator: the same configuration builds the same tenant.

use crate::drive::{DriveKind, flag};
use crate::ids;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{FileSizes, SimConfig};
use crate::fault::SimError;
use crate::permissions::generate::SharingDice;
use crate::tenant::{DOMAIN, Tenant};

/// Salt of the per-item roll that makes a few files notebooks, shortcuts or malware.
const KIND_SALT: u64 = 0x4B49_4E44;
const EXTENSIONS: [&str; 8] = ["docx", "xlsx", "pptx", "pdf", "txt", "jpg", "png", "csv"];
/// 2024-01-01T00:00:00Z: generated timestamps fall in the year after it.
const BASE_TIME: u32 = 1_704_067_200;
const FOLDER_SHARE: f64 = 0.12;
/// Values of the size draw (kept from when it was the size itself, so a seed's tree
/// stays the same).
const SIZE_DRAWS: u64 = 2_000_000;
/// Share of empty files.
const EMPTY_SHARE: f64 = 0.02;
/// The quantile of the non-empty sizes that reaches `max_bytes` (those above it are
/// clamped to it: about 1 file in 1000).
const MAX_QUANTILE: f64 = 0.999;

/// The standard normal quantile of `p` (Tukey's lambda approximation, within about
/// 1 % in the body: enough for a spread of file sizes).
fn normal_quantile(p: f64) -> f64 {
    4.91 * (p.powf(0.14) - (1.0 - p).powf(0.14))
}

/// The size of a file whose draw is `draw` (uniform in `0..SIZE_DRAWS`): 2 % empty,
/// the rest log-normal with the configured median, clamped to the maximum at the
/// 99.9th percentile.
fn file_size(sizes: &FileSizes, draw: u64) -> u64 {
    let p = (draw as f64 + 0.5) / SIZE_DRAWS as f64;
    if p < EMPTY_SHARE {
        return 0;
    }
    let p = (p - EMPTY_SHARE) / (1.0 - EMPTY_SHARE);
    let median = sizes.median_bytes as f64;
    let sigma = (sizes.max_bytes as f64 / median).ln() / normal_quantile(MAX_QUANTILE);
    let size = median * (sigma * normal_quantile(p)).exp();
    (size.round() as u64).clamp(1, sizes.max_bytes)
}

/// Builds the tenant described by the generator fields of `cfg`.
///
/// The root site counts as one of `cfg.sites`; the last `users_without_drive` users
/// get no OneDrive; `cfg.groups` Microsoft 365 groups come last, each with a site and
/// drive; `cfg.items` files and folders are spread evenly over all drives, a few
/// of them with unique permissions (`cfg.sharing`).
pub(crate) fn generate(cfg: &SimConfig) -> Result<Tenant, SimError> {
    let mut t = Tenant::new(cfg.seed, BASE_TIME);
    for s in 0..cfg.sites as usize {
        let site = if s == 0 {
            0
        } else {
            t.add_site(&format!("Site {s}"), BASE_TIME)?
        };
        for l in 1..cfg.libraries_per_site {
            t.add_library(site, &format!("Library {l}"), BASE_TIME)?;
        }
    }
    let with_drive = cfg.users - cfg.users_without_drive;
    for u in 0..cfg.users {
        t.add_user(&format!("user{u}@{DOMAIN}"), u < with_drive, BASE_TIME)?;
    }
    for g in 0..cfg.groups {
        t.add_group(&format!("Group {g}"), true, BASE_TIME)?;
    }
    let sharing = SharingDice::new(&cfg.sharing, t.users.len(), t.groups.len());
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let drives = t.drives.len() as u64;
    for (d, drive) in t.drives.iter_mut().enumerate() {
        let count = cfg.items / drives + u64::from((d as u64) < cfg.items % drives);
        drive.items.reserve(count as usize);
        // (index, depth) of every folder, root first.
        let mut folders: Vec<(u32, u32)> = vec![(0, 0)];
        for k in 0..count {
            let (parent, depth) = folders[rng.random_range(0..folders.len())];
            let folder = depth < cfg.depth && rng.random_bool(FOLDER_SHARE);
            let time = BASE_TIME + rng.random_range(0..365 * 86_400);
            if folder {
                let idx = drive.add_generated(parent, format!("Folder {k}"), true, 0, time, 0);
                sharing.roll(drive, idx, true, time);
                folders.push((idx, depth + 1));
            } else {
                let ext = EXTENSIONS[rng.random_range(0..EXTENSIONS.len())];
                let size = file_size(&cfg.file_sizes, rng.random_range(0..SIZE_DRAWS));
                // A few files are of another kind; decided from the index, not the
                // generator's stream, so the rest of a tenant stays as it was.
                let roll = ids::mix(drive.salt ^ KIND_SALT, drive.items.len() as u64) % 1000;
                let (name, kind) = match roll {
                    0..4 => (format!("File {k}.{ext}"), flag::MALWARE),
                    4..8 => (format!("Notebook {k}"), flag::PACKAGE),
                    8..12 if drive.kind == DriveKind::Business => {
                        (format!("Shortcut {k}"), flag::REMOTE)
                    }
                    _ => (format!("File {k}.{ext}"), 0),
                };
                let idx = drive.add_generated(parent, name, false, size, time, kind);
                sharing.roll(drive, idx, false, time);
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_flags() {
        let cfg = SimConfig {
            sites: 3,
            libraries_per_site: 2,
            users: 4,
            users_without_drive: 1,
            items: 1001,
            depth: 2,
            ..SimConfig::default()
        };
        let t = generate(&cfg).unwrap();
        assert!(t.groups.is_empty(), "no groups unless asked for");
        assert_eq!(t.sites.len(), 3);
        assert_eq!(t.drives.len(), 3 * 2 + 3);
        assert_eq!(t.users.iter().filter(|u| u.drive.is_none()).count(), 1);
        assert_eq!(t.item_count(), 1001 + 9);
        for d in &t.drives {
            for (i, item) in d.items.iter().enumerate().skip(1) {
                let depth = d.path(i as u32).matches('/').count() as u32;
                assert!(depth <= cfg.depth + 1, "{}", d.path(i as u32));
                assert!(item.parent < i as u32);
            }
        }
    }

    #[test]
    fn sizes_spread_around_the_median_up_to_the_max() {
        let sizes = FileSizes::default();
        let mut all: Vec<u64> = (0..SIZE_DRAWS)
            .step_by(97)
            .map(|d| file_size(&sizes, d))
            .collect();
        all.sort_unstable();
        let share = |f: &dyn Fn(u64) -> bool| {
            all.iter().filter(|&&s| f(s)).count() as f64 / all.len() as f64
        };
        assert!((0.015..0.025).contains(&share(&|s| s == 0)));
        assert!((0.0005..0.002).contains(&share(&|s| s == sizes.max_bytes)));
        assert!(share(&|s| s < 8 * 1024) > 0.05, "many small files");
        let nonempty: Vec<u64> = all.iter().copied().filter(|&s| s > 0).collect();
        let median = nonempty[nonempty.len() / 2];
        assert!((60_000..70_000).contains(&median), "{median}");
        assert_eq!(*all.last().unwrap(), sizes.max_bytes);
        let flat = FileSizes {
            median_bytes: 10,
            max_bytes: 10,
        };
        assert!((1..SIZE_DRAWS).all(|d| file_size(&flat, d) == 10 || d < 40_000));
    }

    #[test]
    fn sizes_leave_the_tree_of_a_seed_as_it_was() {
        let small = SimConfig {
            items: 300,
            ..SimConfig::default()
        };
        let big = SimConfig {
            file_sizes: FileSizes {
                median_bytes: 1 << 20,
                max_bytes: 1 << 30,
            },
            ..small.clone()
        };
        let (a, b) = (generate(&small).unwrap(), generate(&big).unwrap());
        for (x, y) in a.drives.iter().zip(&b.drives) {
            let tree = |d: &crate::drive::Drive| -> Vec<(String, u32)> {
                d.items
                    .iter()
                    .map(|i| (i.name.to_string(), i.parent))
                    .collect()
            };
            assert_eq!(tree(x), tree(y));
        }
    }

    #[test]
    fn groups_come_last_with_a_site_and_a_drive_each() {
        let plain = SimConfig {
            items: 50,
            ..SimConfig::default()
        };
        let with_groups = SimConfig {
            groups: 4,
            ..plain.clone()
        };
        let (a, b) = (generate(&plain).unwrap(), generate(&with_groups).unwrap());
        assert_eq!(b.groups.len(), 4);
        assert_eq!(b.sites.len(), a.sites.len() + 4);
        assert_eq!(b.drives.len(), a.drives.len() + 4);
        // The drives that existed without groups keep their ids.
        for (x, y) in a.drives.iter().zip(&b.drives) {
            assert_eq!(x.id, y.id);
        }
        assert_eq!(b.groups[3].name, "Group 3");
        assert!(b.groups.iter().all(|g| g.unified && g.site.is_some()));
        assert_eq!(b.item_count(), 50 + b.drives.len() as u64);
    }
}
