//! Posts every event (transitions, repairs, failures) to a URL, so chat or
//! paging tools hear of a failover without polling: as the event's JSON,
//! or shaped for ntfy, Slack, Discord or Gotify. Over http or https
//! (rustls; the system's CA bundle, or `--webhook-ca` for a private CA),
//! with extra headers for the receiver's token. Delivery is best effort
//! and never slows the agent: a slow or dead receiver only loses events,
//! and says so in the log.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use hareconcile_model::redact;
use hareconcile_runtime::{Event, EventType, Store};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tracing::{info, warn};

const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where distributions keep the CA bundle of the public web's roots.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Arch, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
];

/// An `http://` or `https://` URL: `host[:port]/path?query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    https: bool,
    /// `host:port`, what to connect to.
    authority: String,
    /// The host alone (no brackets), what the certificate must name.
    host: String,
    path: String,
}

impl WebhookUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        // Messages name the URL without its credentials.
        let shown = redact::url(url);
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!(
                "{shown}: a webhook URL starts with https:// or http://"
            ));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(format!(
                "{shown}: credentials in the URL are not sent; use --webhook-header"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, Some(port)),
            _ => (authority, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{shown}: no host"));
        }
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| format!("{shown}: {port:?} is not a port"))?,
            None if https => 443,
            None => 80,
        };
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(WebhookUrl {
            https,
            authority,
            host: host.to_owned(),
            path,
        })
    }
}

/// As logs and messages show it: the path of a webhook URL is often its
/// secret (Slack, Discord, an ntfy topic, Gotify's `?token=`).
impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        let path = redact::secret_path(&self.path);
        write!(f, "{scheme}://{}{path}", self.authority)
    }
}

/// What the receiver expects the body to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WebhookFormat {
    /// The event as JSON, as `hareconcile events -o json` shows it.
    Raw,
    /// ntfy: the text as the body; title, priority and tags as headers.
    Ntfy,
    /// A Slack incoming webhook: `{"text": ...}`.
    Slack,
    /// A Discord webhook: `{"content": ...}`.
    Discord,
    /// Gotify's /message: title, message and priority (the app token goes
    /// in `?token=` or an `X-Gotify-Key` header).
    Gotify,
}

/// A `Name: value` header to send with every post.
#[derive(Debug, Clone)]
pub struct WebhookHeader {
    name: HeaderName,
    value: HeaderValue,
}

impl WebhookHeader {
    pub fn parse(header: &str) -> Result<Self, String> {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("{header:?}: a header is `Name: value`"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("{:?} is not a header name", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("the value of header {name} holds a character HTTP forbids"))?;
        Ok(WebhookHeader { name, value })
    }

    /// Headers from a file, one `Name: value` a line (blank lines and `#`
    /// comments skipped). Read as a secret (0600 or stricter, owned by the
    /// agent's user): it usually holds the receiver's token.
    pub fn read_file(path: &Path) -> Result<Vec<Self>, String> {
        let bytes = hareconcile_fs::read_secret(path).map_err(|e| e.to_string())?;
        let text =
            String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|(i, l)| {
                WebhookHeader::parse(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
            })
            .collect()
    }
}

/// Everything a delivery needs, checked when the agent starts.
#[derive(Clone)]
pub struct Webhook {
    url: WebhookUrl,
    format: WebhookFormat,
    headers: Vec<WebhookHeader>,
    tls: Option<TlsConnector>,
}

impl Webhook {
    /// `ca`: PEM certificates to trust instead of the system's bundle.
    pub fn new(
        url: WebhookUrl,
        format: WebhookFormat,
        headers: Vec<WebhookHeader>,
        ca: Option<&Path>,
    ) -> Result<Self, String> {
        let tls = if url.https {
            Some(connector(ca)?)
        } else {
            if ca.is_some() {
                return Err(format!(
                    "--webhook-ca is for https, but the webhook is {url}"
                ));
            }
            None
        };
        Ok(Webhook {
            url,
            format,
            headers,
            tls,
        })
    }
}

impl std::fmt::Display for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.url)
    }
}

/// A TLS client trusting `ca`, or the system's bundle.
fn connector(ca: Option<&Path>) -> Result<TlsConnector, String> {
    let (path, pem) = match ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("--webhook-ca {}: {e}", path.display()))?;
            (path.to_owned(), pem)
        }
        None => SYSTEM_CA_BUNDLES
            .iter()
            .find_map(|p| Some((Path::new(p).to_owned(), std::fs::read(p).ok()?)))
            .ok_or_else(|| {
                format!(
                    "no CA bundle for https webhooks at {}: install ca-certificates, or name one with --webhook-ca",
                    SYSTEM_CA_BUNDLES.join(", ")
                )
            })?,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
        // A bundle may hold a certificate rustls cannot use; the rest serve.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!("{}: no usable CA certificate", path.display()));
    }
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

