//! Watches with resume from a resourceVersion.
//!
//! Every change is appended to a bounded history. A watcher remembers the
//! last resourceVersion it saw and pulls newer entries when the store
//! signals a change, so a slow watcher never blocks writers. A watcher
//! that falls out of the history (or resumes from too old a version) gets
//! `Expired` and must list again, as with Kubernetes' "410 Gone".

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use hareconcile_model::{Kind, Object};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::StoreError;

/// How many changes a watcher can fall behind before it must relist.
/// Every change holds a whole object, and status refreshes alone make
/// about twenty a second on a node with a hundred VirtualIPs, so this is
/// what the history costs in memory; in-process watchers keep up within
/// milliseconds and the others relist.
pub(crate) const HISTORY_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchEventType {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchEvent {
    #[serde(rename = "type")]
    pub type_: WatchEventType,
    pub resource_version: u64,
    /// For `Deleted`, the object as it was last stored.
    pub object: Arc<Object>,
}

pub(crate) struct History {
    events: RwLock<VecDeque<WatchEvent>>,
    /// The resourceVersion of the newest change, for waking watchers.
    latest: watch::Sender<u64>,
}

impl History {
    pub(crate) fn new(resource_version: u64) -> Self {
        History {
            events: RwLock::new(VecDeque::with_capacity(HISTORY_LEN)),
            latest: watch::Sender::new(resource_version),
        }
    }

    /// Records changes in resourceVersion order. Called with the store's
    /// write lock held, so versions arrive strictly increasing.
    pub(crate) fn record(&self, changes: Vec<WatchEvent>) {
        let Some(newest) = changes.last().map(|c| c.resource_version) else {
            return;
        };
        {
            let mut events = self.events.write().expect("watch history lock");
            for change in changes {
                if events.len() == HISTORY_LEN {
                    events.pop_front();
                }
                events.push_back(change);
            }
        }
        self.latest.send_replace(newest);
    }

    pub(crate) fn watcher(
        self: &Arc<Self>,
        kind: Option<Kind>,
        since: u64,
    ) -> Result<Watcher, StoreError> {
        let watcher = Watcher {
            history: Arc::clone(self),
            kind,
            seen: since,
            wake: self.latest.subscribe(),
        };
        watcher.check_not_expired()?;
        Ok(watcher)
    }
}

/// A stream of changes after a given resourceVersion.
pub struct Watcher {
    history: Arc<History>,
    kind: Option<Kind>,
    seen: u64,
    wake: watch::Receiver<u64>,
}

impl Watcher {
    fn check_not_expired(&self) -> Result<(), StoreError> {
        let events = self.history.events.read().expect("watch history lock");
        let latest = *self.history.latest.borrow();
        // Changes seen+1..=latest must all still be in the history.
        let oldest_kept = events.front().map(|e| e.resource_version);
        match oldest_kept {
            _ if self.seen >= latest => Ok(()),
            Some(oldest) if oldest <= self.seen + 1 => Ok(()),
            _ => Err(StoreError::Expired {
                requested: self.seen,
                oldest: oldest_kept.unwrap_or(latest),
            }),
        }
    }

    /// Waits for and returns the next batch of changes (never empty).
    /// `Err(Expired)` means changes were missed: list again, then watch
    /// from the list's resourceVersion.
    pub async fn next(&mut self) -> Result<Vec<WatchEvent>, StoreError> {
        loop {
            let batch = self.drain()?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            if self.wake.changed().await.is_err() {
                // The store is gone; there will be no more changes.
                std::future::pending::<()>().await;
            }
        }
    }

    fn drain(&mut self) -> Result<Vec<WatchEvent>, StoreError> {
        self.check_not_expired()?;
        let events = self.history.events.read().expect("watch history lock");
        let start = events.partition_point(|e| e.resource_version <= self.seen);
        let mut batch = Vec::new();
        for event in events.range(start..) {
            self.seen = event.resource_version;
            if self.kind.is_none_or(|k| k == event.object.kind) {
                batch.push(event.clone());
            }
        }
        Ok(batch)
    }

    pub fn resource_version(&self) -> u64 {
        self.seen
    }
}
