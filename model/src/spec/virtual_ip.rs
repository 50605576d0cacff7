//! `VirtualIP`: a floating address set, run as one VRRP instance per address
//! family (as keepalived does), with tracking and notify hooks.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{
    AcceptFrom, ClusterSpec, Duration, Failback, Handover, Method, Node, ReplicationSpec,
    ServiceSpec,
};
use crate::{Kind, Object};

/// Why the address owner is never put in maintenance, wherever that is refused.
pub const OWNER_NEVER_BACKUP: &str = "the address owner cannot be a backup (RFC 5798): it keeps its own address, which would then be on two nodes at once";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualIpSpec {
    pub cluster: String,
    /// The interface on every node: a name, or `auto` (see
    /// [`VirtualIpSpec::resolve_interface`]).
    pub interface: String,
    /// Per-node interfaces overriding `interface` (a name or `auto`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interfaces: BTreeMap<String, String>,
    pub vrid: u8,
    pub addresses: Vec<IpNet>,
    /// Overrides the Cluster's `vrrp.advertInterval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advert_interval: Option<Duration>,
    /// Per-node priorities overriding the Cluster's node defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub priorities: BTreeMap<String, u8>,
    /// `None` follows the Cluster's `failback` (manual = no preemption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt_delay: Option<Duration>,
    /// RFC 5798 Accept_Mode: whether the master accepts packets addressed
    /// to the VIPs when it is not their owner (priority 255, which always
    /// does). On by default: a hareconcile VIP exists to host services (a
    /// Compose stack listening on it), as keepalived's VIPs do outside
    /// `vrrp_strict`. The RFC's default off is for pure routers, whose
    /// virtual address is only a next hop: set `false` for that, and the
    /// master drops everything sent to the VIPs but ARP and neighbour
    /// discovery (enforced with nftables).
    #[serde(default = "default_accept")]
    pub accept: bool,
    /// Use the VRRP virtual MAC (00-00-5E-00-01-VRID for IPv4, 00-00-5E-00-02-VRID
    /// for IPv6) instead of the interface's.
    #[serde(default)]
    pub virtual_mac: bool,
    #[serde(default)]
    pub garp: Garp,
    #[serde(default)]
    pub track: Track,
    /// All VirtualIPs in one sync group change state together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_group: Option<String>,
    #[serde(default)]
    pub notify: Notify,
    #[serde(default)]
    pub control: Control,
    /// Whether this VirtualIP's master must hold the Cluster's quorum; see
    /// [`Fencing`].
    #[serde(default, skip_serializing_if = "Fencing::is_auto")]
    pub fencing: Fencing,
    /// Overrides the Cluster's `vrrp.acceptFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_from: Option<AcceptFrom>,
}

impl VirtualIpSpec {
    /// The priority a node runs this instance with, before tracking adjusts it.
    pub fn priority_of(&self, node: &Node) -> u8 {
        self.priorities
            .get(&node.name)
            .copied()
            .unwrap_or(node.priority)
    }

    /// Whether `node` owns this VirtualIP's address: it runs with priority
    /// 255, which RFC 5798 §5.2.4 reserves for the owner.
    pub fn owned_by(&self, node: &Node) -> bool {
        self.priority_of(node) == 255
    }

    /// The advertisement interval in effect: this VirtualIP's, else the Cluster's.
    pub fn advert_interval_in(&self, cluster: &ClusterSpec) -> Duration {
        self.advert_interval.unwrap_or(cluster.vrrp.advert_interval)
    }

