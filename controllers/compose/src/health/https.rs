//! The `https` probe: a GET over TLS whose server certificate chains to
//! the probe's CA file (a private CA, as the seeds' self-hosted proxies
//! use), the system bundle, or, with `insecure`, anything.

use std::path::Path;
use std::sync::Arc;

use hareconcile_model::HttpsCheck;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

/// Where Debian keeps the system's trusted CAs.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `scheme://host[:port][/path]` split into the address to connect to,
/// the host (Host header, TLS name) with and without its port, and the
/// request path.
pub(super) struct Target {
    pub address: String,
    pub authority: String,
    pub path: String,
}

/// Splits `url` after `scheme://`, with `default_port` when it has none.
pub(super) fn split_url(url: &str, scheme: &str, default_port: u16) -> Result<Target, String> {
    let rest = url
        .strip_prefix(scheme)
        .ok_or_else(|| format!("only {scheme} URLs can be probed here"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err("the URL needs a host (and no user info)".into());
    }
    // A port is present unless the authority ends in a bracketed IPv6
    // address or has no colon at all.
    let has_port = authority
        .rfind(':')
        .is_some_and(|i| !authority[i..].contains(']'));
    let address = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    Ok(Target {
        address,
        authority: authority.to_string(),
        path,
    })
}

/// The host part of an authority, as a TLS server name.
fn server_name(authority: &str) -> Result<ServerName<'static>, String> {
    let host = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| format!("{host:?}: {e}"))
}

fn roots(ca_file: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("CA file {}: {e}", ca_file.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("CA file {}: {e}", ca_file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("CA file {}: {e}", ca_file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "CA file {} holds no certificate",
            ca_file.display()
        ));
    }
    Ok(roots)
}

fn config(check: &HttpsCheck) -> Result<ClientConfig, String> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if check.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let ca_file = check.ca_file.as_deref().unwrap_or(Path::new(SYSTEM_BUNDLE));
        builder
            .with_root_certificates(roots(ca_file)?)
            .with_no_client_auth()
    };
    Ok(config)
}

/// One probe: connect, handshake, GET, and pass on a 2xx or 3xx status.
pub(super) async fn probe(check: &HttpsCheck) -> Result<(), String> {
    let target = split_url(&check.url, "https://", 443)?;
    let name = server_name(&target.authority)?;
    let connector = TlsConnector::from(Arc::new(config(check)?));
    let tcp = TcpStream::connect(&target.address)
        .await
        .map_err(|e| e.to_string())?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    get(tls, &target).await
}

/// Sends a GET for `target` on `stream` and checks the status line.
pub(super) async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    target: &Target,
) -> Result<(), String> {
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: hareconcile-health\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // The status line is all we need; it fits in the first bytes.
    let mut head = Vec::with_capacity(64);
    while !head.contains(&b'\n') && head.len() < 1024 {
        let mut chunk = [0u8; 256];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    status_passes(&head)
}

/// Passes on a 2xx or 3xx status, as load balancers' HTTP checks do.
pub(super) fn status_passes(head: &[u8]) -> Result<(), String> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let code = line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", line.trim()))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("status {code}"))
    }
}

/// `insecure: true`: any certificate, but the handshake's signatures are
/// still checked, so the connection is encrypted with the server that
/// holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<tokio_rustls::rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hareconcile_test_support::tls;

    /// Serves `answer` over TLS with a certificate for 127.0.0.1 from the
    /// CA `ca.crt` in `dir`.
    fn serve(dir: &Path, answer: &'static [u8]) -> String {
        let config = tls::server_config(dir, "server");
        let bind = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        tls::receiver(bind, Some(config), answer).0.to_string()
    }

    fn check(url: String, ca_file: Option<&Path>, insecure: bool) -> HttpsCheck {
        HttpsCheck {
            url,
            ca_file: ca_file.map(Path::to_path_buf),
            insecure,
        }
    }

    #[tokio::test]
    async fn a_private_ca_passes_and_the_wrong_ca_fails() {
        let dir = tempfile::tempdir().unwrap();
        let ca = tls::private_ca(dir.path(), &[("server", "127.0.0.1")]);
        let other = tls::private_ca(&dir.path().join("other"), &[]);
        let address = serve(dir.path(), b"HTTP/1.0 200 OK\r\n\r\n");
        let url = format!("https://{address}/health");
        assert_eq!(probe(&check(url.clone(), Some(&ca), false)).await, Ok(()));
        let wrong = probe(&check(url.clone(), Some(&other), false)).await;
        assert!(
            matches!(&wrong, Err(e) if e.starts_with("TLS: ") && e.contains("certificate")),
            "{wrong:?}"
        );
        assert_eq!(probe(&check(url, None, true)).await, Ok(()), "insecure");
        let broken = serve(dir.path(), b"HTTP/1.0 503 Busy\r\n\r\n");
        assert_eq!(
            probe(&check(format!("https://{broken}/"), Some(&ca), false)).await,
            Err("status 503".into())
        );
    }

    #[test]
    fn urls_name_the_tls_server() {
        let t = split_url("https://pi.hole/admin", "https://", 443).unwrap();
        assert_eq!(
            (t.address.as_str(), t.path.as_str()),
            ("pi.hole:443", "/admin")
        );
        assert!(server_name("[::1]:8443").is_ok());
        assert!(split_url("http://x/", "https://", 443).is_err());
    }
}
