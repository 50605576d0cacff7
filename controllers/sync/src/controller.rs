//! The Replication reconciler for the copying methods: keeps one worker
//! per object in step with the current plan and writes what the worker
//! reports as status. Reconciles never wait for a copy.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use hareconcile_model::{Kind, Object, ObjectKey, ReplicationSpec};
use hareconcile_quorum::Sessions;
use hareconcile_runtime::{
    Action, Context, EventType, PerObject, ReconcileError, Reconciler, StoreError,
};
use tracing::warn;

use crate::handover;
use crate::hooks::Containers;
use crate::job::{Progress, Worker};
use crate::plan::{copies, plan, Plan};
use crate::remote::prepare_control_dir;
use crate::report::report;

/// Lag grows while nothing happens in the store: refresh status this often.
const REFRESH: Duration = Duration::from_secs(1);

pub struct SyncReconciler {
    workers: PerObject<Worker>,
    control_dir: OnceLock<Option<PathBuf>>,
    /// The Docker Engine of this node's stacks, for `exec` hooks.
    docker_host: String,
    /// Per source Replication, which targets were over `maxLag` at the
    /// last reconcile.
    lagging: PerObject<BTreeMap<String, bool>>,
    /// The agent's quorum sessions: they number a fenced VirtualIP's terms.
    sessions: Option<Sessions>,
}

impl SyncReconciler {
    /// Runs `exec` hooks through the Docker Engine at `uri`: the agent's
    /// `--docker-host`, the daemon of the stacks the hooks reach into.
    pub fn new(uri: &str) -> Self {
        SyncReconciler {
            workers: PerObject::default(),
            control_dir: OnceLock::new(),
            docker_host: uri.to_string(),
            lagging: PerObject::default(),
            sessions: None,
        }
    }

    /// Numbers the terms of Replications following a fenced VirtualIP
    /// through these sessions; without them such a term is never claimed.
    pub fn with_quorum(self, sessions: Sessions) -> Self {
        Self {
            sessions: Some(sessions),
            ..self
        }
    }

    /// `ReplicationLagging` when a target's lag exceeds `maxLag` and
    /// `ReplicationCaughtUp` when it is back under it (the webhook posts
    /// both), from the source's side.
    fn lag_events(
        &self,
        ctx: &Context,
        key: &ObjectKey,
        plan: &Plan,
        progress: &Progress,
        now: SystemTime,
    ) {
        let mut lagging = self.lagging.lock();
        let (Some(max), true) = (plan.max_lag, plan.is_source() && progress.claimed.is_some())
        else {
            lagging.remove(key);
            return;
        };
        let seen = lagging.entry(key.clone()).or_default();
        for crossing in progress.lag.crossings(max, now, seen) {
            let (type_, reason, message) = match crossing.lagging {
                true => (
                    EventType::Warning,
                    "ReplicationLagging",
                    format!(
                        "{} is {}s behind, more than maxLag {}s",
                        crossing.target,
                        crossing.lag.as_secs(),
                        max.as_secs()
                    ),
                ),
                false => (
                    EventType::Normal,
                    "ReplicationCaughtUp",
                    format!(
                        "{} is back within maxLag {}s ({}s behind)",
                        crossing.target,
                        max.as_secs(),
                        crossing.lag.as_secs()
                    ),
                ),
            };
            ctx.store.record_event(key, type_, reason, &message);
        }
    }

    /// `STATE_DIR/ssh`, made private to root once; without it every
    /// session to a peer is a handshake of its own.
    fn control_dir(&self, ctx: &Context) -> Option<PathBuf> {
        self.control_dir
            .get_or_init(|| {
                let dir = ctx.store.state_dir().join("ssh");
                match prepare_control_dir(&dir) {
                    Ok(()) => Some(dir),
                    Err(error) => {
                        warn!(dir = %dir.display(), %error, "no shared ssh connections");
                        None
                    }
                }
            })
            .clone()
    }
}

#[async_trait]
impl Reconciler for SyncReconciler {
    const KIND: Kind = Kind::Replication;
    const DEPENDS_ON: &'static [Kind] = &[Kind::Cluster, Kind::VirtualIP];

    async fn reconcile(
        &self,
        object: Arc<Object>,
        ctx: &Context,
    ) -> Result<Action, ReconcileError> {
        let key = object.key();
        let spec: ReplicationSpec = match object.spec_as() {
            Ok(spec) => spec,
            Err(e) => {
                self.workers.remove(&key);
                return Err(e.into());
            }
        };
        // Another method (the mount controller's), or a method changed
        // away from copying: not ours, status included.
        let control_dir = self.control_dir(ctx);
        let Some(mut plan) = copies(spec.method)
            .then(|| plan(&spec, ctx, control_dir))
            .flatten()
        else {
            self.workers.remove(&key);
            return Ok(Action::AwaitChange);
        };
        plan.handover = handover::wanted(
            &ctx.store,
            spec.follow_virtual_ip.as_deref(),
            &key.name,
            &ctx.node,
        );
        let progress = {
            let mut workers = self.workers.lock();
            let worker = workers.entry(key.clone()).or_insert_with(|| {
                let containers = Containers {
                    docker_host: self.docker_host.clone(),
                    store: ctx.store.clone(),
                };
                Worker::start(plan.clone(), containers, key.clone(), self.sessions.clone())
            });
            worker.update(plan.clone());
            worker.progress()
        };
        let now = SystemTime::now();
        self.lag_events(ctx, &key, &plan, &progress, now);
        let report = report(&plan, &progress, now);
        let generation = object.metadata.generation;
        let updated = ctx.store.update_status(&key, |s| {
            s.observed_generation = Some(generation);
            s.set_details(&report.details);
            let ready = report.ready;
            s.set_condition(
                "Ready",
                ready.status,
                ready.reason.as_str(),
                ready.message,
                generation,
            );
            for (type_, condition) in [("Synced", report.synced), ("Hooks", report.hooks)] {
                match condition {
                    Some(c) => {
                        s.set_condition(c.type_, c.status, c.reason.as_str(), c.message, generation)
                    }
                    None => s.conditions.retain(|c| c.type_ != type_),
                }
            }
        });
        match updated {
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(Action::Requeue(REFRESH)),
            Err(e) => Err(e.into()),
        }
    }

    async fn cleanup(&self, key: &ObjectKey, _ctx: &Context) -> Result<(), ReconcileError> {
        // Stops pushing; the copies and their terms stay where they are.
        self.workers.remove(key);
        Ok(())
    }
}
