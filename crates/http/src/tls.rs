//! HTTPS: a rustls server configuration from a PEM certificate chain and key.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A server certificate and key, ready to accept TLS connections.
#[derive(Clone)]
pub struct TlsConfig(Arc<rustls::ServerConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig(***)")
    }
}

/// Why a certificate and key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    /// The certificate chain is not PEM certificates.
    Certificate(String),
    /// The private key is not a PEM key (PKCS#8, PKCS#1 RSA or SEC1 EC, unencrypted).
    PrivateKey(String),
    /// rustls refused the pair (e.g. the key does not belong to the certificate).
    Rejected(String),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Certificate(e) => write!(f, "not a PEM certificate chain: {e}"),
            TlsError::PrivateKey(e) => write!(f, "not an unencrypted PEM private key: {e}"),
            TlsError::Rejected(e) => write!(f, "the certificate and key cannot be used: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl TlsConfig {
    /// Parses a PEM certificate chain (leaf first) and its PEM private key.
    pub fn from_pem(certificate_chain: &[u8], private_key: &[u8]) -> Result<TlsConfig, TlsError> {
        let chain = CertificateDer::pem_slice_iter(certificate_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        if chain.is_empty() {
            return Err(TlsError::Certificate("no CERTIFICATE block".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(private_key)
            .map_err(|e| TlsError::PrivateKey(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rejected(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Rejected(e.to_string()))?;
        Ok(TlsConfig(Arc::new(config)))
    }

    /// Accepts TLS sessions on the server's runtime.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_pem_is_named() {
        let err = |cert: &[u8], key: &[u8]| TlsConfig::from_pem(cert, key).unwrap_err();
        assert!(matches!(err(b"", b""), TlsError::Certificate(_)));
        assert!(matches!(err(b"not pem", b""), TlsError::Certificate(_)));
        let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(err(cert, b"not a key"), TlsError::PrivateKey(_)));
        let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(err(cert, key), TlsError::Rejected(_)));
    }
}
