//! The quorum proven end to end (`docs/quorum.md`, issue 18): three lab
//! nodes — n1, n2 and a witness — each running a member of one real etcd
//! cluster (Debian's etcd-server), agents on n1 and n2, a VIP, a
//! Replication and an exclusive Service that requires it, and a client
//! writing numbered records through the VIP
//! (`hareconcile_test_support::lab_quorum`).
//!
//! One lab carries the three quorum scenarios in turn, each starting from
//! a settled cluster: the witness lost alone (nothing moves), a partition
//! with the witness on n2's side (n1 fences itself before n2 takes over,
//! no acknowledged record lost, n1 catches up), a planned switchover back
//! to n1 declared in the files, n1's link flapping (the VIP and the store
//! never on both nodes), then the witness and the peer lost together (the
//! master fences itself). A second lab without a
//! quorum shows the documented old behaviour: two masters.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hareconcile_lab::require_privileges;
use hareconcile_test_support::lab_quorum::{QuorumLab, Writer, LEASE_TTL, SETTLE};
use hareconcile_test_support::{eventually, wait_until};

/// The two labs of this file run one at a time: each has two dockerds,
/// three etcd members and 100 ms adverts.
static SERIAL: Mutex<()> = Mutex::new(());

/// Debian's etcd-server, from scripts/install-test-deps.sh: missing, the
/// test fails in CI and is skipped elsewhere.
fn etcd_available() -> bool {
    let found = std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "etcd not found: run scripts/install-test-deps.sh (Debian's etcd-server)"
        );
        eprintln!("skipped: etcd not found (scripts/install-test-deps.sh installs it)");
    }
    found
}

/// One look at both nodes: (n1 holds the VIP, n1 runs the store, n2
/// holds, n2 runs).
fn sample(lab: &QuorumLab) -> (bool, bool, bool, bool) {
    (
        lab.holds_vip(1),
        lab.runs_store(1),
        lab.holds_vip(2),
        lab.runs_store(2),
    )
}

/// Waits until the writer had `count` more records acknowledged after `t`.
fn await_writes(lab: &QuorumLab, writer: &Writer, t: Instant, count: usize, what: &str) {
    eventually(SETTLE, what, &|| lab.logs(), || {
        writer.acknowledged_after(t) >= count
    });
}

