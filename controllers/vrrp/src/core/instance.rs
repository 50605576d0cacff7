//! The VRRP state machine of one virtual router (RFC 5798 §6.4, RFC 3768 §6.4
//! for version 2), as a pure function of inputs and the time passed in.

use std::net::IpAddr;
use std::time::Duration;

use crate::core::config::{ConfigError, InstanceConfig, OWNER_PRIORITY};
use crate::core::events::{
    Action, Hook, Input, State, Switchover, Timer, Timestamp, Tracking, Warning,
};
use crate::core::packet::Version;
use crate::core::repair;

/// Priority a leaving master advertises so backups take over after Skew_Time.
const LEAVING_PRIORITY: u8 = 0;

/// Priority of a switchover's target: the highest short of the owner.
const SWITCHOVER_PRIORITY: u8 = 254;

#[derive(Clone, Debug)]
pub struct Instance {
    config: InstanceConfig,
    /// The configured virtual addresses, sorted, to compare with adverts.
    sorted_vips: Vec<IpAddr>,
    state: State,
    /// Master_Adver_Interval: the interval of the current master, learned
    /// from its adverts under VRRPv3, always the configured one under VRRPv2.
    master_adver_interval: Duration,
    /// Priority of the master we follow, for the preempt-delay decision.
    master_priority: Option<u8>,
    tracking: Tracking,
    group_fault: bool,
    adjustment: i32,
    forced_backup: bool,
    switchover: Switchover,
    /// See [`Input::PreemptAllowed`].
    preempt_allowed: bool,
    /// A backup that would preempt the live master it hears but is held
    /// back because preemption is not allowed yet.
    takeover_held: bool,
    timers: Timers,
}

impl Instance {
    pub fn new(config: InstanceConfig) -> Result<Instance, ConfigError> {
        config.validate()?;
        let mut sorted_vips = config.virtual_addresses.clone();
        sorted_vips.sort();
        sorted_vips.dedup();
        Ok(Instance {
            master_adver_interval: config.advert_interval,
            config,
            sorted_vips,
            state: State::Initialize,
            master_priority: None,
            tracking: Tracking::Healthy { priority_delta: 0 },
            group_fault: false,
            adjustment: 0,
            forced_backup: false,
            switchover: Switchover::None,
            preempt_allowed: true,
            takeover_held: false,
            timers: Timers::default(),
        })
    }

    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Whether this instance's own tracking has faulted it (as opposed to a
    /// sync-group sibling): what a sync group propagates.
    pub fn tracking_fault(&self) -> bool {
        self.tracking == Tracking::Fault
    }

    /// Configured priority (254 as a switchover's target) plus operator
    /// adjustment plus tracking delta, clamped to 1-254 so weights can
    /// neither make a router the owner nor make it send the "leaving"
    /// priority 0. The owner always stays 255.
    pub fn effective_priority(&self) -> u8 {
        if self.config.is_owner() {
            return OWNER_PRIORITY;
        }
        let delta = match self.tracking {
            Tracking::Healthy { priority_delta } => priority_delta,
            Tracking::Fault => 0,
        };
        let base = match self.switchover {
            // The adjustment is left out: a drained target would not move.
            Switchover::ToHere => i64::from(SWITCHOVER_PRIORITY),
            Switchover::None | Switchover::Elsewhere => {
                i64::from(self.config.priority) + i64::from(self.adjustment)
            }
        };
        (base + i64::from(delta)).clamp(1, 254) as u8
    }

    /// Whether this router preempts a live lower-priority master: as
    /// configured, unless a switchover says otherwise.
    fn preempts(&self) -> bool {
        match self.switchover {
            Switchover::None => self.config.preempt,
            Switchover::ToHere => true,
            Switchover::Elsewhere => false,
        }
    }

    /// A backup holding back its preemption of a live lower-priority
    /// master until preemption is allowed (make-before-break).
    pub fn preparing_takeover(&self) -> bool {
        self.takeover_held
    }

    pub fn master_adver_interval(&self) -> Duration {
        self.master_adver_interval
    }

