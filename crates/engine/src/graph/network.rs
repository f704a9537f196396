//! How the engine reaches Graph and the identity endpoint: through a proxy or not
//! (`proxy` / `no_proxy`, else `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`),
//! trusting the system's CA store plus `tls.ca_file`, with the configured User-Agent.

use std::sync::Arc;
use std::time::Duration;

use log::{debug, warn};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::Config;
use crate::error::{Error, Result};

/// Builds the HTTP agents of one engine: they share their TLS settings and differ
/// only in the proxy each destination takes.
pub(crate) struct Network<'a> {
    config: &'a Config,
    tls: Arc<rustls::ClientConfig>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Network<'a> {
    /// Reads the trust anchors (a configuration error names `tls.ca_file` when that
    /// file is unusable); `env` looks up environment variables.
    pub(crate) fn new(
        config: &'a Config,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Result<Network<'a>> {
        Ok(Network {
            config,
            tls: Arc::new(client_tls(config)?),
            env,
        })
    }

    /// The route of requests to `url` (its proxy decided by the URL's scheme and host).
    /// It follows no redirect: requests on it carry the bearer token, which must reach
    /// no other host.
    pub(crate) fn route_to(&self, url: &str) -> Result<Route> {
        self.route(url, 0)
    }

    /// The route of requests for file bytes to `url`'s host: they carry no token and
    /// follow up to five redirects (a download URL may point at a CDN).
    pub(crate) fn download_route_to(&self, url: &str) -> Result<Route> {
        self.route(url, 5)
    }

    fn route(&self, url: &str, redirects: u32) -> Result<Route> {
        let mut builder = ureq::AgentBuilder::new()
            .redirects(redirects)
            .timeout(Duration::from_secs(self.config.http_timeout_secs))
            // Keep one idle connection per worker (ureq keeps only one per host by
            // default), plus a few for discovery and subscriptions.
            .max_idle_connections_per_host(self.config.workers + 4)
            .user_agent(&self.config.user_agent())
            .tls_config(self.tls.clone());
        let mut through = None;
        if let Some((source, proxy)) = self.proxy_for(url) {
            let parsed = check_proxy_url(&proxy)
                .and_then(|()| ureq::Proxy::new(&proxy).map_err(|e| e.to_string()))
                .map_err(|why| Error::Config(format!("{source}: {why}")))?;
            debug!(
                "requests to {} go through the proxy of {source}",
                host_of(url)
            );
            builder = builder.proxy(parsed);
            through = Some(format!("{} of {source}", without_credentials(&proxy)));
        }
        Ok(Route {
            agent: builder.build(),
            through,
        })
    }

    /// The proxy for `url`, with where it was configured; `None` for a direct connection.
    fn proxy_for(&self, url: &str) -> Option<(String, String)> {
        let env = |name: &str| {
            [name.to_string(), name.to_ascii_lowercase()]
                .into_iter()
                .find_map(|n| {
                    (self.env)(&n)
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| (n, v))
                })
        };
        let no_proxy = match &self.config.no_proxy {
            Some(list) => Some(list.clone()),
            None => env("NO_PROXY").map(|(_, v)| v),
        };
        if no_proxy.is_some_and(|list| bypasses(&list, &host_of(url))) {
            return None;
        }
        if let Some(proxy) = &self.config.proxy {
            return Some(("field `proxy`".into(), proxy.expose().to_string()));
        }
        let scheme_var = if url.starts_with("https://") {
            "HTTPS_PROXY"
        } else {
            "HTTP_PROXY"
        };
        env(scheme_var)
            .or_else(|| env("ALL_PROXY"))
            .map(|(name, value)| (format!("environment variable {name}"), value))
    }
}

/// How requests to one destination go: the agent, and the proxy it goes through.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The agent to send with.
    pub agent: ureq::Agent,
    /// The proxy (without credentials) and where it was configured; `None` when direct.
    through: Option<String>,
}

