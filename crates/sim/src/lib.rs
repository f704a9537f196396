//! The Graph simulator: a tenant model served over HTTP like Microsoft Graph.
//!
//! [`Simulator::start`] generates a tenant from a seed, binds an HTTP listener and
//! serves the token endpoint, the Graph routes the engine uses (discovery, delta,
//! content, permissions, subscriptions) and a control API under `/_sim`. A second listener, the
//! content host ([`Simulator::content_url`]), serves file bytes at the
//! pre-authenticated URLs Graph's `/content` redirects to. The same control
//! operations are methods of [`Simulator`]; [`ffi`] serves them to C and Python
//! (`libm365sync_sim`, `include/m365sync_sim.h`).

#[macro_use]
extern crate m365sync_ffi_support;

pub mod api;
mod auth;
pub mod config;
mod content;
mod control;
pub mod delivery;
mod delta;
mod drive;
mod error;
mod fault;
mod faults;
pub mod ffi;
#[cfg(feature = "fuzz")]
pub mod fuzz;
mod generator;
mod graph;
mod groups;
mod identity;
mod ids;
mod item_json;
mod json;
mod paths;
mod permissions;
pub mod request;
pub mod response;
mod router;
mod server;
mod state;
mod stats;
pub mod subscriptions;
mod tenant;
mod throttle;

use std::sync::Arc;

pub use api::{
    ItemPatch, LinkOptions, SimDrive, SimGroup, SimItem, SimPermission, SimPermissions, SimStats,
    SimUser, SnapshotItem,
};
pub use config::{Faults, FileSizes, RuCosts, SharingConfig, SimConfig, ThrottleConfig};
pub use content::quick_xor_hash;
pub use identity::FederatedCredential;
pub use router::Outcome;

pub use error::{Error, Result};
use request::SimRequest;
use server::HttpServer;
use state::Shared;
use subscriptions::{NotificationConfig, SubscriptionContext, Subscriptions};

