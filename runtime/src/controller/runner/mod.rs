//! Runs one [`Reconciler`]: turns store changes, triggers, requeues and
//! the periodic resync into reconciles, one at a time per object.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use hareconcile_model::{Kind, Object, ObjectKey};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{error_chain, Action, Backoff, Context, Reconciler};
use crate::store::{EventType, StoreError, WatchEvent, WatchEventType};

enum Command {
    Trigger(ObjectKey),
    TriggerAll,
    Due(ObjectKey, Instant),
    Shutdown(oneshot::Sender<()>),
}

/// A controller ready to start. Configure, then [`Controller::start`].
pub struct Controller<R: Reconciler> {
    reconciler: Arc<R>,
    ctx: Context,
    resync: Duration,
    backoff: Backoff,
}

/// Talks to a running controller. Cheap to clone.
#[derive(Clone)]
pub struct ControllerHandle {
    commands: mpsc::UnboundedSender<Command>,
    kind: Kind,
}

impl ControllerHandle {
    /// Reconciles one object soon (from a netlink, docker or inotify event).
    pub fn trigger(&self, key: ObjectKey) {
        let _ = self.commands.send(Command::Trigger(key));
    }

    /// Reconciles every object of the controller's kind soon.
    pub fn trigger_all(&self) {
        let _ = self.commands.send(Command::TriggerAll);
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Stops taking work and waits for reconciles in flight to finish.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Shutdown(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

impl<R: Reconciler> Controller<R> {
    pub fn new(reconciler: R, ctx: Context) -> Self {
        Controller {
            reconciler: Arc::new(reconciler),
            ctx,
            resync: Duration::from_secs(30),
            backoff: Backoff::default(),
        }
    }

    /// How often every object is reconciled even without a change.
    pub fn resync_every(mut self, period: Duration) -> Self {
        self.resync = period;
        self
    }

    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Spawns the controller on the current tokio runtime.
    pub fn start(self) -> ControllerHandle {
        let (commands, receiver) = mpsc::unbounded_channel();
        let kind = R::KIND;
        let handle = ControllerHandle {
            commands: commands.clone(),
            kind,
        };
        let loop_state = Loop {
            reconciler: self.reconciler,
            ctx: self.ctx,
            resync: self.resync,
            backoff: self.backoff,
            commands,
            running: HashSet::new(),
            dirty: HashSet::new(),
            failures: HashMap::new(),
            requeue_at: HashMap::new(),
            seen: HashMap::new(),
            dependencies: HashMap::new(),
            tasks: JoinSet::new(),
        };
        tokio::spawn(loop_state.run(receiver));
        handle
    }
}

/// Whether two versions of an object differ in their status at most.
fn same_but_status(before: &Object, after: &Object) -> bool {
    before.spec == after.spec
        && before.metadata.generation == after.metadata.generation
        && before.metadata.labels == after.metadata.labels
        && before.metadata.annotations == after.metadata.annotations
}

/// The outcome of one reconcile or cleanup task.
type Done = (ObjectKey, Result<Action, String>);

struct Loop<R: Reconciler> {
    reconciler: Arc<R>,
    ctx: Context,
    resync: Duration,
    backoff: Backoff,
    commands: mpsc::UnboundedSender<Command>,
    running: HashSet<ObjectKey>,
    /// Objects that changed while their reconcile was running.
    dirty: HashSet<ObjectKey>,
    failures: HashMap<ObjectKey, u32>,
    requeue_at: HashMap<ObjectKey, Instant>,
    /// The last version of each object of our kind that we reconciled
    /// against, to skip changes that only touch status (our own writes).
    seen: HashMap<ObjectKey, Arc<Object>>,
    /// The last version seen of each [`Reconciler::DEPENDS_ON_SPEC`]
    /// object, to skip changes that only touch its status.
    dependencies: HashMap<ObjectKey, Arc<Object>>,
    tasks: JoinSet<Done>,
}

impl<R: Reconciler> Loop<R> {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Command>) {
        let kind = R::KIND;
        let mut watcher = self.relist();
        let mut resync = tokio::time::interval_at(Instant::now() + self.resync, self.resync);
        info!(%kind, "controller started");
        loop {
            tokio::select! {
                batch = watcher.next() => match batch {
                    Ok(events) => self.on_changes(events),
                    Err(StoreError::Expired { .. }) => {
                        warn!(%kind, "fell behind the store's history; listing again");
                        watcher = self.relist();
                    }
                    Err(other) => warn!(%kind, error = %other, "watch failed"),
                },
                Some(command) = receiver.recv() => match command {
                    Command::Trigger(key) => self.enqueue(key),
                    Command::TriggerAll => self.enqueue_all(),
                    Command::Due(key, at) => {
                        if self.requeue_at.get(&key) == Some(&at) {
                            self.requeue_at.remove(&key);
                            self.enqueue(key);
                        }
                    }
                    Command::Shutdown(done) => {
                        while self.tasks.join_next().await.is_some() {}
                        info!(%kind, "controller stopped");
                        let _ = done.send(());
                        return;
                    }
                },
                Some(joined) = self.tasks.join_next() => match joined {
                    Ok((key, outcome)) => self.on_done(key, outcome),
                    Err(panic) => warn!(%kind, error = %panic, "reconcile task panicked"),
                },
                _ = resync.tick() => {
                    debug!(%kind, "periodic resync");
                    self.enqueue_all();
                }
            }
        }
    }

    /// Lists the store, reconciles everything (including objects deleted
    /// while we were not looking) and returns a watcher from that point.
    fn relist(&mut self) -> crate::store::Watcher {
        let kind = R::KIND;
        let (objects, rv) = self.ctx.store.list(Some(kind));
        let mut keys: HashSet<ObjectKey> = self.seen.keys().cloned().collect();
        keys.extend(objects.iter().map(|o| o.key()));
        for key in keys {
            self.enqueue(key);
        }
        self.ctx
            .store
            .watch(None, rv)
            .expect("watching from the resourceVersion just listed")
    }

    fn on_changes(&mut self, events: Vec<WatchEvent>) {
        let kind = R::KIND;
        let mut dependency_changed = false;
        for event in events {
            let object = &event.object;
            if object.kind == kind {
                if event.type_ == WatchEventType::Modified && self.only_status_changed(object) {
                    continue;
                }
                self.enqueue(object.key());
            } else if R::DEPENDS_ON.contains(&object.kind) {
                dependency_changed = true;
            } else if R::DEPENDS_ON_SPEC.contains(&object.kind) {
                dependency_changed |= self.dependency_spec_changed(&event);
            }
        }
        if dependency_changed {
            self.enqueue_all();
        }
    }

    fn only_status_changed(&self, object: &Object) -> bool {
        self.seen
            .get(&object.key())
            .is_some_and(|before| same_but_status(before, object))
    }

    /// Whether `event` created or deleted a [`Reconciler::DEPENDS_ON_SPEC`]
    /// object or changed more than its status. One not seen since the
    /// controller started counts as changed.
    fn dependency_spec_changed(&mut self, event: &WatchEvent) -> bool {
        let key = event.object.key();
        if event.type_ == WatchEventType::Deleted {
            self.dependencies.remove(&key);
            return true;
        }
        let before = self.dependencies.insert(key, Arc::clone(&event.object));
        !before.is_some_and(|before| same_but_status(&before, &event.object))
    }

    fn enqueue_all(&mut self) {
        let (objects, _) = self.ctx.store.list(Some(R::KIND));
        for object in objects {
            self.enqueue(object.key());
        }
    }

    fn enqueue(&mut self, key: ObjectKey) {
        if self.running.contains(&key) {
            self.dirty.insert(key);
            return;
        }
        self.running.insert(key.clone());
        let reconciler = Arc::clone(&self.reconciler);
        let ctx = self.ctx.clone();
        match ctx.store.get(&key) {
            Some(object) => {
                self.seen.insert(key.clone(), Arc::clone(&object));
                self.tasks.spawn(async move {
                    let outcome = reconciler.reconcile(object, &ctx).await;
                    (key, outcome.map_err(|e| error_chain(&e)))
                });
            }
            None if self.seen.remove(&key).is_some() => {
                self.tasks.spawn(async move {
                    let outcome = reconciler.cleanup(&key, &ctx).await;
                    (
                        key,
                        outcome
                            .map(|()| Action::AwaitChange)
                            .map_err(|e| error_chain(&e)),
                    )
                });
            }
            None => {
                self.running.remove(&key);
            }
        }
    }

    fn on_done(&mut self, key: ObjectKey, outcome: Result<Action, String>) {
        self.running.remove(&key);
        let kind = R::KIND;
        match outcome {
            Ok(Action::AwaitChange) => {
                self.failures.remove(&key);
            }
            Ok(Action::Requeue(after)) => {
                self.failures.remove(&key);
                self.schedule(key.clone(), after);
            }
            Err(message) => {
                let failures = self.failures.entry(key.clone()).or_default();
                *failures += 1;
                let delay = self.backoff.delay(*failures);
                warn!(%kind, object = %key, error = %message, retry_in = ?delay, "reconcile failed");
                self.ctx
                    .store
                    .record_event(&key, EventType::Warning, "ReconcileFailed", &message);
                self.schedule(key.clone(), delay);
            }
        }
        if self.dirty.remove(&key) {
            self.enqueue(key);
        }
    }

    fn schedule(&mut self, key: ObjectKey, after: Duration) {
        let at = Instant::now() + after;
        if self
            .requeue_at
            .get(&key)
            .is_some_and(|&earlier| earlier <= at)
        {
            return;
        }
        self.requeue_at.insert(key.clone(), at);
        let commands = self.commands.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let _ = commands.send(Command::Due(key, at));
        });
    }
}

#[cfg(test)]
mod tests;
