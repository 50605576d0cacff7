//! The per-node object store.
//!
//! Holds every declared object in memory for fast reads and in an embedded
//! database under `--state-dir` for durability. Writes are batches that
//! commit atomically: a batch either lands whole or not at all. Specs are
//! written by managers (`cli`, `files`, `gitops`); status only by
//! controllers, through [`Store::update_status`], so applying a spec never
//! clobbers what a controller observed.

mod events;
mod persist;
mod schema;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use hareconcile_model::{Kind, Manager, Object, ObjectKey, Status};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use events::{Event, EventType};
pub use schema::SCHEMA_VERSION;
pub use watch::{WatchEvent, WatchEventType, Watcher};

use events::EventLog;
use persist::{Flush, Persistence, Write};
use watch::History;

/// The database file inside `--state-dir`.
pub const STATE_FILE: &str = "store.redb";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state file {path} is corrupt: {detail}. Move it aside to start empty (objects are re-applied from manifests or git), or restore a backup")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "state file {path} has store schema version {found}, written by a newer hareconcile; \
         this agent (hareconcile {}) reads versions up to {supported}. Upgrade hareconcile on \
         this node, or restore the state directory's backup from before the upgrade",
        env!("CARGO_PKG_VERSION")
    )]
    NewerSchema {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("cannot migrate state file {path} from store schema version {from} to {to}: {detail}. The file is unchanged; the previous hareconcile still reads it")]
    Migration {
        path: PathBuf,
        from: u64,
        to: u64,
        detail: String,
    },
    #[error("state file {path} is in use by another agent: stop it, or give this agent its own --state-dir")]
    Locked { path: PathBuf },
    #[error("cannot write state file {path}: {detail}. The agent needs its --state-dir on a writable file system with free space")]
    Io { path: PathBuf, detail: String },
    #[error("cannot create state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<Conflict>),
    #[error("{0} not found")]
    NotFound(ObjectKey),
    #[error("watch from resourceVersion {requested} expired (oldest kept change is {oldest}): list again")]
    Expired { requested: u64, oldest: u64 },
}

/// An object another manager owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub key: ObjectKey,
    pub owner: Manager,
    pub requester: Manager,
}

