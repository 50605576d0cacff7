//! A reconciler that times the one it wraps: every reconcile and cleanup
//! pass of a controller lands in [`ReconcileStats`] under the controller's
//! name (two controllers reconcile Replications: mount and sync), without
//! the controllers or the runtime knowing.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use hareconcile_model::{Kind, Object, ObjectKey};
use hareconcile_runtime::{Action, Context, ReconcileError, Reconciler};

use crate::api::reconcile_stats::ReconcileStats;

pub struct Measured<R> {
    name: &'static str,
    inner: R,
    stats: ReconcileStats,
}

impl<R: Reconciler> Measured<R> {
    /// `name`: the controller's, as the metrics' `controller` label says it.
    pub fn new(name: &'static str, inner: R, stats: &ReconcileStats) -> Self {
        stats.register(name);
        Measured {
            name,
            inner,
            stats: stats.clone(),
        }
    }
}

#[async_trait]
impl<R: Reconciler> Reconciler for Measured<R> {
    const KIND: Kind = R::KIND;
    const DEPENDS_ON: &'static [Kind] = R::DEPENDS_ON;
    const DEPENDS_ON_SPEC: &'static [Kind] = R::DEPENDS_ON_SPEC;

    async fn reconcile(
        &self,
        object: Arc<Object>,
        ctx: &Context,
    ) -> Result<Action, ReconcileError> {
        let start = Instant::now();
        let result = self.inner.reconcile(object, ctx).await;
        self.stats
            .record(self.name, start.elapsed(), result.is_err());
        result
    }

    async fn cleanup(&self, key: &ObjectKey, ctx: &Context) -> Result<(), ReconcileError> {
        let start = Instant::now();
        let result = self.inner.cleanup(key, ctx).await;
        self.stats
            .record(self.name, start.elapsed(), result.is_err());
        result
    }
}