    /// Skew_Time: lets higher-priority backups time out first. VRRPv3
    /// computes it in centiseconds from Master_Adver_Interval (RFC 5798
    /// §6.1); VRRPv2 defines it as (256 - Priority) / 256 seconds.
    pub fn skew_time(&self) -> Duration {
        let weight = 256 - u32::from(self.effective_priority());
        match self.config.version {
            Version::V2 => Duration::from_secs(1) * weight / 256,
            Version::V3 => {
                let centis = (self.master_adver_interval.as_millis() / 10) as u64;
                Duration::from_millis(u64::from(weight) * centis / 256 * 10)
            }
        }
    }

    /// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        3 * self.master_adver_interval + self.skew_time()
    }

    /// Feeds one input at time `now` and returns the side effects to carry
    /// out, in order.
    pub fn handle(&mut self, now: Timestamp, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Startup if self.state == State::Initialize => self.start(now, &mut out),
            Input::Startup => {}
            Input::Shutdown => self.shutdown(&mut out),
            Input::AdvertReceived {
                src,
                priority,
                max_advert_interval,
                addresses,
            } => self.advert_received(
                now,
                src,
                priority,
                max_advert_interval,
                &addresses,
                &mut out,
            ),
            Input::TimerExpired(timer) => match self.timers.expire(timer, now) {
                Expiry::Due(deadline) => self.timer_expired(now, deadline, timer, &mut out),
                // The shell's timer fired before our deadline (clock rounding,
                // or a race with re-arming): repeat the deadline so the timer
                // is never lost. Re-arming to the same deadline is idempotent.
                Expiry::Early(at) => out.push(Action::ArmTimer { timer, at }),
                Expiry::NotArmed => {}
            },
            Input::TrackingChanged(tracking) => {
                self.change_health(now, &mut out, |me| me.tracking = tracking)
            }
            Input::GroupFault(fault) => {
                self.change_health(now, &mut out, |me| me.group_fault = fault)
            }
            Input::PriorityAdjust { adjustment } => {
                self.change_health(now, &mut out, |me| me.adjustment = adjustment)
            }
            Input::PreemptAllowed(allowed) => self.allow_preemption(now, allowed, &mut out),
            Input::Switchover(role) => self.switch_over(now, role, &mut out),
            // RFC 5798: the owner cannot be a backup. It keeps its own
            // address whatever its state, so stepping down would put the
            // address on two nodes at once: it stays master.
            Input::ForceBackup if self.config.is_owner() => {
                out.push(Action::Warn(Warning::OwnerCannotBeBackup));
            }
            Input::ForceBackup => {
                self.forced_backup = true;
                self.takeover_held = false;
                match self.state {
                    State::Master => self.step_down(now, &mut out),
                    State::Backup => self.timers.cancel(Timer::PreemptDelay, &mut out),
                    State::Initialize | State::Fault => {}
                }
            }
            Input::Restore => {
                let was_forced = std::mem::replace(&mut self.forced_backup, false);
                if was_forced && self.state == State::Backup {
                    // Start a fresh wait: a live master's next advert keeps
                    // us backup, silence (or a preemptable master) does not.
                    let at = now + self.master_down_interval();
                    self.timers.arm(Timer::MasterDown, at, &mut out);
                }
            }
            Input::GroupBackup if self.state == State::Master => self.step_down(now, &mut out),
            Input::GroupMaster if self.state == State::Backup && !self.forced_backup => {
                self.become_master(now, &mut out)
            }
            Input::GroupBackup | Input::GroupMaster => {}
            Input::VipRemoved(address) => {
                out.extend(repair::vip_removed(&self.config, self.state, address))
            }
            Input::VipAppeared { address, place } => out.extend(repair::vip_appeared(
                &self.config,
                self.state,
                address,
                place,
            )),
            Input::VirtualMacDown => out.extend(repair::virtual_mac_down(self.state)),
        }
        out
    }

    /// Releases a held takeover as soon as preemption is allowed, if the
    /// master we follow still has the lower priority.
    fn allow_preemption(&mut self, now: Timestamp, allowed: bool, out: &mut Vec<Action>) {
        self.preempt_allowed = allowed;
        if !allowed || !std::mem::replace(&mut self.takeover_held, false) {
            return;
        }
        let ours = self.effective_priority();
        let still_lower = self.master_priority.is_some_and(|theirs| theirs < ours);
        if self.state != State::Backup || self.forced_backup || !still_lower {
            return;
        }
        if self.config.preempt_delay.is_zero() {
            self.become_master(now, out);
        } else if !self.timers.is_armed(Timer::PreemptDelay) {
            let at = now + self.config.preempt_delay;
            self.timers.arm(Timer::PreemptDelay, at, out);
        }
    }

    /// Takes a new switchover role in. A target that now outranks the live
    /// master holds (or starts) its takeover on that master's next advert,
    /// exactly like a planned preempt-back; a master that is no longer the
    /// target keeps the VIP until the target's higher advert arrives, so
    /// the VIP is never left without a master.
    fn switch_over(&mut self, now: Timestamp, role: Switchover, out: &mut Vec<Action>) {
        if role == self.switchover {
            return;
        }
        self.change_health(now, out, |me| me.switchover = role);
        if !self.preempts() {
            self.takeover_held = false;
            if self.state == State::Backup {
                self.timers.cancel(Timer::PreemptDelay, out);
            }
        }
    }

    fn faulted(&self) -> bool {
        self.tracking_fault() || self.group_fault
    }

    /// Initialize (or Fault) → Backup / Master / Fault.
    fn start(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        let becomes_master = !self.faulted() && self.config.is_owner() && !self.forced_backup;
        if self.state == State::Initialize && !becomes_master {
            // Safe by default: a previous run may have crashed as master
            // and left the addresses behind.
            out.push(Action::RemoveVips);
        }
        if self.faulted() {
            self.transition(State::Fault, out);
        } else if becomes_master {
            self.become_master(now, out);
        } else {
            self.master_adver_interval = self.config.advert_interval;
            self.master_priority = None;
            let at = now + self.master_down_interval();
            self.timers.arm(Timer::MasterDown, at, out);
            self.transition(State::Backup, out);
        }
    }

    fn shutdown(&mut self, out: &mut Vec<Action>) {
        match self.state {
            State::Initialize => return,
            State::Master => {
                out.push(Action::SendAdvert {
                    priority: LEAVING_PRIORITY,
                });
                out.push(Action::RemoveVips);
            }
            State::Backup | State::Fault => {}
        }
        self.timers.cancel_all(out);
        self.transition(State::Initialize, out);
    }

    /// Applies a change to tracking, group fault or adjustment, then enters
    /// or leaves Fault, or tells the peers a master's new priority at once
    /// (so a higher backup can preempt without waiting for the next advert).
    fn change_health(
        &mut self,
        now: Timestamp,
        out: &mut Vec<Action>,
        change: impl FnOnce(&mut Instance),
    ) {
        let was_faulted = self.faulted();
        let old_priority = self.effective_priority();
        change(self);
        match (was_faulted, self.faulted()) {
            (false, true) => self.enter_fault(out),
            (true, false) if self.state == State::Fault => self.start(now, out),
            _ => {
                let priority = self.effective_priority();
                if self.state == State::Master && priority != old_priority {
                    out.push(Action::SendAdvert { priority });
                }
            }
        }
    }

    fn enter_fault(&mut self, out: &mut Vec<Action>) {
        match self.state {
            State::Master => {
                out.push(Action::SendAdvert {
                    priority: LEAVING_PRIORITY,
                });
                out.push(Action::RemoveVips);
                self.timers.cancel(Timer::Advert, out);
            }
            State::Backup => {
                self.timers.cancel(Timer::MasterDown, out);
                self.timers.cancel(Timer::PreemptDelay, out);
            }
            // Initialize stays put: Startup will enter Fault.
            State::Initialize | State::Fault => return,
        }
        self.transition(State::Fault, out);
    }

    fn become_master(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        self.timers.cancel(Timer::MasterDown, out);
        self.timers.cancel(Timer::PreemptDelay, out);
        out.push(Action::AddVips {
            accept_mode: self.config.accepts_traffic(),
        });
        out.push(Action::SendAdvert {
            priority: self.effective_priority(),
        });
        out.push(Action::SendGratuitous);
        let at = first_advert_slot(now, self.config.advert_interval);
        self.timers.arm(Timer::Advert, at, out);
        self.transition(State::Master, out);
    }

    /// Master → Backup on our own initiative (maintenance or sync group):
    /// the priority-0 advert lets the best backup take over after Skew_Time.
    fn step_down(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: LEAVING_PRIORITY,
        });
        out.push(Action::RemoveVips);
        self.timers.cancel(Timer::Advert, out);
        self.master_adver_interval = self.config.advert_interval;
        self.master_priority = None;
        let at = now + self.master_down_interval();
        self.timers.arm(Timer::MasterDown, at, out);
        self.transition(State::Backup, out);
    }

    fn advert_received(
        &mut self,
        now: Timestamp,
        src: IpAddr,
        priority: u8,
        interval: Duration,
        addresses: &[IpAddr],
        out: &mut Vec<Action>,
    ) {
        if !self.config.accepts_adverts_from(src) {
            out.push(Action::Warn(Warning::NotMember { src }));
            return;
        }
        if !matches!(self.state, State::Backup | State::Master) {
            return;
        }
        if !self.same_addresses(addresses) {
            out.push(Action::Warn(Warning::AddressListMismatch { src }));
            if priority != OWNER_PRIORITY {
                return;
            }
        }
        if self.config.version == Version::V2 && interval != self.config.advert_interval {
            out.push(Action::Warn(Warning::AdvertIntervalMismatch {
                src,
                interval,
            }));
            return;
        }
        if self.state == State::Backup {
            self.backup_receives(now, priority, interval, out);
        } else {
            self.master_receives(now, src, priority, interval, out);
        }
    }

    fn same_addresses(&self, addresses: &[IpAddr]) -> bool {
        let mut theirs = addresses.to_vec();
        theirs.sort();
        theirs.dedup();
        theirs == self.sorted_vips
    }

    fn backup_receives(
        &mut self,
        now: Timestamp,
        priority: u8,
        interval: Duration,
        out: &mut Vec<Action>,
    ) {
        if priority == LEAVING_PRIORITY {
            let at = now + self.skew_time();
            self.timers.arm(Timer::MasterDown, at, out);
            return;
        }
        let preemptable =
            self.preempts() && !self.forced_backup && priority < self.effective_priority();
        // Make-before-break: keep following this master (the code below)
        // until preemption is allowed.
        self.takeover_held = preemptable && !self.preempt_allowed;
        if preemptable && self.preempt_allowed {
            if self.config.preempt_delay.is_zero() {
                // RFC 5798: discard, so Master_Down_Timer runs out and we take over.
                return;
            }
            // Keep following this master until the delay is over.
            if !self.timers.is_armed(Timer::PreemptDelay) {
                let at = now + self.config.preempt_delay;
                self.timers.arm(Timer::PreemptDelay, at, out);
            }
        } else {
            self.timers.cancel(Timer::PreemptDelay, out);
        }
        if self.config.version == Version::V3 {
            self.master_adver_interval = interval;
        }
        self.master_priority = Some(priority);
        let at = now + self.master_down_interval();
        self.timers.arm(Timer::MasterDown, at, out);
    }

    fn master_receives(
        &mut self,
        now: Timestamp,
        src: IpAddr,
        priority: u8,
        interval: Duration,
        out: &mut Vec<Action>,
    ) {
        let ours = self.effective_priority();
        if priority == LEAVING_PRIORITY {
            // Another master is leaving: make sure everyone hears from us now.
            out.push(Action::SendAdvert { priority: ours });
            let at = first_advert_slot(now, self.config.advert_interval);
            self.timers.arm(Timer::Advert, at, out);
        } else if priority > ours || (priority == ours && src > self.config.primary_address) {
            self.timers.cancel(Timer::Advert, out);
            out.push(Action::RemoveVips);
            if self.config.version == Version::V3 {
                self.master_adver_interval = interval;
            }
            self.master_priority = Some(priority);
            let at = now + self.master_down_interval();
            self.timers.arm(Timer::MasterDown, at, out);
            self.transition(State::Backup, out);
        } else {
            // A lower-priority router thinks it is master (it booted, or a
            // partition healed): advertise and refresh the caches at once,
            // as keepalived does, instead of waiting for our next advert.
            out.push(Action::SendAdvert { priority: ours });
            out.push(Action::SendGratuitous);
        }
    }

    /// `deadline` is the one `timer` was armed for; `now` is when the
    /// shell got round to it, a little (or, stalled, a lot) later.
    fn timer_expired(
        &mut self,
        now: Timestamp,
        deadline: Timestamp,
        timer: Timer,
        out: &mut Vec<Action>,
    ) {
        match (self.state, timer) {
            (State::Master, Timer::Advert) => {
                out.push(Action::SendAdvert {
                    priority: self.effective_priority(),
                });
                let at = next_advert_slot(deadline, self.config.advert_interval, now);
                self.timers.arm(Timer::Advert, at, out);
            }
            (State::Backup, Timer::MasterDown) if !self.forced_backup => {
                self.become_master(now, out)
            }
            (State::Backup, Timer::PreemptDelay) => {
                let ours = self.effective_priority();
                let still_lower = self.master_priority.is_some_and(|theirs| theirs < ours);
                if still_lower && !self.forced_backup {
                    if self.preempt_allowed {
                        self.become_master(now, out);
                    } else {
                        self.takeover_held = true;
                    }
                }
            }
            // Timers are cancelled on every state change, so anything else
            // is a forced backup's Master_Down running out: stay put.
            _ => {}
        }
    }

    fn transition(&mut self, to: State, out: &mut Vec<Action>) {
        self.takeover_held = false;
        let from = std::mem::replace(&mut self.state, to);
        out.push(Action::StateChanged { from, to });
        out.push(Action::RunHook(match to {
            State::Initialize => Hook::Stop,
            State::Backup => Hook::Backup,
            State::Master => Hook::Master,
            State::Fault => Hook::Fault,
        }));
    }
}

