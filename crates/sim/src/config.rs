//! Simulator configuration: every default in one place.

use serde::{Deserialize, Serialize};

use crate::subscriptions::NotificationConfig;
use crate::{Error, Result};

/// The global cloud's Graph resource.
pub const GLOBAL_GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// Everything the simulator can be told at start.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Address to bind, e.g. `127.0.0.1:0` (port 0 picks a free port).
    pub listen: String,
    /// The tenant id clients must use at the token endpoint (tenant 0's; see
    /// [`SimConfig::tenants`]).
    pub tenant_id: String,
    /// The only client id the token endpoint accepts (one multi-tenant app: the same
    /// in every tenant).
    pub client_id: String,
    /// The secret of that client in tenant 0 (see [`SimConfig::tenants`]).
    pub client_secret: String,
    /// How many tenants the simulator serves (at least 1). Tenant 0 is the one the
    /// other fields describe; tenant `k` ≥ 1 is derived from it
    /// ([`SimConfig::for_tenant`]): tenant id `{tenant_id}-{k}`, secret
    /// `{client_secret}-{16 hex digits}`, generator seed mixed from `seed` and `k`,
    /// and the same size flags, so each tenant has its own sites, drives, users and
    /// items (the size flags count per tenant), its own resource-unit budget, faults
    /// and subscriptions. The bearer token decides which tenant a Graph request reads.
    pub tenants: u32,
    /// Lifetime of issued access tokens, in seconds.
    pub token_lifetime_secs: u64,
    /// The Graph resource of the cloud the simulator plays (its `scope` is
    /// `{resource}/.default`): `https://graph.microsoft.com` for the global cloud,
    /// `https://graph.microsoft.us` for US Government, and so on. Tokens are issued
    /// for it and for the simulator's own URL; a scope of any other resource is
    /// refused as Entra does (`AADSTS500011`).
    pub graph_resource: String,
    /// The app's federated identity credentials: tokens of these issuers and
    /// subjects are accepted as `client_assertion` instead of the secret.
    pub federated_credentials: Vec<crate::identity::FederatedCredential>,
    /// PEM certificate files registered for the app: assertions signed with their
    /// keys are accepted instead of the secret (an app may have both, as in Entra).
    pub client_certificate_files: Vec<std::path::PathBuf>,
    /// Number of sites, the root site included (at least 1).
    pub sites: u32,
    /// Document libraries per site (at least 1).
    pub libraries_per_site: u32,
    /// Number of users.
    pub users: u32,
    /// How many of those users have no OneDrive.
    pub users_without_drive: u32,
    /// Microsoft 365 groups, each with its own site and drive ("Group {n}").
    pub groups: u32,
    /// Files and folders generated across all drives, roots excluded.
    pub items: u64,
    /// Maximum folder nesting below a drive's root.
    pub depth: u32,
    /// Seed of the generator: the same flags and seed build the same tenant.
    pub seed: u64,
    /// Delta tokens older than this are answered with 410 (0 = never).
    pub delta_token_max_age_secs: u64,
    /// Sizes of the generated files.
    pub file_sizes: FileSizes,
    /// Which generated items have unique permissions, and what they grant.
    pub sharing: SharingConfig,
    /// Permissions per page of `/permissions` without `$top` (1 to 1000).
    pub permission_page_size: usize,
    /// Lifetime of pre-authenticated download URLs, in seconds: after it the content
    /// host answers 401.
    pub download_url_ttl_secs: u64,
    /// Resource-unit budget and costs.
    pub throttle: ThrottleConfig,
    /// Injected failures.
    pub faults: Faults,
    /// Requests the HTTP front handles at once (each connection has its own thread).
    pub threads: usize,
    /// With `tls_key_file`: serve HTTPS with this PEM certificate chain (tests of the
    /// engine's trust settings and of proxies tunnelling with CONNECT).
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// The PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<std::path::PathBuf>,
    /// Webhook delivery knobs, handed to the subscriptions module.
    pub notifications: NotificationConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: "127.0.0.1:0".into(),
            tenant_id: "sim-tenant".into(),
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            tenants: 1,
            token_lifetime_secs: 3600,
            graph_resource: GLOBAL_GRAPH_RESOURCE.into(),
            federated_credentials: Vec::new(),
            client_certificate_files: Vec::new(),
            sites: 2,
            libraries_per_site: 1,
            users: 3,
            users_without_drive: 1,
            groups: 0,
            items: 100,
            depth: 3,
            seed: 1,
            delta_token_max_age_secs: 0,
            file_sizes: FileSizes::default(),
            sharing: SharingConfig::default(),
            permission_page_size: 100,
            download_url_ttl_secs: 300,
            throttle: ThrottleConfig::default(),
            faults: Faults::default(),
            threads: 4,
            tls_cert_file: None,
            tls_key_file: None,
            notifications: NotificationConfig::default(),
        }
    }
}

