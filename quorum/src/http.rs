//! One JSON POST to one etcd member, over a connection of its own.
//!
//! A fresh connection per call costs a handshake, but a call is made every
//! second or so, and it never leaves the agent waiting on a connection a
//! partition silently broke: the deadline covers connecting, TLS and the
//! answer alike.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::endpoint::{Endpoint, Scheme};

/// How one exchange with one member failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Nothing answered (connect, TLS or I/O error).
    #[error("{0}")]
    Unreachable(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The member answered with an HTTP error status.
    #[error("answered {status}: {body}")]
    Status { status: u16, body: String },
}

/// POSTs `body` to `path` on `endpoint` and returns the answer's body.
pub async fn post(
    endpoint: &Endpoint,
    tls: Option<&TlsConnector>,
    path: &str,
    body: Vec<u8>,
    deadline: Duration,
) -> Result<Bytes, Failure> {
    let exchange = async {
        let tcp = TcpStream::connect(endpoint.authority())
            .await
            .map_err(|e| Failure::Unreachable(format!("connect: {e}")))?;
        // Small requests, answered at once: Nagle would only delay them.
        let _ = tcp.set_nodelay(true);
        match (endpoint.scheme, tls) {
            (Scheme::Https, Some(connector)) => {
                let name = ServerName::try_from(endpoint.host.clone())
                    .map_err(|e| Failure::Unreachable(format!("TLS server name: {e}")))?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| Failure::Unreachable(format!("TLS: {e}")))?;
                send(endpoint, stream, path, body).await
            }
            (Scheme::Https, None) => Err(Failure::Unreachable(
                "an https endpoint needs the TLS files (tls.caFile)".into(),
            )),
            (Scheme::Http, _) => send(endpoint, tcp, path, body).await,
        }
    };
    tokio::time::timeout(deadline, exchange)
        .await
        .unwrap_or(Err(Failure::Timeout(deadline)))
}

async fn send<S>(
    endpoint: &Endpoint,
    stream: S,
    path: &str,
    body: Vec<u8>,
) -> Result<Bytes, Failure>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let io = |e: hyper::Error| Failure::Unreachable(e.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io)?;
    // Ends with the exchange: the connection is dropped with `sender`.
    tokio::spawn(connection);
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", endpoint.authority())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    let response = sender.send_request(request).await.map_err(io)?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(io)?.to_bytes();
    if !status.is_success() {
        return Err(Failure::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).trim().to_string(),
        });
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn endpoint_of(listener: &TcpListener) -> Endpoint {
        format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn a_member_that_accepts_but_never_answers_is_a_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = endpoint_of(&listener).await;
        let _held = tokio::spawn(async move {
            let (_socket, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await
        });
        let deadline = Duration::from_millis(200);
        let answer = post(&endpoint, None, "/v3/kv/range", b"{}".to_vec(), deadline).await;
        assert_eq!(answer, Err(Failure::Timeout(deadline)));
    }

    #[tokio::test]
    async fn an_error_status_keeps_its_body() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = endpoint_of(&listener).await;
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            let body = r#"{"error":"etcdserver: no leader","code":14}"#;
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        let answer = post(
            &endpoint,
            None,
            "/v3/lease/grant",
            b"{}".to_vec(),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(
            answer,
            Err(Failure::Status {
                status: 503,
                body: r#"{"error":"etcdserver: no leader","code":14}"#.into()
            })
        );
    }

    #[tokio::test]
    async fn https_without_tls_files_is_refused_before_sending() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let endpoint: Endpoint = format!("https://127.0.0.1:{port}").parse().unwrap();
        let answer = post(
            &endpoint,
            None,
            "/v3/kv/range",
            vec![],
            Duration::from_secs(5),
        )
        .await;
        assert!(
            matches!(&answer, Err(Failure::Unreachable(why)) if why.contains("tls.caFile")),
            "{answer:?}"
        );
    }
}
