//! Who gets a connection slot. Anyone who can reach a TCP port can open
//! connections for free and hold them; the agent must not run out of file
//! descriptors, nor let one noisy address crowd out the Cluster's nodes.
//! So each source address holds at most a few connections, and addresses
//! that are not the Cluster's nodes share a bounded pool; a node always
//! finds a slot (within its own per-address allowance) however many
//! strangers wait. A slot is freed when its connection ends.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::Limits;

/// The slots of one listener.
pub struct Admission {
    limits: Limits,
    /// Addresses exempt from the strangers' pool: the Cluster's nodes.
    members: HashSet<IpAddr>,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    by_source: HashMap<IpAddr, usize>,
    strangers: usize,
}

/// Why a connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its address already holds [`Limits::per_source`] connections.
    SourceFull,
    /// Non-members already hold [`Limits::strangers`] connections.
    StrangersFull,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::SourceFull => "too many connections from this address",
            Refused::StrangersFull => "too many connections from addresses outside the Cluster",
        })
    }
}

/// A connection's slot, given back when dropped.
pub struct Slot {
    admission: Arc<Admission>,
    source: IpAddr,
    stranger: bool,
}

impl Admission {
    pub fn new(limits: Limits, members: impl IntoIterator<Item = IpAddr>) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            members: members.into_iter().map(|ip| ip.to_canonical()).collect(),
            counts: Mutex::default(),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A slot for a connection from `source`, if one is free.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Result<Slot, Refused> {
        // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
        let source = source.to_canonical();
        let stranger = !self.members.contains(&source);
        let mut counts = self.counts.lock().expect("admission lock");
        let held = counts.by_source.get(&source).copied().unwrap_or(0);
        if held >= self.limits.per_source {
            return Err(Refused::SourceFull);
        }
        if stranger && counts.strangers >= self.limits.strangers {
            return Err(Refused::StrangersFull);
        }
        *counts.by_source.entry(source).or_default() += 1;
        counts.strangers += usize::from(stranger);
        Ok(Slot {
            admission: Arc::clone(self),
            source,
            stranger,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.admission.counts.lock().expect("admission lock");
        counts.strangers -= usize::from(self.stranger);
        if let Some(held) = counts.by_source.get_mut(&self.source) {
            *held -= 1;
            if *held == 0 {
                counts.by_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(per_source: usize, strangers: usize) -> Limits {
        Limits {
            handshake: Duration::from_secs(1),
            header_read: Duration::from_secs(1),
            lifetime: Duration::from_secs(1),
            per_source,
            strangers,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_address_holds_a_few_slots_and_gets_them_back() {
        let admission = Admission::new(limits(2, 10), []);
        let first = admission.admit(ip("192.0.2.9")).unwrap();
        let _second = admission.admit(ip("192.0.2.9")).unwrap();
        assert_eq!(
            admission.admit(ip("192.0.2.9")).err(),
            Some(Refused::SourceFull)
        );
        // Another address is not held back by the first.
        assert!(admission.admit(ip("192.0.2.10")).is_ok());
        drop(first);
        assert!(admission.admit(ip("192.0.2.9")).is_ok());
    }

    #[test]
    fn strangers_share_a_pool_that_members_are_outside_of() {
        let member = ip("10.0.0.2");
        let admission = Admission::new(limits(4, 2), [member]);
        let _a = admission.admit(ip("192.0.2.1")).unwrap();
        let b = admission.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(
            admission.admit(ip("192.0.2.3")).err(),
            Some(Refused::StrangersFull)
        );
        let _m = admission.admit(member).unwrap();
        // Seen through a dual-stack socket, the member is still a member.
        let _m6 = admission.admit(ip("::ffff:10.0.0.2")).unwrap();
        drop(b);
        assert!(admission.admit(ip("192.0.2.3")).is_ok());
    }
}
