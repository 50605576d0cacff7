//! An agent whose Cluster declares a quorum keeps a lease in a real etcd
//! (Debian's etcd-server, installed by scripts/install-test-deps.sh), and
//! says so: `status`'s QUORUM column, events, `drift`. An engine that stops
//! answering (frozen, as a host behind a dead link) makes the node fenced
//! and then without quorum; answering again, it holds a lease again.

use hareconcile_test_support as support;

// The quorum crate's own etcd for tests: one member on loopback.
#[path = "../quorum/tests/support/mod.rs"]
mod etcd;

use std::time::Duration;

use etcd::{etcd_available, Etcd};
use support::{eventually, Agent};

const CONVERGE: Duration = Duration::from_secs(30);

fn text(output: std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_lease_is_shown_fenced_and_lost_with_the_engine() {
    if !etcd_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let etcd = support::runtime().block_on(Etcd::start());
    let agent = Agent::start(dir.path(), &[]);
    let cluster = dir.path().join("cluster.yaml");
    std::fs::write(
        &cluster,
        format!(
            "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {{name: lab}}\n\
             spec:\n  nodes: [{{name: n1, address: 127.0.0.1}}]\n  \
             quorum: {{etcd: {{endpoints: [{}], leaseTTL: 2s}}}}\n",
            etcd.endpoint
        ),
    )
    .unwrap();
    let applied = agent.hc(&["apply", "-f", cluster.to_str().unwrap()]);
    assert!(applied.status.success(), "{}", text(applied));
    let status = || text(agent.hc(&["status"]));
    let events = || text(agent.hc(&["events"]));
    let explain = || format!("{}\n{}\n{}", status(), events(), agent.log());

    eventually(CONVERGE, "the lease was never held", &explain, || {
        status().contains("lease held (TTL 2s), engine reachable")
    });
    assert!(events().contains("LeaseAcquired"), "{}", events());

    etcd.freeze();
    eventually(CONVERGE, "the node never lost quorum", &explain, || {
        status().contains("NO QUORUM: no lease")
    });
    let seen = events();
    for reason in ["LeaseLost", "Fenced", "LeaseExpired"] {
        assert!(seen.contains(reason), "no {reason} event:\n{seen}");
    }
    let drift = text(agent.hc(&["drift", "-o", "json"]));
    assert!(drift.contains("NoQuorum"), "{drift}");

    etcd.thaw();
    eventually(CONVERGE, "the lease was never held again", &explain, || {
        status().contains("lease held (TTL 2s), engine reachable")
    });
}
