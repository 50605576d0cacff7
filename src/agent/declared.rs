//! Makes one manager's objects equal to what a directory declares: the
//! common step of the manifests watcher (manager `files`) and GitOps
//! (manager `gitops`).

use std::collections::BTreeSet;
use std::path::Path;

use hareconcile_compose::ComposeFiles;
use hareconcile_model::load::{load_paths_checked, Diagnostics};
use hareconcile_model::{Manager, Object, ObjectKey};
use hareconcile_runtime::{ApplyOptions, Converged, EventType, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    /// The directory has errors; nothing was changed.
    #[error("{} error(s) in the manifests; nothing applied", .0.0.len())]
    Invalid(Diagnostics),
    #[error(transparent)]
    PruneRefused(#[from] PruneRefused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `--allow-prune-all` opts into, and what a refusal tells to do.
pub const ALLOW_PRUNE_ALL: &str = "--allow-prune-all";

/// The set declares none of the objects its manager applied before:
/// applying it would delete them all.
#[derive(Debug, thiserror::Error)]
#[error(
    "it declares none of the {} object(s) applied from it before ({}): deleting them all at once is refused, nothing applied; \
     restore the manifests, or start the agent with {ALLOW_PRUNE_ALL} if that is meant",
    .0.len(),
    .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
)]
pub struct PruneRefused(pub Vec<ObjectKey>);

/// Whether `declared` may replace `manager`'s objects. A set that would
/// delete every one of them (an emptied directory or commit, a wrong
/// path) is far more often a mistake than an intent, so it is refused
/// unless `allow_prune_all` (as Argo CD refuses an empty sync); each
/// object kept gets a `PruneRefused` Warning event saying why.
pub fn check_prune(
    store: &Store,
    manager: Manager,
    declared: &[Object],
    allow_prune_all: bool,
) -> Result<(), PruneRefused> {
    if allow_prune_all {
        return Ok(());
    }
    let kept: BTreeSet<ObjectKey> = declared.iter().map(Object::key).collect();
    let held: Vec<ObjectKey> = store
        .list(None)
        .0
        .iter()
        .filter(|o| o.metadata.manager == Some(manager))
        .map(|o| o.key())
        .collect();
    if held.is_empty() || held.iter().any(|key| kept.contains(key)) {
        return Ok(());
    }
    let refused = PruneRefused(held);
    let message = format!("manager {manager}: {refused}");
    for key in &refused.0 {
        store.record_event(key, EventType::Warning, "PruneRefused", &message);
    }
    Err(refused)
}

/// Loads and validates the whole directory, with the compose files its
/// Services name, then applies it and prunes the manager's objects it no
/// longer declares, in one commit. A Service whose compose files changed
/// is configured with their new digest, so the controller acts at once.
/// A directory that would prune every object of the manager is refused
/// ([`check_prune`]).
pub fn converge_directory(
    dir: &Path,
    store: &Store,
    manager: Manager,
    allow_prune_all: bool,
) -> Result<Converged, ConvergeError> {
    let (stored, _) = store.list(None);
    // Objects from other managers resolve references; the manager's own
    // are replaced by what the directory says now.
    let others: Vec<Object> = stored
        .iter()
        .filter(|o| o.metadata.manager != Some(manager))
        .map(|o| (**o).clone())
        .collect();
    let manifests =
        load_paths_checked(&[dir], &others, &ComposeFiles).map_err(ConvergeError::Invalid)?;
    let objects: Vec<Object> = manifests.into_iter().map(|m| m.object).collect();
    check_prune(store, manager, &objects, allow_prune_all)?;
    Ok(store.converge(objects, manager, ApplyOptions::default())?)
}