    /// Whether this VirtualIP (named `name`) is fenced, as `fencing` says
    /// for the Cluster and the objects that follow it; see [`Fencing`].
    pub fn fenced_in<'a>(
        &self,
        name: &str,
        cluster: &ClusterSpec,
        services: impl IntoIterator<Item = &'a ServiceSpec>,
        replications: impl IntoIterator<Item = &'a ReplicationSpec>,
    ) -> bool {
        if cluster.quorum.is_none() {
            return false;
        }
        let follows = |vip: &Option<String>| vip.as_deref() == Some(name);
        match self.fencing {
            Fencing::Quorum => true,
            Fencing::None => false,
            Fencing::Auto => {
                services.into_iter().any(|s| {
                    follows(&s.follow_virtual_ip) && s.handover_in() == Handover::BreakBeforeMake
                }) || replications.into_iter().any(|r| {
                    // A copy pushed from wherever the VIP is master; a
                    // mount or a fixed source does not move with it.
                    let copies = matches!(r.method, Method::Rsync | Method::Btrfs | Method::Zfs);
                    follows(&r.follow_virtual_ip) && copies && r.source.is_none()
                })
            }
        }
    }

    /// Whose adverts count: this VirtualIP's `acceptFrom`, else the Cluster's.
    pub fn accept_from_in(&self, cluster: &ClusterSpec) -> AcceptFrom {
        self.accept_from.unwrap_or(cluster.vrrp.accept_from)
    }

    /// [`VirtualIpSpec::fenced_in`] as a store declares it: the Services
    /// and Replications among `objects` (other kinds, and specs that do
    /// not decode, count for nothing).
    pub fn fenced_among<'a>(
        &self,
        name: &str,
        cluster: &ClusterSpec,
        objects: impl IntoIterator<Item = &'a Object>,
    ) -> bool {
        let objects: Vec<&Object> = objects.into_iter().collect();
        let specs = |kind| objects.iter().filter(move |o| o.kind == kind);
        let services: Vec<ServiceSpec> = specs(Kind::Service)
            .filter_map(|o| o.spec_as().ok())
            .collect();
        let replications: Vec<ReplicationSpec> = specs(Kind::Replication)
            .filter_map(|o| o.spec_as().ok())
            .collect();
        self.fenced_in(name, cluster, &services, &replications)
    }

    /// Whether a higher-priority node takes over from a running master:
    /// this VirtualIP's `preempt`, else what the Cluster's `failback` implies.
    pub fn preempt_in(&self, cluster: &ClusterSpec) -> bool {
        self.preempt.unwrap_or(cluster.failback == Failback::Auto)
    }
}

/// Whether a VirtualIP is *fenced*: its master must hold the followed
/// writer lock in the Cluster's quorum engine, takes the VIP only once it
/// does, and gives the VIP up (with the exclusive Services that follow
/// it) before its lease can expire when it loses quorum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fencing {
    /// Fenced when the Cluster declares a quorum and something that
    /// writes data follows the VirtualIP: an exclusive Service
    /// (break-before-make) or a Replication. A VIP-only VirtualIP keeps
    /// plain VRRP.
    #[default]
    Auto,
    /// Always fenced (the Cluster must declare a quorum).
    Quorum,
    /// Plain VRRP, even with a quorum: both sides of a partition serve.
    None,
}

impl Fencing {
    pub fn is_auto(&self) -> bool {
        *self == Fencing::Auto
    }
}

fn default_accept() -> bool {
    true
}

/// Gratuitous ARP / unsolicited NA announcements after becoming master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Garp {
    /// How many announcements to send on transition to master.
    #[serde(default = "default_garp_count")]
    pub count: u32,
    /// Repeat announcements while master (keepalived `garp_master_refresh`); none if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Duration>,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            count: default_garp_count(),
            refresh: None,
        }
    }
}

fn default_garp_count() -> u32 {
    5
}

/// What lowers this node's priority or faults the instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Track {
    /// Interfaces that must be up, or the instance goes to FAULT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
    /// Services whose health on this node is tracked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<TrackedService>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<TrackScript>,
}

/// A Service whose health on this node counts like a script (unhealthy:
/// `Healthy` False, or `Ready` False other than while `Probing`): a bare
/// name faults the instance while the Service is unhealthy (weight 0);
/// `{name, weight}` weighs it instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TrackedService {
    Name(String),
    Weighted {
        name: String,
        #[serde(default)]
        weight: i32,
    },
}

impl TrackedService {
    pub fn name(&self) -> &str {
        match self {
            TrackedService::Name(name) | TrackedService::Weighted { name, .. } => name,
        }
    }

