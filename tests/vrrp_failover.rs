//! The VRRP shell on a real (namespace) LAN: hareconcile agents elect a
//! master, move the VIP on node loss, preempt back, hand over on SIGTERM,
//! restore a VIP deleted by hand, and interoperate with Debian's keepalived
//! (both elections, failover both ways, then a minute without a flap),
//! and clear the VIP a SIGKILLed agent left behind when restarted.
//!
//! Timing figures are printed, never asserted: deadlines are generous and
//! only bound how long a broken build takes to fail.

mod vrrp_lab;

use vrrp_lab::*;

/// Whether `agent` heard the master leave: its advert of priority 0, sent
/// as it stops, lets the backup take over at once.
fn heard_leaving(agent: &Agent) -> bool {
    agent.log().contains("master is leaving (priority 0)")
}

#[test]
fn agents_elect_fail_over_on_node_loss_and_preempt_back() {
    let pair = Pair::start(two_nodes!(client), V3_MULTICAST);
    let (n1, n2, client) = pair.lab.with_client();
    let (a1, a2, lab) = (&pair.a1, &pair.a2, &pair.lab);
    let all = || pair.logs();

    eventually(CONVERGE, "n1 never became master", &all, || holds(n1));
    assert_sole_holder(n1, n2, Duration::from_secs(1), &all);
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
    assert!(
        wait_until(CONVERGE, || a1.notified() == ["BACKUP", "MASTER"]),
        "n1's notify hooks: {:?}\n{}",
        a1.notified(),
        all()
    );
    assert!(
        wait_until(CONVERGE, || a2.notified().last().map(String::as_str)
            == Some("BACKUP")),
        "n2's notify hooks: {:?}",
        a2.notified()
    );
    assert!(
        wait_until(CONVERGE, || a1.vrrp_state().as_deref() == Some("Master")
            && a2.vrrp_state().as_deref() == Some("Backup")),
        "status: n1 {:?}, n2 {:?}",
        a1.vrrp_state(),
        a2.vrrp_state()
    );
    // The wide table shows what the backup observes: its role, the master
    // and the adverts it received (counters are refreshed every few seconds).
    let backup_row = || {
        let wide = a2.hc(&["get", "vip", "-o", "wide"]);
        String::from_utf8_lossy(&wide.stdout)
            .lines()
            .find(|l| l.starts_with("web "))
            .map(str::to_string)
            .unwrap_or_default()
    };
    let received = |row: &str| {
        row.split_whitespace().find_map(|word| {
            let (sent, received) = word.split_once('/')?;
            sent.parse::<u64>().ok()?;
            received.parse::<u64>().ok()
        })
    };
    assert!(
        wait_until(CONVERGE, || {
            let row = backup_row();
            row.contains("Backup") && row.contains("10.77.0.1 ") && received(&row) > Some(0)
        }),
        "get vip -o wide on n2: {}",
        backup_row()
    );

    lab.node_loss(n1).unwrap();
    let lost = Instant::now();
    eventually(CONVERGE, "n2 never took over", &all, || holds(n2));
    println!("node loss: n2 holds the VIP after {:?}", lost.elapsed());
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());

    lab.node_restore(n1).unwrap();
    eventually(CONVERGE, "n1 did not preempt back", &all, || {
        holds(n1) && !holds(n2)
    });
    assert_sole_holder(n1, n2, Duration::from_secs(2), &all);
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
}

