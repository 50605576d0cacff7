//! Keeps a directory of manifests applied, as manager `files`.
//!
//! Every sync loads the whole directory: file events only say *when* to
//! look, never *what* changed, so a missed or overflowed event stream
//! costs a little latency, not correctness. A directory with any error is
//! not applied at all (the last good state stays), and objects no file
//! declares any more are pruned.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use hareconcile_model::Manager;
use hareconcile_runtime::{ApplyResult, Store};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::declared::{converge_directory, ConvergeError};

/// Editors write a file in several steps; wait for quiet before loading.
const DEBOUNCE: Duration = Duration::from_millis(150);

pub fn start(
    dir: PathBuf,
    store: Store,
    resync: Duration,
    allow_prune_all: bool,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let dir = std::fs::canonicalize(&dir)
        .with_context(|| format!("manifests directory {}", dir.display()))?;
    let (changed, mut changes) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match &event {
            // Our own reads of the files are events too: reacting to them
            // would reload the directory forever.
            Ok(event) if !changes_content(event) => return,
            Ok(_) => {}
            // An error (e.g. an overflowed queue) is a change like any
            // other: the sync that follows reads everything again.
            Err(e) => warn!(error = %e, "file watch error; resyncing the manifests directory"),
        }
        let _ = changed.send(());
    })
    .context("starting the file watcher")?;
    watcher
        .watch(&dir, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    info!(dir = %dir.display(), "watching manifests");

    Ok(tokio::spawn(async move {
        // Owned by the task so watching stops when it ends.
        let _watcher = watcher;
        let mut periodic = tokio::time::interval(resync);
        loop {
            tokio::select! {
                _ = periodic.tick() => {}
                Some(()) = changes.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while changes.try_recv().is_ok() {}
                }
                _ = stopped.changed() => return,
            }
            let (dir, store) = (dir.clone(), store.clone());
            let synced =
                tokio::task::spawn_blocking(move || sync(&dir, &store, allow_prune_all)).await;
            if let Err(e) = synced {
                warn!(error = %e, "manifest sync task failed");
            }
        }
    }))
}

/// Whether an event may have changed what the directory declares.
fn changes_content(event: &notify::Event) -> bool {
    !matches!(event.kind, EventKind::Access(_))
}

/// Applies the directory as it is now and prunes what it no longer declares.
fn sync(dir: &Path, store: &Store, allow_prune_all: bool) {
    match converge_directory(dir, store, Manager::Files, allow_prune_all) {
        Ok(converged) => {
            for outcome in converged
                .outcomes
                .iter()
                .filter(|o| o.result != ApplyResult::Unchanged)
            {
                info!(object = %outcome.key, result = ?outcome.result, generation = outcome.generation, "applied from manifests");
            }
            for key in &converged.pruned {
                info!(object = %key, "pruned: no manifest declares it any more");
            }
        }
        Err(ConvergeError::Invalid(diagnostics)) => {
            for d in &diagnostics.0 {
                warn!("{d}");
            }
            warn!(
                errors = diagnostics.0.len(),
                "manifests directory has errors; nothing applied, the last good state stays"
            );
        }
        Err(ConvergeError::PruneRefused(refused)) => {
            warn!(dir = %dir.display(), "manifests directory not applied: {refused}")
        }
        Err(ConvergeError::Store(e)) => warn!(error = %e, "manifests not applied"),
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};

    use super::*;

    #[test]
    fn reading_a_manifest_is_not_a_change() {
        let event = |kind| notify::Event::new(kind);
        assert!(!changes_content(&event(EventKind::Access(
            AccessKind::Close(AccessMode::Read)
        ))));
        assert!(!changes_content(&event(EventKind::Access(
            AccessKind::Open(AccessMode::Any)
        ))));
        assert!(changes_content(&event(EventKind::Modify(ModifyKind::Any))));
        assert!(changes_content(&event(EventKind::Create(CreateKind::File))));
        assert!(changes_content(&event(EventKind::Any)));
    }
}
