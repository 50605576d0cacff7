//! What a node tells about itself and what one node sees of the others:
//! the summaries peers exchange ([`PeerSummary`]), one [`NodeView`] per
//! node of the Cluster, drift [`Finding`]s, the GitOps loop's status and
//! what the node says of its exclusive stacks ([`LocalStacks`]).
//! A leaf: the drift report, the switchover, the peer API and the local
//! API all build on it, and it on nothing of theirs.

mod finding;
mod gitops;
mod stacks;
mod summary;

use serde::{Deserialize, Serialize};

pub use finding::{Category, Finding};
pub use gitops::{AppliedCommit, Attempt, AttemptOutcome, GitopsHandle, GitopsStatus};
pub use stacks::{LocalStacks, StackQuestion};
pub use summary::{interface_here, spec_hash, summarize, ObjectDigest, PeerSummary};

/// One node as seen from this one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub node: String,
    pub address: String,
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<PeerSummary>,
}
