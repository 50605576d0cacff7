//! A batch written into this node's store, as every API takes one: the
//! local API for the CLI, the peer API for another node's agent carrying
//! an `apply` to every node. Validated against what the store holds, then
//! written all or nothing; a refusal says every problem or conflict.
//!
//! The request and refusal bodies live here, below both APIs, so that the
//! local and the peer route run the very same write.

use hareconcile_compose::ComposeFiles;
use hareconcile_model::load::ReferencedFiles;
use hareconcile_model::validate::{check_batch, check_set, Problem};
use hareconcile_model::{Manager, Object, ObjectKey};
use hareconcile_runtime::store::Conflict;
use hareconcile_runtime::{ApplyOptions, ApplyOutcome, DeleteOutcome, Store, StoreError};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRequest {
    pub manager: Manager,
    #[serde(default)]
    pub options: ApplyOptions,
    pub keys: Vec<ObjectKey>,
    /// Delete the objects that refer to these too, instead of refusing.
    #[serde(default)]
    pub cascade: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DeleteResponse {
    pub outcomes: Vec<(ObjectKey, DeleteOutcome)>,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ObjectProblem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            problems: Vec::new(),
            conflicts: Vec::new(),
        }
    }
}

/// Why a batch was not written, as an HTTP answer says it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl Refusal {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Refusal {
            status,
            body: ErrorBody::new(error),
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Expired { .. } => StatusCode::GONE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut refusal = Refusal::new(status, e.to_string());
        if let StoreError::Conflict(conflicts) = e {
            refusal.body.conflicts = conflicts;
        }
        refusal
    }
}

/// Validates the batch with what the store holds and writes it, all or
/// nothing (a dry run only reports what would change).
pub async fn apply_here(
    store: &Store,
    mut request: ApplyRequest,
) -> Result<ApplyResponse, Refusal> {
    let store = store.clone();
    // Checking compose files reads them: off the async threads.
    let outcomes = tokio::task::spawn_blocking(move || {
        let problems = validate_against_store(&store, &mut request.objects);
        if !problems.is_empty() {
            let mut refusal = Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{} problem(s) found; nothing was applied", problems.len()),
            );
            refusal.body.problems = problems;
            return Err(refusal);
        }
        Ok(store.apply(request.objects, request.manager, request.options)?)
    })
    .await
    .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(ApplyResponse { outcomes })
}

/// [`check_batch`] over this node's store, then the compose files of each
/// Service as this agent will load them (its environment, its view of the
/// files: a compose file missing on a peer is refused there), as the API
/// reports problems. What the check records of those files replaces what
/// the client sent: the store holds this agent's digest, so applying
/// unchanged files again is `unchanged`.
fn validate_against_store(store: &Store, batch: &mut [Object]) -> Vec<ObjectProblem> {
    let (stored, _) = store.list(None);
    let problems: Vec<ObjectProblem> = check_batch(stored.iter().map(AsRef::as_ref), batch)
        .into_iter()
        .map(ObjectProblem::from)
        .collect();
    if !problems.is_empty() {
        return problems;
    }
    let mut problems = Vec::new();
    for object in batch {
        let checked = ComposeFiles.check(object);
        object.metadata.annotations.extend(checked.annotations);
        problems.extend(
            checked
                .problems
                .into_iter()
                .map(|d| ObjectProblem::in_file(object.key(), d)),
        );
    }
    problems
}

/// Deletes the keys, all or nothing; a key the store lacks is `NotFound`.
/// An object left behind must not refer to one deleted (a Service that
/// follows a deleted VirtualIP makes every later write to the set fail
/// validation): the delete is refused naming those dependents, or with
/// `cascade` they are deleted too.
pub async fn delete_here(
    store: &Store,
    mut request: DeleteRequest,
) -> Result<DeleteResponse, Refusal> {
    let store = store.clone();
    let outcomes = tokio::task::spawn_blocking(move || {
        let (stored, _) = store.list(None);
        let stored: Vec<&Object> = stored.iter().map(AsRef::as_ref).collect();
        loop {
            let dangling = dangling_after(&stored, &request.keys);
            if dangling.is_empty() {
                break;
            }
            if !request.cascade {
                return Err(dependents_refusal(&request.keys, dangling));
            }
            for problem in dangling {
                if !request.keys.contains(&problem.key) {
                    request.keys.push(problem.key);
                }
            }
        }
        Ok(store.delete(&request.keys, request.manager, request.options)?)
    })
    .await
    .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(DeleteResponse { outcomes })
}

/// The problems the stored set would have without `keys` that it does not
/// have now: references to what the delete removes.
fn dangling_after(stored: &[&Object], keys: &[ObjectKey]) -> Vec<Problem> {
    let before = check_set(stored);
    let remaining: Vec<&Object> = stored
        .iter()
        .copied()
        .filter(|o| !keys.contains(&o.key()))
        .collect();
    check_set(&remaining)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect()
}

fn dependents_refusal(keys: &[ObjectKey], dangling: Vec<Problem>) -> Refusal {
    let mut dependents: Vec<String> = dangling.iter().map(|p| p.key.to_string()).collect();
    dependents.sort();
    dependents.dedup();
    let deleted: Vec<String> = keys.iter().map(ToString::to_string).collect();
    let mut refusal = Refusal::new(
        StatusCode::CONFLICT,
        format!(
            "{} refer(s) to {}: delete them too with --cascade, or change them first; \
             nothing was deleted",
            dependents.join(", "),
            deleted.join(", ")
        ),
    );
    refusal.body.problems = dangling.into_iter().map(ObjectProblem::from).collect();
    refusal
}
