//! Raw VRRP sockets (IP protocol 112), one per instance and address family,
//! bound to the instance's interface. Sockets only: what goes in the
//! messages is the core's business, and so is judging what arrives (the
//! receive side hands back the TTL / hop limit and addresses the core's
//! [`crate::core::receive`] checks).

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrIn, SockaddrIn6,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockFilter, Socket, Type};
use thiserror::Error;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::core::packet::{IP_PROTOCOL, MULTICAST_V4, MULTICAST_V6, REQUIRED_TTL};

/// Large enough for any VRRP message (255 IPv6 addresses) plus an IPv4 header.
const RECEIVE_BUFFER: usize = 8 + 255 * 16 + 60;

#[derive(Debug, Error)]
pub enum NetworkError {
    #[error("interface {interface}: {source}")]
    NoInterface {
        interface: String,
        source: nix::Error,
    },
    #[error("setting up the VRRP socket on {interface} ({step}): {source}")]
    Setup {
        interface: String,
        step: &'static str,
        source: io::Error,
    },
}

/// Where adverts go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The VRRP group of the family (224.0.0.18, ff02::12).
    Multicast,
    /// Each of these peers (keepalived `unicast_peer`).
    Unicast(Vec<IpAddr>),
}

/// A VRRP message as it arrived, with what the IP layer said about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    pub message: Vec<u8>,
}

/// A raw VRRP socket on one interface, for one address family.
pub struct VrrpSocket {
    socket: AsyncFd<Socket>,
    source: IpAddr,
    ifindex: u32,
    destinations: Vec<IpAddr>,
    /// With a virtual MAC: adverts leave through its interface.
    vmac: Option<VmacSocket>,
}

/// A raw socket on the virtual MAC's macvlan.
struct VmacSocket {
    socket: AsyncFd<Socket>,
    ifindex: u32,
}

impl VrrpSocket {
    /// Opens the socket of virtual router `vrid` for adverts sourced from
    /// `source` (this node's address on `interface`, whose family it takes)
    /// and sent per `transport`.
    pub fn open(
        interface: &str,
        vrid: u8,
        source: IpAddr,
        transport: Transport,
    ) -> Result<VrrpSocket, NetworkError> {
        // Every raw VRRP socket on the interface gets every VRRP packet:
        // with many virtual routers, waking each of them for the others'
        // adverts costs O(n²). The kernel keeps only this VRID's.
        let filter = vrid_filter(vrid, source.is_ipv4());
        let (socket, ifindex) = raw_socket(interface, source, &filter)?;
        let multicast = transport == Transport::Multicast;
        set_up_receiving(&socket, interface, ifindex, source, multicast)?;
        let destinations = match transport {
            Transport::Multicast if source.is_ipv4() => vec![IpAddr::V4(MULTICAST_V4)],
            Transport::Multicast => vec![IpAddr::V6(MULTICAST_V6)],
            Transport::Unicast(peers) => peers,
        };
        Ok(VrrpSocket {
            socket: register(socket, interface)?,
            source,
            ifindex,
            destinations,
            vmac: None,
        })
    }

    /// Sends multicast adverts through `interface`, the macvlan of virtual
    /// MAC `mac`, from now on, so they carry that MAC (RFC 5798 §7.3), and
    /// receives the peers' that carry it there too: while the macvlan is up
    /// (this node is master), the kernel hands a multicast frame from its
    /// own MAC to it alone, never to the parent. Peers' other adverts
    /// still arrive on the parent, and the macvlan's copies of them are
    /// filtered out, so none is received twice.
    ///
    /// Unicast adverts keep leaving from the parent (keepalived's
    /// `vmac_xmit_base`): the ARP request resolving a peer would carry the
    /// virtual MAC too, and a peer that is master as well (a healed
    /// partition) hands it to its own macvlan, which does not answer for
    /// the peer's address: the two masters would never hear each other.
    pub fn use_virtual_mac(&mut self, interface: &str, mac: [u8; 6]) -> Result<(), NetworkError> {
        if !self.destinations.iter().any(IpAddr::is_multicast) {
            return Ok(());
        }
        let (socket, ifindex) = raw_socket(interface, self.source, &source_mac_filter(mac))?;
        // Multicast reaches an interface's sockets only if the interface
        // is a member of the group.
        set_up_receiving(&socket, interface, ifindex, self.source, true)?;
        self.vmac = Some(VmacSocket {
            socket: register(socket, interface)?,
            ifindex,
        });
        Ok(())
    }

