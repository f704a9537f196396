//! Sign-in without a client secret: federated credentials (a workload's token from
//! another identity provider, e.g. a Kubernetes service account token, sent as
//! `client_assertion`) and the managed-identity endpoint of Azure hosts (IMDS).
//!
//! A federated assertion is checked as Entra checks it against the app's federated
//! identity credentials: issuer, subject and audience must match one of them and the
//! token must be within its lifetime. Its signature is the other identity provider's
//! and is not checked here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::{Auth, oauth_error};
use crate::ids;
use crate::request::SimRequest;
use crate::response::SimResponse;

/// The assertion type of a JWT client assertion.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// One federated identity credential of the app: whose tokens it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredential {
    /// The `iss` of accepted tokens, e.g. a cluster's OIDC issuer URL.
    pub issuer: String,
    /// The `sub`, e.g. `system:serviceaccount:backup:agent`.
    pub subject: String,
    /// The `aud`; Entra's default is `api://AzureADTokenExchange`.
    #[serde(default = "default_audience")]
    pub audience: String,
}

fn default_audience() -> String {
    "api://AzureADTokenExchange".into()
}

/// The certificates registered for the app, by `x5t#S256`, and the assertion ids
/// already used (Entra refuses a replayed `jti`).
#[derive(Debug, Default)]
pub(crate) struct Certificates {
    by_thumbprint: Vec<(String, Vec<u8>)>,
    seen: parking_lot::Mutex<std::collections::HashSet<String>>,
}

impl Certificates {
    /// Reads the PEM certificate files of `SimConfig::client_certificate_files`.
    pub(crate) fn read(files: &[std::path::PathBuf]) -> crate::Result<Certificates> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        use sha2::{Digest, Sha256};
        let mut by_thumbprint = Vec::new();
        for file in files {
            let bad = |why: String| {
                crate::Error::Config(format!(
                    "sim.client_certificate_files: {}: {why}",
                    file.display()
                ))
            };
            let pem = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
            let cert = CertificateDer::pem_slice_iter(&pem)
                .next()
                .ok_or_else(|| bad("no PEM certificate".into()))?
                .map_err(|e| bad(e.to_string()))?;
            by_thumbprint.push((
                URL_SAFE_NO_PAD.encode(Sha256::digest(cert.as_ref())),
                cert.to_vec(),
            ));
        }
        Ok(Certificates {
            by_thumbprint,
            seen: Default::default(),
        })
    }

    /// Checks an assertion signed with a registered certificate's key: signature,
    /// `aud` (one of `audiences`, the token endpoint as reached), `iss` = `sub` =
    /// `client_id`, lifetime, and a `jti` not seen before.
    pub(crate) fn check(
        &self,
        assertion: &str,
        client_id: &str,
        audiences: &[String],
    ) -> Result<(), SimResponse> {
        let malformed = || refused(50027, "JWT token is invalid or malformed.");
        let (signed, signature) = assertion.trim().rsplit_once('.').ok_or_else(malformed)?;
        let (header, payload) = signed.split_once('.').ok_or_else(malformed)?;
        let decode = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        let (header, claims) = (
            decode(header).ok_or_else(malformed)?,
            decode(payload).ok_or_else(malformed)?,
        );
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed())?;
        let thumbprint = header["x5t#S256"].as_str().unwrap_or_default();
        let Some((_, der)) = self.by_thumbprint.iter().find(|(t, _)| t == thumbprint) else {
            return Err(refused(
                700027,
                &format!(
                    "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}']"
                ),
            ));
        };
        let der = rustls::pki_types::CertificateDer::from(der.as_slice());
        let verified = webpki::EndEntityCert::try_from(&der)
            .ok()
            .is_some_and(|cert| {
                header["alg"] == "RS256"
                    && cert
                        .verify_signature(
                            webpki::ring::RSA_PKCS1_2048_8192_SHA256,
                            signed.as_bytes(),
                            &signature,
                        )
                        .is_ok()
            });
        if !verified {
            return Err(refused(
                700027,
                "Client assertion failed signature validation.",
            ));
        }
        let text = |name: &str| claims[name].as_str().unwrap_or_default();
        if !audiences.iter().any(|a| a == text("aud")) {
            return Err(refused(
                700212,
                &format!(
                    "The audience '{}' of the client assertion is not this token endpoint.",
                    text("aud")
                ),
            ));
        }
        if text("iss") != client_id || text("sub") != client_id {
            return Err(refused(
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            ));
        }
        let now = ids::unix_now();
        if claims["exp"].as_u64().is_none_or(|e| e <= now) {
            return Err(refused(
                700024,
                "Client assertion is not within its valid time range.",
            ));
        }
        let jti = text("jti");
        if jti.is_empty() || !self.seen.lock().insert(jti.to_string()) {
            return Err(refused(
                700025,
                "Client assertion has been replayed (its jti was used before).",
            ));
        }
        Ok(())
    }
}

