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

/// Announces one instance's addresses. Its AF_PACKET socket lives as
/// long as the instance: opening and binding one per announcement cost a
/// few milliseconds between the first advert and the first gratuitous
/// ARP of every takeover (6 ms measured, keepalived 0.2 ms), because the
/// kernel waits for an RCU grace period (`synchronize_net`) when a packet
/// socket's receive hook is replaced at bind, and again whenever one is
/// closed, blocking the instance's task meanwhile (8-16 ms on the lab
/// machine). The socket is opened for protocol 0 and never bound: each
/// frame names its interface, and nothing is ever received on it.
pub struct Announcer {
    /// Only with IPv4 addresses to announce.
    packet: Option<Socket>,
}

impl Announcer {
    /// Opens what announcing `vips` needs.
    pub fn open(vips: &[IpAddr]) -> io::Result<Announcer> {
        let packet = match vips.iter().any(IpAddr::is_ipv4) {
            true => Some(Socket::new(Domain::PACKET, Type::RAW.cloexec(), None)?),
            false => None,
        };
        Ok(Announcer { packet })
    }

    /// Sends `count` announcements of each of `vips` on `interface`.
    pub fn announce(&self, interface: &Interface, vips: &[IpAddr], count: u32) -> io::Result<()> {
        let (v4, v6) = by_family(vips);
        if let Some(socket) = &self.packet {
            let to = arp_destination(interface.index);
            for _ in 0..count {
                for vip in &v4 {
                    socket.send_to(&gratuitous_arp(interface.mac, *vip), &to)?;
                }
            }
        }
        if !v6.is_empty() {
            // Cheap to open, unlike the packet socket: no grace period.
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

    /// Binding the packet socket, or opening it for ARP, would register a
    /// receive hook, and replacing one waits for an RCU grace period on
    /// the takeover's path. Unbound, the socket's own address says
    /// protocol 0 on no interface.
    #[test]
    fn the_packet_socket_is_never_bound() {
        let announcer = match Announcer::open(&["10.77.0.100".parse().unwrap()]) {
            Ok(announcer) => announcer,
            Err(error)
                if error.kind() == io::ErrorKind::PermissionDenied
                    && std::env::var_os("CI").is_none() =>
            {
                eprintln!("skipped: a packet socket needs CAP_NET_RAW ({error})");
                return;
            }
            Err(error) => panic!("opening the packet socket: {error}"),
        };
        let local = announcer.packet.as_ref().unwrap().local_addr().unwrap();
        // SAFETY: the kernel wrote a sockaddr_ll for this AF_PACKET socket.
        let ll = unsafe { &*(local.as_ptr() as *const libc::sockaddr_ll) };
        assert_eq!((ll.sll_protocol, ll.sll_ifindex), (0, 0));

        let ipv6_only = Announcer::open(&["fd00::100".parse().unwrap()]).unwrap();
        assert!(ipv6_only.packet.is_none(), "no packet socket without IPv4");
    }

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
