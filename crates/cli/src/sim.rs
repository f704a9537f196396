//! `m365sync sim`: run the Graph simulator until interrupted.

use std::io::Write;

use clap::Args;
use m365sync_sim::{Faults, SimConfig, Simulator, ThrottleConfig};

use crate::err;

/// Flags of `m365sync sim`; defaults come from `SimConfig::default()`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long)]
    listen: Option<String>,
    /// Sites, the root site included.
    #[arg(long)]
    sites: Option<u32>,
    /// Document libraries per site.
    #[arg(long)]
    libraries_per_site: Option<u32>,
    /// Users.
    #[arg(long)]
    users: Option<u32>,
    /// Users without a OneDrive.
    #[arg(long)]
    users_without_drive: Option<u32>,
    /// Microsoft 365 groups, each with its own site and drive.
    #[arg(long)]
    groups: Option<u32>,
    /// Files and folders across all drives, roots excluded.
    #[arg(long)]
    items: Option<u64>,
    /// Maximum folder depth.
    #[arg(long)]
    depth: Option<u32>,
    /// Generator seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Tenant id (tenant 0's; tenant k's is `{tenant}-{k}`).
    #[arg(long)]
    tenant: Option<String>,
    /// Tenants to serve, each with its own credentials, data (the size flags count
    /// per tenant), resource-unit budget and subscriptions; `GET /_sim/tenants` lists
    /// their ids and secrets.
    #[arg(long)]
    tenants: Option<u32>,
    /// Client id.
    #[arg(long)]
    client_id: Option<String>,
    /// Client secret.
    #[arg(long)]
    client_secret: Option<String>,
    /// Access token lifetime in seconds.
    #[arg(long)]
    token_lifetime: Option<u64>,
    /// The Graph resource of the cloud to play (default https://graph.microsoft.com;
    /// e.g. https://graph.microsoft.us for US Government).
    #[arg(long)]
    graph_resource: Option<String>,
    /// Delta tokens older than this many seconds get 410 (0 = never).
    #[arg(long)]
    delta_token_max_age: Option<u64>,
    /// Resource units per minute (0 = no throttling).
    #[arg(long)]
    throttle_ru_per_min: Option<u64>,
    /// Retry-After of a first 429, in seconds.
    #[arg(long)]
    retry_after: Option<u64>,
    /// Length of the resource-unit budget window in seconds (Graph: 60).
    #[arg(long)]
    throttle_window_secs: Option<u64>,
    /// Probability of an injected 503.
    #[arg(long, default_value_t = 0.0)]
    error_503_rate: f64,
    /// Probability of an injected 500.
    #[arg(long, default_value_t = 0.0)]
    error_500_rate: f64,
    /// Probability of an injected connection reset.
    #[arg(long, default_value_t = 0.0)]
    reset_rate: f64,
    /// Seed of the fault dice.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// HTTP worker threads.
    #[arg(long)]
    threads: Option<usize>,
    /// A PEM certificate registered for the app (repeatable): assertions signed with
    /// its key are accepted besides the secret.
    #[arg(long)]
    client_cert_file: Vec<std::path::PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key-file).
    #[arg(long, requires = "tls_key_file")]
    tls_cert_file: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    tls_key_file: Option<std::path::PathBuf>,
}

