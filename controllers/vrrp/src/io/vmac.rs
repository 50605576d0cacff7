//! The virtual router MAC (RFC 5798 §7.3, `virtualMac: true`, keepalived's
//! `use_vmac`): a macvlan on the VirtualIP's interface whose address is
//! 00-00-5E-00-01-{VRID} (IPv4) or 00-00-5E-00-02-{VRID} (IPv6). The master
//! holds the VIPs on it and sends its (multicast) adverts, gratuitous ARPs
//! and neighbour advertisements from it, so hosts and switches keep one MAC for
//! the VIP whichever node holds it, and a takeover needs no cache update.
//!
//! The macvlan is up only while this node is master. A down interface sends
//! nothing at all — no IPv6 duplicate address detection, router or MLD
//! solicitation, no ARP answer — so a backup can never put the virtual MAC
//! on the wire and make the switches' forwarding tables flap between the
//! nodes, whatever the host's sysctl defaults are; and it owns no route.
//! Bringing it up on takeover is one netlink request (its carrier follows
//! the parent's).

use std::io;
use std::net::IpAddr;

use ipnet::IpNet;
use thiserror::Error;

use crate::io::addresses::{AddressError, Interface, Netlink};
use crate::io::sysctl::{self, SysctlError};

/// The prefix of the link-local network, for the advert source copied onto
/// an IPv6 virtual MAC interface.
const LINK_LOCAL_PREFIX: u8 = 64;