/// Both directions against keepalived as n2: keepalived higher (it holds
/// the VIP, loses it on node loss, preempts back), then hareconcile higher.
fn interop_with_keepalived(lab: TwoNodes, vrrp: Vrrp) {
    let (n1, n2, client) = lab.with_client();

    let (agent, keepalived) = start_against_keepalived(&lab, vrrp, vrrp, (100, 110));
    let all = || interop_logs(&agent, &keepalived);
    await_keepalived_master(&agent, || holds(n2), &all);
    assert_sole_holder(n2, n1, Duration::from_secs(2), &all);
    lab.node_loss(n2).unwrap();
    eventually(CONVERGE, "hareconcile never took over", &all, || holds(n1));
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
    lab.node_restore(n2).unwrap();
    eventually(CONVERGE, "keepalived did not preempt back", &all, || {
        holds(n2) && !holds(n1)
    });
    assert_sole_holder(n2, n1, Duration::from_secs(2), &all);
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
    agent.process.stop(Duration::from_secs(10)).unwrap();
    keepalived.stop(Duration::from_secs(10)).unwrap();
    assert!(
        wait_until(CONVERGE, || !holds(n1) && !holds(n2)),
        "a VIP outlived its daemon"
    );

    let (agent, keepalived) = start_against_keepalived(&lab, vrrp, vrrp, (120, 110));
    let all = || interop_logs(&agent, &keepalived);
    eventually(
        CONVERGE,
        "hareconcile (higher) never became the only master",
        &all,
        || holds(n1) && !holds(n2),
    );
    assert_sole_holder(n1, n2, Duration::from_secs(2), &all);
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
    lab.node_loss(n1).unwrap();
    eventually(CONVERGE, "keepalived never took over", &all, || holds(n2));
    lab.node_restore(n1).unwrap();
    eventually(CONVERGE, "hareconcile did not preempt back", &all, || {
        holds(n1) && !holds(n2)
    });
    // No flapping for a minute: n1 the only holder at every sample, and
    // hareconcile's state not changed once, even between samples, while
    // the next lab test runs beside it.
    let transitions = agent.status()["transitions"].clone();
    lab.share_the_machine();
    assert_sole_holder(n1, n2, Duration::from_secs(60), &all);
    assert_eq!(
        agent.status()["transitions"],
        transitions,
        "hareconcile's state changed while it should have stayed master\n{}",
        all()
    );
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
}

/// VRRPv2 with the password keepalived's `auth_type PASS` sends.
const V2_PASSWORD: Vrrp = Vrrp {
    version: 2,
    advert: Duration::from_secs(1),
    password: Some("s3cret"),
    ..V3_MULTICAST
};

#[test]
fn keepalived_interop_vrrp3_multicast() {
    interop_with_keepalived(two_nodes!(client), V3_MULTICAST);
}

#[test]
fn keepalived_interop_vrrp2_with_password() {
    interop_with_keepalived(two_nodes!(client), V2_PASSWORD);
}

#[test]
fn keepalived_interop_vrrp3_unicast() {
    interop_with_keepalived(two_nodes!(client), V3_MULTICAST.unicast());
}

#[test]
fn sigterm_on_the_master_hands_over_with_priority_zero() {
    // At 1 s adverts a silent master is noticed after ~3.6 s; priority 0
    // lets the backup take over after Skew_Time (~0.6 s) instead.
    let pair = Pair::start(two_nodes!(), V3_MULTICAST.every(Duration::from_secs(1)));
    let (n1, n2) = pair.lab.pair();
    let a2 = &pair.a2;
    pair.eventually("n1 never became master, n2 backup", || {
        holds(n1) && a2.vrrp_state().as_deref() == Some("Backup")
    });

    let stopping = Instant::now();
    let status = pair.a1.process.stop(Duration::from_secs(10)).unwrap();
    let exited = stopping.elapsed();
    eventually(CONVERGE, "n2 never took over", &|| a2.log(), || holds(n2));
    println!(
        "SIGTERM: n1 exited ({status}) after {exited:?}, n2 held the VIP after {:?}",
        stopping.elapsed()
    );
    assert!(!holds(n1), "the stopped master kept the VIP");
    assert!(heard_leaving(a2), "n2 never heard it\n{}", a2.log());
}