fn conflict_message(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(|c| {
            format!(
                "{} is managed by {}, not {}: change it where {} gets it from, or use --force to take it over",
                c.key, c.owner, c.requester, c.owner
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Refuses a write to objects another manager owns, unless forced.
fn check_ownership(
    current: &BTreeMap<ObjectKey, Arc<Object>>,
    keys: impl Iterator<Item = ObjectKey>,
    requester: Manager,
    options: ApplyOptions,
) -> Result<(), StoreError> {
    if options.force {
        return Ok(());
    }
    let conflicts: Vec<Conflict> = keys
        .filter_map(|key| {
            let owner = current.get(&key)?.metadata.manager?;
            (owner != requester).then_some(Conflict {
                key,
                owner,
                requester,
            })
        })
        .collect();
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Conflict(conflicts))
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyOptions {
    /// Take over objects another manager owns.
    #[serde(default)]
    pub force: bool,
    /// Compute the outcome without writing anything.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyResult {
    Created,
    Configured,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyOutcome {
    pub key: ObjectKey,
    pub result: ApplyResult,
    pub generation: u64,
}

/// What [`Store::converge`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Converged {
    pub outcomes: Vec<ApplyOutcome>,
    /// Objects of the manager that the batch no longer declared.
    pub pruned: Vec<ObjectKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
}

struct Inner {
    objects: BTreeMap<ObjectKey, Arc<Object>>,
    resource_version: u64,
}

/// Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<RwLock<Inner>>,
    /// Serializes writers so that history order equals commit order.
    write_lock: Arc<Mutex<()>>,
    persistence: Arc<Persistence>,
    history: Arc<History>,
    events: Arc<EventLog>,
    node: Arc<str>,
    state_dir: Arc<Path>,
}

impl Store {
    /// Opens (or creates) the store of node `node` under `state_dir`. A
    /// directory it creates is private to the agent's user (0700, whatever
    /// the umask): the store holds every object, and controllers keep
    /// their own state (ssh control sockets, GitOps checkouts) beside it.
    pub fn open(state_dir: &Path, node: &str) -> Result<Self, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        let created = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir);
        created.map_err(|source| StoreError::StateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(STATE_FILE);
        let (persistence, layout) = Persistence::open(&path)?;
        if let schema::Layout::Migrated { from } = layout {
            tracing::info!(
                path = %path.display(),
                from,
                to = SCHEMA_VERSION,
                "state file migrated to the current store schema"
            );
        }
        let (loaded, resource_version) = persistence.load()?;
        let objects = loaded.into_iter().map(|o| (o.key(), Arc::new(o))).collect();
        Ok(Store {
            inner: Arc::new(RwLock::new(Inner {
                objects,
                resource_version,
            })),
            write_lock: Arc::new(Mutex::new(())),
            persistence: Arc::new(persistence),
            history: Arc::new(History::new(resource_version)),
            events: Arc::new(EventLog::new(node.to_string())),
            node: node.into(),
            state_dir: state_dir.into(),
        })
    }

    /// Why the store cannot write, while it cannot: the error of the last
    /// commit, until one succeeds. Reads go on from memory meanwhile.
    pub fn write_problem(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.persistence.problem()
    }

    /// Commits nothing but the current resourceVersion, durably: tells
    /// whether the store can write again when nothing else would.
    pub fn probe_write(&self) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().expect("store write lock");
        let resource_version = self.read().resource_version;
        self.persistence.commit(&[], resource_version, Flush::Now)
    }

    /// The node this store belongs to.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The directory the store lives in, which controllers may use for
    /// node-local state of their own (e.g. the sync controller's ssh
    /// connection sockets).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn resource_version(&self) -> u64 {
        self.read().resource_version
    }

    pub fn get(&self, key: &ObjectKey) -> Option<Arc<Object>> {
        self.read().objects.get(key).cloned()
    }

    /// Objects of one kind (or all), ordered by kind then name, with the
    /// resourceVersion the list is consistent with (to watch from).
    pub fn list(&self, kind: Option<Kind>) -> (Vec<Arc<Object>>, u64) {
        let inner = self.read();
        let objects = inner
            .objects
            .values()
            .filter(|o| kind.is_none_or(|k| o.kind == k))
            .cloned()
            .collect();
        (objects, inner.resource_version)
    }

    /// The objects and version a writer works from (under the write lock,
    /// so nothing changes them until it publishes).
    fn snapshot(&self) -> (BTreeMap<ObjectKey, Arc<Object>>, u64) {
        let inner = self.read();
        (inner.objects.clone(), inner.resource_version)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().expect("store lock")
    }

    /// Applies a batch of specs as `manager`, all or nothing. Objects whose
    /// spec, labels and annotations are unchanged are not written and keep
    /// their generation; a spec change bumps the generation; status is
    /// always kept.
    pub fn apply(
        &self,
        batch: Vec<Object>,
        manager: Manager,
        options: ApplyOptions,
    ) -> Result<Vec<ApplyOutcome>, StoreError> {
        self.write_batch(batch, manager, options, false)
            .map(|converged| converged.outcomes)
    }

    /// Makes `manager`'s objects exactly `batch`, in one commit: applies
    /// it as [`Store::apply`] does and deletes the objects `manager` owns
    /// that the batch no longer declares. What a manifests directory or a
    /// git commit needs: the new state lands whole or not at all.
    pub fn converge(
        &self,
        batch: Vec<Object>,
        manager: Manager,
        options: ApplyOptions,
    ) -> Result<Converged, StoreError> {
        self.write_batch(batch, manager, options, true)
    }

    fn write_batch(
        &self,
        batch: Vec<Object>,
        manager: Manager,
        options: ApplyOptions,
        prune: bool,
    ) -> Result<Converged, StoreError> {
        let _writer = self.write_lock.lock().expect("store write lock");
        let (current, mut resource_version) = self.snapshot();

        check_ownership(&current, batch.iter().map(Object::key), manager, options)?;

        let now = OffsetDateTime::now_utc();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut changed: Vec<(WatchEventType, Object)> = Vec::new();
        for mut object in batch {
            let key = object.key();
            let previous = current.get(&key);
            let (result, generation) = match previous {
                None => {
                    resource_version += 1;
                    object.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
                    object.metadata.generation = 1;
                    object.metadata.creation_timestamp = Some(now);
                    object.status = Status::default();
                    (ApplyResult::Created, 1)
                }
                Some(previous) => {
                    let spec_changed = previous.spec != object.spec;
                    let meta_changed = previous.metadata.labels != object.metadata.labels
                        || previous.metadata.annotations != object.metadata.annotations
                        || previous.metadata.manager != Some(manager);
                    if !spec_changed && !meta_changed {
                        outcomes.push(ApplyOutcome {
                            key,
                            result: ApplyResult::Unchanged,
                            generation: previous.metadata.generation,
                        });
                        continue;
                    }
                    resource_version += 1;
                    object.metadata.uid = previous.metadata.uid.clone();
                    object.metadata.creation_timestamp = previous.metadata.creation_timestamp;
                    object.metadata.generation =
                        previous.metadata.generation + u64::from(spec_changed);
                    object.status = previous.status.clone();
                    (ApplyResult::Configured, object.metadata.generation)
                }
            };
            object.metadata.manager = Some(manager);
            object.metadata.resource_version = Some(resource_version.to_string());
            let event_type = if previous.is_some() {
                WatchEventType::Modified
            } else {
                WatchEventType::Added
            };
            changed.push((event_type, object));
            outcomes.push(ApplyOutcome {
                key,
                result,
                generation,
            });
        }

        let mut pruned = Vec::new();
        if prune {
            let declared: BTreeSet<ObjectKey> = outcomes.iter().map(|o| o.key.clone()).collect();
            for (key, object) in &current {
                if object.metadata.manager == Some(manager) && !declared.contains(key) {
                    resource_version += 1;
                    pruned.push(key.clone());
                    changed.push((WatchEventType::Deleted, (**object).clone()));
                }
            }
        }

        if !options.dry_run && !changed.is_empty() {
            let writes: Vec<Write<'_>> = changed
                .iter()
                .map(|(type_, o)| match type_ {
                    WatchEventType::Deleted => Write::Delete(o.key()),
                    _ => Write::Put(o),
                })
                .collect();
            self.persistence
                .commit(&writes, resource_version, Flush::Now)?;
            self.publish(
                changed
                    .into_iter()
                    .map(|(type_, object)| (type_, Arc::new(object)))
                    .collect(),
                resource_version,
            );
        }
        Ok(Converged { outcomes, pruned })
    }

    /// Deletes objects as `manager`, all or nothing. Deleting an object
    /// another manager owns is refused without `force`, because that
    /// manager would only create it again.
    pub fn delete(
        &self,
        keys: &[ObjectKey],
        manager: Manager,
        options: ApplyOptions,
    ) -> Result<Vec<(ObjectKey, DeleteOutcome)>, StoreError> {
        let _writer = self.write_lock.lock().expect("store write lock");
        let (current, mut resource_version) = self.snapshot();
        check_ownership(&current, keys.iter().cloned(), manager, options)?;
        let mut outcomes = Vec::new();
        let mut removed = Vec::new();
        let mut seen = BTreeSet::new();
        for key in keys {
            match current.get(key) {
                Some(object) if seen.insert(key.clone()) => {
                    resource_version += 1;
                    removed.push((WatchEventType::Deleted, Arc::clone(object)));
                    outcomes.push((key.clone(), DeleteOutcome::Deleted));
                }
                _ => outcomes.push((key.clone(), DeleteOutcome::NotFound)),
            }
        }
        if !options.dry_run && !removed.is_empty() {
            let writes: Vec<Write<'_>> = removed
                .iter()
                .map(|(_, o)| Write::Delete(o.key()))
                .collect();
            self.persistence
                .commit(&writes, resource_version, Flush::Now)?;
            self.publish(removed, resource_version);
        }
        Ok(outcomes)
    }

    /// Replaces the status of an object; the status subresource. Only
    /// controllers call this. Returns the stored object, or `NotFound` if
    /// it was deleted meanwhile. Writes nothing when the status is equal.
    /// The write is atomic but reaches the disk with a later commit, within
    /// seconds (see `persist`): status is recomputed after a restart.
    pub fn update_status(
        &self,
        key: &ObjectKey,
        update: impl FnOnce(&mut Status),
    ) -> Result<Arc<Object>, StoreError> {
        let _writer = self.write_lock.lock().expect("store write lock");
        let (current, resource_version) = {
            let inner = self.read();
            let current = inner
                .objects
                .get(key)
                .cloned()
                .ok_or_else(|| StoreError::NotFound(key.clone()))?;
            (current, inner.resource_version)
        };
        let mut object = (*current).clone();
        update(&mut object.status);
        if object.status == current.status {
            return Ok(current);
        }
        let resource_version = resource_version + 1;
        object.metadata.resource_version = Some(resource_version.to_string());
        self.persistence
            .commit(&[Write::Put(&object)], resource_version, Flush::Soon)?;
        let object = Arc::new(object);
        self.publish(
            vec![(WatchEventType::Modified, Arc::clone(&object))],
            resource_version,
        );
        Ok(object)
    }

    /// Updates memory and wakes watchers after a commit.
    fn publish(&self, changes: Vec<(WatchEventType, Arc<Object>)>, resource_version: u64) {
        let first_version = resource_version + 1 - changes.len() as u64;
        let mut watch_events = Vec::with_capacity(changes.len());
        {
            let mut inner = self.inner.write().expect("store lock");
            for (i, (type_, object)) in changes.into_iter().enumerate() {
                match type_ {
                    WatchEventType::Deleted => {
                        inner.objects.remove(&object.key());
                    }
                    _ => {
                        inner.objects.insert(object.key(), Arc::clone(&object));
                    }
                }
                watch_events.push(WatchEvent {
                    type_,
                    resource_version: first_version + i as u64,
                    object,
                });
            }
            inner.resource_version = resource_version;
        }
        self.history.record(watch_events);
    }

    /// Changes after `since` (a resourceVersion returned by [`Store::list`]),
    /// optionally of one kind.
    pub fn watch(&self, kind: Option<Kind>, since: u64) -> Result<Watcher, StoreError> {
        self.history.watcher(kind, since)
    }

    pub fn record_event(&self, object: &ObjectKey, type_: EventType, reason: &str, message: &str) {
        self.events.record(object, type_, reason, message);
    }

    /// Every event recorded from now on, as it happens.
    pub fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn events(&self, object: Option<&ObjectKey>) -> Vec<Event> {
        self.events.list(object)
    }
}

#[cfg(test)]
mod damage_tests;
#[cfg(test)]
mod tests;
