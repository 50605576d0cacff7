//! `virtualMac: true` on a real (namespace) LAN: the master holds the VIPs
//! on a macvlan with the virtual router MAC, so the client's neighbour
//! entry and the switch's forwarding table keep that MAC across a
//! failover, and a backup never puts it on the wire.
//!
//! Timing figures are printed, never asserted: deadlines are generous and
//! only bound how long a broken build takes to fail.

mod vrrp_lab;

use vrrp_lab::*;

/// The virtual router MACs of VRID 51 (0x33).
const VMAC4: &str = "00:00:5e:00:01:33";
const VMAC6: &str = "00:00:5e:00:02:33";
const VMAC4_DEV: &str = "vrrp.51";
const VMAC6_DEV: &str = "vrrp6.51";

const WITH_VMAC: Vrrp = Vrrp {
    virtual_mac: true,
    ..V3_MULTICAST
};

/// Whether `address` is configured on any interface of `host`.
fn holds_anywhere(host: &Host, address: impl Into<std::net::IpAddr>) -> bool {
    let address = address.into();
    let out = host.exec_ok(&["ip", "-o", "address", "show"]).unwrap();
    out.stdout
        .split_whitespace()
        .any(|word| word.split('/').next() == Some(address.to_string().as_str()))
}

/// Whether `holder` holds the IPv4 VIP on its virtual MAC interface and
/// `other` holds it nowhere.
fn sole_holder(holder: &Host, other: &Host) -> bool {
    holds_on(holder, VMAC4_DEV, vip()) && !holds_anywhere(other, vip())
}

/// Whether the link exists and is administratively up.
fn link_up(host: &Host, dev: &str) -> Option<bool> {
    let out = host.exec(&["ip", "-o", "link", "show", "dev", dev]).ok()?;
    if !out.success() {
        return None;
    }
    let flags = out.stdout.split('<').nth(1)?.split('>').next()?.to_string();
    Some(flags.split(',').any(|flag| flag == "UP"))
}

/// The LAN bridge port the bridge learned `mac` on, if it did.
fn learned_on(lab: &Lab, mac: &str) -> Option<String> {
    let out = std::process::Command::new("bridge")
        .args(["-n", &lab.lan_netns(), "fdb", "show", "br", &lab.bridge(0)])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|line| line.starts_with(mac))
        .and_then(|line| {
            let mut words = line.split_whitespace();
            words.find(|word| *word == "dev")?;
            words.next().map(str::to_string)
        })
}

/// Forgets the client's entry for `address`, pings it, and returns the MAC
/// the LAN answered with.
fn resolve(client: &Host, address: impl Into<std::net::IpAddr>) -> String {
    let address = address.into();
    let _ = client.exec(&["ip", "neigh", "flush", &address.to_string(), "dev", "eth0"]);
    assert!(client.reaches_within(address, CONVERGE).unwrap());
    neighbour(client, address)
}

