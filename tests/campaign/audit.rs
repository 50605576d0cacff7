//! After each healed fault: wait until the cluster settles, then check
//! what must hold whatever happened before.
//!
//! Settled means, all at once: the VIP on exactly one node (`ip addr` on
//! every node), every agent's own VRRP state Master there and not
//! elsewhere, every agent's peer summaries (where the Cluster has a peer
//! API) naming that node and only it as master of `web`, every agent's
//! store writable, the Service's containers running there and nowhere
//! else, its Replication serving as source there and both copies holding
//! the same term. Then the audits: no stray VIP, replication terms only
//! grow, every committed write on the master, every agent alive without
//! a panic and under its fd and RSS bounds.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hareconcile_test_support::lab_manifests::vip;
use serde_json::Value;

use hareconcile_test_support::LabAgent;

use crate::rig::{Rig, Topology, SETTLE};

/// A healthy agent holds a few dozen descriptors; a leak per fault shows
/// up within a long campaign.
pub const FD_BOUND: usize = 256;
/// The debug build's agent runs in about 20-40 MiB.
pub const RSS_BOUND_KIB: u64 = 256 * 1024;

/// How long the settled state must hold, checked every half second, so
/// that a reconciliation still on its way (a late catch-up, a refused
/// push) shows up before the audits.
const STABLE: Duration = Duration::from_secs(2);

