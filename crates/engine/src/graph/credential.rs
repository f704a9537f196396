//! How the engine proves who it is when it asks for a token: a client secret, a
//! federated token from a file (Kubernetes workload identity and the like: re-read on
//! every sign-in, since the platform rotates it), or the managed identity of the
//! Azure host it runs on.

use std::path::PathBuf;

use crate::config::{Config, Secret};
use crate::error::{Error, Result};
use crate::graph::certificate::CertificateKey;

/// The federated token file Azure workload identity mounts (honoured when no other
/// credential is configured).
pub(crate) const FEDERATED_TOKEN_ENV: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// The instance metadata service's token endpoint (Azure VMs, AKS nodes).
const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// The assertion type of a JWT client assertion.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A credential, resolved from the configuration and the environment.
pub(crate) enum Credential {
    /// `client_secret` / `client_secret_env`.
    Secret(Secret),
    /// `client_certificate_file`: assertions signed with the certificate's key.
    Certificate(CertificateKey),
    /// A federated token in a file.
    AssertionFile(PathBuf),
    /// A managed identity's token endpoint.
    ManagedIdentity {
        /// The endpoint (`managed_identity.endpoint`, `IDENTITY_ENDPOINT` or IMDS).
        endpoint: String,
        /// `IDENTITY_HEADER` of App Service style endpoints; IMDS wants `Metadata: true`.
        header: Option<Secret>,
        /// The client id of a user-assigned identity.
        client_id: Option<String>,
    },
}

/// How one token request is made.
pub(crate) enum TokenRequest {
    /// A form POSTed to the tenant's token endpoint.
    Form(Vec<(&'static str, String)>),
    /// A GET of a managed-identity endpoint.
    Get {
        /// The endpoint.
        url: String,
        /// Query parameters (ureq encodes them).
        query: Vec<(&'static str, String)>,
        /// Request headers.
        headers: Vec<(&'static str, String)>,
    },
}

impl Credential {
    /// The credential `config` names (or, with none named, `AZURE_FEDERATED_TOKEN_FILE`);
    /// a federated token file must be readable now. `env` looks up variables.
    pub(crate) fn resolve(
        config: &Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Credential> {
        if let Some(mi) = &config.managed_identity {
            let app_service = env("IDENTITY_ENDPOINT").filter(|e| !e.is_empty());
            let endpoint = mi
                .endpoint
                .clone()
                .or(app_service)
                .unwrap_or_else(|| IMDS_ENDPOINT.to_string());
            return Ok(Credential::ManagedIdentity {
                endpoint,
                header: env("IDENTITY_HEADER")
                    .filter(|h| !h.is_empty())
                    .map(Secret::new),
                client_id: mi.client_id.clone(),
            });
        }
        if let Some(path) = &config.client_certificate_file {
            return CertificateKey::read(path).map(Credential::Certificate);
        }
        let file = match &config.client_assertion_file {
            Some(file) => Some((file.clone(), "field `client_assertion_file`".to_string())),
            None if config.client_secret.is_none() && config.client_secret_env.is_none() => {
                env(FEDERATED_TOKEN_ENV).map(|f| {
                    (
                        PathBuf::from(f),
                        format!("environment variable {FEDERATED_TOKEN_ENV}"),
                    )
                })
            }
            None => None,
        };
        match file {
            Some((path, source)) => {
                read_assertion(&path).map_err(|why| Error::Config(format!("{source}: {why}")))?;
                Ok(Credential::AssertionFile(path))
            }
            None => config.resolve_secret().map(Credential::Secret),
        }
    }

    /// Where tokens come from: the tenant's token endpoint, or the managed identity's.
    pub(crate) fn endpoint(&self, config: &Config) -> String {
        match self {
            Credential::ManagedIdentity { endpoint, .. } => endpoint.clone(),
            Credential::Secret(_) | Credential::Certificate(_) | Credential::AssertionFile(_) => {
                config.token_url()
            }
        }
    }

    /// The request for a token of `scope` (`{resource}/.default`) for app `client_id`
    /// at `token_url`; re-reads a federated token file, signs a fresh certificate
    /// assertion.
    pub(crate) fn request(
        &self,
        client_id: &str,
        scope: &str,
        token_url: &str,
    ) -> Result<TokenRequest> {
        let form = |proof: Vec<(&'static str, String)>| {
            let mut fields = vec![("client_id", client_id.to_string())];
            fields.extend(proof);
            fields.push(("scope", scope.to_string()));
            fields.push(("grant_type", "client_credentials".to_string()));
            TokenRequest::Form(fields)
        };
        Ok(match self {
            Credential::Secret(secret) => {
                form(vec![("client_secret", secret.expose().to_string())])
            }
            Credential::Certificate(key) => form(vec![
                ("client_assertion_type", JWT_BEARER.to_string()),
                (
                    "client_assertion",
                    key.assertion(client_id, token_url, crate::time::now_ms() as u64 / 1000)?,
                ),
            ]),
            Credential::AssertionFile(path) => {
                let assertion = read_assertion(path).map_err(|why| {
                    Error::Auth(format!("federated token file {}: {why}", path.display()))
                })?;
                form(vec![
                    ("client_assertion_type", JWT_BEARER.to_string()),
                    ("client_assertion", assertion),
                ])
            }
            Credential::ManagedIdentity {
                endpoint,
                header,
                client_id,
            } => {
                let resource = scope.trim_end_matches("/.default");
                let (version, headers) = match header {
                    Some(h) => (
                        "2019-08-01",
                        vec![("X-IDENTITY-HEADER", h.expose().to_string())],
                    ),
                    None => ("2018-02-01", vec![("Metadata", "true".to_string())]),
                };
                let mut query = vec![
                    ("api-version", version.to_string()),
                    ("resource", resource.to_string()),
                ];
                if let Some(id) = client_id {
                    query.push(("client_id", id.clone()));
                }
                TokenRequest::Get {
                    url: endpoint.clone(),
                    query,
                    headers,
                }
            }
        })
    }

    /// The kind of credential, for logs and `Debug`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Credential::Secret(_) => "client secret",
            Credential::Certificate(_) => "client certificate",
            Credential::AssertionFile(_) => "federated token file",
            Credential::ManagedIdentity { .. } => "managed identity",
        }
    }

    /// The secret material a failure description must not show.
    pub(crate) fn secret_material(&self) -> Option<String> {
        match self {
            Credential::Secret(s) => Some(s.expose().to_string()),
            Credential::ManagedIdentity { header, .. } => {
                header.as_ref().map(|h| h.expose().to_string())
            }
            Credential::AssertionFile(path) => read_assertion(path).ok(),
            Credential::Certificate(_) => None,
        }
    }
}

/// The token in a federated token file (trimmed); why not, when it is unusable.
fn read_assertion(path: &std::path::Path) -> std::result::Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it ({e})"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err("it is empty".into());
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let base = r#"{"tenant_id":"t","client_id":"c","database":"x.db""#;
        Config::from_json(&format!("{base}{extra}}}")).unwrap()
    }

    #[test]
    fn the_federated_token_file_is_re_read_for_every_request() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "first\n").unwrap();
        let c = config(&format!(r#","client_assertion_file":{file:?}"#));
        let credential = Credential::resolve(&c, &|_| None).unwrap();
        let assertion = |cred: &Credential| match cred.request("c", "s/.default", "u").unwrap() {
            TokenRequest::Form(f) => f
                .iter()
                .find(|(k, _)| *k == "client_assertion")
                .unwrap()
                .1
                .clone(),
            TokenRequest::Get { .. } => unreachable!("a form"),
        };
        assert_eq!(assertion(&credential), "first");
        std::fs::write(&file, "rotated").unwrap();
        assert_eq!(assertion(&credential), "rotated");
        std::fs::remove_file(&file).unwrap();
        let e = credential.request("c", "s", "u").err().unwrap().to_string();
        assert!(
            e.contains("federated token file") && e.contains("cannot read"),
            "{e}"
        );
    }

    #[test]
    fn azure_federated_token_file_is_honoured_when_nothing_else_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "t0k").unwrap();
        let path = file.display().to_string();
        let env = |k: &str| (k == FEDERATED_TOKEN_ENV).then(|| path.clone());
        // Parsed with a secret (validation looks at the real environment), then without.
        let mut c = config(r#","client_secret":"x""#);
        c.client_secret = None;
        assert!(matches!(
            Credential::resolve(&c, &env).unwrap(),
            Credential::AssertionFile(_)
        ));
        let missing = |k: &str| (k == FEDERATED_TOKEN_ENV).then(|| "/nonexistent/t".to_string());
        let e = Credential::resolve(&c, &missing).err().unwrap().to_string();
        assert!(e.contains(FEDERATED_TOKEN_ENV), "{e}");
    }

