//! TLS for the public listener and for HTTPS upstreams, with rustls.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::config::{TlsConfig, UpstreamTlsConfig};

/// Errors from loading certificates and keys.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("no PEM certificate found in {0}")]
    NoCertificate(PathBuf),

    #[error("no PEM private key found in {0}")]
    NoPrivateKey(PathBuf),

    #[error("invalid certificate in {path}: {source}")]
    BadCertificate {
        path: PathBuf,
        source: rustls::Error,
    },

    #[error("invalid TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the listener's TLS settings from PEM certificate chain and key files.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certificates(&tls.cert_file)?;
    let key = read_private_key(&tls.key_file)?;

    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Builds the upstream client's TLS settings: webpki roots plus an optional PEM CA file.
pub fn client_config(upstream_tls: Option<&UpstreamTlsConfig>) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(ca_file) = upstream_tls.and_then(|t| t.ca_file.as_ref()) {
        for cert in read_certificates(ca_file)? {
            roots.add(cert).map_err(|source| TlsError::BadCertificate {
                path: ca_file.clone(),
                source,
            })?;
        }
    }

    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>, TlsError> {
    let file = std::fs::File::open(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(BufReader::new(file))
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;

    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let key = rustls_pemfile::private_key(&mut open(path)?).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    key.ok_or_else(|| TlsError::NoPrivateKey(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_config_loads_generated_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert_file = dir.path().join("cert.pem");
        let key_file = dir.path().join("key.pem");
        std::fs::write(&cert_file, generated.cert.pem()).unwrap();
        std::fs::write(&key_file, generated.signing_key.serialize_pem()).unwrap();

        let config = server_config(&TlsConfig {
            cert_file,
            key_file,
        })
        .unwrap();

        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn key_file_without_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert_file = dir.path().join("cert.pem");
        std::fs::write(&cert_file, generated.cert.pem()).unwrap();

        let result = server_config(&TlsConfig {
            cert_file: cert_file.clone(),
            key_file: cert_file,
        });

        assert!(matches!(result, Err(TlsError::NoPrivateKey(_))));
    }

    #[test]
    fn client_config_adds_ca_file() {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, generated.cert.pem()).unwrap();

        let upstream_tls = UpstreamTlsConfig {
            ca_file: Some(ca_file),
        };

        assert!(client_config(Some(&upstream_tls)).is_ok());
    }
}
