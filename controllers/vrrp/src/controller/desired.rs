//! From a VirtualIP and its Cluster to the instances this node must run:
//! one per address family, with the Cluster's defaults filled in. Pure, so
//! the mapping is tested without sockets.

use std::net::IpAddr;
use std::path::Path;

use hareconcile_model::{
    AcceptFrom, AuthType, ClusterSpec, Node, Transport as TransportSpec, V3Checksum, VirtualIpSpec,
    VrrpVersion,
};
use ipnet::IpNet;
use thiserror::Error;

use crate::core::packet::{Auth, ChecksumMode, Version};
use crate::core::InstanceConfig;
use crate::io::hooks::{self, NotifyCommands};
use crate::io::network::Transport;
use crate::io::shell::ShellConfig;
use crate::io::trackers::{ScriptCheck, TrackConfig};
use crate::io::writer_lock::Fencing;

/// Why no instance can be built; each is the operator's to fix.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DesiredError {
    #[error("node {node} has no {family} address on {interface} to send {family} adverts from: configure one or drop the {family} VIPs")]
    SourceAddressMissing {
        node: String,
        interface: String,
        family: &'static str,
    },
    #[error("unicast transport needs the other nodes' {family} addresses and the Cluster lists none: use multicast or drop the {family} VIPs")]
    UnicastWithoutPeers { family: &'static str },
    #[error("vrrp.auth.type is pass but no passwordFile is given: set vrrp.auth.passwordFile")]
    PasswordFileMissing,
    #[error("acceptFrom: members knows node {node} by its address {address}, but its adverts would come from {sends_from}, as {address} is not on {interface}: configure {address} on {interface}, or use acceptFrom: any")]
    MemberAddressNotSource {
        node: String,
        address: IpAddr,
        sends_from: IpAddr,
        interface: String,
    },
}

/// The node-local facts the mapping needs besides the two specs.
pub struct Local<'a> {
    pub vip_name: &'a str,
    pub node: &'a Node,
    /// The VRRPv2 password, already read from `vrrp.auth.passwordFile`.
    pub password: Option<&'a str>,
    /// The addresses on the VirtualIP's interface now, for the source of
    /// adverts when the node's Cluster address is not one of them.
    pub interface_addresses: Vec<IpAddr>,
    /// The directory of the manifest that declared the VirtualIP: relative
    /// notify commands are relative to it.
    pub manifest_dir: Option<&'a Path>,
}

