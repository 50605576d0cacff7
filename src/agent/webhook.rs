//! Posts every event (transitions, repairs, failures) as JSON to a URL,
//! so chat or paging tools hear of a failover without polling. Delivery
//! is best effort and never slows the agent: a slow or dead receiver only
//! loses events, and says so in the log.

use std::time::Duration;

use hareconcile_runtime::{Event, Store};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

const DELIVERY_TIMEOUT: Duration = Duration::from_secs(3);

/// An `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    authority: String,
    path: String,
}

impl WebhookUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("{url}: only http:// webhooks are supported; put a relay in front of an https receiver")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(WebhookUrl {
            authority,
            path: path.to_string(),
        })
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority, self.path)
    }
}

pub fn start(url: WebhookUrl, store: &Store, mut stopped: watch::Receiver<bool>) -> JoinHandle<()> {
    let mut events = store.subscribe_events();
    info!(%url, "posting events to the webhook");
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = stopped.changed() => return,
            };
            match event {
                Ok(event) => {
                    let delivered =
                        tokio::time::timeout(DELIVERY_TIMEOUT, post(&url, &event)).await;
                    match delivered {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            warn!(%url, reason = %event.reason, error = %e, "webhook delivery failed")
                        }
                        Err(_) => {
                            warn!(%url, reason = %event.reason, "webhook did not answer in time")
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    warn!(%url, missed, "webhook fell behind; events dropped");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

async fn post(url: &WebhookUrl, event: &Event) -> Result<(), String> {
    let stream = TcpStream::connect(&url.authority)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let request = Request::post(&url.path)
        .header("host", &url.authority)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_urls_and_refuses_others() {
        let url = WebhookUrl::parse("http://hooks.local:8080/ha/events").unwrap();
        assert_eq!(url.to_string(), "http://hooks.local:8080/ha/events");
        assert_eq!(
            WebhookUrl::parse("http://10.0.0.9").unwrap().to_string(),
            "http://10.0.0.9:80/"
        );
        assert!(WebhookUrl::parse("https://hooks.example/x")
            .unwrap_err()
            .contains("only http://"));
        assert!(WebhookUrl::parse("http:///x").is_err());
    }
}
