//! Two nodes following one repository converge on each commit, and
//! `drift` from either node sees the other.

use hareconcile_test_support as support;

use std::path::Path;
use std::time::{Duration, Instant};

use hareconcile_lab::{require_privileges, Host, Lab};
use support::lab_manifests::peer_token_file;
use support::{git, stdout, LabAgent};

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

fn start(lab: &Lab, host: &Host, url: &str) -> LabAgent {
    LabAgent::command(lab, host)
        .args(["--git-url", url, "--git-interval", "1s"])
        .start()
}

fn vrid(agent: &LabAgent) -> Option<u64> {
    agent.object("vip", "web")["spec"]["vrid"].as_u64()
}

/// `drift --exit-code`: its exit code and stdout.
fn drift(agent: &LabAgent) -> (Option<i32>, String) {
    let out = agent.hc(&["drift", "--exit-code"]);
    (out.status.code(), stdout(&out))
}

fn until(what: &str, done: impl FnMut() -> bool) {
    let what = format!("timed out: {what}");
    support::eventually(Duration::from_secs(20), &what, &String::new, done);
}

#[test]
fn both_nodes_apply_each_commit_and_report_drift_of_either() {
    require_privileges!();
    let lab = Lab::builder().nodes(2).client(false).build().unwrap();
    let token = peer_token_file(&lab, "lab-token\n");
    let repo = lab.dir().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    commit_manifests(&repo, &token, 51, "first");
    let url = format!("file://{}", repo.display());
    let a1 = start(&lab, lab.node(1), &url);
    let a2 = start(&lab, lab.node(2), &url);
    until("both nodes apply the first commit", || {
        vrid(&a1) == Some(51) && vrid(&a2) == Some(51)
    });
    until("no drift, seen from n2", || drift(&a2).0 == Some(0));

    commit_manifests(&repo, &token, 52, "move web");
    let committed = Instant::now();
    until("both nodes apply the change", || {
        vrid(&a1) == Some(52) && vrid(&a2) == Some(52)
    });
    eprintln!(
        "both nodes applied the commit {:?} after it was made",
        committed.elapsed()
    );
    until("no drift after the change", || drift(&a1).0 == Some(0));

    a1.process.stop(Duration::from_secs(5)).unwrap();
    until("n2 reports n1 unreachable", || {
        let (code, out) = drift(&a2);
        code == Some(1)
            && out
                .lines()
                .any(|l| l.starts_with("n1 ") && l.contains("NodeUnreachable"))
    });
}
