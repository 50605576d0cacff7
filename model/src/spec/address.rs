//! Which addresses can float as a VIP, and which can be a node's: the
//! rules behind validation's messages and the keepalived importer's,
//! kept in one place so both refuse the same addresses.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Why `net` cannot float as a virtual address and what to float
/// instead, as a sentence; `None` when it can.
///
/// A VIP is a unicast address that clients on its network send to and
/// that moves between hosts: not the unspecified, loopback, multicast or
/// broadcast address, not the network address of its own prefix, and
/// not one of the link-local addresses RFC 3927 keeps back.
pub fn unusable_virtual_address(net: &IpNet) -> Option<String> {
    let address = net.addr();
    let why = never_a_host(address)
        .or_else(|| {
            address
                .is_loopback()
                .then(|| format!("{address} is a loopback address, which never leaves the host"))
        })
        .or_else(|| match net {
            IpNet::V4(v4) => reserved_link_local(v4.addr()),
            IpNet::V6(_) => None,
        });
    if let Some(why) = why {
        return Some(format!(
            "{why}: float a unicast address of the network the nodes share"
        ));
    }
    let why = match net {
        IpNet::V4(v4) => subnet_v4(v4),
        IpNet::V6(v6) => subnet_router_anycast(v6),
    }?;
    Some(format!(
        "{why}: float a free host address of {} instead",
        net.trunc()
    ))
}

/// Why `address` cannot be a node's own address on the cluster network,
/// as a sentence; `None` when it can. Loopback addresses are fine: a lab
/// runs nodes that way, and nothing else would reach them anyway.
pub fn unusable_node_address(address: IpAddr) -> Option<String> {
    never_a_host(address)
}

/// The host-part rules of a VIP's own prefix, as they apply to a node
/// address inside it: `Some` when `address` is `net`'s network or
/// broadcast address.
pub fn special_in_prefix(net: &IpNet, address: IpAddr) -> Option<&'static str> {
    let on = |host: IpAddr| net.contains(&address) && address == host;
    match net {
        IpNet::V4(v4) if v4.prefix_len() < 31 => {
            if on(v4.broadcast().into()) {
                Some("broadcast")
            } else if on(v4.network().into()) {
                Some("network")
            } else {
                None
            }
        }
        IpNet::V6(v6) if v6.prefix_len() < 127 => {
            on(v6.network().into()).then_some("subnet-router anycast")
        }
        _ => None,
    }
}

/// Addresses no host can have as its own, whatever the prefix.
fn never_a_host(address: IpAddr) -> Option<String> {
    if address.is_unspecified() {
        return Some(format!(
            "{address} is the unspecified address (\"any\"), which no host can have"
        ));
    }
    if address.is_multicast() {
        return Some(format!(
            "{address} is a multicast group, not a host's address"
        ));
    }
    (address == IpAddr::V4(Ipv4Addr::BROADCAST)).then(|| {
        format!("{address} is the broadcast address of every network, not a host's address")
    })
}

/// The network and broadcast addresses of an IPv4 prefix. A /31 (RFC
/// 3021) and a /32 have neither: every address in them is a host's.
fn subnet_v4(net: &Ipv4Net) -> Option<String> {
    let special = special_in_prefix(&IpNet::V4(*net), IpAddr::V4(net.addr()))?;
    let consequence = match special {
        "broadcast" => "hosts send to it as to the whole network, so it cannot serve clients",
        _ => "it names the network, and hosts do not send to it as to one host",
    };
    Some(format!(
        "{} is the {special} address of {}: {consequence}",
        net.addr(),
        net.trunc()
    ))
}

/// RFC 4291 §2.6.1: the address of a prefix with an all-zero host part
/// is every router's on that link. RFC 6164 exempts /127, and a /128 is
/// one host.
fn subnet_router_anycast(net: &Ipv6Net) -> Option<String> {
    special_in_prefix(&IpNet::V6(*net), IpAddr::V6(net.addr()))?;
    Some(format!(
        "{} is the subnet-router anycast address of {} (RFC 4291), which every router on the link answers",
        net.addr(),
        net.trunc()
    ))
}

/// RFC 3927 §2.1: the first and the last 256 addresses of 169.254.0.0/16
/// are reserved, and no host configures them.
fn reserved_link_local(address: Ipv4Addr) -> Option<String> {
    let [a, b, c, _] = address.octets();
    ((a, b) == (169, 254) && (c == 0 || c == 255)).then(|| {
        format!("{address} is one of the link-local addresses RFC 3927 reserves (169.254.0.x and 169.254.255.x)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vip(text: &str) -> Option<String> {
        unusable_virtual_address(&text.parse().unwrap())
    }

    #[test]
    fn the_broadcast_and_network_of_a_vips_own_prefix_are_refused() {
        assert_eq!(
            vip("192.168.8.255/24").unwrap(),
            "192.168.8.255 is the broadcast address of 192.168.8.0/24: hosts send to it as to the whole network, so it cannot serve clients: float a free host address of 192.168.8.0/24 instead"
        );
        assert!(vip("192.168.8.0/24").unwrap().contains("network address"));
        // The same address is a host's in a wider prefix.
        assert_eq!(vip("192.168.8.255/23"), None);
        assert_eq!(vip("192.168.8.250/24"), None);
        // RFC 3021 point-to-point links and host routes have no such addresses.
        for net in ["10.0.0.0/31", "10.0.0.1/31", "10.0.0.255/32", "10.0.0.0/32"] {
            assert_eq!(vip(net), None, "{net}");
        }
    }

    #[test]
    fn ipv6_has_no_broadcast_but_a_subnet_router_anycast() {
        assert_eq!(vip("fd00::ffff:ffff:ffff:ffff/64"), None);
        assert!(vip("fd00::/64").unwrap().contains("subnet-router anycast"));
        assert_eq!(vip("fd00::/127"), None);
        assert_eq!(vip("fd00::100/64"), None);
        // VRRPv3's IPv6 virtual addresses include a link-local one.
        assert_eq!(vip("fe80::1/64"), None);
    }

    #[test]
    fn addresses_no_host_can_serve_from_are_refused() {
        for net in [
            "0.0.0.0/24",
            "::/64",
            "224.0.0.18/24",
            "ff02::12/64",
            "255.255.255.255/32",
            "127.0.0.5/8",
            "::1/128",
            "169.254.0.7/16",
            "169.254.255.1/16",
        ] {
            assert!(vip(net).is_some(), "{net}");
        }
        assert_eq!(vip("169.254.10.1/16"), None);
    }

    #[test]
    fn node_addresses_may_be_loopback_but_not_groups_or_broadcast() {
        let node = |text: &str| unusable_node_address(text.parse().unwrap());
        assert_eq!(node("127.0.0.2"), None);
        assert_eq!(node("10.77.0.1"), None);
        assert_eq!(
            node("224.0.0.18").unwrap(),
            "224.0.0.18 is a multicast group, not a host's address"
        );
        assert!(node("255.255.255.255").is_some());
        assert!(node("0.0.0.0").is_some());
        assert!(node("::").is_some());
    }
}
