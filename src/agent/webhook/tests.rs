use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use hareconcile_model::{Kind, ObjectKey};
use hareconcile_test_support::tls::{self, Received};

use super::*;

#[test]
fn parses_http_and_https_urls_and_refuses_others() {
    let url = WebhookUrl::parse("http://hooks.local:8080/ha/events").unwrap();
    // Shown without its path, which may be the secret.
    assert_eq!(url.to_string(), "http://hooks.local:8080/<redacted>");
    assert_eq!(url.path, "/ha/events");
    assert_eq!(
        WebhookUrl::parse("http://10.0.0.9").unwrap().to_string(),
        "http://10.0.0.9:80/"
    );
    let ntfy = WebhookUrl::parse("https://ntfy.sh/ha-alerts").unwrap();
    assert_eq!(ntfy.to_string(), "https://ntfy.sh:443/<redacted>");
    assert_eq!(ntfy.path, "/ha-alerts");
    assert_eq!(ntfy.host, "ntfy.sh");
    let gotify = WebhookUrl::parse("https://[fd00::5]:8443?token=abc").unwrap();
    assert_eq!(gotify.authority, "[fd00::5]:8443");
    assert_eq!(gotify.host, "fd00::5");
    assert_eq!(gotify.path, "/?token=abc");
    assert!(WebhookUrl::parse("ftp://hooks.example/x")
        .unwrap_err()
        .contains("https:// or http://"));
    assert!(WebhookUrl::parse("http:///x").is_err());
    let error = WebhookUrl::parse("https://user:pw@hooks.example/").unwrap_err();
    assert!(!error.contains(":pw@"), "{error}");
    assert!(WebhookUrl::parse("https://hooks.example:http/").is_err());
}

#[test]
fn headers_are_name_colon_value() {
    let header = WebhookHeader::parse("Authorization: Bearer tk_1").unwrap();
    assert_eq!(header.name, "authorization");
    assert_eq!(header.value, "Bearer tk_1");
    assert!(WebhookHeader::parse("no colon").is_err());
    assert!(WebhookHeader::parse("bad name: x").is_err());
}

#[test]
fn a_header_file_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("headers");
    std::fs::write(
        &file,
        "# the receiver's token\nX-Gotify-Key: abc\n\nTitle: ha\n",
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(
        WebhookHeader::read_file(&file).is_err(),
        "a world-readable token"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let headers = WebhookHeader::read_file(&file).unwrap();
    assert_eq!(headers.len(), 2);
    assert_eq!(headers[0].name, "x-gotify-key");
}

fn event(type_: EventType, reason: &str) -> Event {
    let now = time::OffsetDateTime::now_utc();
    Event {
        object: ObjectKey {
            kind: Kind::VirtualIP,
            name: "web".into(),
        },
        type_,
        reason: reason.into(),
        message: "won the election".into(),
        count: 1,
        first_timestamp: now,
        last_timestamp: now,
        node: "n1".into(),
    }
}

/// An https receiver on 127.0.0.1 with a certificate of a CA made for the
/// test. Returns its port, the CA file and what it receives.
fn https_receiver(dir: &Path) -> (u16, PathBuf, mpsc::Receiver<Received>) {
    let ca = tls::private_ca(dir, &[("receiver", "127.0.0.1")]);
    let config = tls::server_config(dir, "receiver");
    let bind = || TcpListener::bind("127.0.0.1:0").unwrap();
    let (address, requests) = tls::receiver(bind, Some(config), tls::NO_CONTENT);
    (address.port(), ca, requests)
}

/// The next request the receiver got.
fn next(requests: &mpsc::Receiver<Received>) -> Received {
    requests
        .recv_timeout(Duration::from_secs(10))
        .expect("the receiver got a request")
}

#[tokio::test]
async fn each_format_reaches_an_https_receiver_with_the_configured_header() {
    let dir = tempfile::tempdir().unwrap();
    let (port, ca, requests) = https_receiver(dir.path());
    let url = WebhookUrl::parse(&format!("https://127.0.0.1:{port}/hook?token=t1")).unwrap();
    let header = WebhookHeader::parse("Authorization: Bearer secret-1").unwrap();
    let master = event(EventType::Normal, "BecameMaster");
    let removed = event(EventType::Warning, "RemovedStrayVip");
    let summary = "n1: VirtualIP/web BecameMaster: won the election";
    for format in WebhookFormat::value_variants() {
        let webhook = Webhook::new(url.clone(), *format, vec![header.clone()], Some(&ca)).unwrap();
        post(&webhook, &master).await.unwrap();
        let got = next(&requests);
        assert!(
            got.head.starts_with("post /hook?token=t1 http/1.1"),
            "{}",
            got.head
        );
        assert!(
            got.head.contains("\r\nauthorization: bearer secret-1"),
            "{format:?}: {}",
            got.head
        );
        let json = || serde_json::from_str::<serde_json::Value>(&got.body).unwrap();
        match format {
            WebhookFormat::Raw => {
                assert_eq!(json()["reason"], "BecameMaster");
                assert_eq!(json()["object"]["name"], "web");
            }
            WebhookFormat::Ntfy => {
                assert_eq!(got.body, summary);
                assert!(
                    got.head
                        .contains("\r\nx-title: hareconcile becamemaster on n1"),
                    "{}",
                    got.head
                );
                assert!(got.head.contains("\r\nx-priority: 3"), "{}", got.head);
            }
            WebhookFormat::Slack => assert_eq!(json()["text"], summary),
            WebhookFormat::Discord => assert_eq!(json()["content"], summary),
            WebhookFormat::Gotify => {
                assert_eq!(json()["message"], summary);
                assert_eq!(json()["title"], "hareconcile BecameMaster on n1");
                assert_eq!(json()["priority"], 4);
            }
        }
    }
    // A warning stands out where the receiver can show it.
    let ntfy = Webhook::new(url.clone(), WebhookFormat::Ntfy, Vec::new(), Some(&ca)).unwrap();
    post(&ntfy, &removed).await.unwrap();
    let got = next(&requests);
    assert!(got.head.contains("\r\nx-priority: 4"), "{}", got.head);
    assert!(got.head.contains("\r\nx-tags: warning"), "{}", got.head);
}

#[tokio::test]
async fn a_receiver_the_ca_did_not_sign_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _, _requests) = https_receiver(&dir.path().join("receiver"));
    let other = tls::private_ca(&dir.path().join("other"), &[]);
    let url = WebhookUrl::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
    let webhook = Webhook::new(url, WebhookFormat::Raw, Vec::new(), Some(&other)).unwrap();
    let error = post(&webhook, &event(EventType::Normal, "BecameMaster"))
        .await
        .unwrap_err();
    assert!(error.contains("TLS"), "{error}");
}
