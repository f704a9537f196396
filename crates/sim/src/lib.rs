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
mod hub;
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
mod sim_tenant;
mod state;
mod stats;
pub mod subscriptions;
mod tenant;
mod throttle;

use std::sync::Arc;

pub use api::{
    ItemPatch, LinkOptions, SimDrive, SimGroup, SimItem, SimPermission, SimPermissions, SimStats,
    SimUser, SnapshotItem, TenantCounts, TenantSummary, TenantTotals,
};
pub use config::{Faults, FileSizes, RuCosts, SharingConfig, SimConfig, ThrottleConfig};
pub use content::quick_xor_hash;
pub use identity::FederatedCredential;
pub use router::Outcome;
pub use sim_tenant::SimTenant;

pub use error::{Error, Result};
use hub::Hub;
use request::SimRequest;
use server::HttpServer;

/// A running simulator. Dropping it (or [`Simulator::shutdown`]) stops every thread.
///
/// It serves [`SimConfig::tenants`] tenants; it derefs to tenant 0's [`SimTenant`]
/// (its credentials, data, faults and counters), [`Simulator::tenant`] gives the others.
pub struct Simulator {
    hub: Arc<Hub>,
    http: HttpServer,
    content: HttpServer,
    first: SimTenant,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("url", &self.first.url())
            .field("tenants", &self.hub.tenants().len())
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Simulator {
    type Target = SimTenant;

    /// Tenant 0: a one-tenant simulator is used as before.
    fn deref(&self) -> &SimTenant {
        &self.first
    }
}

impl Simulator {
    /// Generates the tenants, binds `config.listen` (and the content host on the same
    /// address, another port) and starts serving.
    pub fn start(config: SimConfig) -> Result<Simulator> {
        config.validate()?;
        // The listeners are bound first so links can name their ports; the handlers
        // reach the state through a slot filled right after.
        let slot: Arc<std::sync::OnceLock<Arc<Hub>>> = Arc::new(std::sync::OnceLock::new());
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
        let hub = Arc::new(Hub::build(&config, &url, &content_url)?);
        let _ = slot.set(hub.clone());
        log::info!(
            "simulator listening on {url} ({} tenants), content host on {content_url}",
            config.tenants
        );
        let urls = Arc::new(sim_tenant::Urls { url, content_url });
        let first = SimTenant {
            shared: hub.first().clone(),
            urls,
        };
        Ok(Simulator {
            hub,
            http,
            content,
            first,
        })
    }

    /// How many tenants the simulator serves ([`SimConfig::tenants`]).
    pub fn tenant_count(&self) -> u32 {
        self.hub.tenants().len() as u32
    }

    /// Tenant `k` (0 is the simulator's own, which it derefs to).
    pub fn tenant(&self, k: u32) -> Result<SimTenant> {
        let shared = self.hub.get(k as usize).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no tenant {k}: the simulator has {} (0 to {})",
                self.tenant_count(),
                self.tenant_count() - 1
            ))
        })?;
        Ok(SimTenant {
            shared: shared.clone(),
            urls: self.first.urls.clone(),
        })
    }

    /// Every tenant, by index.
    pub fn tenants(&self) -> Vec<SimTenant> {
        self.hub
            .tenants()
            .iter()
            .map(|shared| SimTenant {
                shared: shared.clone(),
                urls: self.first.urls.clone(),
            })
            .collect()
    }

    /// Every tenant's summary (`GET /_sim/tenants`), by index.
    pub fn tenant_summaries(&self) -> Vec<TenantSummary> {
        self.hub.summaries().0
    }

    /// The request counters summed over every tenant.
    pub fn total_stats(&self) -> TenantTotals {
        self.hub.summaries().1
    }

    /// Runs one request through the router without HTTP (for benchmarks and tests);
    /// counts, auth, metering and faults apply as over the wire, and the token (or
    /// `/_sim/tenants/{k}`) picks the tenant.
    pub fn serve(&self, req: &SimRequest) -> Outcome {
        router::dispatch(&self.hub, req)
    }

    /// Stops the HTTP workers and the subscriptions module.
    pub fn shutdown(self) {}
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.http.stop();
        self.content.stop();
        self.hub.shutdown();
    }
}

/// Binds a listener whose requests go to `route` once the state is in `slot`.
fn listen(
    address: &str,
    threads: usize,
    tls: Option<m365sync_http::TlsConfig>,
    slot: &Arc<std::sync::OnceLock<Arc<Hub>>>,
    route: fn(&Hub, &SimRequest) -> Outcome,
) -> Result<HttpServer> {
    let slot = slot.clone();
    let handler: server::Handler = Arc::new(move |req: &SimRequest| match slot.get() {
        Some(hub) => route(hub, req),
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
