//! The I/O shell of one VRRP instance: a tokio task that owns the core's
//! [`Instance`], its timers, its socket and its netlink connection, feeds it
//! packets, timer expiries and link changes, and carries out its actions.
//! Notify hooks go to a separate runner ([`crate::hooks`]) so they never
//! hold up an advert or a timer.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use hareconcile_model::OWNER_NEVER_BACKUP;
use ipnet::IpNet;
use thiserror::Error;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Duration, Instant, Interval, MissedTickBehavior};
use tracing::{debug, error, info, warn};

use crate::accept_filter::{AcceptFilter, FilterError};
use crate::addresses::{AddressError, Change, Interface, Netlink};
use crate::announce::announce;
use crate::config::{ConfigError, InstanceConfig};
use crate::events::{Action, Input, State, Switchover, Timer, Timestamp, Warning};
use crate::group::{GroupMembership, SyncGroupHub};
use crate::hooks::{HookQueue, NotifyCommands};
use crate::instance::Instance;
use crate::netlink_share::SharedNetlink;
use crate::network::{NetworkError, Transport, VrrpSocket};
use crate::receive::{receive, DropReason};
use crate::sync_group::MemberStatus;
use crate::sysctl;
use crate::tracking::{verdict, Awaited, Tracked, Verdict};
use crate::vmac::{self, VmacError};

/// How long a stopping instance waits for its stop hook (and the hooks
/// queued before it) before leaving them running unattended.
const HOOK_GRACE: Duration = Duration::from_secs(10);
/// How many adverts already waiting are read before a timer is handled:
/// many more than one interval of a few peers can leave queued.
const WAITING_ADVERTS_READ: usize = 64;

/// Everything one instance needs, built by the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellConfig {
    /// Names the instance in logs and hooks, e.g. `web/ipv4`.
    pub name: String,
    pub interface: String,
    /// Other interfaces that must be up (`track.interfaces`); the
    /// instance's own interface always is tracked.
    pub track_interfaces: Vec<String>,
    pub instance: InstanceConfig,
    /// The virtual addresses with their prefixes, as put on the interface.
    pub vips: Vec<IpNet>,
    pub transport: Transport,
    /// Gratuitous ARPs / NAs per address on becoming master.
    pub announcements: u32,
    /// Announce again this often while master (`garp.refresh`), for
    /// switches and hosts that age their caches out.
    pub announce_every: Option<Duration>,
    pub notify: NotifyCommands,
    /// The sync group (scoped by Cluster) this instance fails over with.
    pub sync_group: Option<String>,
    /// Hold the VIPs on a macvlan with the virtual router MAC ([`crate::vmac`]).
    pub virtual_mac: bool,
}

#[derive(Debug, Error)]
pub enum ShellError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error(transparent)]
    AcceptFilter(#[from] FilterError),
    #[error(transparent)]
    VirtualMac(#[from] VmacError),
}

/// What the instance looks like from outside; the controller turns it
/// into the VirtualIP's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The instance's name, e.g. `web/ipv4`.
    pub instance: String,
    pub state: State,
    pub effective_priority: u8,
    /// The address of the router believed to be master: ours when master,
    /// the sender of the adverts we follow when backup.
    pub master: Option<IpAddr>,
    pub transitions: u64,
    /// When an advert was last sent (master) or accepted (backup).
    pub last_advert: Option<SystemTime>,
    /// Why the instance is in Fault.
    pub fault: Option<String>,
    /// A backup holding back its preemption of a live master until the
    /// Services following the VirtualIP are ready here.
    pub preparing_takeover: bool,
    /// While preparing a takeover: the Services it waits for, and why.
    pub awaited: Vec<Awaited>,
    /// Maintenance (`forceBackup`) asked of the address owner, which
    /// refuses it and stays a candidate.
    pub force_backup_refused: bool,
    pub counters: Counters,
    /// Real-system drift this instance put back (a VIP removed from the
    /// master or added on a backup by hand), and the latest one.
    pub repairs: u64,
    pub last_repair: Option<Repair>,
    /// The interface holding the VIPs with the virtual router MAC.
    pub virtual_mac: Option<VirtualMac>,
}