#[derive(Debug, Error)]
pub enum VmacError {
    #[error(transparent)]
    Netlink(#[from] AddressError),
    #[error("interface {name} exists and is not a macvlan, so it cannot carry the virtual MAC: rename it, or set virtualMac: false")]
    NameTaken { name: String },
    #[error("{0} (for the virtual MAC)")]
    Sysctl(#[from] SysctlError),
}

/// The virtual router MAC of `vrid` for the family.
pub fn virtual_mac(vrid: u8, ipv4: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if ipv4 { 0x01 } else { 0x02 }, vrid]
}

/// The macvlan's name: stable per virtual router and family, so a restarted
/// agent finds the one it left, and keepalived's (`vrrp.51`) for IPv4. At
/// most 9 bytes, well within the kernel's 15.
pub fn interface_name(vrid: u8, ipv4: bool) -> String {
    if ipv4 {
        format!("vrrp.{vrid}")
    } else {
        format!("vrrp6.{vrid}")
    }
}

/// `00:00:5e:00:01:33`, as `ip link` shows it.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Creates the virtual MAC interface of virtual router `vrid` on `parent`
/// (or adopts the one an earlier run left, if its MAC and parent are
/// right; otherwise recreates it), down, and sets the kernel up so that
/// only it answers for the VIPs.
pub async fn prepare(
    netlink: &Netlink,
    parent: &Interface,
    vrid: u8,
    ipv4: bool,
) -> Result<Interface, VmacError> {
    let name = interface_name(vrid, ipv4);
    let mac = virtual_mac(vrid, ipv4);
    let existing = netlink.find_link(&name).await?;
    let reusable = match &existing {
        None => false,
        // Never delete an interface this code did not create.
        Some(link) if !link.macvlan => return Err(VmacError::NameTaken { name }),
        Some(link) => link.mac == Some(mac) && link.parent == Some(parent.index),
    };
    match existing {
        Some(link) if reusable => netlink.set_link_up(link.index, false).await?,
        Some(link) => {
            netlink.delete_link(link.index).await?;
            netlink.add_macvlan(&name, parent.index, mac).await?;
        }
        None => netlink.add_macvlan(&name, parent.index, mac).await?,
    }
    configure_kernel(&parent.name, &name, ipv4)?;
    Ok(netlink.interface(&name).await?)
}

/// Brings the interface up for a new master; an IPv6 one gets `source`
/// (the parent's link-local address) first thing, since adverts and
/// neighbour advertisements must leave from a link-local address of the
/// interface they leave through (RFC 5798 §5.1.2.1). Copying the parent's
/// keeps the advert source peers know this node by, as keepalived does.
pub async fn activate(
    netlink: &Netlink,
    vmac: &Interface,
    source: IpAddr,
) -> Result<(), AddressError> {
    netlink.set_link_up(vmac.index, true).await?;
    if source.is_ipv6() {
        let link_local = IpNet::new(source, LINK_LOCAL_PREFIX).expect("64 fits an IPv6 prefix");
        netlink.add(vmac.index, link_local).await?;
    }
    Ok(())
}

/// Takes the interface down once the VIPs are off it (the kernel drops its
/// IPv6 addresses, the copied link-local one included).
pub async fn deactivate(netlink: &Netlink, vmac: &Interface) -> Result<(), AddressError> {
    netlink.set_link_up(vmac.index, false).await
}

/// The sysctls a macvlan beside its parent needs: keepalived's for
/// `use_vmac` without `arp_filter` and `accept_local` (nothing here needs
/// them; the shell sets the parent's `accept_local` for any backup), plus
/// `arp_announce`, which keepalived 2.2.7 leaves alone.
/// tests/vrrp_vmac.rs fails without any one of the `arp_ignore`s, the
/// parent's `arp_announce` or `rp_filter`:
///
/// - parent `arp_ignore=1`: an ARP request for the VIP reaches the parent
///   and the macvlan alike; answering only for its own addresses keeps the
///   parent from racing the macvlan's answer with its own MAC.
/// - parent `arp_announce=2`: replies from the VIP are routed out of the
///   parent (the first connected route of the subnet), and by default its
///   ARP requests would give the VIP as sender, teaching the LAN the
///   parent's MAC for it.
/// - macvlan `arp_ignore=1`: the same requests for the parent's addresses
///   reach the macvlan too; it must not answer them with the virtual MAC.
/// - macvlan `arp_announce=2`: requests for whatever is routed out of it
///   give the VIP, never the node's address, as sender.
/// - macvlan `rp_filter=2`: packets to the VIP arrive on the macvlan while
///   the route back to their sender goes through the parent, which strict
///   reverse-path filtering drops. The kernel applies the larger of `all`
///   and the interface's value, so loose (2) holds whatever `all` says.
/// - IPv4 macvlan `disable_ipv6=1`, IPv6 macvlan `addr_gen_mode=1` (none):
///   no link-local address derived from the virtual MAC, which both nodes
///   would share, and no IPv6 chatter from an IPv4 router.
///
/// Left in place on removal: another VirtualIP's virtual MAC may share the
/// parent, and answering only for one's own addresses is what a host wants
/// anyway.
fn configure_kernel(parent: &str, vmac: &str, ipv4: bool) -> Result<(), VmacError> {
    if ipv4 {
        sysctl::set_interface("ipv4", parent, "arp_ignore", 1)?;
        sysctl::set_interface("ipv4", parent, "arp_announce", 2)?;
    }
    sysctl::set_interface("ipv4", vmac, "arp_ignore", 1)?;
    sysctl::set_interface("ipv4", vmac, "arp_announce", 2)?;
    sysctl::set_interface("ipv4", vmac, "rp_filter", 2)?;
    if !ipv4 {
        return Ok(sysctl::set_interface("ipv6", vmac, "addr_gen_mode", 1)?);
    }
    match sysctl::set_interface("ipv6", vmac, "disable_ipv6", 1) {
        // A kernel without IPv6 has nothing to disable.
        Err(error) if error.source.kind() == io::ErrorKind::NotFound => Ok(()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_carries_the_family_and_the_vrid() {
        assert_eq!(virtual_mac(51, true), [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(virtual_mac(51, false), [0, 0, 0x5e, 0, 2, 51]);
        assert_eq!(format_mac(virtual_mac(51, true)), "00:00:5e:00:01:33");
        assert_eq!(format_mac(virtual_mac(255, false)), "00:00:5e:00:02:ff");
    }

    #[test]
    fn names_are_per_family_and_fit_the_kernel() {
        assert_eq!(interface_name(51, true), "vrrp.51");
        assert_eq!(interface_name(51, false), "vrrp6.51");
        assert_ne!(interface_name(1, true), interface_name(1, false));
        for vrid in [1, 255] {
            for ipv4 in [true, false] {
                assert!(interface_name(vrid, ipv4).len() <= 15);
            }
        }
    }
}
