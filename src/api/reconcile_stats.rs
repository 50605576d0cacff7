//! How long each controller's reconciles take and how many fail, for
//! `hareconcile_reconcile_duration_seconds` and
//! `hareconcile_reconcile_errors_total`: a controller that slows down (a
//! Docker daemon under load, an rsync that hangs) or keeps failing shows
//! before its objects stop being Ready. The agent measures around each
//! controller's reconciler (`agent::measured`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the duration histogram's buckets: from a
/// VRRP pass (milliseconds) to a stack pull or a sync (a minute).
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0,
];

/// One controller's passes so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub count: u64,
    pub sum_seconds: f64,
    /// Passes at or under each of [`BUCKETS`] (cumulative, as Prometheus
    /// histograms are).
    pub buckets: [u64; BUCKETS.len()],
    pub errors: u64,
}

#[derive(Clone, Default)]
pub struct ReconcileStats(Arc<Mutex<BTreeMap<&'static str, Series>>>);

impl ReconcileStats {
    /// Starts the series of `controller` at zero, so a rate works from the
    /// first scrape and a quiet controller is still listed.
    pub fn register(&self, controller: &'static str) {
        self.0
            .lock()
            .expect("reconcile stats lock")
            .entry(controller)
            .or_default();
    }

    pub fn record(&self, controller: &'static str, took: Duration, failed: bool) {
        let seconds = took.as_secs_f64();
        let mut all = self.0.lock().expect("reconcile stats lock");
        let series = all.entry(controller).or_default();
        series.count += 1;
        series.sum_seconds += seconds;
        for (bound, count) in BUCKETS.iter().zip(series.buckets.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        if failed {
            series.errors += 1;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, Series> {
        self.0.lock().expect("reconcile stats lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_failures_counted() {
        let stats = ReconcileStats::default();
        stats.register("compose");
        stats.record("vrrp", Duration::from_millis(3), false);
        stats.record("vrrp", Duration::from_millis(300), true);
        let all = stats.snapshot();
        assert_eq!(all["compose"], Series::default());
        let vip = &all["vrrp"];
        assert_eq!(vip.count, 2);
        assert_eq!(vip.errors, 1);
        assert_eq!(vip.buckets[0], 1, "3 ms is under 5 ms");
        assert_eq!(vip.buckets[6], 2, "both are under 0.5 s");
        assert!((vip.sum_seconds - 0.303).abs() < 1e-9);
    }
}
