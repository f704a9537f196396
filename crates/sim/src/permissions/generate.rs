//! Sharing in generated tenants: a few items get unique permissions, decided per
//! item from the drive's salt (not the generator's random stream, so a seed's tree
//! stays what it was), each with one grant beyond what it inherited.

use crate::config::SharingConfig;
use crate::drive::Drive;
use crate::ids;
use crate::permissions::grant::{Grant, Grantee, Link, LinkScope, LinkType, Roles};

/// Salt of the per-item sharing roll.
const SHARING_SALT: u64 = 0x5348_4152;
/// Partner organisations guests come from: `partner1.example` to `partner5.example`.
const PARTNER_DOMAINS: u64 = 5;
/// Distinct guests per partner domain.
const GUESTS_PER_DOMAIN: u64 = 20;
/// Anyone links that expire: one in this many, 90 days after the item's creation.
const EXPIRING_LINK_EVERY: u64 = 3;
const EXPIRY_SECS: u32 = 90 * 86_400;

/// Decides the sharing of generated items.
pub(crate) struct SharingDice<'a> {
    config: &'a SharingConfig,
    /// Tenant users and groups, the principals of user and group grants.
    users: usize,
    groups: usize,
}

impl<'a> SharingDice<'a> {
    /// Dice for `config` in a tenant of `users` users and `groups` groups.
    pub fn new(config: &'a SharingConfig, users: usize, groups: usize) -> SharingDice<'a> {
        SharingDice {
            config,
            users,
            groups,
        }
    }

    /// Gives generated item `idx` unique permissions if its roll says so: a copy of
    /// what it inherits plus an anyone link, an organization link, a guest, or a
    /// user or group (read or edit each), in the configured shares. No change is
    /// recorded (generated items have sequence 0).
    pub fn roll(&self, drive: &mut Drive, idx: u32, folder: bool, created: u32) {
        let c = self.config;
        let permille = if folder {
            c.unique_folder_permille
        } else {
            c.unique_file_permille
        };
        if permille == 0 {
            return;
        }
        let h = ids::mix(drive.salt ^ SHARING_SALT, u64::from(idx));
        if h % 1000 >= u64::from(permille) {
            return;
        }
        let kind = (h / 1000) % 100;
        let edit = (h / 100_000) % 2 == 1;
        let pick = h / 200_000;
        let anyone = u64::from(c.anyone_link_percent);
        let organization = anyone + u64::from(c.organization_link_percent);
        let guest = organization + u64::from(c.guest_percent);
        let grantee = if kind < organization {
            let scope = if kind < anyone {
                LinkScope::Anonymous
            } else {
                LinkScope::Organization
            };
            let expires = scope == LinkScope::Anonymous && pick % EXPIRING_LINK_EVERY == 0;
            Some(Grantee::Link(Box::new(Link {
                serial: drive.next_link_serial(),
                kind: if edit { LinkType::Edit } else { LinkType::View },
                scope,
                expiration: expires.then(|| {
                    ids::iso8601(u64::from(created.saturating_add(EXPIRY_SECS))).into_boxed_str()
                }),
                password: false,
                recipients: Vec::new(),
            })))
        } else if kind < guest {
            let n = pick % GUESTS_PER_DOMAIN;
            let domain = 1 + (pick / GUESTS_PER_DOMAIN) % PARTNER_DOMAINS;
            Some(Grantee::Guest(
                format!("guest{n}@partner{domain}.example").into_boxed_str(),
            ))
        } else {
            self.member(pick)
        };
        let grants = drive.make_unique(idx);
        if let Some(grantee) = grantee {
            if !grants.iter().any(|g| g.is_for(&grantee)) {
                let roles = match &grantee {
                    Grantee::Link(link) => link.kind.roles(),
                    _ if edit => Roles::WRITE,
                    _ => Roles::READ,
                };
                grants.push(Grant { roles, grantee });
            }
        }
    }

    /// A tenant user or group picked by `pick`; none in a tenant without either
    /// (the item then keeps a copy of what it inherited).
    fn member(&self, pick: u64) -> Option<Grantee> {
        let all = (self.users + self.groups) as u64;
        if all == 0 {
            return None;
        }
        let n = (pick % all) as usize;
        Some(if n < self.users {
            Grantee::User(n)
        } else {
            Grantee::Group(n - self.users)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::generator::generate;

    fn tenant(items: u64, sharing: SharingConfig) -> crate::tenant::Tenant {
        generate(&SimConfig {
            sites: 1,
            users: 4,
            users_without_drive: 4,
            items,
            sharing,
            ..SimConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn about_the_configured_share_of_items_is_unique() {
        let t = tenant(100_000, SharingConfig::default());
        let d = &t.drives[0];
        let unique = d.unique_items().len() - 1;
        let folders = d.items.iter().filter(|i| i.is_folder()).count() - 1;
        let expected = folders as f64 * 0.005 + (100_000 - folders) as f64 * 0.001;
        assert!(
            (expected * 0.6..expected * 1.4).contains(&(unique as f64)),
            "{unique} unique items, about {expected:.0} expected"
        );
        let zero = SharingConfig {
            unique_folder_permille: 0,
            unique_file_permille: 0,
            anyone_link_percent: 0,
            organization_link_percent: 0,
            guest_percent: 0,
        };
        let t = tenant(20_000, zero);
        assert!(t.drives.iter().all(|d| d.unique_items() == [0]));
    }

    #[test]
    fn unique_items_carry_the_configured_kinds_of_grant() {
        let config = SharingConfig {
            unique_folder_permille: 200,
            unique_file_permille: 200,
            ..SharingConfig::default()
        };
        let t = tenant(20_000, config);
        let d = &t.drives[0];
        let (mut anyone, mut organization, mut guest, mut member) = (0, 0, 0, 0);
        let unique: Vec<u32> = d.unique_items().into_iter().skip(1).collect();
        for &idx in &unique {
            let inherited = d.grants(d.permission_source(d.items[idx as usize].parent));
            let own = d.grants(idx);
            assert_eq!(
                &own[..inherited.len()],
                inherited,
                "a copy of what it inherited"
            );
            match own.get(inherited.len()).map(|g| &g.grantee) {
                Some(Grantee::Link(l)) if l.scope == LinkScope::Anonymous => anyone += 1,
                Some(Grantee::Link(_)) => organization += 1,
                Some(Grantee::Guest(email)) => {
                    assert!(email.ends_with(".example"), "{email}");
                    guest += 1;
                }
                // A member already granted above gets no second grant.
                Some(Grantee::User(_) | Grantee::Group(_)) | None => member += 1,
                Some(Grantee::SiteGroup(_)) => panic!("site groups only on the root"),
            }
        }
        let share = |n: i32| f64::from(n) / unique.len() as f64;
        assert!((3000..5000).contains(&unique.len()), "{}", unique.len());
        assert!((0.16..0.24).contains(&share(anyone)), "{}", share(anyone));
        assert!(
            (0.26..0.34).contains(&share(organization)),
            "{}",
            share(organization)
        );
        assert!((0.11..0.19).contains(&share(guest)), "{}", share(guest));
        assert!((0.31..0.39).contains(&share(member)), "{}", share(member));
    }
}
