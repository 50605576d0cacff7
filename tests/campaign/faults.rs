//! The fault menu: what can happen to one node (or between the two), how
//! to cause it in the lab and how to undo it.
//!
//! Left out, and why (docs/RELIABILITY.md):
//! - clock jump: lab nodes are namespaces of one kernel and share its
//!   wall clock (time namespaces offset only the monotonic clocks); the
//!   campaign never touches the host's clock;
//! - a witness on either side of a partition: this lab has no quorum
//!   engine (two nodes, plain VRRP).

use std::fmt;
use std::time::Duration;

use crate::rig::Rig;
use crate::seed::Rng;

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
}

pub const MENU: [Kind; 9] = [
    Kind::NodeLoss,
    Kind::Partition,
    Kind::PacketLoss,
    Kind::AgentKill,
    Kind::AgentStop,
    Kind::DockerdKill,
    Kind::SshdKill,
    Kind::HookHang,
    Kind::DiskFull,
];

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
    pub hold: Duration,
}

impl Fault {
    pub fn pick(rng: &mut Rng) -> Fault {
        Fault {
            kind: MENU[rng.below(MENU.len())],
            node: rng.below(2),
            client_on_other_side: rng.coin(),
            hold: rng.millis(1_000, 12_000),
        }
    }

    pub fn describe(&self, rig: &Rig) -> String {
        let node = rig.node(self.node).name();
        match self.kind {
            Kind::Partition => {
                let other = rig.node(1 - self.node).name();
                let (near, far) = if self.client_on_other_side {
                    ("", "+client")
                } else {
                    ("+client", "")
                };
                format!("partition {node}{near} | {other}{far}")
            }
            kind => format!("{kind} {node}"),
        }
    }

    pub fn inject(&self, rig: &mut Rig) {
        let i = self.node;
        let host = rig.lab.node(i + 1);
        match self.kind {
            Kind::NodeLoss => rig.lab.node_loss(host).unwrap(),
            Kind::Partition => {
                let (other, client) = (rig.lab.node(2 - i), rig.lab.client());
                let (near, far) = if self.client_on_other_side {
                    (vec![host], vec![other, client])
                } else {
                    (vec![host, client], vec![other])
                };
                rig.lab.partition(&near, &far).unwrap();
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

    pub fn heal(&self, rig: &mut Rig) {
        let i = self.node;
        match self.kind {
            Kind::NodeLoss | Kind::Partition | Kind::PacketLoss => {}
            Kind::AgentKill => rig.agents[i] = Some(rig.start_agent(i)),
            Kind::AgentStop => {
                if let Some(agent) = &rig.agents[i] {
                    agent.process.signal(libc::SIGCONT);
                }
            }
            Kind::DockerdKill => {
                let host = rig.lab.node(i + 1);
                host.restart_dockerd(&mut rig.dockerds[i])
                    .expect("restart the killed dockerd");
            }
            Kind::SshdKill => rig.start_sshd(i),
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
        rig.lab.heal_all().unwrap();
    }
}
