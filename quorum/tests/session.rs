//! Two nodes' sessions against a real etcd: the writer lock moves only
//! when given back or when its holder's lease is over, and a node cut off
//! from the engine stops acting on its token before the other can take it.

mod support;

use std::time::Duration;

use hareconcile_quorum::{Config, Endpoint, Quorum, Snapshot, Standing};
use support::{etcd_available, Etcd, Relay};
use tokio::sync::watch;
use tokio::time::Instant;

const LOCK: &str = "web";

fn config(node: &str, endpoint: &Endpoint, ttl: Duration) -> Config {
    Config {
        endpoints: vec![endpoint.clone()],
        tls: None,
        lease_ttl: ttl,
        prefix: Config::default_prefix("test"),
        node: node.into(),
    }
}

/// Waits (on the session's own notifications) until `holds` is true of
/// its snapshot at the moment it is read; returns that moment.
async fn until(
    snapshots: &mut watch::Receiver<Snapshot>,
    what: &str,
    holds: impl Fn(&Snapshot, Instant) -> bool,
) -> Instant {
    let wait = async {
        loop {
            let now = Instant::now();
            if holds(&snapshots.borrow_and_update(), now) {
                return now;
            }
            snapshots.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("never: {what}"))
}

#[tokio::test]
async fn the_lock_moves_when_its_holder_gives_it_back() {
    if !etcd_available() {
        return;
    }
    let etcd = Etcd::start().await;
    let ttl = Duration::from_secs(6);
    let n1 = Quorum::start(config("n1", &etcd.endpoint, ttl)).unwrap();
    let n2 = Quorum::start(config("n2", &etcd.endpoint, ttl)).unwrap();
    let (mut s1, mut s2) = (n1.subscribe(), n2.subscribe());

    n1.want(LOCK, true);
    until(&mut s1, "n1 holds", |s, now| s.token(LOCK, now).is_some()).await;
    let first = n1.snapshot().token(LOCK, Instant::now()).unwrap();
    n2.want(LOCK, true);
    until(&mut s2, "n2 sees n1 holding", |s, _| {
        s.holders.get(LOCK).is_some_and(|h| h.value == "n1")
    })
    .await;
    assert_eq!(n2.snapshot().token(LOCK, Instant::now()), None);
    assert!(n2.snapshot().reachable);
    assert!(n2.snapshot().lease_remaining(Instant::now()).unwrap() > Duration::ZERO);

    n1.want(LOCK, false);
    until(&mut s2, "n2 holds", |s, now| s.token(LOCK, now).is_some()).await;
    let second = n2.snapshot().token(LOCK, Instant::now()).unwrap();
    assert!(second > first);
    assert_eq!(n1.snapshot().held.get(LOCK), None);

    // Counters advance only for the holder.
    assert_eq!(n2.advance("data", LOCK, 0).await, Ok(1));
    assert!(n1.advance("data", LOCK, 0).await.is_err());

    // An agent that stops cleanly frees its locks at once.
    n2.close().await;
    n1.want(LOCK, true);
    until(&mut s1, "n1 holds again", |s, now| {
        s.token(LOCK, now).is_some()
    })
    .await;
}

#[tokio::test]
async fn a_node_cut_off_from_the_engine_fences_before_the_other_takes_over() {
    if !etcd_available() {
        return;
    }
    let etcd = Etcd::start().await;
    let relay = Relay::to(&etcd.endpoint).await;
    let ttl = Duration::from_secs(3);
    let n1 = Quorum::start(config("n1", &relay.endpoint, ttl)).unwrap();
    let n2 = Quorum::start(config("n2", &etcd.endpoint, ttl)).unwrap();
    let (mut s1, mut s2) = (n1.subscribe(), n2.subscribe());
    n1.want(LOCK, true);
    until(&mut s1, "n1 holds", |s, now| s.token(LOCK, now).is_some()).await;
    n2.want(LOCK, true);

    relay.cut();
    // n1 hears of each phase from its session, without asking the engine.
    let fencing = until(&mut s1, "n1 fencing", |s, now| {
        matches!(s.standing(now), Standing::Fencing { .. })
    })
    .await;
    assert_eq!(n1.snapshot().token(LOCK, fencing), None);
    assert!(!n1.snapshot().reachable);
    let taken = until(&mut s2, "n2 holds", |s, now| s.token(LOCK, now).is_some()).await;
    let expired = match n1.snapshot().standing(Instant::now()) {
        Standing::Fencing { valid_until } => valid_until,
        Standing::Expired => n1.snapshot().lease.unwrap().clock.valid_until(),
        Standing::Holding { .. } => panic!("n1 holding again while cut off"),
    };
    // The order that makes the takeover safe: n1 stopped acting on its
    // token, its lease ran out as n1 counts it, then n2 took the lock.
    assert!(fencing < expired, "fenced before the lease could end");
    assert!(
        expired <= taken,
        "n2 took the lock before n1's lease was over as n1 counts it"
    );

    // Healed, n1 finds its lease gone and starts a new one; the lock
    // stays with n2.
    relay.heal();
    until(&mut s1, "n1 holding a new lease", |s, now| {
        s.reachable && matches!(s.standing(now), Standing::Holding { .. })
    })
    .await;
    assert_eq!(n1.snapshot().token(LOCK, Instant::now()), None);
    assert_eq!(
        n1.snapshot().holders.get(LOCK).map(|h| h.value.as_str()),
        Some("n2")
    );
}
