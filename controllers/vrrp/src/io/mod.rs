//! The I/O shell around the core: sockets, addresses and links through
//! netlink, announcements, the virtual MAC, the record of what the
//! instances put on the host, the accept-mode filter, sysctls, notify
//! hooks, the trackers, sync groups across tasks, the instance task that
//! ties them to the core ([`shell`]), and the real-time thread the
//! instances run on ([`realtime`]).

pub(crate) mod accept_filter;
pub(crate) mod addresses;
pub(crate) mod announce;
pub(crate) mod footprint;
pub(crate) mod hooks;
pub(crate) mod netlink_share;
pub(crate) mod network;
pub(crate) mod realtime;
pub(crate) mod shell;
pub(crate) mod sync_group;
pub(crate) mod sysctl;
pub(crate) mod trackers;
pub(crate) mod vmac;
pub(crate) mod writer_lock;
