//! What this node's GitOps loop reports: where it pulls from, what became
//! of its last commits, and the handle the API and the drift report ask
//! it through.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// Talks to the running GitOps loop from the API.
#[derive(Clone)]
pub struct GitopsHandle {
    status: Arc<Mutex<GitopsStatus>>,
    sync_requests: mpsc::Sender<oneshot::Sender<GitopsStatus>>,
}

impl GitopsHandle {
    /// The handle to a loop that keeps `status` current and answers each
    /// request on `sync_requests` with the status after a sync.
    pub fn new(
        status: Arc<Mutex<GitopsStatus>>,
        sync_requests: mpsc::Sender<oneshot::Sender<GitopsStatus>>,
    ) -> Self {
        GitopsHandle {
            status,
            sync_requests,
        }
    }

    pub fn status(&self) -> GitopsStatus {
        self.status.lock().expect("gitops status lock").clone()
    }

    /// Fetches and applies now; returns the status afterwards.
    pub async fn sync_now(&self) -> GitopsStatus {
        let (reply, answer) = oneshot::channel();
        if self.sync_requests.send(reply).await.is_err() {
            return self.status();
        }
        answer.await.unwrap_or_else(|_| self.status())
    }
}

/// Where GitOps pulls from and what became of its last commits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitopsStatus {
    pub url: String,
    pub branch: String,
    /// Directory within the repository holding the manifests.
    pub path: String,
    /// The allowed signers file commits must be signed against, when
    /// signatures are required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_signers: Option<String>,
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
