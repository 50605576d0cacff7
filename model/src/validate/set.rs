//! Checks across a set of objects: references resolve, VRRP instances and
//! addresses do not collide, priorities and intervals fit the Cluster.
//!
//! When two objects collide, the one later in the input is blamed, so a
//! newly applied object is reported rather than the one already stored.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use super::object::advert_interval_message;
use super::{pointer, Finding, Problem};
use crate::spec::{
    special_in_prefix, AcceptFrom, ClusterSpec, Fencing, ReplicationSpec, ServiceSpec,
    VirtualIpSpec, VrrpVersion, OWNER_NEVER_BACKUP,
};
use crate::{Kind, Object};

/// Cross-object problems in `objects`. Objects whose spec does not decode
/// (they failed validation already) still count as existing for references.
pub fn check_set(objects: &[&Object]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut unique = Vec::new();
    for obj in objects {
        if !seen.insert(obj.key()) {
            problems.push(
                Finding::value(
                    "/metadata/name",
                    format!(
                        "{} {} is declared more than once: keep one declaration",
                        obj.kind, obj.metadata.name
                    ),
                )
                .into_problem(obj.key()),
            );
        } else {
            unique.push(*obj);
        }
    }
    let index = Index::new(&unique);
    for obj in &unique {
        let findings = match obj.kind {
            Kind::Cluster => Vec::new(),
            Kind::VirtualIP => obj
                .spec_as::<VirtualIpSpec>()
                .map(|spec| index.virtual_ip(&spec))
                .unwrap_or_default(),
            Kind::Service => obj
                .spec_as::<ServiceSpec>()
                .map(|spec| index.service(&spec))
                .unwrap_or_default(),
            Kind::Replication => obj
                .spec_as::<ReplicationSpec>()
                .map(|spec| index.replication(&spec))
                .unwrap_or_default(),
        };
        problems.extend(findings.into_iter().map(|f| f.into_problem(obj.key())));
    }
    problems.extend(collisions(&unique));
    problems
}

/// What the set declares, by kind and name.
struct Index {
    names: HashMap<Kind, BTreeSet<String>>,
    clusters: HashMap<String, ClusterSpec>,
    vip_clusters: HashMap<String, String>,
}

impl Index {
    fn new(objects: &[&Object]) -> Self {
        let mut names: HashMap<Kind, BTreeSet<String>> = HashMap::new();
        let mut clusters = HashMap::new();
        let mut vip_clusters = HashMap::new();
        for obj in objects {
            let name = obj.metadata.name.clone();
            names.entry(obj.kind).or_default().insert(name.clone());
            match obj.kind {
                Kind::Cluster => {
                    if let Ok(spec) = obj.spec_as::<ClusterSpec>() {
                        clusters.insert(name, spec);
                    }
                }
                Kind::VirtualIP => {
                    if let Some(cluster) = obj.spec.get("cluster").and_then(|c| c.as_str()) {
                        vip_clusters.insert(name, cluster.to_string());
                    }
                }
                Kind::Service | Kind::Replication => {}
            }
        }
        Index {
            names,
            clusters,
            vip_clusters,
        }
    }

