//! Fall/rise counting: a probe's verdict changes only after `fall`
//! consecutive failures or `rise` consecutive passes, so one lost packet
//! does not move a VIP and one lucky answer does not bring it back.

/// What the probes say about a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not enough consecutive results yet (a stack that just started).
    Unknown,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone)]
pub struct FallRise {
    fall: u32,
    rise: u32,
    verdict: Verdict,
    /// The latest result and how many times in a row it came.
    last: Option<bool>,
    streak: u32,
}

impl FallRise {
    /// Starts `Unknown`: the first verdict also needs a full streak, so a
    /// stack whose port is not bound yet is not declared unhealthy at once.
    pub fn new(fall: u32, rise: u32) -> Self {
        FallRise {
            fall: fall.max(1),
            rise: rise.max(1),
            verdict: Verdict::Unknown,
            last: None,
            streak: 0,
        }
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Records one probe round (all probes passed or not); the verdict after it.
    pub fn record(&mut self, passed: bool) -> Verdict {
        if self.last == Some(passed) {
            self.streak = self.streak.saturating_add(1);
        } else {
            self.last = Some(passed);
            self.streak = 1;
        }
        if passed && self.streak >= self.rise {
            self.verdict = Verdict::Healthy;
        } else if !passed && self.streak >= self.fall {
            self.verdict = Verdict::Unhealthy;
        }
        self.verdict
    }

    /// Consecutive results still needed to reach the other verdict (or the
    /// first one): for messages such as "1 more passing result needed".
    pub fn needed(&self) -> u32 {
        let (target, passing) = match self.verdict {
            Verdict::Healthy => (self.fall, false),
            Verdict::Unhealthy => (self.rise, true),
            Verdict::Unknown => match self.last {
                Some(false) => (self.fall, false),
                _ => (self.rise, true),
            },
        };
        let have = if self.last == Some(passing) {
            self.streak
        } else {
            0
        };
        target.saturating_sub(have)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(fall: u32, rise: u32, results: &[bool]) -> Vec<Verdict> {
        let mut counter = FallRise::new(fall, rise);
        results.iter().map(|&r| counter.record(r)).collect()
    }

    use Verdict::{Healthy as H, Unhealthy as U, Unknown as N};

    #[test]
    fn the_first_verdict_needs_a_full_streak() {
        assert_eq!(run(3, 2, &[true, true]), [N, H]);
        assert_eq!(run(3, 2, &[false, false, false]), [N, N, U]);
        // A stack still starting: failures, then passes.
        assert_eq!(run(3, 2, &[false, false, true, true]), [N, N, N, H]);
    }

    #[test]
    fn healthy_falls_only_after_fall_failures_in_a_row() {
        assert_eq!(
            run(3, 2, &[true, true, false, false, true, false, false, false]),
            [N, H, H, H, H, H, H, U]
        );
    }

    #[test]
    fn unhealthy_rises_only_after_rise_passes_in_a_row() {
        assert_eq!(
            run(1, 3, &[false, true, true, false, true, true, true]),
            [U, U, U, U, U, U, H]
        );
    }

    #[test]
    fn one_and_one_follow_every_result() {
        assert_eq!(run(1, 1, &[true, false, true]), [H, U, H]);
    }

    #[test]
    fn zero_counts_as_one() {
        assert_eq!(run(0, 0, &[false, true]), [U, H]);
    }

    #[test]
    fn needed_counts_down_to_the_next_change() {
        let mut c = FallRise::new(3, 2);
        assert_eq!(c.needed(), 2);
        c.record(false);
        assert_eq!(c.needed(), 2);
        c.record(true);
        assert_eq!(c.needed(), 1);
        c.record(true);
        assert_eq!((c.verdict(), c.needed()), (H, 3));
        c.record(false);
        assert_eq!(c.needed(), 2);
    }
}
