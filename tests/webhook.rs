//! `--webhook`: a VRRP transition reaches a receiver: as JSON over http,
//! and over https (a private CA given with `--webhook-ca`) with the
//! operator's header from a 0600 file, shaped for ntfy.

use hareconcile_test_support as support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use hareconcile_lab::{require_privileges, Lab};
use support::tls::{self, Received};
use support::LabAgent;
use tokio_rustls::rustls::ServerConfig;

const MANIFEST: &str = "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {name: lab}\nspec:\n  nodes: [{name: n1, address: 10.77.0.1}]\n  vrrp: {advertInterval: 100ms}\n---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {name: web}\nspec: {cluster: lab, interface: eth0, vrid: 51, addresses: [10.77.0.100/24]}\n";

/// Receives posts on 127.0.0.1:port inside the node's namespace, over TLS
/// with `tls`.
fn receiver(netns: PathBuf, port: u16, tls: Option<Arc<ServerConfig>>) -> mpsc::Receiver<Received> {
    let bind = move || {
        hareconcile_lab::enter_netns(&netns).unwrap();
        TcpListener::bind(("127.0.0.1", port)).unwrap()
    };
    tls::receiver(bind, tls, tls::NO_CONTENT).1
}

/// The first post whose body satisfies `wanted`, or a panic listing the
/// others.
fn await_post(posts: &mpsc::Receiver<Received>, wanted: impl Fn(&str) -> bool) -> Received {
    let mut seen = Vec::new();
    loop {
        let post = posts
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("no BecameMaster event posted; got {seen:?}"));
        if wanted(&post.body) {
            return post;
        }
        seen.push(post.body);
    }
}

#[test]
fn a_vrrp_transition_is_posted_to_the_webhook() {
    require_privileges!();
    let lab = Lab::builder().nodes(1).client(false).build().unwrap();
    let n1 = lab.node(1);
    let posts = receiver(n1.netns_path(), 18080, None);
    let _agent = LabAgent::command(&lab, n1)
        .manifest(MANIFEST)
        .args(["--webhook", "http://127.0.0.1:18080/events"])
        .start();
    let post = await_post(&posts, |body| body.contains("\"BecameMaster\""));
    let became_master: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(became_master["object"]["kind"], "VirtualIP");
    assert_eq!(became_master["object"]["name"], "web");
    assert_eq!(became_master["node"], "n1");
}

#[test]
fn a_vrrp_transition_reaches_an_https_receiver_with_the_token_header_as_ntfy_expects() {
    require_privileges!();
    let dir = tempfile::tempdir().unwrap();
    let ca = tls::private_ca(dir.path(), &[("receiver", "127.0.0.1")]);
    let tls = tls::server_config(dir.path(), "receiver");
    let headers = dir.path().join("webhook.headers");
    std::fs::write(
        &headers,
        "# ntfy access token\nAuthorization: Bearer tk_lab\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &headers,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let lab = Lab::builder().nodes(1).client(false).build().unwrap();
    let n1 = lab.node(1);
    let posts = receiver(n1.netns_path(), 18443, Some(tls));
    let _agent = LabAgent::command(&lab, n1)
        .manifest(MANIFEST)
        .args(["--webhook", "https://127.0.0.1:18443/homelab-ha"])
        .args(["--webhook-format", "ntfy"])
        .args(["--webhook-ca", ca.to_str().unwrap()])
        .args(["--webhook-header-file", headers.to_str().unwrap()])
        .start();
    let post = await_post(&posts, |body| body.contains("BecameMaster"));
    assert!(
        post.head.starts_with("post /homelab-ha http/1.1"),
        "{}",
        post.head
    );
    assert!(
        post.head.contains("\r\nauthorization: bearer tk_lab\r\n"),
        "{}",
        post.head
    );
    assert!(
        post.head
            .contains("\r\nx-title: hareconcile becamemaster on n1\r\n"),
        "{}",
        post.head
    );
    assert!(
        post.body.starts_with("n1: VirtualIP/web BecameMaster: "),
        "{}",
        post.body
    );
}
