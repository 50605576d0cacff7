//! One node's session with the engine: a task that keeps the node's lease
//! alive, takes and gives back the writer locks the controllers ask for,
//! and publishes what holds (a [`Snapshot`]) for them to act on.
//!
//! Keys, under the Cluster's prefix (default `/hareconcile/CLUSTER/`):
//!
//! ```text
//! nodes/NODE      the node's presence, under its lease
//! writer/LOCK     NODE, under its lease: who may write; created at the fencing token
//! term/NAME       a counter only the holder of a writer lock raises (replication terms)
//! ```
//!
//! Controllers ask with [`Quorum::want`]; they act only on what
//! [`Snapshot::token`] says *now*, since a token is worth something only
//! until the lease's fence time ([`crate::lease`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::endpoint::Endpoint;
use crate::etcd::{Acquired, AdvanceError, Client, Holder, Token};
use crate::lease::{LeaseClock, Standing};
use crate::tls::{TlsError, TlsFiles};

/// This node's sessions, one per Cluster that declares a quorum, by the
/// Cluster's name: the agent keeps them; controllers follow this.
pub type Sessions = watch::Receiver<BTreeMap<String, Quorum>>;

/// What a session needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub endpoints: Vec<Endpoint>,
    pub tls: Option<TlsFiles>,
    pub lease_ttl: Duration,
    /// Ends with `/`.
    pub prefix: String,
    /// This node's name: the value of its keys.
    pub node: String,
}

impl Config {
    /// The default prefix for a Cluster: its own directory.
    pub fn default_prefix(cluster: &str) -> String {
        format!("/hareconcile/{cluster}/")
    }

    pub fn writer_key(&self, lock: &str) -> String {
        format!("{}writer/{lock}", self.prefix)
    }

    fn writers(&self) -> String {
        format!("{}writer/", self.prefix)
    }

    pub fn term_key(&self, name: &str) -> String {
        format!("{}term/{name}", self.prefix)
    }

    pub fn node_key(&self, node: &str) -> String {
        format!("{}nodes/{node}", self.prefix)
    }
}

/// The lease this node holds, as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseView {
    pub id: i64,
    pub clock: LeaseClock,
}

/// What the session knows, as of its last exchange with the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Whether the last call got an answer from a member with a leader.
    pub reachable: bool,
    pub lease: Option<LeaseView>,
    /// The writer locks this node holds under `lease`, by name.
    pub held: BTreeMap<String, Token>,
    /// Every writer lock as the engine last listed it, by name.
    pub holders: BTreeMap<String, Holder>,
    /// The nodes with a lease (their presence key), as last listed.
    pub nodes: BTreeSet<String>,
    /// The last failure talking to the engine, until a call succeeds.
    pub error: Option<String>,
}

impl Snapshot {
    pub fn standing(&self, now: Instant) -> Standing {
        self.lease
            .map_or(Standing::Expired, |lease| lease.clock.standing(now))
    }

    /// The fencing token of `lock` if this node holds it and may act on
    /// it at `now`: held, and the lease not yet at its fence time.
    pub fn token(&self, lock: &str, now: Instant) -> Option<Token> {
        match self.standing(now) {
            Standing::Holding { .. } => self.held.get(lock).copied(),
            Standing::Fencing { .. } | Standing::Expired => None,
        }
    }

    /// How long the lease is known alive from `now`.
    pub fn lease_remaining(&self, now: Instant) -> Option<Duration> {
        self.lease
            .map(|lease| lease.clock.valid_until().saturating_duration_since(now))
    }

    /// What a watcher reacts to; the lease's deadline moves with every
    /// renewal and is read when needed, not notified.
    fn signature(&self, now: Instant) -> Signature<'_> {
        Signature {
            reachable: self.reachable,
            phase: Phase::of(self.standing(now)),
            held: &self.held,
            holders: &self.holders,
            nodes: &self.nodes,
            failing: self.error.is_some(),
        }
    }
}

/// See [`Snapshot::signature`].
#[derive(PartialEq, Eq)]
struct Signature<'a> {
    reachable: bool,
    phase: Phase,
    held: &'a BTreeMap<String, Token>,
    holders: &'a BTreeMap<String, Holder>,
    nodes: &'a BTreeSet<String>,
    failing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Holding,
    Fencing,
    Expired,
}

impl Phase {
    fn of(standing: Standing) -> Phase {
        match standing {
            Standing::Holding { .. } => Phase::Holding,
            Standing::Fencing { .. } => Phase::Fencing,
            Standing::Expired => Phase::Expired,
        }
    }
}

struct Shared {
    config: Config,
    client: Client,
    snapshot: watch::Sender<Snapshot>,
    wanted: Mutex<BTreeSet<String>>,
    wake: Notify,
}

