//! Makes one manager's objects equal to what a directory declares: the
//! common step of the manifests watcher (manager `files`) and GitOps
//! (manager `gitops`).

use std::path::Path;

use hareconcile_compose::ComposeFiles;
use hareconcile_model::load::{load_paths_checked, Diagnostics};
use hareconcile_model::{Manager, Object};
use hareconcile_runtime::{ApplyOptions, Converged, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    /// The directory has errors; nothing was changed.
    #[error("{} error(s) in the manifests; nothing applied", .0.0.len())]
    Invalid(Diagnostics),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Loads and validates the whole directory, with the compose files its
/// Services name, then applies it and prunes the manager's objects it no
/// longer declares, in one commit. A Service whose compose files changed
/// is configured with their new digest, so the controller acts at once.
pub fn converge_directory(
    dir: &Path,
    store: &Store,
    manager: Manager,
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
    let objects = manifests.into_iter().map(|m| m.object).collect();
    Ok(store.converge(objects, manager, ApplyOptions::default())?)
}