/// While `holder` is master, for `period`: only it holds the VIPs, on its
/// virtual MAC interfaces, the bridge learned the virtual MACs on its port
/// only, and the other node's virtual MAC interfaces stay down.
fn assert_sole_vmac_holder(
    lab: &Lab,
    holder: &Host,
    other: &Host,
    period: Duration,
    logs: &dyn Fn() -> String,
) {
    let settled = || {
        holds_on(holder, VMAC4_DEV, vip())
            && holds_on(holder, VMAC6_DEV, vip6())
            && !holds_anywhere(other, vip())
            && !holds_anywhere(other, vip6())
    };
    assert!(
        wait_until(CONVERGE, settled),
        "{} never became the only holder\n{}",
        holder.name(),
        logs()
    );
    let port = holder.lan_port(0);
    // The bridge relearns the MACs from the new master's adverts.
    assert!(
        wait_until(CONVERGE, || learned_on(lab, VMAC4).as_ref() == Some(&port)
            && learned_on(lab, VMAC6).as_ref() == Some(&port)),
        "the bridge learned {VMAC4} on {:?} and {VMAC6} on {:?}, not {port}",
        learned_on(lab, VMAC4),
        learned_on(lab, VMAC6)
    );
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        assert!(settled(), "holders changed\n{}", logs());
        assert!(!holds(holder), "the VIP is on {}'s eth0 too", holder.name());
        for dev in [VMAC4_DEV, VMAC6_DEV] {
            assert_eq!(
                link_up(other, dev),
                Some(false),
                "{}'s {dev} is not down while backup",
                other.name()
            );
        }
        for mac in [VMAC4, VMAC6] {
            assert_eq!(
                learned_on(lab, mac).as_ref(),
                Some(&port),
                "{mac} moved off the master's port: the backup sent it"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_virtual_mac_follows_the_master_and_never_leaves_a_backup() {
    let lab = two_nodes!(client);
    // Strict reverse-path filtering, as some distributions set it: the
    // client's packets to the VIP arrive on the macvlan while the route
    // back to the client goes through eth0.
    for host in lab.nodes() {
        host.exec_ok(&["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"])
            .unwrap();
    }
    let pair = Pair::start(lab, WITH_VMAC.with_ipv6());
    let (lab, a1, a2) = (&pair.lab, &pair.a1, &pair.a2);
    let (n1, n2, client) = lab.with_client();
    let all = || pair.logs();

    assert_sole_vmac_holder(lab, n1, n2, Duration::from_secs(2), &all);
    assert_eq!(mac_of(n1, VMAC4_DEV), VMAC4);
    assert_eq!(mac_of(n1, VMAC6_DEV), VMAC6);
    let n1_mac = mac_of(n1, "eth0");
    let answered = resolve(client, vip());
    assert!(
        answered.contains(VMAC4),
        "the client resolved the VIP to {answered}, not {VMAC4} (n1's eth0 is {n1_mac})"
    );
    let answered = resolve(client, vip6());
    assert!(
        answered.contains(VMAC6),
        "the client resolved the IPv6 VIP to {answered}, not {VMAC6}"
    );
    // The node's own address stays on eth0's MAC: the macvlan hears the
    // same ARP requests and must not answer them. (The client keeps the
    // first answer, eth0's; but an interface that answers a request also
    // caches the asker, which shows a second answer.)
    n1.exec_ok(&["ip", "neigh", "flush", "dev", VMAC4_DEV])
        .unwrap();
    let answered = resolve(client, n1.ipv4(0));
    assert!(
        answered.contains(&n1_mac),
        "the client resolved n1's own address to {answered}, not eth0's {n1_mac}"
    );
    let cached = n1
        .exec_ok(&["ip", "neigh", "show", "dev", VMAC4_DEV])
        .unwrap()
        .stdout;
    assert!(
        !cached.contains(&client.ipv4(0).to_string()),
        "{VMAC4_DEV} answered the client's ARP request for n1's own address: {cached}"
    );
    // Replies to the client leave through eth0 (the subnet's first route):
    // their ARP must not have taught the client eth0's MAC for the VIP.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        neighbour(client, vip()).contains(VMAC4),
        "{}",
        neighbour(client, vip())
    );
    assert!(
        wait_until(CONVERGE, || {
            let status = a1.status();
            status["virtualMac"]["interface"] == VMAC4_DEV
                && status["virtualMac"]["mac"] == VMAC4
                && status["instances"][1]["virtualMac"]["interface"] == VMAC6_DEV
        }),
        "n1's status does not show its virtual MAC interfaces: {}",
        a1.status()
    );

    lab.node_loss(n1).unwrap();
    let lost = Instant::now();
    eventually(CONVERGE, "n2 never took over", &all, || {
        holds_on(n2, VMAC4_DEV, vip()) && holds_on(n2, VMAC6_DEV, vip6())
    });
    println!("node loss: n2 holds the VIPs after {:?}", lost.elapsed());
    // No gratuitous ARP needed for the client: the MAC it has is still right.
    assert!(neighbour(client, vip()).contains(VMAC4));
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
    let answered = resolve(client, vip());
    assert!(
        answered.contains(VMAC4),
        "after failover the client resolved the VIP to {answered}, not {VMAC4}"
    );
    assert!(resolve(client, vip6()).contains(VMAC6));
    assert!(
        wait_until(CONVERGE, || learned_on(lab, VMAC4) == Some(n2.lan_port(0))),
        "the bridge did not learn {VMAC4} on n2's port"
    );

    lab.node_restore(n1).unwrap();
    assert_sole_vmac_holder(lab, n1, n2, Duration::from_secs(2), &all);
    assert!(resolve(client, vip()).contains(VMAC4));

    // A clean stop releases the VIPs and removes the interfaces.
    pair.a1.process.stop(Duration::from_secs(10)).unwrap();
    eventually(
        CONVERGE,
        "n2 did not take over from the stopped n1",
        &|| a2.log(),
        || holds_on(n2, VMAC4_DEV, vip()),
    );
    assert_eq!(link_up(n1, VMAC4_DEV), None, "n1 left {VMAC4_DEV} behind");
    assert_eq!(link_up(n1, VMAC6_DEV), None, "n1 left {VMAC6_DEV} behind");
}

#[test]
fn self_healing_works_on_the_virtual_mac_interface() {
    let lab = two_nodes!();
    let (n1, n2) = lab.pair();
    let a1 = Agent::start(&lab, n1, WITH_VMAC, (110, 100));
    let mut a2 = Agent::start(&lab, n2, WITH_VMAC, (110, 100));
    let cidr = format!("{}/24", vip());
    assert!(
        wait_until(CONVERGE, || holds_on(n1, VMAC4_DEV, vip())
            && !holds_anywhere(n2, vip())),
        "n1 never became the only holder\n{}",
        pair_logs(&a1, &a2)
    );

    // Deleted by hand on the master: back on the virtual MAC interface.
    n1.exec_ok(&["ip", "address", "del", &cidr, "dev", VMAC4_DEV])
        .unwrap();
    let deleted = Instant::now();
    assert!(
        wait_until(CONVERGE, || holds_on(n1, VMAC4_DEV, vip())),
        "the VIP was not restored\n{}",
        pair_logs(&a1, &a2)
    );
    println!("VIP deleted by hand: back after {:?}", deleted.elapsed());

    // Added by hand where it does not belong: on the backup, either
    // interface; on the master's own eth0.
    for (host, dev) in [(n2, VMAC4_DEV), (n2, "eth0"), (n1, "eth0")] {
        host.exec_ok(&["ip", "address", "add", &cidr, "dev", dev])
            .unwrap();
        assert!(
            wait_until(CONVERGE, || !holds_on(host, dev, vip())),
            "the VIP added on {}'s {dev} stayed\n{}",
            host.name(),
            pair_logs(&a1, &a2)
        );
    }
    assert!(holds_on(n1, VMAC4_DEV, vip()), "{}", pair_logs(&a1, &a2));

    // The master's virtual MAC interface taken down, then deleted, by
    // hand: up again with the right MAC and the VIP, each time recorded.
    for change in [
        vec!["link", "set", VMAC4_DEV, "down"],
        vec!["link", "del", VMAC4_DEV],
    ] {
        n1.exec_ok(&[&["ip"], change.as_slice()].concat()).unwrap();
        assert!(
            wait_until(CONVERGE, || link_up(n1, VMAC4_DEV) == Some(true)
                && holds_on(n1, VMAC4_DEV, vip())),
            "after ip {change:?} the virtual MAC interface was not restored
{}",
            pair_logs(&a1, &a2)
        );
        assert_eq!(mac_of(n1, VMAC4_DEV), VMAC4);
    }
    let events = a1.events(&[]);
    assert!(events.contains("RestoredVirtualMac"), "{events}");

    // A crashed backup's leftovers: a VIP on its virtual MAC interface,
    // whose MAC someone changed, and one on eth0. The restarted agent
    // removes both and recreates the interface with the right MAC.
    a2.process.signal(libc::SIGKILL);
    let _ = a2.process.wait_timeout(Duration::from_secs(10));
    for dev in [VMAC4_DEV, "eth0"] {
        n2.exec_ok(&["ip", "address", "add", &cidr, "dev", dev])
            .unwrap();
    }
    n2.exec_ok(&[
        "ip",
        "link",
        "set",
        VMAC4_DEV,
        "address",
        "02:00:00:00:00:51",
    ])
    .unwrap();
    a2 = Agent::start_with_manifests(&lab, n2);
    assert!(
        wait_until(CONVERGE, || a2.vrrp_state().as_deref() == Some("Backup")),
        "n2 did not come back as backup\n{}",
        pair_logs(&a1, &a2)
    );
    assert!(
        !holds_anywhere(n2, vip()),
        "n2 kept a stale VIP\n{}",
        pair_logs(&a1, &a2)
    );
    assert_eq!(mac_of(n2, VMAC4_DEV), VMAC4);
    assert_eq!(link_up(n2, VMAC4_DEV), Some(false));
    assert!(holds_on(n1, VMAC4_DEV, vip()), "{}", pair_logs(&a1, &a2));
}

#[test]
fn keepalived_use_vmac_interop_keeps_the_virtual_mac_across_failovers() {
    let lab = two_nodes!(client);
    let (n1, n2, client) = lab.with_client();
    // keepalived (2.2.7) sets arp_ignore on eth0 but not arp_announce:
    // replies from the VIP then leave through eth0 after an ARP request
    // giving the VIP as sender, and the client learns eth0's MAC for it.
    // hareconcile sets it (see vmac.rs); do it for keepalived's node.
    n2.exec_ok(&["sysctl", "-qw", "net.ipv4.conf.eth0.arp_announce=2"])
        .unwrap();
    let (agent, keepalived) = start_against_keepalived(&lab, WITH_VMAC, WITH_VMAC, (100, 110));
    let all = || interop_logs(&agent, &keepalived);
    await_keepalived_master(&agent, || sole_holder(n2, n1), &all);
    assert!(resolve(client, vip()).contains(VMAC4), "{}", all());

    lab.node_loss(n2).unwrap();
    eventually(CONVERGE, "hareconcile never took over", &all, || {
        holds_on(n1, VMAC4_DEV, vip())
    });
    assert!(resolve(client, vip()).contains(VMAC4), "{}", all());

    lab.node_restore(n2).unwrap();
    eventually(CONVERGE, "keepalived did not preempt back", &all, || {
        sole_holder(n2, n1)
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        assert!(
            sole_holder(n2, n1),
            "both or neither hold the VIP\n{}",
            all()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(resolve(client, vip()).contains(VMAC4), "{}", all());
}

#[test]
fn unicast_masters_hear_each_other_after_a_partition() {
    let pair = Pair::start(two_nodes!(client), WITH_VMAC.unicast());
    let (n1, n2, client) = pair.lab.with_client();
    let lab = &pair.lab;
    let all = || pair.logs();
    eventually(CONVERGE, "n1 never became the only master", &all, || {
        sole_holder(n1, n2)
    });
    assert!(resolve(client, vip()).contains(VMAC4));

    // Both become master, and forget each other's MAC meanwhile: healed,
    // each must resolve the other afresh while both virtual MACs are up.
    lab.node_loss(n1).unwrap();
    eventually(CONVERGE, "n2 never took over", &all, || {
        holds_on(n2, VMAC4_DEV, vip())
    });
    assert!(resolve(client, vip()).contains(VMAC4));
    for host in [n1, n2] {
        host.exec_ok(&["ip", "neigh", "flush", "all"]).unwrap();
    }
    lab.node_restore(n1).unwrap();
    eventually(
        CONVERGE,
        "n1 and n2 did not settle after the partition",
        &all,
        || sole_holder(n1, n2),
    );
    assert!(resolve(client, vip()).contains(VMAC4));
}
