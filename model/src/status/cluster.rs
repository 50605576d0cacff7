//! What a node's cluster controller reports of a Cluster.

use serde::{Deserialize, Serialize};

use super::{reasons, KindStatus};
use crate::Kind;

/// `status` of a Cluster on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The node this agent runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_node: Option<String>,
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