impl SimArgs {
    /// The simulator configuration these flags describe.
    fn config(self) -> SimConfig {
        let d = SimConfig::default();
        SimConfig {
            listen: self.listen.unwrap_or(d.listen),
            tenant_id: self.tenant.unwrap_or(d.tenant_id),
            client_id: self.client_id.unwrap_or(d.client_id),
            client_secret: self.client_secret.unwrap_or(d.client_secret),
            tenants: self.tenants.unwrap_or(d.tenants),
            token_lifetime_secs: self.token_lifetime.unwrap_or(d.token_lifetime_secs),
            graph_resource: self.graph_resource.unwrap_or(d.graph_resource),
            federated_credentials: d.federated_credentials,
            client_certificate_files: self.client_cert_file,
            sites: self.sites.unwrap_or(d.sites),
            libraries_per_site: self.libraries_per_site.unwrap_or(d.libraries_per_site),
            users: self.users.unwrap_or(d.users),
            users_without_drive: self.users_without_drive.unwrap_or(d.users_without_drive),
            groups: self.groups.unwrap_or(d.groups),
            items: self.items.unwrap_or(d.items),
            depth: self.depth.unwrap_or(d.depth),
            seed: self.seed.unwrap_or(d.seed),
            delta_token_max_age_secs: self
                .delta_token_max_age
                .unwrap_or(d.delta_token_max_age_secs),
            throttle: ThrottleConfig {
                ru_per_minute: self.throttle_ru_per_min.unwrap_or(d.throttle.ru_per_minute),
                retry_after_secs: self.retry_after.unwrap_or(d.throttle.retry_after_secs),
                window_secs: self.throttle_window_secs.unwrap_or(d.throttle.window_secs),
                egress_bytes_per_hour: d.throttle.egress_bytes_per_hour,
                egress_window_secs: d.throttle.egress_window_secs,
                costs: d.throttle.costs,
            },
            faults: Faults {
                error_503_rate: self.error_503_rate,
                error_500_rate: self.error_500_rate,
                reset_rate: self.reset_rate,
                seed: self.fault_seed,
                ..Faults::default()
            },
            threads: self.threads.unwrap_or(d.threads),
            tls_cert_file: self.tls_cert_file,
            tls_key_file: self.tls_key_file,
            notifications: d.notifications,
            file_sizes: d.file_sizes,
            download_url_ttl_secs: d.download_url_ttl_secs,
            sharing: d.sharing,
            permission_page_size: d.permission_page_size,
        }
    }
}

/// Starts the simulator, prints where it listens and the credentials, serves until Ctrl-C.
pub fn run(args: SimArgs) -> Result<(), String> {
    let sim = Simulator::start(args.config()).map_err(err)?;
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    })
    .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    print_banner(&sim).map_err(err)?;
    let _ = rx.recv();
    log::info!("stopping the simulator");
    sim.shutdown();
    Ok(())
}

/// Tenants listed one per line in the banner; beyond this many, `/_sim/tenants` does.
const LISTED_TENANTS: u32 = 10;

/// Where the simulator listens and the credentials to use, one per line; with
/// several tenants, then one line per tenant (index, tenant id, secret, drives).
fn print_banner(sim: &Simulator) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", sim.url())?;
    writeln!(out, "graph:         {}", sim.graph_url())?;
    writeln!(
        out,
        "token:         {}/{}/oauth2/v2.0/token",
        sim.login_url(),
        sim.tenant_id()
    )?;
    writeln!(out, "tenant_id:     {}", sim.tenant_id())?;
    writeln!(out, "client_id:     {}", sim.client_id())?;
    writeln!(out, "client_secret: {}", sim.client_secret())?;
    writeln!(out, "drives:        {}", sim.drives().len())?;
    writeln!(out, "items:         {}", sim.item_count())?;
    let count = sim.tenant_count();
    if count > 1 {
        writeln!(
            out,
            "tenants:       {count} (the lines above are tenant 0's; all: GET {}/_sim/tenants)",
            sim.url()
        )?;
        for t in sim.tenants().iter().take(LISTED_TENANTS as usize) {
            writeln!(
                out,
                "tenant {}: tenant_id {} client_secret {} drives {}",
                t.index(),
                t.tenant_id(),
                t.client_secret(),
                t.drives().len()
            )?;
        }
        if count > LISTED_TENANTS {
            writeln!(out, "... {} more at /_sim/tenants", count - LISTED_TENANTS)?;
        }
    }
    out.flush()?;
    Ok(())
}
