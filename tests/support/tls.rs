//! TLS for tests: a private CA with certificates naming loopback or lab
//! addresses, and a receiver that records what a client sends it, over
//! plain TCP or TLS. One copy for the webhook, peer API and health probe
//! tests, which each wrote their own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Arc};

use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ServerConfig, ServerConnection, StreamOwned};

/// Makes in `dir` a CA (`ca.crt`, `ca.key`) and, for each `(name,
/// address)`, `NAME.crt` and `NAME.key` signed by it, naming the address
/// as an IP subjectAltName for server and client use: what `hareconcile
/// init --tls` makes for the peer API. A CA already in `dir` is reused, so
/// a second call adds certificates it signs. Returns `dir/ca.crt`.
pub fn private_ca(dir: &Path, nodes: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let new_key = |key: &str, subject: &str| {
        [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            key,
            "-subj",
            subject,
        ]
        .map(str::to_owned)
    };
    if !dir.join("ca.key").exists() {
        let key = new_key("ca.key", "/CN=hareconcile test CA");
        openssl(
            &[
                &["req", "-x509", "-days", "2", "-out", "ca.crt"][..],
                &key.each_ref().map(String::as_str),
            ]
            .concat(),
        );
    }
    for (name, address) in nodes {
        let (csr, crt, ext) = (
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        std::fs::write(
            dir.join(&ext),
            format!(
                "subjectAltName=IP:{address}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n"
            ),
        )
        .unwrap();
        let key = new_key(&format!("{name}.key"), &format!("/CN={name}"));
        openssl(
            &[
                &["req", "-out", &csr][..],
                &key.each_ref().map(String::as_str),
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
    dir.join("ca.crt")
}

/// A server configuration presenting `NAME.crt` and `NAME.key` of `dir`
/// (see [`private_ca`]), without client certificates.
pub fn server_config(dir: &Path, name: &str) -> Arc<ServerConfig> {
    let certs = CertificateDer::pem_file_iter(dir.join(format!("{name}.crt")))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

/// A request as the receiver saw it: its head in lower case, its body.
#[derive(Debug)]
pub struct Received {
    pub head: String,
    pub body: String,
}

/// Receives requests on the listener `bind` returns (called on the
/// receiver's own thread, so it may first enter a lab node's network
/// namespace), over TLS with `tls`. Each connection gets one request read
/// and `answer` written back; the requests arrive on the returned channel.
pub fn receiver(
    bind: impl FnOnce() -> TcpListener + Send + 'static,
    tls: Option<Arc<ServerConfig>>,
    answer: &'static [u8],
) -> (SocketAddr, mpsc::Receiver<Received>) {
    let (requests, received) = mpsc::channel();
    let (ready, listening) = mpsc::channel();
    std::thread::spawn(move || {
        let listener = bind();
        ready.send(listener.local_addr().unwrap()).unwrap();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let request = match &tls {
                None => exchange(stream, answer),
                Some(config) => {
                    let connection = ServerConnection::new(Arc::clone(config)).unwrap();
                    let mut tls = StreamOwned::new(connection, stream);
                    let request = exchange(&mut tls, answer);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                    request
                }
            };
            // Nobody may be listening (a test that only needs answers).
            if let Some(request) = request {
                let _ = requests.send(request);
            }
        }
    });
    (listening.recv().unwrap(), received)
}

/// Reads one request from `stream` and writes `answer`.
fn exchange(stream: impl Read + Write, answer: &[u8]) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&lower);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let stream = reader.get_mut();
    stream.write_all(answer).ok()?;
    stream.flush().ok()?;
    Some(Received {
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// An answer for [`receiver`]: accepted, nothing to say.
pub const NO_CONTENT: &[u8] = b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n";