#[test]
fn a_vip_deleted_on_the_master_is_restored() {
    let pair = Pair::start(two_nodes!(), V3_MULTICAST);
    let (n1, n2) = pair.lab.pair();
    pair.assert_sole_holder(n1, n2, Duration::from_millis(500));
    let cidr = format!("{}/24", vip());
    n1.exec_ok(&["ip", "address", "del", &cidr, "dev", "eth0"])
        .unwrap();
    let deleted = Instant::now();
    pair.eventually("the VIP was not restored", || holds(n1));
    println!("VIP deleted by hand: back after {:?}", deleted.elapsed());
    pair.assert_sole_holder(n1, n2, Duration::from_millis(500));
}

#[test]
fn link_down_faults_the_master_and_the_backup_takes_over() {
    let pair = Pair::start(two_nodes!(), V3_MULTICAST);
    let (lab, a1) = (&pair.lab, &pair.a1);
    let (n1, n2) = lab.pair();
    let all = || pair.logs();
    eventually(CONVERGE, "n1 never became master", &all, || holds(n1));

    lab.link_down(n1, 0).unwrap();
    eventually(CONVERGE, "n2 never took over", &all, || holds(n2));
    // The fault path (netlink link event, then address removal) races
    // n2's Master_Down timer; under CI load it has lost by a few ms, so
    // allow it time, and fail only if n1 keeps the address.
    let taken_over = Instant::now();
    eventually(CONVERGE, "a faulted node kept the VIP", &all, || !holds(n1));
    println!(
        "n1 dropped the VIP {:?} after n2 held it",
        taken_over.elapsed()
    );
    assert!(
        wait_until(CONVERGE, || {
            let status = a1.status();
            let ready = &status["conditions"][0];
            a1.vrrp_state().as_deref() == Some("Fault")
                && ready["status"] == "False"
                && ready["reason"] == "Fault"
        }),
        "n1 does not report Fault: {}\n{}",
        a1.status(),
        all()
    );

    lab.link_up(n1, 0).unwrap();
    eventually(CONVERGE, "n1 did not come back as master", &all, || {
        holds(n1) && !holds(n2)
    });
    assert!(wait_until(CONVERGE, || a1.vrrp_state().as_deref() == Some("Master")));
}

#[test]
fn an_ipv6_address_floats_with_its_own_instance() {
    let pair = Pair::start(two_nodes!(client), V3_MULTICAST.with_ipv6());
    let (n1, n2, client) = pair.lab.with_client();
    pair.eventually("n1 does not hold both VIPs", || holds(n1) && holds_v6(n1));
    pair.eventually("n2 holds a VIP too", || !holds_v6(n2) && !holds(n2));
    assert!(client.reaches_within(vip6(), CONVERGE).unwrap());

    pair.lab.node_loss(n1).unwrap();
    pair.eventually("n2 did not take both over", || holds(n2) && holds_v6(n2));
    assert!(client.reaches_within(vip6(), CONVERGE).unwrap());
    pair.lab.node_restore(n1).unwrap();
    pair.eventually("n1 did not preempt the IPv6 VIP back", || {
        holds_v6(n1) && !holds_v6(n2)
    });
    let instances = pair.a1.status()["instances"].clone();
    assert_eq!(instances.as_array().map(Vec::len), Some(2), "{instances}");
}

#[test]
fn adverts_of_another_version_are_counted_and_ignored() {
    let lab = two_nodes!();
    let (n1, n2) = lab.pair();
    // n2 speaks VRRPv2 on the same VRID: n1 must drop and count its
    // adverts and stay master. (Adverts of another VRID never reach the
    // instance at all: the socket's filter leaves them in the kernel.)
    let a1 = Agent::start(&lab, n1, V3_MULTICAST, (110, 100));
    let other = Vrrp {
        password: None,
        ..V2_PASSWORD
    };
    let a2 = Agent::start(&lab, n2, other, (110, 100));
    let all = || pair_logs(&a1, &a2);
    eventually(CONVERGE, "n1 never became master", &all, || holds(n1));
    assert!(
        wait_until(CONVERGE, || a1.status()["droppedAdverts"].as_u64()
            > Some(0)),
        "no drop counted: {}\n{}",
        a1.status(),
        all()
    );
    assert_eq!(a1.vrrp_state().as_deref(), Some("Master"), "{}", all());
    // Initialize -> Backup -> Master, and nothing since.
    assert_eq!(a1.status()["transitions"], 2, "n1 flapped\n{}", all());
}

