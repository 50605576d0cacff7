//! Request and response bodies of the agent API (version 1).

use hareconcile_model::{Manager, Object, ObjectKey};
use hareconcile_runtime::store::Conflict;
use hareconcile_runtime::{ApplyOptions, ApplyOutcome, DeleteOutcome, Event};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyRequest {
    pub manager: Manager,
    #[serde(default)]
    pub options: ApplyOptions,
    pub objects: Vec<Object>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyResponse {
    pub outcomes: Vec<ApplyOutcome>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRequest {
    pub manager: Manager,
    #[serde(default)]
    pub options: ApplyOptions,
    pub keys: Vec<ObjectKey>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DeleteResponse {
    pub outcomes: Vec<(ObjectKey, DeleteOutcome)>,
}

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
    pub resource_version: u64,
}

/// A problem with one object found by the agent's own validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectProblem {
    pub object: ObjectKey,
    /// JSON pointer into the object, e.g. `/spec/vrid`.
    pub pointer: String,
    pub message: String,
}

/// Every error response: what went wrong, and the details a client needs
/// to say it precisely.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ObjectProblem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
}

/// Where GitOps pulls from and what became of its last commits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitopsStatus {
    pub url: String,
    pub branch: String,
    /// Directory within the repository holding the manifests.
    pub path: String,
    /// The commit whose manifests the store holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied: Option<AppliedCommit>,
    /// The newest commit looked at, and what happened to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted: Option<Attempt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedCommit {
    pub sha: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// Unknown when fetching itself failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub outcome: AttemptOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum AttemptOutcome {
    /// The commit's manifests are in the store.
    Applied {
        created: usize,
        configured: usize,
        pruned: usize,
    },
    /// The commit's manifests are invalid; the last good commit stays.
    Rejected { errors: Vec<String> },
    /// Fetching or applying failed (network, conflict with another manager).
    Failed { error: String },
}