/// The slot of the first advert after one sent out of turn at `now` (on
/// becoming master, or answering a leaving master): the last multiple of
/// `interval` since the origin that is no later than `now + interval`, so
/// never more than an interval away. Every instance of the agent counts
/// from one origin, so the adverts of all instances with the same
/// interval fall due together and one wake-up sends them all: with a
/// hundred instances at 100 ms, ten wake-ups a second instead of up to a
/// thousand, each costing a context switch and a pass of the scheduler
/// (docs/PERFORMANCE.md). The gap after the out-of-turn advert is shorter
/// than an interval, never longer, so no backup's Master_Down comes nearer.
fn first_advert_slot(now: Timestamp, interval: Duration) -> Timestamp {
    let due = now + interval;
    let past_slot = due.since_origin().as_nanos() % interval.as_nanos().max(1);
    // Below one interval, so it fits the Duration it came from.
    let past_slot = Duration::from_nanos(u64::try_from(past_slot).unwrap_or(u64::MAX));
    Timestamp::from_origin(due.since_origin() - past_slot)
}

/// The master's adverts keep a fixed cadence: the next one is due an
/// interval after the deadline just served, not after the moment the
/// shell woke for it. Scheduling from the wake-up would add the shell's
/// lateness (timer granularity, a busy scheduler) to every period, and
/// at 10 ms adverts that would eat into the backup's margin of
/// 3 × interval + skew, which is only 30 ms, until it takes over a live
/// master. Slots already missed entirely (a stall longer than an
/// interval) are skipped, not sent in a burst: the first slot strictly
/// after `now` is returned.
fn next_advert_slot(deadline: Timestamp, interval: Duration, now: Timestamp) -> Timestamp {
    let missed = (now - deadline).as_nanos() / interval.as_nanos();
    // A stall of u32::MAX intervals (over a year at 10 ms) is not a case.
    let slots = u32::try_from(missed + 1).unwrap_or(u32::MAX);
    deadline + interval * slots
}

