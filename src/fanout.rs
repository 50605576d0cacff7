//! `apply` and `delete` on every node of the Cluster, as `kubectl apply`
//! users expect: each node's controllers read only their own store, so an
//! object the CLI applies must be written into every node's store.
//!
//! The agent the CLI talks to carries the batch to the others over the
//! peer API (bearer token, mutual TLS when configured), in two phases:
//!
//! 1. every node checks the batch as a dry run against its own store
//!    (validation, references, manager conflicts);
//! 2. only if every node accepted it, every node writes it, each all or
//!    nothing.
//!
//! So a batch one node would refuse is written nowhere, and a node that
//! does not answer stops the write everywhere unless the caller allows it
//! (`allowUnreachable`). Nothing is queued for a node that was down: the
//! CLI is imperative, and a write replayed later could overwrite what was
//! changed there meanwhile. The skew stays visible (`status`, `drift`:
//! ConfigSkew) until the same command runs again, which converges (an
//! apply is idempotent). What must converge unattended belongs in
//! `--manifests` or GitOps, which every node loads itself.
//!
//! A node can still fail in phase 2 after accepting in phase 1 (it went
//! down in between, its store changed): the report says which nodes have
//! the batch, and running the command again completes it.

use std::future::Future;
use std::net::SocketAddr;

use futures::future::join_all;
use hareconcile_model::ObjectKey;
use hareconcile_runtime::{ApplyOptions, ApplyOutcome, DeleteOutcome, Store};
use hyper::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::batch::{
    self, ApplyRequest, ApplyResponse, DeleteRequest, DeleteResponse, ErrorBody, Refusal,
};
use crate::peer::{CallError, WriteTargets};

/// An apply for every node of the Cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterApplyRequest {
    pub apply: ApplyRequest,
    /// Write on the nodes that answer even if some do not.
    #[serde(default)]
    pub allow_unreachable: bool,
}

/// A delete for every node of the Cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDeleteRequest {
    pub delete: DeleteRequest,
    #[serde(default)]
    pub allow_unreachable: bool,
}

/// What became of a write on each node.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterWrite<T> {
    /// The Cluster whose nodes were written; `None`: no Cluster lists
    /// this node, so only this node was.
    pub cluster: Option<String>,
    pub nodes: Vec<NodeWrite<T>>,
    /// Why nodes of the Cluster are missing from `nodes`, if they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeWrite<T> {
    pub node: String,
    /// Its peer API address; `None` for the node that carried the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub result: WriteResult<T>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum WriteResult<T> {
    /// Written there; in a dry run, what would be written.
    Done { outcomes: Vec<T> },
    /// The node refused the batch (validation, a manager conflict), so
    /// no node wrote it.
    Refused { status: u16, error: ErrorBody },
    /// No answer. Unless unreachable nodes were allowed, no node wrote it.
    Unreachable { error: String },
    /// The node accepted the batch but did not write it, because another
    /// node refused it or did not answer.
    Held,
    /// The node accepted the batch, then failed to write it; the nodes
    /// reported `Done` have it.
    Failed { error: String },
}

/// Why one node did not take a batch.
enum NotWritten {
    Unreachable(String),
    Refused(Refusal),
}

impl From<CallError> for NotWritten {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Unreachable(why) => NotWritten::Unreachable(why),
            CallError::Answered { status, .. } if status == StatusCode::NOT_FOUND => {
                NotWritten::Refused(Refusal::new(
                    status,
                    "its agent does not take writes from peers (an older hareconcile): \
                     upgrade it, or write there with `--local`",
                ))
            }
            CallError::Answered { status, body } => {
                let body = serde_json::from_slice(&body).unwrap_or_else(|_| {
                    ErrorBody::new(String::from_utf8_lossy(&body).trim().to_string())
                });
                NotWritten::Refused(Refusal { status, body })
            }
        }
    }
}

impl<T> From<NotWritten> for WriteResult<T> {
    fn from(why: NotWritten) -> Self {
        match why {
            NotWritten::Unreachable(error) => WriteResult::Unreachable { error },
            NotWritten::Refused(refusal) => WriteResult::Refused {
                status: refusal.status.as_u16(),
                error: refusal.body,
            },
        }
    }
}

/// Applies `request` on every node of `targets`, this one directly.
pub async fn apply(
    store: &Store,
    targets: &WriteTargets,
    request: ClusterApplyRequest,
) -> ClusterWrite<ApplyOutcome> {
    fan_out(store, targets, request.apply, request.allow_unreachable).await
}