    /// Added to the priority while the Service is unhealthy (negative), or
    /// while it is healthy (positive); 0 faults the instance while unhealthy.
    pub fn weight(&self) -> i32 {
        match self {
            TrackedService::Name(_) => 0,
            TrackedService::Weighted { weight, .. } => *weight,
        }
    }
}

/// A health check command (keepalived `vrrp_script`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackScript {
    pub name: String,
    /// argv, run without a shell.
    pub command: Vec<String>,
    #[serde(default = "default_script_interval")]
    pub interval: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Consecutive failures before the script counts as failed.
    #[serde(default = "one")]
    pub fall: u32,
    /// Consecutive successes before it counts as healthy again.
    #[serde(default = "one")]
    pub rise: u32,
    /// As keepalived: a negative weight is added to the priority while the
    /// script fails, a positive one while it succeeds; 0 (the default)
    /// means a failing script puts the instance in FAULT.
    #[serde(default)]
    pub weight: i32,
}

fn default_script_interval() -> Duration {
    Duration::from_secs(1)
}

fn one() -> u32 {
    1
}

/// Commands run on state transitions, in order, without blocking VRRP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub master: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// How long each command may run before it is killed with every
    /// process it started; the agent's default (60s) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// Operator overrides, kept in the spec so they survive restarts and show up in diffs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Control {
    /// Nodes that must not become master (maintenance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub force_backup: Vec<String>,
    /// Added to a node's priority, e.g. to drain it before maintenance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub priority_adjust: BTreeMap<String, i32>,
    /// The node a planned switchover moved the VIP to: it is preferred
    /// over every other (priority 254) and preempts once the Services
    /// following the VIP run there; every other node never preempts it.
    /// Sticks until cleared (`hareconcile switchover VIP --clear`) or set
    /// to another node. Every node's store must carry the same value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchover_to: Option<String>,
}

impl Control {
    /// Puts `node` in maintenance (never master) or takes it out.
    pub fn set_maintenance(&mut self, node: &str, on: bool) {
        self.force_backup.retain(|n| n != node);
        if on {
            self.force_backup.push(node.to_string());
            self.force_backup.sort();
        }
    }

