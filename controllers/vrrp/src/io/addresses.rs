//! The interface side of an instance, through rtnetlink: its index and MAC,
//! adding and removing the virtual addresses, the virtual MAC's macvlan
//! link ([`crate::io::vmac`] decides what to do with it), and the kernel's address and
//! link notifications (so a VIP deleted by hand on the master comes back at once, one added
//! by hand on a backup goes at once, and a link going down is seen
//! without polling).

use std::io;
use std::net::IpAddr;

use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use ipnet::IpNet;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{Handle, LinkMacVlan, LinkUnspec, MulticastGroup};
use thiserror::Error;
use tokio::task::JoinHandle;

/// The errno netlink answers when an address is already there.
const EEXIST: i32 = libc::EEXIST;
/// The errno netlink answers when an address to delete is not there.
const EADDRNOTAVAIL: i32 = libc::EADDRNOTAVAIL;
/// The errno netlink answers for a link name or index that does not exist.
const ENODEV: i32 = libc::ENODEV;

#[derive(Debug, Error)]
pub enum AddressError {
    #[error("opening the rtnetlink socket: {0}")]
    Connect(#[source] io::Error),
    #[error("interface {0} does not exist")]
    NoInterface(String),
    #[error("interface {interface} has no MAC address to announce from")]
    NoMac { interface: String },
    #[error("{action}: {source}")]
    Netlink {
        action: String,
        #[source]
        source: rtnetlink::Error,
    },
}

/// What an instance needs to know about its interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    /// Administratively up with carrier.
    pub up: bool,
}

/// What the kernel says about a link, as far as adopting a virtual MAC
/// interface left by an earlier run needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkDetails {
    pub index: u32,
    pub mac: Option<[u8; 6]>,
    /// The lower device, for a macvlan (`IFLA_LINK`).
    pub parent: Option<u32>,
    pub macvlan: bool,
}

/// A change the kernel reported on some interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    AddressAdded {
        index: u32,
        address: IpAddr,
    },
    AddressRemoved {
        index: u32,
        address: IpAddr,
    },
    Link {
        index: u32,
        up: bool,
    },
    /// Changes were lost (a reader fell behind, or the connection was
    /// made again): what they said must be read from the kernel.
    Missed,
}

