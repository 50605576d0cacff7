//! The task of one instance: its loop, and feeding the core and carrying
//! out what it asks.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use hareconcile_model::OWNER_NEVER_BACKUP;
use ipnet::IpNet;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Duration, Instant, Interval, MissedTickBehavior};
use tracing::{debug, error, info, warn};

use super::{Observed, Operator, ShellConfig, TrackedLink};
use crate::core::repair::VipPlace;
use crate::core::sync_group::MemberStatus;
use crate::core::tracking::{Tracked, Verdict};
use crate::core::{receive, Action, DropReason, Input, Instance, State, Timer, Timestamp, Warning};
use crate::io::accept_filter::AcceptFilter;
use crate::io::addresses::{Change, Interface, Netlink};
use crate::io::announce::Announcer;
use crate::io::footprint::Footprint;
use crate::io::hooks::HookQueue;
use crate::io::network::{Received, Transport, VrrpSocket};
use crate::io::sync_group::GroupMembership;
use crate::io::vmac;

/// How many adverts already waiting are read before a timer is handled:
/// many more than one interval of a few peers can leave queued.
const WAITING_ADVERTS_READ: usize = 64;

pub(super) struct Shell {
    pub(super) config: ShellConfig,
    pub(super) instance: Instance,
    /// Time zero of the core's clock, shared by every instance.
    pub(super) origin: Instant,
    pub(super) timers: HashMap<Timer, Instant>,
    pub(super) socket: VrrpSocket,
    pub(super) announcer: Announcer,
    pub(super) netlink: Arc<Netlink>,
    /// Address and link changes on the host, from the agent's feed.
    pub(super) changes: broadcast::Receiver<Change>,
    pub(super) interface: Interface,
    /// The macvlan holding the VIPs, with `virtualMac`; up only while master.
    pub(super) vmac: Option<Interface>,
    /// The instance's interface first, then the other tracked ones.
    pub(super) links: Vec<TrackedLink>,
    /// Scripts, Services and the make-before-break hold, from the
    /// VirtualIP's trackers.
    pub(super) tracked: watch::Receiver<Tracked>,
    /// Why tracking faults the instance, as last fed to it.
    pub(super) fault: Option<String>,
    /// See [`Observed::standby_for`].
    pub(super) standby_for: Option<String>,
    pub(super) hooks: HookQueue,
    pub(super) observed: watch::Sender<Observed>,
    pub(super) group: Option<GroupMembership>,
    /// Where this instance's VIPs are filtered without accept mode.
    pub(super) filter: AcceptFilter,
    /// Records what the instance may put on the host until it has stopped.
    pub(super) footprint: Footprint,
}

