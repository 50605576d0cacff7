//! Exclusive stacks (`handover: break-before-make`) on a real (namespace)
//! LAN with a dockerd per node and the peer API between the agents: the
//! stack never runs on both nodes at once, when both agents start together
//! at 50 ms adverts, on a failover to a node kept in maintenance and the
//! preempt-back that follows, and on a switchover and back.
//!
//! Each engine's event stream records every container start and exit of
//! the stack with the daemon's nanosecond timestamp (both daemons run on
//! this host's clock), so the test sees every moment a container ran on
//! either node, not samples of it, and asserts that no moment on n1
//! overlaps one on n2. (A make-before-break stack keeps its zero-outage
//! preempt-back: tests/vrrp_takeover.rs.)

mod vrrp_lab;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use hareconcile_test_support::lab_manifests::cluster_manifest_every;
use vrrp_lab::*;

const MOVE: Duration = Duration::from_secs(60);

/// Fast adverts make both nodes claim master at once more often when they
/// start together: the case a make-before-break stack runs twice in.
const ADVERTS: Duration = Duration::from_millis(50);

/// The Cluster (with the peer API), VirtualIP `web` with `vip_more` in
/// its spec, and the exclusive Service `shop` running `stack` in `mode`
/// (with what follows it in the spec: `warm, standby: paused`).
fn manifest_in_mode(token: &Path, vip_more: &str, stack: &Path, mode: &str) -> String {
    let peer = format!("  peer: {{port: 7979, tokenFile: {}}}\n", token.display());
    cluster_manifest_every(ADVERTS, (110, 100), &peer)
        + &web_vip_manifest(vip_more)
        + &shop_manifest(stack).replace(
            "mode: active-passive,",
            &format!("mode: {mode}, handover: break-before-make,"),
        )
}

/// The starts and exits of one daemon's containers, from `docker events`.
struct Recorder {
    node: &'static str,
    events: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: JoinHandle<()>,
}

impl Recorder {
    fn start(node: &'static str, dockerd: &Dockerd) -> Recorder {
        let mut events = Command::new("docker")
            .args(["-H", dockerd.uri(), "events", "--filter", "type=container"])
            .args(["--filter", "event=start", "--filter", "event=die"])
            .args([
                "--format",
                "{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker events");
        let stdout = events.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = std::thread::spawn({
            let lines = lines.clone();
            move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            }
        });
        Recorder {
            node,
            events,
            lines,
            reader,
        }
    }

    fn intervals(&self) -> Vec<Ran> {
        intervals(&self.lines.lock().unwrap())
    }

    fn stop(self) -> Vec<Ran> {
        let Recorder {
            mut events,
            lines,
            reader,
            ..
        } = self;
        let _ = events.kill();
        let _ = events.wait();
        let _ = reader.join();
        let lines = lines.lock().unwrap();
        intervals(&lines)
    }
}

/// When a container of the stack ran: start and exit in nanoseconds
/// (`u128::MAX` while it still runs), and its name.
type Ran = (u128, u128, String);

