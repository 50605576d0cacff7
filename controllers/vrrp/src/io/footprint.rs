//! What the instances put on the host that outlives the agent: VIP
//! addresses, and the virtual MAC interfaces that carry them.
//!
//! An instance takes them off when it stops (its VirtualIP deleted or
//! changed, SIGTERM), and one that starts clears the copies of its own
//! VIPs an earlier run left. A SIGKILLed agent takes nothing off, though,
//! and its next start may find no VirtualIP that wants them any more: the
//! crash-loop breaker rejected the set that declared it before any
//! controller ran, the store was restored, the manifests changed while the
//! agent was down. No instance would ever start to clear them, and the
//! address would stay for good beside the new master's.
//!
//! So each instance records what it may put on the host in
//! `vrrp-footprint.json` under `--state-dir`, written and fsync'd before
//! it starts (so before it can add anything, and never in the way of a
//! takeover). A stopped instance's holding is not dropped on its word:
//! a removal it failed at (only logged) would leave the address for good.
//! It is kept, like what a run that died left, until the controller has
//! seen the host without it ([`Footprint::clear_left_over`] takes off what
//! is still there, and keeps the holding while that fails), unless an
//! instance of this run takes it over: at start for the VirtualIPs no
//! longer in the store, and for the others after each reconcile or cleanup
//! (an instance stopped, the VirtualIP deleted, this node takes no part
//! any more, an instance started without some of it: another interface,
//! an address dropped from the spec). A record from before a reboot is
//! dropped unread: the kernel forgot those addresses, and one configured
//! since is someone else's.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::io::addresses::{AddressError, Netlink};

/// Where the record lives under `--state-dir`.
const FILE: &str = "vrrp-footprint.json";

/// Changes at every boot of the kernel.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// What one instance may have put on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holding {
    /// The VirtualIP it runs for.
    pub virtual_ip: String,
    /// The instance, e.g. `web/ipv4`.
    pub instance: String,
    /// Where its VIPs go: its interface, or its virtual MAC interface.
    pub interface: String,
    /// `interface` is the virtual MAC interface the instance made: it goes
    /// too, with its addresses.
    pub virtual_mac: bool,
    /// The VIPs it adds there; an owner's own addresses are the node's,
    /// never in it.
    pub addresses: Vec<IpNet>,
}

impl Holding {
    /// What of it `other` does not hold as well: what can be taken off
    /// without taking anything from `other`.
    pub fn beyond(&self, other: &Holding) -> Holding {
        if self.interface != other.interface {
            return self.clone();
        }
        Holding {
            virtual_mac: self.virtual_mac && !other.virtual_mac,
            addresses: (self.addresses.iter())
                .filter(|address| !other.addresses.contains(address))
                .copied()
                .collect(),
            ..self.clone()
        }
    }

    fn is_empty(&self) -> bool {
        !self.virtual_mac && self.addresses.is_empty()
    }
}

/// What the record file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    /// The kernel boot the holdings were made in.
    boot: String,
    holdings: Vec<Holding>,
}

/// A VIP address found left over and taken off, for the VirtualIP's event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cleared {
    pub virtual_ip: String,
    pub message: String,
}

/// The record, shared by the controller and its instances.
#[derive(Clone)]
pub struct Footprint {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    file: PathBuf,
    boot: String,
    /// This run's instances'.
    live: Vec<Holding>,
    /// Left by a run that died or an instance that stopped, not seen
    /// off the host yet.
    earlier: Vec<Holding>,
}

impl Footprint {
    /// Reads the record under `state_dir`. One that cannot be read is
    /// reported and started afresh: the VIPs of the VirtualIPs still there
    /// are cleared by their instances anyway.
    pub fn open(state_dir: &Path) -> Footprint {
        let file = state_dir.join(FILE);
        let boot = std::fs::read_to_string(BOOT_ID)
            .map(|id| id.trim().to_string())
            .unwrap_or_default();
        let record: Record = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                error!(file = %file.display(), error = %e, "the record of the VIPs put on the host is unreadable; addresses a killed agent left may stay");
                Record::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Record::default(),
            Err(e) => {
                error!(file = %file.display(), error = %e, "cannot read the record of the VIPs put on the host; addresses a killed agent left may stay");
                Record::default()
            }
        };
        let earlier = match record.boot == boot {
            true => record.holdings,
            false => {
                if !record.holdings.is_empty() {
                    info!("the VIPs recorded before the host rebooted went with the reboot");
                }
                Vec::new()
            }
        };
        let footprint = Footprint {
            inner: Arc::new(Mutex::new(Inner {
                file,
                boot,
                live: Vec::new(),
                earlier,
            })),
        };
        footprint.lock().save();
        footprint
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what a starting instance may put on the host, and returns
    /// once it is on disk. What an earlier run of the instance held beyond
    /// `claims` (all its VIPs, an owner's own addresses included) is left
    /// for [`Footprint::clear_left_over`]; the instance clears the copies
    /// of its VIPs itself as it starts.
    pub fn hold(&self, holding: Holding, claims: &[IpNet]) {
        let mut inner = self.lock();
        let claimed = Holding {
            addresses: claims.to_vec(),
            ..holding.clone()
        };
        let (its, others) = std::mem::take(&mut inner.earlier)
            .into_iter()
            .partition::<Vec<_>, _>(|h| h.instance == holding.instance);
        inner.earlier = others;
        let beyond = its.iter().map(|h| h.beyond(&claimed));
        inner.earlier.extend(beyond.filter(|h| !h.is_empty()));
        inner.live.retain(|h| h.instance != holding.instance);
        inner.live.push(holding);
        inner.save();
    }

