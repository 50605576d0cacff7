//! The client against a real etcd: leases, writer locks and their tokens,
//! fenced counters, members that do not answer, and TLS.

mod support;

use std::time::Duration;

use hareconcile_quorum::http::Failure;
use hareconcile_quorum::{Acquired, AdvanceError, Client, EtcdError, Lease, TlsFiles};
use support::{etcd_available, Etcd};

const DEADLINE: Duration = Duration::from_secs(5);

/// Two nodes' leases, long enough for the test.
async fn two_leases(client: &Client) -> (Lease, Lease) {
    let ttl = Duration::from_secs(10);
    (
        client.grant(ttl, DEADLINE).await.unwrap(),
        client.grant(ttl, DEADLINE).await.unwrap(),
    )
}

#[tokio::test]
async fn a_lease_lives_while_renewed_and_ends_when_revoked() {
    if !etcd_available() {
        return;
    }
    let etcd = Etcd::start().await;
    let client = etcd.client();
    let lease = client
        .grant(Duration::from_secs(6), DEADLINE)
        .await
        .unwrap();
    assert_eq!(lease.ttl, Duration::from_secs(6));
    assert_eq!(
        client.keep_alive(lease.id, DEADLINE).await.unwrap(),
        Some(Duration::from_secs(6))
    );
    client
        .put("/t/presence", "n1", lease.id, DEADLINE)
        .await
        .unwrap();
    client.revoke(lease.id, DEADLINE).await.unwrap();
    assert_eq!(client.keep_alive(lease.id, DEADLINE).await.unwrap(), None);
    assert_eq!(
        client.get("/t/presence", DEADLINE).await.unwrap(),
        None,
        "keys under a revoked lease are gone"
    );
}

#[tokio::test]
async fn a_writer_lock_has_one_holder_and_each_holder_a_larger_token() {
    if !etcd_available() {
        return;
    }
    let etcd = Etcd::start().await;
    let client = etcd.client();
    let (n1, n2) = two_leases(&client).await;
    let key = "/t/writer/web";
    let Acquired::Held(first) = client.acquire(key, "n1", n1.id, DEADLINE).await.unwrap() else {
        panic!("a free lock is taken");
    };
    // Asking again under the same lease (a retry after a lost answer)
    // finds the lock held with the same token.
    assert_eq!(
        client.acquire(key, "n1", n1.id, DEADLINE).await.unwrap(),
        Acquired::Held(first)
    );
    match client.acquire(key, "n2", n2.id, DEADLINE).await.unwrap() {
        Acquired::Busy(holder) => {
            assert_eq!((holder.value.as_str(), holder.token), ("n1", first));
            assert_eq!(holder.lease, n1.id);
        }
        other => panic!("n2 got {other:?} while n1 holds the lock"),
    }
    let listed = client.list("/t/writer/", DEADLINE).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, key);

    // Only the holder's token releases it.
    assert!(!client.release(key, first + 1, DEADLINE).await.unwrap());
    assert!(client.release(key, first, DEADLINE).await.unwrap());
    let Acquired::Held(second) = client.acquire(key, "n2", n2.id, DEADLINE).await.unwrap() else {
        panic!("a released lock is free");
    };
    assert!(second > first, "tokens grow: {first} then {second}");

    // A holder whose lease ends loses the lock with it.
    client.revoke(n2.id, DEADLINE).await.unwrap();
    let Acquired::Held(third) = client.acquire(key, "n1", n1.id, DEADLINE).await.unwrap() else {
        panic!("the lock went with n2's lease");
    };
    assert!(third > second);
}

