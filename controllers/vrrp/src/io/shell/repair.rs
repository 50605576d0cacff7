//! Carrying out the core's repair decisions ([`crate::core::repair`]) on
//! the real system, each recorded for the status reporter's event, and
//! clearing the VIPs an earlier run left behind.

use std::net::IpAddr;

use ipnet::IpNet;
use tracing::warn;

use super::run::Shell;
use super::Repair;
use crate::core::repair::Stray;
use crate::core::State;
use crate::io::vmac;

fn state_word(state: State) -> &'static str {
    match state {
        State::Initialize => "initializing",
        State::Backup => "backup",
        State::Master => "master",
        State::Fault => "faulted",
    }
}

impl Shell {
    /// The master lost a VIP to someone else's hand: it goes back at once
    /// (the core announces it next).
    pub(super) async fn restore_vip(&mut self, address: IpAddr) {
        let Some(vip) = self.vip_net(address) else {
            return;
        };
        warn!(instance = %self.config.name, %vip, "VIP removed from the master by someone else; restoring it");
        self.add_vip(vip).await;
        self.repaired(Repair {
            reason: "RestoredVip",
            message: format!("{vip} was removed from the master by hand; added back and announced"),
        });
    }

    /// The configured VIP (with its prefix) for `address`.
    pub(super) fn vip_net(&self, address: IpAddr) -> Option<IpNet> {
        self.config
            .vips
            .iter()
            .find(|vip| vip.addr() == address)
            .copied()
    }

    /// Removes a VIP where it does not belong. The notification may be our
    /// own add racing a step down, so only an address still there counts.
    pub(super) async fn remove_stray_vip(&mut self, address: IpAddr, why: Stray) {
        let Some(vip) = self.vip_net(address) else {
            return;
        };
        let index = match why {
            Stray::OnParent => self.interface.index,
            Stray::NotMaster(_) => self.vip_interface().index,
        };
        match self.netlink.addresses(index).await {
            Ok(present) if !present.contains(&vip.addr()) => return,
            Ok(_) => {}
            Err(error) => {
                warn!(instance = %self.config.name, %error, "listing addresses failed; removing the stray VIP anyway");
            }
        }
        warn!(instance = %self.config.name, %vip, ?why, index, "VIP present where it does not belong; removing it");
        if let Err(error) = self.netlink.remove(index, vip).await {
            warn!(instance = %self.config.name, %error, "removing a stray VIP failed");
            return;
        }
        let message = match why {
            Stray::OnParent => format!(
                "{vip} was on {}, which answers for it with its own MAC; removed (with virtualMac it lives on {} only)",
                self.interface.name,
                self.vip_interface().name
            ),
            Stray::NotMaster(state) => format!(
                "{vip} was on this node while {}; removed (only the master holds the VIP)",
                state_word(state)
            ),
        };
        self.repaired(Repair {
            reason: "RemovedStrayVip",
            message,
        });
    }

    /// The virtual MAC interface went down or away under the master (by
    /// hand: our own step down changes the state first): set it up again
    /// as at start, with the VIPs, and announce. The notification may be
    /// stale (one of this repair's own steps), so the link as it is now
    /// decides; so does the parent, whose loss is tracking's to handle.
    pub(super) async fn restore_virtual_mac(&mut self) {
        let Some(name) = self.vmac.as_ref().map(|vmac| vmac.name.clone()) else {
            return;
        };
        let parent_up = matches!(
            self.netlink.link_state(&self.interface.name).await,
            Ok((_, true))
        );
        let current = self.netlink.link_state(&name).await;
        if !parent_up || matches!(current, Ok((_, true))) {
            return;
        }
        let config = self.instance.config();
        let (vrid, ipv4) = (config.vrid, config.primary_address.is_ipv4());
        let vmac = match vmac::prepare(&self.netlink, &self.interface, vrid, ipv4).await {
            Ok(vmac) => vmac,
            Err(error) => {
                warn!(instance = %self.config.name, %error, "setting the virtual MAC interface up again failed");
                return;
            }
        };
        if let Err(error) = self.socket.use_virtual_mac(&vmac.name, vmac.mac) {
            warn!(instance = %self.config.name, %error, "listening on the new virtual MAC interface failed");
        }
        warn!(instance = %self.config.name, interface = %name, "virtual MAC interface taken down or deleted on the master; restoring it");
        self.vmac = Some(vmac);
        self.activate_vmac().await;
        for vip in self.config.vips.clone() {
            self.add_vip(vip).await;
        }
        self.announce();
        self.repaired(Repair {
            reason: "RestoredVirtualMac",
            message: format!(
                "{name} was taken down or deleted on the master by hand; set up again with the VIPs and announced"
            ),
        });
    }

    /// A VIP on the interface before this instance ever was master was
    /// left by a crash (or someone else): holding it as backup would
    /// answer for an address the master owns.
    /// With a virtual MAC, VIPs left on the parent (by a run without it)
    /// are stale too.
    pub(super) async fn remove_stale_vips(&self) {
        // The owner's are its own addresses (RFC 5798 §1), never stale:
        // removing them would take the node's address away.
        if self.instance.config().is_owner() {
            return;
        }
        let mut indexes = vec![self.interface.index];
        indexes.extend(self.vmac.as_ref().map(|vmac| vmac.index));
        for index in indexes {
            let present = match self.netlink.addresses(index).await {
                Ok(present) => present,
                Err(error) => {
                    warn!(instance = %self.config.name, %error, "listing addresses failed; removing the VIPs blindly");
                    self.config.vips.iter().map(IpNet::addr).collect()
                }
            };
            for vip in &self.config.vips {
                if present.contains(&vip.addr()) {
                    warn!(instance = %self.config.name, %vip, index, "removing a VIP left over from an earlier run");
                    if let Err(error) = self.netlink.remove(index, *vip).await {
                        warn!(instance = %self.config.name, %error, "removing a stale VIP failed");
                    }
                }
            }
        }
    }

    /// Tells the status reporter what was put back, for an event.
    pub(super) fn repaired(&self, repair: Repair) {
        self.observed.send_modify(|o| {
            o.repairs += 1;
            o.last_repair = Some(repair);
        });
    }
}
