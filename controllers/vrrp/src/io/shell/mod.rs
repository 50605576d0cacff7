//! The I/O shell of one VRRP instance: a tokio task that owns the core's
//! [`Instance`], its timers, its socket and the netlink feed, turns
//! packets, timer expiries, tracking and address changes into inputs, and
//! carries out the actions. Notify hooks go to a separate runner
//! ([`crate::io::hooks`]) so they never hold up an advert or a timer.
//!
//! - this file: what the controller holds ([`start`], [`InstanceHandle`],
//!   [`Observed`]);
//! - `run`: the task's loop, feeding the core and executing its actions;
//! - `repair`: carrying out the core's repair decisions (a VIP removed or
//!   added by hand, the virtual MAC interface taken down) and clearing VIPs
//!   a crash left behind.

mod repair;
mod run;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::SystemTime;

use ipnet::IpNet;
use thiserror::Error;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant};
use tracing::warn;

use crate::core::sync_group::MemberStatus;
use crate::core::tracking::{Awaited, Tracked};
use crate::core::{ConfigError, DropReason, Instance, InstanceConfig, State, Switchover};
use crate::io::accept_filter::{AcceptFilter, FilterError};
use crate::io::addresses::AddressError;
use crate::io::announce::Announcer;
use crate::io::footprint::{Footprint, Holding};
use crate::io::hooks::{HookQueue, NotifyCommands};
use crate::io::netlink_share::SharedNetlink;
use crate::io::network::{NetworkError, Transport, VrrpSocket};
use crate::io::sync_group::SyncGroupHub;
use crate::io::sysctl;
use crate::io::vmac::{self, VmacError};
use run::Shell;

/// Everything one instance needs, built by the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellConfig {
    /// Names the instance in logs and hooks, e.g. `web/ipv4`.
    pub name: String,
    /// The VirtualIP it runs for.
    pub virtual_ip: String,
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
    /// Hold the VIPs on a macvlan with the virtual router MAC ([`crate::io::vmac`]).
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
    #[error("opening the socket for gratuitous ARPs: {0}")]
    Announcer(std::io::Error),
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
    /// In Fault only because this node of a fenced VirtualIP holds no
    /// writer lock while that node does: a standby, not a failure.
    pub standby_for: Option<String>,
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

impl Observed {
    /// An instance in `state` that has seen nothing yet.
    pub fn new(instance: &str, state: State, effective_priority: u8) -> Observed {
        Observed {
            instance: instance.to_string(),
            state,
            effective_priority,
            master: None,
            transitions: 0,
            last_advert: None,
            fault: None,
            standby_for: None,
            preparing_takeover: false,
            awaited: Vec::new(),
            force_backup_refused: false,
            counters: Counters::default(),
            repairs: 0,
            last_repair: None,
            virtual_mac: None,
        }
    }
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
/// member of `group` if given, with what it may put on the host recorded
/// in `footprint` until it stops.
pub async fn start(
    config: ShellConfig,
    operator: Operator,
    tracked: watch::Receiver<Tracked>,
    group: Option<SyncGroupHub>,
    filter: AcceptFilter,
    shared: SharedNetlink,
    footprint: Footprint,
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
    let vips: Vec<IpAddr> = config.vips.iter().map(IpNet::addr).collect();
    let announcer = Announcer::open(&vips).map_err(ShellError::Announcer)?;
    hear_the_owner_over_its_own_address(&config, &interface.name);
    // Before the first step that changes the host.
    footprint.hold(holding(&config), &config.vips);
    let prepared = async {
        let vmac = match config.virtual_mac {
            true => {
                let ipv4 = config.instance.primary_address.is_ipv4();
                let vmac = vmac::prepare(&netlink, &interface, config.instance.vrid, ipv4).await?;
                socket.use_virtual_mac(&vmac.name, vmac.mac)?;
                Some(vmac)
            }
            false => None,
        };
        // Last of the fallible steps; before the task, so that the VIPs
        // never come up unfiltered.
        if !config.instance.accepts_traffic() {
            let vips = config.vips.iter().map(IpNet::addr);
            filter.enforce(&config.name, vips).await?;
        }
        Ok::<_, ShellError>(vmac)
    };
    let vmac = match prepared.await {
        Ok(vmac) => vmac,
        Err(error) => {
            // A virtual MAC interface made already is the controller's to remove.
            footprint.release(&config.name);
            return Err(error);
        }
    };
    let (notify, notify_rx) = watch::channel(config.notify.clone());
    let (hooks, hook_runner) = HookQueue::start(config.name.clone(), notify_rx);
    let initial = Observed {
        virtual_mac: vmac.as_ref().map(|vmac| VirtualMac {
            interface: vmac.name.clone(),
            mac: vmac.mac,
        }),
        ..Observed::new(
            &config.name,
            instance.state(),
            instance.effective_priority(),
        )
    };
    let (observed, observed_rx) = watch::channel(initial);
    let (stop, stopped) = oneshot::channel();
    let (operator, operator_rx) = watch::channel(operator);
    let group = group.map(|hub| hub.join(MemberStatus::from(&instance)));
    let shell = Shell {
        group,
        origin: clock_origin(),
        timers: HashMap::new(),
        instance,
        socket,
        announcer,
        netlink,
        changes,
        interface,
        vmac,
        links,
        tracked,
        fault: None,
        standby_for: None,
        hooks,
        observed,
        filter,
        footprint,
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

/// What the instance may put on the host: what stopping it takes off.
fn holding(config: &ShellConfig) -> Holding {
    let instance = &config.instance;
    let interface = match config.virtual_mac {
        true => vmac::interface_name(instance.vrid, instance.primary_address.is_ipv4()),
        false => config.interface.clone(),
    };
    // The owner's addresses on its own interface are the node's.
    let own_addresses = instance.is_owner() && !config.virtual_mac;
    Holding {
        virtual_ip: config.virtual_ip.clone(),
        instance: config.name.clone(),
        interface,
        virtual_mac: config.virtual_mac,
        addresses: match own_addresses {
            true => Vec::new(),
            false => config.vips.clone(),
        },
    }
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

/// An interface whose link state faults the instance.
struct TrackedLink {
    name: String,
    index: u32,
    up: bool,
}

/// Time zero of every instance's core clock: one for the whole process,
/// so that the adverts of instances with the same interval fall due
/// together and are sent in one wake-up (`core::instance`).
fn clock_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}
