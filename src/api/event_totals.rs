//! Counts every event the agent records, by type and reason, for
//! `hareconcile_events_total`. The store keeps only the newest 2,000
//! events (and folds repeats into one with a count); a counter summed from
//! that ring went down whenever an old event was evicted, which Prometheus
//! reads as a counter reset. These totals only ever grow.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hareconcile_runtime::{EventType, Store};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::warn;

/// Events counted so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// (type, reason) -> events recorded, repeats included.
    pub by_reason: BTreeMap<(&'static str, String), u64>,
    /// Events recorded while the counter had fallen behind, which it could
    /// not attribute to a reason.
    pub lost: u64,
}

#[derive(Clone, Default)]
pub struct EventTotals(Arc<Mutex<EventCounts>>);

impl EventTotals {
    /// Counts the events `store` records from now on, until `stopped`.
    /// Call it before anything records events, so none goes uncounted.
    pub fn start(store: &Store, mut stopped: watch::Receiver<bool>) -> (Self, JoinHandle<()>) {
        let totals = EventTotals::default();
        let mut events = store.subscribe_events();
        let counting = totals.clone();
        let task = tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    _ = stopped.wait_for(|&s| s) => return,
                };
                match event {
                    Ok(event) => counting.count(event.type_, &event.reason, 1),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        warn!(missed, "events came faster than they were counted");
                        counting.0.lock().expect("event totals lock").lost += missed;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        (totals, task)
    }

    fn count(&self, type_: EventType, reason: &str, n: u64) {
        let type_ = match type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        let mut counts = self.0.lock().expect("event totals lock");
        *counts
            .by_reason
            .entry((type_, reason.to_owned()))
            .or_default() += n;
    }

    pub fn snapshot(&self) -> EventCounts {
        self.0.lock().expect("event totals lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hareconcile_model::{Kind, ObjectKey};

    /// Waits until the counter has seen `expected` events in all.
    async fn caught_up(totals: &EventTotals, expected: u64) -> EventCounts {
        loop {
            let counts = totals.snapshot();
            if counts.by_reason.values().sum::<u64>() + counts.lost >= expected {
                return counts;
            }
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn totals_keep_growing_when_the_store_evicts_old_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "n1").unwrap();
        let (_stop, stopped) = watch::channel(false);
        let (totals, _task) = EventTotals::start(&store, stopped);
        let key = ObjectKey {
            kind: Kind::VirtualIP,
            name: "web".into(),
        };
        let mut recorded = 0u64;
        let mut last_total = 0u64;
        // Distinct messages, so each is a new entry in the store's ring,
        // which holds 2,000: the oldest go as the last ones come.
        for round in 0..25 {
            for i in 0..100 {
                store.record_event(
                    &key,
                    EventType::Warning,
                    "Flapping",
                    &format!("{round}/{i}"),
                );
                recorded += 1;
            }
            // A repeat adds to the count of an event already in the ring.
            store.record_event(&key, EventType::Normal, "BecameMaster", "won");
            recorded += 1;
            let counts = caught_up(&totals, recorded).await;
            assert_eq!(counts.lost, 0);
            let total: u64 = counts.by_reason.values().sum();
            assert!(
                total >= last_total,
                "the total went down: {last_total} -> {total}"
            );
            last_total = total;
        }
        assert!(store.events(None).len() <= 2_000, "the ring evicted events");
        let counts = totals.snapshot();
        assert_eq!(counts.by_reason[&("Warning", "Flapping".to_owned())], 2_500);
        assert_eq!(counts.by_reason[&("Normal", "BecameMaster".to_owned())], 25);
    }
}
