//! Each fault cuts what it should, only that, and its undo restores traffic.

use std::time::Duration;

use hareconcile_lab::{require_privileges, Host, Lab};

const SETTLE: Duration = Duration::from_secs(3);

fn reaches(from: &Host, to: &Host) -> bool {
    from.reaches_within(to.ipv4(0), SETTLE).unwrap()
}

fn cut(from: &Host, to: &Host) -> bool {
    !from.can_reach(to.ipv4(0)).unwrap()
}

#[test]
fn node_loss_cuts_the_node_off_and_restore_brings_it_back() {
    require_privileges!();
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();
    let (n1, n2, client) = (lab.node(1), lab.node(2), lab.client());
    assert!(reaches(client, n1));

    lab.node_loss(n1).unwrap();
    assert!(cut(client, n1));
    assert!(cut(n2, n1));
    assert!(reaches(client, n2));
    // The lost node's own link stays up: it simply hears nothing.
    let link = n1
        .exec_ok(&["ip", "-o", "link", "show", "dev", "eth0"])
        .unwrap()
        .stdout;
    assert!(link.contains("state UP"), "{link}");

    lab.node_restore(n1).unwrap();
    assert!(reaches(client, n1));
    assert!(reaches(n2, n1));
}

#[test]
fn a_partition_cuts_between_sides_but_not_within_and_heals() {
    require_privileges!();
    let lab = Lab::builder().nodes(3).client(true).build().unwrap();
    let (n1, n2, n3, client) = (lab.node(1), lab.node(2), lab.node(3), lab.client());

    lab.partition(&[n1, n2], &[n3, client]).unwrap();
    assert!(cut(n1, n3));
    assert!(cut(n3, n2));
    assert!(cut(client, n1));
    assert!(reaches(n1, n2));
    assert!(reaches(n3, client));

    lab.heal_partitions().unwrap();
    assert!(reaches(n1, n3));
    assert!(reaches(client, n2));
}

#[test]
fn full_packet_loss_cuts_and_zero_restores() {
    require_privileges!();
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();
    let (n1, n2, client) = (lab.node(1), lab.node(2), lab.client());

    lab.packet_loss(n1, 100).unwrap();
    assert!(cut(client, n1));
    assert!(cut(n1, n2));
    assert!(reaches(client, n2));

    lab.packet_loss(n1, 0).unwrap();
    assert!(reaches(client, n1));
    assert!(reaches(n1, n2));
}

#[test]
fn partial_packet_loss_drops_some_but_not_all() {
    require_privileges!();
    let lab = Lab::builder().nodes(1).client(true).build().unwrap();
    let (n1, client) = (lab.node(1), lab.client());
    assert!(reaches(client, n1));

    lab.packet_loss(n1, 50).unwrap();
    let target = n1.ipv4(0).to_string();
    let out = client
        .exec(&[
            "ping", "-n", "-q", "-c", "100", "-i", "0.002", "-W", "0.2", &target,
        ])
        .unwrap();
    let received: u32 = out
        .stdout
        .split(", ")
        .find_map(|part| part.strip_suffix(" received"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {}", out.stdout));
    // 50% each way: a round trip survives 25% of the time.
    assert!(
        (5..=60).contains(&received),
        "{received}/100 answered: {}",
        out.stdout
    );
}

#[test]
fn link_down_cuts_and_link_up_restores_with_addresses() {
    require_privileges!();
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();
    let (n1, n2, client) = (lab.node(1), lab.node(2), lab.client());

    lab.link_down(n2, 0).unwrap();
    assert!(cut(client, n2));
    assert!(cut(n2, n1));
    assert!(reaches(client, n1));

    lab.link_up(n2, 0).unwrap();
    assert!(reaches(client, n2));
    assert!(client.reaches_within(n2.ipv6(0), SETTLE).unwrap());
}

#[test]
fn heal_all_undoes_every_fault_at_once() {
    require_privileges!();
    let lab = Lab::builder().nodes(3).client(true).build().unwrap();
    let (n1, n2, n3, client) = (lab.node(1), lab.node(2), lab.node(3), lab.client());

    lab.node_loss(n1).unwrap();
    lab.link_down(n2, 0).unwrap();
    lab.packet_loss(n3, 100).unwrap();
    lab.partition(&[client], &[n1, n2, n3]).unwrap();
    assert!(cut(client, n3));

    lab.heal_all().unwrap();
    for node in lab.nodes() {
        assert!(reaches(client, node), "client -> {}", node.name());
    }
    assert!(reaches(n1, n2));
}