/// Deletes `request`'s keys on every node of `targets`, this one directly.
pub async fn delete(
    store: &Store,
    targets: &WriteTargets,
    request: ClusterDeleteRequest,
) -> ClusterWrite<(ObjectKey, DeleteOutcome)> {
    fan_out(store, targets, request.delete, request.allow_unreachable).await
}

/// A batch one node runs: this node through [`batch`], a peer through
/// its peer API. Apply and delete differ only in these, so the two-phase
/// write around them is one piece of code.
trait NodeBatch: Clone + Serialize {
    type Outcome;
    type Response: DeserializeOwned;
    /// Where a peer takes the batch.
    const PEER_PATH: &'static str;

    fn options(&mut self) -> &mut ApplyOptions;
    fn outcomes(response: Self::Response) -> Vec<Self::Outcome>;
    fn run_here(self, store: &Store) -> impl Future<Output = Result<Self::Response, Refusal>>;
}

impl NodeBatch for ApplyRequest {
    type Outcome = ApplyOutcome;
    type Response = ApplyResponse;
    const PEER_PATH: &'static str = "/peer/v1/apply";

    fn options(&mut self) -> &mut ApplyOptions {
        &mut self.options
    }
    fn outcomes(response: ApplyResponse) -> Vec<ApplyOutcome> {
        response.outcomes
    }
    fn run_here(self, store: &Store) -> impl Future<Output = Result<ApplyResponse, Refusal>> {
        batch::apply_here(store, self)
    }
}

impl NodeBatch for DeleteRequest {
    type Outcome = (ObjectKey, DeleteOutcome);
    type Response = DeleteResponse;
    const PEER_PATH: &'static str = "/peer/v1/delete";

    fn options(&mut self) -> &mut ApplyOptions {
        &mut self.options
    }
    fn outcomes(response: DeleteResponse) -> Vec<(ObjectKey, DeleteOutcome)> {
        response.outcomes
    }
    fn run_here(self, store: &Store) -> impl Future<Output = Result<DeleteResponse, Refusal>> {
        batch::delete_here(store, self)
    }
}

/// Runs `batch` on every node of `targets` in two phases (see
/// [`two_phase`]), this node directly and the others over the peer API.
async fn fan_out<B: NodeBatch>(
    store: &Store,
    targets: &WriteTargets,
    mut batch: B,
    allow_unreachable: bool,
) -> ClusterWrite<B::Outcome> {
    let dry_run = batch.options().dry_run;
    let send = |node: String, address: Option<SocketAddr>, check: bool| {
        let mut request = batch.clone();
        request.options().dry_run = check;
        async move {
            match address.filter(|_| node != store.node()) {
                None => request
                    .run_here(store)
                    .await
                    .map(B::outcomes)
                    .map_err(NotWritten::Refused),
                Some(address) => targets
                    .post::<_, B::Response>(address, B::PEER_PATH, &request)
                    .await
                    .map(B::outcomes)
                    .map_err(NotWritten::from),
            }
        }
    };
    ClusterWrite {
        cluster: targets.cluster.clone(),
        nodes: two_phase(&targets.nodes, dry_run, allow_unreachable, send).await,
        note: targets.note.clone(),
    }
}

