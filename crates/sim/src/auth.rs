//! The token endpoints (client credentials: `oauth2/v2.0/token` with `scope`, and the
//! older `oauth2/token` with `resource` that many scripts still use) and bearer-token
//! checks on Graph calls.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use crate::identity::{self, Certificates, FederatedCredential, JWT_BEARER};
use crate::ids;
use crate::request::SimRequest;
use crate::response::SimResponse;
use m365sync_http::urlcode;

/// Issues and verifies access tokens for the one configured app in one tenant.
///
/// A token is `sim1.{expiry}.{signature}` in tenant 0 and
/// `sim1.{expiry}.{signature}.{k}` in tenant `k`: the suffix plays the `tid` claim of
/// a real token (the router picks the tenant by it), and each tenant signs with its
/// own key, so a token moved to another tenant's suffix fails the signature.
#[derive(Debug)]
pub(crate) struct Auth {
    /// The tenant's index in the simulator.
    pub index: u32,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub lifetime_secs: u64,
    /// The Graph resource of the cloud played (see `SimConfig::graph_resource`).
    pub graph_resource: String,
    /// The app's federated identity credentials (sign-in with `client_assertion`).
    pub federated: Vec<FederatedCredential>,
    /// The app's certificates (sign-in with an assertion signed by one's key).
    pub certificates: std::sync::Arc<Certificates>,
    /// Signing key, random per simulator: tokens of another run are forged.
    pub key: u64,
    /// Bumped by [`Auth::expire_tokens`]: tokens signed under an older generation are
    /// refused as expired.
    pub generation: AtomicU64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn oauth_error(status: u16, error: &str, code: u32, description: &str) -> SimResponse {
    SimResponse::json(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "timestamp": ids::iso8601(ids::unix_now()),
            "trace_id": "00000000-0000-0000-0000-000000000000",
            "correlation_id": "00000000-0000-0000-0000-000000000000",
        }),
    )
}

/// The value of a form field.
fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The bearer token of a request ("" when it has none).
fn bearer(req: &SimRequest) -> &str {
    let header = req.header("authorization").unwrap_or("").trim();
    match header.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => "",
    }
}

fn unauthorized(message: &str) -> SimResponse {
    SimResponse::graph_error(401, "InvalidAuthenticationToken", message).with_header(
        "WWW-Authenticate",
        "Bearer realm=\"\", error=\"invalid_token\"",
    )
}

impl Auth {
    fn sign(&self, expiry_ms: u64) -> u64 {
        self.sign_in(self.generation.load(Ordering::SeqCst), expiry_ms)
    }

    fn sign_in(&self, generation: u64, expiry_ms: u64) -> u64 {
        let key = ids::mix(self.key, generation);
        ids::mix(ids::mix(key, expiry_ms), self.client_id.len() as u64)
    }

    /// Makes every access token issued so far expire now (clients must fetch a new one).
    pub fn expire_tokens(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether `mac` signs `expiry_ms` under an earlier generation (a token expired early).
    fn signed_earlier(&self, expiry_ms: u64, mac: u64) -> bool {
        let current = self.generation.load(Ordering::SeqCst);
        (0..current).any(|g| self.sign_in(g, expiry_ms) == mac)
    }

    /// `POST /{tenant}/oauth2/v2.0/token`.
    pub fn token(&self, tenant: &str, req: &SimRequest) -> SimResponse {
        let form = match self.client_form(tenant, req) {
            Ok(form) => form,
            Err(denied) => return denied,
        };
        match field(&form, "scope") {
            None => {
                return oauth_error(
                    400,
                    "invalid_request",
                    900144,
                    "The request body must contain the parameter 'scope'.",
                );
            }
            Some(s) if !s.ends_with("/.default") => {
                return oauth_error(
                    400,
                    "invalid_scope",
                    1002012,
                    "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
                );
            }
            Some(s) => {
                if let Err(refused) = self.check_resource(tenant, req, &s.replace("/.default", ""))
                {
                    return refused;
                }
            }
        }
        let (_, token) = self.issue();
        SimResponse::json(
            200,
            &json!({
                "token_type": "Bearer",
                "expires_in": self.lifetime_secs,
                "ext_expires_in": self.lifetime_secs,
                "access_token": token,
            }),
        )
    }

    /// `POST /{tenant}/oauth2/token` (the v1 endpoint): `resource` instead of
    /// `scope`, and, as Azure AD answers there, the numbers as strings plus
    /// `expires_on`, `not_before` and `resource`.
    pub fn token_v1(&self, tenant: &str, req: &SimRequest) -> SimResponse {
        let form = match self.client_form(tenant, req) {
            Ok(form) => form,
            Err(denied) => return denied,
        };
        let Some(resource) = field(&form, "resource").filter(|r| !r.trim().is_empty()) else {
            return oauth_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'resource'.",
            );
        };
        let resource = resource.to_string();
        if let Err(refused) = self.check_resource(tenant, req, &resource) {
            return refused;
        }
        let (expiry_ms, token) = self.issue();
        let now = ids::unix_now();
        SimResponse::json(
            200,
            &json!({
                "token_type": "Bearer",
                "expires_in": self.lifetime_secs.to_string(),
                "ext_expires_in": self.lifetime_secs.to_string(),
                "expires_on": (expiry_ms / 1000).to_string(),
                "not_before": now.to_string(),
                "resource": resource,
                "access_token": token,
            }),
        )
    }

