//! The writer lock of a fenced VirtualIP (`docs/quorum.md`), as one more
//! tracked check: this node may be a candidate for master only while it
//! holds the VirtualIP's writer lock under a lease short of its fence
//! time. Otherwise the check faults the instance, so no special case
//! enters the VRRP core: a master that loses quorum gives its VIPs up at
//! the lease's fence time (self-fencing, with half a TTL to spare before
//! another node may take the lock), and a node whose peer holds the lock
//! stays out of the election instead of taking the VIP on a partition.
//!
//! The lock stays with its holder, not with priorities: every node wants
//! it and the one that has it keeps it until it loses quorum, stops, is
//! put in maintenance, or a switchover names another node that is up —
//! then it gives the lock back and the other node's instance leaves Fault
//! and takes over. A higher-priority node that comes back does not preempt
//! by itself: a switchover moves the VIP back.

use std::sync::{Arc, Mutex};

use hareconcile_quorum::{Quorum, Sessions, Snapshot, Standing};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::core::tracking::{Check, Source, Tracked};

/// How a fenced VirtualIP's trackers use the Cluster's quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fencing {
    /// The Cluster whose session holds the lock.
    pub cluster: String,
    /// `control.forceBackup` names this node: it never keeps the lock.
    pub maintenance: bool,
    /// `control.switchoverTo` names another node: this node gives the lock
    /// up while that node holds a lease (is up), so the VIP can move there.
    pub switchover_to: Option<String>,
}

impl Fencing {
    /// Why this node gives the lock up although it could keep it, if it does.
    fn yields(&self, snapshot: &Snapshot) -> Option<String> {
        if self.maintenance {
            return Some("maintenance (control.forceBackup)".to_string());
        }
        self.switchover_to
            .as_ref()
            .filter(|to| snapshot.nodes.contains(*to))
            .map(|to| format!("switchover to {to}"))
    }
}

/// The check's name in faults and status.
const NAME: &str = "writer lock";

/// What the writer lock says about this node at `now`.
pub fn writer_check(vip: &str, fencing: &Fencing, snapshot: &Snapshot, now: Instant) -> Check {
    let failure = if let Some(why) = fencing.yields(snapshot) {
        Some(format!("given back: {why}"))
    } else {
        match snapshot.standing(now) {
            Standing::Holding { .. } if snapshot.token(vip, now).is_some() => None,
            Standing::Holding { .. } => Some(match snapshot.holders.get(vip) {
                Some(holder) => {
                    format!("held by {} (fencing token {})", holder.value, holder.token)
                }
                None => "waiting for the engine to grant it".to_string(),
            }),
            Standing::Fencing { .. } => Some(no_quorum("lease at its fence time", snapshot)),
            Standing::Expired if snapshot.lease.is_some() => {
                Some(no_quorum("lease over", snapshot))
            }
            Standing::Expired => Some(no_quorum("no lease", snapshot)),
        }
    };
    Check {
        source: Source::Quorum,
        name: NAME.to_string(),
        weight: 0,
        healthy: failure.is_none(),
        detail: failure.unwrap_or_default(),
    }
}

fn no_quorum(what: &str, snapshot: &Snapshot) -> String {
    match &snapshot.error {
        Some(error) => format!("no quorum ({what}): {error}"),
        None => format!("no quorum ({what})"),
    }
}

/// The session a fenced VirtualIP asked for its lock, so that stopping its
/// trackers gives the lock back at once (before another instance of the
/// same VirtualIP may ask again), not whenever an aborted task is dropped.
#[derive(Clone, Default)]
pub struct Wanted(Arc<Mutex<Option<(Quorum, String)>>>);

impl Wanted {
    fn set(&self, session: Option<(&Quorum, &str)>) {
        let mut current = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let unchanged = match (current.as_ref(), session) {
            (Some((old, old_lock)), Some((new, lock))) => old.same_session(new) && old_lock == lock,
            (None, None) => true,
            _ => false,
        };
        // Giving the lock back and asking again could lose it between.
        if unchanged {
            return;
        }
        if let Some((old, lock)) = current.take() {
            old.want(&lock, false);
        }
        if let Some((quorum, lock)) = session {
            quorum.want(lock, true);
            *current = Some((quorum.clone(), lock.to_string()));
        }
    }

    pub fn give_back(&self) {
        self.set(None);
    }
}

/// Follows the Cluster's session (started, restarted or gone with the
/// Cluster) and publishes the writer check of `vip` at every change of the
/// session's snapshot, its lease phases included.
pub async fn follow(
    vip: String,
    fencing: Fencing,
    mut sessions: Sessions,
    wanted: Wanted,
    tracked: watch::Sender<Tracked>,
) {
    loop {
        let session = sessions.borrow_and_update().get(&fencing.cluster).cloned();
        let Some(quorum) = session else {
            wanted.give_back();
            let mut check = writer_check(&vip, &fencing, &Snapshot::default(), Instant::now());
            check.detail = format!(
                "no quorum: no session with Cluster {}'s engine yet",
                fencing.cluster
            );
            publish(&tracked, check, None);
            if sessions.changed().await.is_err() {
                // The agent is stopping: nothing will change again.
                std::future::pending::<()>().await;
            }
            continue;
        };
        let mut snapshots = quorum.subscribe();
        loop {
            let snapshot = snapshots.borrow_and_update().clone();
            match fencing.yields(&snapshot) {
                None => wanted.set(Some((&quorum, &vip))),
                Some(_) => wanted.give_back(),
            }
            let now = Instant::now();
            let holder = holder_elsewhere(&vip, &fencing, &snapshot, now);
            publish(
                &tracked,
                writer_check(&vip, &fencing, &snapshot, now),
                holder,
            );
            tokio::select! {
                alive = snapshots.changed() => if alive.is_err() { break },
                _ = sessions.changed() => break,
            }
        }
    }
}

