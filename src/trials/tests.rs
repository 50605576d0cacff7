use hareconcile_model::{Kind, Status, API_VERSION};
use serde_json::json;

use super::*;

fn vip(name: &str, vrid: u64) -> Object {
    Object {
        api_version: API_VERSION.into(),
        kind: Kind::VirtualIP,
        metadata: hareconcile_model::ObjectMeta::named(name),
        spec: json!({"cluster": "home", "interface": "eth0", "vrid": vrid, "addresses": ["10.77.0.100/24"]}),
        status: Status::default(),
    }
}

/// (name, VRID) of the store's objects from git.
fn from_git(store: &Store) -> Vec<(String, u64)> {
    (store.list(None).0.iter())
        .filter(|o| o.metadata.manager == Some(Manager::Gitops))
        .map(|o| (o.metadata.name.clone(), o.spec["vrid"].as_u64().unwrap()))
        .collect()
}

/// Applies the set `set` declaring `objects` from git, as GitOps does.
fn apply(trials: &Trials, store: &Store, set: &str, objects: Vec<Object>) {
    trials.begin(Manager::Gitops, set, || held(store, Manager::Gitops));
    store
        .converge(objects, Manager::Gitops, ApplyOptions::default())
        .unwrap();
}

/// A store where set `good` (web, VRID 51) passed its trial and `bad`
/// (web moved to 52, and dns) is on trial; its ledger has no period.
fn good_then_bad(dir: &Path) -> (Store, Trials) {
    let store = Store::open(dir, "n1").unwrap();
    let trials = Trials::open(dir, Duration::ZERO);
    apply(&trials, &store, "good", vec![vip("web", 51)]);
    trials.settle();
    apply(&trials, &store, "bad", vec![vip("web", 52), vip("dns", 53)]);
    (store, trials)
}

/// The agent starting again over the same state directory.
fn restart(dir: &Path, store: Store) -> (Store, Trials, Vec<Rejection>) {
    drop(store);
    let store = Store::open(dir, "n1").unwrap();
    let trials = Trials::open(dir, Duration::ZERO);
    let rejections = trials.recover(&store);
    (store, trials, rejections)
}

#[test]
fn a_set_on_trial_at_two_deaths_in_a_row_is_rejected_and_the_last_good_objects_return() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = good_then_bad(dir.path());

    let (store, trials, rejections) = restart(dir.path(), store);
    assert!(rejections.is_empty(), "one death is not yet a verdict");
    assert_eq!(from_git(&store), [("dns".into(), 53), ("web".into(), 52)]);
    assert!(trials.rejection(Manager::Gitops, "bad").is_none());

    let (store, trials, rejections) = restart(dir.path(), store);
    assert_eq!(rejections.len(), 1);
    let rejection = &rejections[0];
    assert_eq!(
        (rejection.source, rejection.set.as_str()),
        (Manager::Gitops, "bad")
    );
    assert_eq!(rejection.restored.as_deref(), Some("good"));
    assert_eq!(from_git(&store), [("web".into(), 51)]);
    assert_eq!(
        trials.rejection(Manager::Gitops, "bad").as_ref(),
        Some(rejection)
    );
    let message = rejection.message();
    assert!(
        is_crash_rejection(std::slice::from_ref(&message)),
        "{message}"
    );
    assert!(message.contains("commit bad"), "{message}");
    assert!(message.contains("hareconcile retry bad"), "{message}");

    // Kept across starts, until retried.
    let (store, trials, rejections) = restart(dir.path(), store);
    assert!(rejections.is_empty());
    assert!(trials.rejection(Manager::Gitops, "bad").is_some());
    assert!(matches!(trials.retry("zz"), Err(RetryError::Unknown(_))));
    assert_eq!(trials.retry("ba").unwrap().set, "bad");
    let (_, trials, _) = restart(dir.path(), store);
    assert!(trials.rejection(Manager::Gitops, "bad").is_none());
}

#[test]
fn clean_stops_are_no_deaths_and_a_set_that_ran_its_period_is_good() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, mut trials) = good_then_bad(dir.path());
    for _ in 0..3 {
        trials.stopping_cleanly();
        let (again, ledger, rejections) = restart(dir.path(), store);
        assert!(rejections.is_empty(), "a planned restart rejects nothing");
        assert_eq!(from_git(&again), [("dns".into(), 53), ("web".into(), 52)]);
        (store, trials) = (again, ledger);
    }
    trials.settle();
    // Passed: deaths from now on are no verdict on it.
    let (store, _, rejections) = restart(dir.path(), store);
    let (store, _, more) = restart(dir.path(), store);
    assert!(rejections.is_empty() && more.is_empty());
    assert_eq!(from_git(&store), [("dns".into(), 53), ("web".into(), 52)]);
}

#[test]
fn a_set_refused_before_it_was_applied_gives_the_trial_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, trials) = good_then_bad(dir.path());
    // An invalid commit arrives while "bad" is still on trial.
    trials.begin(Manager::Gitops, "invalid", || held(&store, Manager::Gitops));
    trials.withdraw(Manager::Gitops, "invalid");

    let (store, _, _) = restart(dir.path(), store);
    let (_, _, rejections) = restart(dir.path(), store);
    let sets: Vec<&str> = rejections.iter().map(|r| r.set.as_str()).collect();
    assert_eq!(sets, ["bad"], "the applied set is to blame");
}

#[test]
fn the_first_set_rejected_removes_its_objects() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), "n1").unwrap();
    let trials = Trials::open(dir.path(), Duration::from_secs(3600));
    apply(&trials, &store, "first", vec![vip("web", 51)]);
    let (store, _, _) = restart(dir.path(), store);
    let (store, _, rejections) = restart(dir.path(), store);
    assert_eq!(rejections[0].restored, None);
    assert!(rejections[0].message().contains("its objects are removed"));
    assert!(from_git(&store).is_empty());
}
