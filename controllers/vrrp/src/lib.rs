//! Sans-IO VRRP core for hareconcile.
//!
//! Nothing here touches a socket, a clock or netlink: the I/O shell checks
//! and decodes packets with [`receive()`] (built on [`packet`]), feeds the
//! resulting [`Input`]s with the current monotonic time to
//! [`Instance::handle`], and carries out the returned [`Action`]s (send,
//! add addresses, arm timers, run hooks). [`SyncGroup`] couples instances
//! that must fail over together; [`tracking`] turns links, scripts and
//! Services into the tracking input. Everything is deterministic, which is what
//! the golden and property tests rely on.

pub mod accept_filter;
pub mod addresses;
pub mod announce;
pub mod config;
pub mod controller;
pub mod desired;
pub mod events;
pub mod group;
pub mod hooks;
pub mod instance;
pub mod netlink_share;
pub mod network;
pub mod packet;
pub mod receive;
pub mod shell;
pub mod sync_group;
pub mod sysctl;
pub mod trackers;
pub mod tracking;
pub mod vmac;

pub use config::{ConfigError, InstanceConfig, OWNER_PRIORITY};
pub use events::{Action, Hook, Input, State, Switchover, Timer, Timestamp, Tracking, Warning};
pub use instance::Instance;
pub use receive::{receive, DropReason, RxError};
pub use sync_group::{MemberStatus, SyncGroup};
