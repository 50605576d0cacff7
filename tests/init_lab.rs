//! `hareconcile init` on two lab nodes, then only the steps docs/init.md
//! lists: copy the directory to n2, run the same init there, start both
//! agents as the package does (`--manifests DIR/manifests`). The agents
//! then talk over mutual TLS with the generated token and certificates,
//! and `apply` on n1 writes both nodes.
//!
//! Each node has its own tmpfs at DIR, as each host has its own
//! /etc/hareconcile.

use hareconcile_test_support as support;

use std::path::Path;
use std::time::{Duration, Instant};

use hareconcile_lab::{require_privileges, Host, NodeCommand};
use support::lab_data::private_mounts_lab;
use support::lab_manifests::web_vip_manifest;
use support::{bin, code_and_text, LabAgent};

fn init(host: &Host, dir: &Path) -> String {
    let command = NodeCommand::new(bin())
        .args(["init", "--node", "n1=10.77.0.1", "--node", "n2=10.77.0.2"])
        .args(["--name", "lab", "--tls", "-o"])
        .arg(dir);
    host.exec_ok(command).unwrap().stdout
}

fn copy(host: &Host, from: &Path, to: &Path) {
    host.exec_ok(
        NodeCommand::new("cp")
            .arg("-a")
            .arg(format!("{}/.", from.display()))
            .arg(to),
    )
    .unwrap();
}

#[test]
fn init_and_the_documented_steps_make_a_two_node_cluster_over_tls() {
    require_privileges!();
    let lab = private_mounts_lab(2);
    let (n1, n2) = (lab.node(1), lab.node(2));
    let etc = lab.dir().join("etc-hareconcile");
    let carried = lab.dir().join("carried");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&carried).unwrap();
    for host in [n1, n2] {
        host.mount_tmpfs(&etc).unwrap();
    }

    let out = init(n1, &etc);
    assert!(out.contains("this host is node n1 (10.77.0.1)"), "{out}");
    assert!(
        out.contains("on interface eth0") || out.contains("On n2: copy"),
        "{out}"
    );
    // Copy the directory to n2 and run the same command there.
    copy(n1, &etc, &carried);
    copy(n2, &carried, &etc);
    let out = init(n2, &etc);
    assert!(out.contains("this host is node n2 (10.77.0.2)"), "{out}");
    assert!(
        out.contains("kept  ") && out.contains("peer.token"),
        "{out}"
    );
    assert!(
        out.contains("wrote ") && out.contains("tls/node.crt"),
        "{out}"
    );

    let manifests = etc.join("manifests");
    let a1 = LabAgent::command(&lab, n1).manifests(&manifests).start();
    let _a2 = LabAgent::command(&lab, n2).manifests(&manifests).start();

    let web = lab.dir().join("web.yaml");
    std::fs::write(&web, web_vip_manifest("")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let (code, out) = code_and_text(&a1.hc(&["apply", "-f", web.to_str().unwrap()]));
        if code == Some(0) {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "apply kept failing:\n{out}\n{}",
            a1.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(out.contains("n2: virtualips/web created"), "{out}");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = a1.hc_stdout(&["status"]);
        let n2_row = status.lines().find(|l| l.starts_with("n2 ")).unwrap_or("");
        if n2_row.contains("yes") && n2_row.contains("in sync") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "n2 never in sync over TLS:\n{status}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = a1.log();
    assert!(log.contains("tls=true"), "{log}");
}
