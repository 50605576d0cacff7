//! The etcd operations hareconcile needs, each bounded by one deadline
//! across every member it tries: leases (grant, keepalive, revoke), writer
//! locks (a key created under the node's lease if absent; its creation
//! revision is the fencing token), and fenced counters (a value only the
//! current lock holder can raise).
//!
//! Each call goes to the member that answered last, then to the others in
//! turn: a member cut off from the majority answers nothing useful (it has
//! no leader) and the next one may.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::endpoint::Endpoint;
use crate::http::{self, Failure};
use crate::wire::{
    self, Compare, DeleteRequest, GrantRequest, KeyValue, LeaseId, PutRequest, RangeRequest,
    RequestOp, TxnRequest,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// No member gave an answer in time: each one's failure, in order.
    #[error("no etcd member answered: {}", .0.iter().map(|(e, f)| format!("{e}: {f}")).collect::<Vec<_>>().join("; "))]
    Unreachable(Vec<(String, Failure)>),
    /// A member answered with something this client cannot read.
    #[error("{endpoint}: unreadable answer: {why}")]
    Garbled { endpoint: String, why: String },
}

/// A lease the engine granted: it lives `ttl` after each renewal it sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    pub ttl: Duration,
}

/// The fencing token of a writer lock: the revision at which its key was
/// created. Every later holder's is larger, whoever it is.
pub type Token = i64;

/// Who holds a lock, as the engine says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub value: String,
    pub token: Token,
    /// The revision of the key's last write: what a compare-and-swap on
    /// its value checks (a lock is compared by `token`, its creation).
    pub modified: i64,
    pub lease: i64,
}

impl Holder {
    fn of(kv: &KeyValue) -> Holder {
        Holder {
            value: String::from_utf8_lossy(&kv.value).into_owned(),
            token: kv.create_revision,
            modified: kv.mod_revision,
            lease: kv.lease,
        }
    }
}

/// How an attempt to take a lock ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// Taken now, or already held under this lease.
    Held(Token),
    /// Someone else holds it.
    Busy(Holder),
}

/// Why a fenced counter could not be raised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvanceError {
    /// The lock is not (or no longer) held with the token presented.
    #[error("the writer lock {lock} is not held with token {token}")]
    NotHolder { lock: String, token: Token },
    #[error(transparent)]
    Etcd(#[from] EtcdError),
}

pub struct Client {
    endpoints: Vec<Endpoint>,
    tls: Option<TlsConnector>,
    /// The member to try first: the last that answered.
    preferred: AtomicUsize,
}

/// `key` with the last byte raised: the end of the range of every key
/// that starts with `key` (as etcdctl's --prefix computes it).
fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Only 0xff bytes: every key from here on ("\0" means no upper bound).
    vec![0]
}

