//! Keeps a directory of manifests applied, as manager `files`.
//!
//! Every sync loads the whole directory: file events only say *when* to
//! look, never *what* changed, so a missed or overflowed event stream
//! costs a little latency, not correctness. A directory with any error is
//! not applied at all (the last good state stays), and objects no file
//! declares any more are pruned.
//!
//! The directory's manifests (every YAML file's path and bytes, SHA-256)
//! name the set: new content is on trial ([`crate::trials`]) from before it is
//! read, and content that killed the agent is skipped until it changes
//! or is retried.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use hareconcile_model::load::{is_yaml, MAX_MANIFEST_BYTES};
use hareconcile_model::Manager;
use hareconcile_runtime::{ApplyResult, Store};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::declared::{converge_directory, ConvergeError};
use crate::trials::{self, Trials};

/// Editors write a file in several steps; wait for quiet before loading.
const DEBOUNCE: Duration = Duration::from_millis(150);

pub fn start(
    dir: PathBuf,
    store: Store,
    resync: Duration,
    allow_prune_all: bool,
    trials: Trials,
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
        // The rejected content last reported, so it is reported once.
        let mut reported = None;
        loop {
            tokio::select! {
                _ = periodic.tick() => {}
                Some(()) = changes.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while changes.try_recv().is_ok() {}
                }
                _ = stopped.changed() => return,
            }
            let (dir, store, trials) = (dir.clone(), store.clone(), trials.clone());
            let last_reported = reported.take();
            let synced = tokio::task::spawn_blocking(move || {
                let content = digest(&dir);
                if let Some(rejection) = trials.rejection(Manager::Files, &content) {
                    if last_reported.as_ref() != Some(&content) {
                        warn!(dir = %dir.display(), "{}", rejection.message());
                    }
                    return Some(content);
                }
                // Before the files are read: reading them may be what kills us.
                let held = trials::held(&store, Manager::Files);
                trials.begin(Manager::Files, &content, || held.clone());
                if !sync(&dir, &store, allow_prune_all) {
                    trials.withdraw(Manager::Files, &content);
                    return None;
                }
                // A file changed while they were read: what was applied
                // may be the newer content, which is on trial from here,
                // to be rejected back to what was held before.
                let read = digest(&dir);
                if read != content {
                    trials.begin(Manager::Files, &read, || held);
                }
                None
            })
            .await;
            match synced {
                Ok(rejected) => reported = rejected,
                Err(e) => warn!(error = %e, "manifest sync task failed"),
            }
        }
    }))
}

/// Whether an event may have changed what the directory declares.
fn changes_content(event: &notify::Event) -> bool {
    !matches!(event.kind, EventKind::Access(_))
}

/// What the directory declares: the SHA-256 of every YAML file's path
/// and bytes, as the loader finds them (links kept inside, no devices). A
/// file too large for a manifest counts by its size and modification
/// time. Other files (a stack's data, a database) are no part of the set:
/// one that changes all the time would keep it on trial for ever.
fn digest(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let walk = hareconcile_fs::walk(dir, is_yaml);
    for found in &walk.files {
        hash.update(found.path.as_os_str().as_encoded_bytes());
        hash.update([0]);
        match hareconcile_fs::read_regular(&found.real, MAX_MANIFEST_BYTES) {
            Ok(bytes) => {
                hash.update((bytes.len() as u64).to_le_bytes());
                hash.update(&bytes);
            }
            Err(e) => {
                let stamp = std::fs::metadata(&found.real).and_then(|m| m.modified());
                hash.update(format!("{e} {stamp:?}").as_bytes());
            }
        }
    }
    for problem in &walk.problems {
        hash.update(problem.path.as_os_str().as_encoded_bytes());
        hash.update(problem.message.as_bytes());
    }
    hash.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Applies the directory as it is now and prunes what it no longer
/// declares; whether it did.
fn sync(dir: &Path, store: &Store, allow_prune_all: bool) -> bool {
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
            return true;
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
    false
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

    #[test]
    fn the_set_is_the_manifests_paths_and_bytes_only() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("web.yaml", "kind: VirtualIP\n");
        let first = digest(dir.path());
        assert_eq!(first.len(), 64);
        write("data.db", "a stack's data, changing all the time");
        assert_eq!(digest(dir.path()), first);
        write("web.yaml", "kind: VirtualIP # changed\n");
        let changed = digest(dir.path());
        assert_ne!(changed, first);
        std::fs::rename(dir.path().join("web.yaml"), dir.path().join("www.yml")).unwrap();
        assert_ne!(digest(dir.path()), changed, "a renamed file is another set");
    }
}