/// One rtnetlink connection: requests plus the address and link
/// notification groups. The connection task ends with it.
pub struct Netlink {
    handle: Handle,
    /// The kernel answers one dump at a time per socket (EBUSY to a
    /// second), and this connection may be shared.
    dumps: tokio::sync::Mutex<()>,
    notifications: UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
    connection: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl Netlink {
    /// Connects in the current network namespace; needs a tokio runtime.
    pub fn connect() -> Result<Netlink, AddressError> {
        let (connection, handle, notifications) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
            MulticastGroup::Link,
        ])
        .map_err(AddressError::Connect)?;
        Ok(Netlink {
            handle,
            dumps: tokio::sync::Mutex::new(()),
            notifications,
            connection: tokio::spawn(connection),
        })
    }

    /// A connection for requests only: it joins no notification group, so
    /// nothing queues up on it unread however long it is kept.
    pub fn connect_for_requests() -> Result<Netlink, AddressError> {
        let (connection, handle, notifications) =
            rtnetlink::new_connection().map_err(AddressError::Connect)?;
        Ok(Netlink {
            handle,
            dumps: tokio::sync::Mutex::new(()),
            notifications,
            connection: tokio::spawn(connection),
        })
    }

    /// False once the connection task has ended (the socket failed).
    pub fn is_open(&self) -> bool {
        !self.connection.is_finished()
    }

    pub async fn interface(&self, name: &str) -> Result<Interface, AddressError> {
        let link = self.link(name).await?;
        let mac = link
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::Address(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
                _ => None,
            })
            .ok_or_else(|| AddressError::NoMac {
                interface: name.to_string(),
            })?;
        Ok(Interface {
            name: name.to_string(),
            index: link.header.index,
            mac,
            up: link_is_up(&link),
        })
    }

    /// The index of interface `name` and whether it is up with carrier.
    pub async fn link_state(&self, name: &str) -> Result<(u32, bool), AddressError> {
        let link = self.link(name).await?;
        Ok((link.header.index, link_is_up(&link)))
    }

    /// The link named `name`, or `None` when there is none.
    pub async fn find_link(&self, name: &str) -> Result<Option<LinkDetails>, AddressError> {
        let Some(link) = self.lookup(name).await? else {
            return Ok(None);
        };
        let mut details = LinkDetails {
            index: link.header.index,
            mac: None,
            parent: None,
            macvlan: false,
        };
        for attribute in &link.attributes {
            match attribute {
                LinkAttribute::Address(bytes) => {
                    details.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok()
                }
                LinkAttribute::Link(parent) => details.parent = Some(*parent),
                LinkAttribute::LinkInfo(infos) => {
                    details.macvlan = infos
                        .iter()
                        .any(|info| matches!(info, LinkInfo::Kind(InfoKind::MacVlan)));
                }
                _ => {}
            }
        }
        Ok(Some(details))
    }

    /// Creates macvlan `name` on `parent` with address `mac`, down, in
    /// private mode: it never talks to other macvlans of the parent
    /// (the virtual MACs of other virtual routers), only to the LAN.
    pub async fn add_macvlan(
        &self,
        name: &str,
        parent: u32,
        mac: [u8; 6],
    ) -> Result<(), AddressError> {
        let message = LinkMacVlan::new(name, parent, MacVlanMode::Private)
            .address(mac.to_vec())
            .build();
        let result = self.handle.link().add(message).execute().await;
        done(result, None, || {
            format!("creating macvlan {name} on interface {parent}")
        })
    }

    /// Sets the link administratively up or down.
    pub async fn set_link_up(&self, index: u32, up: bool) -> Result<(), AddressError> {
        let builder = LinkUnspec::new_with_index(index);
        let message = if up { builder.up() } else { builder.down() }.build();
        let result = self.handle.link().set(message).execute().await;
        done(result, None, || {
            format!(
                "setting interface {index} {}",
                if up { "up" } else { "down" }
            )
        })
    }

    /// Deletes the link; already gone is fine.
    pub async fn delete_link(&self, index: u32) -> Result<(), AddressError> {
        let result = self.handle.link().del(index).execute().await;
        done(result, Some(ENODEV), || {
            format!("deleting interface {index}")
        })
    }

    async fn link(&self, name: &str) -> Result<LinkMessage, AddressError> {
        match self.lookup(name).await {
            Ok(Some(link)) => Ok(link),
            // A name the kernel refuses names no interface either.
            Ok(None) | Err(_) => Err(AddressError::NoInterface(name.to_string())),
        }
    }

    /// The kernel's description of link `name`; `None` when there is none.
    async fn lookup(&self, name: &str) -> Result<Option<LinkMessage>, AddressError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.next().await {
            Some(Ok(link)) => Ok(Some(link)),
            // ENODEV: netlink's way of saying no such name.
            Some(Err(rtnetlink::Error::NetlinkError(e))) if e.raw_code().abs() == ENODEV => {
                Ok(None)
            }
            None => Ok(None),
            Some(Err(source)) => Err(AddressError::Netlink {
                action: format!("looking up interface {name}"),
                source,
            }),
        }
    }

    /// Adds `vip` to the interface; already present is fine.
    pub async fn add(&self, index: u32, vip: IpNet) -> Result<(), AddressError> {
        let mut request = self
            .handle
            .address()
            .add(index, vip.addr(), vip.prefix_len());
        if vip.addr().is_ipv6() {
            // The VIP moved here because its previous holder is gone:
            // duplicate address detection would only keep it tentative.
            request
                .message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        done(request.execute().await, Some(EEXIST), || {
            format!("adding {vip} to interface {index}")
        })
    }

    /// Removes `vip` from the interface; already absent is fine.
    pub async fn remove(&self, index: u32, vip: IpNet) -> Result<(), AddressError> {
        let mut message = AddressMessage::default();
        message.header.family = match vip {
            IpNet::V4(_) => rtnetlink::packet_route::AddressFamily::Inet,
            IpNet::V6(_) => rtnetlink::packet_route::AddressFamily::Inet6,
        };
        message.header.index = index;
        message.header.prefix_len = vip.prefix_len();
        message.attributes.push(AddressAttribute::Local(vip.addr()));
        if vip.addr().is_ipv6() {
            message
                .attributes
                .push(AddressAttribute::Address(vip.addr()));
        }
        let result = self.handle.address().del(message).execute().await;
        done(result, Some(EADDRNOTAVAIL), || {
            format!("removing {vip} from interface {index}")
        })
    }

    /// The addresses configured on the interface now.
    pub async fn addresses(&self, index: u32) -> Result<Vec<IpAddr>, AddressError> {
        let _one_dump = self.dumps.lock().await;
        let request = self.handle.address().get().set_link_index_filter(index);
        let found = collect_addresses(request.execute(), &format!("interface {index}")).await?;
        Ok(found.into_iter().map(|(_, address)| address).collect())
    }

    /// The addresses configured on every interface of the host now, each
    /// with its interface's index, in the kernel's order.
    pub async fn address_table(&self) -> Result<Vec<(u32, IpAddr)>, AddressError> {
        let _one_dump = self.dumps.lock().await;
        collect_addresses(self.handle.address().get().execute(), "the host").await
    }

    /// The next address or link change on any interface; `None` once the
    /// connection is gone.
    pub async fn next_change(&mut self) -> Option<Change> {
        loop {
            let (message, _) = self.notifications.next().await?;
            let message = match message.payload {
                NetlinkPayload::InnerMessage(message) => message,
                // The socket's buffer overflowed and the kernel dropped
                // notifications (netlink-proto reports ENOBUFS this way).
                NetlinkPayload::Overrun(_) => return Some(Change::Missed),
                _ => continue,
            };
            match message {
                RouteNetlinkMessage::NewAddress(address) => {
                    if let Some(added) = address_of(&address) {
                        return Some(Change::AddressAdded {
                            index: address.header.index,
                            address: added,
                        });
                    }
                }
                RouteNetlinkMessage::DelAddress(address) => {
                    if let Some(removed) = address_of(&address) {
                        return Some(Change::AddressRemoved {
                            index: address.header.index,
                            address: removed,
                        });
                    }
                }
                RouteNetlinkMessage::NewLink(link) => {
                    return Some(Change::Link {
                        index: link.header.index,
                        up: link_is_up(&link),
                    })
                }
                RouteNetlinkMessage::DelLink(link) => {
                    return Some(Change::Link {
                        index: link.header.index,
                        up: false,
                    })
                }
                _ => {}
            }
        }
    }
}

