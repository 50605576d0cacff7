//! Two-way sync (`direction: both`) between two lab nodes, each with its
//! own filesystem at the path and an sshd, n1 running the rounds: edits
//! flow both ways, a file edited on both is a conflict that keeps both
//! copies, and a node that was cut off rejoins without losing either
//! side's edits.
//!
//! No timing is asserted: every wait has a generous deadline that only
//! bounds how long a broken build takes to fail.

use hareconcile_test_support as support;

use std::time::Duration;

use hareconcile_lab::{require_privileges, Host};
use support::lab_data::{DataLab, Filesystem};
use support::lab_manifests::{cluster_manifest, ssh_manifest};
use support::{code_and_text, LabAgent as Agent};

const DEADLINE: Duration = Duration::from_secs(60);

/// Replication `conf` of the lab's path, both ways, n1 running the rounds.
fn manifest(setup: &DataLab) -> String {
    format!(
        "{cluster}---\napiVersion: hareconcile.io/v1alpha1\nkind: Replication\nmetadata: {{name: conf}}\n\
         spec: {{cluster: lab, source: {{node: n1}}, direction: both, path: {data}, method: rsync, \
         exclude: ['*.log'], rsync: {{continuous: true, interval: 1s, ssh: {ssh}}}}}\n",
        cluster = cluster_manifest((110, 100), ""),
        data = setup.data.display(),
        ssh = ssh_manifest(&setup.lab),
    )
}

fn start(setup: &DataLab, host: &Host) -> Agent {
    Agent::command(&setup.lab, host)
        .manifest(&manifest(setup))
        .env("HARECONCILE_LOG", "info,hareconcile_sync=debug")
        .start()
}

fn wait_until(what: &str, logs: &dyn Fn() -> String, done: impl FnMut() -> bool) {
    let what = format!("timed out waiting until {what}");
    support::eventually(DEADLINE, &what, logs, done);
}

#[test]
fn edits_flow_both_ways_conflicts_keep_both_copies_and_a_node_rejoins_without_loss() {
    require_privileges!();
    let setup = DataLab::two_nodes("srv/conf", Filesystem::Tmpfs);
    let (n1, n2) = (setup.lab.node(1), setup.lab.node(2));
    setup.write(n1, "adlists.list", "from n1");
    let a1 = start(&setup, n1);
    let a2 = start(&setup, n2);
    let logs = || {
        format!(
            "--- n1 events\n{}--- n1 log\n{}\n--- n2 log\n{}",
            a1.events(&["replication", "conf"]),
            a1.log(),
            a2.log()
        )
    };
    wait_until("n1's file reaches n2", &logs, || {
        setup.read(n2, "adlists.list").as_deref() == Some("from n1")
    });
    setup.write(n2, "custom.list", "10.0.0.5 nas");
    wait_until("n2's edit reaches n1", &logs, || {
        setup.read(n1, "custom.list").as_deref() == Some("10.0.0.5 nas")
    });
    setup.write(n2, "debug.log", "excluded");

    // Both edit the same file between two rounds: n2 is cut off for it.
    setup.lab.node_loss(n2).unwrap();
    setup.write(n1, "custom.list", "version of n1");
    setup.write(n2, "custom.list", "version of n2");
    // Meanwhile each side edits files the other does not touch.
    setup.write(n1, "only-n1.txt", "a");
    setup.write(n2, "only-n2.txt", "b");
    setup.write(n2, "adlists.list", "edited on n2 while away");
    setup.lab.node_restore(n2).unwrap();
    wait_until("n1 reports the conflict", &logs, || {
        a1.condition("replication", "conf", "Synced") == Some(("False".into(), "Conflict".into()))
    });
    // The rejoined node lost nothing, neither did the other.
    wait_until("the disjoint edits flowed both ways", &logs, || {
        [n1, n2].iter().all(|h| {
            setup.read(h, "only-n1.txt").is_some()
                && setup.read(h, "only-n2.txt").is_some()
                && setup.read(h, "adlists.list").as_deref() == Some("edited on n2 while away")
        })
    });
    assert_eq!(
        setup.read(n1, "custom.list").as_deref(),
        Some("version of n1")
    );
    assert_eq!(
        setup.read(n2, "custom.list").as_deref(),
        Some("version of n2")
    );
    assert_eq!(
        setup.read(n1, "debug.log"),
        None,
        "excluded files stay where they are"
    );
    let status = a1.object("replication", "conf")["status"].clone();
    assert_eq!(
        status["conflicts"]["n2"],
        serde_json::json!(["custom.list"]),
        "{status}"
    );
    let events = a1.events(&["replication", "conf"]);
    assert!(events.contains("ReplicationConflict"), "{events}");
    let (_, findings) = a1.drift();
    assert!(
        findings.iter().any(|f| f["reason"] == "Conflict"),
        "{findings:?}"
    );

    // Settled from n2's agent, keeping n1's version: n2 takes it. A node
    // that is not the Cluster's is refused as bad input.
    let resolve =
        |keep: &str| code_and_text(&a2.hc(&["replication", "resolve", "conf", "--keep", keep]));
    let (code, out) = resolve("n9");
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("\"n9\" is not a node of Cluster \"lab\""),
        "{out}"
    );
    let (code, out) = resolve("n1");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "Replication/conf: kept n1's version\n  n1: 0 files copied to n1, 1 from it, 0 deleted"
        ),
        "{out}"
    );
    for host in [n1, n2] {
        assert_eq!(
            setup.read(host, "custom.list").as_deref(),
            Some("version of n1"),
            "{}",
            host.name()
        );
    }
    wait_until("n1's rounds find no conflict", &logs, || {
        a1.condition("replication", "conf", "Synced")
            .is_some_and(|(s, _)| s == "True")
            && a1.object("replication", "conf")["status"]["conflicts"].is_null()
    });
    assert!(a2
        .events(&["replication", "conf"])
        .contains("ConflictResolved"));
    // Settled for good: later edits on either side flow again.
    setup.write(n2, "custom.list", "after resolve");
    wait_until("n2's next edit reaches n1", &logs, || {
        setup.read(n1, "custom.list").as_deref() == Some("after resolve")
    });
}
