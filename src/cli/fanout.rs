//! Where `apply` and `delete` write: every node of the Cluster (the
//! default; `crate::fanout` says how) or this node's store alone
//! (`--local`), and how each node's outcome is shown.

use clap::Args;
use hareconcile_model::ObjectKey;
use hareconcile_runtime::{ApplyOutcome, DeleteOutcome};

use super::{describe_api_error, CliError, EXIT_INPUT, EXIT_RUNTIME};
use crate::api::client::{Client, ClientError};
use crate::api::wire::{ApplyRequest, DeleteRequest};
use crate::fanout::{ClusterApplyRequest, ClusterDeleteRequest, ClusterWrite, WriteResult};

/// Which nodes' stores a write reaches.
#[derive(Args, Clone, Copy)]
pub struct Reach {
    /// Write this node's store only; the other nodes are not asked.
    #[arg(long)]
    local: bool,
    /// Write on the nodes that answer even if some do not (they are
    /// listed; run the same command again once they are back).
    #[arg(long, conflicts_with = "local")]
    allow_unreachable: bool,
}

/// Applies `request` where `reach` says; prints `line(outcome)` per object
/// (prefixed with the node when several were written).
pub async fn apply(
    client: &Client,
    reach: Reach,
    request: ApplyRequest,
    line: impl Fn(&ApplyOutcome) -> String,
) -> Result<(), CliError> {
    if reach.local {
        for outcome in &client.apply(&request).await?.outcomes {
            outln!("{}", line(outcome));
        }
        return Ok(());
    }
    let request = ClusterApplyRequest {
        apply: request,
        allow_unreachable: reach.allow_unreachable,
    };
    let written = client.cluster_apply(&request).await.map_err(older_agent)?;
    report(written, reach, "applied", line)
}

/// Deletes `request`'s keys where `reach` says; prints `line` per key.
pub async fn delete(
    client: &Client,
    reach: Reach,
    request: DeleteRequest,
    line: impl Fn(&(ObjectKey, DeleteOutcome)) -> String,
) -> Result<(), CliError> {
    if reach.local {
        for outcome in &client.delete(&request).await?.outcomes {
            outln!("{}", line(outcome));
        }
        return Ok(());
    }
    let request = ClusterDeleteRequest {
        delete: request,
        allow_unreachable: reach.allow_unreachable,
    };
    let written = client.cluster_delete(&request).await.map_err(older_agent)?;
    report(written, reach, "deleted", line)
}

/// An agent without the cluster routes answers 404.
fn older_agent(error: ClientError) -> CliError {
    match error {
        ClientError::Api { status, .. } if status == hyper::StatusCode::NOT_FOUND => {
            CliError::runtime(
                "this node's agent cannot write to the other nodes (it is older than this \
                 hareconcile): upgrade it, or write each node with --local",
            )
        }
        other => other.into(),
    }
}

/// Prints what each node did; an error unless every node has the write
/// (or, with --allow-unreachable, every node that answered).
fn report<T>(
    written: ClusterWrite<T>,
    reach: Reach,
    verb: &str,
    line: impl Fn(&T) -> String,
) -> Result<(), CliError> {
    if let Some(note) = &written.note {
        eprintln!("note: {note}");
    }
    // One node: the output of a plain local write.
    if let [only] = written.nodes.as_slice() {
        return match &only.result {
            WriteResult::Done { outcomes } => {
                outcomes.iter().for_each(|o| outln!("{}", line(o)));
                Ok(())
            }
            WriteResult::Refused { status, error } => Err(CliError {
                code: exit_code(*status),
                message: describe_api_error(error),
            }),
            other => Err(CliError::runtime(format!(
                "{}: {}",
                only.node,
                words(other)
            ))),
        };
    }
    let mut code = None;
    let mut done = Vec::new();
    let mut missing = Vec::new();
    for node in &written.nodes {
        let name = &node.node;
        match &node.result {
            WriteResult::Done { outcomes } => {
                outcomes.iter().for_each(|o| outln!("{name}: {}", line(o)));
                done.push(name.as_str());
                continue;
            }
            WriteResult::Refused { status, error } => {
                code = code.max(Some(exit_code(*status)));
                for problem in describe_api_error(error).lines() {
                    eprintln!("{name}: {problem}");
                }
            }
            WriteResult::Unreachable { .. } if reach.allow_unreachable => {
                eprintln!("{name}: warning: {}", words(&node.result));
            }
            WriteResult::Unreachable { .. } => {
                code = code.max(Some(EXIT_RUNTIME));
                eprintln!("{name}: {}", words(&node.result));
            }
            other @ (WriteResult::Held | WriteResult::Failed { .. }) => {
                if matches!(other, WriteResult::Failed { .. }) {
                    code = code.max(Some(EXIT_RUNTIME));
                }
                eprintln!("{name}: {}", words(other));
            }
        }
        let address = node.address.as_deref().unwrap_or("this node");
        missing.push(format!("{name} ({address})"));
    }
    let Some(code) = code else {
        if !missing.is_empty() {
            eprintln!(
                "warning: not {verb} on {}: run the same command again once {} back \
                 (`hareconcile status` shows the skew meanwhile)",
                missing.join(", "),
                if missing.len() == 1 {
                    "it is"
                } else {
                    "they are"
                }
            );
        }
        return Ok(());
    };
    let message = if done.is_empty() {
        format!(
            "nothing was {verb} on any node: every node must take the change, or none does. \
             Fix what is listed above and run the same command again; --allow-unreachable \
             writes the nodes that answer, --local this node only"
        )
    } else {
        format!(
            "{verb} on {} only, not on {}: fix what is listed above and run the same \
             command again (nodes that have it stay as they are)",
            done.join(", "),
            missing.join(", ")
        )
    };
    Err(CliError {
        code,
        message: format!("error: {message}"),
    })
}

/// A node's outcome other than done, in words.
fn words<T>(result: &WriteResult<T>) -> String {
    match result {
        WriteResult::Done { .. } => "done".to_string(),
        WriteResult::Refused { error, .. } => format!("refused: {}", error.error),
        WriteResult::Unreachable { error } => format!("unreachable: {error}"),
        WriteResult::Held => "accepted, but held back: another node did not take it".to_string(),
        WriteResult::Failed { error } => format!("accepted, then failed: {error}"),
    }
}

/// A refusal for bad input is the caller's to fix (exit 2); anything
/// else is a runtime failure (exit 3).
fn exit_code(status: u16) -> u8 {
    if (400..500).contains(&status) {
        EXIT_INPUT
    } else {
        EXIT_RUNTIME
    }
}
