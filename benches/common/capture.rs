//! What a lab host sees on the wire: VRRP adverts and gratuitous ARPs on
//! one of its interfaces, with the kernel's timestamps, from a thread that
//! joined the host's network namespace (no tcpdump needed). The kernel
//! stamps each frame as it passes the interface, in both directions, so
//! neither the bench's own scheduling nor a busy machine shifts the times.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

const ETH_P_ALL: u16 = 0x0003;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
const IPPROTO_VRRP: u8 = 112;

/// A frame of interest and when it passed the interface.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub at: SystemTime,
    pub seen: Seen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A VRRP advertisement over IPv4 (version 2 or 3).
    Advert { src: Ipv4Addr, priority: u8 },
    /// An ARP request for `address` from `address` itself.
    GratuitousArp { address: Ipv4Addr },
}

/// Captures until [`Capture::stop`].
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Frame>>,
}

impl Capture {
    /// Starts capturing on `interface` in the namespace at `netns`; returns
    /// once the socket listens, so nothing sent afterwards is missed.
    pub fn start(netns: &Path, interface: &str) -> Capture {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (netns, interface) = (netns.to_path_buf(), interface.to_string());
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                hareconcile_lab::enter_netns(&netns).expect("joining the host's namespace");
                let socket = open(&interface);
                ready_tx.send(()).unwrap();
                let mut frames = Vec::new();
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    if let Some((len, at)) = receive(&socket, &mut buf) {
                        if let Some(seen) = classify(&buf[..len]) {
                            frames.push(Frame { at, seen });
                        }
                    }
                }
                frames
            }
        });
        ready_rx.recv().expect("the capture thread failed to start");
        Capture { stop, thread }
    }

    /// Stops and returns the frames seen, in order.
    pub fn stop(self) -> Vec<Frame> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the capture thread panicked")
    }
}

/// A packet socket for every protocol on `interface`, with kernel
/// timestamps, a large buffer (a stalled thread loses nothing) and a
/// receive timeout so the stop flag is looked at.
fn open(interface: &str) -> OwnedFd {
    let check = |what: &str, rc: libc::c_int| {
        assert!(rc >= 0, "{what}: {}", std::io::Error::last_os_error());
    };
    // SAFETY: plain socket calls on a descriptor this function owns; every
    // pointer passed points at a live local of the size given.
    unsafe {
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ALL.to_be()),
        );
        check("socket(AF_PACKET)", fd);
        let socket = OwnedFd::from_raw_fd(fd);
        let name = std::ffi::CString::new(interface).unwrap();
        let index = libc::if_nametoindex(name.as_ptr());
        assert_ne!(index, 0, "no interface {interface}");
        let mut address: libc::sockaddr_ll = std::mem::zeroed();
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = ETH_P_ALL.to_be();
        address.sll_ifindex = index as i32;
        check(
            "bind",
            libc::bind(
                fd,
                &address as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            ),
        );
        let set = |level, name, value: *const libc::c_void, len: usize| {
            check(
                "setsockopt",
                libc::setsockopt(fd, level, name, value, len as libc::socklen_t),
            );
        };
        let on: libc::c_int = 1;
        set(
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const _ as _,
            4,
        );
        let buffer: libc::c_int = 8 << 20;
        set(
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &buffer as *const _ as _,
            4,
        );
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        set(
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &timeout as *const _ as _,
            std::mem::size_of::<libc::timeval>(),
        );
        socket
    }
}

/// One frame into `buf` with its kernel timestamp; `None` on timeout.
fn receive(socket: &OwnedFd, buf: &mut [u8]) -> Option<(usize, SystemTime)> {
    // u64s keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr points at `iov` and `control`, both alive for the
    // call; the cmsg walk stays within `msg_controllen`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let len = libc::recvmsg(socket.as_raw_fd(), &mut msg, 0);
        if len < 0 {
            return None;
        }
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let stamp =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                let since_epoch = Duration::new(stamp.tv_sec as u64, stamp.tv_nsec as u32);
                return Some((len as usize, SystemTime::UNIX_EPOCH + since_epoch));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        panic!("the kernel gave a frame without its timestamp");
    }
}

/// A VRRP advert or a gratuitous ARP in an Ethernet frame; anything else
/// is `None`.
fn classify(frame: &[u8]) -> Option<Seen> {
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    let payload = &frame[14..];
    let ipv4 = |at: usize| -> Option<Ipv4Addr> {
        Some(Ipv4Addr::from(
            <[u8; 4]>::try_from(payload.get(at..at + 4)?).ok()?,
        ))
    };
    match ethertype {
        ETH_P_IP if *payload.get(9)? == IPPROTO_VRRP => {
            let header = usize::from(payload[0] & 0x0f) * 4;
            Some(Seen::Advert {
                src: ipv4(12)?,
                priority: *payload.get(header + 2)?,
            })
        }
        ETH_P_ARP => {
            let request = payload.get(6..8)? == [0, 1];
            let (sender, target) = (ipv4(14)?, ipv4(24)?);
            (request && sender == target).then_some(Seen::GratuitousArp { address: sender })
        }
        _ => None,
    }
}
