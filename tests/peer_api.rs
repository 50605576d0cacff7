//! The peer API in the lab: `status` on one node shows every node, its
//! VRRP role and config skew; a stopped peer shows as unreachable; a
//! request without the shared token is refused; with `peer.tls` only
//! peers holding a certificate of the cluster CA get through.

use hareconcile_test_support as support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hareconcile_lab::{require_privileges, Host, Lab, NodeCommand};
use support::lab_data::private_mounts_lab;
use support::lab_manifests::{cluster_manifest, peer_token_file, web_vip_manifest};
use support::{code_and_text, LabAgent};

fn manifests(dir: &Path, token_file: &Path) -> PathBuf {
    manifests_with(dir, token_file, "")
}

/// `peer_extra` is added to the Cluster's `spec.peer` flow mapping.
fn manifests_with(dir: &Path, token_file: &Path, peer_extra: &str) -> PathBuf {
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let peer = format!(
        "  peer: {{port: 7979, tokenFile: {}{peer_extra}}}\n",
        token_file.display()
    );
    std::fs::write(
        manifests.join("lab.yaml"),
        cluster_manifest((110, 100), &peer) + &web_vip_manifest(""),
    )
    .unwrap();
    manifests
}

fn start(lab: &Lab, host: &Host, manifests: &Path) -> LabAgent {
    LabAgent::command(lab, host)
        .manifests(manifests)
        .args(["--resync", "2s"])
        .start()
}

/// Polls `status` on `agent` until `done` holds for its output.
fn status_until(agent: &LabAgent, what: &str, done: impl Fn(Option<i32>, &str) -> bool) -> String {
    support::retry(Duration::from_secs(20), what, || {
        let (code, out) = code_and_text(&agent.hc(&["status"]));
        if done(code, &out) {
            return Ok(out);
        }
        Err(format!("last status ({code:?}):\n{out}\n{}", agent.log()))
    })
}

fn http_code(host: &Host, url: &str, token: Option<&str>) -> String {
    http_code_with(host, url, token, &[])
}

/// The HTTP status curl sees (`000`: no answer), with `extra` curl options.
fn http_code_with(host: &Host, url: &str, token: Option<&str>, extra: &[&str]) -> String {
    let mut args = vec![
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "3",
    ];
    let header;
    if let Some(token) = token {
        header = format!("Authorization: Bearer {token}");
        args.extend(["-H", &header]);
    }
    args.extend_from_slice(extra);
    args.push(url);
    host.exec(args.as_slice())
        .unwrap()
        .stdout
        .trim()
        .to_string()
}

#[test]
fn status_shows_every_node_skew_and_unreachable_peers() {
    require_privileges!();
    let lab = Lab::builder().nodes(2).client(false).build().unwrap();
    let token_file = peer_token_file(&lab, "s3cret-shared-token\n");
    let manifests = manifests(lab.dir(), &token_file);
    let (n1, n2) = (lab.node(1), lab.node(2));
    let a1 = start(&lab, n1, &manifests);
    let a2 = start(&lab, n2, &manifests);

    let out = status_until(&a1, "both nodes in sync, n1 master", |code, out| {
        code == Some(0)
            && out.contains("n1*")
            && out.contains("in sync")
            && !out.contains("UNREACHABLE")
            && out
                .lines()
                .any(|l| l.starts_with("n1*") && l.contains(" web "))
    });
    assert!(
        out.lines()
            .any(|l| l.starts_with("n2 ") && l.contains("yes")),
        "{out}"
    );

    let (code, drift) = code_and_text(&a1.hc(&["drift", "--exit-code"]));
    assert_eq!(
        (code, drift.trim()),
        (Some(0), "no drift"),
        "both nodes healthy and equal"
    );

    let url = "http://10.77.0.2:7979/peer/v1/summary";
    assert_eq!(http_code(n1, url, None), "401");
    assert_eq!(http_code(n1, url, Some("wrong")), "401");
    assert_eq!(http_code(n1, url, Some("s3cret-shared-token")), "200");

    // Someone changes n2 by hand: n1 sees the skew.
    let skewed = lab.dir().join("skewed.yaml");
    std::fs::write(
        &skewed,
        std::fs::read_to_string(manifests.join("lab.yaml"))
            .unwrap()
            .replace("vrid: 51,", "vrid: 51, preemptDelay: 1s,"),
    )
    .unwrap();
    let (code, out) = code_and_text(&a2.hc(&[
        "apply",
        "--local",
        "--force",
        "-f",
        skewed.to_str().unwrap(),
    ]));
    assert_eq!(code, Some(0), "{out}");
    status_until(&a1, "n1 reports the skew", |code, out| {
        code == Some(1) && out.contains("SKEW: VirtualIP/web")
    });
    let (code, drift) = code_and_text(&a1.hc(&["drift", "--exit-code"]));
    assert_eq!(code, Some(1), "{drift}");
    assert!(
        drift.lines().any(|l| l.starts_with("n2 ")
            && l.contains("VirtualIP/web")
            && l.contains("ConfigSkew")),
        "{drift}"
    );
    // Seen from n2 too, where the hand-made change is sync drift as well.
    let (_, drift) = code_and_text(&a2.hc(&["drift"]));
    assert!(drift.contains("ManagedElsewhere"), "{drift}");
    assert!(drift.contains("ConfigSkew"), "{drift}");

    // n2's agent stops: shown as unreachable, not hidden.
    a2.process.stop(Duration::from_secs(5)).unwrap();
    let out = status_until(&a1, "n1 reports n2 unreachable", |code, out| {
        code == Some(1)
            && out
                .lines()
                .any(|l| l.starts_with("n2 ") && l.contains("UNREACHABLE"))
    });
    assert!(out.contains("n1*"), "{out}");
    let (code, drift) = code_and_text(&a1.hc(&["drift", "--exit-code"]));
    assert_eq!(code, Some(1));
    assert!(
        drift
            .lines()
            .any(|l| l.starts_with("n2 ") && l.contains("NodeUnreachable")),
        "{drift}"
    );
}

