//! `hareconcile switchover` on a real (namespace) LAN with a dockerd per
//! node and the peer API between the agents: run on the master's node, it
//! moves the VIP to the other node make-before-break (the stack runs
//! there before it holds the VIP), and the move sticks although the old
//! master has the higher priority and preempt is on.

mod vrrp_lab;

use std::sync::atomic::{AtomicBool, Ordering};

use vrrp_lab::*;

use hareconcile_lab::{busybox_image, process_tree, Dockerd, Process};
use hareconcile_test_support::read_lines;

const MOVE: Duration = Duration::from_secs(60);

/// The two nodes' Cluster, with the peer API, and VirtualIP `web`.
fn cluster_and_vip(token: &Path) -> String {
    let peer = format!("  peer: {{port: 7979, tokenFile: {}}}\n", token.display());
    cluster_manifest((110, 100), &peer) + &web_vip_manifest(", preempt: true")
}

fn manifest(stack: &Path, token: &Path) -> String {
    cluster_and_vip(token) + &shop_manifest(stack)
}

#[test]
fn a_switchover_moves_the_vip_after_the_stack_runs_on_the_target_and_sticks() {
    let lab = two_nodes!(client);
    let (n1, n2, client) = lab.with_client();
    let token = peer_token_file(&lab, "lab-switchover-token\n");
    let dockerds = lab.start_dockerds().unwrap();
    let mut agents = Vec::new();
    for (host, dockerd) in [n1, n2].into_iter().zip(&dockerds) {
        let stack = write_web_stack(&lab, host, dockerd);
        agents.push(start_applied(
            &lab,
            host,
            dockerd,
            &manifest(&stack, &token),
        ));
    }
    let (a1, a2) = (&agents[0], &agents[1]);
    let (d1, d2) = (&dockerds[0], &dockerds[1]);
    let all = || pair_logs(a1, a2);
    assert!(
        wait_until(MOVE, || holds(n1)
            && !holds(n2)
            && runs(d1)
            && !runs(d2)
            && a2.vrrp_state().as_deref() == Some("Backup")),
        "n1 never became master with the stack\n{}",
        all()
    );

    // Clear errors before anything moves.
    for (to, why) in [("n9", "unknown node"), ("n1", "already master")] {
        let refused = a1.hc(&["switchover", "web", "--to", to]);
        assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
        assert!(text(&refused).contains(why), "{}", text(&refused));
    }

    // The client probes the VIP all along; the longest gap is printed, not
    // asserted (timing belongs to benchmarks).
    let probing = AtomicBool::new(true);
    let (switched, longest_gap) = std::thread::scope(|scope| {
        let prober = scope.spawn(|| {
            let url = format!("http://{}:8080/", vip());
            let mut longest = Duration::ZERO;
            let mut failing_since: Option<Instant> = None;
            while probing.load(Ordering::Relaxed) {
                let ok = client
                    .exec(&["curl", "-sS", "-o", "/dev/null", "-m", "1", &url])
                    .is_ok_and(|out| out.success());
                match (ok, failing_since) {
                    (false, None) => failing_since = Some(Instant::now()),
                    (true, Some(since)) => {
                        longest = longest.max(since.elapsed());
                        failing_since = None;
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            longest
        });
        // From n1, the master: n2 learns of it over the peer API.
        let out = a1.hc(&["switchover", "web", "--to", "n2", "--wait=60s"]);
        // n2 must have run its stack before it held the VIP, never after.
        let mut moved = false;
        let took_over = wait_until(MOVE, || {
            if !holds(n2) {
                return false;
            }
            moved = true;
            true
        });
        let stack_ran = runs(d2);
        // Asserted outside the scope: a panic here would leave the
        // prober looping and the test hanging instead of failing.
        probing.store(false, Ordering::Relaxed);
        ((out, took_over && moved, stack_ran), prober.join().unwrap())
    });
    let (out, moved, stack_ran) = switched;
    assert!(stack_ran, "n2 holds the VIP without its stack\n{}", all());
    assert!(out.status.success(), "{}\n{}", text(&out), all());
    assert!(moved, "n2 never took the VIP\n{}", all());
    println!(
        "switchover: {}longest client gap {longest_gap:?}",
        text(&out)
    );
    assert_held_until_services_ready(a2);
    assert!(
        wait_until(MOVE, || !holds(n1) && !runs(d1)),
        "n1 kept the VIP or its stack\n{}",
        all()
    );

    // It sticks: n1 (priority 110, preempt on) does not take the VIP back.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        holds(n2) && !holds(n1),
        "the switchover did not stick\n{}",
        all()
    );
    let status = a1.hc_stdout(&["status"]);
    assert!(status.contains("switched over to n2"), "{status}");
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());

    stop_docker_lab(agents, dockerds);
}

/// Cluster, VirtualIP, an rsync Replication of `data` and a Service that
/// writes into it and `requires:` it.
fn data_manifest(stack: &Path, token: &Path, data: &Path, ssh: &str) -> String {
    format!(
        "{head}\
         ---\n\
         apiVersion: hareconcile.io/v1alpha1\n\
         kind: Replication\n\
         metadata: {{name: data}}\n\
         spec: {{cluster: lab, followVirtualIP: web, path: {data}, maxLag: 1m, \
                 method: rsync, rsync: {{continuous: true, interval: 10s, delete: true, ssh: {ssh}}}}}\n\
         ---\n\
         apiVersion: hareconcile.io/v1alpha1\n\
         kind: Service\n\
         metadata: {{name: writer}}\n\
         spec: {{cluster: lab, followVirtualIP: web, mode: active-passive, requires: [data], \
                 compose: {{file: {stack}, project: writer}}}}\n",
        head = cluster_and_vip(token),
        stack = stack.display(),
        data = data.display(),
    )
}

/// Two nodes, each with its own tmpfs at the replicated path, an sshd, a
/// dockerd and an agent, n1 master with its writer running.
struct DataLab {
    lab: Lab,
    data: PathBuf,
    sshd: Vec<Process>,
    dockerds: Vec<Dockerd>,
    agents: Vec<Agent>,
}

impl DataLab {
    fn start() -> DataLab {
        let lab = Lab::builder()
            .nodes(2)
            .private_mounts(true)
            .build()
            .unwrap();
        let token = peer_token_file(&lab, "lab-switchover-token\n");
        let data = lab.dir().join("srv/data");
        let ssh = ssh_manifest(&lab);
        let mut sshd = Vec::new();
        let mut dockerds = Vec::new();
        let mut agents = Vec::new();
        for host in [lab.node(1), lab.node(2)] {
            host.mount_tmpfs(&data).unwrap();
            sshd.push(host.start_sshd().unwrap());
            let dockerd = host.start_dockerd().unwrap();
            let image = busybox_image(dockerd.uri()).unwrap();
            let log_dir = lab.dir().join(format!("log-{}", host.name()));
            std::fs::create_dir_all(&log_dir).unwrap();
            let stack = lab.dir().join(format!("writer-{}.yaml", host.name()));
            // ~100 files/s, each logged once written; a container's files
            // are named after it, so restarts never reuse a name.
            std::fs::write(
                &stack,
                format!(
                    "services:\n  writer:\n    image: {image}\n    init: true\n    stop_grace_period: 1s\n    \
                     volumes: [\"{data}:/data\", \"{log}:/log\"]\n    \
                     command: [sh, -c, 'i=0; while true; do i=$$((i+1)); f=$$(hostname)-$$i; \
                     echo $$i > /data/$$f && echo $$f >> /log/written; sleep 0.01; done']\n",
                    data = data.display(),
                    log = log_dir.display(),
                ),
            )
            .unwrap();
            agents.push(start_applied(
                &lab,
                host,
                &dockerd,
                &data_manifest(&stack, &token, &data, &ssh),
            ));
            dockerds.push(dockerd);
        }
        let setup = DataLab {
            lab,
            data,
            sshd,
            dockerds,
            agents,
        };
        assert!(
            wait_until(MOVE, || holds(setup.lab.node(1))
                && read_lines(&setup.log(1)).len() > 300
                && setup.agents[1].vrrp_state().as_deref() == Some("Backup")),
            "n1 never became master with its writer running\n{}",
            setup.logs()
        );
        setup
    }

    /// The files node `i`'s writer containers logged as they wrote them
    /// (outside the replicated path).
    fn log(&self, i: usize) -> PathBuf {
        self.lab.dir().join(format!("log-n{i}/written"))
    }

    fn logs(&self) -> String {
        pair_logs(&self.agents[0], &self.agents[1])
    }

    fn stop(self) {
        stop_docker_lab(self.agents, self.dockerds);
        drop(self.sshd);
    }
}

#[test]
fn a_switchover_under_write_load_loses_no_file() {
    require_privileges!();
    let _serial = serial();
    let setup = DataLab::start();
    let (n1, n2, data, dockerds) = (
        setup.lab.node(1),
        setup.lab.node(2),
        &setup.data,
        &setup.dockerds,
    );
    let a1 = &setup.agents[0];
    let all = || setup.logs();
    let out = a1.hc(&["switchover", "web", "--to", "n2", "--wait=90s"]);
    assert!(out.status.success(), "{}\n{}", text(&out), all());
    assert!(
        wait_until(MOVE, || holds(n2)
            && !holds(n1)
            && !runs_writer(&dockerds[0])),
        "n2 did not take over, or n1's writer still runs\n{}",
        all()
    );
    let on_n1 = read_lines(&setup.log(1));
    let present = |name: &String| {
        n2.exec(&["test", "-e", &data.join(name).display().to_string()])
            .is_ok_and(|out| out.success())
    };
    let lost: Vec<&String> = on_n1.iter().filter(|name| !present(name)).collect();
    println!(
        "planned switchover under write load: {} files written on n1, {} missing on n2",
        on_n1.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "{} of {} files written on n1 are missing on n2 (first: {:?})\n{}",
        lost.len(),
        on_n1.len(),
        lost.first(),
        all()
    );
    let events =
        String::from_utf8_lossy(&a1.hc(&["events", "replication", "data"]).stdout).into_owned();
    assert!(events.contains("FinalSyncDone"), "n1's events:\n{events}");
    setup.stop();
}

#[test]
fn a_failed_final_sync_keeps_the_vip_and_the_writer_on_the_old_master() {
    require_privileges!();
    let _serial = serial();
    let mut setup = DataLab::start();
    // The target's sshd dies with its sessions: no push can reach it
    // (pushes share one ssh connection per target, served by a session
    // the listener forked, which would outlive the listener alone).
    let sshd = setup.sshd.remove(1);
    let sessions = process_tree(sshd.pid());
    drop(sshd);
    for pid in sessions {
        // A session may have ended already: not an error.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let (n1, n2) = (setup.lab.node(1), setup.lab.node(2));
    let a1 = &setup.agents[0];
    let out = a1.hc(&["switchover", "web", "--to", "n2"]);
    assert!(out.status.success(), "{}\n{}", text(&out), setup.logs());
    let events =
        || String::from_utf8_lossy(&a1.hc(&["events", "replication", "data"]).stdout).into_owned();
    assert!(
        wait_until(MOVE, || events().contains("FinalSyncFailed")),
        "no FinalSyncFailed on n1:\n{}\n{}",
        events(),
        setup.logs()
    );
    // The writer runs again on n1, which keeps the VIP; n2 keeps waiting.
    let before = read_lines(&setup.log(1)).len();
    assert!(
        wait_until(MOVE, || runs_writer(&setup.dockerds[0])
            && read_lines(&setup.log(1)).len() > before + 50),
        "n1's writer did not start again\n{}",
        setup.logs()
    );
    assert!(
        holds(n1) && !holds(n2),
        "the VIP moved without the final sync\n{}",
        setup.logs()
    );
    let replication = String::from_utf8_lossy(
        &setup.agents[1]
            .hc(&["get", "replication", "data", "-o", "json"])
            .stdout,
    )
    .into_owned();
    assert!(replication.contains("AwaitingFinalSync"), "{replication}");
    setup.stop();
}

/// Whether the writer container runs on this node's daemon.
fn runs_writer(dockerd: &Dockerd) -> bool {
    dockerd
        .docker(&["ps", "--filter", "status=running", "--format", "{{.Names}}"])
        .map(|out| out.stdout.lines().any(|name| name.contains("writer")))
        .unwrap_or(false)
}