fn publish(tracked: &watch::Sender<Tracked>, check: Check, holder: Option<String>) {
    tracked.send_if_modified(|t| {
        let changed = t.writer.as_ref() != Some(&check) || t.lock_holder != holder;
        t.writer = Some(check);
        t.lock_holder = holder;
        changed
    });
}

/// The other node holding `vip`'s lock while this one could hold it (a
/// lease, not giving it up): this node then merely stands by.
fn holder_elsewhere(
    vip: &str,
    fencing: &Fencing,
    snapshot: &Snapshot,
    now: Instant,
) -> Option<String> {
    let holding = matches!(snapshot.standing(now), Standing::Holding { .. });
    let holder = snapshot.holders.get(vip)?;
    let elsewhere = snapshot.token(vip, now).is_none() && !snapshot.held.contains_key(vip);
    (holding && elsewhere && fencing.yields(snapshot).is_none()).then(|| holder.value.clone())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hareconcile_quorum::{Holder, LeaseClock, LeaseView};

    use super::*;

    fn fencing() -> Fencing {
        Fencing {
            cluster: "home".into(),
            maintenance: false,
            switchover_to: None,
        }
    }

    fn leased(granted: Instant) -> Snapshot {
        Snapshot {
            reachable: true,
            lease: Some(LeaseView {
                id: 7,
                clock: LeaseClock::granted(granted, Duration::from_secs(6)),
            }),
            ..Snapshot::default()
        }
    }

    fn holder(node: &str, token: i64) -> Holder {
        Holder {
            value: node.into(),
            token,
            modified: token,
            lease: 7,
        }
    }

    #[test]
    fn only_the_holder_short_of_its_fence_time_is_a_candidate() {
        let t0 = Instant::now();
        let mut snapshot = leased(t0);
        let check = |s: &Snapshot, at| writer_check("web", &fencing(), s, at);

        let waiting = check(&snapshot, t0);
        assert!(!waiting.healthy);
        assert_eq!(waiting.weight, 0, "a failing weight-0 check faults");
        assert_eq!(waiting.source, Source::Quorum);
        assert_eq!(waiting.detail, "waiting for the engine to grant it");

        snapshot.holders.insert("web".into(), holder("n2", 41));
        assert_eq!(check(&snapshot, t0).detail, "held by n2 (fencing token 41)");
        assert_eq!(
            holder_elsewhere("web", &fencing(), &snapshot, t0).as_deref(),
            Some("n2"),
            "with a lease, only the lock keeps this node out: it stands by"
        );
        assert_eq!(
            holder_elsewhere("web", &fencing(), &snapshot, t0 + Duration::from_secs(3)),
            None,
            "without quorum it does not stand by: it is fenced"
        );

        snapshot.holders.insert("web".into(), holder("n1", 42));
        snapshot.held.insert("web".into(), 42);
        assert!(check(&snapshot, t0).healthy);
        assert!(check(&snapshot, t0 + Duration::from_millis(2_999)).healthy);

        // From the fence time on (half the TTL after the last renewal was
        // sent), the holder stops being a candidate: its master steps down.
        let fencing_now = check(&snapshot, t0 + Duration::from_secs(3));
        assert!(!fencing_now.healthy);
        assert_eq!(fencing_now.detail, "no quorum (lease at its fence time)");
        snapshot.error = Some("no member answered".into());
        assert_eq!(
            check(&snapshot, t0 + Duration::from_secs(6)).detail,
            "no quorum (lease over): no member answered"
        );
        assert_eq!(
            check(&Snapshot::default(), t0).detail,
            "no quorum (no lease)"
        );
    }

    #[test]
    fn a_switchover_gives_the_lock_up_only_to_a_node_that_is_up() {
        let t0 = Instant::now();
        let mut snapshot = leased(t0);
        snapshot.held.insert("web".into(), 42);
        let to_n2 = Fencing {
            switchover_to: Some("n2".into()),
            ..fencing()
        };
        assert!(
            writer_check("web", &to_n2, &snapshot, t0).healthy,
            "n2 has no lease: a switchover to a node that is down keeps the VIP here"
        );
        snapshot.nodes.insert("n2".into());
        let check = writer_check("web", &to_n2, &snapshot, t0);
        assert!(!check.healthy);
        assert_eq!(check.detail, "given back: switchover to n2");
        let maintenance = Fencing {
            maintenance: true,
            ..fencing()
        };
        assert_eq!(
            writer_check("web", &maintenance, &leased(t0), t0).detail,
            "given back: maintenance (control.forceBackup)"
        );
    }
}