    /// The address adverts are sent from.
    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// Where each advert goes: the group, or every unicast peer. The VRRPv3
    /// checksum covers the destination, so the caller encodes once per entry.
    pub fn destinations(&self) -> &[IpAddr] {
        &self.destinations
    }

    /// Sends one VRRP message to `dst`, from [`VrrpSocket::source`].
    pub async fn send_to(&self, message: &[u8], dst: IpAddr) -> io::Result<()> {
        let (socket, ifindex) = match &self.vmac {
            Some(vmac) => (&vmac.socket, vmac.ifindex),
            None => (&self.socket, self.ifindex),
        };
        socket
            .async_io(Interest::WRITABLE, |socket| {
                send_now(socket, self.source, ifindex, message, dst)
            })
            .await
    }

    /// Waits for the next VRRP message on the interface. Malformed IP
    /// framing is skipped here; everything else is for the core to judge.
    pub async fn recv(&self) -> io::Result<Received> {
        match &self.vmac {
            None => recv_on(&self.socket, self.source).await,
            Some(vmac) => tokio::select! {
                received = recv_on(&self.socket, self.source) => received,
                received = recv_on(&vmac.socket, self.source) => received,
            },
        }
    }

    /// A message already waiting, read at once, `None` when none is. After
    /// a stall the reactor may not yet have reported the socket readable,
    /// so [`VrrpSocket::recv`] could see nothing where adverts are queued.
    pub fn recv_waiting(&self) -> io::Result<Option<Received>> {
        let sockets = std::iter::once(&self.socket).chain(self.vmac.as_ref().map(|v| &v.socket));
        for socket in sockets {
            loop {
                match recv_one(socket.get_ref(), self.source) {
                    Ok(Some(received)) => return Ok(Some(received)),
                    // Malformed framing, skipped: look at the next one.
                    Ok(None) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(None)
    }
}

/// One message from the (non-blocking) socket, of `source`'s family;
/// `None` for one whose IP framing is malformed.
fn recv_one(socket: &Socket, source: IpAddr) -> io::Result<Option<Received>> {
    match source {
        IpAddr::V4(_) => recv_v4(socket),
        IpAddr::V6(_) => recv_v6(socket),
    }
}

/// The next well-framed message on `socket`, of `source`'s family.
async fn recv_on(socket: &AsyncFd<Socket>, source: IpAddr) -> io::Result<Received> {
    loop {
        let received = socket
            .async_io(Interest::READABLE, |socket| recv_one(socket, source))
            .await?;
        if let Some(received) = received {
            return Ok(received);
        }
    }
}

/// Turns the I/O error of setup `step` on `interface` into a [`NetworkError`].
fn setup_failed(interface: &str, step: &'static str) -> impl FnOnce(io::Error) -> NetworkError {
    let interface = interface.to_string();
    move |source| NetworkError::Setup {
        interface,
        step,
        source,
    }
}

/// A raw VRRP socket of `source`'s family bound to `interface`, keeping
/// what `filter` accepts, set up for sending adverts: returns it and the
/// interface's index.
fn raw_socket(
    interface: &str,
    source: IpAddr,
    filter: &[SockFilter],
) -> Result<(Socket, u32), NetworkError> {
    let ifindex =
        nix::net::if_::if_nametoindex(interface).map_err(|source| NetworkError::NoInterface {
            interface: interface.to_string(),
            source,
        })?;
    let setup = |step| setup_failed(interface, step);
    let domain = if source.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let protocol = Protocol::from(i32::from(IP_PROTOCOL));
    let socket = Socket::new(domain, Type::RAW.nonblocking().cloexec(), Some(protocol))
        .map_err(setup("socket"))?;
    // Only this interface's adverts concern this instance, and ours must
    // leave through it whatever the routing table says.
    socket
        .bind_device(Some(interface.as_bytes()))
        .map_err(setup("SO_BINDTODEVICE"))?;
    socket
        .attach_filter(filter)
        .map_err(setup("SO_ATTACH_FILTER"))?;
    // RFC 5798 §5.1.1.3 / §5.1.2.3: sent with 255 so receivers can tell
    // the advert never crossed a router.
    let ttl = u32::from(REQUIRED_TTL);
    match source {
        IpAddr::V4(_) => {
            socket.set_ttl_v4(ttl).map_err(setup("IP_TTL"))?;
            socket
                .set_multicast_ttl_v4(ttl)
                .map_err(setup("IP_MULTICAST_TTL"))?;
            // Our own adverts looping back would only be dropped.
            socket
                .set_multicast_loop_v4(false)
                .map_err(setup("IP_MULTICAST_LOOP"))?;
        }
        IpAddr::V6(_) => {
            socket
                .set_unicast_hops_v6(ttl)
                .map_err(setup("IPV6_UNICAST_HOPS"))?;
            socket
                .set_multicast_hops_v6(ttl)
                .map_err(setup("IPV6_MULTICAST_HOPS"))?;
            socket
                .set_multicast_loop_v6(false)
                .map_err(setup("IPV6_MULTICAST_LOOP"))?;
            socket
                .set_multicast_if_v6(ifindex)
                .map_err(setup("IPV6_MULTICAST_IF"))?;
        }
    }
    Ok((socket, ifindex))
}

/// Lets `socket` (on `interface`, number `ifindex`) receive adverts: with
/// their hop limit and destination for IPv6, and from the VRRP group.
fn set_up_receiving(
    socket: &Socket,
    interface: &str,
    ifindex: u32,
    source: IpAddr,
    multicast: bool,
) -> Result<(), NetworkError> {
    let setup = |step| setup_failed(interface, step);
    match source {
        IpAddr::V4(_) => {
            if multicast {
                socket
                    .join_multicast_v4_n(&MULTICAST_V4, &InterfaceIndexOrAddress::Index(ifindex))
                    .map_err(setup("IP_ADD_MEMBERSHIP"))?;
            }
        }
        IpAddr::V6(_) => {
            // IPv6 raw sockets never show the header: the hop limit and
            // the destination (for the checksum) come as ancillary data.
            setsockopt(socket, sockopt::Ipv6RecvHopLimit, &true)
                .map_err(|e| setup("IPV6_RECVHOPLIMIT")(e.into()))?;
            setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true)
                .map_err(|e| setup("IPV6_RECVPKTINFO")(e.into()))?;
            if multicast {
                socket
                    .join_multicast_v6(&MULTICAST_V6, ifindex)
                    .map_err(setup("IPV6_JOIN_GROUP"))?;
            }
        }
    }
    Ok(())
}

fn register(socket: Socket, interface: &str) -> Result<AsyncFd<Socket>, NetworkError> {
    // SAFETY: the socket owns its descriptor, which stays open and the
    // same until the AsyncFd (its only owner from here on) is dropped.
    unsafe { AsyncFd::register(socket) }
        .map_err(|e| setup_failed(interface, "registering with tokio")(e.into()))
}

/// Sends `message` to `dst` from `source` out of interface `ifindex`.
fn send_now(
    socket: &Socket,
    source: IpAddr,
    ifindex: u32,
    message: &[u8],
    dst: IpAddr,
) -> io::Result<()> {
    let iov = [IoSlice::new(message)];
    let fd = socket.as_raw_fd();
    // The packet-info control message pins the source address: the
    // interface's primary address may not be the node's address.
    let sent = match (source, dst) {
        (IpAddr::V4(source), IpAddr::V4(dst)) => {
            let info = libc::in_pktinfo {
                ipi_ifindex: ifindex as i32,
                ipi_spec_dst: in_addr(source),
                ipi_addr: in_addr(Ipv4Addr::UNSPECIFIED),
            };
            let to = SockaddrIn::from(std::net::SocketAddrV4::new(dst, 0));
            sendmsg(
                fd,
                &iov,
                &[ControlMessage::Ipv4PacketInfo(&info)],
                MsgFlags::empty(),
                Some(&to),
            )
        }
        (IpAddr::V6(source), IpAddr::V6(dst)) => {
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: source.octets(),
                },
                ipi6_ifindex: ifindex,
            };
            let to = SockaddrIn6::from(std::net::SocketAddrV6::new(dst, 0, 0, ifindex));
            sendmsg(
                fd,
                &iov,
                &[ControlMessage::Ipv6PacketInfo(&info)],
                MsgFlags::empty(),
                Some(&to),
            )
        }
        _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
    };
    sent.map(drop).map_err(io::Error::from)
}