#[test]
fn a_keepalived_peer_with_another_password_is_counted_as_auth_failures() {
    let lab = two_nodes!(client);
    let (n1, n2) = lab.pair();
    let theirs = Vrrp {
        password: Some("wrong"),
        ..V2_PASSWORD
    };
    // As master, keepalived restarts its advert timer after every packet
    // it reads, even a refused one, unless lower_prio_no_advert is set:
    // our adverts, at its own interval, would keep it silent after its
    // first one, and a single refusal is all this test could wait for.
    let mut instance = keepalived_instance(theirs, 100, n1.ipv4(0));
    instance.lower_prio_no_advert = true;
    let keepalived =
        hareconcile_lab::start_keepalived(&lab, n2, theirs.version, &[instance]).unwrap();
    let agent = Agent::start(&lab, n1, V2_PASSWORD, (110, 100));
    let all = || interop_logs(&agent, &keepalived);
    // Neither accepts the other's adverts: each makes itself master of
    // its own virtual router, keepalived advertises every second, and
    // hareconcile counts every advert it refused, not just the first.
    assert!(
        // Status counters are refreshed every few seconds, and keepalived
        // only sends once it made itself master (3 s of our refused
        // adverts); a loaded 2-core box has taken over 20 s for all that.
        wait_until(Duration::from_secs(90), || agent.status()["counters"]
            ["dropped"]["auth"]
            .as_u64()
            >= Some(5)),
        "fewer than 5 authentication failures counted: {}\n{}",
        agent.status(),
        all()
    );
    assert_eq!(agent.vrrp_state().as_deref(), Some("Master"), "{}", all());
    // Initialize -> Backup -> Master: refused adverts move nothing.
    assert_eq!(agent.status()["transitions"], 2, "n1 flapped\n{}", all());
    let counters = agent.status()["counters"].clone();
    assert_eq!(counters["advertsReceived"], 0, "{counters}");
    assert!(counters["advertsSent"].as_u64() > Some(0), "{counters}");
    let counted = |text: &str| {
        text.lines().any(|line| {
            line.starts_with("hareconcile_vrrp_dropped_adverts_total{")
                && line.contains("reason=\"auth\"")
                && !line.ends_with(" 0")
        })
    };
    assert!(
        wait_until(Duration::from_secs(30), || counted(&agent.metrics())),
        "/metrics does not count the auth failures:\n{}",
        agent.metrics()
    );
}

#[test]
fn a_tracked_interface_going_down_moves_the_vip() {
    require_privileges!();
    let _serial = serial();
    let vrrp = Vrrp {
        track: Some("eth1"),
        ..V3_MULTICAST
    };
    let lab = Lab::builder().nodes(2).lans(2).build().unwrap();
    let (n1, n2) = (lab.node(1), lab.node(2));
    let (a1, a2) = start_pair(&lab, vrrp);
    let all = || pair_logs(&a1, &a2);
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);
    assert!(holds(n1), "n1 is not master\n{}", all());

    lab.link_down(n1, 1).unwrap();
    eventually(
        CONVERGE,
        "eth1 down on n1 did not move the VIP",
        &all,
        || holds(n2) && !holds(n1),
    );
    assert!(
        wait_until(CONVERGE, || {
            let ready = &a1.status()["conditions"][0];
            ready["reason"] == "Fault"
                && ready["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("eth1"))
        }),
        "n1 does not say eth1 is why: {}",
        a1.status()
    );
    lab.link_up(n1, 1).unwrap();
    eventually(CONVERGE, "n1 did not take the VIP back", &all, || {
        holds(n1) && !holds(n2)
    });
}