impl Shell {
    pub(super) async fn run(
        mut self,
        mut stopped: oneshot::Receiver<()>,
        mut operator: watch::Receiver<Operator>,
        hook_runner: JoinHandle<()>,
    ) {
        self.remove_stale_vips().await;
        self.tracked.mark_unchanged();
        self.retrack().await;
        let overrides = *operator.borrow_and_update();
        self.apply(overrides).await;
        self.feed(Input::Startup).await;
        let mut netlink_open = true;
        let mut refresh = self.config.announce_every.map(|every| {
            let mut interval = tokio::time::interval_at(Instant::now() + every, every);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        loop {
            let next_timer = self.next_timer();
            tokio::select! {
                // Stopping wins over anything else that is ready.
                biased;
                _ = &mut stopped => break,
                _ = sleep_until(next_timer.map_or_else(far_future, |(_, at)| at)), if next_timer.is_some() => {
                    let (timer, at) = next_timer.expect("guarded by the branch condition");
                    self.read_waiting_adverts().await;
                    // An advert read just now may have put the timer off.
                    if self.timers.get(&timer) == Some(&at) {
                        self.timers.remove(&timer);
                        self.feed(Input::TimerExpired(timer)).await;
                    }
                }
                Some(input) = next_group_input(&mut self.group) => self.feed(input).await,
                _ = tick(&mut refresh), if self.instance.state() == State::Master => self.announce(),
                Ok(()) = operator.changed() => {
                    let overrides = *operator.borrow_and_update();
                    self.apply(overrides).await;
                }
                Ok(()) = self.tracked.changed() => self.retrack().await,
                received = self.socket.recv() => match received {
                    Ok(received) => self.on_message(received).await,
                    Err(error) => warn!(instance = %self.config.name, %error, "receiving adverts failed"),
                },
                change = self.changes.recv(), if netlink_open => match change {
                    Ok(change) => self.on_change(change).await,
                    Err(RecvError::Lagged(missed)) => {
                        warn!(instance = %self.config.name, missed, "fell behind the netlink changes; looking again");
                        self.on_change(Change::Missed).await;
                    }
                    Err(RecvError::Closed) => {
                        // VRRP goes on; only link and address changes go unseen.
                        error!(instance = %self.config.name, "netlink changes ended; link tracking and VIP restore are off");
                        netlink_open = false;
                    }
                },
            }
        }
        self.feed(Input::Shutdown).await;
        // Whatever the state was, this node holds no VIP once stopped.
        self.remove_vips().await;
        if let Err(error) = self.filter.release(&self.config.name).await {
            // The controller's next reconcile tries again.
            warn!(instance = %self.config.name, %error, "removing the accept-mode filter failed");
        }
        if let Some(vmac) = &self.vmac {
            if let Err(error) = self.netlink.delete_link(vmac.index).await {
                warn!(instance = %self.config.name, %error, "removing the virtual MAC interface failed");
            }
        }
        self.footprint.release(&self.config.name);
        // The stop hook ends within its timeout (a hook still running was
        // killed when it was queued), so this wait is bounded.
        drop(self.hooks);
        let _ = hook_runner.await;
        // Closing a packet socket waits for an RCU grace period (see
        // Announcer): off the async workers, so that a hundred instances
        // stopping together neither stall the runtime nor wait in a row.
        let announcer = self.announcer;
        tokio::task::spawn_blocking(move || drop(announcer));
    }

    /// Every input is idempotent, so they are fed whatever changed.
    pub(super) async fn apply(&mut self, operator: Operator) {
        self.feed(Input::PriorityAdjust {
            adjustment: operator.priority_adjust,
        })
        .await;
        self.feed(Input::Switchover(operator.switchover)).await;
        let input = if operator.force_backup {
            Input::ForceBackup
        } else {
            Input::Restore
        };
        self.feed(input).await;
        let refused = operator.force_backup && self.instance.config().is_owner();
        self.observed.send_if_modified(|o| {
            let changed = o.force_backup_refused != refused;
            o.force_backup_refused = refused;
            changed
        });
    }

    /// Feeds the core what links, scripts and Services say now. Both
    /// inputs are level-triggered: feeding an unchanged verdict does nothing.
    pub(super) async fn retrack(&mut self) {
        let tracked = self.tracked.borrow_and_update().clone();
        let down: Vec<&str> = self
            .links
            .iter()
            .filter(|link| !link.up)
            .map(|link| link.name.as_str())
            .collect();
        let Verdict { tracking, fault } = tracked.verdict(&down);
        self.fault = fault;
        self.standby_for = tracked.standing_by_for(&down);
        self.feed(Input::TrackingChanged(tracking)).await;
        self.feed(Input::PreemptAllowed(tracked.preempt_allowed()))
            .await;
    }

    pub(super) fn next_timer(&self) -> Option<(Timer, Instant)> {
        self.timers
            .iter()
            .min_by_key(|(_, at)| **at)
            .map(|(timer, at)| (*timer, *at))
    }

    pub(super) fn now(&self) -> Timestamp {
        Timestamp::from_origin(self.origin.elapsed())
    }

    /// Handles the adverts already waiting in the socket, a bounded number
    /// so a flood cannot hold the timers off. After a stall (a starved
    /// agent, a slow disk) a backup's Master_Down timer and the master's
    /// adverts are ready together: reading the adverts first keeps the
    /// backup from taking over a live master for a moment only because it
    /// was late to look.
    pub(super) async fn read_waiting_adverts(&mut self) {
        for _ in 0..WAITING_ADVERTS_READ {
            match self.socket.recv_waiting() {
                Ok(Some(received)) => self.on_message(received).await,
                Err(error) => {
                    warn!(instance = %self.config.name, %error, "receiving adverts failed");
                    break;
                }
                Ok(None) => break,
            }
        }
    }

    pub(super) async fn on_message(&mut self, received: Received) {
        if let Transport::Unicast(peers) = &self.config.transport {
            // Unicast VRRP is configured peer by peer (keepalived drops
            // the others too): anyone else is not part of this router.
            if !peers.contains(&received.src) {
                debug!(instance = %self.config.name, src = %received.src, "advert from a host that is not a peer dropped");
                self.count_drop(DropReason::NotPeer);
                return;
            }
        }
        let input = receive(
            self.instance.config(),
            received.ttl,
            received.src,
            received.dst,
            &received.message,
        );
        match input {
            Ok(input) => self.feed(input).await,
            Err(error) => {
                debug!(instance = %self.config.name, src = %received.src, %error, "advert dropped");
                self.count_drop(error.reason());
            }
        }
    }

    pub(super) fn count_drop(&self, reason: DropReason) {
        self.observed.send_if_modified(|o| {
            *o.counters.dropped.entry(reason).or_default() += 1;
            false
        });
    }

    /// The interface the VIPs go on: the virtual MAC's, or the instance's own.
    pub(super) fn vip_interface(&self) -> &Interface {
        self.vmac.as_ref().unwrap_or(&self.interface)
    }

    /// Turns a netlink change into what the core decides on (addresses
    /// where the VIPs live or on the virtual MAC's parent, the virtual MAC
    /// link) or into tracking (the tracked links).
    pub(super) async fn on_change(&mut self, change: Change) {
        let vip_index = self.vip_interface().index;
        let parent = self.interface.index;
        let on_vmac = |index: u32| self.vmac.as_ref().is_some_and(|vmac| vmac.index == index);
        let input = match change {
            Change::AddressRemoved { index, address } if index == vip_index => {
                Input::VipRemoved(address)
            }
            Change::AddressAdded { index, address } if index == vip_index => Input::VipAppeared {
                address,
                place: VipPlace::VipInterface,
            },
            Change::AddressAdded { index, address } if self.vmac.is_some() && index == parent => {
                Input::VipAppeared {
                    address,
                    place: VipPlace::Parent,
                }
            }
            Change::Link { index, up: false } if on_vmac(index) => Input::VirtualMacDown,
            Change::Link { index, up } => {
                let Some(link) = self.links.iter_mut().find(|l| l.index == index) else {
                    return;
                };
                if link.up == up {
                    return;
                }
                link.up = up;
                info!(instance = %self.config.name, interface = %link.name, up, "link changed");
                self.retrack().await;
                return;
            }
            Change::AddressRemoved { .. } | Change::AddressAdded { .. } => return,
            Change::Missed => {
                self.look_again().await;
                return;
            }
        };
        self.feed(input).await;
    }

    /// What lost changes would have said, read from the kernel: the
    /// tracked links' state, and on the master its VIPs (adding one that is
    /// there changes nothing).
    pub(super) async fn look_again(&mut self) {
        let netlink = Arc::clone(&self.netlink);
        for link in &mut self.links {
            if let Ok((index, up)) = netlink.link_state(&link.name).await {
                (link.index, link.up) = (index, up);
            }
        }
        self.retrack().await;
        if self.instance.state() == State::Master {
            for vip in self.config.vips.clone() {
                self.add_vip(vip).await;
            }
        }
    }

    /// Hands `input` to the core and carries out what it asks, in order.
    pub(super) async fn feed(&mut self, input: Input) {
        let advert = match &input {
            Input::AdvertReceived { src, priority, .. } => Some((*src, *priority)),
            _ => None,
        };
        if let Some((src, 0)) = advert {
            info!(instance = %self.config.name, %src, "master is leaving (priority 0)");
        }
        let before = MemberStatus::from(&self.instance);
        let actions = self.instance.handle(self.now(), input);
        // The group's table must show the new state before any action
        // awaits (netlink, sockets): a sibling checking a GroupMaster input
        // against it meanwhile would otherwise see this member still master
        // after a higher peer's advert knocked it back, follow it, and the
        // members would pull each other into master at every advert.
        let after = MemberStatus::from(&self.instance);
        if let (Some(group), true) = (&self.group, after != before) {
            group.changed(before.state, after);
        }
        let mut dropped = None;
        for action in actions {
            if let Action::Warn(warning) = &action {
                dropped = dropped.or(warning.drop_reason());
            }
            self.execute(action).await;
        }
        let warned = dropped.is_some();
        let state = self.instance.state();
        let effective_priority = self.instance.effective_priority();
        let master = match (state, advert) {
            (State::Master, _) => Some(self.instance.config().primary_address),
            // A backup follows whoever advertises (priority 0 = leaving).
            (State::Backup, Some((src, priority))) if !warned => (priority > 0).then_some(src),
            (State::Backup, _) => self.observed.borrow().master,
            (State::Initialize | State::Fault, _) => None,
        };
        let fault = match state {
            // A sync-group sibling's fault leaves our own tracking healthy.
            State::Fault => Some(
                self.fault
                    .clone()
                    .unwrap_or_else(|| "a member of the sync group is faulted".to_string()),
            ),
            _ => None,
        };
        let standby_for = match state {
            State::Fault => self.standby_for.clone(),
            _ => None,
        };
        let preparing_takeover = self.instance.preparing_takeover();
        let awaited = match preparing_takeover {
            true => self.tracked.borrow().awaited.clone(),
            false => Vec::new(),
        };
        let accepted_advert = advert.is_some() && !warned && state == State::Backup;
        self.observed.send_if_modified(|o| {
            if accepted_advert {
                o.last_advert = Some(SystemTime::now());
            }
            if advert.is_some() {
                if let Some(reason) = dropped {
                    *o.counters.dropped.entry(reason).or_default() += 1;
                } else {
                    o.counters.adverts_received += 1;
                }
            }
            let changed = (
                o.state,
                o.effective_priority,
                o.master,
                &o.fault,
                &o.standby_for,
                o.preparing_takeover,
                &o.awaited,
            ) != (
                state,
                effective_priority,
                master,
                &fault,
                &standby_for,
                preparing_takeover,
                &awaited,
            );
            o.standby_for = standby_for;
            o.state = state;
            o.effective_priority = effective_priority;
            o.master = master;
            o.fault = fault;
            o.preparing_takeover = preparing_takeover;
            o.awaited = awaited;
            changed
        });
    }

    pub(super) async fn execute(&mut self, action: Action) {
        let name = &self.config.name;
        match action {
            Action::SendAdvert { priority } => self.send_advert(priority).await,
            // Without accept mode the filter set up at start, for the
            // instance's whole life, drops traffic to the VIPs from the
            // moment they are local.
            Action::AddVips { accept_mode: _ } => {
                self.activate_vmac().await;
                for vip in self.config.vips.clone() {
                    self.add_vip(vip).await;
                }
            }
            Action::RemoveVips => self.remove_vips().await,
            Action::SendGratuitous => self.announce(),
            Action::ArmTimer { timer, at } => {
                self.timers.insert(timer, self.origin + at.since_origin());
            }
            Action::CancelTimer { timer } => {
                self.timers.remove(&timer);
            }
            Action::RunHook(hook) => self.hooks.push(hook),
            Action::StateChanged { from, to } => {
                info!(instance = %name, ?from, ?to, "VRRP state changed");
                self.observed.send_modify(|o| o.transitions += 1);
            }
            Action::Warn(Warning::OwnerCannotBeBackup) => {
                warn!(instance = %name, "forceBackup refused: {OWNER_NEVER_BACKUP}")
            }
            // As unicast's non-peers: a flood of them must not flood the log.
            Action::Warn(Warning::NotMember { src }) => {
                debug!(instance = %name, %src, "advert from a host that is not a member dropped")
            }
            Action::Warn(warning) => warn!(instance = %name, ?warning, "advert ignored"),
            Action::RestoreVip(address) => self.restore_vip(address).await,
            Action::RemoveStrayVip { address, why } => self.remove_stray_vip(address, why).await,
            Action::RestoreVirtualMac => self.restore_virtual_mac().await,
        }
    }

    pub(super) async fn send_advert(&mut self, priority: u8) {
        let config = self.instance.config();
        let advert = config.advertisement(priority);
        for &dst in self.socket.destinations() {
            let sent = match advert.encode(self.socket.source(), dst, config.checksum_mode) {
                Ok(message) => self.socket.send_to(&message, dst).await,
                Err(error) => {
                    warn!(instance = %self.config.name, %error, "advert cannot be encoded");
                    return;
                }
            };
            match sent {
                Ok(_) => self.observed.send_if_modified(|o| {
                    o.counters.adverts_sent += 1;
                    false
                }),
                Err(error) => {
                    warn!(instance = %self.config.name, %dst, %error, "sending the advert failed");
                    false
                }
            };
        }
        self.observed.send_if_modified(|o| {
            o.last_advert = Some(SystemTime::now());
            false
        });
    }

    pub(super) async fn add_vip(&self, vip: IpNet) {
        if let Err(error) = self.netlink.add(self.vip_interface().index, vip).await {
            warn!(instance = %self.config.name, %error, "adding a VIP failed");
        }
    }

    /// Brings the virtual MAC interface up for the VIPs (a no-op without one).
    pub(super) async fn activate_vmac(&self) {
        let Some(vmac) = &self.vmac else {
            return;
        };
        let source = self.instance.config().primary_address;
        if let Err(error) = vmac::activate(&self.netlink, vmac, source).await {
            warn!(instance = %self.config.name, %error, "bringing the virtual MAC interface up failed");
        }
    }

    pub(super) async fn remove_vips(&self) {
        // The owner's addresses on its own interface are the node's
        // (RFC 5798 §1): stepping down or stopping must not take them away.
        // On a virtual MAC interface they are copies, and go.
        let own_addresses = self.instance.config().is_owner() && self.vmac.is_none();
        if !own_addresses {
            for vip in &self.config.vips {
                if let Err(error) = self.netlink.remove(self.vip_interface().index, *vip).await {
                    warn!(instance = %self.config.name, %error, "removing a VIP failed");
                }
            }
        }
        if let Some(vmac) = &self.vmac {
            if let Err(error) = vmac::deactivate(&self.netlink, vmac).await {
                warn!(instance = %self.config.name, %error, "taking the virtual MAC interface down failed");
            }
        }
    }

    pub(super) fn announce(&self) {
        let vips: Vec<IpAddr> = self.config.vips.iter().map(IpNet::addr).collect();
        let interface = self.vip_interface();
        if let Err(error) = self
            .announcer
            .announce(interface, &vips, self.config.announcements)
        {
            warn!(instance = %self.config.name, %error, "gratuitous ARP / NA failed");
        }
    }
}

/// Waits for the interval's next tick; forever without one.
async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Waits for the sync group's next input; forever without a group.
async fn next_group_input(group: &mut Option<GroupMembership>) -> Option<Input> {
    match group {
        Some(group) => group.next_input().await,
        None => std::future::pending().await,
    }
}

/// A deadline for a branch that is disabled anyway.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
