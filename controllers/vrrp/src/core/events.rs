//! What goes into the state machine ([`Input`]) and what comes out ([`Action`]).
//!
//! The shell owns every side effect: it turns packets, timer expiries and
//! tracking results into inputs, and carries out the actions in the order
//! given. Hooks are actions like any other, so running them can never hold
//! up an advert or a timer.

use std::fmt;
use std::net::IpAddr;
use std::ops::{Add, Sub};
use std::time::Duration;

use crate::core::repair::{Stray, VipPlace};

/// A point on the shell's monotonic clock, measured from an origin the shell
/// picks. The core never reads a clock itself. The master's adverts fall
/// due on multiples of the interval since the origin, so instances that
/// share one origin send theirs together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(Duration);

impl Timestamp {
    pub const ORIGIN: Timestamp = Timestamp(Duration::ZERO);

    pub fn from_origin(elapsed: Duration) -> Timestamp {
        Timestamp(elapsed)
    }

    pub fn since_origin(self) -> Duration {
        self.0
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0 + rhs)
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;

    /// Time from `rhs` to `self`, zero if `rhs` is later.
    fn sub(self, rhs: Timestamp) -> Duration {
        self.0.saturating_sub(rhs.0)
    }
}

/// The timers of one instance. Each is either unarmed or armed for one
/// deadline; re-arming replaces the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Master only: time to send the next advertisement.
    Advert,
    /// Backup only: the master is presumed dead when it fires.
    MasterDown,
    /// Backup only: a higher-priority backup waiting out `preempt_delay`
    /// before it takes over from a lower-priority master.
    PreemptDelay,
}

/// The result of the shell's tracking (interfaces, services, scripts),
/// level-triggered: each report replaces the previous one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tracking {
    /// Everything tracked is usable; `priority_delta` is the sum of the
    /// weights of the failing weighted trackers (usually negative).
    Healthy { priority_delta: i32 },
    /// A tracker with weight 0 failed, or the link is down: the instance
    /// must not be master and must not pretend to be a candidate.
    Fault,
}

/// Something that happened, handed to [`crate::Instance::handle`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// Start the protocol: an owner (priority 255) becomes master at once,
    /// anyone else removes possibly stale virtual addresses and becomes
    /// backup, waiting Master_Down_Interval; a faulted instance goes
    /// straight to Fault. Ignored unless in Initialize.
    Startup,
    /// Stop the protocol: a master sends a priority-0 advert (so the backup
    /// takes over after only Skew_Time) and releases its addresses; every
    /// timer is cancelled and the instance returns to Initialize.
    Shutdown,
    /// A valid advertisement for this virtual router arrived (already
    /// decoded and checked by [`crate::core::receive()`]). A backup resets its
    /// Master_Down timer (learning the interval under VRRPv3) or, with
    /// preemption, ignores a lower priority master; priority 0 means the
    /// master is leaving. A master steps down before a higher priority (or an
    /// equal priority from a higher address) and re-asserts itself against
    /// a lower one.
    AdvertReceived {
        /// The sender's IP address: the tie-breaker between equal priorities.
        src: IpAddr,
        priority: u8,
        /// The sender's advertisement interval.
        max_advert_interval: Duration,
        /// The virtual addresses the sender announces.
        addresses: Vec<IpAddr>,
    },
    /// A timer the core armed has reached its deadline. A report for a
    /// timer no longer armed (cancelled, or already handled) is ignored; an
    /// early one (clock rounding, a race with re-arming) is answered with
    /// the same `ArmTimer` again, so a timer can never be lost.
    TimerExpired(Timer),
    /// New tracking result: changes the effective priority, or enters /
    /// leaves Fault.
    TrackingChanged(Tracking),
    /// Maintenance: give up mastership (priority-0 advert) and never become
    /// master until [`Input::Restore`]. Refused for the address owner
    /// ([`Warning::OwnerCannotBeBackup`]).
    ForceBackup,
    /// Maintenance over: a backup becomes a normal candidate again.
    Restore,
    /// Operator priority adjustment (Vrrpd's atropos `--reduce` /
    /// `--increase`): replaces the previous adjustment, added to the
    /// configured priority like tracking deltas.
    PriorityAdjust { adjustment: i32 },
    /// Make-before-break: whether a backup may preempt a live master of
    /// lower priority now. While not (Services following the VirtualIP are
    /// not ready on this node yet) the backup keeps following that master
    /// and reports [`crate::Instance::preparing_takeover`]; once allowed
    /// it takes over at once (or starts its preempt delay). A master that
    /// goes silent is taken over as usual, allowed or not.
    PreemptAllowed(bool),
    /// A planned switchover (`spec.control.switchoverTo`), level-triggered:
    /// replaces the previous role. See [`Switchover`].
    Switchover(Switchover),
    /// Sync group: a sibling is faulted (`true`) or no longer is (`false`).
    /// Acts like a tracking fault of this instance.
    GroupFault(bool),
    /// Sync group: a sibling went backup, so a master steps down too.
    GroupBackup,
    /// Sync group: a sibling became master, so a backup takes over at once.
    GroupMaster,
    /// One of the virtual addresses went from the interface the VIPs live
    /// on (see [`crate::core::repair`]).
    VipRemoved(IpAddr),
    /// A virtual address appeared on this node.
    VipAppeared { address: IpAddr, place: VipPlace },
    /// The virtual MAC interface went down or away.
    VirtualMacDown,
}