impl Route {
    /// A transport failure on this route, naming the proxy when there is one (its
    /// failures otherwise look like the destination's).
    pub(crate) fn failure(&self, t: &ureq::Transport) -> String {
        match &self.through {
            Some(proxy) => format!("{t} (through the proxy {proxy})"),
            None => t.to_string(),
        }
    }
}

/// `proxy` without a `user:password@` part.
fn without_credentials(proxy: &str) -> String {
    match proxy
        .strip_prefix("http://")
        .and_then(|r| r.rsplit_once('@'))
    {
        Some((_, server)) => format!("http://{server}"),
        None => proxy.to_string(),
    }
}

/// Checks a proxy URL: `http://[user:password@]host[:port]` (ureq speaks plain HTTP
/// to proxies, tunnelling HTTPS with CONNECT).
pub(crate) fn check_proxy_url(url: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "not a proxy URL: {why} (http://host:port expected)"
        ))
    };
    let Some(rest) = url.strip_prefix("http://") else {
        return bad("only http:// proxies are supported");
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains(['/', '?', '#']) {
        return bad("a proxy URL has no path");
    }
    let server = authority.rsplit_once('@').map_or(authority, |(_, s)| s);
    let (host, port) = match server.rsplit_once(':') {
        Some((host, port)) if !server.starts_with('[') || host.ends_with(']') => (host, Some(port)),
        _ => (server, None),
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("no host");
    }
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return bad("the port is not a number from 1 to 65535");
    }
    Ok(())
}

/// The host of `url`, lower-case, without port or brackets.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.to_ascii_lowercase()
}

/// Whether a `NO_PROXY` list exempts `host`: `*`, the host itself, or a domain it is
/// below (`example.com` and `.example.com` both cover `graph.example.com`); ports in
/// entries are ignored.
fn bypasses(list: &str, host: &str) -> bool {
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.strip_prefix('.').unwrap_or(entry);
        let entry = match entry.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None if entry.matches(':').count() == 1 => entry.split(':').next().unwrap_or_default(),
            None => entry,
        };
        let entry = entry.to_ascii_lowercase();
        !entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}")))
    })
}

