//! Asks a peer for its summary, to take a switchover in, or to write a
//! batch into its store, over TLS when configured, bounded in time.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::StatusCode;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::tls;
use crate::cluster_view::PeerSummary;
use crate::switchover::{NodeOutcome, SwitchoverRequest};

/// Why a call got no answer to use: none came (the peer counts as
/// unreachable), or the peer said no.
#[derive(Debug)]
pub enum CallError {
    Unreachable(String),
    Answered { status: StatusCode, body: Bytes },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Unreachable(why) => f.write_str(why),
            CallError::Answered { status, body } => write!(
                f,
                "answered {status}: {}",
                String::from_utf8_lossy(body).trim()
            ),
        }
    }
}

/// Where a peer is and how to talk to it.
pub struct PeerAddress<'a> {
    pub address: SocketAddr,
    pub tls: Option<&'a TlsConnector>,
    pub token: &'a str,
}

pub async fn fetch_summary(
    address: SocketAddr,
    tls: Option<&TlsConnector>,
    token: &str,
    timeout: Duration,
) -> Result<PeerSummary, String> {
    let peer = PeerAddress {
        address,
        tls,
        token,
    };
    call(
        &peer,
        Method::GET,
        "/peer/v1/summary",
        Bytes::new(),
        timeout,
    )
    .await
    .map_err(|e| e.to_string())
}

pub async fn send_switchover(
    peer: &PeerAddress<'_>,
    request: &SwitchoverRequest,
    timeout: Duration,
) -> Result<NodeOutcome, String> {
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    call(
        peer,
        Method::POST,
        "/peer/v1/switchover",
        body.into(),
        timeout,
    )
    .await
    .map_err(|e| e.to_string())
}

/// POSTs `request` as JSON to `path` and reads the JSON answer.
pub async fn post<Req: Serialize, Resp: DeserializeOwned>(
    peer: &PeerAddress<'_>,
    path: &str,
    request: &Req,
    timeout: Duration,
) -> Result<Resp, CallError> {
    let body = serde_json::to_vec(request).map_err(|e| CallError::Unreachable(e.to_string()))?;
    call(peer, Method::POST, path, body.into(), timeout).await
}

async fn call<T: DeserializeOwned>(
    peer: &PeerAddress<'_>,
    method: Method,
    path: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<T, CallError> {
    let answer = async {
        let address = peer.address;
        match peer.tls {
            Some(connector) => {
                let stream = tls::connect(connector, address)
                    .await
                    .map_err(CallError::Unreachable)?;
                exchange(peer, stream, method, path, body).await
            }
            None => {
                let stream = TcpStream::connect(address)
                    .await
                    .map_err(|e| CallError::Unreachable(e.to_string()))?;
                exchange(peer, stream, method, path, body).await
            }
        }
    };
    tokio::time::timeout(timeout, answer)
        .await
        .unwrap_or_else(|_| {
            Err(CallError::Unreachable(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            )))
        })
}

async fn exchange<S, T>(
    peer: &PeerAddress<'_>,
    stream: S,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<T, CallError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    T: DeserializeOwned,
{
    let unreachable = |e: hyper::Error| CallError::Unreachable(e.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(unreachable)?;
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", peer.address.to_string())
        .header("authorization", format!("Bearer {}", peer.token))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| CallError::Unreachable(e.to_string()))?;
    let response = sender.send_request(request).await.map_err(unreachable)?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(unreachable)?
        .to_bytes();
    if !status.is_success() {
        return Err(CallError::Answered { status, body });
    }
    serde_json::from_slice(&body)
        .map_err(|e| CallError::Unreachable(format!("unreadable answer: {e}")))
}
