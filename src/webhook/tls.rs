//! The serving certificate: loaded from PEM files into a rustls config (aws-lc-rs, the
//! provider the registry client already uses) and reloaded when the files change, as
//! cert-manager rotates them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;

use super::log::Log;
use super::metrics::Metrics;

/// Why the certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error("cannot read the certificate chain from `{}` (hint: a PEM file with `BEGIN CERTIFICATE` blocks)", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file has no certificate.
    #[error("`{}` holds no certificate", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file could not be read or holds no PEM private key.
    #[error("cannot read the private key from `{}` (hint: PKCS#8, PKCS#1 or SEC1 PEM)", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the pair (the key does not match the certificate, an unsupported key).
    #[error("the certificate `{}` and key `{}` cannot be used together", cert.display(), key.display())]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
}

/// The certificate and key files of the server.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl CertFiles {
    /// Reads both files into a server config offering HTTP/2 and HTTP/1.1.
    pub fn load(&self) -> Result<rustls::ServerConfig, TlsError> {
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|source| TlsError::Certificate {
                path: self.cert.clone(),
                source,
            })?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate {
                path: self.cert.clone(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|source| TlsError::Key {
            path: self.key.clone(),
            source,
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config_error = |source| TlsError::Config {
            cert: self.cert.clone(),
            key: self.key.clone(),
            source,
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(config_error)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// What identifies the files' current contents cheaply: modification times and sizes.
    pub(crate) fn stamp(&self) -> Option<[(SystemTime, u64); 2]> {
        let one = |p: &Path| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        };
        Some([one(&self.cert)?, one(&self.key)?])
    }
}

/// Polls the files every `interval` and swaps the served certificate when they differ from
/// `last` (their stamp when the served certificate was read) and load; a pair that does not
/// load (half-written during rotation) keeps the old one serving.
pub(crate) async fn watch(
    files: CertFiles,
    mut last: Option<[(SystemTime, u64); 2]>,
    config: RustlsConfig,
    interval: Duration,
    log: Log,
    metrics: Arc<Metrics>,
) {
    loop {
        tokio::time::sleep(interval).await;
        let now = files.stamp();
        if now.is_none() || now == last {
            continue;
        }
        match files.load() {
            Ok(server_config) => {
                config.reload_from_config(Arc::new(server_config));
                last = now;
                metrics.reload("certificate", "ok");
                log.info(
                    "certificate-reloaded",
                    json!({"cert": files.cert.display().to_string()}),
                );
            }
            Err(e) => {
                metrics.reload("certificate", "failed");
                log.error(
                    "certificate-reload-failed",
                    json!({"error": format!("{:#}", anyhow::Error::new(e)), "hint": "the previous certificate is still served"}),
                );
                // `last` stays: retried every interval until a complete pair loads.
            }
        }
    }
}
