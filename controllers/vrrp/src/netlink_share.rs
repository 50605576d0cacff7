//! The agent's netlink, shared: one request connection and one feed of
//! address and link changes for every VirtualIP instance. A connection per
//! instance held about 74 KiB of netlink-proto's fixed buffers each, most
//! of an agent's memory with a hundred VirtualIPs.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::addresses::{AddressError, Change, Netlink};

/// Changes kept for an instance that has not read them yet; one that
/// falls further behind is told it missed some ([`Change::Missed`]).
const FEED_CAPACITY: usize = 1024;
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// Requests and notifications for the whole agent.
#[derive(Clone)]
pub struct SharedNetlink {
    pub requests: Arc<Netlink>,
    pub feed: ChangeFeed,
}

impl SharedNetlink {
    /// Connects in the current network namespace; needs a tokio runtime.
    pub fn connect() -> Result<SharedNetlink, AddressError> {
        Ok(SharedNetlink {
            requests: Arc::new(Netlink::connect_for_requests()?),
            feed: ChangeFeed::start()?,
        })
    }

    /// False once the request connection failed (the feed reconnects
    /// by itself).
    pub fn is_open(&self) -> bool {
        self.requests.is_open()
    }
}

/// Every address and link change on the host, fanned out to whoever
/// subscribed. The connection reconnects when it fails, and the changes
/// lost meanwhile are announced as [`Change::Missed`].
#[derive(Clone)]
pub struct ChangeFeed {
    changes: broadcast::Sender<Change>,
    _task: Arc<AbortOnDrop>,
}

impl ChangeFeed {
    fn start() -> Result<ChangeFeed, AddressError> {
        let mut netlink = Netlink::connect()?;
        let (changes, _) = broadcast::channel(FEED_CAPACITY);
        let sender = changes.clone();
        let task = tokio::spawn(async move {
            loop {
                while let Some(change) = netlink.next_change().await {
                    // Nobody subscribed is fine: instances come and go.
                    let _ = sender.send(change);
                }
                warn!("netlink notifications ended; reconnecting");
                netlink = loop {
                    tokio::time::sleep(RECONNECT_EVERY).await;
                    match Netlink::connect() {
                        Ok(netlink) => break netlink,
                        Err(error) => warn!(%error, "netlink reconnect failed; retrying"),
                    }
                };
                let _ = sender.send(Change::Missed);
            }
        });
        Ok(ChangeFeed {
            changes,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    /// The changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

/// The feed's task lives as long as some clone of the feed does.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
