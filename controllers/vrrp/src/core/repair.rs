//! Drift on this node's own addresses, decided by state: what the kernel
//! says changed under the instance (a VIP removed or added by hand, the
//! virtual MAC interface taken down) and what the instance does about it.
//! The shell feeds the change as an input the moment netlink reports it;
//! the golden files cover the decisions.

use std::fmt;
use std::net::IpAddr;

use crate::core::config::InstanceConfig;
use crate::core::events::{Action, State};

/// Where a virtual address was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VipPlace {
    /// The interface the VIPs live on: the instance's own, or with
    /// `virtualMac` the macvlan.
    VipInterface,
    /// With `virtualMac`, the macvlan's parent: a VIP there is answered
    /// for with the parent's own MAC.
    Parent,
}

/// Why a virtual address is where it does not belong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stray {
    /// Only the master holds the VIPs; this node is not master.
    NotMaster(State),
    /// With `virtualMac` the VIPs live on the macvlan only.
    OnParent,
}

impl fmt::Display for Stray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stray::NotMaster(state) => write!(f, "NotMaster state={state:?}"),
            Stray::OnParent => f.write_str("OnParent"),
        }
    }
}

/// A virtual address went away from where the VIPs live: the master puts
/// it back at once and announces it; anyone else holds none anyway.
pub fn vip_removed(config: &InstanceConfig, state: State, address: IpAddr) -> Vec<Action> {
    if state != State::Master || !config.virtual_addresses.contains(&address) {
        return Vec::new();
    }
    vec![Action::RestoreVip(address), Action::SendGratuitous]
}

/// A virtual address appeared at `place`. On a node that is not master
/// (added by hand, or left by a split brain) it answers for an address
/// the master owns, as keepalived users expect never to happen: it goes.
/// So does one on the virtual MAC's parent in any state, except the
/// owner's: its addresses are its own, on its own interface (RFC 5798 §1).
pub fn vip_appeared(
    config: &InstanceConfig,
    state: State,
    address: IpAddr,
    place: VipPlace,
) -> Vec<Action> {
    if !config.virtual_addresses.contains(&address) {
        return Vec::new();
    }
    let why = match place {
        VipPlace::Parent if config.is_owner() => return Vec::new(),
        VipPlace::Parent => Stray::OnParent,
        VipPlace::VipInterface if state == State::Master => return Vec::new(),
        VipPlace::VipInterface => Stray::NotMaster(state),
    };
    vec![Action::RemoveStrayVip { address, why }]
}

/// The virtual MAC interface went down or away: on the master (its own
/// step down changes the state first, so this was done by hand) it is set
/// up again with the VIPs.
pub fn virtual_mac_down(state: State) -> Vec<Action> {
    match state {
        State::Master => vec![Action::RestoreVirtualMac],
        State::Initialize | State::Backup | State::Fault => Vec::new(),
    }
}
