//! The nodes' keepalived configurations merged into one Cluster and one
//! VirtualIP per virtual router.
//!
//! Instances of different files are the same virtual router when they
//! share the VRID and address family (and, on one node, the interface).
//! Whatever a VirtualIP holds once for all nodes (interface, addresses,
//! tracking, notify commands...) is taken from the first file that has the
//! instance; another file saying otherwise is a finding. Priorities are per
//! node. What the Cluster holds once (VRRP version, transport, password) is
//! decided over all instances, again with a finding for each that differs.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use hareconcile_model::{
    AcceptFrom, Auth, ClusterSpec, Duration, Failback, Garp, Node, Notify, PeerApi, Track,
    TrackScript, Transport, V3Checksum, VirtualIpSpec, VrrpDefaults, VrrpVersion,
};
use serde_json::Value;

use super::config::{At, InitialState, Instance, Micros, NodeConfig, NotifyCommands, Tracked};
use crate::finding::{Findings, Level, Source};
use crate::manifests::{self, Address};
use crate::names::{dns_label, Names};
use crate::{Import, ImportError, Options};

/// keepalived's defaults, where hareconcile's differ or are not written.
const KEEPALIVED_PRIORITY: u8 = 100;
const KEEPALIVED_VERSION: u8 = 2;
const KEEPALIVED_GARP_REPEAT: u32 = 5;
const KEEPALIVED_ADVERT: Micros = 1_000_000;

/// A node whose file was given.
pub struct Given {
    pub name: String,
    pub path: PathBuf,
    pub config: NodeConfig,
}

/// One instance of one node.
struct Member {
    node: usize,
    instance: Instance,
}

/// One virtual router: the instances of all files that run it.
struct Router {
    vrid: u8,
    v6: bool,
    members: Vec<Member>,
}

impl Router {
    fn first(&self) -> &Member {
        &self.members[0]
    }

    fn member_of(&self, node: usize) -> Option<&Member> {
        self.members.iter().find(|m| m.node == node)
    }

    fn label(&self) -> String {
        format!("vrrp_instance {}", self.first().instance.name)
    }
}

/// A node of the Cluster, given or derived, and how its priorities are
/// chosen where no file of its own gives them.
struct ClusterNode {
    name: String,
    /// Index into the given nodes; `None` for a derived node.
    given: Option<usize>,
}

