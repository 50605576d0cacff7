//! The fault menu: what can happen to one node (or between the two), how
//! to cause it in the lab and how to undo it.
//!
//! Lab nodes are namespaces of one kernel and share its wall clock (a
//! time namespace offsets only the monotonic clocks), and the campaign
//! never touches the host's: a clock jump is the node's agent, and
//! everything it starts, seeing a wall clock moved by libfaketime (see
//! [`crate::rig::Rig::clock_file`]), as after an NTP step; the monotonic
//! clocks run on, as they do then. The quorum lab has no hanging hooks,
//! no state tmpfs and no faked clock, so its menu leaves those three out
//! and adds the witness's loss; its partitions put the witness on either
//! side.

use std::fmt;
use std::time::Duration;

use crate::rig::{Rig, Topology};
use crate::seed::Rng;
use hareconcile_lab::Host;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The node's cable pulled beyond the switch.
    NodeLoss,
    /// n1 and n2 cut from each other; the client stays with one of them.
    Partition,
    /// 30 % of the node's frames dropped each way.
    PacketLoss,
    /// The agent SIGKILLed (with its hooks), restarted on its state.
    AgentKill,
    /// The agent frozen with SIGSTOP, then SIGCONT.
    AgentStop,
    /// The node's own dockerd SIGKILLed, then restarted on its state.
    DockerdKill,
    /// The node's sshd killed (replication pushes and catch-ups fail).
    SshdKill,
    /// The node's replication hooks hang until their timeout.
    HookHang,
    /// The agent's state directory (a tmpfs) filled to the last byte.
    DiskFull,
    /// The witness's cable pulled (quorum only).
    WitnessLoss,
    /// The node's wall clock stepped forward or back by minutes to hours
    /// (an NTP step, a VM restored from a snapshot), then back.
    ClockJump,
}

const ALL: [Kind; 11] = [
    Kind::NodeLoss,
    Kind::Partition,
    Kind::PacketLoss,
    Kind::AgentKill,
    Kind::AgentStop,
    Kind::DockerdKill,
    Kind::SshdKill,
    Kind::HookHang,
    Kind::DiskFull,
    Kind::WitnessLoss,
    Kind::ClockJump,
];

impl Kind {
    /// Whether the lab can cause it: the quorum lab has no hanging hooks,
    /// no state tmpfs and no faked clock, the two-node lab no witness.
    fn fits(self, topology: Topology) -> bool {
        match self {
            Kind::HookHang | Kind::DiskFull | Kind::ClockJump => topology == Topology::Pair,
            Kind::WitnessLoss => topology == Topology::Quorum,
            _ => true,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Kind::NodeLoss => "node-loss",
            Kind::Partition => "partition",
            Kind::PacketLoss => "packet-loss-30%",
            Kind::AgentKill => "agent-sigkill",
            Kind::AgentStop => "agent-sigstop",
            Kind::DockerdKill => "dockerd-sigkill",
            Kind::SshdKill => "sshd-kill",
            Kind::HookHang => "hook-hang",
            Kind::DiskFull => "state-disk-full",
            Kind::WitnessLoss => "witness-loss",
            Kind::ClockJump => "clock-jump",
        };
        f.write_str(name)
    }
}

/// One fault of the campaign: what, on which node (0 is n1), for how long.
pub struct Fault {
    pub kind: Kind,
    pub node: usize,
    /// For a partition: whether the client is on the other node's side.
    client_on_other_side: bool,
    /// For a partition in the quorum lab: whether the witness is.
    witness_on_other_side: bool,
    pub hold: Duration,
}

impl Fault {
    pub fn pick(rng: &mut Rng, topology: Topology) -> Fault {
        let menu: Vec<Kind> = ALL.into_iter().filter(|k| k.fits(topology)).collect();
        Fault {
            kind: menu[rng.below(menu.len())],
            node: rng.below(2),
            client_on_other_side: rng.coin(),
            // Drawn only where there is a witness, so that a pair lab's seed
            // replays the same faults as before the quorum lab was added.
            witness_on_other_side: topology == Topology::Quorum && rng.coin(),
            hold: rng.millis(1_000, 12_000),
        }
    }