    /// The instance stopped, or failed to start after it was recorded.
    /// What it held is left for [`Footprint::clear_left_over`] to check
    /// against the host: a removal the instance failed at, a virtual MAC
    /// interface it made before failing, are taken off there. The file
    /// needs no write: it does not tell a live holding from a left one.
    pub fn release(&self, instance: &str) {
        let mut inner = self.lock();
        if let Some(at) = inner.live.iter().position(|h| h.instance == instance) {
            let holding = inner.live.remove(at);
            inner.earlier.push(holding);
        }
    }

    /// The earlier holdings `which` selects, each with what of it this
    /// run's instances do not hold.
    fn left_over(&self, which: impl Fn(&Holding) -> bool) -> Vec<(Holding, Holding)> {
        let inner = self.lock();
        (inner.earlier.iter().filter(|h| which(h)))
            .map(|h| {
                let left = inner
                    .live
                    .iter()
                    .fold(h.clone(), |left, live| left.beyond(live));
                (h.clone(), left)
            })
            .collect()
    }

    fn forget(&self, holding: &Holding) {
        let mut inner = self.lock();
        inner.earlier.retain(|h| h != holding);
        inner.save();
    }

    /// Whether no earlier holding `which` selects is left to clear.
    pub fn is_clear(&self, which: impl Fn(&Holding) -> bool) -> bool {
        !self.lock().earlier.iter().any(which)
    }

    /// Takes off what the earlier holdings `which` selects still have on
    /// the host, and forgets each once it is all off. Returns the VIP
    /// addresses that were there, each also logged.
    pub async fn clear_left_over(
        &self,
        netlink: &Netlink,
        which: impl Fn(&Holding) -> bool,
    ) -> Vec<Cleared> {
        let mut cleared = Vec::new();
        for (recorded, holding) in self.left_over(which) {
            match take_off(netlink, &holding).await {
                Ok(removed) => {
                    for address in removed {
                        let message = format!(
                            "{address} on {}, put there by instance {}, which was killed or failed to take it off as it stopped, is claimed by no instance now: removed",
                            holding.interface, holding.instance
                        );
                        warn!(virtual_ip = %holding.virtual_ip, "{message}");
                        cleared.push(Cleared {
                            virtual_ip: holding.virtual_ip.clone(),
                            message,
                        });
                    }
                    self.forget(&recorded);
                }
                // Kept in the record: the next reconcile or start tries again.
                Err(error) => {
                    warn!(virtual_ip = %holding.virtual_ip, instance = %holding.instance, interface = %holding.interface, %error, "removing the VIPs an instance left failed; kept to try again")
                }
            }
        }
        cleared
    }
}

/// Takes `holding` off the host; returns the addresses that were on it.
async fn take_off(netlink: &Netlink, holding: &Holding) -> Result<Vec<IpNet>, AddressError> {
    if holding.is_empty() {
        return Ok(Vec::new());
    }
    let index = match netlink.link_state(&holding.interface).await {
        Ok((index, _)) => index,
        // Gone, and its addresses with it.
        Err(AddressError::NoInterface(_)) => return Ok(Vec::new()),
        Err(other) => return Err(other),
    };
    let present = netlink.addresses(index).await?;
    let removed: Vec<IpNet> = (holding.addresses.iter())
        .filter(|address| present.contains(&address.addr()))
        .copied()
        .collect();
    for address in &removed {
        netlink.remove(index, *address).await?;
    }
    if holding.virtual_mac {
        // Never delete an interface this code did not make.
        if let Some(link) = netlink.find_link(&holding.interface).await? {
            if link.macvlan {
                info!(interface = %holding.interface, "removing a virtual MAC interface a killed run or a stopped instance left");
                netlink.delete_link(link.index).await?;
            }
        }
    }
    Ok(removed)
}

