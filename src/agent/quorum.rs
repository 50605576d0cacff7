//! This node's quorum sessions: one per Cluster that lists the node and
//! declares `spec.quorum`, started, restarted when the declaration changes
//! and closed when it goes, and published for the controllers
//! ([`hareconcile_quorum::Sessions`]) — `docs/quorum.md`. What each session
//! knows goes into its Cluster's status (`quorum`, for `status` and
//! `/metrics`), and its turns into events.

use std::collections::BTreeMap;
use std::time::SystemTime;

use hareconcile_model::status::{LeaseStanding, QuorumSeen};
use hareconcile_model::{ClusterSpec, ClusterStatus, EtcdQuorum, Kind, ObjectKey};
use hareconcile_quorum::{Config, Endpoint, Quorum, Sessions, Snapshot, Standing, TlsFiles};
use hareconcile_runtime::{EventType, Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

/// The sessions and the task keeping them in step with the store.
pub struct Keeper {
    sessions: watch::Sender<BTreeMap<String, Quorum>>,
    task: JoinHandle<()>,
}

impl Keeper {
    pub fn start(store: Store, node: String) -> Keeper {
        let (sessions, _) = watch::channel(BTreeMap::new());
        let task = tokio::spawn(follow(store, node, sessions.clone()));
        Keeper { sessions, task }
    }

    pub fn sessions(&self) -> Sessions {
        self.sessions.subscribe()
    }

    /// Ends every session and revokes its lease, so the writer locks are
    /// free at once: only once this node's fenced Services have stopped.
    pub async fn close(self) {
        self.task.abort();
        let sessions = self.sessions.send_replace(BTreeMap::new());
        for (cluster, quorum) in sessions {
            info!(%cluster, "quorum: closing the session");
            quorum.close().await;
        }
    }
}

/// The session config `cluster` (named `name`) asks of node `node`, or why
/// none can be made; `None` when the Cluster declares no quorum or does not
/// list the node.
pub fn session_config(
    name: &str,
    cluster: &ClusterSpec,
    node: &str,
) -> Option<Result<Config, String>> {
    let etcd = &cluster.quorum.as_ref()?.etcd;
    cluster.node(node)?;
    Some(etcd_config(name, etcd, node))
}

fn etcd_config(name: &str, etcd: &EtcdQuorum, node: &str) -> Result<Config, String> {
    let endpoints = etcd
        .endpoints
        .iter()
        .map(|url| url.parse::<Endpoint>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let tls = etcd.tls.as_ref().map(|tls| TlsFiles {
        ca_file: tls.ca_file.clone(),
        client: tls.cert_file.clone().zip(tls.key_file.clone()),
    });
    Ok(Config {
        endpoints,
        tls,
        lease_ttl: etcd.lease_ttl.as_std(),
        prefix: etcd.prefix_for(name),
        node: node.to_string(),
    })
}

/// Why a Cluster's quorum cannot be used, said once per new reason: the
/// Clusters are listed again at every change of any of them.
#[derive(Default)]
struct Unusable(BTreeMap<ObjectKey, String>);

impl Unusable {
    fn say(&mut self, store: &Store, cluster: &ObjectKey, why: String) {
        if self.0.get(cluster) == Some(&why) {
            return;
        }
        warn!(cluster = %cluster.name, error = %why, "quorum: no session");
        store.record_event(cluster, EventType::Warning, "QuorumUnusable", &why);
        self.0.insert(cluster.clone(), why);
    }
}

/// A session's reporter task, stopped with it.
struct Reporter(JoinHandle<()>);

impl Drop for Reporter {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn follow(store: Store, node: String, sessions: watch::Sender<BTreeMap<String, Quorum>>) {
    let mut reporters: BTreeMap<String, Reporter> = BTreeMap::new();
    let mut unusable = Unusable::default();
    loop {
        let (clusters, version) = store.list(Some(Kind::Cluster));
        let mut wanted = BTreeMap::new();
        for object in &clusters {
            let name = &object.metadata.name;
            let Ok(spec) = object.spec_as::<ClusterSpec>() else {
                continue;
            };
            match session_config(name, &spec, &node) {
                None => {}
                Some(Ok(config)) => {
                    wanted.insert(name.clone(), (object.key(), config));
                }
                Some(Err(error)) => {
                    let why = format!("spec.quorum cannot be used: {error}");
                    unusable.say(&store, &object.key(), why);
                }
            }
        }
        let current = sessions.borrow().clone();
        let mut next = BTreeMap::new();
        for (name, (key, config)) in wanted {
            match current.get(&name) {
                Some(quorum) if *quorum.config() == config => {
                    next.insert(name, quorum.clone());
                }
                _ => match Quorum::start(config) {
                    Ok(quorum) => {
                        info!(cluster = %name, "quorum: session started");
                        let task = tokio::spawn(report(store.clone(), key, quorum.subscribe()));
                        reporters.insert(name.clone(), Reporter(task));
                        next.insert(name, quorum);
                    }
                    Err(error) => {
                        unusable.say(&store, &key, format!("spec.quorum.etcd.tls: {error}"));
                    }
                },
            }
        }
        let replaced: Vec<Quorum> = current
            .iter()
            .filter(|(name, quorum)| next.get(*name).is_none_or(|q| !q.same_session(quorum)))
            .map(|(_, quorum)| quorum.clone())
            .collect();
        reporters.retain(|name, _| next.contains_key(name));
        sessions.send_replace(next);
        for quorum in replaced {
            quorum.close().await;
        }
        let Ok(mut watcher) = store.watch(Some(Kind::Cluster), version) else {
            continue;
        };
        // Expired: changes were missed; list again.
        let _ = watcher.next().await;
    }
}

/// Writes what the session knows into the Cluster's status at each
/// change, and records the turns people look for as events.
async fn report(store: Store, cluster: ObjectKey, mut snapshots: watch::Receiver<Snapshot>) {
    let mut before = Snapshot::default();
    // As judged when `before` was reported: a phase changes with time alone.
    let mut was = LeaseStanding::Expired;
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        let now = Instant::now();
        for (type_, reason, message) in turns(&before, was, &snapshot, now) {
            store.record_event(&cluster, type_, reason, &message);
        }
        let seen = seen(&snapshot, now, SystemTime::now());
        was = seen.lease;
        let written = store.update_status(&cluster, |s| {
            let mut details: ClusterStatus = s.details_as().unwrap_or_default();
            details.quorum = Some(seen);
            s.set_details(&details);
        });
        if let Err(e) = written {
            if !matches!(e, StoreError::NotFound(_)) {
                warn!(error = %e, "quorum: status not written");
            }
        }
        before = snapshot;
        if snapshots.changed().await.is_err() {
            return;
        }
    }
}

/// The snapshot as the Cluster's status says it, deadlines on the wall clock.
fn seen(snapshot: &Snapshot, now: Instant, wall: SystemTime) -> QuorumSeen {
    let valid_until = snapshot.lease.map(|lease| {
        let left = lease.clock.valid_until().saturating_duration_since(now);
        OffsetDateTime::from(wall + left)
    });
    QuorumSeen {
        reachable: snapshot.reachable,
        lease: phase(snapshot.standing(now)),
        lease_valid_until: valid_until,
        lease_ttl_seconds: snapshot.lease.map_or(0, |l| l.clock.ttl().as_secs()),
        held: snapshot.held.clone(),
        holders: snapshot
            .holders
            .iter()
            .map(|(lock, holder)| (lock.clone(), holder.value.clone()))
            .collect(),
        nodes: snapshot.nodes.iter().cloned().collect(),
        error: snapshot.error.clone(),
    }
}

fn phase(standing: Standing) -> LeaseStanding {
    match standing {
        Standing::Holding { .. } => LeaseStanding::Holding,
        Standing::Fencing { .. } => LeaseStanding::Fencing,
        Standing::Expired => LeaseStanding::Expired,
    }
}

/// The events between two snapshots: the lease acquired, lost (the engine
/// unanswered), at its fence time, over; writer locks taken and lost.
fn turns(
    before: &Snapshot,
    was: LeaseStanding,
    after: &Snapshot,
    now: Instant,
) -> Vec<(EventType, &'static str, String)> {
    let mut out = Vec::new();
    match (before.lease.map(|l| l.id), after.lease.map(|l| l.id)) {
        (old, Some(id)) if old != Some(id) => out.push((
            EventType::Normal,
            "LeaseAcquired",
            format!("quorum: lease {id:x} granted: this node may act as writer"),
        )),
        _ => {}
    }
    if before.reachable && !after.reachable {
        out.push((
            EventType::Warning,
            "LeaseLost",
            format!(
                "quorum: the engine does not answer ({}): the lease is no longer renewed",
                after.error.as_deref().unwrap_or("no answer")
            ),
        ));
    }
    match (was, phase(after.standing(now))) {
        (LeaseStanding::Holding, LeaseStanding::Fencing) => out.push((
            EventType::Warning,
            "Fenced",
            "quorum: the lease reached its fence time: fenced VirtualIPs are given up and \
             their exclusive Services stopped"
                .to_string(),
        )),
        (old, LeaseStanding::Expired) if old != LeaseStanding::Expired => out.push((
            EventType::Warning,
            "LeaseExpired",
            "quorum: the lease may have expired: another node may hold the writer locks now"
                .to_string(),
        )),
        _ => {}
    }
    for (lock, token) in &after.held {
        if before.held.get(lock) != Some(token) {
            out.push((
                EventType::Normal,
                "WriterLockAcquired",
                format!("quorum: writer lock of {lock} taken, fencing token {token}"),
            ));
        }
    }
    for (lock, token) in &before.held {
        if after.held.get(lock) != Some(token) {
            out.push((
                EventType::Normal,
                "WriterLockReleased",
                format!("quorum: writer lock of {lock} (fencing token {token}) no longer held"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn cluster(quorum: serde_json::Value) -> ClusterSpec {
        serde_json::from_value(json!({
            "nodes": [{"name": "n1", "address": "10.77.0.1"}, {"name": "n2", "address": "10.77.0.2"}],
            "quorum": quorum,
        }))
        .unwrap()
    }

    #[test]
    fn a_session_for_each_cluster_that_declares_a_quorum_and_lists_the_node() {
        let spec = cluster(json!({"etcd": {
            "endpoints": ["http://10.77.0.1:2379", "http://10.77.0.3:2379"],
            "leaseTTL": "4s"}}));
        let config = session_config("home", &spec, "n1").unwrap().unwrap();
        assert_eq!(config.endpoints.len(), 2);
        assert_eq!(config.lease_ttl, Duration::from_secs(4));
        assert_eq!(config.prefix, "/hareconcile/home/");
        assert_eq!(config.node, "n1");
        assert_eq!(config.tls, None);
        assert!(
            session_config("home", &spec, "n9").is_none(),
            "not a member"
        );
        let plain: ClusterSpec =
            serde_json::from_value(json!({"nodes": [{"name": "n1", "address": "10.77.0.1"}]}))
                .unwrap();
        assert!(session_config("home", &plain, "n1").is_none());
    }

    #[test]
    fn events_for_the_lease_acquired_lost_fenced_over_and_the_locks() {
        use hareconcile_quorum::{LeaseClock, LeaseView};
        let t0 = Instant::now();
        let ttl = Duration::from_secs(6);
        let reasons = |before: &Snapshot, was, after: &Snapshot, at| -> Vec<&'static str> {
            turns(before, was, after, at)
                .into_iter()
                .map(|(_, r, _)| r)
                .collect()
        };
        use LeaseStanding::{Expired, Fencing, Holding};
        let none = Snapshot::default();
        let mut held = Snapshot {
            reachable: true,
            lease: Some(LeaseView {
                id: 0x2a,
                clock: LeaseClock::granted(t0, ttl),
            }),
            ..Snapshot::default()
        };
        held.held.insert("web".into(), 42);
        assert_eq!(
            reasons(&none, Expired, &held, t0),
            ["LeaseAcquired", "WriterLockAcquired"]
        );
        let cut_off = Snapshot {
            reachable: false,
            error: Some("no member answered".into()),
            ..held.clone()
        };
        assert_eq!(reasons(&held, Holding, &cut_off, t0), ["LeaseLost"]);
        // The same snapshot announced again at the fence time: time alone
        // changed the phase.
        let at_fence = t0 + Duration::from_secs(3);
        assert_eq!(reasons(&cut_off, Holding, &cut_off, at_fence), ["Fenced"]);
        assert!(reasons(&cut_off, Fencing, &cut_off, at_fence).is_empty());
        let mut lost = cut_off.clone();
        lost.lease = None;
        lost.held.clear();
        assert_eq!(
            reasons(&cut_off, Fencing, &lost, at_fence),
            ["LeaseExpired", "WriterLockReleased"]
        );
        let seen = seen(&held, t0, SystemTime::UNIX_EPOCH);
        assert_eq!(seen.lease, LeaseStanding::Holding);
        assert_eq!(seen.lease_ttl_seconds, 6);
        assert_eq!(
            seen.lease_valid_until,
            Some(OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(6))
        );
    }

    #[test]
    fn tls_files_and_a_prefix_are_taken_as_declared() {
        let spec = cluster(json!({"etcd": {
            "endpoints": ["https://10.77.0.3:2379"],
            "prefix": "/ha/",
            "tls": {"caFile": "/etc/ca.crt", "certFile": "/etc/n1.crt", "keyFile": "/etc/n1.key"}}}));
        let config = session_config("home", &spec, "n2").unwrap().unwrap();
        assert_eq!(config.prefix, "/ha/");
        let tls = config.tls.unwrap();
        assert_eq!(tls.ca_file, std::path::Path::new("/etc/ca.crt"));
        assert!(tls.client.is_some());
    }
}
