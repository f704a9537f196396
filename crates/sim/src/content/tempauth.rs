//! Pre-authenticated download URLs: what `/content` redirects to and what
//! `@microsoft.graph.downloadUrl` gives, on the content host.
//!
//! `{origin}/_layouts/15/download.aspx?UniqueId={item}&driveId={drive}&tempauth={token}`,
//! where the token holds its expiry instant and the epoch it was issued in, signed
//! with the simulator's key over the drive and item: a forged or altered URL fails the
//! signature, an old one its expiry, and [`DownloadUrls::expire_all`] starts a new
//! epoch that every earlier URL fails.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::delta::encode_query_value;
use crate::ids;

/// The path of download URLs on the content host.
pub(crate) const DOWNLOAD_PATH: &str = "/_layouts/15/download.aspx";

/// Why a download URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Forged, altered or incomplete.
    Invalid,
    /// Past its expiry, or issued before [`DownloadUrls::expire_all`].
    Expired,
}

/// Issues and checks download URLs.
#[derive(Debug)]
pub(crate) struct DownloadUrls {
    origin: String,
    /// `&tenant={k}` for tenant `k` ≥ 1 (the content host picks the tenant by it, as
    /// SharePoint's per-tenant host names do), empty for tenant 0.
    tenant: String,
    key: u64,
    ttl_secs: u64,
    epoch: AtomicU64,
}

impl DownloadUrls {
    /// URLs of tenant `tenant` on `origin` (`http://host:port` of the content host),
    /// valid `ttl_secs`.
    pub fn new(origin: String, tenant: u32, ttl_secs: u64) -> DownloadUrls {
        DownloadUrls {
            origin,
            tenant: match tenant {
                0 => String::new(),
                k => format!("&tenant={k}"),
            },
            key: rand::random(),
            ttl_secs,
            epoch: AtomicU64::new(0),
        }
    }

    fn mac(&self, drive_id: &str, item_id: &str, expires: u64, epoch: u64) -> u64 {
        let h = drive_id
            .bytes()
            .chain([0])
            .chain(item_id.bytes())
            .fold(self.key, |h, b| ids::mix(h, u64::from(b)));
        ids::mix(ids::mix(h, expires), epoch)
    }

    /// A URL for the item's content, issued at `now` (Unix seconds).
    pub fn url(&self, drive_id: &str, item_id: &str, now: u64) -> String {
        let expires = now + self.ttl_secs;
        let epoch = self.epoch.load(Relaxed);
        format!(
            "{}{DOWNLOAD_PATH}?UniqueId={}&driveId={}{}&tempauth=v1.{expires:x}.{epoch:x}.{:x}",
            self.origin,
            encode_query_value(item_id),
            encode_query_value(drive_id),
            self.tenant,
            self.mac(drive_id, item_id, expires, epoch)
        )
    }

    /// Checks a `tempauth` token for that drive and item at `now`.
    pub fn check(
        &self,
        drive_id: &str,
        item_id: &str,
        token: &str,
        now: u64,
    ) -> Result<(), Refusal> {
        let fields: Option<Vec<u64>> = token
            .strip_prefix("v1.")
            .ok_or(Refusal::Invalid)?
            .split('.')
            .map(|f| u64::from_str_radix(f, 16).ok())
            .collect();
        let Some(&[expires, epoch, mac]) = fields.as_deref() else {
            return Err(Refusal::Invalid);
        };
        if mac != self.mac(drive_id, item_id, expires, epoch) {
            return Err(Refusal::Invalid);
        }
        if now > expires || epoch != self.epoch.load(Relaxed) {
            return Err(Refusal::Expired);
        }
        Ok(())
    }

    /// Makes every URL issued so far fail as expired.
    pub fn expire_all(&self) {
        self.epoch.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(url: &str) -> &str {
        url.rsplit("tempauth=").next().unwrap()
    }

    #[test]
    fn urls_bind_drive_item_and_time() {
        let urls = DownloadUrls::new("http://h:1".into(), 0, 300);
        let url = urls.url("b!d", "01X", 1000);
        assert!(
            url.starts_with(
                "http://h:1/_layouts/15/download.aspx?UniqueId=01X&driveId=b%21d&tempauth=v1."
            ),
            "{url}"
        );
        let t = token(&url);
        assert_eq!(urls.check("b!d", "01X", t, 1000), Ok(()));
        assert_eq!(urls.check("b!d", "01X", t, 1300), Ok(()));
        assert_eq!(urls.check("b!d", "01X", t, 1301), Err(Refusal::Expired));
        assert_eq!(urls.check("b!d", "01Y", t, 1000), Err(Refusal::Invalid));
        assert_eq!(urls.check("b!e", "01X", t, 1000), Err(Refusal::Invalid));
        let later = t.replacen("v1.", "v1.f", 1);
        assert_eq!(
            urls.check("b!d", "01X", &later, 1000),
            Err(Refusal::Invalid)
        );
        for bad in ["", "v1.", "v1.1.2", "v2.1.2.3", "v1.x.y.z", "v1.1.2.3.4"] {
            assert_eq!(
                urls.check("b!d", "01X", bad, 0),
                Err(Refusal::Invalid),
                "{bad}"
            );
        }
        let other = DownloadUrls::new("http://h:1".into(), 0, 300);
        assert_eq!(other.check("b!d", "01X", t, 1000), Err(Refusal::Invalid));
        urls.expire_all();
        assert_eq!(urls.check("b!d", "01X", t, 1000), Err(Refusal::Expired));
        let fresh = urls.url("b!d", "01X", 1000);
        assert_eq!(urls.check("b!d", "01X", token(&fresh), 1000), Ok(()));
    }
}
