//! Sans-IO VRRP core for hareconcile.
//!
//! Nothing here touches a socket, a clock or netlink: the I/O shell decodes
//! packets with [`packet`], turns them into [`Input`]s (see [`receive`]),
//! feeds them with the current monotonic time to [`Instance::handle`], and
//! carries out the returned [`Action`]s (send, add addresses, arm timers,
//! run hooks). Everything is deterministic, which is what the golden and
//! property tests rely on.

pub mod packet;
