//! Which network interface a node runs a VirtualIP on. Hosts name their
//! NICs differently (`eno1` and `enp3s0`, `eth0` and `ens3`), so one
//! VirtualIP says it per node: `spec.interface` for every node (a name, or
//! `auto`), and `spec.interfaces` overriding it per node, as
//! `spec.priorities` overrides priorities.
//!
//! `auto` is resolved on each node from its own addresses, every time the
//! VRRP controller builds the node's instances, so it follows a renamed or
//! re-addressed NIC like any other change.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Node, VirtualIpSpec};

/// The `spec.interface` (or `spec.interfaces` value) that lets each node
/// find its interface.
pub const AUTO_INTERFACE: &str = "auto";

/// An address configured on the host, with its prefix length, and the
/// interface holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddress {
    pub interface: String,
    pub address: IpNet,
}

impl VirtualIpSpec {
    /// The interface declared for `node`: its `interfaces` entry, else
    /// `interface`; either may be `auto`.
    pub fn declared_interface(&self, node: &str) -> &str {
        self.interfaces
            .get(node)
            .map_or(self.interface.as_str(), String::as_str)
    }

    /// Whether nodes may run this VirtualIP on differently named
    /// interfaces (an `auto` or a per-node entry).
    pub fn interface_varies(&self) -> bool {
        self.interface == AUTO_INTERFACE || !self.interfaces.is_empty()
    }

    /// The interface `node` runs this VirtualIP on, given the host's
    /// addresses. For `auto`: the interface holding the node's Cluster
    /// address if that address is on a VIP's subnet, else the one
    /// interface holding an address on the VIPs' subnets. The VIPs
    /// themselves and the virtual-MAC macvlans (`vrrp.N`, `vrrp6.N`) never
    /// count: they move with the master.
    pub fn resolve_interface(&self, node: &Node, host: &[HostAddress]) -> Result<String, String> {
        let declared = self.declared_interface(&node.name);
        if declared != AUTO_INTERFACE {
            return Ok(declared.to_string());
        }
        let vips: Vec<IpAddr> = self.addresses.iter().map(IpNet::addr).collect();
        let subnets: Vec<IpNet> = self.addresses.iter().map(IpNet::trunc).collect();
        let on_subnet = |a: &&HostAddress| {
            let address = a.address.addr();
            !vips.contains(&address)
                && !is_virtual_mac(&a.interface)
                && subnets.iter().any(|net| net.contains(&address))
        };
        if let Some(own) = host
            .iter()
            .filter(on_subnet)
            .find(|a| a.address.addr() == node.address)
        {
            return Ok(own.interface.clone());
        }
        let mut found: Vec<&str> = host
            .iter()
            .filter(on_subnet)
            .map(|a| a.interface.as_str())
            .collect();
        found.sort_unstable();
        found.dedup();
        let subnets = subnets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        match found.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(format!(
                "interface: auto: no interface of node {} holds an address on {subnets}: \
                 name it in spec.interfaces.{}",
                node.name, node.name
            )),
            many => Err(format!(
                "interface: auto: interfaces {} of node {} all hold addresses on {subnets}: \
                 name the one to use in spec.interfaces.{}",
                many.join(", "),
                node.name,
                node.name
            )),
        }
    }
}

/// The macvlans a `virtualMac` VirtualIP holds its addresses on.
fn is_virtual_mac(interface: &str) -> bool {
    ["vrrp.", "vrrp6."].iter().any(|prefix| {
        interface
            .strip_prefix(prefix)
            .is_some_and(|vrid| !vrid.is_empty() && vrid.bytes().all(|b| b.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(fields: serde_json::Value) -> VirtualIpSpec {
        let mut base = json!({"cluster": "home", "vrid": 51, "addresses": ["10.0.0.100/24"]});
        base.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn node(name: &str, address: &str) -> Node {
        serde_json::from_value(json!({"name": name, "address": address})).unwrap()
    }

    fn host(entries: &[(&str, &str)]) -> Vec<HostAddress> {
        entries
            .iter()
            .map(|(interface, address)| HostAddress {
                interface: interface.to_string(),
                address: address.parse().unwrap(),
            })
            .collect()
    }

    #[test]
    fn a_per_node_entry_overrides_the_common_name() {
        let spec = spec(json!({"interface": "eth0", "interfaces": {"n2": "ens3"}}));
        let none = host(&[]);
        assert_eq!(
            spec.resolve_interface(&node("n1", "10.0.0.1"), &none),
            Ok("eth0".into())
        );
        assert_eq!(
            spec.resolve_interface(&node("n2", "10.0.0.2"), &none),
            Ok("ens3".into())
        );
        assert!(spec.interface_varies());
    }

    #[test]
    fn auto_finds_the_interface_on_the_vip_subnet() {
        let spec = spec(json!({"interface": "auto"}));
        let n2 = node("n2", "10.0.0.2");
        let addresses = host(&[
            ("lo", "127.0.0.1/8"),
            ("enp3s0", "10.0.0.2/24"),
            ("wg0", "10.9.0.2/24"),
            // The VIP itself and a virtual MAC's macvlan never count.
            ("vrrp.51", "10.0.0.100/24"),
            ("docker0", "10.0.0.100/32"),
        ]);
        assert_eq!(spec.resolve_interface(&n2, &addresses), Ok("enp3s0".into()));
    }

    #[test]
    fn auto_prefers_the_node_address_and_says_when_it_cannot_choose() {
        let spec = spec(json!({"interface": "auto"}));
        let n1 = node("n1", "10.0.0.1");
        let two = host(&[("eno1", "10.0.0.1/24"), ("eno2", "10.0.0.5/24")]);
        assert_eq!(spec.resolve_interface(&n1, &two), Ok("eno1".into()));

        let elsewhere = node("n1", "192.168.1.1");
        let error = spec.resolve_interface(&elsewhere, &two).unwrap_err();
        assert!(error.contains("eno1, eno2"), "{error}");
        assert!(error.contains("spec.interfaces.n1"), "{error}");

        let error = spec
            .resolve_interface(&elsewhere, &host(&[("eno1", "192.168.1.1/24")]))
            .unwrap_err();
        assert!(
            error.contains("no interface of node n1 holds an address on 10.0.0.0/24"),
            "{error}"
        );
    }
}