/// One config per address family present in `spec.addresses`, IPv4 first.
pub fn shell_configs(
    spec: &VirtualIpSpec,
    cluster: &ClusterSpec,
    local: &Local<'_>,
) -> Result<Vec<ShellConfig>, DesiredError> {
    let mut configs = Vec::new();
    for (family, is_v4) in [("IPv4", true), ("IPv6", false)] {
        let vips: Vec<IpNet> = spec
            .addresses
            .iter()
            .filter(|vip| vip.addr().is_ipv4() == is_v4)
            .copied()
            .collect();
        if vips.is_empty() {
            continue;
        }
        let source = source_address(local, &vips, is_v4).ok_or_else(|| {
            DesiredError::SourceAddressMissing {
                node: local.node.name.clone(),
                interface: spec.interface.clone(),
                family,
            }
        })?;
        let transport = match cluster.vrrp.transport {
            TransportSpec::Multicast => Transport::Multicast,
            TransportSpec::Unicast => {
                let peers: Vec<IpAddr> = cluster
                    .nodes
                    .iter()
                    .filter(|n| n.name != local.node.name && n.address.is_ipv4() == is_v4)
                    .map(|n| n.address)
                    .collect();
                if peers.is_empty() {
                    return Err(DesiredError::UnicastWithoutPeers { family });
                }
                Transport::Unicast(peers)
            }
        };
        let accept_from = match spec.accept_from_in(cluster) {
            AcceptFrom::Any => None,
            // The others know this node by its address: its adverts must
            // come from there, or they would all be dropped.
            AcceptFrom::Members if source != local.node.address => {
                return Err(DesiredError::MemberAddressNotSource {
                    node: local.node.name.clone(),
                    address: local.node.address,
                    sends_from: source,
                    interface: spec.interface.clone(),
                })
            }
            AcceptFrom::Members => Some(
                cluster
                    .nodes
                    .iter()
                    .map(|n| n.address)
                    .filter(|a| a.is_ipv4() == is_v4)
                    .collect(),
            ),
        };
        let auth = match cluster.vrrp.auth.type_ {
            AuthType::None => Auth::None,
            AuthType::Pass => {
                Auth::password(local.password.ok_or(DesiredError::PasswordFileMissing)?)
            }
        };
        let instance = InstanceConfig {
            vrid: spec.vrid,
            version: match cluster.vrrp.version {
                VrrpVersion::V2 => Version::V2,
                VrrpVersion::V3 => Version::V3,
            },
            priority: spec.priority_of(local.node),
            advert_interval: spec.advert_interval_in(cluster).as_std(),
            preempt: spec.preempt_in(cluster),
            preempt_delay: spec.preempt_delay.unwrap_or_default().as_std(),
            accept_mode: spec.accept,
            primary_address: source,
            virtual_addresses: vips.iter().map(IpNet::addr).collect(),
            auth,
            checksum_mode: match cluster.vrrp.v3_checksum {
                V3Checksum::WithPseudoHeader => ChecksumMode::PseudoHeader,
                V3Checksum::Rfc9568 => ChecksumMode::MessageOnly,
            },
            accept_from,
        };
        configs.push(ShellConfig {
            name: format!("{}/{}", local.vip_name, family.to_lowercase()),
            virtual_ip: local.vip_name.to_string(),
            interface: spec.interface.clone(),
            track_interfaces: spec.track.interfaces.clone(),
            instance,
            vips,
            transport,
            announcements: spec.garp.count,
            announce_every: spec.garp.refresh.map(|every| every.as_std()),
            notify: NotifyCommands {
                master: resolve(&spec.notify.master, local.manifest_dir),
                backup: resolve(&spec.notify.backup, local.manifest_dir),
                fault: resolve(&spec.notify.fault, local.manifest_dir),
                stop: resolve(&spec.notify.stop, local.manifest_dir),
                timeout: spec
                    .notify
                    .timeout
                    .map_or(hooks::DEFAULT_TIMEOUT, |t| t.as_std()),
            },
            sync_group: spec
                .sync_group
                .as_ref()
                .map(|group| format!("{}/{group}", spec.cluster)),
            virtual_mac: spec.virtual_mac,
        });
    }
    Ok(configs)
}

/// What the VirtualIP's trackers check: its scripts (relative programs
/// resolved like notify commands; the timeout defaults to the interval, as
/// keepalived's), Services and, fenced, its writer lock.
pub fn track_config(
    spec: &VirtualIpSpec,
    local: &Local<'_>,
    fencing: Option<Fencing>,
) -> TrackConfig {
    TrackConfig {
        fencing,
        vip: local.vip_name.to_string(),
        scripts: spec
            .track
            .scripts
            .iter()
            .map(|script| ScriptCheck {
                name: script.name.clone(),
                command: resolve(&script.command, local.manifest_dir),
                interval: script.interval.as_std(),
                timeout: script.timeout.unwrap_or(script.interval).as_std(),
                fall: script.fall,
                rise: script.rise,
                weight: script.weight,
            })
            .collect(),
        services: spec
            .track
            .services
            .iter()
            .map(|service| (service.name().to_string(), service.weight()))
            .collect(),
    }
}

/// How a fenced VirtualIP's trackers on `node` use its writer lock.
pub fn fencing(spec: &VirtualIpSpec, node: &str) -> Fencing {
    Fencing {
        cluster: spec.cluster.clone(),
        maintenance: spec.control.force_backup.iter().any(|n| n.as_str() == node),
        switchover_to: spec
            .control
            .switchover_to
            .clone()
            .filter(|to| to.as_str() != node),
    }
}

/// A program given as a relative path (`hooks/up.sh`) is relative to the
/// manifest's directory; a bare name (`logger`) is looked up in PATH.
fn resolve(argv: &[String], manifest_dir: Option<&Path>) -> Vec<String> {
    let mut argv = argv.to_vec();
    if let (Some(program), Some(dir)) = (argv.first_mut(), manifest_dir) {
        let path = Path::new(program.as_str());
        if path.is_relative() && path.components().count() > 1 {
            *program = dir.join(path).to_string_lossy().into_owned();
        }
    }
    argv
}

