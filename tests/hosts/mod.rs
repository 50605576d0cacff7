//! What the tests of hareconcile as installed on hosts share
//! (`package_install.rs`, `rolling_upgrade.rs`): the two-node manifests an
//! administrator would write, and a page on the VIP that says which node
//! serves it.

use std::net::Ipv4Addr;
use std::time::Duration;

use hareconcile_lab::{ipv4, Host, Lab, NodeCommand, Process};

/// Generous: it only bounds how long a broken build takes to fail.
pub const CONVERGE: Duration = Duration::from_secs(30);

/// The VirtualIP's address: host number 100 on the lab's LAN.
pub fn vip() -> Ipv4Addr {
    ipv4(0, 100)
}

/// A Cluster of lab nodes n1 (priority 110) and n2 with the peer API on
/// port 7979 (its token in `token_file`), and VirtualIP `web` on eth0 at
/// 100 ms adverts.
pub fn two_node_manifest(token_file: &str) -> String {
    format!(
        "apiVersion: hareconcile.io/v1alpha1
kind: Cluster
metadata: {{name: home}}
spec:
  nodes:
    - {{name: n1, address: {n1}, priority: 110}}
    - {{name: n2, address: {n2}, priority: 100}}
  vrrp: {{version: 3, advertInterval: 100ms}}
  peer: {{port: 7979, tokenFile: {token_file}}}
---
apiVersion: hareconcile.io/v1alpha1
kind: VirtualIP
metadata: {{name: web}}
spec: {{cluster: home, interface: eth0, vrid: 51, addresses: [{vip}/24]}}
",
        n1 = ipv4(0, 1),
        n2 = ipv4(0, 2),
        vip = vip(),
    )
}

/// busybox httpd on port 8080 of `host`, answering with the host's name:
/// whoever holds the VIP serves it.
pub fn serve_own_name(lab: &Lab, host: &Host) -> Process {
    let dir = lab.dir().join(format!("www-{}", host.name()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), format!("{}\n", host.name())).unwrap();
    host.spawn(
        NodeCommand::new("busybox")
            .args(["httpd", "-f", "-p", "8080", "-h"])
            .arg(&dir),
    )
    .unwrap()
}

/// Waits until the client's fetch of the VIP is answered by node
/// `expected`; panics with `logs()` otherwise.
pub fn await_server(lab: &Lab, expected: &str, logs: impl Fn() -> String) {
    let url = format!("http://{}:8080/", vip());
    let what = format!("{url} never served by {expected}");
    hareconcile_test_support::retry(CONVERGE, &what, || {
        let out = lab
            .client()
            .exec(NodeCommand::new("curl").args(["-s", "--max-time", "1", &url]))
            .unwrap();
        match out.stdout.trim() {
            last if last == expected => Ok(()),
            last => Err(format!("last answer: {last:?}\n{}", logs())),
        }
    });
}

/// Runs `status` (a `hareconcile status` of some node) until it exits 0:
/// every object Ready, every node reachable through the peer API with the
/// same configuration. Panics with what it printed and `logs()` otherwise.
pub fn await_status_ok(
    node: &str,
    mut status: impl FnMut() -> std::process::Output,
    logs: impl Fn() -> String,
) {
    hareconcile_test_support::retry(CONVERGE, &format!("status on {node}"), || {
        let out = status();
        if out.status.success() {
            return Ok(());
        }
        let (code, text) = hareconcile_test_support::code_and_text(&out);
        Err(format!("exit {code:?}\n{text}\n{}", logs()))
    });
}