impl Client {
    pub fn new(endpoints: Vec<Endpoint>, tls: Option<TlsConnector>) -> Client {
        Client {
            endpoints,
            tls,
            preferred: AtomicUsize::new(0),
        }
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// An answer from the member that answered last, unreadable.
    fn garbled(&self, why: String) -> EtcdError {
        let endpoint = self
            .endpoints
            .get(self.preferred.load(Ordering::Relaxed))
            .map_or_else(String::new, Endpoint::to_string);
        EtcdError::Garbled { endpoint, why }
    }

    /// POSTs `request` to `path`, trying each member until one answers,
    /// all within `deadline`. A member that answers with an error (etcd's
    /// "no leader", say) counts as not answering: another may have one.
    async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        request: &Q,
        deadline: Duration,
    ) -> Result<A, EtcdError> {
        let body = serde_json::to_vec(request).expect("etcd requests serialize");
        let until = Instant::now() + deadline;
        let count = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for n in 0..count {
            let index = (first + n) % count;
            let endpoint = &self.endpoints[index];
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                failures.push((endpoint.to_string(), Failure::Timeout(deadline)));
                continue;
            }
            // Give a member no more than its share of what is left, so a
            // silent one does not use up the whole deadline alone.
            let share = left / u32::try_from(count - n).unwrap_or(1);
            match http::post(endpoint, self.tls.as_ref(), path, body.clone(), share).await {
                Ok(answer) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return serde_json::from_slice(&answer).map_err(|e| EtcdError::Garbled {
                        endpoint: endpoint.to_string(),
                        why: e.to_string(),
                    });
                }
                Err(failure) => failures.push((endpoint.to_string(), failure)),
            }
        }
        Err(EtcdError::Unreachable(failures))
    }

    pub async fn grant(&self, ttl: Duration, deadline: Duration) -> Result<Lease, EtcdError> {
        let request = GrantRequest {
            ttl: i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX),
        };
        let granted: wire::GrantResponse = self.call("/v3/lease/grant", &request, deadline).await?;
        Ok(Lease {
            id: granted.id,
            ttl: Duration::from_secs(u64::try_from(granted.ttl).unwrap_or(0)),
        })
    }

    /// Renews `lease`: its TTL from now, or `None` if it no longer exists
    /// (expired or revoked; every key under it is gone with it).
    pub async fn keep_alive(
        &self,
        lease: i64,
        deadline: Duration,
    ) -> Result<Option<Duration>, EtcdError> {
        let answer: wire::KeepAliveResponse = self
            .call("/v3/lease/keepalive", &LeaseId { id: lease }, deadline)
            .await?;
        Ok(u64::try_from(answer.result.ttl)
            .ok()
            .filter(|ttl| *ttl > 0)
            .map(Duration::from_secs))
    }

    /// Ends `lease` and deletes every key under it at once.
    pub async fn revoke(&self, lease: i64, deadline: Duration) -> Result<(), EtcdError> {
        let _: serde_json::Value = self
            .call("/v3/lease/revoke", &LeaseId { id: lease }, deadline)
            .await?;
        Ok(())
    }

    pub async fn get(&self, key: &str, deadline: Duration) -> Result<Option<Holder>, EtcdError> {
        let request = RangeRequest {
            key: key.as_bytes().to_vec(),
            range_end: Vec::new(),
        };
        let answer: wire::RangeResponse = self.call("/v3/kv/range", &request, deadline).await?;
        Ok(answer.kvs.first().map(Holder::of))
    }

    /// Every key starting with `prefix`, with who holds it.
    pub async fn list(
        &self,
        prefix: &str,
        deadline: Duration,
    ) -> Result<Vec<(String, Holder)>, EtcdError> {
        let request = RangeRequest {
            key: prefix.as_bytes().to_vec(),
            range_end: prefix_end(prefix.as_bytes()),
        };
        let answer: wire::RangeResponse = self.call("/v3/kv/range", &request, deadline).await?;
        Ok(answer
            .kvs
            .iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(&kv.key).into_owned(),
                    Holder::of(kv),
                )
            })
            .collect())
    }

    /// Writes `key` under `lease` (0: none), whatever it held.
    pub async fn put(
        &self,
        key: &str,
        value: &str,
        lease: i64,
        deadline: Duration,
    ) -> Result<(), EtcdError> {
        let request = PutRequest {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            lease,
        };
        let _: serde_json::Value = self.call("/v3/kv/put", &request, deadline).await?;
        Ok(())
    }

    /// Takes the lock `key` for `value` under `lease` if nobody holds it.
    /// Taking it again under the same lease is not an error: an answer
    /// lost to a timeout leaves the key created, and the retry finds it.
    pub async fn acquire(
        &self,
        key: &str,
        value: &str,
        lease: i64,
        deadline: Duration,
    ) -> Result<Acquired, EtcdError> {
        let txn = TxnRequest {
            compare: vec![Compare::created_at(key, 0)],
            success: vec![RequestOp::put(key, value.as_bytes(), lease)],
            failure: vec![RequestOp::get(key)],
        };
        let answer: wire::TxnResponse = self.call("/v3/kv/txn", &txn, deadline).await?;
        if answer.succeeded {
            // The put is the transaction's only write: the key was created
            // at the revision the header reports.
            return Ok(Acquired::Held(answer.header.revision));
        }
        match answer.range(0).first().map(Holder::of) {
            Some(holder) if holder.lease == lease && holder.value == value => {
                Ok(Acquired::Held(holder.token))
            }
            Some(holder) => Ok(Acquired::Busy(holder)),
            // Deleted between the compare and the read cannot happen in one
            // transaction; an empty answer is a garbled one.
            None => Err(self.garbled("a failed lock transaction returned no holder".into())),
        }
    }

    /// Deletes the lock `key` if it is still the one created at `token`.
    /// Returns whether it was.
    pub async fn release(
        &self,
        key: &str,
        token: Token,
        deadline: Duration,
    ) -> Result<bool, EtcdError> {
        let txn = TxnRequest {
            compare: vec![Compare::created_at(key, token)],
            success: vec![RequestOp::Delete(DeleteRequest {
                key: key.as_bytes().to_vec(),
            })],
            failure: Vec::new(),
        };
        let answer: wire::TxnResponse = self.call("/v3/kv/txn", &txn, deadline).await?;
        Ok(answer.succeeded)
    }

    /// Raises the counter `key` to at least `at_least` and above its
    /// current value, only while the lock `lock` is still the one created
    /// at `token`: a node that lost its lock (fenced, its lease expired)
    /// can never number a term above its successor's. Returns the new value.
    pub async fn advance(
        &self,
        key: &str,
        (lock, token): (&str, Token),
        at_least: u64,
        deadline: Duration,
    ) -> Result<u64, AdvanceError> {
        let until = Instant::now() + deadline;
        // A race lost to another writer is retried; under the lock there is
        // none, so more than a few rounds means something else is wrong.
        for _ in 0..4 {
            let left = until.saturating_duration_since(Instant::now());
            let current = self.get(key, left).await?;
            let (value, revision) = match &current {
                Some(held) => {
                    let value = held.value.trim().parse::<u64>().map_err(|_| {
                        self.garbled(format!(
                            "the counter {key} holds {:?}, not a number",
                            held.value
                        ))
                    })?;
                    (value, held.modified)
                }
                None => (0, 0),
            };
            let next = at_least.max(value + 1);
            let txn = TxnRequest {
                compare: vec![
                    Compare::created_at(lock, token),
                    Compare::modified_at(key, revision),
                ],
                success: vec![RequestOp::put(key, next.to_string().as_bytes(), 0)],
                failure: vec![RequestOp::get(lock)],
            };
            let left = until.saturating_duration_since(Instant::now());
            let answer: wire::TxnResponse = self.call("/v3/kv/txn", &txn, left).await?;
            if answer.succeeded {
                return Ok(next);
            }
            if answer.range(0).first().map(|kv| kv.create_revision) != Some(token) {
                return Err(AdvanceError::NotHolder {
                    lock: lock.to_string(),
                    token,
                });
            }
        }
        Err(AdvanceError::Etcd(self.garbled(format!(
            "the counter {key} kept changing under the writer lock"
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_ends_after_its_last_key() {
        assert_eq!(prefix_end(b"/hc/writer/"), b"/hc/writer0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    }
}
