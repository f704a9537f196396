//! Engine configuration: a JSON document, every default in one place, validated
//! with errors that name the offending field.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::scope::ScopeConfig;

/// Default Graph endpoint (the global cloud's).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// Default identity endpoint (the global cloud's).
pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";

/// A Microsoft cloud: where Graph and sign-in live, and which resource tokens are
/// asked for. In JSON: `global`, `usgov` (GCC High), `usgov-dod` or `china`
/// (operated by 21Vianet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// The global service.
    Global,
    /// US Government L4 (GCC High).
    Usgov,
    /// US Government L5 (DoD).
    UsgovDod,
    /// Microsoft 365 operated by 21Vianet in China.
    China,
}

impl Cloud {
    /// The cloud's Graph v1.0 endpoint.
    pub fn graph_url(self) -> &'static str {
        match self {
            Cloud::Global => DEFAULT_GRAPH_URL,
            Cloud::Usgov => "https://graph.microsoft.us/v1.0",
            Cloud::UsgovDod => "https://dod-graph.microsoft.us/v1.0",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn/v1.0",
        }
    }

    /// The cloud's identity endpoint.
    pub fn login_url(self) -> &'static str {
        match self {
            Cloud::Global => DEFAULT_LOGIN_URL,
            Cloud::Usgov | Cloud::UsgovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }
}

/// The longest interval any `*_interval_secs` key accepts: ten years.
pub const MAX_INTERVAL_SECS: u64 = 10 * 365 * 86_400;

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; use only to put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Request pacing and retry settings of the tenant's throttle gate, which every Graph
/// request of an engine passes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Resource-unit budget per minute for this tenant (0 = no proactive budget).
    pub ru_per_minute: u32,
    /// Upper bound on requests per second (0 = unlimited).
    pub requests_per_second: f64,
    /// Attempts per request for retryable failures (5xx, resets, timeouts), at least 1.
    pub max_attempts: u32,
    /// Wait used after a 429/503 that carries no `Retry-After`, doubled per repeat.
    pub default_retry_after_secs: u64,
    /// Cap of any backoff wait.
    pub max_backoff_secs: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            ru_per_minute: 0,
            requests_per_second: 0.0,
            max_attempts: 8,
            default_retry_after_secs: 2,
            max_backoff_secs: 300,
        }
    }
}

/// File content: how downloads share the tenant's budget, and the managed mirror.
///
/// Downloads pass the same throttle gate as every other request, in its background
/// lane: delta, subscription and discovery requests that wait go first, and with
/// `throttle.ru_per_minute` set downloads spend at most `ru_share` of it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DownloadConfig {
    /// Managed mirror mode: keep a copy of every file's current content under this
    /// directory, as `{dir}/{drive id}/{item id}` (unset = downloads on demand only).
    pub dir: Option<PathBuf>,
    /// The drives the managed mirror keeps (empty: every drive of the engine).
    pub drives: Vec<String>,
    /// Downloads of the managed mirror in flight at once (1 to 64).
    pub max_concurrent: usize,
    /// Keep the copies of deleted files instead of removing them.
    pub keep_deleted: bool,
    /// Share of `throttle.ru_per_minute` downloads may spend (above 0, at most 1).
    pub ru_share: f64,
}

impl Default for DownloadConfig {
    fn default() -> Self {
        DownloadConfig {
            dir: None,
            drives: Vec::new(),
            max_concurrent: 4,
            keep_deleted: false,
            ru_share: 0.5,
        }
    }
}

/// Permission details (who can reach each item).
///
/// Fetching them needs the `Sites.FullControl.All` application permission; without it
/// Graph answers 403, the engine journals one `error` per drive naming the permission,
/// and change tracking goes on (sharing changes are then reported without details).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PermissionsConfig {
    /// Fetch the permissions of every permission-hierarchy root on the first crawl and
    /// of every item whose sharing changes afterwards (needs `track_permissions`).
    pub fetch: bool,
    /// The tenant's own email domains: a grantee whose email is in none of them counts
    /// as external (guests, whose login names carry `#ext#`, always do).
    pub internal_domains: Vec<String>,
}