pub fn map(
    nodes: &[Given],
    options: &Options,
    mut findings: Findings,
) -> Result<Import, ImportError> {
    let routers = routers(nodes, &mut findings);
    if routers.is_empty() {
        return Err(ImportError::Nothing {
            reason: format!(
                "no usable vrrp_instance in {}",
                nodes
                    .iter()
                    .map(|n| n.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            findings: findings.into_vec(),
        });
    }
    let mut mapping = Mapping {
        nodes,
        options,
        routers,
        findings,
        cluster_nodes: Vec::new(),
        addresses: Vec::new(),
    };
    mapping.router_ids();
    mapping.cluster_nodes()?;
    let version = mapping.version();
    let transport = mapping.transport();
    let (auth, secrets) = mapping.auth(version);
    let v3_checksum = mapping.checksum();
    mapping.strict_notes();
    let cluster = ClusterSpec {
        nodes: mapping
            .addresses
            .iter()
            .map(|(name, address)| Node {
                name: name.clone(),
                address: *address,
                priority: KEEPALIVED_PRIORITY,
            })
            .collect(),
        vrrp: VrrpDefaults {
            version,
            advert_interval: Duration::from_millis(KEEPALIVED_ADVERT / 1_000),
            transport,
            auth,
            v3_checksum,
            // keepalived takes adverts from any host on the link.
            accept_from: AcceptFrom::Any,
        },
        failback: Failback::Auto,
        peer: PeerApi::default(),
        // keepalived has no quorum: a partition makes two masters.
        quorum: None,
    };
    let mut objects = vec![manifests::cluster_object(
        options,
        &cluster,
        format!(
            "keepalived.conf of {}",
            nodes
                .iter()
                .map(|n| format!("{} ({})", n.name, n.path.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )];
    let mut names = Names::default();
    let groups = mapping.group_memberships();
    for index in 0..mapping.routers.len() {
        let (name, spec, from) = mapping.virtual_ip(index, version, &groups, &mut names);
        objects.push(manifests::virtual_ip_object(&name, &spec, from));
    }
    Ok(Import {
        objects,
        secrets,
        findings: mapping.findings.into_vec(),
    })
}

/// The usable instances, grouped into virtual routers.
fn routers(nodes: &[Given], findings: &mut Findings) -> Vec<Router> {
    let mut routers: Vec<Router> = Vec::new();
    for (node, given) in nodes.iter().enumerate() {
        for instance in &given.config.instances {
            let Some(instance) = usable(instance, findings) else {
                continue;
            };
            let vrid = instance.vrid.as_ref().map_or(0, |v| v.value);
            let v6 = instance.is_ipv6();
            let interface = instance.interface.as_ref().map(|i| i.value.clone());
            let same_router = |r: &Router| r.vrid == vrid && r.v6 == v6;
            let exact = routers.iter().position(|r| {
                same_router(r)
                    && r.member_of(node).is_none()
                    && r.first().instance.interface.as_ref().map(|i| &i.value) == interface.as_ref()
            });
            let loose = || {
                routers
                    .iter()
                    .position(|r| same_router(r) && r.member_of(node).is_none())
            };
            let member = Member { node, instance };
            match exact.or_else(loose) {
                Some(i) => routers[i].members.push(member),
                None => routers.push(Router {
                    vrid,
                    v6,
                    members: vec![member],
                }),
            }
        }
    }
    routers
}

/// The instance as a VirtualIP can hold it, or `None` (with a finding)
/// when keepalived refuses it or it floats nothing.
fn usable(instance: &Instance, findings: &mut Findings) -> Option<Instance> {
    let subject = format!("vrrp_instance {}", instance.name);
    if instance.vrid.is_none() {
        findings.invalid(
            &instance.at,
            subject,
            "has no virtual_router_id: keepalived refuses the instance, and it is not imported",
        );
        return None;
    }
    if instance.interface.is_none() {
        findings.invalid(
            &instance.at,
            subject,
            "has no interface (default_interface is not supported): write its interface; not imported",
        );
        return None;
    }
    if instance.addresses.is_empty() {
        findings.unmapped(
            &instance.at,
            subject,
            "floats no address (virtual_ipaddress): a VirtualIP needs at least one; not imported",
        );
        return None;
    }
    let mut instance = instance.clone();
    let v6 = instance.is_ipv6();
    instance.addresses.retain(|address| {
        let same = address.value.addr().is_ipv6() == v6;
        if !same {
            findings.invalid(
                &address.at,
                address.value.to_string(),
                "is of the other address family than the instance's first address: keepalived refuses it, and it is not imported (float it in its own vrrp_instance)",
            );
        }
        same
    });
    Some(instance)
}

struct Mapping<'a> {
    nodes: &'a [Given],
    options: &'a Options,
    routers: Vec<Router>,
    findings: Findings,
    cluster_nodes: Vec<ClusterNode>,
    /// The Cluster's nodes with their addresses, in order.
    addresses: Vec<(String, IpAddr)>,
}

/// Per node: instance name → its sync group, and whether it is the
/// group's first member (which carries the group's notify commands).
type GroupMemberships = Vec<HashMap<String, (String, usize, bool)>>;

impl Mapping<'_> {
    /// keepalived's router_id names the node in its logs and e-mails; in
    /// the Cluster the node has its own name.
    fn router_ids(&mut self) {
        for given in self.nodes {
            if let Some(id) = &given.config.router_id {
                self.findings.note(
                    Some(&id.at),
                    "router_id",
                    format!(
                        "this file's node is {} in the Cluster (choose with --node NAME=FILE)",
                        given.name
                    ),
                );
            }
        }
    }

    /// The given nodes, then one node per unicast peer no file accounts
    /// for; with a single file and no such peer, one derived node.
    /// `--address` must name one of them.
    fn cluster_nodes(&mut self) -> Result<(), ImportError> {
        let mut known: Vec<Option<IpAddr>> =
            (0..self.nodes.len()).map(|n| self.own_address(n)).collect();
        // Every unicast peer, with where it was first written.
        let mut peers: Vec<At<IpAddr>> = Vec::new();
        for given in self.nodes {
            for peer in given.config.instances.iter().flat_map(|i| &i.peers) {
                if !peers.iter().any(|p| p.value == peer.value) {
                    peers.push(peer.clone());
                }
            }
        }
        let unclaimed = |known: &[Option<IpAddr>]| -> Vec<At<IpAddr>> {
            peers
                .iter()
                .filter(|p| !known.contains(&Some(p.value)))
                .cloned()
                .collect()
        };
        // One node without an address and one peer nobody claims: that
        // peer is the node (its file just does not say unicast_src_ip).
        let missing: Vec<usize> = (0..known.len()).filter(|&n| known[n].is_none()).collect();
        if let ([node], [peer]) = (missing.as_slice(), unclaimed(&known).as_slice()) {
            self.findings.note(
                Some(&peer.at),
                format!("node {}", self.nodes[*node].name),
                format!(
                    "its address, {}, is the unicast peer no other file claims",
                    peer.value
                ),
            );
            known[*node] = Some(peer.value);
        }
        let mut taken: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        let mut cluster: Vec<(ClusterNode, Address)> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(n, given)| {
                let address = known[n].map_or(Address::Placeholder, Address::Known);
                (
                    ClusterNode {
                        name: given.name.clone(),
                        given: Some(n),
                    },
                    address,
                )
            })
            .collect();
        for peer in unclaimed(&known) {
            let name = next_node_name(&taken);
            self.findings.note(
                Some(&peer.at),
                format!("node {name}"),
                format!(
                    "derived from this unicast_peer ({}), which no given file is: it runs every VirtualIP, with the priorities the findings on each give; import its own keepalived.conf too (--node {name}=FILE) to take them from there",
                    peer.value
                ),
            );
            taken.push(name.clone());
            cluster.push((
                ClusterNode { name, given: None },
                Address::Known(peer.value),
            ));
        }
        if cluster.len() == 1 {
            let name = next_node_name(&taken);
            self.findings.note(
                None,
                format!("node {name}"),
                format!(
                    "derived: only {}'s file was given, and a Cluster for failover needs a second node; it runs every VirtualIP with the priorities the findings on each give",
                    self.nodes[0].name
                ),
            );
            cluster.push((ClusterNode { name, given: None }, Address::Placeholder));
        }
        let named: Vec<(String, Address)> = cluster
            .iter()
            .map(|(node, address)| (node.name.clone(), address.clone()))
            .collect();
        if let Some(name) = self
            .options
            .addresses
            .keys()
            .find(|name| !named.iter().any(|(node, _)| node == *name))
        {
            return Err(ImportError::UnknownNode {
                name: name.clone(),
                known: named
                    .iter()
                    .map(|(node, _)| node.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        self.addresses = manifests::resolve_addresses(&named, self.options, &mut self.findings);
        self.cluster_nodes = cluster.into_iter().map(|(node, _)| node).collect();
        Ok(())
    }

    /// `--address`, else the node's unicast_src_ip, else its mcast_src_ip
    /// (one address per node: others are findings).
    fn own_address(&mut self, node: usize) -> Option<IpAddr> {
        let given = &self.nodes[node];
        if let Some(address) = self.options.addresses.get(&given.name) {
            return Some(*address);
        }
        let written: Vec<&At<IpAddr>> = given
            .config
            .instances
            .iter()
            .flat_map(|i| i.unicast_src.iter().chain(i.mcast_src.iter()))
            .collect();
        let first = written.first()?.value;
        for other in written.iter().filter(|a| a.value != first) {
            self.findings.changed(
                &other.at,
                "source address",
                format!(
                    "node {} has one address in the Cluster, {first}: hareconcile sends every advert from it (when it is on the VirtualIP's interface), not from {}",
                    given.name, other.value
                ),
            );
        }
        Some(first)
    }

    /// One VRRP version for the Cluster: 3 if any router floats IPv6
    /// (keepalived forces it there too), else the version most routers
    /// speak (keepalived's default is 2).
    fn version(&mut self) -> VrrpVersion {
        let effective = |nodes: &[Given], m: &Member, v6: bool| -> (u8, Source) {
            if v6 {
                return (3, m.instance.at.clone());
            }
            match (&m.instance.version, &nodes[m.node].config.version) {
                (Some(v), _) | (None, Some(v)) => (v.value, v.at.clone()),
                (None, None) => (KEEPALIVED_VERSION, m.instance.at.clone()),
            }
        };
        let any_v6 = self.routers.iter().any(|r| r.v6);
        let threes = self
            .routers
            .iter()
            .filter(|r| effective(self.nodes, r.first(), r.v6).0 == 3)
            .count();
        let version = if any_v6 || threes * 2 > self.routers.len() {
            VrrpVersion::V3
        } else {
            VrrpVersion::V2
        };
        let wanted = u8::from(version);
        for router in &self.routers {
            for member in &router.members {
                let (speaks, at) = effective(self.nodes, member, router.v6);
                if speaks != wanted {
                    self.findings.changed(
                        &at,
                        router.label(),
                        format!(
                            "keepalived speaks VRRPv{speaks} here, the Cluster speaks VRRPv{wanted} for every VirtualIP{}: add `version {wanted}` to this vrrp_instance on the nodes that still run keepalived, or they will not hear each other",
                            if any_v6 { " (IPv6 needs version 3)" } else { "" }
                        ),
                    );
                }
            }
        }
        version
    }

    /// Unicast when any instance has unicast peers (or a unicast source).
    fn transport(&mut self) -> Transport {
        let unicast = |i: &Instance| !i.peers.is_empty() || i.unicast_src.is_some();
        let any = self
            .routers
            .iter()
            .any(|r| r.members.iter().any(|m| unicast(&m.instance)));
        if !any {
            return Transport::Multicast;
        }
        let node_v6 = self.addresses.iter().all(|(_, a)| a.is_ipv6());
        for router in &self.routers {
            for member in &router.members {
                if !unicast(&member.instance) {
                    self.findings.changed(
                        &member.instance.at,
                        router.label(),
                        "multicast in keepalived, unicast here: the Cluster sends every VirtualIP's adverts the same way (to the other nodes' addresses); give this instance unicast_peer on the nodes that still run keepalived",
                    );
                }
            }
            if router.v6 != node_v6 {
                self.findings.unmapped(
                    &router.first().instance.at,
                    router.label(),
                    format!(
                        "hareconcile sends unicast adverts to the Cluster's node addresses, which are {}: this {} VirtualIP has no peer to send to (it will not start); float it on its own Cluster, or use multicast",
                        if node_v6 { "IPv6" } else { "IPv4" },
                        if router.v6 { "IPv6" } else { "IPv4" }
                    ),
                );
            }
        }
        Transport::Unicast
    }

    /// The Cluster's password: the first one written (VRRPv2 only).
    fn auth(&mut self, version: VrrpVersion) -> (Auth, Vec<crate::Secret>) {
        let passwords: Vec<(At<String>, String)> = self
            .routers
            .iter()
            .flat_map(|r| {
                r.members
                    .iter()
                    .filter_map(move |m| m.instance.password.clone().map(|p| (p, r.label())))
            })
            .collect();
        let Some((first, _)) = passwords.first().cloned() else {
            return (Auth::default(), Vec::new());
        };
        if version == VrrpVersion::V3 {
            for (password, _) in &passwords {
                self.findings.unmapped(
                    &password.at,
                    "authentication",
                    "VRRP version 3 has no authentication (RFC 5798) and the Cluster speaks it: the password is not used (keepalived ignores it in version 3 as well)",
                );
            }
            return (Auth::default(), Vec::new());
        }
        for (password, label) in &passwords[1..] {
            if password.value != first.value {
                self.findings.changed(
                    &password.at,
                    label.clone(),
                    format!(
                        "another password than the one at {}: the Cluster has one password for every VirtualIP (that one); use it on the keepalived side too",
                        first.at
                    ),
                );
            }
        }
        for router in &self.routers {
            for member in router
                .members
                .iter()
                .filter(|m| m.instance.password.is_none())
            {
                self.findings.changed(
                    &member.instance.at,
                    router.label(),
                    "has no authentication, but the Cluster's password applies to every VirtualIP: give this instance the same authentication on the nodes that still run keepalived",
                );
            }
        }
        let (auth, secret) =
            manifests::password_auth(&first.value, &first.at, self.options, &mut self.findings);
        (auth, vec![secret])
    }

    fn checksum(&mut self) -> V3Checksum {
        let sources: Vec<Option<Source>> = self
            .routers
            .iter()
            .flat_map(|r| r.members.iter())
            .map(|m| {
                m.instance
                    .checksum_as_v2
                    .clone()
                    .or_else(|| self.nodes[m.node].config.checksum_as_v2.clone())
            })
            .collect();
        if sources.iter().all(Option::is_none) {
            return V3Checksum::WithPseudoHeader;
        }
        if sources.iter().any(Option::is_none) {
            if let Some(at) = sources.iter().flatten().next() {
                self.findings.changed(
                    at,
                    "v3_checksum_as_v2",
                    "applies to every VirtualIP of the Cluster (spec.vrrp.v3Checksum: rfc9568), not only to the instances that say it",
                );
            }
        }
        V3Checksum::Rfc9568
    }

    /// vrrp_strict / strict_mode only turn accept mode off here.
    fn strict_notes(&mut self) {
        let global: Vec<Source> = self
            .nodes
            .iter()
            .filter_map(|n| n.config.strict.clone())
            .collect();
        let local: Vec<Source> = self
            .routers
            .iter()
            .flat_map(|r| r.members.iter().filter_map(|m| m.instance.strict.clone()))
            .collect();
        for at in global.iter().chain(&local) {
            self.findings.changed(
                at,
                "strict mode",
                "becomes accept: false (the master drops traffic to the VIPs, with nftables) unless the instance says accept; its other rules (no authentication, no unicast, no more than 20 addresses...) are not enforced",
            );
        }
    }

    fn group_memberships(&mut self) -> GroupMemberships {
        let mut out = Vec::new();
        for given in self.nodes {
            let mut members: HashMap<String, (String, usize, bool)> = HashMap::new();
            for (g, group) in given.config.groups.iter().enumerate() {
                let label = dns_label(&group.name, &format!("sync-{}", g + 1));
                let mut first = true;
                for member in &group.members {
                    if !given
                        .config
                        .instances
                        .iter()
                        .any(|i| i.name == member.value)
                    {
                        self.findings.invalid(
                            &member.at,
                            format!("vrrp_sync_group {}", group.name),
                            format!(
                                "has no vrrp_instance {} to hold: keepalived ignores the name",
                                member.value
                            ),
                        );
                        continue;
                    }
                    if members.contains_key(&member.value) {
                        self.findings.invalid(
                            &member.at,
                            format!("vrrp_sync_group {}", group.name),
                            format!("vrrp_instance {} is already in another sync group: keepalived keeps it in the first", member.value),
                        );
                        continue;
                    }
                    members.insert(member.value.clone(), (label.clone(), g, first));
                    first = false;
                }
            }
            out.push(members);
        }
        out
    }

    /// The VirtualIP of router `index`: its name, spec and provenance.
    fn virtual_ip(
        &mut self,
        index: usize,
        version: VrrpVersion,
        groups: &GroupMemberships,
        names: &mut Names,
    ) -> (String, VirtualIpSpec, String) {
        let router = &self.routers[index];
        let label = router.label();
        let first = router.first();
        let name = names.take(&dns_label(
            &first.instance.name,
            &format!("vrrp-{}", router.vrid),
        ));
        let mut specs: Vec<(usize, Source, VirtualIpSpec)> = Vec::new();
        for member in &router.members {
            let spec = member_spec(
                &self.nodes[member.node],
                &member.instance,
                &self.options.cluster,
                version,
                groups[member.node].get(&member.instance.name),
                &mut self.findings,
            );
            specs.push((member.node, member.instance.at.clone(), spec));
        }
        let (first_node, _, mut spec) = specs[0].clone();
        let reference = serde_json::to_value(&spec).unwrap_or(Value::Null);
        for (node, at, other) in &specs[1..] {
            let other = serde_json::to_value(other).unwrap_or(Value::Null);
            for (field, value) in other.as_object().into_iter().flatten() {
                let ours = &reference[field.as_str()];
                if ours != value {
                    self.findings.changed(
                        at,
                        format!("{label} {field}"),
                        format!(
                            "{} says {value} here, {} says {ours}: a VirtualIP has one {field} for all its nodes, and the manifests keep {}'s",
                            self.nodes[*node].name, self.nodes[first_node].name, self.nodes[first_node].name
                        ),
                    );
                }
            }
        }
        let from = format!(
            "{label}: {}",
            router
                .members
                .iter()
                .map(|m| format!("{} {}", self.nodes[m.node].name, m.instance.at))
                .collect::<Vec<_>>()
                .join(", ")
        );
        spec.priorities = self.priorities(index, &name);
        (name, spec, from)
    }

    /// Every Cluster node's priority on router `index`: from its own file,
    /// or derived (with a finding saying how).
    fn priorities(&mut self, index: usize, vip: &str) -> BTreeMap<String, u8> {
        let router = &self.routers[index];
        let written = |m: &Member| {
            m.instance
                .priority
                .as_ref()
                .map_or(KEEPALIVED_PRIORITY, |p| p.value)
        };
        let lowest = router
            .members
            .iter()
            .map(written)
            .min()
            .unwrap_or(KEEPALIVED_PRIORITY);
        let single_file = self.nodes.len() == 1;
        let mut out = BTreeMap::new();
        for (node, (name, address)) in self.cluster_nodes.iter().zip(&self.addresses) {
            let member = node.given.and_then(|n| router.member_of(n));
            let mut priority = match member {
                Some(member) => written(member),
                None if single_file => {
                    let (priority, why) = mirror_priority(router.first(), &self.nodes[0].name);
                    self.findings.note(
                        None,
                        format!("node {name}"),
                        format!("priority {priority} on VirtualIP {vip}: {why}"),
                    );
                    priority
                }
                None => {
                    let priority = lowest.saturating_sub(10).max(1);
                    let level = if node.given.is_some() {
                        Level::Changed
                    } else {
                        Level::Note
                    };
                    self.findings.push(
                        level,
                        None,
                        format!("node {name}"),
                        format!(
                            "runs VirtualIP {vip} ({}) although its keepalived.conf has no such instance: every node of a Cluster runs every VirtualIP; priority {priority}, below every file's, so it takes the VIP only when no other node can",
                            router.label()
                        ),
                    );
                    priority
                }
            };
            let owns = router
                .first()
                .instance
                .addresses
                .iter()
                .any(|a| a.value.addr() == *address);
            let at = member.map(|m| {
                m.instance
                    .priority
                    .as_ref()
                    .map_or(m.instance.at.clone(), |p| p.at.clone())
            });
            if priority == 255 && !owns {
                self.findings.push(
                    Level::Changed,
                    at.as_ref(),
                    format!("{} priority", router.label()),
                    format!("255 is for the address owner only (RFC 5798) and node {name} ({address}) owns none of the addresses: 254 instead"),
                );
                priority = 254;
            } else if owns && priority != 255 {
                self.findings.push(
                    Level::Changed,
                    at.as_ref(),
                    format!("{} priority", router.label()),
                    format!("node {name}'s own address ({address}) is one of the VIPs, so it runs as the address owner with priority 255 (RFC 5798), not {priority}"),
                );
                priority = 255;
            }
            out.insert(name.clone(), priority);
        }
        out
    }
}

/// The priority the other node of a single file needs, and why.
fn mirror_priority(reference: &Member, node: &str) -> (u8, String) {
    let instance = &reference.instance;
    let p = instance
        .priority
        .as_ref()
        .map_or(KEEPALIVED_PRIORITY, |p| p.value);
    let state = instance.state.as_ref().map(|s| s.value);
    if state == Some(InitialState::Master) {
        let derived = p.saturating_sub(10).max(1);
        (
            derived,
            format!("10 below {node}'s {p}, as {node}'s file says state MASTER"),
        )
    } else if instance.nopreempt.is_some() {
        (p, format!("equal to {node}'s {p}, as {node}'s file says nopreempt: whichever node holds the VIP keeps it"))
    } else {
        let derived = p.saturating_add(10).min(254);
        (derived, format!("10 above {node}'s {p}, as {node}'s file says state BACKUP (the other node is the preferred master)"))
    }
}

/// `nN`, N counting on from the nodes already named, the first not taken.
fn next_node_name(taken: &[String]) -> String {
    (taken.len() + 1..)
        .map(|n| format!("n{n}"))
        .find(|name| !taken.contains(name))
        .unwrap_or_default()
}

/// What one node's instance says the VirtualIP is, priorities aside.
fn member_spec(
    given: &Given,
    instance: &Instance,
    cluster: &str,
    version: VrrpVersion,
    group: Option<&(String, usize, bool)>,
    findings: &mut Findings,
) -> VirtualIpSpec {
    let config = &given.config;
    let advert = instance
        .advert
        .as_ref()
        .map_or(KEEPALIVED_ADVERT, |a| a.value);
    let advert = advert_interval(
        advert,
        version,
        instance.advert.as_ref().map(|a| &a.at),
        findings,
    );
    let garp_repeat = instance
        .garp_repeat
        .as_ref()
        .or(config.garp_repeat.as_ref())
        .map_or(KEEPALIVED_GARP_REPEAT, |r| r.value);
    let refresh = instance
        .garp_refresh
        .as_ref()
        .or(config.garp_refresh.as_ref());
    let refresh = refresh
        .map(|r| duration(r.value, &r.at, "garp_master_refresh", findings))
        .filter(|d| *d != Duration::ZERO);
    let strict = instance.strict.is_some() || config.strict.is_some();
    let accept = match &instance.accept {
        Some(accept) => accept.value,
        None => !strict,
    };
    let mut track = Track::default();
    let mut notify = notify(&instance.notify, "INSTANCE", &instance.name);
    let mut interfaces: Vec<&Tracked> = instance.track_interfaces.iter().collect();
    let mut scripts: Vec<(&Tracked, Option<i32>)> = instance
        .track_scripts
        .iter()
        .map(|t| (t, t.weight))
        .collect();
    let mut sync_group = None;
    if let Some((label, g, first)) = group {
        let sync = &config.groups[*g];
        sync_group = Some(label.clone());
        interfaces.extend(&sync.track_interfaces);
        scripts.extend(
            sync.track_scripts
                .iter()
                .map(|t| (t, if sync.keep_weights { t.weight } else { Some(0) })),
        );
        if *first {
            group_notify(&mut notify, &sync.notify, &sync.name, findings);
        }
    }
    for tracked in interfaces {
        if let Some(weight) = tracked.weight.filter(|w| *w != 0) {
            findings.changed(
                &tracked.at,
                format!("track_interface {} weight", tracked.name),
                format!("hareconcile faults the instance while {} is down instead of adding {weight} to the priority", tracked.name),
            );
        }
        if !track.interfaces.contains(&tracked.name) {
            track.interfaces.push(tracked.name.clone());
        }
    }
    for (tracked, weight) in scripts {
        if let Some(script) = track_script(config, tracked, weight, findings) {
            if !track.scripts.iter().any(|s| s.name == script.name) {
                track.scripts.push(script);
            }
        }
    }
    VirtualIpSpec {
        cluster: cluster.to_string(),
        interface: instance
            .interface
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default(),
        interfaces: Default::default(),
        vrid: instance.vrid.as_ref().map_or(0, |v| v.value),
        addresses: instance.addresses.iter().map(|a| a.value).collect(),
        advert_interval: (advert != Duration::from_millis(KEEPALIVED_ADVERT / 1_000))
            .then_some(advert),
        priorities: BTreeMap::new(),
        preempt: instance.nopreempt.as_ref().map(|_| false),
        preempt_delay: instance
            .preempt_delay
            .as_ref()
            .map(|d| duration(d.value, &d.at, "preempt_delay", findings))
            .filter(|d| *d != Duration::ZERO),
        accept,
        virtual_mac: instance.vmac.is_some(),
        garp: Garp {
            count: garp_repeat,
            refresh,
        },
        track,
        sync_group,
        notify,
        control: Default::default(),
        fencing: Default::default(),
        accept_from: None,
    }
}

/// The advert interval as the Cluster's version can carry it (whole
/// seconds in version 2, 10 ms steps up to 40.95 s in version 3).
fn advert_interval(
    micros: Micros,
    version: VrrpVersion,
    at: Option<&Source>,
    findings: &mut Findings,
) -> Duration {
    let (unit, max) = match version {
        VrrpVersion::V2 => (1_000_000, 255),
        VrrpVersion::V3 => (10_000, 4_095),
    };
    let units = ((micros + unit / 2) / unit).clamp(1, max);
    let carried = units * unit;
    if carried != micros {
        if let Some(at) = at {
            findings.changed(
                at,
                "advert_int",
                format!(
                    "{} cannot be advertised in VRRP version {}: {} instead",
                    seconds(micros),
                    u8::from(version),
                    seconds(carried)
                ),
            );
        }
    }
    Duration::from_millis(carried / 1_000)
}

/// A timer as a manifest duration (milliseconds).
fn duration(micros: Micros, at: &Source, keyword: &str, findings: &mut Findings) -> Duration {
    if micros % 1_000 != 0 {
        findings.changed(
            at,
            keyword,
            format!("{} is rounded to whole milliseconds", seconds(micros)),
        );
    }
    Duration::from_millis((micros + 500) / 1_000)
}

fn seconds(micros: Micros) -> String {
    let text = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

/// The notify commands of an instance; `notify` fills the states the
/// specific commands leave free, with keepalived's arguments.
fn notify(commands: &NotifyCommands, kind: &str, name: &str) -> Notify {
    let generic = |state: &str| -> Vec<String> {
        commands.generic.as_ref().map_or_else(Vec::new, |g| {
            let mut argv = g.value.clone();
            argv.extend([kind.to_string(), name.to_string(), state.to_string()]);
            argv
        })
    };
    let pick = |specific: &Option<At<Vec<String>>>, state: &str| {
        specific
            .as_ref()
            .map_or_else(|| generic(state), |s| s.value.clone())
    };
    Notify {
        master: pick(&commands.master, "MASTER"),
        backup: pick(&commands.backup, "BACKUP"),
        fault: pick(&commands.fault, "FAULT"),
        stop: pick(&commands.stop, "STOP"),
        timeout: None,
    }
}

/// A sync group's notify commands on its first member, where that
/// member's own command leaves room.
fn group_notify(
    notify: &mut Notify,
    commands: &NotifyCommands,
    group: &str,
    findings: &mut Findings,
) {
    let from_group = self::notify(commands, "GROUP", group);
    let at = |state: &str| {
        match state {
            "master" => commands.master.as_ref(),
            "backup" => commands.backup.as_ref(),
            "fault" => commands.fault.as_ref(),
            _ => commands.stop.as_ref(),
        }
        .or(commands.generic.as_ref())
        .map(|c| c.at.clone())
    };
    for (state, ours, theirs) in [
        ("master", &mut notify.master, from_group.master),
        ("backup", &mut notify.backup, from_group.backup),
        ("fault", &mut notify.fault, from_group.fault),
        ("stop", &mut notify.stop, from_group.stop),
    ] {
        let Some(at) = at(state) else { continue };
        if theirs.is_empty() {
            continue;
        }
        if ours.is_empty() {
            findings.changed(
                &at,
                format!("vrrp_sync_group {group} notify {state}"),
                format!("runs as the notify.{state} command of the group's first member (its members change state together), with HARECONCILE_INSTANCE naming that VirtualIP"),
            );
            *ours = theirs;
        } else {
            findings.unmapped(
                &at,
                format!("vrrp_sync_group {group} notify {state}"),
                format!("the group's first member has its own notify.{state} command and a VirtualIP runs one per state: call this one from it"),
            );
        }
    }
}

/// A `track_script` entry as the VirtualIP's copy of the script.
fn track_script(
    config: &NodeConfig,
    tracked: &Tracked,
    weight: Option<i32>,
    findings: &mut Findings,
) -> Option<TrackScript> {
    let Some(script) = config.script(&tracked.name) else {
        findings.invalid(
            &tracked.at,
            format!("track_script {}", tracked.name),
            "no vrrp_script has this name: keepalived ignores the entry, and so does the import",
        );
        return None;
    };
    let command = script.command.as_ref()?;
    let interval = script
        .interval
        .as_ref()
        .map_or(Duration::from_secs(1), |i| {
            duration(i.value, &i.at, "interval", findings)
        });
    Some(TrackScript {
        name: script.name.clone(),
        command: command.value.clone(),
        interval,
        timeout: script
            .timeout
            .as_ref()
            .map(|t| duration(t.value, &t.at, "timeout", findings)),
        fall: script.fall.as_ref().map_or(1, |f| f.value),
        rise: script.rise.as_ref().map_or(1, |r| r.value),
        weight: weight
            .or(script.weight.as_ref().map(|w| w.value))
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advert_intervals_round_to_what_the_version_carries() {
        let mut findings = Findings::default();
        let at = Source::new("k.conf", 3);
        assert_eq!(
            advert_interval(1_000_000, VrrpVersion::V2, Some(&at), &mut findings),
            Duration::from_secs(1)
        );
        assert_eq!(
            advert_interval(50_000, VrrpVersion::V3, Some(&at), &mut findings),
            Duration::from_millis(50)
        );
        assert!(findings.into_vec().is_empty());
        let mut findings = Findings::default();
        assert_eq!(
            advert_interval(500_000, VrrpVersion::V2, Some(&at), &mut findings),
            Duration::from_secs(1)
        );
        assert_eq!(
            advert_interval(15_000, VrrpVersion::V3, Some(&at), &mut findings),
            Duration::from_millis(20)
        );
        let messages: Vec<String> = findings.into_vec().into_iter().map(|f| f.message).collect();
        assert_eq!(
            messages,
            [
                "0.5s cannot be advertised in VRRP version 2: 1s instead",
                "0.015s cannot be advertised in VRRP version 3: 0.02s instead"
            ]
        );
    }

    #[test]
    fn the_generic_notify_fills_the_free_states_with_keepalived_arguments() {
        let at = Source::new("k.conf", 1);
        let commands = NotifyCommands {
            master: Some(At {
                value: vec!["/up.sh".to_string()],
                at: at.clone(),
            }),
            generic: Some(At {
                value: vec!["/all.sh".to_string(), "x".to_string()],
                at,
            }),
            ..Default::default()
        };
        let notify = notify(&commands, "INSTANCE", "VI_1");
        assert_eq!(notify.master, ["/up.sh"]);
        assert_eq!(
            notify.backup,
            ["/all.sh", "x", "INSTANCE", "VI_1", "BACKUP"]
        );
        assert_eq!(notify.stop[4], "STOP");
    }
}