#[tokio::test]
async fn only_the_current_lock_holder_raises_a_counter() {
    if !etcd_available() {
        return;
    }
    let etcd = Etcd::start().await;
    let client = etcd.client();
    let (n1, n2) = two_leases(&client).await;
    let (lock, counter) = ("/t/writer/web", "/t/term/data");
    let Acquired::Held(old) = client.acquire(lock, "n1", n1.id, DEADLINE).await.unwrap() else {
        panic!("free lock");
    };
    assert_eq!(
        client.advance(counter, (lock, old), 0, DEADLINE).await,
        Ok(1)
    );
    assert_eq!(
        client.advance(counter, (lock, old), 0, DEADLINE).await,
        Ok(2)
    );
    // Above every term any copy of the data has seen.
    assert_eq!(
        client.advance(counter, (lock, old), 40, DEADLINE).await,
        Ok(40)
    );

    // n1 is fenced (its lock gone), n2 takes over and numbers its term.
    client.revoke(n1.id, DEADLINE).await.unwrap();
    let Acquired::Held(new) = client.acquire(lock, "n2", n2.id, DEADLINE).await.unwrap() else {
        panic!("free lock");
    };
    assert_eq!(
        client.advance(counter, (lock, new), 0, DEADLINE).await,
        Ok(41)
    );
    // The old holder, unaware, can number nothing any more.
    assert_eq!(
        client.advance(counter, (lock, old), 0, DEADLINE).await,
        Err(AdvanceError::NotHolder {
            lock: lock.into(),
            token: old
        })
    );
    assert_eq!(
        client.get(counter, DEADLINE).await.unwrap().unwrap().value,
        "41"
    );
}

#[tokio::test]
async fn a_silent_member_costs_its_share_of_the_deadline_and_the_next_one_answers() {
    if !etcd_available() {
        return;
    }
    let (silent, live) = (Etcd::start().await, Etcd::start().await);
    silent.freeze();
    let client = Client::new(vec![silent.endpoint.clone(), live.endpoint.clone()], None);
    client.put("/t/k", "v", 0, DEADLINE).await.unwrap();
    assert_eq!(
        client.get("/t/k", DEADLINE).await.unwrap().unwrap().value,
        "v"
    );

    // With none answering, the call ends at its deadline with each
    // member's failure.
    let alone = Client::new(vec![silent.endpoint.clone()], None);
    match alone.get("/t/k", Duration::from_millis(300)).await {
        Err(EtcdError::Unreachable(failures)) => {
            assert_eq!(failures.len(), 1);
            assert!(matches!(failures[0].1, Failure::Timeout(_)), "{failures:?}");
        }
        other => panic!("a frozen member answered: {other:?}"),
    }
}

#[tokio::test]
async fn over_tls_the_member_is_verified_and_the_agent_presents_its_certificate() {
    if !etcd_available() {
        return;
    }
    let etcd = Etcd::start_with(true).await;
    let client = etcd.client();
    client.put("/t/k", "v", 0, DEADLINE).await.unwrap();
    assert_eq!(
        client.get("/t/k", DEADLINE).await.unwrap().unwrap().value,
        "v"
    );

    // Without a client certificate etcd refuses the connection.
    let files = etcd.tls.clone().unwrap();
    let anonymous = TlsFiles {
        ca_file: files.ca_file.clone(),
        client: None,
    };
    let refused = Client::new(
        vec![etcd.endpoint.clone()],
        Some(anonymous.connector().unwrap()),
    );
    assert!(matches!(
        refused.get("/t/k", DEADLINE).await,
        Err(EtcdError::Unreachable(_))
    ));

    // A CA that did not sign the member's certificate: not trusted.
    let other = tempfile::tempdir().unwrap();
    hareconcile_test_support::tls::private_ca(other.path(), &[]);
    let stranger = TlsFiles {
        ca_file: other.path().join("ca.crt"),
        client: files.client.clone(),
    };
    let untrusting = Client::new(
        vec![etcd.endpoint.clone()],
        Some(stranger.connector().unwrap()),
    );
    match untrusting.get("/t/k", DEADLINE).await {
        Err(EtcdError::Unreachable(failures)) => {
            assert!(failures[0].1.to_string().contains("TLS"), "{failures:?}");
        }
        other => panic!("an unknown CA was trusted: {other:?}"),
    }
}