/// Where an instance with `virtualMac` holds its VIPs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualMac {
    pub interface: String,
    pub mac: [u8; 6],
}

/// Drift an instance repaired the moment it saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// `RestoredVip` or `RemovedStrayVip`.
    pub reason: &'static str,
    pub message: String,
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Initialize => "initializing",
        State::Backup => "backup",
        State::Master => "master",
        State::Fault => "faulted",
    }
}

/// Advert counters since the instance started. They change without
/// waking the status reporter (which refreshes them periodically).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub adverts_sent: u64,
    /// Valid adverts handed to the state machine.
    pub adverts_received: u64,
    pub dropped: BTreeMap<DropReason, u64>,
}

impl Counters {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// Operator overrides (`spec.control`), applied to a running instance
/// without restarting it: restarting a master would hand the VIPs over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Operator {
    /// Never be master (maintenance); a master steps down with priority 0.
    pub force_backup: bool,
    /// Added to the configured priority.
    pub priority_adjust: i32,
    /// This node's part in a planned switchover.
    pub switchover: Switchover,
}

/// A running instance. Dropping it without [`InstanceHandle::stop`]
/// aborts nothing: the task keeps the VIPs until stopped.
pub struct InstanceHandle {
    stop: oneshot::Sender<()>,
    operator: watch::Sender<Operator>,
    notify: watch::Sender<NotifyCommands>,
    task: JoinHandle<()>,
    observed: watch::Receiver<Observed>,
}

impl InstanceHandle {
    /// Changes whenever the state, master or priority changes (not on
    /// every advert: read `last_advert` when writing status anyway).
    pub fn observed(&self) -> watch::Receiver<Observed> {
        self.observed.clone()
    }

    /// Applies new operator overrides; a no-op when they are unchanged.
    pub fn set_operator(&self, operator: Operator) {
        self.operator.send_if_modified(|current| {
            let changed = *current != operator;
            *current = operator;
            changed
        });
    }

    /// Replaces the notify commands; hooks already queued run the new ones.
    pub fn set_notify(&self, commands: NotifyCommands) {
        self.notify.send_if_modified(|current| {
            let changed = *current != commands;
            *current = commands;
            changed
        });
    }