/// Graph's longest lifetime of a driveItem subscription: 42,300 minutes.
pub const MAX_SUBSCRIPTION_SECS: u64 = 42_300 * 60;

/// Change notifications: where Graph posts them and how subscriptions are kept alive.
///
/// With `listen` set the engine runs its own listener: plain HTTP (behind the host's
/// reverse proxy, which terminates TLS), or HTTPS with `tls_cert_file` and
/// `tls_key_file`. Without it the host runs the HTTP
/// server and feeds requests in through
/// [`Engine::handle_notification`](crate::Engine::handle_notification) and
/// [`Engine::validation_response`](crate::Engine::validation_response); then
/// `public_url` is required.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Address the listener binds, e.g. `127.0.0.1:8443` (port 0 picks a free one).
    pub listen: Option<String>,
    /// The URL Graph posts to (usually through a reverse proxy). When absent it is
    /// derived from the bound address: `http://{addr}{path}` (fine for loopback and
    /// the simulator, not for real Graph, which needs https).
    pub public_url: Option<String>,
    /// Path the listener accepts notifications on.
    pub path: String,
    /// Requested subscription lifetime in seconds (at most 42,300 minutes).
    pub expiry_secs: u64,
    /// A subscription is renewed this long before it expires.
    pub renew_margin_secs: u64,
    /// First wait after a failed subscription request; doubles per failure up to an hour.
    pub retry_secs: u64,
    /// Shortest time between the starts of two delta runs of one drive when several
    /// notification batches arrived during the first (0 = run as soon as it ends); a
    /// single notification during a run, or one for an idle drive, runs at once.
    pub min_delta_interval_ms: u64,
    /// Delete the subscriptions when the engine stops (else they are reused on restart).
    pub delete_on_shutdown: bool,
    /// Largest notification body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Time allowed for a request's head, again for its body, and the longest idle wait.
    pub read_timeout_ms: u64,
    /// Requests the listener handles at once (each connection has its own thread).
    pub threads: usize,
    /// PEM certificate chain: the listener serves HTTPS (needs `tls_key_file`).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, RSA or EC, unencrypted) of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            listen: None,
            public_url: None,
            path: "/m365sync/notifications".into(),
            // Just under the maximum, so clock skew never makes Graph refuse it.
            expiry_secs: MAX_SUBSCRIPTION_SECS - 3600,
            renew_margin_secs: 3 * 86_400,
            retry_secs: 60,
            min_delta_interval_ms: 0,
            delete_on_shutdown: false,
            max_body_bytes: 1024 * 1024,
            read_timeout_ms: 5000,
            threads: 4,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

impl WebhookConfig {
    fn validate(&self) -> Result<()> {
        let fail =
            |field: &str, why: &str| Err(Error::Config(format!("field `webhook.{field}`: {why}")));
        match (&self.listen, &self.public_url) {
            (None, None) => {
                return fail(
                    "public_url",
                    "required when webhook.listen is not set (the host serves the notifications)",
                );
            }
            (Some(listen), _) if listen.trim().is_empty() => {
                return fail("listen", "must be an address such as 127.0.0.1:8443");
            }
            _ => {}
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return fail("public_url", "must start with https:// or http://");
            }
        }
        if !self.path.starts_with('/') {
            return fail("path", "must start with /");
        }
        if !(1..=MAX_SUBSCRIPTION_SECS).contains(&self.expiry_secs) {
            return fail(
                "expiry_secs",
                "must be between 1 and 2538000 (42,300 minutes)",
            );
        }
        if self.renew_margin_secs >= self.expiry_secs {
            return fail("renew_margin_secs", "must be less than expiry_secs");
        }
        if self.retry_secs == 0 {
            return fail("retry_secs", "must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            return fail("max_body_bytes", "must be at least 1024");
        }
        if self.read_timeout_ms == 0 {
            return fail("read_timeout_ms", "must be at least 1");
        }
        if !(1..=64).contains(&self.threads) {
            return fail("threads", "must be between 1 and 64");
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => return fail("tls_key_file", "required with tls_cert_file"),
            (None, Some(_)) => return fail("tls_cert_file", "required with tls_key_file"),
            (Some(_), Some(_)) if self.listen.is_none() => {
                return fail(
                    "tls_cert_file",
                    "needs webhook.listen (the built-in listener)",
                );
            }
            _ => {}
        }
        Ok(())
    }
}