/// Most tenants one simulator serves.
pub const MAX_TENANTS: u32 = 100_000;

impl SimConfig {
    /// The configuration of tenant `k` (`k` = 0 is this one, unchanged): tenant id
    /// `{tenant_id}-{k}`, a secret and generator seed derived from this one's and
    /// `k`, every other field the same. Deterministic: the same configuration gives
    /// every tenant the same ids, secret and data on every run.
    pub fn for_tenant(&self, k: u32) -> SimConfig {
        let mut config = self.clone();
        config.tenants = 1;
        if k == 0 {
            return config;
        }
        let k = u64::from(k);
        config.tenant_id = format!("{}-{k}", self.tenant_id);
        let secret = crate::ids::mix(crate::ids::hash_str(&self.client_secret) ^ self.seed, k);
        config.client_secret = format!("{}-{secret:016x}", self.client_secret);
        config.seed = crate::ids::mix(self.seed, 0x7E4A_0000_0000 | k);
        config
    }

    /// Checks the values that cannot work, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.tenants == 0 || self.tenants > MAX_TENANTS {
            return Err(Error::Config(format!(
                "sim.tenants must be between 1 and {MAX_TENANTS} (got {})",
                self.tenants
            )));
        }
        if self.sites == 0 {
            return bad("sim.sites must be at least 1 (the root site)");
        }
        if self.libraries_per_site == 0 {
            return bad("sim.libraries_per_site must be at least 1");
        }
        if self.users_without_drive > self.users {
            return bad("sim.users_without_drive cannot exceed sim.users");
        }
        if self.groups > 100_000 {
            return bad("sim.groups must be at most 100000");
        }
        if self.items > u64::from(u32::MAX / 2) {
            return bad("sim.items is too large (at most 2^31 items)");
        }
        if self.threads == 0 || self.threads > 256 {
            return bad("sim.threads must be between 1 and 256");
        }
        if self.tenant_id.is_empty() || self.client_id.is_empty() {
            return bad("sim.tenant_id and sim.client_id must not be empty");
        }
        if !(self.graph_resource.starts_with("https://")
            || self.graph_resource.starts_with("http://"))
        {
            return bad(
                "sim.graph_resource must be an http(s) URL such as https://graph.microsoft.com",
            );
        }
        if self.token_lifetime_secs == 0 {
            return bad("sim.token_lifetime_secs must be at least 1");
        }
        if self.throttle.window_secs == 0 {
            return bad("sim.throttle.window_secs must be at least 1");
        }
        if self.throttle.egress_window_secs == 0 {
            return bad("sim.throttle.egress_window_secs must be at least 1");
        }
        if self.download_url_ttl_secs == 0 {
            return bad("sim.download_url_ttl_secs must be at least 1");
        }
        if !(1..=1000).contains(&self.permission_page_size) {
            return bad("sim.permission_page_size must be between 1 and 1000");
        }
        self.file_sizes.validate()?;
        self.sharing.validate()?;
        self.faults.validate()
    }
}

/// How big generated files are: a log-normal spread around the median (many small
/// files, a few near the maximum, 2 % empty), drawn from the seed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FileSizes {
    /// The median size of the files that are not empty, in bytes (at least 1).
    pub median_bytes: u64,
    /// The largest size (at least the median); about 1 file in 1000 has it.
    pub max_bytes: u64,
}

impl Default for FileSizes {
    fn default() -> Self {
        FileSizes {
            median_bytes: 65_536,
            max_bytes: 8_388_608,
        }
    }
}

impl FileSizes {
    /// Checks that the median is at least 1 and the maximum at least the median.
    pub fn validate(&self) -> Result<()> {
        if self.median_bytes == 0 {
            return Err(Error::Config(
                "sim.file_sizes.median_bytes must be at least 1".into(),
            ));
        }
        if self.max_bytes < self.median_bytes {
            return Err(Error::Config(
                "sim.file_sizes.max_bytes must be at least sim.file_sizes.median_bytes".into(),
            ));
        }
        Ok(())
    }
}

/// Sharing in generated tenants: which items get unique permissions (decided per
/// item from the seed) and the grant each adds to what it inherited. All zeros: no
/// item but the drive roots has unique permissions.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SharingConfig {
    /// Folders with unique permissions, per thousand.
    pub unique_folder_permille: u32,
    /// Files with unique permissions, per thousand.
    pub unique_file_permille: u32,
    /// Of the items with unique permissions, the percentage given an anyone
    /// (anonymous) link.
    pub anyone_link_percent: u32,
    /// The percentage given an organization link.
    pub organization_link_percent: u32,
    /// The percentage given a guest from a partner domain (`partner1.example` to
    /// `partner5.example`); the rest get a tenant user or group.
    pub guest_percent: u32,
}