/// The runs of the stack's containers in `docker events` lines.
fn intervals(lines: &[String]) -> Vec<Ran> {
    let mut open: Vec<(u128, String)> = Vec::new();
    let mut done = Vec::new();
    for line in lines {
        let mut fields = line.splitn(3, ' ');
        let (Some(at), Some(action), Some(name)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (Ok(at), true) = (at.parse::<u128>(), name.starts_with("shop")) else {
            continue;
        };
        match action {
            "start" => open.push((at, name.to_string())),
            _ => {
                if let Some(i) = open.iter().position(|(_, n)| n == name) {
                    let (from, name) = open.remove(i);
                    done.push((from, at, name));
                }
            }
        }
    }
    done.extend(open.into_iter().map(|(from, name)| (from, u128::MAX, name)));
    done
}

/// Panics with both histories if a container ran on n1 while one ran on n2.
fn assert_never_both(n1: &Recorder, n2: &Recorder) {
    let (on1, on2) = (n1.intervals(), n2.intervals());
    for (a_from, a_to, a) in &on1 {
        for (b_from, b_to, b) in &on2 {
            assert!(
                a_from.max(b_from) >= a_to.min(b_to),
                "{a} ran on {} while {b} ran on {}: {} ns together\n{}: {on1:?}\n{}: {on2:?}",
                n1.node,
                n2.node,
                a_to.min(b_to) - a_from.max(b_from),
                n1.node,
                n2.node,
            );
        }
    }
}

/// Both nodes' engines, recorded from the start, and their agents.
struct Pair {
    lab: TwoNodes,
    token: PathBuf,
    dockerds: Vec<Dockerd>,
    /// Each node's web stack, for its engine.
    stacks: Vec<PathBuf>,
    /// The Service's `mode` and what follows it in its spec.
    mode: &'static str,
    recorders: [Recorder; 2],
    agents: Vec<Agent>,
}

impl Pair {
    /// `lab`: [`two_nodes!`], which skips the test without privileges;
    /// `mode`: the Service's, as [`manifest_in_mode`] takes it.
    fn start(lab: TwoNodes, mode: &'static str) -> Pair {
        let token = peer_token_file(&lab, "lab-exclusive-token\n");
        let dockerds = lab.start_dockerds().unwrap();
        let stacks = [lab.node(1), lab.node(2)]
            .into_iter()
            .zip(&dockerds)
            .map(|(host, dockerd)| write_web_stack(&lab, host, dockerd))
            .collect();
        let recorders = [
            Recorder::start("n1", &dockerds[0]),
            Recorder::start("n2", &dockerds[1]),
        ];
        Pair {
            lab,
            token,
            dockerds,
            stacks,
            mode,
            recorders,
            agents: Vec::new(),
        }
    }

    /// Each node's manifests, with `vip_more` in the VirtualIP's spec.
    fn manifest(&self, node: usize, vip_more: &str) -> String {
        manifest_in_mode(&self.token, vip_more, &self.stacks[node - 1], self.mode)
    }

    /// Writes both nodes' manifests into their manifests directories.
    fn write_all(&self, vip_more: &str) {
        for node in [1, 2] {
            Agent::write_manifest(
                &self.lab,
                self.lab.node(node),
                &self.manifest(node, vip_more),
            );
        }
    }

    /// Starts both agents together, on the manifests [`Pair::write_all`] wrote.
    fn start_together(&mut self) {
        self.write_all("");
        self.agents = [1, 2]
            .into_iter()
            .map(|node| {
                let uri = self.dockerds[node - 1].uri();
                Agent::start_with(&self.lab, self.lab.node(node), &["--docker-host", uri])
            })
            .collect();
    }

    /// Waits until the VIP and the stack are on node `to` (1 or 2) alone,
    /// then checks that the stack never ran on both nodes so far.
    fn settled_on(&self, to: usize, what: &str) {
        let (here, there) = (to - 1, 2 - to);
        let (hosts, d) = ([self.lab.node(1), self.lab.node(2)], &self.dockerds);
        assert!(
            wait_until(MOVE, || holds(hosts[here])
                && !holds(hosts[there])
                && runs(&d[here])
                && !runs(&d[there])),
            "{what}\n{}",
            self.logs()
        );
        assert_never_both(&self.recorders[0], &self.recorders[1]);
    }

    fn logs(&self) -> String {
        pair_logs(&self.agents[0], &self.agents[1])
    }

    /// From n1 to n2 and back by maintenance, checking each move; then
    /// stops the lab and checks that both nodes ran the stack.
    fn over_to_n2_and_back(self) {
        // n1 in maintenance: n2 takes the VIP, and its stack once n1's stopped.
        self.write_all(", control: {forceBackup: [n1]}");
        self.settled_on(2, "n2 did not take over with the stack");

        // Out of maintenance, n1 (110) preempts n2 (100) back at once: it
        // does not hold for a stack that cannot run ahead, and starts it
        // only once n2 stopped it.
        self.write_all("");
        self.settled_on(1, "n1 did not preempt back with the stack");
        let [on1, on2] = self.stop();
        assert!(on1.len() >= 2 && !on2.is_empty(), "n1 {on1:?}\nn2 {on2:?}");
    }

    /// Stops the recorders (printing what ran where), the agents, the engines.
    fn stop(self) -> [Vec<Ran>; 2] {
        let [r1, r2] = self.recorders;
        let ran = [r1.stop(), r2.stop()];
        println!("n1 ran {:?}\nn2 ran {:?}", ran[0], ran[1]);
        stop_docker_lab(self.agents, self.dockerds);
        ran
    }
}

#[test]
fn an_exclusive_stack_never_runs_on_both_nodes_from_cold_start_through_a_preempt_back() {
    let mut pair = Pair::start(two_nodes!(), "active-passive");
    pair.start_together();
    pair.settled_on(1, "n1 never became master with the stack");

    pair.over_to_n2_and_back();
}

#[test]
fn an_exclusive_stack_never_runs_on_both_nodes_through_a_switchover_and_back() {
    let mut pair = Pair::start(two_nodes!(), "active-passive");
    pair.agents = [1, 2]
        .into_iter()
        .map(|node| {
            let (host, dockerd) = (pair.lab.node(node), &pair.dockerds[node - 1]);
            start_applied(&pair.lab, host, dockerd, &pair.manifest(node, ""))
        })
        .collect();
    pair.settled_on(1, "n1 never became master with the stack");

    let a1 = &pair.agents[0];
    let out = a1.hc(&["switchover", "web", "--to", "n2", "--wait=60s"]);
    assert!(out.status.success(), "{}\n{}", text(&out), pair.logs());
    pair.settled_on(2, "the switchover to n2 did not move the stack");

    // Cleared: n1 (110, preempt on) takes the VIP back.
    let out = a1.hc(&["switchover", "web", "--clear"]);
    assert!(out.status.success(), "{}\n{}", text(&out), pair.logs());
    pair.settled_on(1, "n1 did not take the stack back");
    let [on1, on2] = pair.stop();
    assert!(on1.len() >= 2 && !on2.is_empty(), "n1 {on1:?}\nn2 {on2:?}");
}

/// `standby: paused` would start the stack on the standby and freeze it
/// there: its processes would run beside the master's (a start with no
/// exit in the standby's engine events). An exclusive stack's standby is
/// stopped instead, from cold start through a failover and back.
#[test]
fn an_exclusive_stack_asked_for_a_paused_standby_never_starts_it_there() {
    let mut pair = Pair::start(two_nodes!(), "warm, standby: paused");
    pair.start_together();
    pair.settled_on(1, "n1 never became master with the stack");
    // The standby's containers are there, stopped (created, or exited if
    // n2 ran the stack as master for a moment of the cold start).
    let stopped = |dockerd: &Dockerd| {
        dockerd
            .docker(&["ps", "-a", "--format", "{{.Names}} {{.State}}"])
            .map(|out| {
                out.stdout.lines().any(|line| {
                    line.contains("web")
                        && (line.ends_with(" created") || line.ends_with(" exited"))
                })
            })
            .unwrap_or(false)
    };
    assert!(
        wait_until(MOVE, || stopped(&pair.dockerds[1])),
        "n2 keeps no stopped standby\n{}",
        pair.logs()
    );
    assert_never_both(&pair.recorders[0], &pair.recorders[1]);
    // A paused standby's container would start and never exit: the
    // checks on each move would find it beside the master's.
    pair.over_to_n2_and_back();
}