/// The node's Cluster address where it is on the interface (the usual
/// case); otherwise the interface's own address of the family, as keepalived
/// picks it: the first IPv4 address that is not a VIP, or the IPv6
/// link-local address (RFC 5798 §5.1.2.1).
fn source_address(local: &Local<'_>, vips: &[IpNet], is_v4: bool) -> Option<IpAddr> {
    let node = local.node.address;
    if node.is_ipv4() == is_v4 && local.interface_addresses.contains(&node) {
        return Some(node);
    }
    local
        .interface_addresses
        .iter()
        .copied()
        .find(|address| match address {
            IpAddr::V4(_) => is_v4 && !vips.iter().any(|vip| vip.addr() == *address),
            IpAddr::V6(v6) => !is_v4 && v6.segments()[0] & 0xffc0 == 0xfe80,
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn cluster(extra: serde_json::Value) -> ClusterSpec {
        let mut value = json!({"nodes": [
            {"name": "n1", "address": "10.77.0.1", "priority": 110},
            {"name": "n2", "address": "10.77.0.2", "priority": 100}
        ]});
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(value).unwrap()
    }

    fn vip(extra: serde_json::Value) -> VirtualIpSpec {
        let mut value = json!({"cluster": "home", "interface": "eth0", "vrid": 51,
                               "addresses": ["10.77.0.100/24"]});
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(value).unwrap()
    }

    fn build(
        spec: &VirtualIpSpec,
        cluster: &ClusterSpec,
        node: &str,
    ) -> Result<Vec<ShellConfig>, DesiredError> {
        let node = cluster.node(node).unwrap();
        let local = Local {
            vip_name: "web",
            node,
            password: Some("secret"),
            interface_addresses: ["10.77.0.1", "10.77.0.2", "10.77.0.100", "fe80::1"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect(),
            manifest_dir: Some(Path::new("/etc/hareconcile/manifests")),
        };
        shell_configs(spec, cluster, &local)
    }

    #[test]
    fn cluster_defaults_fill_the_instance() {
        let cluster = cluster(json!({"vrrp": {"advertInterval": "100ms"}, "failback": "manual"}));
        let configs = build(&vip(json!({})), &cluster, "n1").unwrap();
        assert_eq!(configs.len(), 1);
        let config = &configs[0];
        assert_eq!(config.name, "web/ipv4");
        assert_eq!(config.instance.priority, 110);
        assert_eq!(config.instance.advert_interval, Duration::from_millis(100));
        assert!(
            !config.instance.preempt,
            "failback manual means no preemption"
        );
        assert_eq!(
            config.instance.primary_address,
            IpAddr::from([10, 77, 0, 1])
        );
        assert_eq!(config.transport, Transport::Multicast);
        assert_eq!(config.announcements, 5);
        assert!(!config.virtual_mac);
        assert_eq!(config.instance.validate(), Ok(()));
        let with_vmac = vip(json!({"virtualMac": true}));
        assert!(build(&with_vmac, &cluster, "n1").unwrap()[0].virtual_mac);
    }

    #[test]
    fn the_virtual_ip_overrides_priority_interval_and_preemption() {
        let cluster = cluster(json!({"failback": "manual"}));
        let spec = vip(json!({"priorities": {"n2": 120}, "advertInterval": "50ms",
                              "preempt": true, "preemptDelay": "2s"}));
        let config = &build(&spec, &cluster, "n2").unwrap()[0];
        assert_eq!(config.instance.priority, 120);
        assert_eq!(config.instance.advert_interval, Duration::from_millis(50));
        assert!(config.instance.preempt);
        assert_eq!(config.instance.preempt_delay, Duration::from_secs(2));
    }

    #[test]
    fn relative_notify_programs_are_relative_to_the_manifest() {
        let spec = vip(json!({"notify": {"master": ["hooks/up.sh", "web"],
                                         "backup": ["logger", "backup"],
                                         "stop": ["/usr/local/bin/down"]}}));
        let notify = &build(&spec, &cluster(json!({})), "n1").unwrap()[0].notify;
        assert_eq!(
            notify.master,
            ["/etc/hareconcile/manifests/hooks/up.sh", "web"]
        );
        assert_eq!(notify.backup, ["logger", "backup"]);
        assert_eq!(notify.stop, ["/usr/local/bin/down"]);
    }

    #[test]
    fn trackers_get_resolved_scripts_and_weighted_services() {
        let spec = vip(json!({"track": {
            "scripts": [{"name": "gw", "command": ["checks/gw.sh", "10.77.0.254"],
                         "interval": "2s", "fall": 2, "weight": -20},
                        {"name": "disk", "command": ["test", "-e", "/srv/ok"], "timeout": "500ms"}],
            "services": ["web", {"name": "db", "weight": -30}]}}));
        let cluster = cluster(json!({}));
        let local = Local {
            vip_name: "web",
            node: cluster.node("n1").unwrap(),
            password: None,
            interface_addresses: Vec::new(),
            manifest_dir: Some(Path::new("/etc/hareconcile/manifests")),
        };
        let config = track_config(&spec, &local, None);
        assert_eq!(config.vip, "web");
        let gw = &config.scripts[0];
        assert_eq!(
            gw.command,
            ["/etc/hareconcile/manifests/checks/gw.sh", "10.77.0.254"]
        );
        assert_eq!(
            (gw.interval, gw.timeout),
            (Duration::from_secs(2), Duration::from_secs(2))
        );
        assert_eq!((gw.fall, gw.rise, gw.weight), (2, 1, -20));
        let disk = &config.scripts[1];
        assert_eq!(disk.command, ["test", "-e", "/srv/ok"]);
        assert_eq!(
            (disk.interval, disk.timeout, disk.weight),
            (Duration::from_secs(1), Duration::from_millis(500), 0)
        );
        assert_eq!(
            config.services,
            [("web".to_string(), 0), ("db".to_string(), -30)]
        );
    }

    #[test]
    fn unicast_goes_to_the_other_nodes() {
        let cluster = cluster(json!({"vrrp": {"transport": "unicast"}}));
        let config = &build(&vip(json!({})), &cluster, "n1").unwrap()[0];
        assert_eq!(
            config.transport,
            Transport::Unicast(vec![IpAddr::from([10, 77, 0, 2])])
        );
    }

    #[test]
    fn members_only_takes_adverts_from_the_node_addresses() {
        let cluster = cluster(json!({"vrrp": {"acceptFrom": "members"}}));
        let config = &build(&vip(json!({})), &cluster, "n1").unwrap()[0];
        assert_eq!(
            config.instance.accept_from,
            Some(vec![
                IpAddr::from([10, 77, 0, 1]),
                IpAddr::from([10, 77, 0, 2])
            ])
        );
        let any = vip(json!({"acceptFrom": "any"}));
        assert_eq!(
            build(&any, &cluster, "n1").unwrap()[0].instance.accept_from,
            None
        );
        // The others would drop adverts from another source than the node's.
        let local = Local {
            vip_name: "edge",
            node: cluster.node("n1").unwrap(),
            password: None,
            interface_addresses: vec!["10.78.0.1".parse().unwrap()],
            manifest_dir: None,
        };
        let edge = vip(json!({"interface": "eth1", "addresses": ["10.78.0.100/24"]}));
        assert!(matches!(
            shell_configs(&edge, &cluster, &local),
            Err(DesiredError::MemberAddressNotSource { .. })
        ));
    }

    #[test]
    fn version_2_with_a_password() {
        let cluster = cluster(json!({"vrrp": {"version": 2, "auth": {"type": "pass",
                                     "passwordFile": "/etc/hareconcile/vrrp.pass"}}}));
        let config = &build(&vip(json!({})), &cluster, "n1").unwrap()[0];
        assert_eq!(config.instance.version, Version::V2);
        assert_eq!(config.instance.auth, Auth::password("secret"));
        assert_eq!(config.instance.validate(), Ok(()));
    }

    #[test]
    fn one_instance_per_family() {
        let spec = vip(json!({"addresses": ["10.77.0.100/24", "fd00::100/64", "fd00::101/64"]}));
        let configs = build(&spec, &cluster(json!({})), "n1").unwrap();
        assert_eq!(configs.len(), 2);
        assert_eq!(configs[1].name, "web/ipv6");
        assert_eq!(configs[1].vips.len(), 2);
        assert_eq!(
            configs[1].instance.primary_address,
            "fe80::1".parse::<IpAddr>().unwrap()
        );
        let plain = cluster(json!({}));
        let local = Local {
            vip_name: "edge",
            node: plain.node("n1").unwrap(),
            password: None,
            interface_addresses: vec!["10.78.0.100".parse().unwrap(), "10.78.0.1".parse().unwrap()],
            manifest_dir: None,
        };
        let edge = vip(json!({"interface": "eth1", "addresses": ["10.78.0.100/24"]}));
        let configs = shell_configs(&edge, &plain, &local).unwrap();
        assert_eq!(
            configs[0].instance.primary_address,
            IpAddr::from([10, 78, 0, 1]),
            "on another interface, adverts come from its own address, never a VIP"
        );
        let unicast = cluster(json!({"vrrp": {"transport": "unicast"}}));
        assert_eq!(
            build(&spec, &unicast, "n1").unwrap_err(),
            DesiredError::UnicastWithoutPeers { family: "IPv6" }
        );
    }
}