/// Deadlines of the instance's timers, mirrored by the shell through
/// ArmTimer / CancelTimer, so stale expiries can be recognised.
#[derive(Clone, Debug, Default)]
struct Timers {
    advert: Option<Timestamp>,
    master_down: Option<Timestamp>,
    preempt_delay: Option<Timestamp>,
}

impl Timers {
    fn slot(&mut self, timer: Timer) -> &mut Option<Timestamp> {
        match timer {
            Timer::Advert => &mut self.advert,
            Timer::MasterDown => &mut self.master_down,
            Timer::PreemptDelay => &mut self.preempt_delay,
        }
    }

    fn is_armed(&mut self, timer: Timer) -> bool {
        self.slot(timer).is_some()
    }

    fn arm(&mut self, timer: Timer, at: Timestamp, out: &mut Vec<Action>) {
        *self.slot(timer) = Some(at);
        out.push(Action::ArmTimer { timer, at });
    }

    fn cancel(&mut self, timer: Timer, out: &mut Vec<Action>) {
        if self.slot(timer).take().is_some() {
            out.push(Action::CancelTimer { timer });
        }
    }

    fn cancel_all(&mut self, out: &mut Vec<Action>) {
        for timer in [Timer::Advert, Timer::MasterDown, Timer::PreemptDelay] {
            self.cancel(timer, out);
        }
    }

