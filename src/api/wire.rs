//! Request and response bodies of the agent API (version 1).

use hareconcile_model::Object;
use hareconcile_runtime::Event;
use serde::{Deserialize, Serialize};

// The bodies of writes are shared with the peer API, which carries them
// to the other nodes.
pub use crate::batch::{ApplyRequest, ApplyResponse, DeleteRequest, DeleteResponse, ErrorBody};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectList {
    pub resource_version: u64,
    pub items: Vec<Object>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EventList {
    pub items: Vec<Event>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentInfo {
    pub node: String,
    pub version: String,
    /// The build, as `--version` and `hareconcile_build_info` say it;
    /// empty from an agent older than these fields.
    #[serde(default)]
    pub commit: String,
    #[serde(default)]
    pub build_date: String,
    pub resource_version: u64,
    /// Why the store cannot write (a full or failing disk), while it
    /// cannot; absent when it can, and from an agent older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_problem: Option<String>,
    /// Sets (commits, manifests directory contents) rejected because the
    /// agent died while applying them; skipped until retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<crate::trials::Rejection>,
}

/// `POST /v1/replications/{name}/resolve`: settle a two-way Replication's
/// conflicts with `keep`'s version.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResolveRequest {
    /// The node whose version (or deletion) of each conflicting path wins.
    pub keep: String,
    /// Only these paths, relative to the Replication's path; every
    /// conflict when empty.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// What was settled with one peer of the agent's node.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResolvedWith {
    pub peer: String,
    /// Files copied to the peer, from it, and deleted on either side.
    pub pushed: usize,
    pub pulled: usize,
    pub deleted: usize,
    /// Conflicts left as they were (not among the paths asked for).
    pub conflicts: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ResolveResponse {
    pub items: Vec<ResolvedWith>,
}