/// Sign-in with the managed identity of the Azure host the engine runs on.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ManagedIdentityConfig {
    /// The identity's token endpoint; default: `IDENTITY_ENDPOINT` (App Service,
    /// Functions, Container Apps, with `IDENTITY_HEADER`), else the instance metadata
    /// service (VMs, AKS).
    pub endpoint: Option<String>,
    /// The client id of a user-assigned identity (default: the system-assigned one).
    pub client_id: Option<String>,
}

/// How the engine's HTTPS client decides whom to trust.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsTrustConfig {
    /// A PEM file of CA certificates trusted besides the system's (e.g. the CA of a
    /// TLS-inspecting proxy).
    pub ca_file: Option<PathBuf>,
}

/// The engine's configuration, usually read from a JSON file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory (tenant) id or domain.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Client secret, inline. Prefer `client_secret_env`.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Name of an environment variable that holds the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A PEM file with the app's certificate and its unencrypted RSA private key: sign-in
    /// sends an RS256 client assertion signed with it instead of a secret.
    #[serde(default)]
    pub client_certificate_file: Option<PathBuf>,
    /// A file holding a federated token (e.g. a Kubernetes service account token),
    /// sent as the client assertion instead of a secret and re-read at every sign-in.
    /// With no credential configured, `AZURE_FEDERATED_TOKEN_FILE` names it.
    #[serde(default)]
    pub client_assertion_file: Option<PathBuf>,
    /// Sign in with the host's managed identity instead of an app credential.
    #[serde(default)]
    pub managed_identity: Option<ManagedIdentityConfig>,
    /// The Microsoft cloud of the tenant: sets the defaults of `graph_url` and
    /// `login_url` and the resource tokens are for (see [`Config::token_scope`]).
    #[serde(default)]
    pub cloud: Option<Cloud>,
    /// Graph base URL, up to and including the version segment (default: the cloud's).
    #[serde(default)]
    pub graph_url: String,
    /// Identity endpoint base URL (the tenant and `/oauth2/v2.0/token` are appended;
    /// default: the cloud's).
    #[serde(default)]
    pub login_url: String,
    /// HTTP proxy for Graph and sign-in (`http://[user:password@]host:port`; a
    /// [`Secret`], as it may hold a password); default: `HTTPS_PROXY` / `HTTP_PROXY` /
    /// `ALL_PROXY` from the environment.
    #[serde(default)]
    pub proxy: Option<Secret>,
    /// Hosts reached without the proxy, comma-separated as in `NO_PROXY` (`*` for all,
    /// `example.com` for it and its subdomains); default: `NO_PROXY` from the environment.
    #[serde(default)]
    pub no_proxy: Option<String>,
    /// Trust of the HTTPS client: the system store, plus `tls.ca_file`.
    #[serde(default)]
    pub tls: TlsTrustConfig,
    /// The User-Agent prefix in Microsoft's recommended form `ISV|Company|App/Version`
    /// (or `NONISV|…`); `m365sync/{version}` is appended.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Path of the SQLite database.
    pub database: PathBuf,
    /// Drive ids to mirror.
    #[serde(default)]
    pub drives: Vec<String>,
    /// Number of worker threads running delta jobs (1 to 64).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Seconds between delta polls of a drive (jittered by up to 10 %).
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: u64,
    /// `$top` of delta requests (1 to 1000); Graph may return fewer.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Whether the first crawl of a drive emits `created` per item (else only `crawl_completed`).
    #[serde(default)]
    pub emit_initial_items: bool,
    /// Whether to ask Graph for sharing changes (`permissions_changed` events).
    #[serde(default = "default_true")]
    pub track_permissions: bool,
    /// Whether to keep the provenance facets of items (authors, `webUrl`,
    /// `sharepointIds`, file-system times), the larger part of what the facets add to a
    /// first crawl's writes. Package, malware and shortcut facets and a file's type and hashes are
    /// always kept.
    #[serde(default = "default_true")]
    pub item_provenance: bool,
    /// Timeout of one HTTP request, in seconds.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_secs: u64,
    /// Pacing and retries.
    #[serde(default)]
    pub throttle: ThrottleConfig,
    /// File downloads: budget share and the managed mirror.
    #[serde(default)]
    pub download: DownloadConfig,
    /// Permission details.
    #[serde(default)]
    pub permissions: PermissionsConfig,
    /// Change notifications; without them every drive is polled.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// With a live subscription, a drive that had no delta for this long gets one
    /// anyway (jittered by up to 10 %), in case notifications were lost.
    #[serde(default = "default_safety_interval")]
    pub safety_interval_secs: u64,
    /// Which sites' libraries and users' OneDrives discovery brings into scope
    /// (nothing by default: then only `drives` are mirrored).
    #[serde(default)]
    pub scope: ScopeConfig,
    /// Seconds between two discovery rounds (new and removed sites, libraries, OneDrives).
    #[serde(default = "default_discover_interval")]
    pub discover_interval_secs: u64,
    /// Seconds between two drift audits of a drive (full enumerations that catch the
    /// changes delta failed to report, jittered by up to 10 %); 0 = never.
    #[serde(default)]
    pub audit_interval_secs: u64,
}

