//! The peer API under abuse, on loopback (no privileges needed): 2,000
//! idle connections from a hundred addresses and a slowloris client
//! neither keep an authenticated peer from its summary within the peers'
//! own timeout nor stop the local API; the server closes the idle and the
//! slow connections itself. Also: the agent raises its open files limit.

use hareconcile_test_support as support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{expect_code, wait_until, Agent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const TOKEN: &str = "s3cret-shared-token";
/// n1, the agent under attack.
const N1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// n2, the peer that asks it, played by curl.
const N2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const IDLE: usize = 2000;
/// The idle connections come from 127.0.1.1 to 127.0.1.ATTACKERS.
const ATTACKERS: u8 = 100;

struct Setup {
    agent: Agent,
    port: u16,
    /// The cluster CA's directory, when the peer API runs over TLS.
    tls: Option<PathBuf>,
}

/// An agent as n1 of a Cluster with n2, its peer API on a free port.
fn start(dir: &Path, tls: bool) -> Setup {
    raise_own_open_files_limit();
    let token_file = dir.join("peer.token");
    support::write_secret(&token_file, TOKEN);
    let port = std::net::TcpListener::bind((N1, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let certs = tls.then(|| {
        let certs = dir.join("tls");
        let (n1, n2) = (N1.to_string(), N2.to_string());
        support::tls::private_ca(&certs, &[("n1", &n1), ("n2", &n2)]);
        certs
    });
    let tls_spec = certs
        .as_ref()
        .map(|c| {
            format!(
                ", tls: {{certFile: {0}/n1.crt, keyFile: {0}/n1.key, caFile: {0}/ca.crt}}",
                c.display()
            )
        })
        .unwrap_or_default();
    let manifests = dir.join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    std::fs::write(
        manifests.join("cluster.yaml"),
        format!(
            "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {{name: lab}}\nspec:\n  \
             nodes: [{{name: n1, address: {N1}}}, {{name: n2, address: {N2}}}]\n  \
             peer: {{port: {port}, tokenFile: {}{tls_spec}}}\n",
            token_file.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(dir, &["--manifests", manifests.to_str().unwrap()]);
    let setup = Setup {
        agent,
        port,
        tls: certs,
    };
    assert!(
        wait_until(Duration::from_secs(20), || setup.peer_summary() == "200"),
        "the peer API never answered:\n{}",
        setup.agent.log()
    );
    setup
}

impl Setup {
    fn address(&self) -> SocketAddr {
        SocketAddr::new(N1.into(), self.port)
    }

    /// n2 asks n1 for its summary as the agents do, with their timeout
    /// (`PEER_TIMEOUT`, 2 s): the HTTP status, `000` for no answer.
    fn peer_summary(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/peer/v1/summary", self.address());
        let mut curl = Command::new("curl");
        curl.args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["--max-time", "2", "--interface", &N2.to_string()])
            .args(["-H", &format!("Authorization: Bearer {TOKEN}")]);
        if let Some(certs) = &self.tls {
            curl.arg("--cacert")
                .arg(certs.join("ca.crt"))
                .arg("--cert")
                .arg(certs.join("n2.crt"))
                .arg("--key")
                .arg(certs.join("n2.key"));
        }
        let out = curl.arg(url).output().expect("curl");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// The test itself holds thousands of sockets.
fn raise_own_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_max >= 2 * IDLE as u64 + 200,
        "the hard open files limit ({}) is too low for this test",
        limit.rlim_max
    );
}

/// [`IDLE`] connections that send nothing, spread over [`ATTACKERS`]
/// addresses; the server may have closed some of them at once.
async fn idle_connections(to: SocketAddr) -> Vec<TcpStream> {
    let indices: Vec<usize> = (0..IDLE).collect();
    let mut streams = Vec::with_capacity(IDLE);
    for batch in indices.chunks(200) {
        let opening = batch.iter().map(|i| {
            let from = Ipv4Addr::new(127, 0, 1, (i % usize::from(ATTACKERS)) as u8 + 1);
            connect_from(from, to)
        });
        for connected in futures::future::join_all(opening).await {
            streams.push(connected.expect("connecting"));
        }
    }
    streams
}

async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.into(), 0))?;
    socket.connect(to).await
}

/// Starts a request (over TLS: a handshake record), then sends one more
/// byte every half second, forever. Ends with the error of the first
/// write after the server closed the connection.
async fn slowloris(to: SocketAddr, tls: bool) -> std::io::Result<()> {
    let mut stream = connect_from(Ipv4Addr::new(127, 0, 2, 1), to).await?;
    let (start, more): (&[u8], &[u8]) = if tls {
        (&[0x16, 0x03, 0x01, 0x40, 0x00], &[0])
    } else {
        (
            b"GET /peer/v1/summary HTTP/1.1\r\nhost: n1\r\nx-slow: ",
            b"x",
        )
    };
    stream.write_all(start).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stream.write_all(more).await?;
    }
}

/// Until the server has closed every one of `streams`.
async fn all_closed(streams: Vec<TcpStream>) {
    let closing = streams.into_iter().map(|mut stream| async move {
        let mut buf = [0u8; 512];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    futures::future::join_all(closing).await;
}

/// One abuse scenario at a time: each bursts 2,000 connections at its
/// agent, and two bursts at once on a loaded CI machine measure the
/// machine more than the server.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn under_abuse(tls: bool) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let setup = start(dir.path(), tls);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // First, so that it holds a connection slot.
    let slow = runtime.spawn(slowloris(setup.address(), tls));
    let idle = runtime.block_on(idle_connections(setup.address()));

    for _ in 0..3 {
        assert_eq!(
            setup.peer_summary(),
            "200",
            "n2 got no summary within its timeout:\n{}",
            setup.agent.log()
        );
    }
    expect_code(&setup.agent.hc(&["get", "cluster"]), 0);

    // The server closes the connections itself: those that never sent a
    // request, and the slow one. (The bound only keeps a broken server
    // from hanging the test.)
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), all_closed(idle))
            .await
            .expect("idle connections left open");
        let ended = tokio::time::timeout(Duration::from_secs(60), slow)
            .await
            .expect("the slowloris connection left open");
        assert!(ended.unwrap().is_err());
    });
    assert_eq!(setup.peer_summary(), "200", "{}", setup.agent.log());
}

#[test]
fn idle_connections_and_a_slowloris_client_do_not_keep_a_peer_from_its_answer() {
    under_abuse(false);
}

#[test]
fn over_tls_idle_connections_and_a_slow_handshake_do_not_keep_a_peer_from_its_answer() {
    under_abuse(true);
}

/// A service manager's usual soft limit, below the hard one.
#[test]
fn the_agent_raises_its_open_files_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let mut agent = Command::new("prlimit")
        .args([
            "--nofile=256:",
            "--",
            support::bin(),
            "agent",
            "--node",
            "n1",
        ])
        .arg("--state-dir")
        .arg(dir.path().join("store"))
        .arg("--socket")
        .arg(&socket)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prlimit (util-linux)");
    let listening = wait_until(Duration::from_secs(20), || socket.exists());
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", agent.id())).unwrap();
    agent.kill().unwrap();
    agent.wait().unwrap();
    assert!(listening, "the agent never listened");
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files")
        .split_whitespace()
        .collect();
    // Max open files  SOFT  HARD  files
    assert_eq!(open_files[3], open_files[4], "{limits}");
    assert_ne!(open_files[3], "256", "{limits}");
}
