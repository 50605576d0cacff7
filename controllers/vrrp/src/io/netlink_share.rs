//! The agent's netlink, shared: one request connection and one feed of
//! address and link changes for every VirtualIP instance. A connection per
//! instance held about 74 KiB of netlink-proto's fixed buffers each, most
//! of an agent's memory with a hundred VirtualIPs. The reconciles' reads
//! of the host's addresses share the last dump while the feed has seen no
//! address change since.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, Mutex};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::io::addresses::{AddressError, Change, Netlink};

/// Changes kept for an instance that has not read them yet; one that
/// falls further behind is told it missed some ([`Change::Missed`]).
const FEED_CAPACITY: usize = 1024;
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// Every address on the host with its interface's index, in the kernel's
/// order.
pub type AddressTable = Arc<[(u32, IpAddr)]>;

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

    /// The host's addresses as now. The last dump answers for as long as the
    /// feed has seen no address change since it was taken: the periodic
    /// resync reconciles every VirtualIP, and a hundred of them each
    /// dumping the host's addresses twice made a burst of 200 dumps of a
    /// hundred addresses every 30 s.
    pub async fn address_table(&self) -> Result<AddressTable, AddressError> {
        let addresses = &self.feed.addresses;
        let mut last = addresses.last_dump.lock().await;
        if let Some((version, table)) = last.as_ref() {
            if addresses.unchanged_since(*version) {
                return Ok(Arc::clone(table));
            }
        }
        // Read before the dump: a change the feed sees during it makes
        // the dump stale at once.
        let version = addresses.version.load(Ordering::SeqCst);
        let table: AddressTable = self.requests.address_table().await?.into();
        *last = Some((version, Arc::clone(&table)));
        Ok(table)
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
    addresses: Arc<AddressCache>,
    _task: Arc<AbortOnDrop>,
}

impl ChangeFeed {
    fn start() -> Result<ChangeFeed, AddressError> {
        let mut netlink = Netlink::connect()?;
        let (changes, _) = broadcast::channel(FEED_CAPACITY);
        let addresses = Arc::new(AddressCache::new());
        let sender = changes.clone();
        let cache = Arc::clone(&addresses);
        let task = tokio::spawn(async move {
            loop {
                while let Some(change) = netlink.next_change().await {
                    cache.saw(&change);
                    // Nobody subscribed is fine: instances come and go.
                    let _ = sender.send(change);
                }
                cache.unwatched();
                warn!("netlink notifications ended; reconnecting");
                netlink = loop {
                    tokio::time::sleep(RECONNECT_EVERY).await;
                    match Netlink::connect() {
                        Ok(netlink) => break netlink,
                        Err(error) => warn!(%error, "netlink reconnect failed; retrying"),
                    }
                };
                cache.watched_again();
                let _ = sender.send(Change::Missed);
            }
        });
        Ok(ChangeFeed {
            changes,
            addresses,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    /// The changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

/// Whether the host's addresses may have changed since a dump: the feed
/// counts every address change it sees, and every loss of changes.
struct AddressCache {
    version: AtomicU64,
    /// False while the feed is reconnecting: changes then go unseen.
    watched: AtomicBool,
    /// The last dump and the version it was taken at.
    last_dump: Mutex<Option<(u64, AddressTable)>>,
}

impl AddressCache {
    fn new() -> AddressCache {
        AddressCache {
            version: AtomicU64::new(0),
            watched: AtomicBool::new(true),
            last_dump: Mutex::new(None),
        }
    }

    fn saw(&self, change: &Change) {
        match change {
            Change::AddressAdded { .. } | Change::AddressRemoved { .. } | Change::Missed => {
                self.version.fetch_add(1, Ordering::SeqCst);
            }
            Change::Link { .. } => {}
        }
    }

    fn unwatched(&self) {
        self.watched.store(false, Ordering::SeqCst);
    }

    /// Changes made while unwatched outdate every earlier dump, so the
    /// version moves before dumps may be trusted again.
    fn watched_again(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
        self.watched.store(true, Ordering::SeqCst);
    }

    fn unchanged_since(&self, version: u64) -> bool {
        self.watched.load(Ordering::SeqCst) && self.version.load(Ordering::SeqCst) == version
    }
}

/// The feed's task lives as long as some clone of the feed does.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_holds_until_an_address_changes_or_changes_are_lost() {
        let cache = AddressCache::new();
        let taken = cache.version.load(Ordering::SeqCst);
        cache.saw(&Change::Link {
            index: 2,
            up: false,
        });
        assert!(cache.unchanged_since(taken), "links do not move addresses");
        let address = "10.77.0.100".parse().unwrap();
        cache.saw(&Change::AddressAdded { index: 2, address });
        assert!(!cache.unchanged_since(taken));
        let taken = cache.version.load(Ordering::SeqCst);
        cache.saw(&Change::AddressRemoved { index: 2, address });
        assert!(!cache.unchanged_since(taken));
        let taken = cache.version.load(Ordering::SeqCst);
        cache.saw(&Change::Missed);
        assert!(!cache.unchanged_since(taken));
    }

    #[test]
    fn no_dump_holds_while_the_feed_is_down_or_from_before() {
        let cache = AddressCache::new();
        let taken = cache.version.load(Ordering::SeqCst);
        cache.unwatched();
        assert!(!cache.unchanged_since(taken));
        let during = cache.version.load(Ordering::SeqCst);
        cache.watched_again();
        assert!(!cache.unchanged_since(taken));
        assert!(!cache.unchanged_since(during));
        let after = cache.version.load(Ordering::SeqCst);
        assert!(cache.unchanged_since(after));
    }
}