    /// Classifies an expiry report, disarming `timer` if it is due.
    fn expire(&mut self, timer: Timer, now: Timestamp) -> Expiry {
        let slot = self.slot(timer);
        match *slot {
            Some(at) if at <= now => {
                *slot = None;
                Expiry::Due(at)
            }
            Some(at) => Expiry::Early(at),
            None => Expiry::NotArmed,
        }
    }
}

/// What an expiry report from the shell means.
enum Expiry {
    /// Due since this deadline.
    Due(Timestamp),
    /// Still armed, for this later deadline.
    Early(Timestamp),
    /// Cancelled or already handled: a stale report.
    NotArmed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advert(priority: u8) -> Input {
        Input::AdvertReceived {
            src: "10.0.0.1".parse().unwrap(),
            priority,
            max_advert_interval: Duration::from_secs(1),
            addresses: vec!["10.0.0.100".parse().unwrap()],
        }
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_origin(Duration::from_millis(ms))
    }

    fn backup(priority: u8, preempt: bool) -> Instance {
        let mut config = InstanceConfig::new(
            51,
            "10.0.0.2".parse().unwrap(),
            vec!["10.0.0.100".parse().unwrap()],
        );
        config.priority = priority;
        config.preempt = preempt;
        let mut instance = Instance::new(config).unwrap();
        instance.handle(at(0), Input::PreemptAllowed(false));
        instance.handle(at(0), Input::Startup);
        instance
    }

