//! `hareconcile init` writes a cluster's bootstrap files once: a Cluster
//! that validates, private secrets, TLS and ssh material; running it again
//! keeps every secret, `--force` replaces them.

use hareconcile_test_support as support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use support::{bin, expect_code};

fn init(dir: &Path, extra: &[&str]) -> String {
    let out = Command::new(bin())
        .args(["init", "--node", "n1=127.0.0.1", "--node", "n2=192.0.2.2"])
        .args(["--tls", "--replication-key", "--name", "lab", "-o"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    expect_code(&out, 0)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn init_writes_a_valid_cluster_and_private_secrets_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("etc");
    let out = init(&dir, &[]);
    assert!(out.contains("this host is node n1 (127.0.0.1)"), "{out}");
    assert!(out.contains("On n2: copy"), "{out}");

    let cluster = dir.join("manifests/cluster.yaml");
    let text = read(&cluster);
    for wanted in [
        "name: lab",
        "{name: n1, address: 127.0.0.1, priority: 110}",
        "{name: n2, address: 192.0.2.2, priority: 100}",
        &format!("tokenFile: {}", dir.join("peer.token").display()),
        &format!("certFile: {}", dir.join("tls/node.crt").display()),
        "on interface lo",
    ] {
        assert!(text.contains(wanted), "{wanted:?} missing from\n{text}");
    }
    let validated = Command::new(bin())
        .args(["validate", "-f"])
        .arg(&cluster)
        .output()
        .unwrap();
    assert_eq!(expect_code(&validated, 0), "1 object(s) valid\n");

    for secret in [
        "peer.token",
        "tls/ca.key",
        "tls/n1.key",
        "tls/n2.key",
        "tls/node.key",
        "ssh/id_ed25519",
    ] {
        assert_eq!(mode(&dir.join(secret)), 0o600, "{secret}");
    }
    assert_eq!(read(&dir.join("peer.token")).trim().len(), 64);
    assert_eq!(
        read(&dir.join("tls/node.crt")),
        read(&dir.join("tls/n1.crt"))
    );
    let certificate = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(dir.join("tls/n2.crt"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&certificate.stdout).contains("IP Address:192.0.2.2"),
        "{certificate:?}"
    );

    // Again: nothing that exists changes.
    let token = read(&dir.join("peer.token"));
    let ca = read(&dir.join("tls/ca.crt"));
    let key = read(&dir.join("ssh/id_ed25519"));
    let out = init(&dir, &[]);
    assert!(!out.contains("wrote"), "{out}");
    assert_eq!(read(&dir.join("peer.token")), token);
    assert_eq!(read(&dir.join("tls/ca.crt")), ca);
    assert_eq!(read(&dir.join("ssh/id_ed25519")), key);
    assert_eq!(read(&cluster), text);

    // --force makes new secrets.
    let out = init(&dir, &["--force"]);
    assert!(out.contains("wrote"), "{out}");
    assert_ne!(read(&dir.join("peer.token")), token);
    assert_ne!(read(&dir.join("tls/ca.crt")), ca);
    assert_eq!(mode(&dir.join("peer.token")), 0o600);
}
