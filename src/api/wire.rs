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

impl ObjectProblem {
    /// A problem in a file `object` names: its place is in the message,
    /// `file:line:col: message`, since the pointer is into the object.
    pub fn in_file(object: ObjectKey, diagnostic: hareconcile_model::load::Diagnostic) -> Self {
        let message = hareconcile_model::load::Diagnostic {
            object: None,
            ..diagnostic
        }
        .to_string();
        ObjectProblem {
            object,
            pointer: String::new(),
            message,
        }
    }
}

impl From<hareconcile_model::validate::Problem> for ObjectProblem {
    fn from(problem: hareconcile_model::validate::Problem) -> Self {
        ObjectProblem {
            object: problem.key,
            pointer: problem.pointer,
            message: problem.message,
        }
    }
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