    /// Sets `node`'s priority adjustment; 0 removes it.
    pub fn set_priority_adjust(&mut self, node: &str, adjustment: i32) {
        if adjustment == 0 {
            self.priority_adjust.remove(node);
        } else {
            self.priority_adjust.insert(node.to_string(), adjustment);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_fencing_follows_what_writes_data() {
        fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
            serde_json::from_value(v).unwrap()
        }
        let mut cluster: ClusterSpec =
            decode(serde_json::json!({"nodes": [{"name": "n1", "address": "10.77.0.1"}]}));
        let mut vip: VirtualIpSpec = decode(serde_json::json!({
            "cluster": "home", "interface": "eth0", "vrid": 51, "addresses": ["10.77.0.100/24"]
        }));
        let stateless: ServiceSpec = decode(serde_json::json!({
            "cluster": "home", "followVirtualIP": "web", "compose": {"file": "c.yaml"}
        }));
        let writer: ServiceSpec = decode(serde_json::json!({
            "cluster": "home", "followVirtualIP": "web", "compose": {"file": "c.yaml"},
            "requires": ["data"]
        }));
        let copy: ReplicationSpec = decode(serde_json::json!({
            "cluster": "home", "followVirtualIP": "web", "method": "rsync", "path": "/srv/data"
        }));
        let fenced = |vip: &VirtualIpSpec,
                      cluster: &ClusterSpec,
                      s: &[&ServiceSpec],
                      r: &[&ReplicationSpec]| {
            vip.fenced_in("web", cluster, s.iter().copied(), r.iter().copied())
        };
        // Without a quorum engine nothing is fenced.
        assert!(!fenced(&vip, &cluster, &[&writer], &[&copy]));
        cluster.quorum = Some(decode(
            serde_json::json!({"etcd": {"endpoints": ["http://10.77.0.3:2379"]}}),
        ));
        assert!(
            !fenced(&vip, &cluster, &[&stateless], &[]),
            "a VIP-only VirtualIP"
        );
        assert!(fenced(&vip, &cluster, &[&stateless, &writer], &[]));
        assert!(fenced(&vip, &cluster, &[], &[&copy]));
        assert!(!fenced(&vip, &cluster, &[], &[]));
        vip.fencing = Fencing::Quorum;
        assert!(fenced(&vip, &cluster, &[], &[]));
        vip.fencing = Fencing::None;
        assert!(!fenced(&vip, &cluster, &[&writer], &[&copy]));
        // Another VirtualIP's writers do not count.
        vip.fencing = Fencing::Auto;
        assert!(!vip.fenced_in("db", &cluster, [&writer], [&copy]));
    }

    #[test]
    fn control_edits_touch_one_node_only() {
        let mut control = Control::default();
        control.set_maintenance("n2", true);
        control.set_maintenance("n1", true);
        control.set_maintenance("n1", true);
        assert_eq!(control.force_backup, ["n1", "n2"]);
        control.set_maintenance("n1", false);
        assert_eq!(control.force_backup, ["n2"]);
        control.set_priority_adjust("n1", -20);
        control.set_priority_adjust("n2", 5);
        control.set_priority_adjust("n2", 0);
        assert_eq!(
            control.priority_adjust,
            BTreeMap::from([("n1".to_string(), -20)])
        );
    }

    #[test]
    fn decodes_the_design_sketch() {
        let spec: VirtualIpSpec = serde_json::from_value(serde_json::json!({
            "cluster": "home", "interface": "eth0", "vrid": 51,
            "addresses": ["10.77.0.100/24", "fd00::100/64"],
            "advertInterval": "50ms",
            "priorities": {"n1": 110, "n2": 100},
            "preempt": true, "preemptDelay": "0s",
            "track": {"interfaces": ["eth0"], "services": ["web", {"name": "db", "weight": -30}],
                      "scripts": [{"name": "gw", "command": ["ping", "-c1", "10.77.0.254"],
                                   "interval": "2s", "fall": 2, "rise": 2, "weight": -20}]},
            "syncGroup": "edge",
            "notify": {"master": ["logger", "master"]}
        }))
        .unwrap();
        assert_eq!(spec.addresses.len(), 2);
        assert_eq!(spec.advert_interval, Some(Duration::from_millis(50)));
        assert_eq!(spec.track.scripts[0].weight, -20);
        let services: Vec<(&str, i32)> = spec
            .track
            .services
            .iter()
            .map(|s| (s.name(), s.weight()))
            .collect();
        assert_eq!(services, [("web", 0), ("db", -30)]);
        assert_eq!(spec.garp.count, 5);
        let n2 = Node {
            name: "n2".into(),
            address: "10.77.0.2".parse().unwrap(),
            priority: 90,
        };
        assert_eq!(spec.priority_of(&n2), 100);
    }

    #[test]
    fn unset_fields_fall_back_to_the_cluster() {
        let vip: VirtualIpSpec = serde_json::from_value(serde_json::json!({
            "cluster": "home", "interface": "eth0", "vrid": 51, "addresses": ["10.77.0.100/24"]
        }))
        .unwrap();
        let cluster: ClusterSpec = serde_json::from_value(serde_json::json!({
            "nodes": [{"name": "n1", "address": "10.77.0.1"}],
            "vrrp": {"advertInterval": "50ms"}, "failback": "manual"
        }))
        .unwrap();
        assert_eq!(vip.advert_interval_in(&cluster), Duration::from_millis(50));
        assert!(!vip.preempt_in(&cluster));
        assert!(
            vip.accept,
            "VIPs host services: accept mode is on unless turned off"
        );
        let explicit = VirtualIpSpec {
            advert_interval: Some(Duration::from_secs(2)),
            preempt: Some(true),
            ..vip
        };
        assert_eq!(
            explicit.advert_interval_in(&cluster),
            Duration::from_secs(2)
        );
        assert!(explicit.preempt_in(&cluster));
    }
}
