//! Asks a peer for its summary, over TLS when configured, bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::summary::PeerSummary;
use super::tls;

pub async fn fetch_summary(
    address: SocketAddr,
    tls: Option<&TlsConnector>,
    token: &str,
    timeout: Duration,
) -> Result<PeerSummary, String> {
    let answer = async {
        match tls {
            Some(connector) => fetch(address, tls::connect(connector, address).await?, token).await,
            None => {
                let stream = TcpStream::connect(address)
                    .await
                    .map_err(|e| e.to_string())?;
                fetch(address, stream, token).await
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

async fn fetch<S>(address: SocketAddr, stream: S, token: &str) -> Result<PeerSummary, String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get("/peer/v1/summary")
        .header("host", address.to_string())
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())
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
    serde_json::from_slice(&body).map_err(|e| format!("unreadable summary: {e}"))
}