    /// A reference to another object, reported at `at` when it dangles.
    fn reference(&self, kind: Kind, name: &str, at: &str, out: &mut Vec<Finding>) -> bool {
        let known = self.names.get(&kind);
        if known.is_some_and(|k| k.contains(name)) {
            return true;
        }
        let known = match known {
            Some(names) => format!(
                "known: {}",
                names.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            None => format!("no {kind} is declared"),
        };
        out.push(Finding::value(
            at,
            format!("unknown {kind} {name:?}: declare it or fix the name ({known})"),
        ));
        false
    }

    /// The followed VirtualIP must exist and belong to the same Cluster.
    fn follow(&self, cluster: &str, vip: Option<&str>, out: &mut Vec<Finding>) {
        let Some(vip) = vip else { return };
        let at = "/spec/followVirtualIP";
        if self.reference(Kind::VirtualIP, vip, at, out) {
            if let Some(other) = self.vip_clusters.get(vip).filter(|c| *c != cluster) {
                out.push(Finding::value(
                    at,
                    format!(
                        "VirtualIP {vip:?} belongs to Cluster {other:?}, not {cluster:?}: follow a VirtualIP of the same Cluster"
                    ),
                ));
            }
        }
    }

    fn virtual_ip(&self, spec: &VirtualIpSpec) -> Vec<Finding> {
        let mut out = Vec::new();
        for (i, service) in spec.track.services.iter().enumerate() {
            let at = format!("/spec/track/services/{i}");
            self.reference(Kind::Service, service.name(), &at, &mut out);
        }
        if !self.reference(Kind::Cluster, &spec.cluster, "/spec/cluster", &mut out) {
            return out;
        }
        // Declared but invalid: its own errors are reported already.
        if let Some(cluster) = self.clusters.get(&spec.cluster) {
            node_references(spec, cluster, &mut out);
            version_fit(spec, cluster, &mut out);
            owner_priority(spec, cluster, &mut out);
            own_address_means_owner(spec, cluster, &mut out);
            owner_not_forced_backup(spec, cluster, &mut out);
            fencing_needs_quorum(spec, cluster, &mut out);
            nodes_are_hosts_of_the_vip_network(spec, cluster, &mut out);
            members_are_known_by_ipv4(spec, cluster, &mut out);
        }
        out
    }

    fn service(&self, spec: &ServiceSpec) -> Vec<Finding> {
        let mut out = Vec::new();
        self.reference(Kind::Cluster, &spec.cluster, "/spec/cluster", &mut out);
        self.follow(&spec.cluster, spec.follow_virtual_ip.as_deref(), &mut out);
        for (i, replication) in spec.requires.iter().enumerate() {
            self.reference(
                Kind::Replication,
                replication,
                &format!("/spec/requires/{i}"),
                &mut out,
            );
        }
        out
    }

    fn replication(&self, spec: &ReplicationSpec) -> Vec<Finding> {
        let mut out = Vec::new();
        self.reference(Kind::Cluster, &spec.cluster, "/spec/cluster", &mut out);
        self.follow(&spec.cluster, spec.follow_virtual_ip.as_deref(), &mut out);
        if let (Some(source), Some(cluster)) = (&spec.source, self.clusters.get(&spec.cluster)) {
            if cluster.node(&source.node).is_none() {
                let names: Vec<&str> = cluster.nodes.iter().map(|n| n.name.as_str()).collect();
                out.push(Finding::value(
                    "/spec/source/node",
                    format!(
                        "{:?} is not a node of Cluster {:?}: name one of {}",
                        source.node,
                        spec.cluster,
                        names.join(", ")
                    ),
                ));
            }
        }
        for (list, hooks) in [
            ("beforeSync", &spec.hooks.before_sync),
            ("afterSync", &spec.hooks.after_sync),
        ] {
            for (i, hook) in hooks.iter().enumerate() {
                if let Some(exec) = &hook.exec {
                    let at = format!("/spec/hooks/{list}/{i}/exec/service");
                    self.reference(Kind::Service, &exec.service, &at, &mut out);
                }
            }
        }
        out
    }
}

/// `acceptFrom: members` knows members by their node addresses, but IPv6
/// adverts come from each node's link-local address: every member's
/// advert would be dropped, and every node would become master.
fn members_are_known_by_ipv4(spec: &VirtualIpSpec, cluster: &ClusterSpec, out: &mut Vec<Finding>) {
    if spec.accept_from_in(cluster) != AcceptFrom::Members {
        return;
    }
    let at = match spec.accept_from {
        Some(_) => "/spec/acceptFrom",
        None => "/spec/cluster",
    };
    if let Some(net) = spec.addresses.iter().find(|a| a.addr().is_ipv6()) {
        out.push(Finding::value(
            at,
            format!(
                "acceptFrom: members knows members by their IPv4 node addresses, but the IPv6 adverts for {net} come from link-local addresses: float IPv6 addresses in a VirtualIP with acceptFrom: any"
            ),
        ));
    }
}

/// A node address has no prefix of its own; a VIP's prefix says what the
/// network is, and a node on it cannot have its network or broadcast
/// address (a typo, or a prefix length that does not fit the network).
fn nodes_are_hosts_of_the_vip_network(
    spec: &VirtualIpSpec,
    cluster: &ClusterSpec,
    out: &mut Vec<Finding>,
) {
    for (i, net) in spec.addresses.iter().enumerate() {
        for node in &cluster.nodes {
            let Some(special) = special_in_prefix(net, node.address) else {
                continue;
            };
            out.push(Finding::value(
                &format!("/spec/addresses/{i}"),
                format!(
                    "node {}'s address {} is the {special} address of this VIP's network {}: fix the node's address in Cluster {:?}, or this prefix length",
                    node.name,
                    node.address,
                    net.trunc(),
                    spec.cluster
                ),
            ));
        }
    }
}

/// Node names in priorities and control overrides must be the Cluster's.
/// `fencing: quorum` asks for what only a Cluster with a quorum engine has.
fn fencing_needs_quorum(spec: &VirtualIpSpec, cluster: &ClusterSpec, out: &mut Vec<Finding>) {
    if spec.fencing == Fencing::Quorum && cluster.quorum.is_none() {
        out.push(Finding::value(
            "/spec/fencing",
            format!(
                "fencing: quorum needs a quorum engine, and Cluster {:?} declares none: add its spec.quorum (docs/quorum.md), or use fencing: auto",
                spec.cluster
            ),
        ));
    }
}

fn node_references(spec: &VirtualIpSpec, cluster: &ClusterSpec, out: &mut Vec<Finding>) {
    let names: Vec<&str> = cluster.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut check = |node: &str, at: String, finding: fn(&str, String) -> Finding| {
        if cluster.node(node).is_none() {
            out.push(finding(
                &at,
                format!(
                    "unknown node {node:?} in Cluster {:?}: use one of {}",
                    spec.cluster,
                    names.join(", ")
                ),
            ));
        }
    };
    // Map keys are node names, so the key is what is wrong.
    for node in spec.priorities.keys() {
        check(node, pointer::join("/spec/priorities", node), Finding::key);
    }
    for node in spec.interfaces.keys() {
        check(node, pointer::join("/spec/interfaces", node), Finding::key);
    }
    for (i, node) in spec.control.force_backup.iter().enumerate() {
        check(
            node,
            format!("/spec/control/forceBackup/{i}"),
            Finding::value,
        );
    }
    for node in spec.control.priority_adjust.keys() {
        let at = pointer::join("/spec/control/priorityAdjust", node);
        check(node, at, Finding::key);
    }
    if let Some(node) = &spec.control.switchover_to {
        check(node, "/spec/control/switchoverTo".into(), Finding::value);
    }
}

/// The advert interval and address families must be expressible in the
/// Cluster's VRRP version.
fn version_fit(spec: &VirtualIpSpec, cluster: &ClusterSpec, out: &mut Vec<Finding>) {
    let version = cluster.vrrp.version;
    // The Cluster's own default is checked with the Cluster.
    if let Some(interval) = spec.advert_interval {
        if version.advert_units(interval).is_none() {
            out.push(Finding::value(
                "/spec/advertInterval",
                advert_interval_message(version, interval),
            ));
        }
    }
    if version != VrrpVersion::V2 {
        return;
    }
    for (i, net) in spec.addresses.iter().enumerate() {
        if net.addr().is_ipv6() {
            out.push(Finding::value(
                &format!("/spec/addresses/{i}"),
                format!(
                    "{net} is IPv6, but Cluster {:?} uses VRRP version 2, which is IPv4 only: set spec.vrrp.version: 3 on the Cluster or remove the address",
                    spec.cluster
                ),
            ));
        }
    }
}

/// Priority 255 means "I own the address" (RFC 5798): only a node whose
/// own address is one of the VirtualIP's may run with it.
fn owner_priority(spec: &VirtualIpSpec, cluster: &ClusterSpec, out: &mut Vec<Finding>) {
    for node in &cluster.nodes {
        let owns = spec.addresses.iter().any(|a| a.addr() == node.address);
        if !spec.owned_by(node) || owns {
            continue;
        }
        let rule = format!(
            "255 is reserved for the address owner (RFC 5798) and node {} ({}) owns none of this VirtualIP's addresses",
            node.name, node.address
        );
        if spec.priorities.contains_key(&node.name) {
            out.push(Finding::value(
                &pointer::join("/spec/priorities", &node.name),
                format!("{rule}: use 1-254"),
            ));
        } else {
            out.push(Finding::value(
                "/spec/cluster",
                format!(
                    "node {} has priority 255 in Cluster {:?}, but {rule}: set spec.priorities.{} to 1-254",
                    node.name, spec.cluster, node.name
                ),
            ));
        }
    }
}

/// The converse: a node whose own address floats in this VirtualIP runs it
/// as the owner. With 1-254 it would be an ordinary backup, and a backup
/// removes the VIPs it holds (a crash's leftovers at start, the address on
/// stepping down): here the node's own address, and with it the node's
/// place on the cluster network.
fn own_address_means_owner(spec: &VirtualIpSpec, cluster: &ClusterSpec, out: &mut Vec<Finding>) {
    for (i, address) in spec.addresses.iter().enumerate() {
        let Some(node) = cluster.nodes.iter().find(|n| n.address == address.addr()) else {
            continue;
        };
        if spec.owned_by(node) {
            continue;
        }
        out.push(Finding::value(
            &format!("/spec/addresses/{i}"),
            format!(
                "{} is node {}'s own address, so node {} must run this VirtualIP as its owner with priority 255 (RFC 5798); with {} it would be a backup, and a backup removes the address, taking node {} off the network: set spec.priorities.{} to 255, or float an address no node has",
                node.address,
                node.name,
                node.name,
                spec.priority_of(node),
                node.name,
                node.name
            ),
        ));
    }
}

/// The address owner cannot be a backup (RFC 5798): it keeps the address,
/// which is its own, so in maintenance the address would be on two nodes
/// at once, the owner's and the new master's.
fn owner_not_forced_backup(spec: &VirtualIpSpec, cluster: &ClusterSpec, out: &mut Vec<Finding>) {
    for (i, name) in spec.control.force_backup.iter().enumerate() {
        let Some(node) = cluster.node(name).filter(|n| spec.owned_by(n)) else {
            continue;
        };
        out.push(Finding::value(
            &format!("/spec/control/forceBackup/{i}"),
            format!(
                "node {name} owns {} (priority 255), and {OWNER_NEVER_BACKUP}: remove {name} from forceBackup (to serve the address elsewhere, take it off {name}'s interface, or float an address no node owns, with priorities 1-254)",
                node.address
            ),
        ));
    }
}

/// A VirtualIP using a (Cluster, VRID, family): its interface, `None`
/// where nodes pick their own (`auto`, `interfaces`), which may be the
/// same one as any other's; and its name.
type InstanceUse = (Option<String>, String);

/// VRRP instances are keyed by (interface, VRID, address family) on a
/// network, as in keepalived, one address can float in one place only, and
/// a sync group moves VirtualIPs of one Cluster together.
fn collisions(objects: &[&Object]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut instances: HashMap<(String, u8, bool), Vec<InstanceUse>> = HashMap::new();
    let mut addresses: HashMap<IpAddr, String> = HashMap::new();
    let mut sync_groups: HashMap<String, (String, String)> = HashMap::new();
    // A node names a virtual MAC interface after the VRID and family
    // alone (vrrp.51, vrrp6.51), whatever interface it sits on.
    let mut virtual_macs: HashMap<(String, u8, bool), (String, String)> = HashMap::new();
    for obj in objects.iter().filter(|o| o.kind == Kind::VirtualIP) {
        let Ok(spec) = obj.spec_as::<VirtualIpSpec>() else {
            continue;
        };
        let name = &obj.metadata.name;
        if let Some(group) = &spec.sync_group {
            let (cluster, first) = sync_groups
                .entry(group.clone())
                .or_insert_with(|| (spec.cluster.clone(), name.clone()));
            if *cluster != spec.cluster {
                problems.push(
                    Finding::value(
                        "/spec/syncGroup",
                        format!(
                            "sync group {group} already holds VirtualIP {first:?} of Cluster {cluster:?}: a sync group stays within one Cluster, use another name"
                        ),
                    )
                    .into_problem(obj.key()),
                );
            }
        }
        let families: BTreeSet<bool> = spec.addresses.iter().map(|a| a.addr().is_ipv6()).collect();
        for v6 in families {
            let interface = (!spec.interface_varies()).then(|| spec.interface.clone());
            let used = instances
                .entry((spec.cluster.clone(), spec.vrid, v6))
                .or_default();
            let clash = used.iter().find(|(theirs, _)| {
                theirs.is_none() || interface.is_none() || *theirs == interface
            });
            match clash {
                Some((theirs, other)) => {
                    let on = match (&interface, theirs) {
                        (Some(interface), Some(_)) => format!(" on {interface}"),
                        _ => String::new(),
                    };
                    let varies = if on.is_empty() {
                        ", and one of them picks its interface per node (auto, interfaces), so both may run on one"
                    } else {
                        ""
                    };
                    problems.push(
                        Finding::value(
                            "/spec/vrid",
                            format!(
                                "VRID {}{on} ({}) is already used by VirtualIP {other:?} in Cluster {:?}{varies}: choose another VRID",
                                spec.vrid,
                                if v6 { "IPv6" } else { "IPv4" },
                                spec.cluster
                            ),
                        )
                        .into_problem(obj.key()),
                    );
                }
                None => used.push((interface, name.clone())),
            }
            if !spec.virtual_mac {
                continue;
            }
            let key = (spec.cluster.clone(), spec.vrid, v6);
            match virtual_macs.get(&key) {
                Some((other, interface)) if *interface != spec.interface => problems.push(
                    Finding::value(
                        "/spec/virtualMac",
                        format!(
                            "VirtualIP {other:?} already uses the virtual MAC of VRID {} ({}) on {interface}: a node has one such interface, so choose another VRID or set virtualMac: false",
                            spec.vrid,
                            if v6 { "IPv6" } else { "IPv4" },
                        ),
                    )
                    .into_problem(obj.key()),
                ),
                Some(_) => {}
                None => {
                    virtual_macs.insert(key, (name.clone(), spec.interface.clone()));
                }
            }
        }
        for (i, net) in spec.addresses.iter().enumerate() {
            match addresses.get(&net.addr()) {
                Some(other) if other != name => problems.push(
                    Finding::value(
                        &format!("/spec/addresses/{i}"),
                        format!(
                            "{} is already an address of VirtualIP {other:?}: an address can float in one VirtualIP only",
                            net.addr()
                        ),
                    )
                    .into_problem(obj.key()),
                ),
                Some(_) => {}
                None => {
                    addresses.insert(net.addr(), name.clone());
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ObjectKey, ObjectMeta, API_VERSION};
    use serde_json::json;

    fn object(kind: Kind, name: &str, spec: serde_json::Value) -> Object {
        Object {
            api_version: API_VERSION.to_string(),
            kind,
            metadata: ObjectMeta::named(name),
            spec,
            status: Default::default(),
        }
    }

    fn home(version: u8) -> Object {
        object(
            Kind::Cluster,
            "home",
            json!({"nodes": [{"name": "n1", "address": "10.77.0.1", "priority": 110},
                             {"name": "n2", "address": "10.77.0.2"}],
                   "vrrp": {"version": version}}),
        )
    }

    fn vip(name: &str, spec: serde_json::Value) -> Object {
        let mut base = json!({"cluster": "home", "interface": "eth0", "vrid": 51,
                              "addresses": ["10.77.0.100/24"]});
        for (k, v) in spec.as_object().unwrap() {
            base[k] = v.clone();
        }
        object(Kind::VirtualIP, name, base)
    }

    fn messages(objects: &[Object]) -> Vec<String> {
        let refs: Vec<&Object> = objects.iter().collect();
        check_set(&refs)
            .into_iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn a_consistent_set_has_no_problems() {
        let set = [
            home(3),
            vip(
                "web",
                json!({"priorities": {"n1": 110}, "track": {"services": ["web"]}}),
            ),
            object(
                Kind::Service,
                "web",
                json!({"cluster": "home", "followVirtualIP": "web",
                                                "compose": {"file": "c.yaml"}, "requires": ["certs"]}),
            ),
            object(
                Kind::Replication,
                "certs",
                json!({"cluster": "home", "followVirtualIP": "web",
                                                      "method": "rsync", "path": "/srv"}),
            ),
        ];
        assert_eq!(messages(&set), Vec::<String>::new());
    }

    #[test]
    fn a_node_is_a_host_of_the_vip_network() {
        // n2 at 10.77.0.255 fits a /16, not the /24 the VIP says the network is.
        let cluster = object(
            Kind::Cluster,
            "home",
            json!({"nodes": [{"name": "n1", "address": "10.77.0.1"},
                             {"name": "n2", "address": "10.77.0.255"}]}),
        );
        assert_eq!(
            messages(&[cluster.clone(), vip("web", json!({}))]),
            ["VirtualIP/web: spec.addresses[0]: node n2's address 10.77.0.255 is the broadcast address of this VIP's network 10.77.0.0/24: fix the node's address in Cluster \"home\", or this prefix length"]
        );
        let wider = vip("web", json!({"addresses": ["10.77.0.100/16"]}));
        assert_eq!(messages(&[cluster, wider]), Vec::<String>::new());
    }

    #[test]
    fn members_only_is_for_ipv4_virtual_ips() {
        let dual =
            json!({"acceptFrom": "members", "addresses": ["10.77.0.100/24", "fd00::100/64"]});
        let found = messages(&[home(3), vip("web", dual)]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("VirtualIP/web: spec.acceptFrom: acceptFrom: members knows members by their IPv4 node addresses, but the IPv6 adverts for fd00::100/64"));
        let v4 = json!({"acceptFrom": "members"});
        assert_eq!(messages(&[home(3), vip("web", v4)]), Vec::<String>::new());
    }

    #[test]
    fn a_fixed_source_is_a_node_and_hooks_exec_in_declared_services() {
        let set = [
            home(3),
            object(
                Kind::Replication,
                "conf",
                json!({"cluster": "home", "source": {"node": "n3"}, "method": "rsync",
                       "path": "/etc/pihole",
                       "hooks": {"afterSync": [{"exec": {"service": "pihole", "container": "pihole",
                                                         "command": ["pihole", "reloadlists"]}}]}}),
            ),
        ];
        assert_eq!(
            messages(&set),
            vec![
                "Replication/conf: spec.source.node: \"n3\" is not a node of Cluster \"home\": name one of n1, n2",
                "Replication/conf: spec.hooks.afterSync[0].exec.service: unknown Service \"pihole\": declare it or fix the name (no Service is declared)",
            ]
        );
    }

    #[test]
    fn dangling_references_name_what_is_known() {
        let set = [
            home(3),
            vip("web", json!({"cluster": "hmoe"})),
            vip(
                "db",
                json!({"vrid": 52, "addresses": ["10.77.0.101/24"],
                             "priorities": {"n3": 100}, "control": {"forceBackup": ["n4"]}}),
            ),
            object(
                Kind::Service,
                "web",
                json!({"cluster": "home", "followVirtualIP": "wbe",
                                                "compose": {"file": "c.yaml"}, "requires": ["certs"]}),
            ),
        ];
        assert_eq!(
            messages(&set),
            vec![
                "VirtualIP/web: spec.cluster: unknown Cluster \"hmoe\": declare it or fix the name (known: home)",
                "VirtualIP/db: spec.priorities.n3: unknown node \"n3\" in Cluster \"home\": use one of n1, n2",
                "VirtualIP/db: spec.control.forceBackup[0]: unknown node \"n4\" in Cluster \"home\": use one of n1, n2",
                "Service/web: spec.followVirtualIP: unknown VirtualIP \"wbe\": declare it or fix the name (known: db, web)",
                "Service/web: spec.requires[0]: unknown Replication \"certs\": declare it or fix the name (no Replication is declared)",
            ]
        );
    }

    #[test]
    fn vrids_collide_per_interface_and_family_only() {
        let set = [
            home(3),
            vip("a", json!({})),
            vip("b", json!({"addresses": ["fd00::100/64"]})),
            vip(
                "c",
                json!({"interface": "eth1", "addresses": ["10.77.1.100/24"]}),
            ),
            vip("d", json!({"addresses": ["10.77.0.101/24"]})),
        ];
        assert_eq!(
            messages(&set),
            vec!["VirtualIP/d: spec.vrid: VRID 51 on eth0 (IPv4) is already used by VirtualIP \"a\" in Cluster \"home\": choose another VRID"]
        );
    }

    #[test]
    fn per_node_interfaces_name_nodes_and_may_share_any_interface() {
        let set = [
            home(3),
            vip("a", json!({"interface": "auto"})),
            vip(
                "b",
                json!({"interface": "eth1", "interfaces": {"n2": "ens3", "n9": "eth0"},
                       "addresses": ["10.77.1.100/24"]}),
            ),
            vip(
                "c",
                json!({"vrid": 52, "interface": "eth0", "interfaces": {"n2": "ens3"},
                       "addresses": ["10.77.0.101/24"]}),
            ),
        ];
        assert_eq!(
            messages(&set),
            vec![
                "VirtualIP/b: spec.interfaces.n9: unknown node \"n9\" in Cluster \"home\": use one of n1, n2",
                "VirtualIP/b: spec.vrid: VRID 51 (IPv4) is already used by VirtualIP \"a\" in Cluster \"home\", and one of them picks its interface per node (auto, interfaces), so both may run on one: choose another VRID",
            ]
        );
    }

    #[test]
    fn a_virtual_mac_is_one_per_vrid_and_family_on_a_node() {
        let set = [
            home(3),
            vip("a", json!({"virtualMac": true})),
            vip(
                "b",
                json!({"interface": "eth1", "addresses": ["10.77.1.100/24", "fd01::100/64"],
                       "virtualMac": true}),
            ),
            vip(
                "c",
                json!({"interface": "eth2", "addresses": ["10.77.2.100/24"]}),
            ),
        ];
        assert_eq!(
            messages(&set),
            vec!["VirtualIP/b: spec.virtualMac: VirtualIP \"a\" already uses the virtual MAC of VRID 51 (IPv4) on eth0: a node has one such interface, so choose another VRID or set virtualMac: false"]
        );
    }

    #[test]
    fn an_address_floats_in_one_virtual_ip_only() {
        let set = [
            home(3),
            vip("a", json!({})),
            vip(
                "b",
                json!({"vrid": 52, "addresses": ["10.77.0.7/24", "10.77.0.100/32"]}),
            ),
        ];
        assert_eq!(
            messages(&set),
            vec!["VirtualIP/b: spec.addresses[1]: 10.77.0.100 is already an address of VirtualIP \"a\": an address can float in one VirtualIP only"]
        );
    }

    #[test]
    fn a_sync_group_stays_within_one_cluster() {
        let mut lab = home(3);
        lab.metadata.name = "lab".into();
        let set = [
            home(3),
            lab,
            vip("a", json!({"syncGroup": "edge"})),
            vip(
                "b",
                json!({"cluster": "lab", "syncGroup": "edge", "addresses": ["10.77.0.7/24"]}),
            ),
        ];
        assert_eq!(
            messages(&set),
            vec!["VirtualIP/b: spec.syncGroup: sync group edge already holds VirtualIP \"a\" of Cluster \"home\": a sync group stays within one Cluster, use another name"]
        );
    }

    #[test]
    fn priority_255_belongs_to_the_address_owner() {
        let set = [
            home(3),
            vip(
                "owner",
                json!({"addresses": ["10.77.0.1/24"], "priorities": {"n1": 255}}),
            ),
            vip("other", json!({"vrid": 52, "priorities": {"n2": 255}})),
        ];
        assert_eq!(
            messages(&set),
            vec!["VirtualIP/other: spec.priorities.n2: 255 is reserved for the address owner (RFC 5798) and node n2 (10.77.0.2) owns none of this VirtualIP's addresses: use 1-254"]
        );
    }

    #[test]
    fn a_node_whose_address_floats_must_own_it() {
        let set = [
            home(3),
            vip(
                "borrowed",
                json!({"addresses": ["10.77.0.100/24", "10.77.0.2/24"], "priorities": {"n2": 100}}),
            ),
        ];
        assert_eq!(
            messages(&set),
            vec!["VirtualIP/borrowed: spec.addresses[1]: 10.77.0.2 is node n2's own address, so node n2 must run this VirtualIP as its owner with priority 255 (RFC 5798); with 100 it would be a backup, and a backup removes the address, taking node n2 off the network: set spec.priorities.n2 to 255, or float an address no node has"]
        );
    }

    #[test]
    fn the_address_owner_cannot_be_forced_backup() {
        let set = [
            home(3),
            vip(
                "owner",
                json!({"addresses": ["10.77.0.1/24"], "priorities": {"n1": 255},
                       "control": {"forceBackup": ["n2", "n1"]}}),
            ),
        ];
        assert_eq!(
            messages(&set),
            vec!["VirtualIP/owner: spec.control.forceBackup[1]: node n1 owns 10.77.0.1 (priority 255), and the address owner cannot be a backup (RFC 5798): it keeps its own address, which would then be on two nodes at once: remove n1 from forceBackup (to serve the address elsewhere, take it off n1's interface, or float an address no node owns, with priorities 1-254)"]
        );
    }

    #[test]
    fn fencing_by_quorum_needs_the_clusters_quorum_engine() {
        let set = [
            home(3),
            vip(
                "web",
                json!({"addresses": ["10.77.0.100/24"], "fencing": "quorum"}),
            ),
        ];
        assert_eq!(
            messages(&set),
            vec!["VirtualIP/web: spec.fencing: fencing: quorum needs a quorum engine, and Cluster \"home\" declares none: add its spec.quorum (docs/quorum.md), or use fencing: auto"]
        );
        let mut with_quorum = home(3);
        with_quorum.spec["quorum"] = json!({"etcd": {"endpoints": ["http://10.77.0.3:2379"]}});
        assert_eq!(
            messages(&[with_quorum, set[1].clone()]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn intervals_and_families_must_fit_the_vrrp_version() {
        let set = [
            home(2),
            vip(
                "web",
                json!({"advertInterval": "50ms", "addresses": ["10.77.0.100/24", "fd00::100/64"]}),
            ),
        ];
        let found = messages(&set);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with(
            "VirtualIP/web: spec.advertInterval: 50ms cannot be advertised: VRRP version 2"
        ));
        assert!(found[1].starts_with("VirtualIP/web: spec.addresses[1]: fd00::100/64 is IPv6, but Cluster \"home\" uses VRRP version 2"));
    }

    #[test]
    fn the_second_declaration_of_an_object_is_reported() {
        let set = [home(3), home(3)];
        let refs: Vec<&Object> = set.iter().collect();
        let problems = check_set(&refs);
        let keys: Vec<ObjectKey> = problems.iter().map(|p| p.key.clone()).collect();
        assert_eq!(
            keys,
            vec![ObjectKey {
                kind: Kind::Cluster,
                name: "home".into()
            }]
        );
        assert_eq!(problems[0].pointer, "/metadata/name");
    }
}
