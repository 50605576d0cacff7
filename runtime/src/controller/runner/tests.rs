use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use hareconcile_model::{ConditionStatus, Manager, ObjectMeta, Status, API_VERSION};
use serde_json::json;

use super::*;
use crate::store::{ApplyOptions, Store};
use crate::ReconcileError;

#[derive(Debug, thiserror::Error)]
#[error("simulated failure")]
struct Failure;

/// Records calls; fails the first `fail_first` reconciles; holds each
/// reconcile for `hold` to expose overlapping calls.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    fail_first: AtomicUsize,
    hold: Duration,
}

#[async_trait]
impl Reconciler for Arc<Recorder> {
    const KIND: Kind = Kind::VirtualIP;
    const DEPENDS_ON: &'static [Kind] = &[Kind::Cluster];
    const DEPENDS_ON_SPEC: &'static [Kind] = &[Kind::Service];

    async fn reconcile(
        &self,
        object: Arc<Object>,
        ctx: &Context,
    ) -> Result<Action, ReconcileError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.hold).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.calls.lock().unwrap().push(format!(
            "reconcile {} gen {}",
            object.metadata.name, object.metadata.generation
        ));
        if self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ReconcileError::system(Failure));
        }
        // Writing status must not make the controller chase its own tail.
        ctx.store
            .update_status(&object.key(), |s| {
                s.set_condition(
                    "Ready",
                    ConditionStatus::True,
                    "Seen",
                    "",
                    object.metadata.generation,
                )
            })
            .unwrap();
        Ok(Action::AwaitChange)
    }

    async fn cleanup(&self, key: &ObjectKey, _ctx: &Context) -> Result<(), ReconcileError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("cleanup {}", key.name));
        Ok(())
    }
}

fn object(kind: Kind, name: &str, value: u64) -> Object {
    Object {
        api_version: API_VERSION.into(),
        kind,
        metadata: ObjectMeta::named(name),
        spec: json!({ "value": value }),
        status: Status::default(),
    }
}

fn setup(recorder: Recorder) -> (tempfile::TempDir, Store, Arc<Recorder>, ControllerHandle) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), "n1").unwrap();
    let recorder = Arc::new(recorder);
    let ctx = Context {
        store: store.clone(),
        node: "n1".into(),
    };
    let handle = Controller::new(Arc::clone(&recorder), ctx)
        .backoff(Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
        })
        .start();
    (dir, store, recorder, handle)
}

fn apply(store: &Store, objects: Vec<Object>) {
    store
        .apply(objects, Manager::Cli, ApplyOptions::default())
        .unwrap();
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn calls(recorder: &Recorder) -> Vec<String> {
    recorder.calls.lock().unwrap().clone()
}

#[tokio::test]
async fn reconciles_on_create_change_and_cleans_up_on_delete() {
    let (_dir, store, recorder, handle) = setup(Recorder::default());
    apply(&store, vec![object(Kind::VirtualIP, "web", 1)]);
    settle().await;
    apply(&store, vec![object(Kind::VirtualIP, "web", 2)]);
    settle().await;
    store
        .delete(
            &[ObjectKey::new(Kind::VirtualIP, "web")],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();
    settle().await;
    assert_eq!(
        calls(&recorder),
        ["reconcile web gen 1", "reconcile web gen 2", "cleanup web"],
        "status writes by the controller must not trigger extra reconciles"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn one_reconcile_at_a_time_per_object_and_changes_meanwhile_rerun_once() {
    let (_dir, store, recorder, handle) = setup(Recorder {
        hold: Duration::from_millis(150),
        ..Default::default()
    });
    apply(&store, vec![object(Kind::VirtualIP, "web", 1)]);
    tokio::time::sleep(Duration::from_millis(30)).await;
    for value in 2..=4 {
        apply(&store, vec![object(Kind::VirtualIP, "web", value)]);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(recorder.max_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(
        calls(&recorder),
        ["reconcile web gen 1", "reconcile web gen 4"],
        "changes during a reconcile collapse into one rerun at the latest state"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn failures_back_off_and_retry_until_success() {
    let (_dir, store, recorder, handle) = setup(Recorder {
        fail_first: AtomicUsize::new(2),
        ..Default::default()
    });
    apply(&store, vec![object(Kind::VirtualIP, "web", 1)]);
    settle().await;
    assert_eq!(calls(&recorder).len(), 3, "two failures then a success");
    let key = ObjectKey::new(Kind::VirtualIP, "web");
    let events = store.events(Some(&key));
    assert_eq!(events[0].reason, "ReconcileFailed");
    assert_eq!(events[0].count, 2);
    assert!(store.get(&key).unwrap().status.is_ready());
    handle.shutdown().await;
}

#[tokio::test]
async fn dependency_changes_and_triggers_reconcile() {
    let (_dir, store, recorder, handle) = setup(Recorder::default());
    apply(
        &store,
        vec![
            object(Kind::VirtualIP, "a", 1),
            object(Kind::VirtualIP, "b", 1),
        ],
    );
    settle().await;
    apply(&store, vec![object(Kind::Cluster, "home", 1)]);
    settle().await;
    assert_eq!(
        calls(&recorder).len(),
        4,
        "a Cluster change reconciles every VirtualIP"
    );
    handle.trigger(ObjectKey::new(Kind::VirtualIP, "a"));
    settle().await;
    assert_eq!(calls(&recorder).len(), 5);
    handle.shutdown().await;
}

#[tokio::test]
async fn spec_dependencies_reconcile_on_their_specs_not_their_status() {
    let (_dir, store, recorder, handle) = setup(Recorder::default());
    apply(&store, vec![object(Kind::VirtualIP, "a", 1)]);
    settle().await;
    assert_eq!(calls(&recorder).len(), 1);
    apply(&store, vec![object(Kind::Service, "shop", 1)]);
    settle().await;
    assert_eq!(
        calls(&recorder).len(),
        2,
        "a new Service reconciles every VirtualIP"
    );
    let shop = ObjectKey::new(Kind::Service, "shop");
    store
        .update_status(&shop, |s| {
            s.set_condition("Ready", ConditionStatus::True, "Running", "", 1)
        })
        .unwrap();
    settle().await;
    assert_eq!(calls(&recorder).len(), 2, "its status does not");
    apply(&store, vec![object(Kind::Service, "shop", 2)]);
    settle().await;
    assert_eq!(calls(&recorder).len(), 3, "its spec does");
    store
        .delete(&[shop], Manager::Cli, ApplyOptions::default())
        .unwrap();
    settle().await;
    assert_eq!(calls(&recorder).len(), 4, "and so does its deletion");
    handle.shutdown().await;
}
