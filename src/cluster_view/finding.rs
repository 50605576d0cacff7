//! One drift finding, as `hareconcile drift` lists it and as a node
//! reports its own sync findings to its peers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Declared (files, git) vs the store.
    Sync,
    /// The store vs the real system.
    Health,
    /// One node's objects vs another's.
    Skew,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    pub category: Category,
    pub reason: String,
    pub message: String,
    /// What the agent does about it, or what a person must do.
    pub fix: String,
}
