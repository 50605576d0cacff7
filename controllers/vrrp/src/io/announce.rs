//! Telling the LAN where the virtual addresses live now: gratuitous ARP
//! (IPv4, over AF_PACKET) and unsolicited Neighbor Advertisements (IPv6,
//! over an ICMPv6 raw socket), so hosts and switches stop sending to the
//! previous master's MAC at once instead of when their caches expire.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV6};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::core::by_family;
use crate::io::addresses::Interface;

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IP: u16 = 0x0800;
const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// All-nodes multicast: every neighbour hears the advertisement.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// RFC 4861 §4.4: Override, so caches replace the old MAC.
const NA_OVERRIDE: u8 = 0x20;
const OPTION_TARGET_LINK_LAYER: u8 = 2;

/// Sends `count` announcements of each of `vips` on `interface`.
pub fn announce(interface: &Interface, vips: &[IpAddr], count: u32) -> io::Result<()> {
    let (v4, v6) = by_family(vips);
    if !v4.is_empty() {
        let socket = arp_socket(interface)?;
        for _ in 0..count {
            for vip in &v4 {
                let frame = gratuitous_arp(interface.mac, *vip);
                socket.send_to(&frame, &arp_destination(interface.index))?;
            }
        }
    }
    if !v6.is_empty() {
        let socket = icmpv6_socket(interface)?;
        let to = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, interface.index));
        for _ in 0..count {
            for vip in &v6 {
                // The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets.
                socket.send_to(&neighbor_advertisement(interface.mac, *vip), &to)?;
            }
        }
    }
    Ok(())
}

fn arp_socket(interface: &Interface) -> io::Result<Socket> {
    let protocol = Protocol::from(i32::from(ETH_P_ARP.to_be()));
    let socket = Socket::new(Domain::PACKET, Type::RAW.cloexec(), Some(protocol))?;
    socket.bind(&arp_destination(interface.index))?;
    Ok(socket)
}

fn arp_destination(index: u32) -> SockAddr {
    // SAFETY: sockaddr_ll fits in sockaddr_storage, and every field the
    // kernel reads is set below.
    let (_, address) = unsafe {
        SockAddr::try_init(|storage, len| {
            let ll = &mut *(storage as *mut libc::sockaddr_ll);
            ll.sll_family = libc::AF_PACKET as u16;
            ll.sll_protocol = ETH_P_ARP.to_be();
            ll.sll_ifindex = index as i32;
            ll.sll_halen = 6;
            ll.sll_addr[..6].copy_from_slice(&BROADCAST_MAC);
            *len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            Ok(())
        })
    }
    .expect("writing a sockaddr_ll cannot fail");
    address
}

fn icmpv6_socket(interface: &Interface) -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV6, Type::RAW.cloexec(), Some(Protocol::ICMPV6))?;
    socket.bind_device(Some(interface.name.as_bytes()))?;
    // RFC 4861 §7.1.2: receivers drop neighbour discovery below 255 hops.
    socket.set_multicast_hops_v6(255)?;
    socket.set_multicast_if_v6(interface.index)?;
    Ok(socket)
}

/// An Ethernet frame carrying an ARP request for `vip` from `vip`: the
/// form keepalived sends and every stack updates its cache from.
fn gratuitous_arp(mac: [u8; 6], vip: Ipv4Addr) -> Vec<u8> {
    let mut frame = Vec::with_capacity(42);
    frame.extend_from_slice(&BROADCAST_MAC);
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    frame.extend_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    frame.extend_from_slice(&ETH_P_IP.to_be_bytes());
    frame.extend_from_slice(&[6, 4]);
    frame.extend_from_slice(&1u16.to_be_bytes()); // request
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&vip.octets());
    frame.extend_from_slice(&BROADCAST_MAC);
    frame.extend_from_slice(&vip.octets());
    frame
}

/// An unsolicited Neighbor Advertisement for `vip` (RFC 4861 §4.4), with
/// the target link-layer option; checksum left for the kernel.
fn neighbor_advertisement(mac: [u8; 6], vip: Ipv6Addr) -> Vec<u8> {
    let mut message = vec![NEIGHBOR_ADVERTISEMENT, 0, 0, 0, NA_OVERRIDE, 0, 0, 0];
    message.extend_from_slice(&vip.octets());
    message.extend_from_slice(&[OPTION_TARGET_LINK_LAYER, 1]);
    message.extend_from_slice(&mac);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

    #[test]
    fn gratuitous_arp_announces_the_vip_from_our_mac() {
        let frame = gratuitous_arp(MAC, Ipv4Addr::new(10, 77, 0, 100));
        assert_eq!(frame.len(), 42);
        assert_eq!(&frame[..6], &BROADCAST_MAC);
        assert_eq!(&frame[6..12], &MAC);
        assert_eq!(&frame[12..14], &[0x08, 0x06]);
        assert_eq!(&frame[22..28], &MAC);
        assert_eq!(&frame[28..32], &[10, 77, 0, 100]);
        assert_eq!(&frame[38..42], &[10, 77, 0, 100]);
    }

    #[test]
    fn neighbor_advertisement_overrides_with_our_mac() {
        let vip: Ipv6Addr = "fd00::100".parse().unwrap();
        let message = neighbor_advertisement(MAC, vip);
        assert_eq!(message[0], 136);
        assert_eq!(message[4], NA_OVERRIDE);
        assert_eq!(&message[8..24], &vip.octets());
        assert_eq!(&message[24..], &[2, 1, 0x02, 0, 0, 0, 0, 0x01]);
    }
}
