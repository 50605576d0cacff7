//! Mutual TLS for the peer API, from the PEM files `spec.peer.tls` names.
//! Each side proves itself with a certificate the cluster CA signed; the
//! bearer token is still required on top, so a leaked certificate alone
//! does not open the API.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hareconcile_model::PeerTls;
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{client, TlsAcceptor, TlsConnector};

/// The PEM files' contents, read once per peer (re)configuration so that a
/// rotated certificate restarts the server like a changed token does.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsFiles {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Vec<u8>,
}

impl std::fmt::Debug for TlsFiles {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsFiles { .. }")
    }
}

/// Both directions' configurations, built when the Cluster is read so a
/// wrong file is reported then, not on first contact. Equal when built
/// from the same files.
#[derive(Clone)]
pub struct PeerTlsConfig {
    files: TlsFiles,
    pub acceptor: TlsAcceptor,
    pub connector: TlsConnector,
}

impl PartialEq for PeerTlsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.files == other.files
    }
}

impl std::fmt::Debug for PeerTlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTlsConfig { .. }")
    }
}

impl TlsFiles {
    pub fn read(tls: &PeerTls) -> Result<TlsFiles, String> {
        let read = |what: &str, path: &Path| {
            std::fs::read(path).map_err(|e| format!("peer TLS {what} {}: {e}", path.display()))
        };
        Ok(TlsFiles {
            cert: read("certificate", &tls.cert_file)?,
            key: hareconcile_fs::read_secret(&tls.key_file)
                .map_err(|e| format!("peer TLS key: {e}"))?,
            ca: read("CA", &tls.ca_file)?,
        })
    }

    pub fn config(&self) -> Result<PeerTlsConfig, String> {
        let provider = Arc::new(ring::default_provider());
        let certs = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("peer TLS certificate: {e}"))?;
        if certs.is_empty() {
            return Err("peer TLS certificate file holds no certificate".into());
        }
        let key =
            PrivateKeyDer::from_pem_slice(&self.key).map_err(|e| format!("peer TLS key: {e}"))?;
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&self.ca) {
            let ca = ca.map_err(|e| format!("peer TLS CA: {e}"))?;
            roots
                .add(ca)
                .map_err(|e| format!("peer TLS CA certificate: {e}"))?;
        }
        if roots.is_empty() {
            return Err("peer TLS CA file holds no certificate".into());
        }
        let roots = Arc::new(roots);

        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
                .build()
                .map_err(|e| format!("peer TLS CA: {e}"))?;
        let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| format!("peer TLS certificate and key do not match: {e}"))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("peer TLS certificate and key do not match: {e}"))?;
        Ok(PeerTlsConfig {
            files: self.clone(),
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

/// Connects to a peer and checks that its certificate names `address`.
pub async fn connect(
    connector: &TlsConnector,
    address: SocketAddr,
) -> Result<client::TlsStream<TcpStream>, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    connector
        .connect(ServerName::IpAddress(address.ip().into()), stream)
        .await
        .map_err(|e| format!("TLS: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A CA and node certificates, as `hareconcile init --tls` makes them.
    fn certs(dir: &Path, ca_dir: &str, nodes: &[(&str, &str)]) -> PathBuf {
        let out = dir.join(ca_dir);
        hareconcile_test_support::tls::private_ca(&out, nodes);
        out
    }

    fn files(dir: &Path, node: &str) -> TlsFiles {
        TlsFiles::read(&PeerTls {
            cert_file: dir.join(format!("{node}.crt")),
            key_file: dir.join(format!("{node}.key")),
            ca_file: dir.join("ca.crt"),
        })
        .unwrap()
    }

    /// Serves "ok" over mutual TLS on a loopback port, as the peer API does.
    async fn server(config: &PeerTlsConfig) -> SocketAddr {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let admission = crate::tcp_guard::Admission::new(crate::peer::server::LIMITS, []);
        let acceptor = Some(config.acceptor.clone());
        tokio::spawn(crate::tcp_guard::serve(tcp, acceptor, app, admission));
        address
    }

    async fn get(connector: &TlsConnector, address: SocketAddr) -> Result<String, String> {
        let mut stream = connect(connector, address).await?;
        stream
            .write_all(b"GET / HTTP/1.0\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        Ok(answer)
    }

    #[tokio::test]
    async fn peers_signed_by_the_cluster_ca_talk_and_strangers_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = certs(
            dir.path(),
            "cluster",
            &[("n1", "127.0.0.1"), ("n2", "127.0.0.1")],
        );
        let other = certs(dir.path(), "other", &[("x", "127.0.0.1")]);
        let n1 = files(&cluster, "n1").config().unwrap();
        let address = server(&n1).await;

        let n2 = files(&cluster, "n2").config().unwrap();
        let answer = get(&n2.connector, address).await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.0 200") && answer.ends_with("ok"),
            "{answer}"
        );

        // A certificate from another CA: the server refuses it, and the
        // stranger does not trust the server either.
        let stranger = files(&other, "x").config().unwrap();
        assert!(get(&stranger.connector, address).await.is_err());

        // No client certificate at all.
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(cluster.join("ca.crt")).unwrap() {
            roots.add(ca.unwrap()).unwrap();
        }
        let anonymous = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let anonymous = TlsConnector::from(Arc::new(anonymous));
        assert!(get(&anonymous, address).await.is_err());
    }

    #[tokio::test]
    async fn a_peer_whose_certificate_names_another_address_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = certs(
            dir.path(),
            "cluster",
            &[("n1", "10.77.0.1"), ("n2", "127.0.0.1")],
        );
        let n1 = files(&cluster, "n1").config().unwrap();
        let address = server(&n1).await;
        let n2 = files(&cluster, "n2").config().unwrap();
        let refused = get(&n2.connector, address).await.unwrap_err();
        assert!(refused.contains("TLS"), "{refused}");
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = certs(
            dir.path(),
            "cluster",
            &[("n1", "127.0.0.1"), ("n2", "127.0.0.1")],
        );
        let mixed = TlsFiles::read(&PeerTls {
            cert_file: cluster.join("n1.crt"),
            key_file: cluster.join("n2.key"),
            ca_file: cluster.join("ca.crt"),
        })
        .unwrap();
        let err = mixed.config().expect_err("mismatched key accepted");
        assert!(err.contains("do not match"), "{err}");
        let missing = TlsFiles::read(&PeerTls {
            cert_file: cluster.join("nope.crt"),
            key_file: cluster.join("n1.key"),
            ca_file: cluster.join("ca.crt"),
        })
        .unwrap_err();
        assert!(missing.contains("nope.crt"), "{missing}");
    }
}
