//! TLS to etcd's client port: the members' certificates are checked
//! against the cluster's CA, and the agent presents its own certificate
//! when etcd asks for one (`--client-cert-auth`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// The PEM files, as the Cluster's `spec.quorum.etcd.tls` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca_file: PathBuf,
    /// With `key_file`: the agent's client certificate.
    pub client: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("etcd TLS {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("etcd TLS {what} {path}: {why}")]
    Content {
        what: &'static str,
        path: PathBuf,
        why: String,
    },
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

impl TlsFiles {
    /// Reads and checks the files now, so a wrong one is reported when the
    /// Cluster is read rather than at the first lease renewal.
    pub fn connector(&self) -> Result<TlsConnector, TlsError> {
        let content = |what, path: &Path, why: String| TlsError::Content {
            what,
            path: path.to_path_buf(),
            why,
        };
        let ca = read("CA", &self.ca_file)?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&ca) {
            let cert = cert.map_err(|e| content("CA", &self.ca_file, e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| content("CA", &self.ca_file, e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(content("CA", &self.ca_file, "holds no certificate".into()));
        }
        let builder = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| content("CA", &self.ca_file, e.to_string()))?
            .with_root_certificates(roots);
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some((cert_file, key_file)) => {
                let cert = read("certificate", cert_file)?;
                let certs = CertificateDer::pem_slice_iter(&cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| content("certificate", cert_file, e.to_string()))?;
                if certs.is_empty() {
                    return Err(content(
                        "certificate",
                        cert_file,
                        "holds no certificate".into(),
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(&read("key", key_file)?)
                    .map_err(|e| content("key", key_file, e.to_string()))?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    content(
                        "key",
                        key_file,
                        format!("does not match the certificate: {e}"),
                    )
                })?
            }
        };
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_or_empty_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsFiles {
            ca_file: dir.path().join("ca.crt"),
            client: None,
        };
        let error = missing.connector().err().unwrap().to_string();
        assert!(error.starts_with("etcd TLS CA "), "{error}");
        assert!(error.contains("ca.crt"), "{error}");

        std::fs::write(dir.path().join("ca.crt"), "not PEM\n").unwrap();
        let error = missing.connector().err().unwrap().to_string();
        assert!(error.ends_with("holds no certificate"), "{error}");
    }
}
