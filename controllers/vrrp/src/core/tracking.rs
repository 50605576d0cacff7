//! Tracking: what scripts, Services and links say about this node, reduced
//! to the core's [`Tracking`] input. Pure; the shell runs the checks and
//! reads the store, and hands the results here.
//!
//! Weights follow keepalived: a failing check with weight 0 faults the
//! instance, a negative weight is added while the check fails and a
//! positive one while it succeeds. The sum goes to the core, which clamps
//! the effective priority to 1-254 and leaves an address owner at 255.

use crate::core::events::Tracking;

/// Where a check's verdict comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A `track.scripts` command run by this node.
    Script,
    /// A `track.services` Service's condition in this node's store.
    Service,
    /// A fenced VirtualIP's writer lock in the Cluster's quorum engine.
    Quorum,
}

/// The latest verdict of one tracked script or Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub source: Source,
    pub name: String,
    pub weight: i32,
    pub healthy: bool,
    /// Why it is unhealthy (or the last failure), for status and events.
    pub detail: String,
}

impl Check {
    /// The priority change this check contributes, or `None` when it faults.
    fn contribution(&self) -> Option<i32> {
        match (self.healthy, self.weight) {
            (false, 0) => None,
            (false, weight) if weight < 0 => Some(weight),
            (true, weight) if weight > 0 => Some(weight),
            _ => Some(0),
        }
    }

    fn describe(&self) -> String {
        let what = match self.source {
            Source::Script => "script",
            Source::Service => "Service",
            Source::Quorum => "quorum:",
        };
        if self.detail.is_empty() {
            format!("{what} {} failing", self.name)
        } else {
            format!("{what} {} failing: {}", self.name, self.detail)
        }
    }
}

/// What the VirtualIP-level trackers report to each of its instances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracked {
    pub checks: Vec<Check>,
    /// The Services following this VirtualIP that do not run Ready here
    /// yet: while there is one, a backup must not preempt a live master
    /// (make-before-break).
    pub awaited: Vec<Awaited>,
    /// A fenced VirtualIP's writer lock: faults unless held (the shell's
    /// `writer_lock`); `None` for a VirtualIP that is not fenced.
    pub writer: Option<Check>,
    /// The node holding a fenced VirtualIP's writer lock when that is
    /// another node: faulted for that reason alone, this node stands by.
    pub lock_holder: Option<String>,
}

impl Tracked {
    pub fn preempt_allowed(&self) -> bool {
        self.awaited.is_empty()
    }

    /// The node this one stands by for: the writer lock is held there, and
    /// nothing else faults this node.
    pub fn standing_by_for(&self, links_down: &[&str]) -> Option<String> {
        let holder = self.lock_holder.clone()?;
        let rest = verdict(links_down, &self.checks);
        (rest.fault.is_none()).then_some(holder)
    }

    /// The verdict over `links_down` and every check, the writer lock's too.
    pub fn verdict(&self, links_down: &[&str]) -> Verdict {
        let checks: Vec<Check> = self.checks.iter().chain(&self.writer).cloned().collect();
        verdict(links_down, &checks)
    }
}

/// A Service a planned preempt-back waits for, and why it is not ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Awaited {
    pub service: String,
    pub why: String,
}

/// `shop (its stack is not started here yet), api (Ready is False ...)`.
pub fn describe_awaited(awaited: &[Awaited]) -> String {
    awaited
        .iter()
        .map(|a| format!("{} ({})", a.service, a.why))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The core's tracking input and, when faulted, the reason for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub tracking: Tracking,
    pub fault: Option<String>,
}

/// Combines the interfaces that are down (each faults) with the checks.
pub fn verdict(links_down: &[&str], checks: &[Check]) -> Verdict {
    let mut reasons = Vec::new();
    if !links_down.is_empty() {
        reasons.push(format!(
            "tracked interface {} down (no carrier or administratively down)",
            links_down.join(", ")
        ));
    }
    let mut delta: i32 = 0;
    for check in checks {
        match check.contribution() {
            Some(weight) => delta = delta.saturating_add(weight),
            None => reasons.push(check.describe()),
        }
    }
    if reasons.is_empty() {
        Verdict {
            tracking: Tracking::Healthy {
                priority_delta: delta,
            },
            fault: None,
        }
    } else {
        Verdict {
            tracking: Tracking::Fault,
            fault: Some(reasons.join("; ")),
        }
    }
}