/// Checks on every node at once, then writes on every node at once if
/// they all accepted (or, with `allow_unreachable`, all that answered
/// did). `send(node, address, check)` runs the batch on one node, as a
/// dry run when `check`.
async fn two_phase<T, F, Fut>(
    nodes: &[(String, Option<SocketAddr>)],
    dry_run: bool,
    allow_unreachable: bool,
    send: F,
) -> Vec<NodeWrite<T>>
where
    F: Fn(String, Option<SocketAddr>, bool) -> Fut,
    Fut: Future<Output = Result<Vec<T>, NotWritten>>,
{
    let checks = join_all(
        nodes
            .iter()
            .map(|(node, address)| send(node.clone(), *address, true)),
    )
    .await;
    let refused = checks
        .iter()
        .any(|c| matches!(c, Err(NotWritten::Refused(_))));
    let silent = checks
        .iter()
        .any(|c| matches!(c, Err(NotWritten::Unreachable(_))));
    let write = !dry_run && !refused && (allow_unreachable || !silent);
    let results: Vec<WriteResult<T>> = if write {
        join_all(nodes.iter().zip(checks).map(|((node, address), check)| {
            let send = &send;
            async move {
                match check {
                    Ok(_) => match send(node.clone(), *address, false).await {
                        Ok(outcomes) => WriteResult::Done { outcomes },
                        Err(NotWritten::Unreachable(error)) => WriteResult::Failed { error },
                        Err(NotWritten::Refused(refusal)) => WriteResult::Failed {
                            error: refusal.body.error,
                        },
                    },
                    Err(why) => why.into(),
                }
            }
        }))
        .await
    } else {
        checks
            .into_iter()
            .map(|check| match check {
                Ok(outcomes) if dry_run => WriteResult::Done { outcomes },
                Ok(_) => WriteResult::Held,
                Err(why) => why.into(),
            })
            .collect()
    };
    nodes
        .iter()
        .zip(results)
        .map(|((node, address), result)| NodeWrite {
            node: node.clone(),
            address: address.map(|a| a.to_string()),
            result,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// How each test node answers: `Ok` accepts, else it refuses or is silent.
    #[derive(Clone, Copy)]
    enum Node {
        Accepts,
        Refuses,
        Silent,
    }

    /// Runs [`two_phase`] over nodes n1, n2... answering as `answers`;
    /// returns the results by node and every (node, check) call made.
    fn run(
        answers: &[Node],
        dry_run: bool,
        allow_unreachable: bool,
    ) -> (Vec<String>, Vec<(String, bool)>) {
        let nodes: Vec<(String, Option<SocketAddr>)> = (1..=answers.len())
            .map(|i| (format!("n{i}"), None))
            .collect();
        let calls = Mutex::new(Vec::new());
        let send = |node: String, _: Option<SocketAddr>, check: bool| {
            calls.lock().unwrap().push((node.clone(), check));
            let index: usize = node[1..].parse().unwrap();
            let answer = answers[index - 1];
            async move {
                match answer {
                    Node::Accepts => Ok(vec![node]),
                    Node::Refuses => Err(NotWritten::Refused(Refusal::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "bad",
                    ))),
                    Node::Silent => Err(NotWritten::Unreachable("down".into())),
                }
            }
        };
        let results =
            futures::executor::block_on(two_phase(&nodes, dry_run, allow_unreachable, send));
        let words = results
            .into_iter()
            .map(|w| match w.result {
                WriteResult::Done { .. } => format!("{} done", w.node),
                WriteResult::Refused { .. } => format!("{} refused", w.node),
                WriteResult::Unreachable { .. } => format!("{} unreachable", w.node),
                WriteResult::Held => format!("{} held", w.node),
                WriteResult::Failed { .. } => format!("{} failed", w.node),
            })
            .collect();
        (words, calls.into_inner().unwrap())
    }

    fn writes(calls: &[(String, bool)]) -> Vec<&str> {
        calls
            .iter()
            .filter(|(_, check)| !check)
            .map(|(node, _)| node.as_str())
            .collect()
    }

    #[test]
    fn every_node_writes_once_all_accepted() {
        let (results, calls) = run(&[Node::Accepts, Node::Accepts], false, false);
        assert_eq!(results, ["n1 done", "n2 done"]);
        assert_eq!(writes(&calls), ["n1", "n2"]);
    }

    #[test]
    fn one_refusal_writes_nowhere() {
        let (results, calls) = run(&[Node::Accepts, Node::Refuses], false, true);
        assert_eq!(results, ["n1 held", "n2 refused"]);
        assert!(writes(&calls).is_empty());
    }

    #[test]
    fn an_unreachable_node_writes_nowhere_unless_allowed() {
        let (results, calls) = run(&[Node::Accepts, Node::Silent], false, false);
        assert_eq!(results, ["n1 held", "n2 unreachable"]);
        assert!(writes(&calls).is_empty());

        let (results, calls) = run(&[Node::Accepts, Node::Silent], false, true);
        assert_eq!(results, ["n1 done", "n2 unreachable"]);
        assert_eq!(writes(&calls), ["n1"]);
    }

    #[test]
    fn a_dry_run_only_checks() {
        let (results, calls) = run(&[Node::Accepts, Node::Accepts], true, false);
        assert_eq!(results, ["n1 done", "n2 done"]);
        assert!(writes(&calls).is_empty());
    }
}
