//! Asks a peer for its summary, or to take a switchover in, over TLS when
//! configured, bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::tls;
use crate::cluster_view::PeerSummary;
use crate::switchover::{NodeOutcome, SwitchoverRequest};

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
}

async fn call<T: DeserializeOwned>(
    peer: &PeerAddress<'_>,
    method: Method,
    path: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<T, String> {
    let answer = async {
        let address = peer.address;
        match peer.tls {
            Some(connector) => {
                let stream = tls::connect(connector, address).await?;
                exchange(peer, stream, method, path, body).await
            }
            None => {
                let stream = TcpStream::connect(address)
                    .await
                    .map_err(|e| e.to_string())?;
                exchange(peer, stream, method, path, body).await
            }
        }
    };
    tokio::time::timeout(timeout, answer)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            ))
        })
}

async fn exchange<S, T>(
    peer: &PeerAddress<'_>,
    stream: S,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<T, String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    T: DeserializeOwned,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", peer.address.to_string())
        .header("authorization", format!("Bearer {}", peer.token))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("unreadable answer: {e}"))
}
