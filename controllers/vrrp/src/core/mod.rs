//! The sans-IO core: the VRRP wire codec, receive-side checks, the state
//! machine of one virtual router, the sync-group rule, tracking and the
//! repair decisions. Nothing here touches a socket, a clock, netlink or a
//! process: the shell ([`crate::io`]) turns packets, timer expiries,
//! tracking results and address changes into [`Input`]s, hands them with
//! the current monotonic time to [`Instance::handle`], and carries out the
//! [`Action`]s in order. Everything is deterministic, which the golden,
//! property and keepalived-vector tests rely on; `tests/layout.rs` checks
//! that no file here names the shell.

mod config;
mod events;
mod instance;
pub mod packet;
mod receive;
pub mod repair;
pub(crate) mod sync_group;
pub(crate) mod tracking;

pub(crate) use config::by_family;
pub use config::{ConfigError, InstanceConfig, OWNER_PRIORITY};
pub use events::{Action, Hook, Input, State, Switchover, Timer, Timestamp, Tracking, Warning};
pub use instance::Instance;
pub use receive::{receive, DropReason, RxError};