/// A classic BPF program accepting VRRP messages of `vrid` only. IPv4 raw
/// sockets see the IP header first (the VRID is the second byte after
/// it), IPv6 ones the VRRP message itself.
fn vrid_filter(vrid: u8, ipv4: bool) -> Vec<SockFilter> {
    // Opcodes are BPF_* sums that fit in 16 bits.
    let op = |code: u32| code as u16;
    let load_vrid = if ipv4 {
        vec![
            // X = 4 * (IHL nibble): the IP header's length.
            SockFilter::new(op(libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH), 0, 0, 0),
            SockFilter::new(op(libc::BPF_LD | libc::BPF_B | libc::BPF_IND), 0, 0, 1),
        ]
    } else {
        vec![SockFilter::new(
            op(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS),
            0,
            0,
            1,
        )]
    };
    let mut program = load_vrid;
    program.extend([
        SockFilter::new(
            op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K),
            0,
            1,
            u32::from(vrid),
        ),
        SockFilter::new(op(libc::BPF_RET | libc::BPF_K), 0, 0, u32::MAX),
        SockFilter::new(op(libc::BPF_RET | libc::BPF_K), 0, 0, 0),
    ]);
    program
}

/// A classic BPF program accepting frames whose Ethernet source is `mac`
/// (read through the kernel's link-layer offset, since a raw IP socket's
/// filter starts at the IP header).
fn source_mac_filter(mac: [u8; 6]) -> Vec<SockFilter> {
    let op = |code: u32| code as u16;
    let link_layer = |offset: i32| (libc::SKF_LL_OFF + offset) as u32;
    let head = u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]);
    let tail = u32::from(u16::from_be_bytes([mac[4], mac[5]]));
    vec![
        SockFilter::new(
            op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS),
            0,
            0,
            link_layer(6),
        ),
        SockFilter::new(op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K), 0, 3, head),
        SockFilter::new(
            op(libc::BPF_LD | libc::BPF_H | libc::BPF_ABS),
            0,
            0,
            link_layer(10),
        ),
        SockFilter::new(op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K), 0, 1, tail),
        SockFilter::new(op(libc::BPF_RET | libc::BPF_K), 0, 0, u32::MAX),
        SockFilter::new(op(libc::BPF_RET | libc::BPF_K), 0, 0, 0),
    ]
}