#[test]
fn with_tls_peers_talk_over_mutual_tls_and_plain_or_anonymous_clients_are_refused() {
    require_privileges!();
    let lab = private_mounts_lab(2);
    let token = "s3cret-shared-token";
    let token_file = peer_token_file(&lab, token);
    let made = lab.dir().join("tls-made");
    support::tls::private_ca(&made, &[("n1", "10.77.0.1"), ("n2", "10.77.0.2")]);
    // As on real hosts: one Cluster for all, the same paths on every node,
    // each node's own certificate behind them.
    let tls = lab.dir().join("tls");
    for host in lab.nodes() {
        host.mount_tmpfs(&tls).unwrap();
        for (from, to) in [
            (format!("{}.crt", host.name()), "node.crt"),
            (format!("{}.key", host.name()), "node.key"),
            ("ca.crt".to_string(), "ca.crt"),
        ] {
            host.exec_ok(
                NodeCommand::new("cp")
                    .arg(made.join(from))
                    .arg(tls.join(to)),
            )
            .unwrap();
        }
    }
    let file = |name: &str| tls.join(name).display().to_string();
    let manifests = manifests_with(
        lab.dir(),
        &token_file,
        &format!(
            ", tls: {{certFile: {}, keyFile: {}, caFile: {}}}",
            file("node.crt"),
            file("node.key"),
            file("ca.crt")
        ),
    );
    let (n1, n2) = (lab.node(1), lab.node(2));
    let a1 = start(&lab, n1, &manifests);
    let _a2 = start(&lab, n2, &manifests);

    status_until(&a1, "n1 reaches n2 over TLS, configs equal", |_, out| {
        out.lines().any(|l| {
            l.starts_with("n2 ")
                && l.contains("yes")
                && l.contains("in sync")
                && !l.contains("UNREACHABLE")
        })
    });

    let https = "https://10.77.0.2:7979/peer/v1/summary";
    let (ca, cert, key) = (file("ca.crt"), file("node.crt"), file("node.key"));
    let client_cert = ["--cacert", &ca, "--cert", &cert, "--key", &key];
    assert_eq!(http_code_with(n1, https, Some(token), &client_cert), "200");
    // The token is still required on top of the certificate.
    assert_eq!(http_code_with(n1, https, None, &client_cert), "401");
    // No client certificate, or plain HTTP: no answer at all.
    assert_eq!(
        http_code_with(n1, https, Some(token), &["--cacert", &ca]),
        "000"
    );
    assert_eq!(
        http_code(n1, "http://10.77.0.2:7979/peer/v1/summary", Some(token)),
        "000"
    );
}
