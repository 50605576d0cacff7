//! Issue 15's migration check: keepalived on n1 with its original
//! keepalived.conf, and hareconcile on n2 with the manifests imported from
//! both nodes' files, run one virtual router: one master, and failover both
//! ways (n1 lost and back, keepalived stopped and started again).
//!
//! The files (`import/tests/fixtures/lab/`) use unicast, a password and a
//! track script, so the imported Cluster must carry the transport, the
//! nodes' addresses and the password exactly for the two to hear each
//! other.

mod vrrp_lab;

use std::path::{Path, PathBuf};

use hareconcile_import::keepalived::{self, NodeFile};
use hareconcile_import::{Import, Level, Options};
use hareconcile_test_support as support;
use vrrp_lab::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("import/tests/fixtures/lab")
        .join(name)
}

/// Both files imported, the manifests into n2's agent directory and the
/// password beside them, where the Cluster expects it.
fn import_for(lab: &Lab, host: &Host) -> Import {
    let options = Options {
        password_file: lab.dir().join("vrrp-password"),
        ..Options::default()
    };
    let import = keepalived::import(
        &[
            NodeFile::new("n1", fixture("n1.conf")),
            NodeFile::new("n2", fixture("n2.conf")),
        ],
        &options,
    )
    .unwrap();
    for secret in &import.secrets {
        support::write_secret(&secret.path, &secret.content);
    }
    let manifests: Vec<String> = import
        .objects
        .iter()
        .map(|o| serde_json::to_string_pretty(o).unwrap())
        .collect();
    Agent::write_manifest(lab, host, &manifests.join("\n---\n"));
    import
}

#[test]
fn keepalived_with_its_file_and_hareconcile_with_the_import_fail_over_both_ways() {
    let lab = two_nodes!(client);
    let (n1, n2, client) = lab.with_client();
    let import = import_for(&lab, n2);
    // Only keepalived's script security has no equivalent here.
    let review: Vec<(&str, usize)> = import
        .findings
        .iter()
        .filter(|f| f.level.needs_review())
        .map(|f| (f.subject.as_str(), f.at.as_ref().map_or(0, |at| at.line)))
        .collect();
    assert_eq!(
        review,
        [
            ("script_user", 8),
            ("enable_script_security", 9),
            ("script_user", 8),
            ("enable_script_security", 9)
        ]
    );
    assert!(import
        .findings
        .iter()
        .all(|f| f.level != Level::Placeholder));

    let original = std::fs::read_to_string(fixture("n1.conf")).unwrap();
    let keepalived = hareconcile_lab::start_keepalived_with(&lab, n1, &original).unwrap();
    let agent = Agent::start_with_manifests(&lab, n2);
    let all = || {
        logs(&[
            ("keepalived n1", &keepalived),
            ("hareconcile n2", &agent.process),
        ])
    };

    // One master: keepalived's n1 (priority 150), hareconcile's n2 backup.
    await_keepalived_master(&agent, || holds(n1), &all);
    assert_sole_holder(n1, n2, Duration::from_secs(3), &all);
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());

    // n1 lost: hareconcile takes over; n1 back: keepalived preempts.
    lab.node_loss(n1).unwrap();
    eventually(CONVERGE, "hareconcile never took over", &all, || holds(n2));
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
    lab.node_restore(n1).unwrap();
    eventually(CONVERGE, "keepalived did not preempt back", &all, || {
        holds(n1) && !holds(n2)
    });
    assert_sole_holder(n1, n2, Duration::from_secs(3), &all);

    // keepalived stopped (it hands over with priority 0), then started
    // again with the same file.
    let stopped_log = keepalived.log();
    keepalived.stop(Duration::from_secs(10)).unwrap();
    let all = || {
        format!(
            "--- keepalived n1 (stopped)\n{stopped_log}\n--- hareconcile n2\n{}",
            agent.log()
        )
    };
    eventually(
        CONVERGE,
        "hareconcile did not take over from a stopped keepalived",
        &all,
        || holds(n2) && !holds(n1),
    );
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
    let keepalived = hareconcile_lab::start_keepalived_with(&lab, n1, &original).unwrap();
    let all = || {
        logs(&[
            ("keepalived n1", &keepalived),
            ("hareconcile n2", &agent.process),
        ])
    };
    eventually(
        CONVERGE,
        "the restarted keepalived did not take the VIP back",
        &all,
        || holds(n1) && !holds(n2),
    );
    assert_sole_holder(n1, n2, Duration::from_secs(3), &all);
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
    // No advert was dropped for a password, version or address list the
    // two sides disagree on.
    let dropped = agent.status()["counters"]["dropped"].clone();
    for reason in ["auth", "version", "mismatch", "notPeer"] {
        assert!(
            dropped[reason].as_u64().unwrap_or(0) == 0,
            "adverts dropped for {reason}: {dropped}\n{}",
            all()
        );
    }
}
