//! What a node's cluster controller reports of a Cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{reasons, Drift, KindStatus};
use crate::Kind;

/// `status` of a Cluster on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The node this agent runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_node: Option<String>,
    /// This node's session with the Cluster's quorum engine, when the
    /// Cluster declares one (`docs/quorum.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<QuorumSeen>,
}

/// What this node's quorum session knows, as of its last change (written
/// when something changes, not at every renewal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuorumSeen {
    /// The last call got an answer from a member with a leader.
    pub reachable: bool,
    /// `holding` (may act as writer), `fencing` (past the fence time:
    /// writers stopping), `expired` (no lease: another node may hold the locks).
    pub lease: LeaseStanding,
    /// When the lease is known alive until, as of the last renewal answered.
    /// A reachable node renews it every sixth of `leaseTTLSeconds`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub lease_valid_until: Option<OffsetDateTime>,
    #[serde(rename = "leaseTTLSeconds")]
    pub lease_ttl_seconds: u64,
    /// The writer locks this node holds, with their fencing tokens.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub held: BTreeMap<String, i64>,
    /// Every writer lock's holder (a VirtualIP's name: a node's name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub holders: BTreeMap<String, String>,
    /// The nodes with a lease.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// The last failure talking to the engine, until a call succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl QuorumSeen {
    /// What `drift` reports: `Fenced` while the lease is past its fence
    /// time, `NoQuorum` without a lease.
    pub fn drift(&self) -> Vec<Drift> {
        let engine = match &self.error {
            Some(error) => format!("the quorum engine does not answer ({error})"),
            None => "the quorum engine has granted no lease".to_string(),
        };
        let fix = "won't fix: the node waits for a majority of the etcd members; check the \
                   members (witness included) and the network to them (docs/quorum.md)";
        let (reason, message) = match self.lease {
            LeaseStanding::Holding => return Vec::new(),
            LeaseStanding::Fencing => (
                "Fenced",
                format!("{engine}: past its lease's fence time, this node gives its fenced VirtualIPs up and stops their exclusive Services"),
            ),
            LeaseStanding::Expired => (
                "NoQuorum",
                format!("{engine}: this node may not be master of a fenced VirtualIP"),
            ),
        };
        vec![Drift {
            reason: reason.to_string(),
            message,
            fix: Some(fix.to_string()),
        }]
    }
}

/// A lease's phase on this node's clock (`docs/quorum.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LeaseStanding {
    Holding,
    Fencing,
    #[default]
    Expired,
}

impl KindStatus for ClusterStatus {
    const KIND: Kind = Kind::Cluster;
    type Reason = ClusterReason;
}

reasons! {
    /// Whether this agent is one of the Cluster's nodes.
    pub enum ClusterReason {
        Member,
        NodeNotInCluster,
        /// The Cluster's address for this node is not on this host.
        AddressNotLocal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_says_fenced_past_the_fence_time_and_no_quorum_without_a_lease() {
        let holding = QuorumSeen {
            reachable: true,
            lease: LeaseStanding::Holding,
            ..QuorumSeen::default()
        };
        assert!(holding.drift().is_empty());
        let fencing = QuorumSeen {
            reachable: false,
            lease: LeaseStanding::Fencing,
            error: Some("no member answered".into()),
            ..QuorumSeen::default()
        };
        let drift = fencing.drift();
        assert_eq!(drift[0].reason, "Fenced");
        assert!(
            drift[0].message.contains("(no member answered)"),
            "{drift:?}"
        );
        assert_eq!(QuorumSeen::default().drift()[0].reason, "NoQuorum");
    }
}