/// This router's part in a planned switchover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Switchover {
    /// None declared: configured priority and preemption.
    #[default]
    None,
    /// The VIP moves here: priority 254 (above every router that is not
    /// the address owner) and preemption on whatever is configured, still
    /// held until [`Input::PreemptAllowed`] (make-before-break).
    ToHere,
    /// The VIP moves to another router: never preempt a live master, so
    /// the switchover sticks even with preempt on. A silent master is
    /// still taken over as usual.
    Elsewhere,
}

/// The protocol state of an instance (RFC 5798 §6.4, plus Fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Initialize,
    Backup,
    Master,
    /// Tracking says this node cannot serve: neither master nor candidate.
    Fault,
}

/// The notify hook to run (asynchronously, by the shell) on a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    Master,
    Backup,
    Fault,
    Stop,
}

/// Something the core noticed that an operator should see in the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Warning {
    /// The advert lists other virtual addresses than ours (RFC 5798 §7.1):
    /// dropped unless the sender is the address owner.
    AddressListMismatch { src: IpAddr },
    /// VRRPv2 routers must agree on the interval (RFC 3768 §7.1): dropped.
    AdvertIntervalMismatch { src: IpAddr, interval: Duration },
    /// An advert from a host that is not a member (`acceptFrom: members`):
    /// dropped, whatever its priority, so it cannot take the VIPs.
    NotMember { src: IpAddr },
    /// [`Input::ForceBackup`] for the address owner, which cannot be a
    /// backup (RFC 5798): refused, the owner stays as it is.
    OwnerCannotBeBackup,
}

/// A side effect for the shell to carry out, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Multicast (or unicast to peers) an advertisement with this priority;
    /// build it with [`crate::InstanceConfig::advertisement`].
    SendAdvert {
        priority: u8,
    },
    /// Add the virtual addresses to the interface. With `accept_mode` false
    /// (never for the owner) the master must not accept packets addressed
    /// to them other than ARP/ND (RFC 5798 §6.4.3): the shell filters.
    AddVips {
        accept_mode: bool,
    },
    /// Remove the virtual addresses from the interface.
    RemoveVips,
    /// Announce the addresses: a gratuitous ARP burst (IPv4) or unsolicited
    /// Neighbor Advertisements (IPv6).
    SendGratuitous,
    /// Arm (or re-arm) `timer` to expire at `at`.
    ArmTimer {
        timer: Timer,
        at: Timestamp,
    },
    /// Disarm `timer`.
    CancelTimer {
        timer: Timer,
    },
    /// Start the notify hook; never wait for it.
    RunHook(Hook),
    StateChanged {
        from: State,
        to: State,
    },
    Warn(Warning),
    /// Add this virtual address back (someone removed it from the master)
    /// and record the repair.
    RestoreVip(IpAddr),
    /// Remove this virtual address where it appeared, if it is still
    /// there, and record the repair.
    RemoveStrayVip {
        address: IpAddr,
        why: Stray,
    },
    /// Set the virtual MAC interface up again, with the VIPs, announced,
    /// and record the repair.
    RestoreVirtualMac,
}

impl fmt::Display for Timestamp {
    /// In the largest unit up to milliseconds that is exact: `3600ms`,
    /// `3609375us`, `3605468750ns`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_duration(self.0, f)
    }
}

/// Writes a duration in milliseconds, or a finer unit when that is not exact.
fn fmt_duration(d: Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let nanos = d.as_nanos();
    if nanos % 1_000_000 == 0 {
        write!(f, "{}ms", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        write!(f, "{}us", nanos / 1_000)
    } else {
        write!(f, "{nanos}ns")
    }
}

struct DisplayDuration(Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_duration(self.0, f)
    }
}

impl fmt::Display for Action {
    /// One line, stable: the golden test files are written in this form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SendAdvert { priority } => write!(f, "SendAdvert prio={priority}"),
            Action::AddVips { accept_mode } => write!(f, "AddVips accept={accept_mode}"),
            Action::RemoveVips => f.write_str("RemoveVips"),
            Action::SendGratuitous => f.write_str("SendGratuitous"),
            Action::ArmTimer { timer, at } => write!(f, "ArmTimer {timer:?} at={at}"),
            Action::CancelTimer { timer } => write!(f, "CancelTimer {timer:?}"),
            Action::RunHook(hook) => write!(f, "RunHook {hook:?}"),
            Action::StateChanged { from, to } => write!(f, "StateChanged {from:?} -> {to:?}"),
            Action::Warn(Warning::AddressListMismatch { src }) => {
                write!(f, "Warn AddressListMismatch src={src}")
            }
            Action::Warn(Warning::NotMember { src }) => write!(f, "Warn NotMember src={src}"),
            Action::Warn(Warning::OwnerCannotBeBackup) => f.write_str("Warn OwnerCannotBeBackup"),
            Action::Warn(Warning::AdvertIntervalMismatch { src, interval }) => write!(
                f,
                "Warn AdvertIntervalMismatch src={src} interval={}",
                DisplayDuration(*interval)
            ),
            Action::RestoreVip(address) => write!(f, "RestoreVip addr={address}"),
            Action::RemoveStrayVip { address, why } => {
                write!(f, "RemoveStrayVip addr={address} why={why}")
            }
            Action::RestoreVirtualMac => f.write_str("RestoreVirtualMac"),
        }
    }
}