impl Default for SharingConfig {
    fn default() -> Self {
        SharingConfig {
            unique_folder_permille: 5,
            unique_file_permille: 1,
            anyone_link_percent: 20,
            organization_link_percent: 30,
            guest_percent: 15,
        }
    }
}

impl SharingConfig {
    /// Checks that the per-thousands are at most 1000 and the percentages add up to
    /// at most 100.
    pub fn validate(&self) -> Result<()> {
        if self.unique_folder_permille > 1000 || self.unique_file_permille > 1000 {
            return Err(Error::Config(
                "sim.sharing.unique_folder_permille and unique_file_permille must be at most 1000"
                    .into(),
            ));
        }
        let percent = u64::from(self.anyone_link_percent)
            + u64::from(self.organization_link_percent)
            + u64::from(self.guest_percent);
        if percent > 100 {
            return Err(Error::Config(format!(
                "sim.sharing: anyone_link_percent + organization_link_percent + guest_percent \
                 must be at most 100, got {percent}"
            )));
        }
        Ok(())
    }
}

/// The resource-unit budget per app per tenant per minute, and what each request costs.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Resource units per minute; 0 turns throttling off.
    pub ru_per_minute: u64,
    /// Retry-After of a first 429, in seconds; it grows while a client keeps calling.
    pub retry_after_secs: u64,
    /// Length of the budget window in seconds: Graph's is 60 (the budget is per minute);
    /// benchmarks shrink it to see many windows in a short run.
    pub window_secs: u64,
    /// Cost of each kind of request.
    pub costs: RuCosts,
    /// Bytes the content host may send per egress window; beyond them download
    /// requests get 429 until the window ends. 0 turns the limit off.
    pub egress_bytes_per_hour: u64,
    /// Length of the egress window in seconds (an hour; benchmarks shrink it).
    pub egress_window_secs: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            ru_per_minute: 0,
            retry_after_secs: 10,
            window_secs: 60,
            costs: RuCosts::default(),
            egress_bytes_per_hour: 0,
            egress_window_secs: 3600,
        }
    }
}

/// Resource units charged per kind of request.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RuCosts {
    /// Delta with a token (`token=latest` included).
    pub delta_with_token: u64,
    /// Delta without a token (a full enumeration page).
    pub delta_without_token: u64,
    /// A page of a list (`/sites`, `/users`, `/sites/{id}/drives`).
    pub list: u64,
    /// A single-resource read (and a download redirect).
    pub get: u64,
    /// A request to the content host (a download or a part of one).
    pub download: u64,
    /// A write (subscription create, renew, delete).
    pub write: u64,
    /// A permission-related request.
    pub permission: u64,
}

impl Default for RuCosts {
    fn default() -> Self {
        RuCosts {
            delta_with_token: 1,
            delta_without_token: 2,
            list: 2,
            get: 1,
            download: 1,
            write: 2,
            permission: 5,
        }
    }
}

/// Injected failures, as probabilities between 0 and 1: the first three on Graph
/// routes and on the content host, the `download_` ones on the content host only;
/// `permissions_denied` is a switch.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Probability of a 503 Service Unavailable (with `Retry-After: 1`).
    pub error_503_rate: f64,
    /// Probability of a 500 Internal Server Error.
    pub error_500_rate: f64,
    /// Probability that the connection is dropped without an HTTP response.
    pub reset_rate: f64,
    /// Seed of the fault dice, so a run can be replayed.
    pub seed: u64,
    /// Probability that an incremental delta feed leaves out an item's delete tombstone
    /// (a known Graph defect); decided once per deleted item from `seed`, so retried
    /// pages agree. Full enumerations are unaffected: only an audit finds the drift.
    pub omit_tombstone_rate: f64,
    /// Probability that a download's body stops after a random part of it, the
    /// connection closing: the client gets fewer bytes than `Content-Length`.
    pub download_reset_rate: f64,
    /// Probability that a download's body ends early, as with `download_reset_rate`
    /// (the HTTP server closes both the same way; they are counted apart, a reset in
    /// `resets_injected`).
    pub download_truncate_rate: f64,
    /// Probability that a download sends more than was asked: `Content-Length` and
    /// the body have up to 1 KiB past the range (or the file), which a client sees as
    /// a body longer than the `Content-Range` or the item's size. (A body running past
    /// its own `Content-Length` would be cut by the HTTP server unseen.)
    pub download_overrun_rate: f64,
    /// Probability that a range request gets a `206` for another range than asked:
    /// its `Content-Range` (and body) start at 0, or at 1 for a range starting at 0.
    pub download_wrong_range_rate: f64,
    /// `/permissions` answers `403 accessDenied` ("Sites.FullControl.All is
    /// required"), as for an app without that permission; the rest of Graph works.
    pub permissions_denied: bool,
}

