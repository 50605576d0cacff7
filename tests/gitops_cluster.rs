//! Two nodes following one repository converge on each commit, and
//! `drift` from either node sees the other.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hareconcile_lab::{require_privileges, Host, Lab, NodeCommand, Process};

const BIN: &str = env!("CARGO_BIN_EXE_hareconcile");

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn commit_manifests(repo: &Path, token: &Path, vrid: u8, message: &str) {
    std::fs::write(
        repo.join("lab.yaml"),
        format!(
            "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {{name: lab}}\nspec:\n  nodes:\n    - {{name: n1, address: 10.77.0.1, priority: 110}}\n    - {{name: n2, address: 10.77.0.2, priority: 100}}\n  vrrp: {{version: 3, advertInterval: 100ms}}\n  peer: {{tokenFile: {}}}\n---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {{name: web}}\nspec: {{cluster: lab, interface: eth0, vrid: {vrid}, addresses: [10.77.0.100/24]}}\n",
            token.display()
        ),
    )
    .unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
}

fn start(lab: &Lab, host: &Host, url: &str) -> (Process, std::path::PathBuf) {
    let dir = lab.dir().join(format!("agent-{}", host.name()));
    let socket = dir.join("agent.sock");
    let process = host
        .spawn(
            NodeCommand::new(BIN)
                .args([
                    "agent",
                    "--node",
                    host.name(),
                    "--git-url",
                    url,
                    "--git-interval",
                    "1s",
                ])
                .arg("--state-dir")
                .arg(dir.join("state"))
                .arg("--socket")
                .arg(&socket),
        )
        .unwrap();
    (process, socket)
}

fn hc(socket: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("HARECONCILE_SOCKET", socket)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn vrid(socket: &Path) -> Option<u64> {
    let (_, out) = hc(socket, &["get", "vip", "web", "-o", "json"]);
    serde_json::from_str::<serde_json::Value>(&out).ok()?["spec"]["vrid"].as_u64()
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn both_nodes_apply_each_commit_and_report_drift_of_either() {
    require_privileges!();
    let lab = Lab::builder().nodes(2).client(false).build().unwrap();
    let token = lab.dir().join("peer.token");
    std::fs::write(&token, "lab-token\n").unwrap();
    let repo = lab.dir().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    commit_manifests(&repo, &token, 51, "first");
    let url = format!("file://{}", repo.display());
    let (p1, s1) = start(&lab, lab.node(1), &url);
    let (_p2, s2) = start(&lab, lab.node(2), &url);
    until("both nodes apply the first commit", || {
        vrid(&s1) == Some(51) && vrid(&s2) == Some(51)
    });
    until("no drift, seen from n2", || {
        hc(&s2, &["drift", "--exit-code"]).0 == Some(0)
    });

    commit_manifests(&repo, &token, 52, "move web");
    let committed = Instant::now();
    until("both nodes apply the change", || {
        vrid(&s1) == Some(52) && vrid(&s2) == Some(52)
    });
    eprintln!(
        "both nodes applied the commit {:?} after it was made",
        committed.elapsed()
    );
    until("no drift after the change", || {
        hc(&s1, &["drift", "--exit-code"]).0 == Some(0)
    });

    p1.stop(Duration::from_secs(5)).unwrap();
    until("n2 reports n1 unreachable", || {
        let (code, out) = hc(&s2, &["drift", "--exit-code"]);
        code == Some(1)
            && out
                .lines()
                .any(|l| l.starts_with("n1 ") && l.contains("NodeUnreachable"))
    });
}