/// A running simulator. Dropping it (or [`Simulator::shutdown`]) stops every thread.
pub struct Simulator {
    shared: Arc<Shared>,
    http: HttpServer,
    content: HttpServer,
    url: String,
    content_url: String,
    tenant_id: String,
    client_id: String,
    client_secret: String,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Generates the tenant, binds `config.listen` (and the content host on the same
    /// address, another port) and starts serving.
    pub fn start(config: SimConfig) -> Result<Simulator> {
        config.validate()?;
        let tenant = generator::generate(&config)?;
        let notifications = config.notifications.clone();
        let tenant_id = config.tenant_id.clone();
        let subs_for = move |t: Arc<parking_lot::RwLock<tenant::Tenant>>| {
            Subscriptions::new(SubscriptionContext {
                tenant_id,
                resolve: Box::new(move |resource: &str| t.read().resolve_resource(resource)),
                config: notifications,
            })
        };
        // The listeners are bound first so links can name their ports; the handlers
        // reach the state through a slot filled right after.
        let slot: Arc<std::sync::OnceLock<Arc<Shared>>> = Arc::new(std::sync::OnceLock::new());
        let tls = tls_config(&config)?;
        let secure = tls.is_some();
        let http = listen(
            &config.listen,
            config.threads,
            tls.clone(),
            &slot,
            router::dispatch,
        )?;
        let url = origin(&http, secure);
        let content_listen = std::net::SocketAddr::new(http.addr.ip(), 0).to_string();
        let content = listen(
            &content_listen,
            config.threads,
            tls,
            &slot,
            content::host::dispatch,
        )?;
        let content_url = origin(&content, secure);
        let certificates = identity::Certificates::read(&config.client_certificate_files)?;
        let shared = Arc::new(Shared::new(
            &config,
            tenant,
            subs_for,
            url.clone(),
            content_url.clone(),
            certificates,
        ));
        let _ = slot.set(shared.clone());
        log::info!("simulator listening on {url}, content host on {content_url}");
        Ok(Simulator {
            shared,
            http,
            content,
            url,
            content_url,
            tenant_id: config.tenant_id,
            client_id: config.client_id,
            client_secret: config.client_secret,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The content host's origin, `http://127.0.0.1:PORT` (another port than
    /// [`Simulator::url`]): download URLs point there.
    pub fn content_url(&self) -> &str {
        &self.content_url
    }

    /// The Graph base URL, `url() + "/v1.0"`.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.url)
    }

    /// The login base: tokens are at `{login_url}/{tenant}/oauth2/v2.0/token`.
    pub fn login_url(&self) -> &str {
        &self.url
    }

    /// The tenant id the token endpoint accepts.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The client id the token endpoint accepts.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret the token endpoint accepts.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// An engine configuration (JSON) for this tenant: its credentials and URLs and
    /// every drive, with the keys of `extra` (a JSON object) added or replacing them.
    pub fn engine_config(&self, extra: serde_json::Value) -> serde_json::Value {
        let drives: Vec<String> = self.drives().into_iter().map(|d| d.id).collect();
        let mut config = serde_json::json!({
            "tenant_id": self.tenant_id(),
            "client_id": self.client_id(),
            "client_secret": self.client_secret(),
            "graph_url": self.graph_url(),
            "login_url": self.login_url(),
            "drives": drives,
        });
        if let (Some(fields), serde_json::Value::Object(extra)) = (config.as_object_mut(), extra) {
            fields.extend(extra);
        }
        config
    }

    /// All drives (site libraries and OneDrives).
    pub fn drives(&self) -> Vec<SimDrive> {
        self.shared.drives()
    }

    /// The id of a drive's root item.
    pub fn root_id(&self, drive: &str) -> Result<String> {
        let t = self.shared.tenant.read();
        let d = t.drive(drive)?;
        Ok(t.drives[d].item_id(0))
    }

    /// Creates a file (with `content`) or a folder under `parent_id` (`root` works).
    pub fn create_item(
        &self,
        drive: &str,
        parent_id: &str,
        name: &str,
        folder: bool,
        content: &[u8],
    ) -> Result<SimItem> {
        let body = drive::Body::Bytes(content);
        Ok(self
            .shared
            .create_item(drive, parent_id, name, folder, body)?)
    }

    /// Creates a file of `size` generated bytes under `parent_id` (`root` works):
    /// nothing is stored, so the file may be many GB.
    pub fn create_file_sized(
        &self,
        drive: &str,
        parent_id: &str,
        name: &str,
        size: u64,
    ) -> Result<SimItem> {
        let body = drive::Body::Generated(size);
        Ok(self
            .shared
            .create_item(drive, parent_id, name, false, body)?)
    }

    /// `len` bytes of a file's content from `start` (fewer at its end): the bytes a
    /// download serves.
    pub fn read_content(&self, drive: &str, item: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        Ok(self.shared.read_content(drive, item, start, len)?)
    }

    /// Renames, moves and/or rewrites an item (`patch.size`: new generated content).
    pub fn update_item(&self, drive: &str, item: &str, patch: ItemPatch) -> Result<SimItem> {
        Ok(self.shared.update_item(drive, item, &patch)?)
    }

    /// Deletes an item; a folder takes everything below it along.
    pub fn delete_item(&self, drive: &str, item: &str) -> Result<()> {
        Ok(self.shared.delete_item(drive, item)?)
    }

    /// Shares an item with an organization view link, breaking its inheritance
    /// first ([`Simulator::create_link`]); returns the item.
    pub fn share_item(&self, drive: &str, item: &str) -> Result<SimItem> {
        Ok(self.shared.share(drive, item)?)
    }

    /// Drops an item's unique permissions ([`Simulator::restore_inheritance`]);
    /// refused when it inherits already. Returns the item.
    pub fn unshare_item(&self, drive: &str, item: &str) -> Result<SimItem> {
        Ok(self.shared.unshare(drive, item)?)
    }

    /// Gives `roles` (`read`, `write`, `owner`) on an item to `principal`:
    /// `user:{upn}` (a tenant user), `group:{id}` (a directory group) or
    /// `guest:{email}` (someone outside the tenant). An item that inherits gets a
    /// copy of its inherited grants first; a principal that has a grant on the item
    /// gets the new roles. A permission change: delta returns the item.
    pub fn grant(
        &self,
        drive: &str,
        item: &str,
        principal: &str,
        roles: &[&str],
    ) -> Result<SimPermission> {
        Ok(self.shared.grant(drive, item, principal, roles)?)
    }

    /// Adds a sharing link of `link_type` (`view`, `edit`, `embed`) and `scope`
    /// (`anonymous`, `organization`, `users`) to an item, breaking its inheritance
    /// first as [`Simulator::grant`] does. Every link has an id of its own.
    pub fn create_link(
        &self,
        drive: &str,
        item: &str,
        link_type: &str,
        scope: &str,
        options: LinkOptions,
    ) -> Result<SimPermission> {
        Ok(self
            .shared
            .create_link(drive, item, link_type, scope, &options)?)
    }

    /// Removes a grant (by permission id) from an item with unique permissions.
    /// Refused when the item inherits, when it has no such grant, and for an
    /// `owner` grant.
    pub fn revoke(&self, drive: &str, item: &str, permission_id: &str) -> Result<()> {
        Ok(self.shared.revoke(drive, item, permission_id)?)
    }

    /// Gives an item unique permissions, a copy of those it inherited (ids kept);
    /// refused when it has them already. Returns its permissions.
    pub fn break_inheritance(&self, drive: &str, item: &str) -> Result<SimPermissions> {
        Ok(self.shared.set_inheritance(drive, item, false)?)
    }

    /// Drops an item's unique permissions so it inherits again; refused on the
    /// drive root and on an item that inherits already. Returns what it inherits.
    pub fn restore_inheritance(&self, drive: &str, item: &str) -> Result<SimPermissions> {
        Ok(self.shared.set_inheritance(drive, item, true)?)
    }

    /// Ground truth: the permissions in force on a live item (what Graph's
    /// `/permissions` lists) and the item they are inherited from.
    pub fn permissions(&self, drive: &str, item: &str) -> Result<SimPermissions> {
        Ok(self.shared.permissions(drive, item)?)
    }

    /// The ids of a drive's items with unique permissions, the root first.
    pub fn permission_roots(&self, drive: &str) -> Result<Vec<String>> {
        Ok(self.shared.permission_roots(drive)?)
    }

    /// Adds a site with a "Documents" library; returns the site id.
    pub fn add_site(&self, name: &str) -> Result<String> {
        Ok(self.shared.add_site(name)?)
    }

    /// Adds a document library to a site; returns the drive id.
    pub fn add_library(&self, site: &str, name: &str) -> Result<String> {
        Ok(self.shared.add_library(site, name)?)
    }

    /// Removes a document library from a site: the drive id stops resolving and
    /// `/sites/{id}/drives` no longer lists it.
    pub fn remove_library(&self, site: &str, drive: &str) -> Result<()> {
        Ok(self.shared.remove_library(site, drive)?)
    }

    /// Deletes a site (not the root site) with its libraries; `/sites/delta`
    /// reports it as `@removed`.
    pub fn remove_site(&self, site: &str) -> Result<()> {
        Ok(self.shared.remove_site(site)?)
    }

    /// Adds a group: a Microsoft 365 (`unified`) group gets its own site with a
    /// "Documents" library (its drive); a security group has neither. Notifies
    /// subscriptions on `/groups` (and on `/sites` for the new site).
    pub fn add_group(&self, name: &str, unified: bool) -> Result<SimGroup> {
        Ok(self.shared.add_group(name, unified)?)
    }

    /// Renames a group (an `updated` change for group subscriptions).
    pub fn rename_group(&self, id: &str, name: &str) -> Result<SimGroup> {
        Ok(self.shared.rename_group(id, name)?)
    }

    /// Deletes a group with its site and drive; `/groups/delta` reports it as
    /// `@removed`, `/sites/delta` its site.
    pub fn remove_group(&self, id: &str) -> Result<()> {
        Ok(self.shared.remove_group(id)?)
    }

    /// The groups that exist.
    pub fn groups(&self) -> Vec<SimGroup> {
        self.shared.groups()
    }

    /// The directory users (principals for [`Simulator::grant`]).
    pub fn users(&self) -> Vec<SimUser> {
        self.shared.users()
    }

    /// Adds a user, with or without a OneDrive; returns the user id.
    pub fn add_user(&self, upn: &str, with_drive: bool) -> Result<String> {
        Ok(self.shared.add_user(upn, with_drive)?.0)
    }

    /// Replaces the injected-failure knobs.
    pub fn set_faults(&self, faults: Faults) -> Result<()> {
        faults.validate()?;
        self.shared.faults.set(faults);
        Ok(())
    }

    /// Makes every delta token and link issued so far answer 410 Gone.
    pub fn expire_delta_tokens(&self) {
        self.shared.expire_delta_tokens();
    }

    /// Makes every download URL issued so far answer 401 (expired), as if its
    /// lifetime had passed; URLs issued after work.
    pub fn expire_download_urls(&self) {
        self.shared.download_urls.expire_all();
    }

    /// Expires subscriptions now (all when `None`).
    pub fn expire_subscriptions(&self, id: Option<&str>) {
        self.shared.subs.expire(id);
    }

    /// Makes every access token issued so far expire now: Graph calls with them get 401.
    pub fn expire_access_tokens(&self) {
        self.shared.auth.expire_tokens();
    }

    /// A 429 storm: for `duration`, every Graph or content host request outside a
    /// Retry-After window opens one (429 with the configured `throttle.retry_after_secs`),
    /// whatever the budget; requests inside a window count as violations, as with an
    /// exhausted budget.
    pub fn throttle_storm(&self, duration: std::time::Duration) {
        self.shared
            .throttle
            .storm(std::time::Instant::now() + duration);
    }

    /// Replaces the webhook delivery knobs (drop, duplicate, reorder, delay, ...).
    pub fn set_notification_faults(&self, config: NotificationConfig) -> Result<()> {
        config.validate().map_err(crate::Error::InvalidInput)?;
        self.shared.subs.set_config(config);
        Ok(())
    }

    /// The counters.
    pub fn stats(&self) -> SimStats {
        self.shared.stats()
    }

    /// Every live item of a drive (root included), parents first.
    pub fn snapshot(&self, drive: &str) -> Result<Vec<SnapshotItem>> {
        Ok(self.shared.snapshot(drive)?)
    }

    /// Live items across all drives, roots included.
    pub fn item_count(&self) -> u64 {
        self.shared.tenant.read().item_count()
    }

    /// Runs one request through the router without HTTP (for benchmarks and tests);
    /// counts, auth, metering and faults apply as over the wire.
    pub fn serve(&self, req: &SimRequest) -> Outcome {
        router::dispatch(&self.shared, req)
    }

    /// Stops the HTTP workers and the subscriptions module.
    pub fn shutdown(self) {}
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.http.stop();
        self.content.stop();
        self.shared.subs.shutdown();
    }
}

/// Binds a listener whose requests go to `route` once the state is in `slot`.
fn listen(
    address: &str,
    threads: usize,
    tls: Option<m365sync_http::TlsConfig>,
    slot: &Arc<std::sync::OnceLock<Arc<Shared>>>,
    route: fn(&Shared, &SimRequest) -> Outcome,
) -> Result<HttpServer> {
    let slot = slot.clone();
    let handler: server::Handler = Arc::new(move |req: &SimRequest| match slot.get() {
        Some(shared) => route(shared, req),
        None => Outcome::Reply(response::SimResponse::graph_error(
            503,
            "serviceNotAvailable",
            "starting",
        )),
    });
    HttpServer::start(address, threads, tls, handler)
}

/// `http(s)://host:port` of a listener (`127.0.0.1` when bound to every address).
fn origin(server: &HttpServer, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let addr = server.addr;
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("{scheme}://{host}:{}", addr.port())
}

/// The HTTPS settings of `tls_cert_file` / `tls_key_file`, when both are set.
fn tls_config(config: &SimConfig) -> Result<Option<m365sync_http::TlsConfig>> {
    let (cert, key) = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) => return Ok(None),
        _ => {
            return Err(Error::Config(
                "sim.tls_cert_file and sim.tls_key_file go together".into(),
            ));
        }
    };
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
    };
    m365sync_http::TlsConfig::from_pem(&read(cert)?, &read(key)?)
        .map(Some)
        .map_err(|e| Error::Config(format!("sim TLS certificate: {e}")))
}