    /// Accepts a token resource that is the Graph of the cloud played, or the
    /// simulator's own origin (as the request reached it); refuses any other as
    /// Entra refuses a resource its cloud does not have.
    pub(crate) fn check_resource(
        &self,
        tenant: &str,
        req: &SimRequest,
        resource: &str,
    ) -> Result<(), SimResponse> {
        let resource = resource.trim_end_matches('/');
        let own = req.header("Host").is_some_and(|host| {
            [format!("http://{host}"), format!("https://{host}")]
                .iter()
                .any(|o| o.eq_ignore_ascii_case(resource))
        });
        if own || resource.eq_ignore_ascii_case(&self.graph_resource) {
            return Ok(());
        }
        Err(oauth_error(
            400,
            "invalid_resource",
            500011,
            &format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        ))
    }

    /// Checks what both token endpoints require (form body, tenant, grant type,
    /// client id, and the secret or a federated assertion); returns the form, or the
    /// error to answer.
    fn client_form(
        &self,
        tenant: &str,
        req: &SimRequest,
    ) -> Result<Vec<(String, String)>, SimResponse> {
        let form = std::str::from_utf8(&req.body)
            .ok()
            .and_then(urlcode::parse_pairs);
        let Some(form) = form else {
            return Err(oauth_error(
                400,
                "invalid_request",
                900144,
                "The request body must be a valid form.",
            ));
        };
        if tenant != self.tenant_id {
            return Err(oauth_error(
                400,
                "invalid_request",
                90002,
                &format!("Tenant '{tenant}' not found."),
            ));
        }
        match field(&form, "grant_type") {
            None => {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    900144,
                    "The request body must contain the parameter 'grant_type'.",
                ));
            }
            Some("client_credentials") => {}
            Some(other) => {
                return Err(oauth_error(
                    400,
                    "unsupported_grant_type",
                    70003,
                    &format!("The grant type '{other}' is not supported."),
                ));
            }
        }
        match field(&form, "client_id") {
            None => {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    900144,
                    "The request body must contain the parameter 'client_id'.",
                ));
            }
            Some(c) if c != self.client_id => {
                return Err(oauth_error(
                    400,
                    "unauthorized_client",
                    700016,
                    &format!("Application with identifier '{c}' was not found in the directory."),
                ));
            }
            Some(_) => {}
        }
        if let Some(kind) = field(&form, "client_assertion_type") {
            if kind != JWT_BEARER {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    50027,
                    &format!("Unsupported client_assertion_type '{kind}'."),
                ));
            }
            let assertion = field(&form, "client_assertion").unwrap_or_default();
            if identity::names_a_certificate(assertion) {
                let host = req.header("Host").unwrap_or_default();
                let audiences = [
                    format!("http://{host}{}", req.path),
                    format!("https://{host}{}", req.path),
                ];
                self.certificates
                    .check(assertion, &self.client_id, &audiences)?;
            } else {
                identity::check_assertion(&self.federated, assertion)?;
            }
            return Ok(form);
        }
        if field(&form, "client_secret") != Some(self.client_secret.as_str()) {
            return Err(oauth_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided.",
            ));
        }
        Ok(form)
    }

    /// A new access token: (expiry in ms since the epoch, token).
    pub(crate) fn issue(&self) -> (u64, String) {
        let expiry = now_ms() + self.lifetime_secs * 1000;
        let mac = self.sign(expiry);
        let token = match self.index {
            0 => format!("sim1.{expiry:x}.{mac:x}"),
            k => format!("sim1.{expiry:x}.{mac:x}.{k}"),
        };
        (expiry, token)
    }

    /// The tenant index a bearer token names (0 when it names none or is no token).
    pub fn tenant_of(req: &SimRequest) -> usize {
        bearer(req)
            .strip_prefix("sim1.")
            .and_then(|rest| rest.split('.').nth(2))
            .and_then(|k| k.parse().ok())
            .unwrap_or(0)
    }

    /// Checks the bearer token of a Graph call; the error is the 401 to send.
    pub fn check(&self, req: &SimRequest) -> Result<(), SimResponse> {
        let token = bearer(req);
        if token.is_empty() {
            return Err(unauthorized("Access token is empty."));
        }
        let parsed = token.strip_prefix("sim1.").and_then(|rest| {
            let (exp, rest) = rest.split_once('.')?;
            let (mac, tenant) = rest.split_once('.').unwrap_or((rest, "0"));
            if tenant.parse::<u32>().ok()? != self.index {
                return None;
            }
            Some((
                u64::from_str_radix(exp, 16).ok()?,
                u64::from_str_radix(mac, 16).ok()?,
            ))
        });
        match parsed {
            Some((exp, mac)) if mac == self.sign(exp) => {
                if exp <= now_ms() {
                    Err(unauthorized(
                        "Lifetime validation failed, the token is expired.",
                    ))
                } else {
                    Ok(())
                }
            }
            Some((exp, mac)) if self.signed_earlier(exp, mac) => Err(unauthorized(
                "Lifetime validation failed, the token is expired.",
            )),
            _ => Err(unauthorized(
                "Invalid signature: the access token was not issued by this tenant.",
            )),
        }
    }
}
