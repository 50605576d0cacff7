//! Faults a test can inject into a lab, each with its undo.
//!
//! - node loss: the node's LAN-side veths leave their bridges (the node keeps
//!   its link up and sees nothing, like a pulled cable beyond the switch);
//! - link down: the node's own interface goes down (the node notices);
//! - partitions and packet loss: nftables rules in the bridge family, in the
//!   LAN namespace, matching frames by their bridge ports; a partition may
//!   cut one IP protocol only (VRRP, while the peer API's TCP still flows).
//!
//! The nftables table is rendered whole from [`FaultState`] and replaced
//! atomically on every change, so the kernel never sees a half-applied state.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::error::{LabError, Result};
use crate::netns;
use crate::process::{NodeCommand, Place};
use crate::topology::{Host, Lab};

const TABLE: &str = "hareconcile_lab";

/// Traffic cut between two sets of LAN ports: all of it, or one IP
/// protocol (by its nftables name or number).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Partition {
    side_a: BTreeSet<String>,
    side_b: BTreeSet<String>,
    protocol: Option<String>,
}

/// The rule-based faults in force, by LAN port name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FaultState {
    partitions: Vec<Partition>,
    /// Percentage of frames dropped, per port and direction.
    loss: BTreeMap<String, u8>,
}

impl FaultState {
    fn add_partition(
        &mut self,
        side_a: BTreeSet<String>,
        side_b: BTreeSet<String>,
        protocol: Option<&str>,
    ) -> Result<()> {
        if side_a.is_empty() || side_b.is_empty() {
            return Err(LabError::Invalid(
                "a partition needs hosts on both sides".into(),
            ));
        }
        if let Some(both) = side_a.intersection(&side_b).next() {
            return Err(LabError::Invalid(format!(
                "{both} cannot be on both sides of a partition"
            )));
        }
        self.partitions.push(Partition {
            side_a,
            side_b,
            protocol: protocol.map(str::to_string),
        });
        Ok(())
    }

    fn set_loss(&mut self, port: String, percent: u8) -> Result<()> {
        match percent {
            0 => {
                self.loss.remove(&port);
            }
            1..=100 => {
                self.loss.insert(port, percent);
            }
            _ => return Err(LabError::Invalid(format!("packet loss of {percent}%"))),
        }
        Ok(())
    }

    /// An `nft -f` script that replaces the lab's table with these faults,
    /// or removes it when there are none. The leading `table` line makes the
    /// `delete` valid when the table does not exist yet.
    fn render(&self) -> String {
        let mut script = format!("table bridge {TABLE}\ndelete table bridge {TABLE}\n");
        if self.partitions.is_empty() && self.loss.is_empty() {
            return script;
        }
        let _ = writeln!(script, "table bridge {TABLE} {{");
        script.push_str("\tchain forward {\n");
        script.push_str("\t\ttype filter hook forward priority 0; policy accept;\n");
        for partition in &self.partitions {
            let (a, b) = (port_set(&partition.side_a), port_set(&partition.side_b));
            // Both IP versions: VRRPv3 over IPv6 is the same protocol number.
            let matches: Vec<String> = match &partition.protocol {
                None => vec![String::new()],
                Some(p) => vec![format!(" ip protocol {p}"), format!(" ip6 nexthdr {p}")],
            };
            for what in &matches {
                let _ = writeln!(script, "\t\tiifname {a} oifname {b}{what} drop");
                let _ = writeln!(script, "\t\tiifname {b} oifname {a}{what} drop");
            }
        }
        for (port, &percent) in &self.loss {
            // `numgen random mod 100` yields 0..=99, so `< 100` is rejected
            // as out of range: total loss is a plain drop.
            let chance = if percent == 100 {
                String::new()
            } else {
                format!(" numgen random mod 100 < {percent}")
            };
            for direction in ["iifname", "oifname"] {
                let _ = writeln!(script, "\t\t{direction} \"{port}\"{chance} drop");
            }
        }
        script.push_str("\t}\n}\n");
        script
    }
}

fn port_set(ports: &BTreeSet<String>) -> String {
    let quoted: Vec<String> = ports.iter().map(|p| format!("\"{p}\"")).collect();
    format!("{{ {} }}", quoted.join(", "))
}

impl Lab {
    /// Node loss: detaches every LAN-side veth of `host` from its bridge.
    pub fn node_loss(&self, host: &Host) -> Result<()> {
        let commands = (0..self.lans())
            .map(|lan| format!("link set {} nomaster", host.lan_port(lan)))
            .collect::<Vec<_>>();
        netns::ip_batch(&self.lan_netns(), self.id(), &commands)
    }

    /// Undoes [`Lab::node_loss`]: plugs the host's veths back into the bridges.
    pub fn node_restore(&self, host: &Host) -> Result<()> {
        let commands = (0..self.lans())
            .map(|lan| {
                format!(
                    "link set {} master {}",
                    host.lan_port(lan),
                    self.bridge(lan)
                )
            })
            .collect::<Vec<_>>();
        netns::ip_batch(&self.lan_netns(), self.id(), &commands)
    }

    /// Sets the host's own interface on `lan` down.
    pub fn link_down(&self, host: &Host, lan: usize) -> Result<()> {
        netns::ip_batch(
            host.netns(),
            self.id(),
            &[format!("link set {} down", host.ifname(lan))],
        )
    }

    /// Undoes [`Lab::link_down`]: the link comes up with its addresses
    /// (the kernel drops IPv6 ones on down) and a usable link-local address.
    pub fn link_up(&self, host: &Host, lan: usize) -> Result<()> {
        netns::ip_batch(host.netns(), self.id(), &host.link_up_commands(lan))?;
        host.wait_link_local(lan)
    }