impl Inner {
    /// Writes the record durably: a holding must be on disk before its
    /// instance can add anything.
    fn save(&self) {
        let record = Record {
            boot: self.boot.clone(),
            holdings: self.live.iter().chain(&self.earlier).cloned().collect(),
        };
        let written = serde_json::to_vec(&record)
            .map_err(std::io::Error::other)
            .and_then(|bytes| hareconcile_fs::write_durably(&self.file, &bytes));
        if let Err(e) = written {
            warn!(file = %self.file.display(), error = %e, "cannot save the record of the VIPs put on the host; a killed agent may leave one behind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(instance: &str, interface: &str, addresses: &[&str]) -> Holding {
        Holding {
            virtual_ip: instance.split('/').next().unwrap().to_string(),
            instance: instance.to_string(),
            interface: interface.to_string(),
            virtual_mac: false,
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    /// `holding`, recorded in `footprint` as an instance start does.
    fn held(footprint: &Footprint, holding: Holding) -> Holding {
        footprint.hold(holding.clone(), &holding.addresses);
        holding
    }

    #[test]
    fn what_a_run_held_when_it_died_is_left_over_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let footprint = Footprint::open(dir.path());
        let web = held(&footprint, holding("web/ipv4", "eth0", &["10.77.0.100/24"]));
        let dns = held(&footprint, holding("dns/ipv4", "eth0", &["10.77.0.53/24"]));
        footprint.release("dns/ipv4");
        // What the controller does once it has seen the host without it.
        footprint.forget(&dns);
        drop(footprint);

        let footprint = Footprint::open(dir.path());
        assert_eq!(
            footprint.left_over(|_| true),
            vec![(web.clone(), web)],
            "only the instance that never stopped left something"
        );
        assert!(footprint.left_over(|h| h.virtual_ip == "dns").is_empty());
    }

    /// What is left over when the instance that held `earlier` in a run
    /// that died starts again as `now`, claiming `claims`.
    fn restarted_as(earlier: &Holding, now: Holding, claims: &[&str]) -> Vec<Holding> {
        let dir = tempfile::tempdir().unwrap();
        Footprint::open(dir.path()).hold(earlier.clone(), &earlier.addresses);
        let footprint = Footprint::open(dir.path());
        let claims: Vec<IpNet> = claims.iter().map(|a| a.parse().unwrap()).collect();
        footprint.hold(now, &claims);
        footprint
            .left_over(|_| true)
            .into_iter()
            .map(|(_, left)| left)
            .collect()
    }

    #[test]
    fn a_starting_instance_takes_over_what_it_claims_of_its_earlier_holding() {
        let both = ["10.77.0.100/24", "10.77.0.101/24"];
        let earlier = holding("web/ipv4", "eth0", &both);
        // The same addresses: its own start clears them.
        assert!(restarted_as(&earlier, earlier.clone(), &both).is_empty());
        // An owner now: the first address is the node's own, never cleared.
        assert_eq!(
            restarted_as(&earlier, holding("web/ipv4", "eth0", &[]), &both[..1]),
            vec![holding("web/ipv4", "eth0", &both[1..])]
        );
        // Another interface: the addresses on the old one are left over.
        let moved = holding("web/ipv4", "eth1", &both);
        assert_eq!(restarted_as(&earlier, moved, &both), vec![earlier]);
    }

    #[test]
    fn what_a_live_instance_holds_is_never_left_over() {
        let dir = tempfile::tempdir().unwrap();
        let killed = Footprint::open(dir.path());
        let old = held(
            &killed,
            holding("old/ipv4", "eth0", &["10.77.0.100/24", "10.77.0.101/24"]),
        );

        let footprint = Footprint::open(dir.path());
        held(&footprint, holding("new/ipv4", "eth0", &["10.77.0.100/24"]));
        let left = holding("old/ipv4", "eth0", &["10.77.0.101/24"]);
        assert_eq!(footprint.left_over(|_| true), vec![(old, left)]);
    }

    #[test]
    fn a_stopped_instance_leaves_its_holding_until_the_host_is_seen_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let footprint = Footprint::open(dir.path());
        let web = held(&footprint, holding("web/ipv4", "eth0", &["10.77.0.100/24"]));
        // Its removals may have failed: only a look at the host tells.
        footprint.release("web/ipv4");
        assert_eq!(
            footprint.left_over(|h| h.virtual_ip == "web"),
            vec![(web.clone(), web.clone())],
            "the next reconcile checks it"
        );
        drop(footprint);
        assert_eq!(
            Footprint::open(dir.path()).left_over(|_| true),
            vec![(web.clone(), web)],
            "the next start checks it when the agent stopped first"
        );
    }

    #[test]
    fn an_instance_that_failed_to_start_leaves_its_holding_to_clear() {
        let dir = tempfile::tempdir().unwrap();
        let footprint = Footprint::open(dir.path());
        let vmac = Holding {
            virtual_mac: true,
            ..holding("web/ipv4", "vrrp.51", &["10.77.0.100/24"])
        };
        footprint.hold(vmac.clone(), &vmac.addresses);
        footprint.release("web/ipv4");
        assert_eq!(footprint.left_over(|_| true), vec![(vmac.clone(), vmac)]);
    }

    #[test]
    fn a_record_from_before_a_reboot_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let record = Record {
            boot: "another boot".into(),
            holdings: vec![holding("web/ipv4", "eth0", &["10.77.0.100/24"])],
        };
        std::fs::write(dir.path().join(FILE), serde_json::to_vec(&record).unwrap()).unwrap();
        assert!(Footprint::open(dir.path()).left_over(|_| true).is_empty());
    }
}
