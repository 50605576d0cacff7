//! Says when the store cannot write (a full or failing disk) and when it
//! can again. Reads go on from memory meanwhile, but nothing applied or
//! observed is kept, so it must not go unnoticed: a warning in the log, a
//! Warning event `StoreUnwritable` on the Cluster listing this node (and
//! `StoreWritable` when it is over), `hareconcile_store_writable` in
//! `/metrics`. While it lasts, a write is tried every few seconds, so the
//! store recovers by itself once space returns, even if nothing else
//! writes.

use std::time::Duration;

use hareconcile_runtime::{EventType, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::node_event;

/// How often a store that cannot write tries again.
const RETRY_EVERY: Duration = Duration::from_secs(5);

pub fn start(store: Store, mut stopped: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut problem = store.write_problem();
        let mut reported: Option<String> = None;
        loop {
            let current = problem.borrow_and_update().clone();
            report(&store, reported.as_deref(), current.as_deref());
            reported = current;
            let retry = async {
                if reported.is_none() {
                    return std::future::pending().await;
                }
                tokio::time::sleep(RETRY_EVERY).await;
                let store = store.clone();
                // Its outcome arrives through `problem`.
                let _ = tokio::task::spawn_blocking(move || store.probe_write()).await;
            };
            tokio::select! {
                changed = problem.changed() => if changed.is_err() { break },
                () = retry => {}
                _ = stopped.changed() => break,
            }
        }
    })
}

fn report(store: &Store, before: Option<&str>, now: Option<&str>) {
    match (before, now) {
        (None, Some(why)) => {
            warn!(
                error = why,
                "the store cannot write: nothing applied or observed is kept until it can"
            );
            node_event::record(store, EventType::Warning, "StoreUnwritable", why);
        }
        (Some(old), Some(why)) if old != why => {
            warn!(error = why, "the store still cannot write");
        }
        (Some(_), None) => {
            info!("the store can write again");
            node_event::record(
                store,
                EventType::Normal,
                "StoreWritable",
                "the store can write again",
            );
        }
        _ => {}
    }
}