#[test]
fn force_backup_hands_the_vip_over_without_restarting_the_instance() {
    let pair = Pair::start(two_nodes!(), V3_MULTICAST);
    let (n1, n2) = pair.lab.pair();
    let (a1, all) = (&pair.a1, || pair.logs());
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);
    assert!(holds(n1), "n1 is not master\n{}", all());

    let maintenance = Vrrp {
        force_backup: Some("n1"),
        ..V3_MULTICAST
    };
    a1.reconfigure(maintenance, (110, 100));
    eventually(CONVERGE, "forceBackup did not move the VIP", &all, || {
        holds(n2) && !holds(n1)
    });
    assert!(wait_until(CONVERGE, || a1.vrrp_state().as_deref() == Some("Backup")));
    assert!(
        !a1.log().contains("to=Initialize"),
        "the instance was restarted\n{}",
        a1.log()
    );

    a1.reconfigure(V3_MULTICAST, (110, 100));
    eventually(
        CONVERGE,
        "n1 did not take the VIP back after maintenance",
        &all,
        || holds(n1) && !holds(n2),
    );
}

#[test]
fn a_sync_group_fails_over_as_one() {
    require_privileges!();
    let _serial = serial();
    let lab = Lab::builder().nodes(2).lans(2).build().unwrap();
    let (n1, n2) = (lab.node(1), lab.node(2));
    // web on LAN 0 and edge on LAN 1, in one group: losing n1's eth1 faults
    // edge there, and the group takes web along to n2.
    let edge = format!(
        "---\n\
         apiVersion: hareconcile.io/v1alpha1\n\
         kind: VirtualIP\n\
         metadata: {{name: edge}}\n\
         spec: {{cluster: lab, interface: eth1, vrid: 52, addresses: [{edge}/24], syncGroup: gw, \
                 track: {{interfaces: [eth0]}}}}\n",
        edge = ipv4(1, VIP_NUMBER),
    );
    let manifest = cluster_manifest((110, 100), "") + &web_vip_manifest(", syncGroup: gw") + &edge;
    for host in [n1, n2] {
        Agent::write_manifest(&lab, host, &manifest);
    }
    let a1 = Agent::start_with_manifests(&lab, n1);
    let a2 = Agent::start_with_manifests(&lab, n2);
    let all = || pair_logs(&a1, &a2);
    let holds_edge = |host: &Host| {
        let out = host
            .exec_ok(&["ip", "-o", "-4", "address", "show", "dev", "eth1"])
            .unwrap();
        out.stdout
            .contains(&format!("inet {}/", ipv4(1, VIP_NUMBER)))
    };
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);
    eventually(CONVERGE, "n1 is not master of edge", &all, || {
        holds_edge(n1) && !holds_edge(n2)
    });

    lab.link_down(n1, 1).unwrap();
    eventually(CONVERGE, "edge did not move", &all, || holds_edge(n2));
    assert_sole_holder(n2, n1, Duration::from_millis(500), &all);

    lab.link_up(n1, 1).unwrap();
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);
    eventually(CONVERGE, "edge did not come back to n1", &all, || {
        holds_edge(n1) && !holds_edge(n2)
    });
}

