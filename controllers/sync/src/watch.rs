//! Continuous mode: inotify (through `notify`) on the source path marks it
//! changed; the worker then waits a short batching window so a burst of
//! writes travels in one pass.

use std::path::Path;
use std::sync::Arc;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

use crate::term::META_DIR;

/// Watches one source path until dropped.
pub struct Changes {
    _watcher: notify::RecommendedWatcher,
    /// Signalled on each relevant change (coalesced: one stored permit).
    pub changed: Arc<Notify>,
}

impl Changes {
    pub fn watch(path: &Path) -> notify::Result<Changes> {
        let changed = Arc::new(Notify::new());
        let signal = Arc::clone(&changed);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                // An error (queue overflow) may hide changes: treat it as one.
                if event.as_ref().map_or(true, is_data_change) {
                    signal.notify_one();
                }
            })?;
        watcher.watch(path, RecursiveMode::Recursive)?;
        Ok(Changes {
            _watcher: watcher,
            changed,
        })
    }
}

/// Reads, and the controller's own metadata (terms, snapshots), change
/// nothing worth copying.
fn is_data_change(event: &notify::Event) -> bool {
    !matches!(event.kind, EventKind::Access(_))
        && !event
            .paths
            .iter()
            .all(|p| p.components().any(|c| c.as_os_str() == META_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind};
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn reads_and_metadata_are_not_changes() {
        let event = |kind, path: &str| notify::Event::new(kind).add_path(PathBuf::from(path));
        let create = EventKind::Create(CreateKind::File);
        assert!(is_data_change(&event(create, "/srv/data/a")));
        assert!(!is_data_change(&event(
            create,
            "/srv/data/.hareconcile/term.tmp"
        )));
        assert!(!is_data_change(&event(
            EventKind::Access(AccessKind::Any),
            "/srv/data/a"
        )));
    }

    #[tokio::test]
    async fn a_write_below_the_path_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let changes = Changes::watch(dir.path()).unwrap();
        std::fs::write(dir.path().join("sub/file"), "x").unwrap();
        tokio::time::timeout(Duration::from_secs(30), changes.changed.notified())
            .await
            .expect("inotify reported the write");
    }
}