    #[test]
    fn managed_identities_ask_imds_or_the_app_service_endpoint() {
        let c = config(r#","managed_identity":{"client_id":"u-1"}"#);
        let imds = Credential::resolve(&c, &|_| None).unwrap();
        let TokenRequest::Get {
            url,
            query,
            headers,
        } = imds
            .request("c", "https://graph.microsoft.com/.default", "u")
            .unwrap()
        else {
            panic!("a GET");
        };
        assert_eq!(url, IMDS_ENDPOINT);
        let pairs = |q: &[(&str, String)]| {
            q.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pairs(&query),
            [
                "api-version=2018-02-01",
                "resource=https://graph.microsoft.com",
                "client_id=u-1"
            ]
        );
        assert_eq!(headers, vec![("Metadata", "true".to_string())]);
        let env = |k: &str| match k {
            "IDENTITY_ENDPOINT" => Some("http://localhost:42/msi/token".to_string()),
            "IDENTITY_HEADER" => Some("h-secret".to_string()),
            _ => None,
        };
        let app = Credential::resolve(&config(r#","managed_identity":{}"#), &env).unwrap();
        let TokenRequest::Get {
            url,
            query,
            headers,
        } = app
            .request("c", "https://graph.microsoft.us/.default", "u")
            .unwrap()
        else {
            panic!("a GET");
        };
        assert_eq!(url, "http://localhost:42/msi/token");
        assert_eq!(
            pairs(&query),
            [
                "api-version=2019-08-01",
                "resource=https://graph.microsoft.us"
            ]
        );
        assert_eq!(headers, vec![("X-IDENTITY-HEADER", "h-secret".to_string())]);
        assert_eq!(app.secret_material().as_deref(), Some("h-secret"));
    }
}