fn default_workers() -> usize {
    4
}
fn default_poll_interval() -> u64 {
    300
}
fn default_page_size() -> u32 {
    1000
}
fn default_safety_interval() -> u64 {
    86_400
}
fn default_true() -> bool {
    true
}
fn default_http_timeout() -> u64 {
    30
}
fn default_discover_interval() -> u64 {
    3600
}

impl Config {
    /// Parses and validates a JSON document.
    pub fn from_json(text: &str) -> Result<Config> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                Error::Config(inner.to_string())
            } else {
                Error::Config(format!("field `{path}`: {inner}"))
            }
        })?;
        let cloud = config.cloud.unwrap_or(Cloud::Global);
        if config.graph_url.is_empty() {
            config.graph_url = cloud.graph_url().to_string();
        }
        if config.login_url.is_empty() {
            config.login_url = cloud.login_url().to_string();
        }
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a JSON file.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Config::from_json(&text)
    }

    /// Checks ranges and cross-field rules.
    pub fn validate(&self) -> Result<()> {
        let fail = |field: &str, why: &str| Err(Error::Config(format!("field `{field}`: {why}")));
        if self.tenant_id.trim().is_empty() {
            return fail("tenant_id", "must not be empty");
        }
        if self.client_id.trim().is_empty() {
            return fail("client_id", "must not be empty");
        }
        let credentials = [
            self.client_secret.is_some(),
            self.client_secret_env.is_some(),
            self.client_certificate_file.is_some(),
            self.client_assertion_file.is_some(),
            self.managed_identity.is_some(),
        ];
        const CREDENTIALS: &str = "client_secret, client_secret_env, client_certificate_file, \
             client_assertion_file or managed_identity";
        match credentials.iter().filter(|&&set| set).count() {
            0 if std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").is_none() => {
                return fail(
                    "client_secret",
                    &format!("missing; set {CREDENTIALS} (or AZURE_FEDERATED_TOKEN_FILE)"),
                );
            }
            0 | 1 => {}
            _ => return fail("client_secret", &format!("set only one of {CREDENTIALS}")),
        }
        if self
            .client_secret_env
            .as_ref()
            .is_some_and(|var| var.trim().is_empty())
        {
            return fail("client_secret_env", "must name an environment variable");
        }
        if let Some(endpoint) = self
            .managed_identity
            .as_ref()
            .and_then(|mi| mi.endpoint.as_ref())
        {
            if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                return fail(
                    "managed_identity.endpoint",
                    "must start with https:// or http://",
                );
            }
        }
        for (field, url) in [
            ("graph_url", &self.graph_url),
            ("login_url", &self.login_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return fail(field, "must start with https:// or http://");
            }
        }
        if let Some(proxy) = &self.proxy {
            if let Err(why) = crate::graph::check_proxy_url(proxy.expose()) {
                return fail("proxy", &why);
            }
        }
        if let Some(ua) = &self.user_agent {
            if let Err(why) = check_user_agent(ua) {
                return fail("user_agent", why);
            }
        }
        if self.database.as_os_str().is_empty() {
            return fail("database", "must not be empty");
        }
        if let Some(i) = self.drives.iter().position(|d| d.trim().is_empty()) {
            return fail(&format!("drives[{i}]"), "must not be empty");
        }
        if !(1..=64).contains(&self.workers) {
            return fail("workers", "must be between 1 and 64");
        }
        if self.poll_interval_secs == 0 {
            return fail("poll_interval_secs", "must be at least 1");
        }
        if !(1..=1000).contains(&self.page_size) {
            return fail("page_size", "must be between 1 and 1000");
        }
        if self.http_timeout_secs == 0 {
            return fail("http_timeout_secs", "must be at least 1");
        }
        let t = &self.throttle;
        if t.max_attempts == 0 {
            return fail("throttle.max_attempts", "must be at least 1");
        }
        if !(t.requests_per_second >= 0.0 && t.requests_per_second.is_finite()) {
            return fail(
                "throttle.requests_per_second",
                "must be a finite number >= 0",
            );
        }
        if t.max_backoff_secs == 0 {
            return fail("throttle.max_backoff_secs", "must be at least 1");
        }
        let d = &self.download;
        if !(1..=64).contains(&d.max_concurrent) {
            return fail("download.max_concurrent", "must be between 1 and 64");
        }
        if !(d.ru_share > 0.0 && d.ru_share <= 1.0) {
            return fail("download.ru_share", "must be above 0 and at most 1");
        }
        if d.dir.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return fail("download.dir", "must not be empty");
        }
        if self.permissions.fetch && !self.track_permissions {
            return fail(
                "permissions.fetch",
                "needs track_permissions (the sharing changes tell which items to fetch)",
            );
        }
        if let Err((field, why)) = self.scope.validate() {
            return fail(&field, &why);
        }
        if self.discover_interval_secs == 0 {
            return fail("discover_interval_secs", "must be at least 1");
        }
        if self.safety_interval_secs == 0 {
            return fail("safety_interval_secs", "must be at least 1");
        }
        // Larger intervals would overflow the scheduler's clock arithmetic.
        for (field, secs) in [
            ("poll_interval_secs", self.poll_interval_secs),
            ("safety_interval_secs", self.safety_interval_secs),
            ("discover_interval_secs", self.discover_interval_secs),
            ("audit_interval_secs", self.audit_interval_secs),
        ] {
            if secs > MAX_INTERVAL_SECS {
                return fail(field, "must be at most 315360000 (ten years)");
            }
        }
        match &self.webhook {
            Some(w) => w.validate(),
            None => Ok(()),
        }
    }

    /// The client secret, from the config or from the named environment variable.
    pub fn resolve_secret(&self) -> Result<Secret> {
        if let Some(s) = &self.client_secret {
            return Ok(s.clone());
        }
        let var = self.client_secret_env.as_deref().unwrap_or_default();
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Secret(v)),
            _ => Err(Error::Config(format!(
                "field `client_secret_env`: environment variable {var} is not set"
            ))),
        }
    }

    /// The scope of the app-only tokens the engine asks for: `{resource}/.default`,
    /// where the resource is the Graph of `cloud` when it is set, else the scheme and
    /// host of `graph_url` (so a `graph_url` of another cloud, or of a simulator,
    /// brings its own resource).
    pub fn token_scope(&self) -> String {
        let graph = match self.cloud {
            Some(cloud) => cloud.graph_url(),
            None => &self.graph_url,
        };
        let (scheme, rest) = graph.split_once("://").unwrap_or(("https", graph));
        let host = rest.split('/').next().unwrap_or_default();
        format!("{scheme}://{host}/.default")
    }

    /// The User-Agent of every request: `user_agent` (or `ISV|m365sync|m365sync/{version}`)
    /// followed by `m365sync/{version}` when a host set its own.
    pub fn user_agent(&self) -> String {
        let ours = format!("m365sync/{}", crate::VERSION);
        match &self.user_agent {
            Some(theirs) => format!("{theirs} {ours}"),
            None => format!("ISV|m365sync|{ours}"),
        }
    }

    /// The token endpoint of the tenant.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.login_url.trim_end_matches('/'),
            self.tenant_id
        )
    }
}