/// The handle controllers share; the session ends when the last one is
/// dropped (its lease then expires by itself) or on [`Quorum::close`].
#[derive(Clone)]
pub struct Quorum {
    shared: Arc<Shared>,
    tasks: Arc<TaskGuard>,
}

/// The session's tasks, stopped with the last handle.
struct TaskGuard(Vec<JoinHandle<()>>);

impl TaskGuard {
    fn stop(&self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Quorum {
    /// Starts the session. Fails only on unreadable TLS files: an engine
    /// that does not answer yet is what the session waits out.
    pub fn start(config: Config) -> Result<Quorum, TlsError> {
        let tls = config.tls.as_ref().map(TlsFiles::connector).transpose()?;
        let shared = Arc::new(Shared {
            client: Client::new(config.endpoints.clone(), tls),
            config,
            snapshot: watch::channel(Snapshot::default()).0,
            wanted: Mutex::new(BTreeSet::new()),
            wake: Notify::new(),
        });
        let tasks = vec![
            tokio::spawn(run(Arc::clone(&shared))),
            tokio::spawn(announce_phases(Arc::clone(&shared))),
        ];
        Ok(Quorum {
            shared,
            tasks: Arc::new(TaskGuard(tasks)),
        })
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Whether both handles are the same session (not merely alike).
    pub fn same_session(&self, other: &Quorum) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot.borrow().clone()
    }

    /// Changes of what holds: reachability, phase (holding, fencing,
    /// expired: the session wakes at each deadline to say so), locks.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.shared.snapshot.subscribe()
    }

    /// Asks for the writer lock `lock` (or to give it back). Taking it
    /// waits until nobody else holds it; giving it back deletes it at once.
    pub fn want(&self, lock: &str, wanted: bool) {
        let mut set = self.shared.wanted.lock().unwrap_or_else(|e| e.into_inner());
        let changed = if wanted {
            set.insert(lock.to_string())
        } else {
            set.remove(lock)
        };
        drop(set);
        if changed {
            self.shared.wake.notify_one();
        }
    }

    /// Raises the counter `name` above its current value and to at least
    /// `at_least`, as holder of `lock` with the token this node holds now.
    pub async fn advance(
        &self,
        name: &str,
        lock: &str,
        at_least: u64,
    ) -> Result<u64, AdvanceError> {
        let config = &self.shared.config;
        let key = config.writer_key(lock);
        let Some(token) = self.snapshot().token(lock, Instant::now()) else {
            return Err(AdvanceError::NotHolder {
                lock: key,
                token: 0,
            });
        };
        let deadline = self.deadline();
        self.shared
            .client
            .advance(&config.term_key(name), (&key, token), at_least, deadline)
            .await
    }

    fn deadline(&self) -> Duration {
        call_deadline(&self.shared.config, &self.snapshot())
    }

    /// Ends the session and revokes its lease, so the locks it held are
    /// free at once instead of after the TTL (an agent stopping cleanly).
    pub async fn close(self) {
        self.tasks.stop();
        let lease = self.snapshot().lease;
        if let Some(lease) = lease {
            let deadline = self.deadline();
            if let Err(e) = self.shared.client.revoke(lease.id, deadline).await {
                warn!(error = %e, "quorum: could not revoke the lease; it expires by itself");
            }
        }
    }
}

/// Every call must end before the next renewal is due.
fn call_deadline(config: &Config, snapshot: &Snapshot) -> Duration {
    let ttl = snapshot
        .lease
        .map_or(config.lease_ttl, |lease| lease.clock.ttl());
    LeaseClock::granted(Instant::now(), ttl).renew_every()
}

async fn run(shared: Arc<Shared>) {
    let config = &shared.config;
    let client = &shared.client;
    let mut next_renewal = Instant::now();
    loop {
        let now = Instant::now();
        let mut snapshot = shared.snapshot.borrow().clone();
        let deadline = call_deadline(config, &snapshot);
        if now >= next_renewal {
            next_renewal = now + deadline;
            renew(config, client, &mut snapshot, deadline).await;
        }
        // Unanswered, the other calls would only wait out their deadlines.
        if snapshot.lease.is_some() && snapshot.reachable {
            settle_locks(&shared, &mut snapshot, deadline).await;
        }
        let now = Instant::now();
        shared.snapshot.send_if_modified(|current| {
            let notify = current.signature(now) != snapshot.signature(now);
            *current = snapshot.clone();
            notify
        });
        tokio::select! {
            _ = tokio::time::sleep_until(next_renewal) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

/// Tells watchers when the lease reaches its fence time and its end. A
/// task of its own: the session may be waiting on a silent engine just
/// then, and fencing must start on time, not after that call's deadline.
async fn announce_phases(shared: Arc<Shared>) {
    let mut snapshots = shared.snapshot.subscribe();
    loop {
        let now = Instant::now();
        let next = snapshots.borrow_and_update().lease.and_then(|lease| {
            [lease.clock.fence_at(), lease.clock.valid_until()]
                .into_iter()
                .find(|moment| *moment > now)
        });
        let due = async {
            match next {
                Some(moment) => tokio::time::sleep_until(moment).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Nothing to change: readers compute the phase from the time.
            _ = due => shared.snapshot.send_modify(|_| {}),
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Grants a lease if there is none, else renews it.
async fn renew(config: &Config, client: &Client, snapshot: &mut Snapshot, deadline: Duration) {
    let sent = Instant::now();
    match snapshot.lease {
        None => match client.grant(config.lease_ttl, deadline).await {
            Ok(lease) => {
                info!(lease = lease.id, ttl = ?lease.ttl, "quorum: lease granted");
                snapshot.lease = Some(LeaseView {
                    id: lease.id,
                    clock: LeaseClock::granted(sent, lease.ttl),
                });
                answered(snapshot);
                // Presence, for `status`; the lease matters, not this key.
                let key = config.node_key(&config.node);
                if let Err(e) = client.put(&key, &config.node, lease.id, deadline).await {
                    debug!(error = %e, "quorum: presence key not written");
                }
            }
            Err(e) => unanswered(snapshot, e.to_string()),
        },
        Some(mut lease) => match client.keep_alive(lease.id, deadline).await {
            Ok(Some(ttl)) => {
                lease.clock.renewed(sent, ttl);
                snapshot.lease = Some(lease);
                answered(snapshot);
            }
            Ok(None) => {
                warn!(
                    lease = lease.id,
                    "quorum: the lease expired in the engine; the locks under it are gone"
                );
                snapshot.lease = None;
                snapshot.held.clear();
                answered(snapshot);
            }
            Err(e) => unanswered(snapshot, e.to_string()),
        },
    }
}

fn answered(snapshot: &mut Snapshot) {
    snapshot.reachable = true;
    snapshot.error = None;
}

fn unanswered(snapshot: &mut Snapshot, error: String) {
    if snapshot.error.as_deref() != Some(error.as_str()) {
        warn!(%error, "quorum: the engine did not answer");
    }
    snapshot.reachable = false;
    snapshot.error = Some(error);
}

/// Takes the wanted locks nobody holds, gives back the unwanted ones,
/// and lists who holds what.
async fn settle_locks(shared: &Shared, snapshot: &mut Snapshot, deadline: Duration) {
    let config = &shared.config;
    let client = &shared.client;
    let Some(lease) = snapshot.lease else {
        return;
    };
    let wanted = shared
        .wanted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let unwanted: Vec<(String, Token)> = snapshot
        .held
        .iter()
        .filter(|(lock, _)| !wanted.contains(*lock))
        .map(|(lock, token)| (lock.clone(), *token))
        .collect();
    for (lock, token) in unwanted {
        match client
            .release(&config.writer_key(&lock), token, deadline)
            .await
        {
            Ok(_) => {
                info!(%lock, token, "quorum: writer lock released");
                snapshot.held.remove(&lock);
            }
            Err(e) => unanswered(snapshot, e.to_string()),
        }
    }
    // Only a node that may act takes a lock: one fencing itself must not.
    let holding = matches!(snapshot.standing(Instant::now()), Standing::Holding { .. });
    let missing: Vec<String> = wanted
        .into_iter()
        .filter(|lock| holding && !snapshot.held.contains_key(lock))
        .collect();
    for lock in missing {
        match client
            .acquire(&config.writer_key(&lock), &config.node, lease.id, deadline)
            .await
        {
            Ok(Acquired::Held(token)) => {
                info!(%lock, token, "quorum: writer lock taken");
                snapshot.held.insert(lock, token);
            }
            Ok(Acquired::Busy(holder)) => {
                debug!(%lock, holder = %holder.value, "quorum: writer lock busy");
            }
            Err(e) => unanswered(snapshot, e.to_string()),
        }
    }
    match client.list(&config.writers(), deadline).await {
        Ok(listed) => {
            let prefix = config.writers();
            snapshot.holders = listed
                .into_iter()
                .filter_map(|(key, holder)| Some((key.strip_prefix(&prefix)?.to_string(), holder)))
                .collect();
            // A lock this node held but the engine no longer lists went
            // with an expired lease: it is not held.
            snapshot.held.retain(|lock, token| {
                snapshot
                    .holders
                    .get(lock)
                    .is_some_and(|h| h.token == *token)
            });
        }
        Err(e) => unanswered(snapshot, e.to_string()),
    }
    let nodes = config.node_key("");
    match client.list(&nodes, deadline).await {
        Ok(listed) => {
            snapshot.nodes = listed
                .into_iter()
                .filter_map(|(key, _)| Some(key.strip_prefix(&nodes)?.to_string()))
                .collect();
        }
        Err(e) => unanswered(snapshot, e.to_string()),
    }
}