    #[test]
    fn adverts_are_due_on_the_grid_of_their_deadlines() {
        let interval = Duration::from_millis(10);
        let slot = |deadline, now| next_advert_slot(at(deadline), interval, at(now)).since_origin();
        let ms = Duration::from_millis;
        assert_eq!(slot(10, 10), ms(20), "on time");
        assert_eq!(slot(10, 11), ms(20), "late: not now + interval");
        assert_eq!(slot(10, 20), ms(30), "a whole interval late");
        assert_eq!(slot(10, 45), ms(50), "missed slots skipped");
    }

    #[test]
    fn the_first_advert_after_one_out_of_turn_is_due_on_the_shared_grid() {
        let interval = Duration::from_millis(100);
        let slot = |now| first_advert_slot(at(now), interval).since_origin();
        let ms = Duration::from_millis;
        assert_eq!(slot(0), ms(100), "on the grid: a whole interval");
        assert_eq!(slot(3600), ms(3700));
        assert_eq!(slot(3637), ms(3700), "off the grid: the next slot");
        assert_eq!(slot(3699), ms(3700), "never later than now + interval");
        // Two instances that became master apart send together from then on.
        assert_eq!(slot(3610), slot(3690));
    }

    #[test]
    fn preparing_takeover_only_while_holding_a_preemption() {
        let mut held = backup(110, true);
        assert!(!held.preparing_takeover(), "no master heard yet");
        held.handle(at(1000), advert(100));
        assert!(held.preparing_takeover());
        held.handle(at(1200), advert(120));
        assert!(
            !held.preparing_takeover(),
            "a higher master is not preempted"
        );
        held.handle(at(1400), advert(100));
        assert!(held.preparing_takeover());
        held.handle(at(1500), Input::PreemptAllowed(true));
        assert_eq!(held.state(), State::Master);
        assert!(!held.preparing_takeover());

        let mut no_preempt = backup(110, false);
        no_preempt.handle(at(1000), advert(100));
        assert!(!no_preempt.preparing_takeover());

        let mut forced = backup(110, true);
        forced.handle(at(1000), advert(100));
        forced.handle(at(1100), Input::ForceBackup);
        assert!(!forced.preparing_takeover(), "maintenance wins");
    }
}