    /// The two sides of a partition: node `node` with whoever is not on
    /// the other side, the other node with the rest.
    fn sides<'a>(&self, rig: &'a Rig) -> (Vec<&'a Host>, Vec<&'a Host>) {
        let mut near = vec![rig.node(self.node)];
        let mut far = vec![rig.node(1 - self.node)];
        let mut place = |host: &'a Host, other_side: bool| match other_side {
            true => far.push(host),
            false => near.push(host),
        };
        place(rig.lab.client(), self.client_on_other_side);
        if let Some(witness) = rig.witness() {
            place(witness, self.witness_on_other_side);
        }
        (near, far)
    }

    pub fn describe(&self, rig: &Rig) -> String {
        let node = rig.node(self.node).name();
        match self.kind {
            Kind::Partition => {
                let (near, far) = self.sides(rig);
                let names =
                    |side: Vec<&Host>| side.iter().map(|h| h.name()).collect::<Vec<_>>().join("+");
                format!("partition {} | {}", names(near), names(far))
            }
            Kind::WitnessLoss => "witness-loss".to_string(),
            Kind::ClockJump => format!("clock-jump {node} {:+} s", self.clock_step()),
            kind => format!("{kind} {node}"),
        }
    }

    /// A clock jump's step in seconds: forward 1,000 to 12,000 s or back
    /// a tenth of that, from the draws every fault has (so that adding
    /// it drew nothing more from the seed).
    fn clock_step(&self) -> i64 {
        let seconds = i64::try_from(self.hold.as_millis()).unwrap_or(12_000);
        match self.client_on_other_side {
            true => seconds,
            false => -seconds / 10,
        }
    }

    pub fn inject(&self, rig: &mut Rig) {
        let i = self.node;
        let host = rig.lab.node(i + 1);
        match self.kind {
            Kind::NodeLoss => rig.lab.node_loss(host).unwrap(),
            Kind::Partition => {
                let (near, far) = self.sides(rig);
                rig.lab.partition(&near, &far).unwrap();
            }
            Kind::WitnessLoss => {
                let witness = rig.witness().expect("a witness");
                rig.lab.node_loss(witness).unwrap();
            }
            Kind::PacketLoss => rig.lab.packet_loss(host, 30).unwrap(),
            Kind::AgentKill => {
                if let Some(agent) = rig.agents[i].take() {
                    agent.process.signal(libc::SIGKILL);
                }
            }
            Kind::AgentStop => {
                if let Some(agent) = &rig.agents[i] {
                    agent.process.signal(libc::SIGSTOP);
                }
            }
            Kind::DockerdKill => {
                let pidfile = rig
                    .lab
                    .dir()
                    .join(format!("docker-{}/docker.pid", host.name()));
                let pid: i32 = std::fs::read_to_string(&pidfile)
                    .ok()
                    .and_then(|p| p.trim().parse().ok())
                    .unwrap_or_else(|| panic!("no pid in {}", pidfile.display()));
                // SAFETY: a plain syscall on a pid of this lab's dockerd.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            Kind::SshdKill => rig.sshd[i] = None,
            Kind::ClockJump => rig.set_clock(i, self.clock_step()),
            Kind::HookHang => std::fs::write(rig.hook_gate(i), "").unwrap(),
            Kind::DiskFull => {
                let filler = rig.state_dir(i).join("filler");
                // dd stops at ENOSPC, which is the point.
                host.exec(&[
                    "sh",
                    "-c",
                    &format!("dd if=/dev/zero of={} bs=64k 2>/dev/null", filler.display()),
                ])
                .unwrap();
            }
        }
    }

    /// Undoes the fault; an error when the lab itself could not (a dockerd
    /// that would not start again).
    pub fn heal(&self, rig: &mut Rig) -> Result<(), String> {
        let i = self.node;
        match self.kind {
            Kind::NodeLoss | Kind::Partition | Kind::PacketLoss | Kind::WitnessLoss => {}
            Kind::AgentKill => rig.agents[i] = Some(rig.start_agent(i)),
            Kind::AgentStop => {
                if let Some(agent) = &rig.agents[i] {
                    agent.process.signal(libc::SIGCONT);
                }
            }
            Kind::DockerdKill => restart_dockerd(rig, i)?,
            Kind::SshdKill => rig.start_sshd(i),
            Kind::ClockJump => rig.set_clock(i, 0),
            Kind::HookHang => std::fs::remove_file(rig.hook_gate(i)).unwrap(),
            Kind::DiskFull => {
                let filler = rig.state_dir(i).join("filler");
                rig.lab
                    .node(i + 1)
                    .exec_ok(&["rm", "-f", &filler.display().to_string()])
                    .unwrap();
            }
        }
        // Whatever the fault, the network is whole again afterwards.
        rig.lab.heal_all().map_err(|e| e.to_string())
    }
}

/// Starts node `i`'s killed dockerd again on its state. On a loaded
/// machine its containerd may not come up in time (dockerd gives up after
/// a minute): a failed start is retried twice before it counts as the
/// lab's failure.
fn restart_dockerd(rig: &mut Rig, i: usize) -> Result<(), String> {
    let host = rig.lab.node(i + 1);
    // The killed daemon's own containerd outlives it; systemd would stop
    // it with the unit's cgroup. Left running, the new daemon waits for
    // it and gives up.
    let exec_root = rig.lab.dir().join(format!("docker-{}/exec/", host.name()));
    for pid in processes_naming(&exec_root.display().to_string(), "containerd") {
        // SAFETY: a plain syscall on a pid of this lab's containerd.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut last = String::new();
    for _ in 0..3 {
        match host.restart_dockerd(&mut rig.dockerds[i]) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let text = e.to_string();
                let tail: String = text
                    .chars()
                    .skip(text.chars().count().saturating_sub(600))
                    .collect();
                eprintln!(
                    "campaign: {}'s dockerd did not start again: ...{tail}",
                    host.name()
                );
                last = tail;
            }
        }
    }
    Err(format!(
        "the lab could not start {}'s dockerd again after its SIGKILL (3 tries): ...{last}",
        host.name()
    ))
}

/// The pids of programs called `program` whose command line mentions `text`.
fn processes_naming(text: &str, program: &str) -> Vec<i32> {
    hareconcile_runtime::process_tree::processes()
        .into_iter()
        .filter(|proc| {
            let name = proc
                .args
                .first()
                .and_then(|arg0| std::path::Path::new(arg0).file_name())
                .and_then(|name| name.to_str());
            name == Some(program) && proc.args.iter().any(|a| a.contains(text))
        })
        .map(|proc| proc.pid)
        .collect()
}