/// The outcome of a netlink request that changes something: the errno
/// `already` (the kernel's "it is already so": the address exists, the
/// link is gone) counts as done; any other error says what was asked
/// (`action`, only formatted on failure).
fn done(
    result: Result<(), rtnetlink::Error>,
    already: Option<i32>,
    action: impl FnOnce() -> String,
) -> Result<(), AddressError> {
    match result {
        Err(rtnetlink::Error::NetlinkError(e)) if Some(e.raw_code().abs()) == already => Ok(()),
        other => other.map_err(|source| AddressError::Netlink {
            action: action(),
            source,
        }),
    }
}

/// Each address in `messages` with its interface's index.
async fn collect_addresses(
    mut messages: impl futures_util::Stream<Item = Result<AddressMessage, rtnetlink::Error>> + Unpin,
    of: &str,
) -> Result<Vec<(u32, IpAddr)>, AddressError> {
    let mut found = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.map_err(|source| AddressError::Netlink {
            action: format!("listing the addresses of {of}"),
            source,
        })?;
        found.extend(address_of(&message).map(|address| (message.header.index, address)));
    }
    Ok(found)
}

/// IFA_LOCAL is the interface's own address where it differs from
/// IFA_ADDRESS (point-to-point peers); IPv6 only sends IFA_ADDRESS.
fn address_of(message: &AddressMessage) -> Option<IpAddr> {
    let local = message.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    local.or_else(|| {
        message.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })
}

fn link_is_up(link: &LinkMessage) -> bool {
    let flags = link.header.flags;
    flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp)
}