    /// Leaves the virtual router: a master sends priority 0 so the backup
    /// takes over after Skew_Time, and the VIPs are removed.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Sets the instance up (socket, interface, stale VIPs removed, traffic to
/// its VIPs dropped through `filter` without accept mode) and starts its
/// task with the `operator` overrides in force from the first moment,
/// following what the VirtualIP's trackers report on `tracked`, as a
/// member of `group` if given.
pub async fn start(
    config: ShellConfig,
    operator: Operator,
    tracked: watch::Receiver<Tracked>,
    group: Option<SyncGroupHub>,
    filter: AcceptFilter,
    shared: SharedNetlink,
) -> Result<InstanceHandle, ShellError> {
    let instance = Instance::new(config.instance.clone())?;
    // Before anything is looked at, so that no later change is missed.
    let changes = shared.feed.subscribe();
    let netlink = shared.requests;
    let interface = netlink.interface(&config.interface).await?;
    let mut links = vec![TrackedLink {
        name: interface.name.clone(),
        index: interface.index,
        up: interface.up,
    }];
    for name in &config.track_interfaces {
        if *name != interface.name {
            let (index, up) = netlink.link_state(name).await?;
            links.push(TrackedLink {
                name: name.clone(),
                index,
                up,
            });
        }
    }
    let mut socket = VrrpSocket::open(
        &config.interface,
        config.instance.vrid,
        config.instance.primary_address,
        config.transport.clone(),
    )?;
    hear_the_owner_over_its_own_address(&config, &interface.name);
    let vmac = match config.virtual_mac {
        true => {
            let ipv4 = config.instance.primary_address.is_ipv4();
            let vmac = vmac::prepare(&netlink, &interface, config.instance.vrid, ipv4).await?;
            socket.use_virtual_mac(&vmac.name, vmac.mac)?;
            Some(vmac)
        }
        false => None,
    };
    // Last of the fallible steps, so that a failure leaves nothing to undo;
    // before the task, so that the VIPs never come up unfiltered.
    if !config.instance.accepts_traffic() {
        let vips = config.vips.iter().map(IpNet::addr);
        filter.enforce(&config.name, vips).await?;
    }
    let (notify, notify_rx) = watch::channel(config.notify.clone());
    let (hooks, hook_runner) = HookQueue::start(config.name.clone(), notify_rx);
    let initial = Observed {
        instance: config.name.clone(),
        state: instance.state(),
        effective_priority: instance.effective_priority(),
        master: None,
        transitions: 0,
        last_advert: None,
        fault: None,
        preparing_takeover: false,
        awaited: Vec::new(),
        force_backup_refused: false,
        counters: Counters::default(),
        repairs: 0,
        last_repair: None,
        virtual_mac: vmac.as_ref().map(|vmac| VirtualMac {
            interface: vmac.name.clone(),
            mac: vmac.mac,
        }),
    };
    let (observed, observed_rx) = watch::channel(initial);
    let (stop, stopped) = oneshot::channel();
    let (operator, operator_rx) = watch::channel(operator);
    let group = group.map(|hub| hub.join(MemberStatus::from(&instance)));
    let shell = Shell {
        group,
        origin: Instant::now(),
        timers: HashMap::new(),
        instance,
        socket,
        netlink,
        changes,
        interface,
        vmac,
        links,
        tracked,
        fault: None,
        hooks,
        observed,
        filter,
        config,
    };
    let task = tokio::spawn(shell.run(stopped, operator_rx, hook_runner));
    Ok(InstanceHandle {
        stop,
        operator,
        notify,
        task,
        observed: observed_rx,
    })
}

/// An IPv4 owner advertises from its own address, which is our VIP: once
/// we hold it as master, the kernel drops the owner's adverts as coming
/// from a local source ("martian source"), and we would never hear the
/// owner come back and step down (both masters, both answering ARP for
/// its address, for good). `accept_local` on the interface lets them in.
/// Any backup may face an owner, so every non-owner IPv4 instance sets it;
/// left in place on stop, as another instance may share the interface.
/// Without it the instance still runs, so a read-only /proc/sys only warns.
fn hear_the_owner_over_its_own_address(config: &ShellConfig, interface: &str) {
    let instance = &config.instance;
    if instance.is_owner() || !instance.primary_address.is_ipv4() {
        return;
    }
    if let Err(error) = sysctl::set_interface("ipv4", interface, "accept_local", 1) {
        warn!(instance = %config.name, %error, "a returning address owner will not be heard as master");
    }
}

struct Shell {
    config: ShellConfig,
    instance: Instance,
    /// Time zero of the core's clock.
    origin: Instant,
    timers: HashMap<Timer, Instant>,
    socket: VrrpSocket,
    netlink: Arc<Netlink>,
    /// Address and link changes on the host, from the agent's feed.
    changes: broadcast::Receiver<Change>,
    interface: Interface,
    /// The macvlan holding the VIPs, with `virtualMac`; up only while master.
    vmac: Option<Interface>,
    /// The instance's interface first, then the other tracked ones.
    links: Vec<TrackedLink>,
    /// Scripts, Services and the make-before-break hold, from the
    /// VirtualIP's trackers.
    tracked: watch::Receiver<Tracked>,
    /// Why tracking faults the instance, as last fed to it.
    fault: Option<String>,
    hooks: HookQueue,
    observed: watch::Sender<Observed>,
    group: Option<GroupMembership>,
    /// Where this instance's VIPs are filtered without accept mode.
    filter: AcceptFilter,
}

impl Shell {
    async fn run(
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
        drop(self.hooks);
        if tokio::time::timeout(HOOK_GRACE, hook_runner).await.is_err() {
            warn!(instance = %self.config.name, "notify hooks still running after stop; leaving them");
        }
    }

