//! How far behind each target is, from the source's side: the time since
//! the first change the target has not received yet (continuous mode
//! watches changes), or since the start of its last complete pass (interval
//! mode cannot tell an idle source from a busy one, so it assumes the
//! worst).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::rsync::Stats;

/// One target as the source sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Earliest change this target may be missing; `None`: in sync.
    pub behind_since: Option<SystemTime>,
    /// When the last complete pass to it finished.
    pub last_success: Option<SystemTime>,
    pub last_stats: Option<Stats>,
    pub bytes_total: u64,
    pub passes: u64,
    /// Why the last pass failed, if it did.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Lag {
    /// Whether changes are watched (continuous mode).
    watched: bool,
    /// First change since the current or last pass started.
    pending_since: Option<SystemTime>,
    targets: BTreeMap<String, Target>,
}

impl Lag {
    pub fn new(watched: bool) -> Lag {
        Lag {
            watched,
            ..Lag::default()
        }
    }

    /// Keeps exactly `names` as targets; a new one is behind until its
    /// first pass.
    pub fn retarget(&mut self, names: &[String], now: SystemTime) {
        self.targets.retain(|name, _| names.contains(name));
        for name in names {
            self.targets.entry(name.clone()).or_insert_with(|| Target {
                behind_since: Some(now),
                ..Target::default()
            });
        }
    }

    /// The source changed at `now`.
    pub fn changed(&mut self, now: SystemTime) {
        self.pending_since.get_or_insert(now);
        for target in self.targets.values_mut() {
            target.behind_since.get_or_insert(now);
        }
    }

    /// Whether a change arrived that no pass has started on yet.
    pub fn pending(&self) -> bool {
        self.pending_since.is_some()
    }

    /// A pass starts: it carries every change made so far.
    pub fn pass_started(&mut self) {
        self.pending_since = None;
    }

    /// A pass that started at `started` reached `name`.
    pub fn succeeded(&mut self, name: &str, started: SystemTime, stats: Stats, now: SystemTime) {
        let pending = self.pending_since;
        let watched = self.watched;
        if let Some(target) = self.targets.get_mut(name) {
            target.behind_since = if watched { pending } else { Some(started) };
            target.last_success = Some(now);
            target.last_stats = Some(stats);
            target.bytes_total += stats.bytes;
            target.passes += 1;
            target.error = None;
        }
    }

    pub fn failed(&mut self, name: &str, error: String) {
        if let Some(target) = self.targets.get_mut(name) {
            target.error = Some(error);
        }
    }

    pub fn targets(&self) -> &BTreeMap<String, Target> {
        &self.targets
    }

    pub fn lag(&self, name: &str, now: SystemTime) -> Duration {
        self.targets
            .get(name)
            .and_then(|t| t.behind_since)
            .map(|since| now.duration_since(since).unwrap_or_default())
            .unwrap_or_default()
    }
}

/// A target's lag crossing `maxLag`, one way or the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossing {
    pub target: String,
    /// Over `maxLag` now (`ReplicationLagging`), or back under it
    /// (`ReplicationCaughtUp`).
    pub lagging: bool,
    pub lag: Duration,
}

impl Lag {
    /// The targets whose lag crossed `max` since the last call, which
    /// `lagging` remembers (by target: over `max` then). A target first
    /// seen under `max` is no news.
    pub fn crossings(
        &self,
        max: Duration,
        now: SystemTime,
        lagging: &mut BTreeMap<String, bool>,
    ) -> Vec<Crossing> {
        lagging.retain(|name, _| self.targets.contains_key(name));
        let mut crossed = Vec::new();
        for name in self.targets.keys() {
            let lag = self.lag(name, now);
            let over = lag > max;
            let before = lagging.insert(name.clone(), over).unwrap_or(false);
            if over != before {
                crossed.push(Crossing {
                    target: name.clone(),
                    lagging: over,
                    lag,
                });
            }
        }
        crossed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn targets() -> Vec<String> {
        vec!["n2".into(), "n3".into()]
    }

    #[test]
    fn continuous_lag_counts_from_the_first_change_a_target_misses() {
        let mut lag = Lag::new(true);
        lag.retarget(&targets(), at(100));
        assert_eq!(
            lag.lag("n2", at(101)),
            Duration::from_secs(1),
            "never synced"
        );
        lag.pass_started();
        lag.succeeded("n2", at(101), Stats::default(), at(102));
        lag.failed("n3", "unreachable".into());
        assert_eq!(lag.lag("n2", at(500)), Duration::ZERO, "idle and in sync");
        assert_eq!(lag.lag("n3", at(500)), Duration::from_secs(400));
        lag.changed(at(600));
        lag.changed(at(601));
        assert!(lag.pending());
        assert_eq!(lag.lag("n2", at(602)), Duration::from_secs(2));
        lag.pass_started();
        // A change lands while the pass runs: the target may miss it.
        lag.changed(at(603));
        lag.succeeded(
            "n2",
            at(602),
            Stats {
                files: 1,
                bytes: 10,
                deleted: 0,
            },
            at(604),
        );
        assert_eq!(lag.lag("n2", at(605)), Duration::from_secs(2));
        assert_eq!(lag.targets()["n2"].bytes_total, 10);
        assert_eq!(lag.targets()["n3"].error.as_deref(), Some("unreachable"));
    }

    #[test]
    fn crossing_max_lag_is_reported_once_each_way() {
        let mut lag = Lag::new(true);
        let mut lagging = BTreeMap::new();
        let max = Duration::from_secs(10);
        lag.retarget(&targets(), at(100));
        assert!(lag.crossings(max, at(105), &mut lagging).is_empty());
        lag.pass_started();
        lag.succeeded("n2", at(105), Stats::default(), at(106));
        let crossed = lag.crossings(max, at(111), &mut lagging);
        assert_eq!(
            crossed,
            [Crossing {
                target: "n3".into(),
                lagging: true,
                lag: Duration::from_secs(11)
            }]
        );
        assert!(
            lag.crossings(max, at(200), &mut lagging).is_empty(),
            "still lagging: no news"
        );
        lag.succeeded("n3", at(199), Stats::default(), at(201));
        let crossed = lag.crossings(max, at(202), &mut lagging);
        assert_eq!(crossed.len(), 1);
        assert!(!crossed[0].lagging && crossed[0].target == "n3");
    }

    #[test]
    fn interval_lag_is_the_age_of_the_last_pass() {
        let mut lag = Lag::new(false);
        lag.retarget(&targets(), at(0));
        lag.pass_started();
        lag.succeeded("n2", at(10), Stats::default(), at(12));
        assert_eq!(lag.lag("n2", at(70)), Duration::from_secs(60));
        lag.retarget(&["n2".into()], at(80));
        assert_eq!(lag.targets().len(), 1);
    }
}