    /// Cuts all traffic between the hosts of `side_a` and those of `side_b`,
    /// on every LAN; traffic within a side still flows.
    pub fn partition(&self, side_a: &[&Host], side_b: &[&Host]) -> Result<()> {
        self.change_rules(|state| state.add_partition(self.ports(side_a), self.ports(side_b), None))
    }

    /// Cuts only IP `protocol` (an nftables name such as `vrrp`, or a
    /// number) between the hosts of `side_a` and those of `side_b`: the
    /// way to a split brain where VRRP adverts are lost but every other
    /// exchange (the peer API, ssh) still works. Healed with the partitions.
    pub fn partition_protocol(
        &self,
        side_a: &[&Host],
        side_b: &[&Host],
        protocol: &str,
    ) -> Result<()> {
        self.change_rules(|state| {
            state.add_partition(self.ports(side_a), self.ports(side_b), Some(protocol))
        })
    }

    /// Removes every partition.
    pub fn heal_partitions(&self) -> Result<()> {
        self.change_rules(|state| {
            state.partitions.clear();
            Ok(())
        })
    }

    /// Drops `percent`% of frames to and, independently, from `host` on
    /// every LAN (so a round trip survives with (1-p)²); 0 removes the loss.
    pub fn packet_loss(&self, host: &Host, percent: u8) -> Result<()> {
        self.change_rules(|state| {
            (0..self.lans()).try_for_each(|lan| state.set_loss(host.lan_port(lan), percent))
        })
    }

    /// Undoes every fault: all veths back in their bridges, all links up,
    /// no partition, no loss.
    pub fn heal_all(&self) -> Result<()> {
        self.change_rules(|state| {
            *state = FaultState::default();
            Ok(())
        })?;
        for host in self.hosts() {
            self.node_restore(host)?;
            for lan in 0..self.lans() {
                self.link_up(host, lan)?;
            }
        }
        Ok(())
    }

    /// The LAN-side ports of `side`'s hosts, on every LAN.
    fn ports(&self, side: &[&Host]) -> BTreeSet<String> {
        side.iter()
            .flat_map(|host| (0..self.lans()).map(|lan| host.lan_port(lan)))
            .collect()
    }

    /// Applies `change` to the fault state and the resulting rules to the
    /// kernel; on failure the previous state is kept.
    fn change_rules(&self, change: impl FnOnce(&mut FaultState) -> Result<()>) -> Result<()> {
        let mut state = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = state.clone();
        change(&mut next)?;
        Place::netns(netns::path(&self.lan_netns()), self.id()).run_ok(
            &NodeCommand::new("nft")
                .args(["-f", "-"])
                .stdin(next.render()),
        )?;
        *state = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ports: &[&str]) -> BTreeSet<String> {
        ports.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn no_faults_removes_the_table() {
        assert_eq!(
            FaultState::default().render(),
            "table bridge hareconcile_lab\ndelete table bridge hareconcile_lab\n"
        );
    }

    #[test]
    fn partition_drops_both_directions() {
        let mut state = FaultState::default();
        state
            .add_partition(set(&["x.n1a", "x.n2a"]), set(&["x.n3a"]), None)
            .unwrap();
        let script = state.render();
        assert!(script.contains("type filter hook forward priority 0; policy accept;"));
        assert!(script.contains("iifname { \"x.n1a\", \"x.n2a\" } oifname { \"x.n3a\" } drop\n"));
        assert!(script.contains("iifname { \"x.n3a\" } oifname { \"x.n1a\", \"x.n2a\" } drop\n"));
    }

    #[test]
    fn a_protocol_partition_drops_only_that_protocol_both_ways() {
        let mut state = FaultState::default();
        state
            .add_partition(set(&["x.n1a"]), set(&["x.n2a"]), Some("vrrp"))
            .unwrap();
        let script = state.render();
        for rule in [
            "iifname { \"x.n1a\" } oifname { \"x.n2a\" } ip protocol vrrp drop\n",
            "iifname { \"x.n2a\" } oifname { \"x.n1a\" } ip protocol vrrp drop\n",
            "iifname { \"x.n1a\" } oifname { \"x.n2a\" } ip6 nexthdr vrrp drop\n",
            "iifname { \"x.n2a\" } oifname { \"x.n1a\" } ip6 nexthdr vrrp drop\n",
        ] {
            assert!(script.contains(rule), "{rule} missing from {script}");
        }
        assert!(!script.contains("\" } drop"), "{script}");
    }

    #[test]
    fn loss_drops_randomly_each_way_and_zero_clears_it() {
        let mut state = FaultState::default();
        state.set_loss("x.n1a".into(), 30).unwrap();
        let script = state.render();
        assert!(script.contains("iifname \"x.n1a\" numgen random mod 100 < 30 drop\n"));
        assert!(script.contains("oifname \"x.n1a\" numgen random mod 100 < 30 drop\n"));
        state.set_loss("x.n1a".into(), 100).unwrap();
        assert!(state.render().contains("\t\tiifname \"x.n1a\" drop\n"));
        state.set_loss("x.n1a".into(), 0).unwrap();
        assert_eq!(state, FaultState::default());
        assert!(state.set_loss("x.n1a".into(), 101).is_err());
    }

    #[test]
    fn a_host_cannot_be_on_both_sides() {
        let mut state = FaultState::default();
        assert!(state
            .add_partition(set(&["a"]), set(&["a", "b"]), None)
            .is_err());
        assert!(state.add_partition(set(&[]), set(&["b"]), None).is_err());
        assert_eq!(state, FaultState::default());
    }
}