pub fn start(
    webhook: Webhook,
    store: &Store,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let mut events = store.subscribe_events();
    info!(url = %webhook, format = ?webhook.format, "posting events to the webhook");
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = stopped.changed() => return,
            };
            match event {
                Ok(event) => {
                    let delivered =
                        tokio::time::timeout(DELIVERY_TIMEOUT, post(&webhook, &event)).await;
                    match delivered {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            warn!(url = %webhook, reason = %event.reason, error = %e, "webhook delivery failed")
                        }
                        Err(_) => {
                            warn!(url = %webhook, reason = %event.reason, "webhook did not answer in time")
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    warn!(url = %webhook, missed, "webhook fell behind; events dropped");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// One line for a person: `n1: VirtualIP/web BecameMaster: won the election`.
fn summary(event: &Event) -> String {
    format!(
        "{}: {}/{} {}: {}",
        event.node,
        event.object.kind.as_str(),
        event.object.name,
        event.reason,
        event.message
    )
}

fn title(event: &Event) -> String {
    format!("hareconcile {} on {}", event.reason, event.node)
}

/// What one post carries, in the receiver's format.
struct Payload {
    body: Vec<u8>,
    content_type: &'static str,
    /// Headers the format itself sets (ntfy's title and priority).
    headers: Vec<(&'static str, String)>,
}

fn render(format: WebhookFormat, event: &Event) -> Result<Payload, String> {
    const JSON: &str = "application/json";
    let warning = event.type_ == EventType::Warning;
    let json = |value: serde_json::Value| serde_json::to_vec(&value).map_err(|e| e.to_string());
    let (body, content_type, headers) = match format {
        WebhookFormat::Raw => (
            serde_json::to_vec(event).map_err(|e| e.to_string())?,
            JSON,
            Vec::new(),
        ),
        WebhookFormat::Ntfy => {
            let mut headers = vec![
                ("x-title", title(event)),
                ("x-priority", if warning { "4" } else { "3" }.to_owned()),
            ];
            if warning {
                headers.push(("x-tags", "warning".to_owned()));
            }
            (
                summary(event).into_bytes(),
                "text/plain; charset=utf-8",
                headers,
            )
        }
        WebhookFormat::Slack => (
            json(serde_json::json!({ "text": summary(event) }))?,
            JSON,
            Vec::new(),
        ),
        WebhookFormat::Discord => {
            // Discord refuses content over 2,000 characters.
            let content: String = summary(event).chars().take(2_000).collect();
            (
                json(serde_json::json!({ "content": content }))?,
                JSON,
                Vec::new(),
            )
        }
        WebhookFormat::Gotify => (
            json(serde_json::json!({
                "title": title(event),
                "message": summary(event),
                "priority": if warning { 8 } else { 4 },
            }))?,
            JSON,
            Vec::new(),
        ),
    };
    Ok(Payload {
        body,
        content_type,
        headers,
    })
}

async fn post(webhook: &Webhook, event: &Event) -> Result<(), String> {
    let stream = TcpStream::connect(&webhook.url.authority)
        .await
        .map_err(|e| e.to_string())?;
    match &webhook.tls {
        None => send(webhook, event, stream).await,
        Some(tls) => {
            let name = ServerName::try_from(webhook.url.host.clone())
                .map_err(|e| format!("{}: {e}", webhook.url.host))?;
            let stream = tls
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            send(webhook, event, stream).await
        }
    }
}

async fn send<S>(webhook: &Webhook, event: &Event, stream: S) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let payload = render(webhook.format, event)?;
    let mut request = Request::post(&webhook.url.path)
        .header("host", &webhook.url.authority)
        .header("content-type", payload.content_type)
        .header(
            "user-agent",
            concat!("hareconcile/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in payload.headers {
        request = request.header(name, value);
    }
    // The operator's headers last: they may override the format's.
    let mut request = request
        .body(Full::new(Bytes::from(payload.body)))
        .map_err(|e| e.to_string())?;
    for header in &webhook.headers {
        request
            .headers_mut()
            .insert(header.name.clone(), header.value.clone());
    }
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
mod tests;