/// Checks Microsoft's recommended User-Agent form `ISV|Company|App/Version`.
fn check_user_agent(ua: &str) -> std::result::Result<(), &'static str> {
    const FORM: &str = "must have the form ISV|Company|App/Version (or NONISV|...)";
    if ua.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    let parts: Vec<&str> = ua.split('|').collect();
    let [kind, company, app] = parts.as_slice() else {
        return Err(FORM);
    };
    let versioned = app
        .split_once('/')
        .is_some_and(|(name, version)| !name.trim().is_empty() && !version.trim().is_empty());
    if !matches!(*kind, "ISV" | "NONISV") || company.trim().is_empty() || !versioned {
        return Err(FORM);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        r#"{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x.db"}"#;

    fn err(text: &str) -> String {
        Config::from_json(text).unwrap_err().to_string()
    }

    #[test]
    fn the_user_agent_takes_microsoft_s_form_and_names_us() {
        let with = |ua: &str| {
            Config::from_json(&MINIMAL.replacen('{', &format!("{{\"user_agent\":{ua:?},"), 1))
        };
        let default = Config::from_json(MINIMAL).unwrap().user_agent();
        assert_eq!(default, format!("ISV|m365sync|m365sync/{}", crate::VERSION));
        let theirs = with("ISV|Contoso|Backup/2.1").unwrap().user_agent();
        assert_eq!(
            theirs,
            format!("ISV|Contoso|Backup/2.1 m365sync/{}", crate::VERSION)
        );
        assert!(with("NONISV|Contoso|Scanner/1").is_ok());
        for bad in [
            "Contoso Backup",
            "ISV|Contoso|Backup",
            "ISV||Backup/1",
            "XYZ|C|A/1",
            "ISV|C|A/1\n",
        ] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("`user_agent`"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_cloud_sets_graph_login_and_scope_together() {
        let with = |extra: &str| Config::from_json(&MINIMAL.replacen('{', extra, 1)).unwrap();
        let global = Config::from_json(MINIMAL).unwrap();
        assert_eq!(
            (global.login_url.as_str(), global.token_scope()),
            (
                DEFAULT_LOGIN_URL,
                "https://graph.microsoft.com/.default".into()
            )
        );
        for (name, graph, login, scope) in [
            (
                "global",
                DEFAULT_GRAPH_URL,
                DEFAULT_LOGIN_URL,
                "https://graph.microsoft.com/.default",
            ),
            (
                "usgov",
                "https://graph.microsoft.us/v1.0",
                "https://login.microsoftonline.us",
                "https://graph.microsoft.us/.default",
            ),
            (
                "usgov-dod",
                "https://dod-graph.microsoft.us/v1.0",
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us/.default",
            ),
            (
                "china",
                "https://microsoftgraph.chinacloudapi.cn/v1.0",
                "https://login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn/.default",
            ),
        ] {
            let c = with(&format!("{{\"cloud\":\"{name}\","));
            assert_eq!(
                (c.graph_url.as_str(), c.login_url.as_str(), c.token_scope()),
                (graph, login, scope.to_string()),
                "{name}"
            );
        }
        // An explicit graph_url brings its own resource; with a cloud, the cloud's wins
        // (graph_url then only says where requests go, e.g. a proxy or a simulator).
        let own = with(r#"{"graph_url":"http://127.0.0.1:9/v1.0","#);
        assert_eq!(own.token_scope(), "http://127.0.0.1:9/.default");
        assert_eq!(own.login_url, DEFAULT_LOGIN_URL);
        let both = with(r#"{"cloud":"china","graph_url":"http://127.0.0.1:9/v1.0","#);
        assert_eq!(both.graph_url, "http://127.0.0.1:9/v1.0");
        assert_eq!(
            both.token_scope(),
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
        let e = err(&MINIMAL.replacen('{', r#"{"cloud":"mars","#, 1));
        assert!(e.contains("cloud") && e.contains("usgov-dod"), "{e}");
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::from_json(MINIMAL).unwrap();
        assert_eq!(c.graph_url, DEFAULT_GRAPH_URL);
        assert_eq!(c.workers, 4);
        assert_eq!(c.page_size, 1000);
        assert!(!c.emit_initial_items);
        assert_eq!(c.throttle, ThrottleConfig::default());
        assert_eq!(c.scope, ScopeConfig::default());
        assert_eq!(c.discover_interval_secs, 3600);
        assert_eq!(c.audit_interval_secs, 0, "audits are off by default");
        for key in ["poll_interval_secs", "audit_interval_secs"] {
            let e = err(&MINIMAL.replacen('{', &format!("{{\"{key}\":315360001,"), 1));
            assert!(e.contains(key) && e.contains("ten years"), "{e}");
        }
        assert_eq!(
            c.token_url(),
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert!(
            err(r#"{"tenant_id":"t","client_id":"c","client_secret":"s"}"#).contains("database")
        );
        let e = err(
            r#"{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x","workerz":1}"#,
        );
        assert!(e.contains("workerz"), "{e}");
        let e = err(
            r#"{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x","workers":"4"}"#,
        );
        assert!(e.contains("workers"), "{e}");
        let e = err(
            r#"{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x","throttle":{"max_attempts":"x"}}"#,
        );
        assert!(e.contains("throttle.max_attempts"), "{e}");
        let e = err(
            r#"{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x","page_size":5000}"#,
        );
        assert!(e.contains("page_size"), "{e}");
        assert!(
            err(r#"{"tenant_id":"t","client_id":"c","database":"x"}"#).contains("client_secret")
        );
        assert!(err("not json").contains("invalid configuration"));
    }

    fn with(extra: &str) -> String {
        format!(r#"{{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x",{extra}}}"#)
    }

    #[test]
    fn webhook_section_gets_defaults_and_is_validated() {
        let c = Config::from_json(MINIMAL).unwrap();
        assert!(c.webhook.is_none());
        assert_eq!(c.safety_interval_secs, 86_400);
        let c = Config::from_json(&with(r#""webhook":{"listen":"127.0.0.1:0"}"#)).unwrap();
        let w = c.webhook.unwrap();
        assert!(w.expiry_secs < MAX_SUBSCRIPTION_SECS);
        assert!(w.renew_margin_secs < w.expiry_secs);
        assert_eq!(w.path, "/m365sync/notifications");
        for (extra, field) in [
            (r#""webhook":{}"#, "webhook.public_url"),
            (r#""webhook":{"listen":" "}"#, "webhook.listen"),
            (
                r#""webhook":{"public_url":"ftp://x"}"#,
                "webhook.public_url",
            ),
            (r#""webhook":{"listen":"a:1","path":"x"}"#, "webhook.path"),
            (
                r#""webhook":{"listen":"a:1","expiry_secs":2538001}"#,
                "webhook.expiry_secs",
            ),
            (
                r#""webhook":{"listen":"a:1","expiry_secs":60,"renew_margin_secs":60}"#,
                "webhook.renew_margin_secs",
            ),
            (
                r#""webhook":{"listen":"a:1","retry_secs":0}"#,
                "webhook.retry_secs",
            ),
            (
                r#""webhook":{"listen":"a:1","max_body_bytes":10}"#,
                "webhook.max_body_bytes",
            ),
            (
                r#""webhook":{"listen":"a:1","read_timeout_ms":0}"#,
                "webhook.read_timeout_ms",
            ),
            (
                r#""webhook":{"listen":"a:1","threads":0}"#,
                "webhook.threads",
            ),
            (r#""webhook":{"listen":"a:1","bogus":1}"#, "bogus"),
            (
                r#""webhook":{"listen":"a:1","tls_cert_file":"c.pem"}"#,
                "webhook.tls_key_file",
            ),
            (
                r#""webhook":{"listen":"a:1","tls_key_file":"k.pem"}"#,
                "webhook.tls_cert_file",
            ),
            (
                r#""webhook":{"public_url":"https://h/x","tls_cert_file":"c","tls_key_file":"k"}"#,
                "webhook.tls_cert_file",
            ),
            (r#""safety_interval_secs":0"#, "safety_interval_secs"),
        ] {
            let e = err(&with(extra));
            assert!(e.contains(field), "{extra}: {e}");
        }
        let c = Config::from_json(&with(r#""webhook":{"public_url":"https://h/x"}"#)).unwrap();
        assert_eq!(
            c.webhook.unwrap().public_url.as_deref(),
            Some("https://h/x")
        );
    }

    #[test]
    fn scope_and_discover_interval_are_read_and_checked() {
        let with = |extra: &str| {
            format!(
                r#"{{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x"{extra}}}"#
            )
        };
        let c = Config::from_json(&with(
            r#","scope":{"all_sites":true,"exclude":[{"drive_name":"Preservation Hold Library"}]},"discover_interval_secs":60"#,
        ))
        .unwrap();
        assert!(c.scope.all_sites && !c.scope.all_onedrives);
        assert_eq!(c.scope.exclude.len(), 1);
        assert_eq!(c.discover_interval_secs, 60);
        let e = err(&with(r#","discover_interval_secs":0"#));
        assert!(e.contains("discover_interval_secs"), "{e}");
        let e = err(&with(r#","scope":{"include":[{"drive_name":""}]}"#));
        assert!(e.contains("scope.include[0].drive_name"), "{e}");
        let e = err(&with(r#","scope":{"all_site":true}"#));
        assert!(e.contains("scope") && e.contains("all_site"), "{e}");
    }

    #[test]
    fn secret_is_redacted_and_env_is_read() {
        let c = Config::from_json(MINIMAL).unwrap();
        assert!(!format!("{c:?}").contains("\"s\""));
        let c = Config::from_json(
            r#"{"tenant_id":"t","client_id":"c","client_secret_env":"M365SYNC_TEST_SECRET_XYZ","database":"x"}"#,
        )
        .unwrap();
        assert!(c.resolve_secret().is_err());
        // SAFETY: this test is the only user of this variable.
        unsafe { std::env::set_var("M365SYNC_TEST_SECRET_XYZ", "v") };
        assert_eq!(c.resolve_secret().unwrap().expose(), "v");
    }
}
