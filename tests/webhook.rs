//! `--webhook`: a VRRP transition reaches a receiver: as JSON over http,
//! and over https (a private CA given with `--webhook-ca`) with the
//! operator's header from a 0600 file, shaped for ntfy.

use hareconcile_test_support as support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use hareconcile_lab::{require_privileges, Lab};
use support::LabAgent;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ServerConfig, ServerConnection, StreamOwned};

const MANIFEST: &str = "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {name: lab}\nspec:\n  nodes: [{name: n1, address: 10.77.0.1}]\n  vrrp: {advertInterval: 100ms}\n---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {name: web}\nspec: {cluster: lab, interface: eth0, vrid: 51, addresses: [10.77.0.100/24]}\n";

/// A request as the receiver saw it: its head (lower case) and body.
struct Received {
    head: String,
    body: String,
}

/// Reads one request from `stream`, answers 204.
fn answer(stream: impl Read + Write) -> Option<Received> {
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
    stream
        .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        .ok()?;
    stream.flush().ok()?;
    Some(Received {
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Receives posts on 127.0.0.1:port inside the node's namespace, over TLS
/// with `tls`, and forwards them.
fn receiver(
    netns: std::path::PathBuf,
    port: u16,
    tls: Option<Arc<ServerConfig>>,
) -> mpsc::Receiver<Received> {
    let (requests, received) = mpsc::channel();
    let (ready, listening) = mpsc::channel();
    std::thread::spawn(move || {
        let netns = std::fs::File::open(netns).unwrap();
        // Only this thread enters the node's namespace.
        assert_eq!(
            unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        ready.send(()).unwrap();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let request = match &tls {
                None => answer(stream),
                Some(config) => {
                    let connection = ServerConnection::new(Arc::clone(config)).unwrap();
                    answer(StreamOwned::new(connection, stream))
                }
            };
            if let Some(request) = request {
                if requests.send(request).is_err() {
                    return;
                }
            }
        }
    });
    listening.recv().unwrap();
    received
}

/// The first post whose body satisfies `wanted`, or a panic listing the
/// others.
fn await_post(posts: &mpsc::Receiver<Received>, wanted: impl Fn(&str) -> bool) -> Received {
    let mut seen = Vec::new();
    loop {
        let post = posts
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("no BecameMaster event posted; got {seen:?}"));
        if wanted(&post.body) {
            return post;
        }
        seen.push(post.body);
    }
}

#[test]
fn a_vrrp_transition_is_posted_to_the_webhook() {
    require_privileges!();
    let lab = Lab::builder().nodes(1).client(false).build().unwrap();
    let n1 = lab.node(1);
    let posts = receiver(n1.netns_path(), 18080, None);
    let _agent = LabAgent::command(&lab, n1)
        .manifest(MANIFEST)
        .args(["--webhook", "http://127.0.0.1:18080/events"])
        .start();
    let post = await_post(&posts, |body| body.contains("\"BecameMaster\""));
    let became_master: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(became_master["object"]["kind"], "VirtualIP");
    assert_eq!(became_master["object"]["name"], "web");
    assert_eq!(became_master["node"], "n1");
}

/// A server configuration with a certificate for 127.0.0.1 from a CA made
/// in `dir` (scripts/peer-tls-certs.sh, as for the peer API).
fn tls_receiver_config(dir: &Path) -> Arc<ServerConfig> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peer-tls-certs.sh");
    let made = std::process::Command::new(script)
        .arg(dir)
        .arg("receiver=127.0.0.1")
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let certs = CertificateDer::pem_file_iter(dir.join("receiver.crt"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("receiver.key")).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

#[test]
fn a_vrrp_transition_reaches_an_https_receiver_with_the_token_header_as_ntfy_expects() {
    require_privileges!();
    let dir = tempfile::tempdir().unwrap();
    let tls = tls_receiver_config(dir.path());
    let headers = dir.path().join("webhook.headers");
    std::fs::write(
        &headers,
        "# ntfy access token\nAuthorization: Bearer tk_lab\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &headers,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let lab = Lab::builder().nodes(1).client(false).build().unwrap();
    let n1 = lab.node(1);
    let posts = receiver(n1.netns_path(), 18443, Some(tls));
    let _agent = LabAgent::command(&lab, n1)
        .manifest(MANIFEST)
        .args(["--webhook", "https://127.0.0.1:18443/homelab-ha"])
        .args(["--webhook-format", "ntfy"])
        .args(["--webhook-ca", dir.path().join("ca.crt").to_str().unwrap()])
        .args(["--webhook-header-file", headers.to_str().unwrap()])
        .start();
    let post = await_post(&posts, |body| body.contains("BecameMaster"));
    assert!(
        post.head.starts_with("post /homelab-ha http/1.1"),
        "{}",
        post.head
    );
    assert!(
        post.head.contains("\r\nauthorization: bearer tk_lab\r\n"),
        "{}",
        post.head
    );
    assert!(
        post.head
            .contains("\r\nx-title: hareconcile becamemaster on n1\r\n"),
        "{}",
        post.head
    );
    assert!(
        post.body.starts_with("n1: VirtualIP/web BecameMaster: "),
        "{}",
        post.body
    );
}