    /// Every input is idempotent, so they are fed whatever changed.
    async fn apply(&mut self, operator: Operator) {
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
    async fn retrack(&mut self) {
        let tracked = self.tracked.borrow_and_update().clone();
        let down: Vec<&str> = self
            .links
            .iter()
            .filter(|link| !link.up)
            .map(|link| link.name.as_str())
            .collect();
        let Verdict { tracking, fault } = verdict(&down, &tracked.checks);
        self.fault = fault;
        self.feed(Input::TrackingChanged(tracking)).await;
        self.feed(Input::PreemptAllowed(tracked.preempt_allowed()))
            .await;
    }

    fn next_timer(&self) -> Option<(Timer, Instant)> {
        self.timers
            .iter()
            .min_by_key(|(_, at)| **at)
            .map(|(timer, at)| (*timer, *at))
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_origin(self.origin.elapsed())
    }

    /// Handles the adverts already waiting in the socket, a bounded number
    /// so a flood cannot hold the timers off. After a stall (a starved
    /// agent, a slow disk) a backup's Master_Down timer and the master's
    /// adverts are ready together: reading the adverts first keeps the
    /// backup from taking over a live master for a moment only because it
    /// was late to look.
    async fn read_waiting_adverts(&mut self) {
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

    async fn on_message(&mut self, received: crate::network::Received) {
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

    fn count_drop(&self, reason: DropReason) {
        self.observed.send_if_modified(|o| {
            *o.counters.dropped.entry(reason).or_default() += 1;
            false
        });
    }

    /// The interface the VIPs go on: the virtual MAC's, or the instance's own.
    fn vip_interface(&self) -> &Interface {
        self.vmac.as_ref().unwrap_or(&self.interface)
    }

    async fn on_change(&mut self, change: Change) {
        let vip_index = self.vip_interface().index;
        // With a virtual MAC, a VIP on the parent would be answered for
        // with the parent's own MAC: wherever it comes from, it goes.
        // (Not the owner's: its addresses are its own, on the parent.)
        let misplaced = |index: u32| {
            self.vmac.is_some()
                && index == self.interface.index
                && !self.instance.config().is_owner()
        };
        match change {
            Change::AddressRemoved { index, address } if index == vip_index => {
                let ours = self.config.vips.iter().find(|vip| vip.addr() == address);
                if let (Some(vip), State::Master) = (ours.copied(), self.instance.state()) {
                    warn!(instance = %self.config.name, %vip, "VIP removed from the master by someone else; restoring it");
                    self.add_vip(vip).await;
                    self.announce();
                    self.repaired(Repair {
                        reason: "RestoredVip",
                        message: format!(
                            "{vip} was removed from the master by hand; added back and announced"
                        ),
                    });
                }
            }
            Change::AddressAdded { index, address } if index == vip_index || misplaced(index) => {
                let ours = self.config.vips.iter().find(|vip| vip.addr() == address);
                if let Some(vip) = ours.copied() {
                    self.remove_stray_vip(vip, index).await;
                }
            }
            Change::Link { index, up: false }
                if self.vmac.as_ref().is_some_and(|vmac| vmac.index == index)
                    && self.instance.state() == State::Master =>
            {
                self.restore_virtual_mac().await;
            }
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
            }
            Change::AddressRemoved { .. } | Change::AddressAdded { .. } => {}
            Change::Missed => self.look_again().await,
        }
    }

    /// What lost changes would have said, read from the kernel: the
    /// tracked links' state, and on the master its VIPs (adding one that is
    /// there changes nothing).
    async fn look_again(&mut self) {
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

    /// A VIP on a node that is not master (added by hand, or left by a
    /// split brain) answers for an address the master owns, as keepalived
    /// users expect never to happen: it goes. So does one on interface
    /// `index` when that is the parent of the virtual MAC's, in any state.
    /// The notification may be our own add racing a step down, so only an
    /// address still there counts.
    async fn remove_stray_vip(&mut self, vip: IpNet, index: u32) {
        let state = self.instance.state();
        let misplaced = index != self.vip_interface().index;
        if state == State::Master && !misplaced {
            return;
        }
        match self.netlink.addresses(index).await {
            Ok(present) if !present.contains(&vip.addr()) => return,
            Ok(_) => {}
            Err(error) => {
                warn!(instance = %self.config.name, %error, "listing addresses failed; removing the stray VIP anyway");
            }
        }
        warn!(instance = %self.config.name, %vip, ?state, index, "VIP present where it does not belong; removing it");
        if let Err(error) = self.netlink.remove(index, vip).await {
            warn!(instance = %self.config.name, %error, "removing a stray VIP failed");
            return;
        }
        let message = if misplaced {
            format!(
                "{vip} was on {}, which answers for it with its own MAC; removed (with virtualMac it lives on {} only)",
                self.interface.name,
                self.vip_interface().name
            )
        } else {
            format!(
                "{vip} was on this node while {}; removed (only the master holds the VIP)",
                state_word(state)
            )
        };
        self.repaired(Repair {
            reason: "RemovedStrayVip",
            message,
        });
    }

    /// Tells the status reporter what was put back, for an event.
    fn repaired(&self, repair: Repair) {
        self.observed.send_modify(|o| {
            o.repairs += 1;
            o.last_repair = Some(repair);
        });
    }

    /// Hands `input` to the core and carries out what it asks, in order.
    async fn feed(&mut self, input: Input) {
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
        let mut warned = false;
        for action in actions {
            warned |= matches!(action, Action::Warn(_));
            self.execute(action).await;
        }
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
                if warned {
                    *o.counters.dropped.entry(DropReason::Mismatch).or_default() += 1;
                } else {
                    o.counters.adverts_received += 1;
                }
            }
            let changed = (
                o.state,
                o.effective_priority,
                o.master,
                &o.fault,
                o.preparing_takeover,
                &o.awaited,
            ) != (
                state,
                effective_priority,
                master,
                &fault,
                preparing_takeover,
                &awaited,
            );
            o.state = state;
            o.effective_priority = effective_priority;
            o.master = master;
            o.fault = fault;
            o.preparing_takeover = preparing_takeover;
            o.awaited = awaited;
            changed
        });
    }