/// Waits until the cluster settles and stays so for [`STABLE`]; the
/// master (0 is n1) and how long until it first settled, or what was
/// last seen wrong.
pub fn settle(rig: &Rig) -> Result<(usize, Duration), String> {
    let started = Instant::now();
    let mut since: Option<(usize, Instant)> = None;
    loop {
        match (settled(rig), since) {
            (Ok(master), Some((before, at))) if master == before => {
                if at.elapsed() >= STABLE {
                    return Ok((master, at - started));
                }
            }
            (Ok(master), _) => since = Some((master, Instant::now())),
            (Err(last), _) if started.elapsed() > SETTLE => {
                return Err(format!("not settled after {SETTLE:?}: {last}"))
            }
            (Err(_), _) => since = None,
        }
        if started.elapsed() > 2 * SETTLE {
            return Err(format!(
                "settled but never for {STABLE:?} in {:?}",
                2 * SETTLE
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn settled(rig: &Rig) -> Result<usize, String> {
    let holders = vip_holders(rig);
    let [master] = holders[..] else {
        return Err(format!("the VIP is on {}", names(rig, &holders)));
    };
    let name = rig.node(master).name();
    for (i, agent) in rig.agents.iter().enumerate() {
        let agent = agent
            .as_ref()
            .ok_or_else(|| format!("{} has no agent", rig.node(i).name()))?;
        let status: Value = serde_json::from_str(&agent.hc_stdout(&["status", "-o", "json"]))
            .map_err(|e| format!("{}'s status: {e}", agent.name))?;
        if status["storeWritable"] != true {
            return Err(format!("{}'s store is not writable", agent.name));
        }
        // Its own VRRP state: master exactly where the VIP is.
        let own = agent.vip_status("web").state().map(|s| s.to_string());
        if (own.as_deref() == Some("Master")) != (i == master) {
            return Err(format!(
                "{} is in state {own:?} (VIP on {name})",
                agent.name
            ));
        }
        // Its peer summaries, where the Cluster has a peer API (the quorum
        // lab's has none).
        if rig.topology == Topology::Pair {
            peers_agree(agent, &status, name)?;
        }
    }
    // The copies agree on the master's term: no reconciliation (a
    // catch-up, a refused push) is still to come.
    let terms = [rig.term(0), rig.term(1)];
    if terms[0].is_none() || terms[0] != terms[1] {
        return Err(format!("the copies' terms differ: {terms:?}"));
    }
    let running = service_nodes(rig);
    if running != [master] {
        return Err(format!("the Service runs on {}", names(rig, &running)));
    }
    let source = rig.agents[master].as_ref().unwrap();
    let replication = source.object("replication", "data");
    let ready = source.condition("replication", "data", "Ready");
    if replication["status"]["role"] != "source" || ready != Some(("True".into(), "Source".into()))
    {
        return Err(format!("{name}'s Replication is not serving: {ready:?}"));
    }
    Ok(master)
}

/// Whether `agent`'s peer summaries (`status -o json`) show both nodes
/// reachable and `master`, and only it, master of `web`.
fn peers_agree(agent: &LabAgent, status: &Value, master: &str) -> Result<(), String> {
    let nodes = status["nodes"].as_array().cloned().unwrap_or_default();
    let masters: Vec<&str> = nodes
        .iter()
        .filter(|n| {
            n["masterOf"]
                .as_array()
                .is_some_and(|m| m.iter().any(|v| v == "web"))
        })
        .filter_map(|n| n["name"].as_str())
        .collect();
    let unreachable: Vec<&str> = nodes
        .iter()
        .filter(|n| n["reachable"] != true)
        .filter_map(|n| n["name"].as_str())
        .collect();
    if masters != [master] || !unreachable.is_empty() || nodes.len() != 2 {
        return Err(format!(
            "{}'s peers: masters {masters:?}, unreachable {unreachable:?} (VIP on {master})",
            agent.name
        ));
    }
    Ok(())
}

/// The nodes with the VIP on any interface.
pub fn vip_holders(rig: &Rig) -> Vec<usize> {
    (0..2).filter(|&i| vip_count(rig.node(i)) > 0).collect()
}

/// How often the VIP appears in the host's addresses, all interfaces.
fn vip_count(host: &hareconcile_lab::Host) -> usize {
    let needle = format!("inet {}/", vip());
    host.exec(&["ip", "-o", "-4", "address", "show"])
        .map(|out| out.stdout.matches(&needle).count())
        .unwrap_or(0)
}

/// The nodes whose dockerd runs a container of the Service's stack.
fn service_nodes(rig: &Rig) -> Vec<usize> {
    (0..2)
        .filter(|&i| {
            rig.dockerds[i]
                .docker(&["ps", "--filter", "status=running", "--format", "{{.Names}}"])
                .map(|out| out.stdout.lines().any(|n| n.starts_with(rig.service())))
                .unwrap_or(false)
        })
        .collect()
}

fn names(rig: &Rig, nodes: &[usize]) -> String {
    let names: Vec<&str> = nodes.iter().map(|&i| rig.node(i).name()).collect();
    format!("{names:?}")
}

/// No VIP anywhere but once on the master: not on the other node, not on
/// the witness or the client, not twice.
pub fn no_stray_vip(rig: &Rig, master: usize) -> Result<(), String> {
    let counts: Vec<(&str, usize)> = rig
        .lab
        .hosts()
        .iter()
        .map(|host| (host.name(), vip_count(host)))
        .collect();
    let expected: Vec<(&str, usize)> = rig
        .lab
        .hosts()
        .iter()
        .map(|host| {
            (
                host.name(),
                usize::from(host.name() == rig.node(master).name()),
            )
        })
        .collect();
    if counts != expected {
        return Err(format!(
            "VIP count per host {counts:?}, expected {expected:?}"
        ));
    }
    Ok(())
}

/// Each node's copy's term never goes back; `last` is updated.
pub fn terms_grow(rig: &Rig, last: &mut [Option<(u64, String)>; 2]) -> Result<(), String> {
    for (i, before) in last.iter_mut().enumerate() {
        let now = rig.term(i);
        let went_back = match (&before, &now) {
            (Some(b), Some(n)) => n.0 < b.0,
            (Some(_), None) => true,
            _ => false,
        };
        if went_back {
            return Err(format!(
                "{}'s term went from {before:?} to {now:?}",
                rig.node(i).name()
            ));
        }
        *before = now;
    }
    Ok(())
}

/// Every agent still runs, never panicked, and holds fewer than
/// [`FD_BOUND`] descriptors and [`RSS_BOUND_KIB`] of memory. The worst
/// seen goes into `peak` (fds, RSS KiB).
pub fn agents_healthy(rig: &mut Rig, peak: &mut (usize, u64)) -> Result<(), String> {
    for (i, agent) in rig.agents.iter_mut().enumerate() {
        let name = rig.lab.node(i + 1).name();
        let agent = agent
            .as_mut()
            .ok_or_else(|| format!("{name} has no agent"))?;
        if let Ok(Some(status)) = agent.process.try_wait() {
            return Err(format!("{name}'s agent exited: {status}"));
        }
        if let Some(line) = agent.log().lines().find(|l| l.contains("panicked")) {
            return Err(format!("{name}'s agent panicked: {line}"));
        }
        let pid = agent.process.pid();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        *peak = (peak.0.max(fds), peak.1.max(rss));
        if fds >= FD_BOUND || rss >= RSS_BOUND_KIB {
            return Err(format!(
                "{name}'s agent holds {fds} fds (bound {FD_BOUND}) and {rss} KiB (bound {RSS_BOUND_KIB})"
            ));
        }
    }
    Ok(())
}

/// The writes: acknowledged by the master (on its disk), committed once
/// seen on both nodes' copies, and checked on the master after every
/// fault.
#[derive(Default)]
pub struct Ledger {
    /// On both copies at some point: must never be lost.
    pub committed: BTreeSet<u64>,
    /// Acknowledged, not yet seen on both copies.
    pending: BTreeSet<u64>,
    /// How many of the writer's acknowledgements are in `pending` or
    /// `committed` already.
    taken: usize,
    /// Acknowledged by a master that lost them before they were copied:
    /// what asynchronous replication without quorum does not promise.
    pub unreplicated_lost: u64,
    /// Whether every acknowledged write counts as committed at once: the
    /// quorum lab's server acknowledges a record only after a replication
    /// pass that started after it.
    pub strict: bool,
    /// Committed records looked up on a master, summed over the faults.
    pub checks: u64,
    /// Committed records a master did not have: any is a failure.
    pub lost: u64,
}

impl Ledger {
    pub fn new(strict: bool) -> Ledger {
        Ledger {
            strict,
            ..Ledger::default()
        }
    }

    fn take(&mut self, acked: &[u64]) {
        self.pending.extend(&acked[self.taken..]);
        self.taken = acked.len();
    }

    /// Before a fault: waits until every write acknowledged so far is on
    /// both copies, and commits them.
    pub fn commit(&mut self, rig: &Rig, acked: &[u64]) -> Result<usize, String> {
        self.take(acked);
        let started = Instant::now();
        loop {
            let on_both: BTreeSet<u64> = rig
                .records(0)
                .intersection(&rig.records(1))
                .copied()
                .collect();
            let missing: Vec<u64> = self.pending.difference(&on_both).copied().collect();
            if missing.is_empty() {
                let n = self.pending.len();
                self.committed.append(&mut self.pending);
                return Ok(n);
            }
            if started.elapsed() > SETTLE {
                return Err(format!(
                    "{} acknowledged writes never reached both copies: {:?}...",
                    missing.len(),
                    &missing[..missing.len().min(10)]
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// After a fault, on the settled `master`: every committed write must
    /// be there. Acknowledged ones that are not were never copied: lost
    /// writes too when [`Ledger::strict`], otherwise counted and
    /// forgotten.
    pub fn check(&mut self, rig: &Rig, master: usize, acked: &[u64]) -> Result<(), String> {
        // Acknowledgements first: whatever is acknowledged later was
        // written after the copy is read.
        self.take(acked);
        let present = rig.records(master);
        let mut lost: Vec<u64> = self.committed.difference(&present).copied().collect();
        let gone: Vec<u64> = self.pending.difference(&present).copied().collect();
        self.checks += self.committed.len() as u64;
        if self.strict {
            self.checks += self.pending.len() as u64;
            lost.extend(&gone);
        } else {
            self.unreplicated_lost += gone.len() as u64;
        }
        for n in &gone {
            self.pending.remove(n);
        }
        self.lost += lost.len() as u64;
        if lost.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} acknowledged writes lost on {}: {:?}...",
                lost.len(),
                rig.node(master).name(),
                &lost[..lost.len().min(10)]
            ))
        }
    }
}