/// Why an assertion is refused: Entra's code and description.
fn refused(code: u32, description: &str) -> SimResponse {
    oauth_error(401, "invalid_client", code, description)
}

/// Whether an assertion's header names a certificate (`x5t#S256` or `x5t`): signed by
/// the app itself, rather than a federated token of another identity provider.
pub(crate) fn names_a_certificate(assertion: &str) -> bool {
    let header = assertion.split('.').next().unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|h| h.get("x5t#S256").is_some() || h.get("x5t").is_some())
}

/// Checks a `client_assertion` against the app's federated credentials.
pub(crate) fn check_assertion(
    credentials: &[FederatedCredential],
    assertion: &str,
) -> Result<(), SimResponse> {
    let malformed = || refused(50027, "JWT token is invalid or malformed.");
    let mut parts = assertion.trim().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let claims: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(malformed)?;
    let text = |name: &str| claims[name].as_str().unwrap_or_default().to_string();
    let (issuer, subject) = (text("iss"), text("sub"));
    let audiences: Vec<String> = match &claims["aud"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(all) => all
            .iter()
            .filter_map(|a| a.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let by_issuer: Vec<&FederatedCredential> =
        credentials.iter().filter(|c| c.issuer == issuer).collect();
    if by_issuer.is_empty() {
        return Err(refused(
            700211,
            &format!(
                "No matching federated identity record found for presented assertion issuer '{issuer}'."
            ),
        ));
    }
    let Some(credential) = by_issuer.iter().find(|c| c.subject == subject) else {
        return Err(refused(
            700213,
            &format!(
                "No matching federated identity record found for presented assertion subject '{subject}'."
            ),
        ));
    };
    if !audiences.contains(&credential.audience) {
        return Err(refused(
            700212,
            &format!(
                "No matching federated identity record found for presented assertion audience '{}'.",
                audiences.join(",")
            ),
        ));
    }
    let now = ids::unix_now();
    let (exp, nbf) = (claims["exp"].as_u64(), claims["nbf"].as_u64());
    if exp.is_none_or(|e| e <= now) || nbf.is_some_and(|n| n > now + 300) {
        return Err(refused(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    Ok(())
}

/// `GET /metadata/identity/oauth2/token` as Azure's instance metadata service serves
/// it: `Metadata: true`, `api-version`, the `resource`, and for a user-assigned
/// identity its `client_id` (the app's, here).
pub(crate) fn managed_identity_token(auth: &Auth, req: &SimRequest) -> SimResponse {
    let bad = |error: &str, description: &str| {
        SimResponse::json(
            400,
            &json!({ "error": error, "error_description": description }),
        )
    };
    if !req
        .header("Metadata")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return bad("invalid_request", "Required metadata header not specified");
    }
    if req.query("api-version").is_none() {
        return bad(
            "invalid_request",
            "Required query variable 'api-version' is missing",
        );
    }
    let Some(resource) = req.query("resource") else {
        return bad(
            "invalid_request",
            "Required query variable 'resource' is missing",
        );
    };
    if req.query("client_id").is_some_and(|c| c != auth.client_id) {
        return bad("invalid_request", "Identity not found");
    }
    if let Err(refused) = auth.check_resource(&auth.tenant_id, req, resource) {
        return refused;
    }
    let (expiry_ms, token) = auth.issue();
    SimResponse::json(
        200,
        &json!({
            "access_token": token,
            "client_id": auth.client_id,
            "expires_in": auth.lifetime_secs.to_string(),
            "expires_on": (expiry_ms / 1000).to_string(),
            "ext_expires_in": auth.lifetime_secs.to_string(),
            "not_before": ids::unix_now().to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: Value) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.sig", enc(&json!({"alg": "RS256"})), enc(&claims))
    }

    fn code(r: Result<(), SimResponse>) -> u64 {
        let body: Value = serde_json::from_slice(&r.unwrap_err().body).unwrap();
        body["error_codes"][0].as_u64().unwrap()
    }

    #[test]
    fn assertions_are_matched_on_issuer_subject_audience_and_lifetime() {
        let creds = [FederatedCredential {
            issuer: "https://oidc.example".into(),
            subject: "system:serviceaccount:ns:sa".into(),
            audience: default_audience(),
        }];
        let exp = ids::unix_now() + 600;
        let good = json!({"iss": "https://oidc.example", "sub": "system:serviceaccount:ns:sa",
                          "aud": ["api://AzureADTokenExchange"], "exp": exp});
        assert!(check_assertion(&creds, &jwt(good.clone())).is_ok());
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            check_assertion(&creds, &jwt(c))
        };
        assert_eq!(code(with("iss", json!("https://other"))), 700211);
        assert_eq!(code(with("sub", json!("x"))), 700213);
        assert_eq!(code(with("aud", json!("api://other"))), 700212);
        assert_eq!(code(with("exp", json!(1))), 700024);
        assert_eq!(code(check_assertion(&creds, "not-a-jwt")), 50027);
        assert_eq!(code(check_assertion(&creds, "a.!!!.c")), 50027);
    }
}