    async fn execute(&mut self, action: Action) {
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
            Action::Warn(warning) => warn!(instance = %name, ?warning, "advert ignored"),
        }
    }

    async fn send_advert(&mut self, priority: u8) {
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

    /// The virtual MAC interface went down or away under the master (by
    /// hand: our own step down changes the state first): set it up again
    /// as at start, with the VIPs, and announce. The notification may be
    /// stale (one of this repair's own steps), so the link as it is now
    /// decides; so does the parent, whose loss is tracking's to handle.
    async fn restore_virtual_mac(&mut self) {
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

    async fn add_vip(&self, vip: IpNet) {
        if let Err(error) = self.netlink.add(self.vip_interface().index, vip).await {
            warn!(instance = %self.config.name, %error, "adding a VIP failed");
        }
    }

    /// Brings the virtual MAC interface up for the VIPs (a no-op without one).
    async fn activate_vmac(&self) {
        let Some(vmac) = &self.vmac else {
            return;
        };
        let source = self.instance.config().primary_address;
        if let Err(error) = vmac::activate(&self.netlink, vmac, source).await {
            warn!(instance = %self.config.name, %error, "bringing the virtual MAC interface up failed");
        }
    }

    async fn remove_vips(&self) {
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

    /// A VIP on the interface before this instance ever was master was
    /// left by a crash (or someone else): holding it as backup would
    /// answer for an address the master owns.
    /// With a virtual MAC, VIPs left on the parent (by a run without it)
    /// are stale too.
    async fn remove_stale_vips(&self) {
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

    fn announce(&self) {
        let vips: Vec<IpAddr> = self.config.vips.iter().map(IpNet::addr).collect();
        if let Err(error) = announce(self.vip_interface(), &vips, self.config.announcements) {
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

/// An interface whose link state faults the instance.
struct TrackedLink {
    name: String,
    index: u32,
    up: bool,
}

/// A deadline for a branch that is disabled anyway.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