/// The TLS settings: the system's CA store and `tls.ca_file` (webpki's bundle when the
/// system has none and no file is given), with the ring provider.
fn client_tls(config: &Config) -> Result<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    for e in &system.errors {
        debug!("system CA store: {e}");
    }
    let (added, _) = roots.add_parsable_certificates(system.certs);
    if let Some(path) = &config.tls.ca_file {
        let field =
            |why: String| Error::Config(format!("field `tls.ca_file`: {}: {why}", path.display()));
        let pem = std::fs::read(path).map_err(|e| field(format!("cannot read it ({e})")))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| field(format!("not a PEM certificate file ({e})")))?;
        if certs.is_empty() {
            return Err(field("holds no PEM certificate".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| field(format!("a certificate is not usable ({e})")))?;
        }
    } else if added == 0 {
        warn!("the system CA store is empty or unreadable: trusting the webpki bundle");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(extra: &str) -> Config {
        let base = r#"{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x.db""#;
        Config::from_json(&format!("{base}{extra}}}")).unwrap()
    }

    fn proxy(config: &Config, env: &[(&str, &str)], url: &str) -> Option<(String, String)> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.get(k).cloned();
        Network::new(config, &lookup).unwrap().proxy_for(url)
    }

    #[test]
    fn the_proxy_comes_from_the_config_else_from_the_scheme_s_variable() {
        let graph = "https://graph.microsoft.com/v1.0/drives";
        let plain = config("");
        assert_eq!(proxy(&plain, &[], graph), None);
        let env = [
            ("HTTPS_PROXY", "http://secure:1"),
            ("http_proxy", "http://plain:2"),
        ];
        assert_eq!(
            proxy(&plain, &env, graph),
            Some((
                "environment variable HTTPS_PROXY".into(),
                "http://secure:1".into()
            ))
        );
        assert_eq!(
            proxy(&plain, &env, "http://127.0.0.1:9/v1.0").map(|p| p.1),
            Some("http://plain:2".into())
        );
        assert_eq!(
            proxy(&plain, &[("ALL_PROXY", "http://all:3")], graph).map(|p| p.1),
            Some("http://all:3".into())
        );
        let own = config(r#","proxy":"http://mine:4""#);
        assert_eq!(
            proxy(&own, &env, graph),
            Some(("field `proxy`".into(), "http://mine:4".into()))
        );
    }

    #[test]
    fn no_proxy_exempts_hosts_and_their_subdomains() {
        let env = [
            ("HTTPS_PROXY", "http://p:1"),
            ("NO_PROXY", "localhost, .microsoft.com,10.0.0.1:8080,[::1]"),
        ];
        let plain = config("");
        for direct in [
            "https://graph.microsoft.com/v1.0",
            "https://microsoft.com/",
            "https://10.0.0.1:443/x",
            "https://[::1]:8443/x",
            "https://LOCALHOST/x",
        ] {
            assert_eq!(proxy(&plain, &env, direct), None, "{direct}");
        }
        for proxied in [
            "https://login.microsoftonline.com/t",
            "https://notmicrosoft.com/",
            "https://10.0.0.10/",
        ] {
            assert!(proxy(&plain, &env, proxied).is_some(), "{proxied}");
        }
        let config_list = config(r#","proxy":"http://p:1","no_proxy":"*""#);
        assert_eq!(proxy(&config_list, &env, "https://x.example/"), None);
    }

    #[test]
    fn a_bad_proxy_or_ca_file_is_a_configuration_error_naming_it() {
        let e = Config::from_json(
            r#"{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x.db","proxy":"http://proxy:notaport"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`proxy`"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        for (file, why) in [
            (not_pem.clone(), "holds no PEM certificate"),
            (dir.path().join("missing.pem"), "cannot read it"),
        ] {
            let c = config(&format!(r#","tls":{{"ca_file":{:?}}}"#, file));
            let e = Network::new(&c, &|_| None).err().unwrap().to_string();
            assert!(e.contains("`tls.ca_file`") && e.contains(why), "{e}");
        }
        let bad_env = config("");
        let env = |k: &str| (k == "HTTPS_PROXY").then(|| "http://proxy:notaport".to_string());
        let e = Network::new(&bad_env, &env)
            .unwrap()
            .route_to("https://graph.microsoft.com/")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("HTTPS_PROXY"), "{e}");
    }

    #[test]
    fn proxy_urls_are_http_with_a_host_and_a_valid_port() {
        for good in [
            "http://p",
            "http://p:8080/",
            "http://u:pw@p:3128",
            "http://[::1]:3128",
        ] {
            assert_eq!(check_proxy_url(good), Ok(()), "{good}");
        }
        for bad in [
            "https://p:443",
            "socks5://p",
            "p:3128",
            "http://",
            "http://p:0",
            "http://p:99999",
            "http://p:x",
            "http://p:3128/path",
        ] {
            assert!(check_proxy_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxy_passwords_are_never_shown() {
        assert_eq!(without_credentials("http://u:pw@p:1"), "http://p:1");
        let c = config(r#","proxy":"http://u:pw@127.0.0.1:1""#);
        assert!(!format!("{c:?}").contains("pw"));
        let route = Network::new(&c, &|_| None)
            .unwrap()
            .route_to("https://graph.microsoft.com/")
            .unwrap();
        assert!(!format!("{:?}", route.through).contains("pw"));
    }

    #[test]
    fn hosts_are_taken_from_urls_without_port_credentials_or_brackets() {
        assert_eq!(
            host_of("https://u:p@Graph.Example:443/x?y"),
            "graph.example"
        );
        assert_eq!(host_of("http://[::1]:80/"), "::1");
        assert_eq!(host_of("http://127.0.0.1"), "127.0.0.1");
    }
}
