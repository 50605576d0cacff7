//! A real etcd for the tests: one member on loopback ports, in a temporary
//! directory, killed with its handle; and a TCP relay the tests can cut,
//! to put one client on the far side of a partition.

#![allow(dead_code)] // each test file uses its part

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hareconcile_quorum::{Client, Endpoint, TlsFiles};
use tokio::net::{TcpListener, TcpStream};

/// The tests need Debian's etcd-server (scripts/install-test-deps.sh). In
/// CI a missing binary fails the test; elsewhere the test says so and passes.
pub fn etcd_available() -> bool {
    let found = Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("etcd not found: run scripts/install-test-deps.sh (Debian's etcd-server)");
        }
        eprintln!("skipped: etcd not found (scripts/install-test-deps.sh installs it)");
    }
    found
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Etcd {
    child: Child,
    pub dir: tempfile::TempDir,
    pub endpoint: Endpoint,
    /// With TLS: the files a client presents (certificate `n1`).
    pub tls: Option<TlsFiles>,
}

impl Etcd {
    pub async fn start() -> Etcd {
        Etcd::start_with(false).await
    }

    /// With TLS: https only, and clients must present a certificate the
    /// test CA signed (`--client-cert-auth`).
    pub async fn start_with(tls: bool) -> Etcd {
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let scheme = if tls { "https" } else { "http" };
        let client_url = format!("{scheme}://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut command = Command::new("etcd");
        command
            .arg("--name=test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=test={peer_url}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("etcd.log")).unwrap());
        let files = tls.then(|| {
            let certs = certificates(dir.path());
            command
                .arg(format!("--cert-file={}", certs.join("etcd.crt").display()))
                .arg(format!("--key-file={}", certs.join("etcd.key").display()))
                .arg(format!(
                    "--trusted-ca-file={}",
                    certs.join("ca.crt").display()
                ))
                .arg("--client-cert-auth");
            TlsFiles {
                ca_file: certs.join("ca.crt"),
                client: Some((certs.join("n1.crt"), certs.join("n1.key"))),
            }
        });
        let child = command.spawn().unwrap();
        let etcd = Etcd {
            child,
            dir,
            endpoint: client_url.parse().unwrap(),
            tls: files,
        };
        etcd.wait_ready().await;
        etcd
    }

    pub fn client(&self) -> Client {
        let tls = self.tls.as_ref().map(|t| t.connector().unwrap());
        Client::new(vec![self.endpoint.clone()], tls)
    }

    async fn wait_ready(&self) {
        let client = self.client();
        for _ in 0..300 {
            if client.get("/ready", Duration::from_secs(1)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        panic!("etcd did not start:\n{log}");
    }

    /// Freezes the member (SIGSTOP): it accepts connections and answers
    /// nothing, as a host behind a dead link does.
    pub fn freeze(&self) {
        signal(&self.child, "STOP");
    }

    pub fn thaw(&self) {
        signal(&self.child, "CONT");
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.thaw();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate,
/// as `hareconcile init --tls` makes them for the peer API.
fn certificates(dir: &Path) -> PathBuf {
    let out = dir.join("tls");
    hareconcile_test_support::tls::private_ca(&out, &[("etcd", "127.0.0.1"), ("n1", "127.0.0.1")]);
    out
}

/// Forwards TCP connections to `target` until cut; once cut, it accepts
/// and holds new connections without forwarding, and stalls the ones in
/// flight: what a client sees of a member behind a partition.
pub struct Relay {
    pub endpoint: Endpoint,
    cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn to(target: &Endpoint) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let target = target.authority();
        let task = {
            let cut = Arc::clone(&cut);
            tokio::spawn(async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        continue;
                    };
                    let (cut, target) = (Arc::clone(&cut), target.clone());
                    tokio::spawn(async move {
                        if cut.load(Ordering::SeqCst) {
                            // Held open, never answered.
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            drop(inbound);
                            return;
                        }
                        let Ok(mut outbound) = TcpStream::connect(&target).await else {
                            return;
                        };
                        let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                        let stalled = async {
                            while !cut.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        };
                        tokio::select! {
                            _ = copy => {}
                            _ = stalled => {}
                        }
                    });
                }
            })
        };
        Relay {
            endpoint: format!("http://{address}").parse().unwrap(),
            cut,
            task,
        }
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
