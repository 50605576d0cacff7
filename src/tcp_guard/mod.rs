//! Serving HTTP on a TCP port that anyone on the network can reach (the
//! peer API, `--metrics-listen`), so that connections which never finish
//! cannot block the others or exhaust the agent. Each connection gets a
//! slot ([`Admission`]) or is closed at once, then runs in a task of its
//! own: its TLS handshake, the reading of its request headers and its
//! whole life are bounded in time. One idle or slow client therefore
//! delays no one else, which a handshake run in the accept loop did.

mod admission;

pub use admission::Admission;

use std::io;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::debug;

/// How long and how many connections a listener allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// To finish the TLS handshake.
    pub handshake: Duration,
    /// To send the request headers, from the moment the connection is
    /// ready for them; also how long an idle connection stays open.
    pub header_read: Duration,
    /// The most a connection may live, request body and answer included.
    pub lifetime: Duration,
    /// Connections one source address may hold at once.
    pub per_source: usize,
    /// Connections all addresses outside the Cluster may hold at once.
    pub strangers: usize,
}

/// How many connections the kernel may queue for a listener before it is
/// accepted (capped by `net.core.somaxconn`, 4096 by default). Tokio's
/// 1,024 is overrun by a burst of idle connections on a loaded host, and
/// past it the kernel answers with SYN cookies: a client it then drops
/// believes itself connected and is never closed by anyone.
const ACCEPT_QUEUE: u32 = 4096;

/// A listener on `address` with a deep accept queue ([`ACCEPT_QUEUE`]).
pub async fn listen(address: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = match address {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std's and tokio's bind do: a restarted agent gets its port back
    // while the old connections linger in TIME-WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_QUEUE)
}

/// Accepts and serves `app` until accepting fails for good (not merely
/// for want of descriptors or memory, which passes). Connections already
/// accepted go on in their own tasks.
pub async fn serve(
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    admission: std::sync::Arc<Admission>,
) -> io::Result<()> {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) if passing(&e) => {
                debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let slot = match admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                debug!(%peer, %refused, "connection closed at once");
                continue;
            }
        };
        let (tls, app, limits) = (tls.clone(), app.clone(), admission.limits());
        tokio::spawn(async move {
            let served =
                tokio::time::timeout(limits.lifetime, connection(stream, tls, app, limits));
            if served.await.is_err() {
                debug!(%peer, "connection closed: it lived too long");
            }
            drop(slot);
        });
    }
}

/// Errors after which the next accept may well succeed: out of
/// descriptors or memory, or a client that left before it was accepted.
fn passing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    ) || matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

async fn connection(stream: TcpStream, tls: Option<TlsAcceptor>, app: Router, limits: Limits) {
    let peer = stream.peer_addr().ok();
    match tls {
        None => http(stream, app, limits).await,
        Some(acceptor) => {
            match tokio::time::timeout(limits.handshake, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => http(stream, app, limits).await,
                // No client certificate, another CA, plain HTTP...
                Ok(Err(e)) => debug!(?peer, error = %e, "TLS handshake refused"),
                Err(_) => debug!(?peer, "TLS handshake timed out"),
            }
        }
    }
}

/// One request per connection: the agents' clients open one per call,
/// so a connection kept alive would only sit idle.
async fn http<S>(stream: S, app: Router, limits: Limits)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
        .await;
    if let Err(e) = served {
        debug!(error = %e, "connection ended with an error");
    }
}