/// The witness alone is lost: n1 and n2 are still a majority, so n1 keeps
/// the VIP and its store (the same container, never restarted), n2 stays
/// out, and writes go on being acknowledged; for three lease TTLs, past
/// every moment n1 could have fenced or its lease expired.
fn the_witness_lost_alone_moves_nothing(lab: &QuorumLab, writer: &Writer) {
    let run = lab.store_run(1).expect("n1 runs the store");
    let lost_at = Instant::now();
    lab.lab.node_loss(lab.witness()).unwrap();
    while lost_at.elapsed() < LEASE_TTL * 3 {
        let seen = sample(lab);
        assert_eq!(
            seen,
            (true, true, false, false),
            "with the witness lost alone, n1 must keep serving and n2 stay out \
             (n1 VIP, n1 store, n2 VIP, n2 store)\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        lab.store_run(1).as_ref(),
        Some(&run),
        "n1's store restarted"
    );
    await_writes(
        lab,
        writer,
        lost_at,
        2,
        "no write acknowledged without the witness",
    );
    let status = lab.agent(1).hc_stdout(&["status"]);
    assert!(status.contains("lease held"), "{status}");
    lab.lab.node_restore(lab.witness()).unwrap();
    eventually(
        SETTLE,
        "the witness's member never rejoined",
        &|| format!("{}\n{}", lab.witness_health(), lab.logs()),
        || lab.witness_healthy(),
    );
}

/// n1 cut off from n2, the witness and the client on n2's side: n1 (the
/// master) is a minority and fences itself — store stopped, VIP released —
/// before n2 takes either; n2 serves and acknowledges writes; healed, n1
/// stays standby and catches up from n2 in n2's term, missing nothing.
fn a_partition_fences_the_minority_master_before_the_majority_promotes(
    lab: &QuorumLab,
    writer: &Writer,
) {
    let (n1, n2) = (lab.node(1), lab.node(2));
    let cut_at = Instant::now();
    lab.lab
        .partition(&[n1], &[n2, lab.witness(), lab.lab.client()])
        .unwrap();
    // Sample both nodes until n2 serves: never both at once, and n1 out
    // before n2 in.
    let (mut fenced_at, mut promoted_at) = (None, None);
    let deadline = Instant::now() + SETTLE;
    loop {
        let (h1, r1, h2, r2) = sample(lab);
        let now = Instant::now();
        assert!(
            !((h1 || r1) && (h2 || r2)),
            "both nodes at once: n1 VIP {h1} store {r1}, n2 VIP {h2} store {r2}\n{}",
            lab.logs()
        );
        if !h1 && !r1 && fenced_at.is_none() {
            fenced_at = Some(now);
        }
        if (h2 || r2) && promoted_at.is_none() {
            promoted_at = Some(now);
        }
        if h2 && r2 {
            break;
        }
        assert!(now < deadline, "n2 never served\n{}", lab.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (fenced_at, promoted_at) = (fenced_at.unwrap(), promoted_at.unwrap());
    assert!(fenced_at < promoted_at, "n2 took over before n1 fenced");
    println!(
        "partition: n1 fenced after {} ms, n2 took over after {} ms",
        (fenced_at - cut_at).as_millis(),
        (promoted_at - cut_at).as_millis()
    );
    let events = lab.agent(1).events(&[]);
    assert!(
        events.contains("Fenced"),
        "no Fenced event on n1:\n{events}"
    );
    let events = lab.agent(2).events(&[]);
    assert!(
        events.contains("WriterLockAcquired"),
        "no WriterLockAcquired on n2:\n{events}"
    );
    // n1 stays fenced while cut off.
    assert!(lab.idle(1), "n1 serves again while cut off\n{}", lab.logs());
    await_writes(lab, writer, promoted_at, 1, "n2 acknowledged no write");

    lab.lab.heal_partitions().unwrap();
    let acknowledged = writer.acknowledged();
    eventually(SETTLE, "n1 never caught up from n2", &|| lab.logs(), || {
        lab.missing(1, &acknowledged).is_empty() && lab.term(1) == lab.term(2)
    });
    assert!(
        lab.serves(2) && lab.idle(1),
        "the VIP moved back after the heal\n{}",
        lab.logs()
    );
    let missing = lab.missing(2, &acknowledged);
    assert!(
        missing.is_empty(),
        "acknowledged records missing on n2, the new master: {missing:?}"
    );
    println!(
        "partition healed: {} records acknowledged, all on both nodes, term {}",
        acknowledged.len(),
        lab.term(2)
    );
}

/// A planned switchover of the fenced VirtualIP from n2 back to n1,
/// declared in both nodes' files under write load: n1 serves, and every
/// record acknowledged is there. The request is then cleared.
fn a_switchover_loses_no_acknowledged_write(lab: &QuorumLab, writer: &Writer) {
    lab.declare_vip(", control: {switchoverTo: n1}");
    lab.await_serving(1, "the switchover to n1 never completed");
    await_writes(lab, writer, Instant::now(), 1, "n1 acknowledged no write");
    let acknowledged = writer.acknowledged();
    let missing = lab.missing(1, &acknowledged);
    assert!(
        missing.is_empty(),
        "acknowledged records missing on n1 after the switchover: {missing:?}\n{}",
        lab.logs()
    );
    lab.declare_vip("");
    println!(
        "switchover: {} records acknowledged, all on n1",
        acknowledged.len()
    );
}

/// The master's own link flaps, down for a moment, then for longer than
/// half its lease (it fences itself), then for longer than the whole
/// lease (the standby may take over), with short ups between: sampled
/// back to back throughout, the VIP and the store are never on both nodes
/// at once. Afterwards one node serves and writes are acknowledged again.
fn a_flapping_link_never_puts_the_store_on_both_nodes(
    lab: &QuorumLab,
    writer: &Writer,
    master: usize,
) {
    let host = lab.node(master);
    let flaps = [
        (Duration::from_millis(300), Duration::from_millis(700)),
        (LEASE_TTL * 3 / 4, Duration::from_millis(500)),
        (Duration::from_millis(200), Duration::from_millis(300)),
        (LEASE_TTL * 3 / 2, Duration::from_millis(800)),
        (Duration::from_millis(500), Duration::from_millis(500)),
    ];
    let assert_never_both = |until: Instant| {
        while Instant::now() < until {
            let (h1, r1, h2, r2) = sample(lab);
            assert!(
                !((h1 || r1) && (h2 || r2)),
                "both nodes at once while n{master}'s link flapped: \
                 n1 VIP {h1} store {r1}, n2 VIP {h2} store {r2}\n{}",
                lab.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    for (down, up) in flaps {
        lab.lab.link_down(host, 0).unwrap();
        assert_never_both(Instant::now() + down);
        lab.lab.link_up(host, 0).unwrap();
        assert_never_both(Instant::now() + up);
    }
    let settled = Instant::now();
    eventually(
        SETTLE,
        "nobody served again after the link stopped flapping",
        &|| lab.logs(),
        || {
            let (h1, r1, h2, r2) = sample(lab);
            assert!(
                !((h1 || r1) && (h2 || r2)),
                "both nodes at once after the flapping: \
                 n1 VIP {h1} store {r1}, n2 VIP {h2} store {r2}\n{}",
                lab.logs()
            );
            (h1 && r1) || (h2 && r2)
        },
    );
    await_writes(
        lab,
        writer,
        settled,
        1,
        "no write acknowledged after the flapping",
    );
    println!(
        "flapping link: {} ups and downs, never both, {} records acknowledged",
        flaps.len(),
        writer.acknowledged().len()
    );
}

/// The witness and the peer lost together: the `master` is alone, a
/// minority, and fences itself; the standby, cut off too, stays out.
/// Restored, one node serves again.
fn the_witness_and_the_peer_lost_together_fence_the_master(lab: &QuorumLab, master: usize) {
    let (peer, witness) = (lab.node(3 - master), lab.witness());
    lab.lab.node_loss(peer).unwrap();
    lab.lab.node_loss(witness).unwrap();
    eventually(
        SETTLE,
        "the master alone never fenced itself",
        &|| lab.logs(),
        || lab.idle(master),
    );
    assert!(
        lab.idle(3 - master),
        "the peer serves while alone\n{}",
        lab.logs()
    );
    // The Cluster's status follows the release (written when the
    // standing changes).
    let status = || lab.agent(master).hc_stdout(&["status"]);
    eventually(SETTLE, "the master's status never said so", &status, || {
        let now = status();
        now.contains("FENCED") || now.contains("NO QUORUM")
    });
    lab.lab.node_restore(peer).unwrap();
    lab.lab.node_restore(witness).unwrap();
    eventually(
        SETTLE,
        "nobody served again after the restore",
        &|| lab.logs(),
        || (lab.serves(1) && lab.idle(2)) || (lab.serves(2) && lab.idle(1)),
    );
}

#[test]
fn with_a_quorum_a_cut_off_master_fences_itself_and_no_acknowledged_write_is_lost() {
    require_privileges!(docker);
    if !etcd_available() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = QuorumLab::start();
    let status = lab.agent(1).hc_stdout(&["status"]);
    assert!(status.contains("engine reachable"), "{status}");
    let writer = Writer::start(&lab.lab);
    await_writes(&lab, &writer, Instant::now(), 3, "no write acknowledged");

    the_witness_lost_alone_moves_nothing(&lab, &writer);
    a_partition_fences_the_minority_master_before_the_majority_promotes(&lab, &writer);
    a_switchover_loses_no_acknowledged_write(&lab, &writer);
    a_flapping_link_never_puts_the_store_on_both_nodes(&lab, &writer, 1);
    let master = if lab.serves(1) { 1 } else { 2 };
    lab.await_serving(master, "the cluster never settled after the flapping");
    the_witness_and_the_peer_lost_together_fence_the_master(&lab, master);

    let resumed = Instant::now();
    await_writes(
        &lab,
        &writer,
        resumed,
        1,
        "no write acknowledged after the restore",
    );
    let acknowledged = writer.stop();
    let master = if lab.serves(1) { 1 } else { 2 };
    let standby = 3 - master;
    let missing = lab.missing(master, &acknowledged);
    assert!(
        missing.is_empty(),
        "acknowledged records missing on the master n{master}: {missing:?}\n{}",
        lab.logs()
    );
    eventually(
        SETTLE,
        "the standby never caught up",
        &|| format!("{:?}\n{}", lab.missing(standby, &acknowledged), lab.logs()),
        || lab.missing(standby, &acknowledged).is_empty(),
    );
    println!(
        "{} records acknowledged, 0 lost; master n{master}",
        acknowledged.len()
    );
    lab.stop();
}

/// Without `spec.quorum`, as `docs/quorum.md` says: `status` says a
/// partition makes two masters, and it does — both nodes hold the VIP and
/// run the store.
#[test]
fn without_a_quorum_a_partition_makes_two_masters_as_documented() {
    require_privileges!(docker);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = QuorumLab::without_quorum();
    for i in [1, 2] {
        let status = lab.agent(i).hc_stdout(&["status"]);
        assert!(
            status.contains("none: a partition makes two masters"),
            "n{i}: {status}"
        );
    }
    lab.lab.partition(&[lab.node(1)], &[lab.node(2)]).unwrap();
    eventually(
        SETTLE,
        "the partition did not make two masters",
        &|| lab.logs(),
        || lab.serves(1) && lab.serves(2),
    );
    lab.lab.heal_partitions().unwrap();
    assert!(
        wait_until(SETTLE, || lab.holds_vip(1) != lab.holds_vip(2)),
        "still two masters after the heal\n{}",
        lab.logs()
    );
    lab.stop();
}
