//! How long this node may still act on its lease: the part of the safety
//! argument that is arithmetic, kept free of I/O so it is tested exactly.
//!
//! etcd expires a lease `ttl` after the last renewal *it* processed. That
//! moment is never earlier than `sent + ttl`, where `sent` is when this
//! node sent the renewal (the request cannot be processed before it is
//! sent). So measured on this node's monotonic clock from the send time,
//! the lease is alive at least until `sent + ttl` — whatever the network
//! delays, and without comparing clocks between machines (only their
//! rates, which differ by parts per million).
//!
//! A node must be done *stopping* its writers by then, because another
//! node may take the writer lock the moment the lease expires. It starts
//! fencing at `valid_until - margin`, where the margin is half the TTL:
//! time to stop containers and remove addresses. Renewals go out every
//! sixth of the TTL, so a renewal or two may fail without fencing.

use std::time::Duration;

use tokio::time::Instant;

/// Renewals per TTL: one failed or slow renewal is absorbed.
const RENEWALS_PER_TTL: u32 = 6;

/// This node's view of its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseClock {
    ttl: Duration,
    /// The lease is alive at least until then (see the module docs).
    valid_until: Instant,
}

/// What the node may do at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// May act as a writer until `fence_at`; the lease lives at least
    /// until `valid_until`.
    Holding {
        fence_at: Instant,
        valid_until: Instant,
    },
    /// Past `fence_at`: writers must stop now, before `valid_until`.
    Fencing { valid_until: Instant },
    /// The lease may have expired: another node may hold the locks.
    Expired,
}

impl LeaseClock {
    /// A lease of `ttl` granted by a request sent at `sent`.
    pub fn granted(sent: Instant, ttl: Duration) -> LeaseClock {
        LeaseClock {
            ttl,
            valid_until: sent + ttl,
        }
    }

    /// A renewal sent at `sent` was answered with `ttl`. An answer that
    /// arrives late never moves the deadline backwards.
    pub fn renewed(&mut self, sent: Instant, ttl: Duration) {
        self.ttl = ttl;
        self.valid_until = self.valid_until.max(sent + ttl);
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn valid_until(&self) -> Instant {
        self.valid_until
    }

    /// Time left to stop writers once fencing starts.
    pub fn margin(&self) -> Duration {
        self.ttl / 2
    }

    pub fn fence_at(&self) -> Instant {
        self.valid_until - self.margin()
    }

    /// How often to renew.
    pub fn renew_every(&self) -> Duration {
        self.ttl / RENEWALS_PER_TTL
    }

    pub fn standing(&self, now: Instant) -> Standing {
        if now >= self.valid_until {
            Standing::Expired
        } else if now >= self.fence_at() {
            Standing::Fencing {
                valid_until: self.valid_until,
            }
        } else {
            Standing::Holding {
                fence_at: self.fence_at(),
                valid_until: self.valid_until,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(6);

    #[test]
    fn the_lease_counts_from_when_the_request_was_sent() {
        let sent = Instant::now();
        let clock = LeaseClock::granted(sent, TTL);
        assert_eq!(clock.valid_until(), sent + TTL);
        assert_eq!(clock.fence_at(), sent + Duration::from_secs(3));
        assert_eq!(clock.renew_every(), Duration::from_secs(1));
        assert_eq!(
            clock.standing(sent + Duration::from_millis(2_999)),
            Standing::Holding {
                fence_at: sent + Duration::from_secs(3),
                valid_until: sent + TTL
            }
        );
        assert_eq!(
            clock.standing(sent + Duration::from_secs(3)),
            Standing::Fencing {
                valid_until: sent + TTL
            }
        );
        assert_eq!(clock.standing(sent + TTL), Standing::Expired);
    }

    #[test]
    fn renewals_extend_from_their_send_time_and_never_shorten() {
        let t0 = Instant::now();
        let mut clock = LeaseClock::granted(t0, TTL);
        let t1 = t0 + Duration::from_secs(1);
        clock.renewed(t1, TTL);
        assert_eq!(clock.valid_until(), t1 + TTL);
        // The answer to an earlier renewal, delayed, arrives after a later
        // one: the lease is still known alive until the later deadline.
        clock.renewed(t0 + Duration::from_millis(500), TTL);
        assert_eq!(clock.valid_until(), t1 + TTL);
        // Two renewals lost: still holding, with a renewal's worth to spare.
        assert!(matches!(
            clock.standing(t1 + Duration::from_secs(2)),
            Standing::Holding { .. }
        ));
        assert!(matches!(
            clock.standing(t1 + Duration::from_secs(3)),
            Standing::Fencing { .. }
        ));
    }
}
