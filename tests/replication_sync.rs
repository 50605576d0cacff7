//! The sync controller on a real (namespace) LAN: two nodes, each with its
//! own filesystem at the replicated path, sshd on each, hareconcile agents
//! electing a master over VRRP. Files follow the master; after a failover
//! they flow the other way; a recovered old primary never overwrites the
//! new primary's data; a node demoted while it catches up claims no
//! term; a receive left behind by a master that vanished mid-push does
//! not hold up the failover; an empty source is refused;
//! btrfs snapshots travel incrementally.
//!
//! No timing is asserted: every wait has a generous deadline that only
//! bounds how long a broken build takes to fail.

use hareconcile_test_support as support;

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use hareconcile_lab::{require_privileges, Host, NodeCommand};
use hareconcile_sync::remote::{guarded, shell_line, shell_quote, GUARD_NAME};
use hareconcile_sync::Term;
use support::lab_data::{DataLab, Filesystem};
use support::lab_manifests::{cluster_manifest, document, ssh_manifest, web_vip_manifest};
use support::LabAgent as Agent;
/// Elections, catch-ups over ssh and passes take seconds; a 2-core CI box
/// under load may take many more.
const DEADLINE: Duration = Duration::from_secs(60);

/// One lab at a time: 100 ms adverts should not compete with another lab.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// How the Replication copies.
#[derive(Clone, Copy)]
enum Method {
    /// Continuous rsync with `delete`.
    Rsync,
    /// btrfs snapshots every second, two kept.
    Btrfs,
}

struct Setup {
    rig: DataLab,
    method: Method,
    /// Last, so the lab is gone before the next test's starts.
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// The lab's nodes, path and sshds.
impl std::ops::Deref for Setup {
    type Target = DataLab;

    fn deref(&self) -> &DataLab {
        &self.rig
    }
}

/// [`setup`] with n1's agent master and serving, then n2's agent started.
fn n1_master(method: Method) -> (Setup, Agent, Agent) {
    let setup = setup(method);
    let (a1, a2) = setup.start_n1_as_master();
    (setup, a1, a2)
}

/// Two nodes (n1 priority 110, n2 100, no preemption), each with its own
/// filesystem at the replicated path and an sshd; one such lab at a time.
fn setup(method: Method) -> Setup {
    let serial = serial();
    let filesystem = match method {
        Method::Rsync => Filesystem::Tmpfs,
        Method::Btrfs => Filesystem::BtrfsSubvolume,
    };
    Setup {
        rig: DataLab::two_nodes("srv/data", filesystem),
        method,
        _serial: serial,
    }
}

impl Setup {
    fn manifest(&self) -> String {
        let ssh = ssh_manifest(&self.lab);
        let copy = match self.method {
            Method::Rsync => format!(
                "method: rsync, rsync: {{continuous: true, interval: 10s, delete: true, ssh: {ssh}}}"
            ),
            Method::Btrfs => {
                format!("method: btrfs, snapshot: {{retain: 2, interval: 1s, ssh: {ssh}}}")
            }
        };
        let replication = format!(
            "cluster: lab, followVirtualIP: web, path: {data}, maxLag: 1m, {copy}",
            data = self.data.display()
        );
        cluster_manifest((110, 100), "")
            + &web_vip_manifest(", preempt: false")
            + &document("Replication", "data", &replication)
    }

    fn start(&self, host: &Host) -> Agent {
        Agent::command(&self.lab, host)
            .manifest(&self.manifest())
            .args(["--resync", "2s"])
            .env("HARECONCILE_LOG", "info,hareconcile_sync=debug")
            .start()
    }

    /// n1's agent first, serving before n2's starts: without preemption,
    /// whichever starts first stays master.
    fn start_n1_as_master(&self) -> (Agent, Agent) {
        let a1 = self.start(self.lab.node(1));
        wait_until("n1 serves the data", &|| logs(&[&a1]), || a1.serves());
        let a2 = self.start(self.lab.node(2));
        (a1, a2)
    }

    /// Writes `name` on `from` and waits until `to` holds the same.
    fn write_and_see(
        &self,
        (from, to): (&Host, &Host),
        name: &str,
        content: &str,
        logs: &dyn Fn() -> String,
    ) {
        self.write(from, name, content);
        wait_until(&format!("{name} reaches {}", to.name()), logs, || {
            self.read(to, name).as_deref() == Some(content)
        });
    }

