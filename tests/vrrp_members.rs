//! `acceptFrom: members` on a real (namespace) LAN: a host that is not a
//! node of the Cluster multicasts adverts with a higher priority for the
//! same virtual router, and the master keeps the VIP.
//!
//! Without the filter the same adverts make n1 a backup at once (RFC 5798
//! preemption by a higher priority), so the test fails if they count.

mod vrrp_lab;

use vrrp_lab::*;

#[test]
fn a_host_that_is_not_a_member_cannot_take_the_vip() {
    let lab = two_nodes!(client);
    let (n1, _, stranger) = lab.with_client();
    // n1 alone runs an agent; the Cluster lists n1 and n2, not the client.
    let dir = Agent::manifests_of(&lab, n1);
    write_manifests(&dir, V3_MULTICAST, (110, 100));
    let lab_yaml = dir.join("lab.yaml");
    let manifest = std::fs::read_to_string(&lab_yaml).unwrap();
    let members_only = manifest.replace("  vrrp: {", "  vrrp: {acceptFrom: members, ");
    assert_ne!(manifest, members_only, "the Cluster's vrrp line moved");
    std::fs::write(&lab_yaml, members_only).unwrap();
    let agent = Agent::start_with_manifests(&lab, n1);
    eventually(CONVERGE, "n1 never became master", &|| agent.log(), || {
        holds(n1)
    });

    let keepalived = start_keepalived(&lab, stranger, V3_MULTICAST, 254, n1.ipv4(0));
    let all = || {
        logs(&[
            ("hareconcile n1", &agent.process),
            ("keepalived on the client", &keepalived),
        ])
    };
    let not_peer = || agent.status()["counters"]["dropped"]["notPeer"].as_u64();
    // Status counters are refreshed every few seconds; keepalived sends
    // only once it made itself master.
    assert!(
        wait_until(Duration::from_secs(90), || not_peer() > Some(3)),
        "no advert from the stranger was dropped: {}\n{}",
        agent.status(),
        all()
    );
    assert!(holds(n1), "n1 gave the VIP up\n{}", all());
    assert_eq!(agent.vrrp_state().as_deref(), Some("Master"), "{}", all());
    // Initialize -> Backup -> Master, and nothing since.
    assert_eq!(agent.status()["transitions"], 2, "n1 flapped\n{}", all());
    assert_eq!(agent.status()["counters"]["advertsReceived"], 0);
}
