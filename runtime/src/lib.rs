//! The machinery every controller stands on: the per-node object store
//! (persistence, watches, status subresource, managers, events) and the
//! controller runtime (level-triggered reconcile loops).
//!
//! Controllers depend on this crate and on `hareconcile-model`; the binary
//! wires them together. Controllers never call each other: they read specs
//! from the store and write status back to it.

pub mod controller;
pub mod process_group;
pub mod process_tree;
mod repeats;
pub mod store;
mod task;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use repeats::Repeats;
pub use task::{OwnedTask, Reported};

pub use controller::{
    error_chain, Action, Context, Controller, ControllerHandle, PerObject, Readiness,
    ReconcileError, Reconciler,
};
pub use store::{
    ApplyOptions, ApplyOutcome, ApplyResult, Converged, DeleteOutcome, Event, EventType, Store,
    StoreError, WatchEvent, WatchEventType, Watcher,
};