    /// The term recorded beside `host`'s copy.
    fn term(&self, host: &Host) -> String {
        self.read(host, ".hareconcile/term")
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

/// What these tests ask of an agent: about Replication `data`.
trait DataAgent {
    /// This node's status of the Replication.
    fn status(&self) -> serde_json::Value;
    fn ready(&self) -> Option<(String, String)>;
    /// Source, caught up, term claimed.
    fn serves(&self) -> bool;
    fn data_events(&self) -> String;
}

impl DataAgent for Agent {
    fn status(&self) -> serde_json::Value {
        self.object("replication", "data")["status"].clone()
    }

    fn ready(&self) -> Option<(String, String)> {
        self.condition("replication", "data", "Ready")
    }

    fn serves(&self) -> bool {
        self.status()["role"] == "source" && self.ready() == Some(("True".into(), "Source".into()))
    }

    fn data_events(&self) -> String {
        self.events(&["replication", "data"])
    }
}

fn wait_until(what: &str, logs: &dyn Fn() -> String, done: impl FnMut() -> bool) {
    let what = format!("timed out waiting until {what}");
    support::eventually(DEADLINE, &what, logs, done);
}

fn logs(agents: &[&Agent]) -> String {
    agents
        .iter()
        .map(|a| format!("--- events\n{}--- log\n{}", a.data_events(), a.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn files_follow_the_master_and_flow_back_to_the_recovered_node() {
    require_privileges!();
    let (setup, a1, a2) = n1_master(Method::Rsync);
    let (n1, n2) = (setup.lab.node(1), setup.lab.node(2));
    let both = || logs(&[&a1, &a2]);
    setup.write_and_see((n1, n2), "a.txt", "from n1", &both);
    assert_eq!(setup.term(n1), "1 n1");
    wait_until("n2 reports its replica", &both, || {
        a2.status()["role"] == "replica" && a2.ready() == Some(("True".into(), "Replica".into()))
    });
    assert_eq!(setup.term(n2), "1 n1");

    // Never from a backup: a file written on n2 stays there until the
    // master's next pass deletes it (delete: true); n1 never gets it.
    setup.write(n2, "backup-only.txt", "x");
    setup.write(n1, "b.txt", "from n1");
    wait_until(
        "b.txt reaches n2 and backup-only.txt is gone",
        &both,
        || setup.read(n2, "b.txt").is_some() && setup.read(n2, "backup-only.txt").is_none(),
    );
    assert_eq!(setup.read(n1, "backup-only.txt"), None);
    // Status follows within its refresh period.
    wait_until("n1's status counts both files' bytes", &both, || {
        let status = a1.status();
        status["epoch"] == 1
            && status["targets"]["n2"]["bytesTotal"].as_u64() >= Some(14)
            && status["targets"]["n2"]["error"].is_null()
    });
    let screen = a1.hc_stdout(&["status"]);
    let sync_row = screen
        .lines()
        .skip_while(|l| !l.starts_with("SYNC"))
        .find(|l| l.starts_with("data"))
        .unwrap_or_else(|| panic!("no SYNC row for data:\n{screen}"));
    assert!(
        sync_row.contains("source") && sync_row.contains("1 n1") && sync_row.contains("n2 "),
        "{screen}"
    );
    let described = a1.hc_stdout(&["describe", "replication", "data"]);
    assert!(
        described.contains("lagSeconds") && described.contains("Synced"),
        "{described}"
    );

    // Failover: n1's agent stops (priority 0), n2 takes over and claims
    // the next term (n1's copy, read over ssh, is no newer).
    a1.process.stop(Duration::from_secs(10)).unwrap();
    wait_until("n2 serves the data", &|| logs(&[&a2]), || a2.serves());
    assert_eq!(setup.term(n2), "2 n2");
    setup.write(n2, "c.txt", "from n2");

    // n1 comes back as backup (no preemption) and receives from n2.
    let a1 = setup.start(n1);
    let both = || logs(&[&a1, &a2]);
    wait_until("c.txt reaches the recovered n1", &both, || {
        setup.read(n1, "c.txt").as_deref() == Some("from n2")
    });
    assert_eq!(setup.read(n1, "a.txt").as_deref(), Some("from n1"));
    wait_until("n1 records n2's term", &both, || setup.term(n1) == "2 n2");
    assert_eq!(a1.status()["role"], "replica");
    // The restarted agent never took its previous run's Master for its own.
    let events = a1.data_events();
    assert!(!events.contains("TermClaimed"), "{events}");
}

#[test]
fn a_recovered_old_primary_never_overwrites_the_new_primarys_data() {
    require_privileges!();
    let (setup, a1, a2) = n1_master(Method::Rsync);
    let (n1, n2) = (setup.lab.node(1), setup.lab.node(2));
    let both = || logs(&[&a1, &a2]);
    setup.write_and_see((n1, n2), "shared.txt", "v1", &both);

    // n1 drops off the LAN but keeps running, still master in its own
    // eyes; n2 takes over with a newer term.
    setup.lab.node_loss(n1).unwrap();
    wait_until("n2 serves the data", &both, || a2.serves());
    assert_eq!(setup.term(n2), "2 n2");
    setup.write(n2, "shared.txt", "new");
    setup.write(n2, "new.txt", "n2");
    // Meanwhile the isolated old primary takes writes of its own.
    setup.write(n1, "shared.txt", "stale");
    setup.write(n1, "stale.txt", "n1");

    // Back on the LAN, n1 (priority 110) is master again, still in its
    // old term: its pushes are refused, it catches up from n2 and claims
    // a newer term. n2's data survives, n1's stale writes do not.
    setup.lab.node_restore(n1).unwrap();
    let converged = || {
        [n1, n2].iter().all(|h| {
            setup.read(h, "shared.txt").as_deref() == Some("new")
                && setup.read(h, "new.txt").is_some()
                && setup.read(h, "stale.txt").is_none()
        })
    };
    let deadline = Instant::now() + DEADLINE;
    while !converged() {
        for name in ["shared.txt", "stale.txt"] {
            let on_n2 = setup.read(n2, name);
            assert!(
                !matches!(on_n2.as_deref(), Some("stale" | "n1")),
                "the old primary's {name} reached n2\n{}",
                both()
            );
        }
        assert!(Instant::now() < deadline, "never converged\n{}", both());
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_until("n1 serves again in a newer term", &both, || {
        a1.serves() && a1.status()["epoch"].as_u64() >= Some(3)
    });
    let events = a1.data_events();
    assert!(events.contains("TermLost"), "{events}");
}

#[test]
fn a_node_demoted_while_catching_up_claims_no_term() {
    require_privileges!();
    let (setup, a1, a2) = n1_master(Method::Rsync);
    let (n1, n2) = (setup.lab.node(1), setup.lab.node(2));
    let both = || logs(&[&a1, &a2]);
    setup.write_and_see((n1, n2), "a.txt", "v1", &both);

    // A catch-up's read of n1's copy hangs until the test lets it end:
    // the read ends with `cat .hareconcile/synced` (absent on a copy that
    // was only ever the source), a FIFO for now, which blocks whatever
    // ssh's own timeouts. VRRP cut between the nodes: n2 becomes master
    // and starts catching up.
    let synced = setup.file(".hareconcile/synced");
    n1.exec_ok(&["mkfifo", &synced]).unwrap();
    setup.lab.partition_protocol(&[n1], &[n2], "vrrp").unwrap();
    wait_until("n2 reads n1's term as master", &both, || {
        a2.status()["conditions"].as_array().is_some_and(|all| {
            all.iter().any(|c| {
                c["type"] == "Ready"
                    && c["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("reading the peers' terms"))
            })
        })
    });
    // The cut heals: n2 hears n1's higher priority and is demoted while
    // its read still hangs; then the read ends.
    setup.lab.heal_partitions().unwrap();
    wait_until("n2 is backup again", &both, || {
        a2.vip_status("web")
            .state()
            .map(|s| s.to_string())
            .as_deref()
            == Some("Backup")
    });
    // The read ends (a writer that finds no reader gives up), and n1's
    // copy is as before.
    let release = format!("echo - > '{synced}'");
    let _ = n1.exec(&["timeout", "5", "sh", "-c", &release]);
    n1.exec_ok(&["rm", "-f", &synced]).unwrap();

    // n1 stays the source in its term: its next change reaches n2, whose
    // copy still holds n1's term. A claim by n2 would have made n1's push
    // refused and n1 pull n2's copy over its own.
    setup.write_and_see((n1, n2), "b.txt", "after", &both);
    assert_eq!(setup.term(n1), "1 n1");
    assert_eq!(setup.term(n2), "1 n1");
    let events = a2.data_events();
    assert!(!events.contains("TermClaimed"), "{events}");
    let events = a1.data_events();
    assert!(!events.contains("TargetNewer"), "{events}");
}

/// The guard processes (receives) sshd runs on `host`'s node for pushes.
fn receives_on(setup: &Setup, node: usize) -> Vec<u32> {
    hareconcile_lab::process_tree(setup.sshd[node - 1].pid())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == GUARD_NAME.as_bytes()))
        })
        .collect()
}

/// A push cut off by the loss of its source leaves its receive running on
/// the target, holding the copy's lock: sshd does not probe its clients,
/// so nothing ends it for a quarter of an hour. The new master ends it
/// instead of waiting for the lock (which used to stall the failover).
#[test]
fn a_receive_left_behind_by_a_vanished_master_does_not_hold_up_the_failover() {
    require_privileges!();
    let (setup, a1, a2) = n1_master(Method::Rsync);
    let (n1, n2) = (setup.lab.node(1), setup.lab.node(2));
    let both = || logs(&[&a1, &a2]);
    setup.write_and_see((n1, n2), "a.txt", "v1", &both);

    // n1 mid-push, as the guard runs it on n2, but receiving from a
    // stream that never ends (a `cat` of ssh's stdin) instead of rsync's;
    // it says when it runs, under the copy's lock.
    let term: Term = setup.term(n1).parse().unwrap();
    let receiving = setup.file(".hareconcile/receiving");
    let cat = shell_line(&["sh", "-c", &format!("touch {receiving} && exec cat")]);
    let receive = guarded(&setup.data, &term, SystemTime::now(), "", &cat);
    let keys = setup.lab.ssh_keys().unwrap().client_args().join(" ");
    let _pusher = n1
        .spawn(NodeCommand::new("sh").arg("-c").arg(format!(
            "sleep 3600 | ssh {keys} root@{n2} {receive}",
            n2 = n2.ipv4(0),
            receive = shell_quote(&receive),
        )))
        .unwrap();
    wait_until("the stuck push receives on n2", &both, || {
        setup.read(n2, ".hareconcile/receiving").is_some()
    });
    let stuck = receives_on(&setup, 2);
    assert!(!stuck.is_empty(), "{}", both());

    // n1 vanishes: its session on n2 stays open, its receive waits.
    setup.lab.node_loss(n1).unwrap();
    wait_until("n2 serves the data", &both, || a2.serves());
    let events = a2.data_events();
    assert!(
        events.contains("ReceiveEnded") && events.contains(&format!("term {term}")),
        "{events}"
    );
    let left: Vec<u32> = receives_on(&setup, 2)
        .into_iter()
        .filter(|pid| stuck.contains(pid))
        .collect();
    assert!(left.is_empty(), "receives {left:?} still run\n{}", both());
}

#[test]
fn an_empty_source_is_refused_and_the_target_left_untouched() {
    require_privileges!();
    let (setup, a1, a2) = n1_master(Method::Rsync);
    let (n1, n2) = (setup.lab.node(1), setup.lab.node(2));
    let both = || logs(&[&a1, &a2]);
    setup.write_and_see((n1, n2), "precious.txt", "keep me", &both);

    // The source loses everything (a disk swapped, a mount gone).
    n1.exec_ok(&["rm", &setup.file("precious.txt")]).unwrap();
    wait_until("n1 refuses the empty source", &both, || {
        a1.condition("replication", "data", "Synced")
            == Some(("False".into(), "EmptySource".into()))
    });
    let events = a1.data_events();
    assert!(
        events.contains("EmptySource") && events.contains("is empty: refusing to propagate it"),
        "{events}"
    );
    assert_eq!(setup.read(n2, "precious.txt").as_deref(), Some("keep me"));
    // The master stays Ready: an empty data directory is a legitimate
    // start for a new Service; it is the copy that is withheld.
    assert!(a1.serves(), "{}\n{}", a1.status(), both());

    // Data again: replication resumes.
    setup.write_and_see((n1, n2), "fresh.txt", "y", &both);
}

#[test]
fn btrfs_snapshots_replicate_incrementally_and_are_pruned() {
    require_privileges!();
    let (setup, a1, a2) = n1_master(Method::Btrfs);
    let (n1, n2) = (setup.lab.node(1), setup.lab.node(2));
    let both = || logs(&[&a1, &a2]);
    setup.write_and_see((n1, n2), "one.txt", "1", &both);
    setup.write(n1, "two.txt", "2");
    n1.exec_ok(&["rm", &setup.file("one.txt")]).unwrap();
    wait_until("two.txt reaches n2, one.txt is gone", &both, || {
        setup.read(n2, "two.txt").is_some() && setup.read(n2, "one.txt").is_none()
    });
    let snapshots = |host: &Host| -> Vec<String> {
        let dir = setup.data.join(".hareconcile/snapshots");
        let out = host
            .exec_ok(&["ls", "-1", &dir.display().to_string()])
            .unwrap();
        out.stdout.lines().map(str::to_string).collect()
    };
    // Passes run every second: wait for retention to catch up on both sides.
    wait_until("two snapshots are kept on each side", &both, || {
        snapshots(n1).len() == 2 && snapshots(n2).len() == 2
    });
    let on_n2 = snapshots(n2);
    assert!(on_n2.iter().all(|s| s.starts_with("hc-")), "{on_n2:?}");
    assert_eq!(setup.term(n2), "1 n1");
}