impl Faults {
    /// Checks that every rate is a probability.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("error_503_rate", self.error_503_rate),
            ("error_500_rate", self.error_500_rate),
            ("reset_rate", self.reset_rate),
            ("omit_tombstone_rate", self.omit_tombstone_rate),
            ("download_reset_rate", self.download_reset_rate),
            ("download_truncate_rate", self.download_truncate_rate),
            ("download_overrun_rate", self.download_overrun_rate),
            ("download_wrong_range_rate", self.download_wrong_range_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::InvalidInput(format!(
                    "faults.{name} must be between 0 and 1, got {v}"
                )));
            }
        }
        if self.error_503_rate + self.error_500_rate + self.reset_rate > 1.0 {
            return Err(Error::InvalidInput(
                "the fault rates must add up to at most 1".into(),
            ));
        }
        if self.download_reset_rate
            + self.download_truncate_rate
            + self.download_overrun_rate
            + self.download_wrong_range_rate
            > 1.0
        {
            return Err(Error::InvalidInput(
                "the download fault rates must add up to at most 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_derived_deterministically_and_zero_is_refused() {
        let base = SimConfig {
            tenants: 3,
            ..SimConfig::default()
        };
        assert!(base.validate().is_ok());
        let zero = SimConfig {
            tenants: 0,
            ..SimConfig::default()
        };
        let message = zero.validate().unwrap_err().to_string();
        assert!(
            message.contains("sim.tenants must be between 1"),
            "{message}"
        );

        let first = base.for_tenant(0);
        assert_eq!(
            (
                first.tenant_id.as_str(),
                first.client_secret.as_str(),
                first.seed
            ),
            ("sim-tenant", "sim-secret", base.seed)
        );
        let (one, two) = (base.for_tenant(1), base.for_tenant(2));
        assert_eq!(one.tenant_id, "sim-tenant-1");
        assert_eq!(one.client_id, base.client_id, "one multi-tenant app");
        assert!(one.client_secret.starts_with("sim-secret-"));
        assert_ne!(one.client_secret, two.client_secret);
        assert_ne!(one.seed, two.seed);
        assert_ne!(one.seed, base.seed);
        assert_eq!(one.client_secret, base.for_tenant(1).client_secret);
        assert_eq!((one.tenants, one.items), (1, base.items));
        let other_seed = SimConfig {
            seed: 99,
            ..base.clone()
        };
        assert_ne!(other_seed.for_tenant(1).client_secret, one.client_secret);
    }

    #[test]
    fn content_settings_are_checked() {
        let ok = SimConfig::default();
        assert!(ok.validate().is_ok());
        let sizes = |median_bytes, max_bytes| SimConfig {
            file_sizes: FileSizes {
                median_bytes,
                max_bytes,
            },
            ..SimConfig::default()
        };
        assert!(sizes(0, 10).validate().is_err());
        assert!(sizes(10, 9).validate().is_err());
        assert!(sizes(10, 10).validate().is_ok());
        let ttl = SimConfig {
            download_url_ttl_secs: 0,
            ..SimConfig::default()
        };
        assert!(ttl.validate().is_err());
        let mut egress = SimConfig::default();
        egress.throttle.egress_window_secs = 0;
        assert!(egress.validate().is_err());
        let faults = |reset, overrun| Faults {
            download_reset_rate: reset,
            download_overrun_rate: overrun,
            ..Faults::default()
        };
        assert!(faults(0.5, 0.5).validate().is_ok());
        assert!(faults(0.6, 0.5).validate().is_err());
        assert!(faults(-0.1, 0.0).validate().is_err());
        let parsed: SimConfig =
            serde_json::from_str(r#"{"file_sizes": {"median_bytes": 1000}}"#).unwrap();
        assert_eq!(parsed.file_sizes.max_bytes, FileSizes::default().max_bytes);
        assert!(serde_json::from_str::<SimConfig>(r#"{"file_sizes": {"mean": 1}}"#).is_err());
        let sharing = |sharing| SimConfig {
            sharing,
            ..SimConfig::default()
        };
        assert!(
            sharing(SharingConfig {
                unique_file_permille: 1001,
                ..SharingConfig::default()
            })
            .validate()
            .is_err()
        );
        assert!(
            sharing(SharingConfig {
                guest_percent: 51,
                ..SharingConfig::default()
            })
            .validate()
            .is_err()
        );
        let pages = SimConfig {
            permission_page_size: 0,
            ..SimConfig::default()
        };
        assert!(pages.validate().is_err());
    }
}