fn in_addr(address: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from(address).to_be(),
    }
}

/// IPv4 raw sockets deliver the IP header: take the TTL and addresses
/// from it and strip it.
fn recv_v4(socket: &Socket) -> io::Result<Option<Received>> {
    let mut buffer = [MaybeUninit::<u8>::uninit(); RECEIVE_BUFFER];
    let len = socket.recv(&mut buffer)?;
    // SAFETY: recv initialised the first `len` bytes.
    let packet: Vec<u8> = buffer[..len]
        .iter()
        .map(|byte| unsafe { byte.assume_init() })
        .collect();
    Ok(strip_ipv4_header(&packet))
}

fn strip_ipv4_header(packet: &[u8]) -> Option<Received> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    if header_len < 20 || packet.len() < header_len {
        return None;
    }
    let octets = |at: usize| -> Ipv4Addr {
        Ipv4Addr::new(packet[at], packet[at + 1], packet[at + 2], packet[at + 3])
    };
    Some(Received {
        ttl: packet[8],
        src: IpAddr::V4(octets(12)),
        dst: IpAddr::V4(octets(16)),
        message: packet[header_len..].to_vec(),
    })
}

fn recv_v6(socket: &Socket) -> io::Result<Option<Received>> {
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    let mut iov = [IoSliceMut::new(&mut buffer)];
    let mut control = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo);
    let message = recvmsg::<SockaddrIn6>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let (mut hop_limit, mut dst) = (None, None);
    for cmsg in message.cmsgs().map_err(io::Error::from)? {
        match cmsg {
            ControlMessageOwned::Ipv6HopLimit(limit) => hop_limit = u8::try_from(limit).ok(),
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr))
            }
            _ => {}
        }
    }
    let (Some(src), Some(ttl), Some(dst)) = (message.address, hop_limit, dst) else {
        return Ok(None);
    };
    let len = message.bytes;
    Ok(Some(Received {
        src: SocketAddr::V6(src.into()).ip(),
        dst: IpAddr::V6(dst),
        ttl,
        message: buffer[..len].to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_gives_ttl_and_addresses() {
        let mut packet = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 255, 112, 0, 0];
        packet.extend([10, 77, 0, 1, 224, 0, 0, 18]);
        packet.extend([0x31, 51, 110, 1, 0, 100, 0, 0]);
        let received = strip_ipv4_header(&packet).unwrap();
        assert_eq!(received.ttl, 255);
        assert_eq!(received.src, IpAddr::from([10, 77, 0, 1]));
        assert_eq!(received.dst, IpAddr::from([224, 0, 0, 18]));
        assert_eq!(received.message, [0x31, 51, 110, 1, 0, 100, 0, 0]);
    }

    #[test]
    fn truncated_ipv4_headers_are_skipped() {
        assert_eq!(strip_ipv4_header(&[]), None);
        assert_eq!(strip_ipv4_header(&[0x46, 0, 0, 0]), None);
        assert_eq!(strip_ipv4_header(&[0x41; 30]), None);
    }
}