#[test]
fn spec_changes_restart_the_instance_and_deletion_releases_the_vip() {
    let pair = Pair::start(two_nodes!(), V3_MULTICAST);
    let (n1, n2) = pair.lab.pair();
    let (a1, a2) = (&pair.a1, &pair.a2);
    pair.assert_sole_holder(n1, n2, Duration::from_millis(500));

    // n2 learns it now has the higher priority: it preempts.
    a2.reconfigure(V3_MULTICAST, (110, 120));
    pair.assert_sole_holder(n2, n1, Duration::from_millis(500));
    assert!(
        wait_until(CONVERGE, || a2.status()["effectivePriority"] == 120),
        "n2 status: {}",
        a2.status()
    );

    // The VirtualIP goes from n2's manifests: n2 leaves with priority 0.
    // The Cluster stays (a directory that declares none of its objects is
    // refused as a mass prune).
    let file = a2.dir.join("manifests/lab.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let cluster_only: Vec<&str> = text
        .split("\n---\n")
        .filter(|document| document.contains("kind: Cluster"))
        .collect();
    assert_eq!(cluster_only.len(), 1, "{text}");
    std::fs::write(&file, cluster_only[0]).unwrap();
    pair.assert_sole_holder(n1, n2, Duration::from_millis(500));
    assert!(
        heard_leaving(a1),
        "n1 never heard n2 leave\n{}",
        pair.logs()
    );
}

#[test]
fn garp_refresh_repairs_a_wrong_arp_entry_on_the_client() {
    let vrrp = Vrrp {
        garp_refresh: Some("200ms"),
        ..V3_MULTICAST
    };
    let pair = Pair::start(two_nodes!(client), vrrp);
    let (n1, n2, client) = pair.lab.with_client();
    pair.assert_sole_holder(n1, n2, Duration::from_millis(500));
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());

    let mac = mac_of(n1, "eth0");
    let vip = vip();
    // A cache pointing elsewhere, left stale so nothing probes it: only
    // n1's periodic gratuitous ARP can put its MAC back.
    client
        .exec_ok(&[
            "ip",
            "neigh",
            "replace",
            &vip.to_string(),
            "lladdr",
            "02:00:00:00:00:99",
            "dev",
            "eth0",
            "nud",
            "stale",
        ])
        .unwrap();
    assert!(
        wait_until(CONVERGE, || neighbour(client, vip).contains(&mac)),
        "the client still has {} for the VIP, not n1's {mac}",
        neighbour(client, vip)
    );
}

/// A backup that could not run for longer than Master_Down_Interval (a
/// starved agent) finds its timer expired and the master's adverts queued
/// together when it runs again: it reads the adverts first and stays
/// backup, instead of taking the VIP from a live master for a moment.
///
/// One-second adverts: with 100 ms ones, Master_Down_Interval is 0.35 s,
/// and a master agent starved that long by a loaded CI machine is a real
/// failure that VRRP rightly acts on, not the stall this test is about.
#[test]
fn a_backup_that_stalled_reads_the_queued_adverts_before_its_timer() {
    let pair = Pair::start(two_nodes!(), V3_MULTICAST.every(Duration::from_secs(1)));
    let (n1, n2) = pair.lab.pair();
    let a2 = &pair.a2;
    pair.eventually("n1 never became master", || {
        holds(n1) && a2.vrrp_state().as_deref() == Some("Backup")
    });
    let transitions = a2.status()["transitions"].clone();

    // Longer than n2's Master_Down_Interval (3.6 s) of silence on its
    // side while n1 goes on.
    a2.process.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(5));
    a2.process.signal(libc::SIGCONT);

    pair.assert_sole_holder(n1, n2, Duration::from_secs(2));
    assert_eq!(
        a2.status()["transitions"],
        transitions,
        "n2 took over after its stall\n{}",
        pair.logs()
    );
}

/// SIGKILLs `a1`, n1's agent and the master: n2 takes over, and nothing
/// removes the VIP from n1.
fn kill_the_master(a1: &mut Agent, a2: &Agent, n1: &Host, n2: &Host) {
    a1.process.signal(libc::SIGKILL);
    let _ = a1.process.wait_timeout(Duration::from_secs(10));
    let a1 = &*a1;
    let logs = || pair_logs(a1, a2);
    eventually(CONVERGE, "n2 never took over", &logs, || holds(n2));
    assert!(
        holds(n1),
        "the killed agent's VIP should still be on n1 (nothing removed it)"
    );
}

