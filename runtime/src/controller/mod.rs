//! The controller runtime, modelled on kube-rs: a controller implements
//! [`Reconciler::reconcile`] for one kind of object; the runtime calls it
//! whenever that object (or a kind it depends on) changes, when an
//! external trigger fires (netlink, docker events, inotify) and
//! periodically as a safety net. Reconciles are level-triggered: each call
//! reads the desired and the real state afresh, so a missed trigger costs
//! latency, never correctness.
//!
//! Guarantees: at most one reconcile per object at a time (a change that
//! arrives meanwhile reruns it once afterwards); errors back off
//! exponentially per object; deleted objects get one `cleanup` call.

mod backoff;
mod error;
mod per_object;
mod runner;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hareconcile_model::{ConditionStatus, Kind, KindSpec, KindStatus, Object, ObjectKey, Reason};

use crate::store::{Store, StoreError};

pub use backoff::Backoff;
pub use error::{error_chain, ReconcileError};
pub use per_object::PerObject;
pub use runner::{Controller, ControllerHandle};

/// What the runtime should do after a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Reconcile again after this long even if nothing changes (for state
    /// the runtime cannot watch, e.g. a probe).
    Requeue(Duration),
    /// Wait for a change or the periodic resync.
    AwaitChange,
}

/// What every reconcile gets besides the object.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    /// The node this agent runs as.
    pub node: Arc<str>,
}

/// A condition as a controller judges it: status, reason (one of its
/// kind's reasons), message.
pub type Readiness<R> = (ConditionStatus, R, String);

impl Context {
    /// The typed spec of `S::KIND` object `name` (`ctx.get::<ClusterSpec>(
    /// &spec.cluster)`): `Ok(None)` without such an object.
    pub fn get<S: KindSpec>(&self, name: &str) -> Result<Option<S>, serde_json::Error> {
        self.store
            .get(&ObjectKey::new(S::KIND, name))
            .map(|object| object.spec_as())
            .transpose()
    }

    /// The typed status of `T::KIND` object `name` as this node's
    /// controller of that kind reports it: `None` without such an object,
    /// `T::default()` before the controller reports (or when the status
    /// was written by a version with another contract, which the
    /// controller rewrites at its next reconcile).
    pub fn status_of<T: KindStatus>(&self, name: &str) -> Option<T> {
        let object = self.store.get(&ObjectKey::new(T::KIND, name))?;
        Some(object.status.details_as().unwrap_or_default())
    }

    /// Writes what a reconcile of `object` saw: the generation observed,
    /// the kind's details as `update` leaves them (it gets the current
    /// ones), and the Ready condition. An object deleted meanwhile is not
    /// an error: its cleanup follows.
    pub fn report<T: KindStatus>(
        &self,
        object: &Object,
        update: impl FnOnce(&mut T),
        ready: Readiness<T::Reason>,
    ) -> Result<(), StoreError> {
        self.report_conditions(object, update, vec![("Ready", ready)])
    }

    /// [`Context::report`] with more conditions than Ready (a Service's
    /// `Healthy`), all in one status write.
    pub fn report_conditions<T: KindStatus>(
        &self,
        object: &Object,
        update: impl FnOnce(&mut T),
        conditions: Vec<(&str, Readiness<T::Reason>)>,
    ) -> Result<(), StoreError> {
        let generation = object.metadata.generation;
        let updated = self.store.update_status(&object.key(), |s| {
            s.observed_generation = Some(generation);
            let mut details: T = s.details_as().unwrap_or_default();
            update(&mut details);
            s.set_details(&details);
            for (type_, (status, reason, message)) in conditions {
                s.set_condition(type_, status, reason.as_str(), message, generation);
            }
        });
        match updated {
            Err(StoreError::NotFound(_)) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    /// The kind this controller reconciles.
    const KIND: Kind;

    /// Other kinds whose changes may change this kind's desired state
    /// (a VirtualIP depends on its Cluster): any change to them
    /// reconciles every object of [`Reconciler::KIND`].
    const DEPENDS_ON: &'static [Kind] = &[];

    /// Other kinds whose objects' specs, not their status, may change this
    /// kind's desired state (a VirtualIP is fenced when a Service or
    /// Replication that writes data follows it): creating, deleting or
    /// changing the spec of one reconciles every object of
    /// [`Reconciler::KIND`]; their status updates, often frequent, do not.
    const DEPENDS_ON_SPEC: &'static [Kind] = &[];

    /// Drives the real system toward `object`'s spec and reports what it
    /// sees in the object's status.
    async fn reconcile(&self, object: Arc<Object>, ctx: &Context)
        -> Result<Action, ReconcileError>;

    /// The object is gone from the store: undo what reconcile did.
    async fn cleanup(&self, key: &ObjectKey, ctx: &Context) -> Result<(), ReconcileError>;
}