/// keepalived's fall / rise: a healthy check turns unhealthy after `fall`
/// failures in a row, an unhealthy one healthy after `rise` successes.
/// Starts healthy, as keepalived does without `init_fail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FallRise {
    fall: u32,
    rise: u32,
    healthy: bool,
    /// Consecutive results that disagree with `healthy`.
    against: u32,
}

impl FallRise {
    /// `fall` and `rise` below 1 count as 1.
    pub fn new(fall: u32, rise: u32) -> FallRise {
        FallRise {
            fall: fall.max(1),
            rise: rise.max(1),
            healthy: true,
            against: 0,
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Records one result and returns whether the check is healthy now.
    pub fn record(&mut self, ok: bool) -> bool {
        if ok == self.healthy {
            self.against = 0;
            return self.healthy;
        }
        self.against += 1;
        let needed = if self.healthy { self.fall } else { self.rise };
        if self.against >= needed {
            self.healthy = ok;
            self.against = 0;
        }
        self.healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, weight: i32, healthy: bool) -> Check {
        Check {
            source: Source::Script,
            name: name.into(),
            weight,
            healthy,
            detail: if healthy {
                String::new()
            } else {
                "exit status 1".into()
            },
        }
    }

    #[test]
    fn weights_follow_keepalived() {
        let healthy = |delta| Verdict {
            tracking: Tracking::Healthy {
                priority_delta: delta,
            },
            fault: None,
        };
        assert_eq!(verdict(&[], &[]), healthy(0));
        // Negative weights count while failing, positive while succeeding.
        assert_eq!(verdict(&[], &[check("a", -20, false)]), healthy(-20));
        assert_eq!(verdict(&[], &[check("a", -20, true)]), healthy(0));
        assert_eq!(verdict(&[], &[check("a", 5, true)]), healthy(5));
        assert_eq!(verdict(&[], &[check("a", 5, false)]), healthy(0));
        assert_eq!(
            verdict(
                &[],
                &[
                    check("a", -20, false),
                    check("b", -30, false),
                    check("c", 10, true)
                ]
            ),
            healthy(-40)
        );
        // Weight 0 only matters when failing: then it faults.
        assert_eq!(verdict(&[], &[check("a", 0, true)]), healthy(0));
    }

    #[test]
    fn faults_say_every_reason() {
        let mut service = check("web", 0, false);
        service.source = Source::Service;
        service.detail = "Ready is False (Unhealthy): unhealthy: web-1".into();
        let v = verdict(
            &["eth1"],
            &[check("gw", 0, false), service, check("x", -5, false)],
        );
        assert_eq!(v.tracking, Tracking::Fault);
        let fault = v.fault.unwrap();
        assert!(fault.contains("tracked interface eth1 down"), "{fault}");
        assert!(
            fault.contains("script gw failing: exit status 1"),
            "{fault}"
        );
        assert!(
            fault.contains("Service web failing: Ready is False (Unhealthy)"),
            "{fault}"
        );
        assert!(
            !fault.contains(" x "),
            "weighted checks do not fault: {fault}"
        );
    }

    #[test]
    fn fall_and_rise_need_results_in_a_row() {
        let mut streak = FallRise::new(2, 3);
        assert!(streak.healthy());
        assert!(streak.record(false), "one failure of two");
        assert!(streak.record(true), "a success resets the count");
        assert!(streak.record(false));
        assert!(!streak.record(false), "two failures in a row");
        assert!(!streak.record(true));
        assert!(!streak.record(true));
        assert!(!streak.record(false), "a failure resets the rise count");
        assert!(!streak.record(true));
        assert!(!streak.record(true));
        assert!(streak.record(true), "three successes in a row");
        let mut once = FallRise::new(0, 0);
        assert!(!once.record(false), "fall 0 counts as 1");
        assert!(once.record(true));
    }
}