/// SIGKILL of the master's agent: nothing can remove its VIP, the backup
/// takes over anyway, and the restarted agent removes the stale VIP before
/// it does anything else, then preempts back.
#[test]
fn a_killed_masters_agent_loses_the_vip_and_its_restart_clears_the_leftover_first() {
    let mut pair = Pair::start(two_nodes!(), V3_MULTICAST);
    let (n1, n2) = (pair.lab.node(1), pair.lab.node(2));
    pair.eventually("n1 never became master", || holds(n1));

    kill_the_master(&mut pair.a1, &pair.a2, n1, n2);

    pair.a1 = Agent::start_with_manifests(&pair.lab, n1);
    let all = || pair.logs();
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);
    let log = pair.a1.log();
    let cleared = log.find("removing a VIP left over from an earlier run");
    let first_state = log.find("VRRP state changed");
    assert!(
        cleared.is_some() && first_state.is_some() && cleared < first_state,
        "the restarted agent did not clear its stale VIP before anything else\n{}",
        all()
    );
}

/// How the last test ends when a killed master's VirtualIP is gone by the
/// time its agent is back (the crash-loop breaker removed it, the store
/// was restored): the restarted agent runs no instance that could clear
/// the address, and it must go all the same, reported, with n2 the sole
/// holder.
fn assert_the_leftover_is_cleared(pair: &Pair) {
    let (n1, n2) = pair.lab.pair();
    pair.assert_sole_holder(n2, n1, Duration::from_millis(500));
    let log = pair.a1.log();
    let removed = format!("{}/24 on eth0, put there by instance web/ipv4", vip());
    assert!(
        log.contains(&removed),
        "the removal is not logged\n{}",
        pair.logs()
    );
    let events = pair.a1.events(&[]);
    assert!(events.contains("RemovedLeftoverVip"), "{events}");
}

/// The SIGKILLed master's manifests were on trial (`--trial-period`):
/// after its second death the crash-loop breaker rejects them at start
/// and, with no good set before them, removes the VirtualIP before any
/// controller runs (docs/RELIABILITY.md, the fault campaign's finding).
#[test]
fn a_vip_the_crash_loop_breaker_took_the_virtualip_of_is_cleared_at_start() {
    const ON_TRIAL: &str = "--trial-period=1h";
    let lab = two_nodes!();
    let (n1, n2) = lab.pair();
    write_manifests(&Agent::manifests_of(&lab, n1), V3_MULTICAST, (110, 100));
    let a1 = Agent::start_with(&lab, n1, &[ON_TRIAL]);
    let a2 = Agent::start(&lab, n2, V3_MULTICAST, (110, 100));
    let mut pair = Pair { a1, a2, lab };
    let n1 = pair.lab.node(1);
    let n2 = pair.lab.node(2);
    pair.eventually("n1 never became master", || holds(n1));

    for death in 1..=2 {
        kill_the_master(&mut pair.a1, &pair.a2, n1, n2);
        pair.a1 = Agent::start_with(&pair.lab, n1, &[ON_TRIAL]);
        if death == 1 {
            // It preempts back: the VIP is n1's again when it dies again.
            pair.assert_sole_holder(n1, n2, Duration::from_millis(500));
        }
    }
    pair.eventually("the manifests were never rejected", || {
        pair.a1.log().contains("crash loop stopped:")
    });
    assert_the_leftover_is_cleared(&pair);
}

/// The SIGKILLed master's store is restored from before its VirtualIP
/// existed (here: moved aside, the manifests now without it).
#[test]
fn a_vip_whose_virtualip_a_restored_store_lacks_is_cleared_at_start() {
    let mut pair = Pair::start(two_nodes!(), V3_MULTICAST);
    let (n1, n2) = (pair.lab.node(1), pair.lab.node(2));
    pair.eventually("n1 never became master", || holds(n1));

    kill_the_master(&mut pair.a1, &pair.a2, n1, n2);
    std::fs::remove_file(pair.a1.dir.join("store/store.redb")).unwrap();
    let manifests = pair.a1.dir.join("manifests/lab.yaml");
    let text = std::fs::read_to_string(&manifests).unwrap();
    let cluster_only = text
        .split("\n---\n")
        .find(|document| document.contains("kind: Cluster"))
        .unwrap()
        .to_string();
    std::fs::write(&manifests, cluster_only).unwrap();

    pair.a1 = Agent::start_with_manifests(&pair.lab, n1);
    assert_the_leftover_is_cleared(&pair);
}
