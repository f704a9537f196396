//! Certificate credentials: a PEM file holding the app's certificate and its RSA
//! private key, and the RS256 client assertion signed with that key that replaces the
//! client secret (`x5t#S256` names the certificate; `aud` is the token endpoint,
//! `iss` = `sub` = the client id, a random `jti`, ten minutes of lifetime).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Lifetime of an assertion.
const ASSERTION_SECS: u64 = 600;

/// The app's certificate key, ready to sign assertions. Its `Debug` shows no key.
pub(crate) struct CertificateKey {
    /// base64url SHA-256 of the certificate's DER.
    thumbprint: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateKey")
            .field("x5t#S256", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl CertificateKey {
    /// Reads `path` (the field is `client_certificate_file`): the first certificate and
    /// an unencrypted RSA key (PKCS#8 or PKCS#1) that belongs to it.
    pub(crate) fn read(path: &Path) -> Result<CertificateKey> {
        let fail = |why: String| {
            Error::Config(format!(
                "field `client_certificate_file`: {}: {why}",
                path.display()
            ))
        };
        let pem = std::fs::read(path).map_err(|e| fail(format!("cannot read it ({e})")))?;
        let cert = CertificateDer::pem_slice_iter(&pem)
            .next()
            .ok_or_else(|| fail("holds no PEM certificate".into()))?
            .map_err(|e| fail(format!("the certificate is not PEM ({e})")))?;
        if pem.windows(9).any(|w| w == b"ENCRYPTED") {
            return Err(fail(
                "the private key is encrypted; store it unencrypted with restricted file permissions".into(),
            ));
        }
        let der = PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|_| fail("holds no PEM private key next to the certificate".into()))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(fail("the private key is not an RSA key".into())),
        }
        .map_err(|e| fail(format!("the private key is not a usable RSA key ({e})")))?;
        let found = CertificateKey {
            thumbprint: URL_SAFE_NO_PAD.encode(Sha256::digest(cert.as_ref())),
            key,
        };
        // The key must be the certificate's: Entra would refuse every assertion.
        let probe = b"m365sync certificate check";
        let signature = found.sign(probe)?;
        let end_entity = webpki::EndEntityCert::try_from(&cert)
            .map_err(|e| fail(format!("the certificate is not usable ({e})")))?;
        end_entity
            .verify_signature(webpki::ring::RSA_PKCS1_2048_8192_SHA256, probe, &signature)
            .map_err(|_| fail("the private key does not belong to the certificate".into()))?;
        Ok(found)
    }

    /// A client assertion for `client_id` at `token_url`, valid from `now_secs`.
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        now_secs: u64,
    ) -> Result<String> {
        let jti: [u8; 16] = rand::random();
        let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let signed = format!(
            "{}.{}",
            part(json!({ "alg": "RS256", "typ": "JWT", "x5t#S256": self.thumbprint })),
            part(json!({
                "aud": token_url, "iss": client_id, "sub": client_id,
                "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "nbf": now_secs, "iat": now_secs, "exp": now_secs + ASSERTION_SECS,
            }))
        );
        let signature = self.sign(signed.as_bytes())?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| Error::Auth("signing the client assertion failed".into()))?;
        Ok(signature)
    }
}
