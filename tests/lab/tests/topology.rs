//! A lab's hosts reach each other, over IPv4, IPv6 ULAs and link-local
//! addresses, on every LAN; labs do not see each other.

use std::time::Duration;

use hareconcile_lab::{require_privileges, Lab};

const SETTLE: Duration = Duration::from_secs(3);

#[test]
fn three_nodes_and_the_client_reach_each_other() {
    require_privileges!();
    let lab = Lab::builder()
        .nodes(3)
        .lans(1)
        .client(true)
        .build()
        .unwrap();
    for from in lab.hosts() {
        for to in lab.hosts().iter().filter(|to| to.name() != from.name()) {
            assert!(
                from.reaches_within(to.ipv4(0), SETTLE).unwrap(),
                "{} -> {} ({})",
                from.name(),
                to.name(),
                to.ipv4(0)
            );
        }
    }
    assert_eq!(lab.client().ipv4(0).to_string(), "10.77.0.250");
    assert!(lab
        .client()
        .reaches_within(lab.node(3).ipv6(0), SETTLE)
        .unwrap());
}

#[test]
fn every_interface_has_its_addresses_and_a_usable_link_local_one() {
    require_privileges!();
    let lab = Lab::builder()
        .nodes(2)
        .lans(2)
        .client(true)
        .build()
        .unwrap();
    let n2 = lab.node(2);
    let eth1 = n2
        .exec_ok(&["ip", "-o", "address", "show", "dev", "eth1"])
        .unwrap()
        .stdout;
    assert!(eth1.contains("inet 10.78.0.2/24"), "{eth1}");
    assert!(eth1.contains("inet6 fd78::2/64"), "{eth1}");
    assert!(eth1.contains("inet6 fe80::"), "{eth1}");
    assert!(!eth1.contains("tentative"), "{eth1}");
    let lo = n2
        .exec_ok(&["ip", "-o", "link", "show", "dev", "lo"])
        .unwrap()
        .stdout;
    assert!(lo.contains("UP"), "{lo}");

    assert!(lab.client().reaches_within(n2.ipv4(1), SETTLE).unwrap());
    assert!(lab.node(1).reaches_within(n2.ipv6(1), SETTLE).unwrap());
    let link_local = n2
        .exec_ok(&[
            "ip", "-6", "-o", "address", "show", "dev", "eth0", "scope", "link",
        ])
        .unwrap()
        .stdout;
    let address = link_local
        .split_whitespace()
        .find_map(|word| word.strip_suffix("/64").filter(|w| w.starts_with("fe80::")))
        .expect("a link-local address");
    let scoped = format!("{address}%eth0");
    assert!(
        lab.node(1)
            .exec(&["ping", "-n", "-q", "-c", "1", "-W", "2", &scoped])
            .unwrap()
            .success(),
        "n1 cannot reach n2's link-local {scoped}"
    );
}

#[test]
fn two_labs_in_one_process_do_not_collide() {
    require_privileges!();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Lab::builder().nodes(2).client(false).build().unwrap());
        let b = s.spawn(|| Lab::builder().nodes(2).client(false).build().unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.id(), b.id());
    assert_ne!(a.node(1).netns(), b.node(1).netns());
    // Same addresses, separate networks: a fault in one lab leaves the other alone.
    assert_eq!(a.node(2).ipv4(0), b.node(2).ipv4(0));
    a.node_loss(a.node(2)).unwrap();
    assert!(!a.node(1).can_reach(a.node(2).ipv4(0)).unwrap());
    assert!(b.node(1).reaches_within(b.node(2).ipv4(0), SETTLE).unwrap());
}
