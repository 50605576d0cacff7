//! VRRPv2/v3 for hareconcile, in three layers:
//!
//! - [`core`]: sans-IO. The wire codec, receive-side checks, the state
//!   machine of one virtual router, the sync-group rule, tracking verdicts
//!   and the repair decisions, as pure functions of inputs and the time
//!   passed in. The golden, property and keepalived-vector tests drive it.
//! - `io`: the shell. Raw sockets, netlink (addresses, links, the change
//!   feed), gratuitous ARP / NA, the virtual MAC, the nftables accept-mode
//!   filter, sysctls, notify hooks, script and Service trackers, and one
//!   task per instance that feeds the core and carries out its actions,
//!   all on one real-time thread of their own. Private to this crate.
//! - [`controller`]: the VirtualIP controller. Keeps one instance per
//!   address family running for every VirtualIP this node takes part in,
//!   and reports what they see as the VirtualIP's typed status.
//!
//! `core` names nothing of `io` or `controller` (`tests/layout.rs`).

pub mod controller;
pub mod core;
mod io;

pub use controller::{LiveVrrp, VirtualIpReconciler, VrrpShutdown, VrrpStates};
pub use io::realtime::{Scheduling, RT_TIME_LIMIT};
