use std::time::Duration;

use hareconcile_model::{
    ConditionStatus, Kind, Manager, Object, ObjectKey, ObjectMeta, API_VERSION,
};
use serde_json::json;

use super::*;

pub(super) fn vip(name: &str, vrid: u64) -> Object {
    Object {
        api_version: API_VERSION.into(),
        kind: Kind::VirtualIP,
        metadata: ObjectMeta::named(name),
        spec: json!({"cluster": "home", "interface": "eth0", "vrid": vrid, "addresses": ["10.77.0.100/24"]}),
        status: Status::default(),
    }
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new(Kind::VirtualIP, name)
}

fn open(dir: &Path) -> Store {
    Store::open(dir, "n1").unwrap()
}

#[test]
fn apply_creates_then_reports_unchanged_without_bumping_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let first = store
        .apply(vec![vip("web", 51)], Manager::Cli, ApplyOptions::default())
        .unwrap();
    assert_eq!(first[0].result, ApplyResult::Created);
    let rv = store.resource_version();
    let again = store
        .apply(vec![vip("web", 51)], Manager::Cli, ApplyOptions::default())
        .unwrap();
    assert_eq!(again[0].result, ApplyResult::Unchanged);
    assert_eq!(again[0].generation, 1);
    assert_eq!(
        store.resource_version(),
        rv,
        "an unchanged apply writes nothing"
    );

    let changed = store
        .apply(vec![vip("web", 52)], Manager::Cli, ApplyOptions::default())
        .unwrap();
    assert_eq!(changed[0].result, ApplyResult::Configured);
    assert_eq!(changed[0].generation, 2);
}

#[test]
fn label_change_configures_without_bumping_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .apply(vec![vip("web", 51)], Manager::Cli, ApplyOptions::default())
        .unwrap();
    let mut labelled = vip("web", 51);
    labelled.metadata.labels.insert("app".into(), "web".into());
    let outcome = store
        .apply(vec![labelled], Manager::Cli, ApplyOptions::default())
        .unwrap();
    assert_eq!(outcome[0].result, ApplyResult::Configured);
    assert_eq!(outcome[0].generation, 1);
}

#[test]
fn objects_survive_reopen_with_identity_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (uid, rv) = {
        let store = open(dir.path());
        store
            .apply(
                vec![vip("web", 51), vip("dns", 52)],
                Manager::Files,
                ApplyOptions::default(),
            )
            .unwrap();
        let web = store.get(&key("web")).unwrap();
        (web.metadata.uid.clone(), store.resource_version())
    };
    let store = open(dir.path());
    let web = store.get(&key("web")).unwrap();
    assert_eq!(web.metadata.uid, uid);
    assert_eq!(web.metadata.manager, Some(Manager::Files));
    assert_eq!(store.resource_version(), rv);
    assert_eq!(store.list(None).0.len(), 2);
}

#[test]
fn another_managers_object_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .apply(
            vec![vip("web", 51)],
            Manager::Gitops,
            ApplyOptions::default(),
        )
        .unwrap();
    let err = store
        .apply(
            vec![vip("web", 52), vip("dns", 53)],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("VirtualIP/web is managed by gitops, not cli"),
        "{err}"
    );
    assert!(
        store.get(&key("dns")).is_none(),
        "a refused batch applies nothing"
    );

    let forced = store
        .apply(
            vec![vip("web", 52)],
            Manager::Cli,
            ApplyOptions {
                force: true,
                dry_run: false,
            },
        )
        .unwrap();
    assert_eq!(forced[0].result, ApplyResult::Configured);
    assert_eq!(
        store.get(&key("web")).unwrap().metadata.manager,
        Some(Manager::Cli)
    );
}

#[test]
fn dry_run_reports_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let outcome = store
        .apply(
            vec![vip("web", 51)],
            Manager::Cli,
            ApplyOptions {
                force: false,
                dry_run: true,
            },
        )
        .unwrap();
    assert_eq!(outcome[0].result, ApplyResult::Created);
    assert!(store.get(&key("web")).is_none());
}

#[test]
fn spec_apply_keeps_status_and_status_update_keeps_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .apply(vec![vip("web", 51)], Manager::Cli, ApplyOptions::default())
        .unwrap();
    store
        .update_status(&key("web"), |s| {
            s.set_condition("Ready", ConditionStatus::True, "Master", "holds the VIP", 1)
        })
        .unwrap();
    let mut user_written = vip("web", 52);
    user_written
        .status
        .set_condition("Ready", ConditionStatus::False, "Forged", "", 1);
    store
        .apply(vec![user_written], Manager::Cli, ApplyOptions::default())
        .unwrap();
    let web = store.get(&key("web")).unwrap();
    assert_eq!(web.metadata.generation, 2);
    assert_eq!(web.status.condition("Ready").unwrap().reason, "Master");
}

#[test]
fn delete_is_refused_for_another_manager_and_reports_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .apply(
            vec![vip("web", 51)],
            Manager::Files,
            ApplyOptions::default(),
        )
        .unwrap();
    assert!(matches!(
        store.delete(&[key("web")], Manager::Cli, ApplyOptions::default()),
        Err(StoreError::Conflict(_))
    ));
    let outcome = store
        .delete(
            &[key("web"), key("nope")],
            Manager::Files,
            ApplyOptions::default(),
        )
        .unwrap();
    assert_eq!(outcome[0].1, DeleteOutcome::Deleted);
    assert_eq!(outcome[1].1, DeleteOutcome::NotFound);
    let store = open_again(store, dir.path());
    assert!(store.get(&key("web")).is_none());
}

#[test]
fn unsynced_status_writes_are_kept_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .apply(
            vec![vip("web", 51), vip("db", 52)],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();
    let report = |store: &Store, name: &str, reason: &str| {
        store
            .update_status(&key(name), |s| {
                s.set_condition("Ready", ConditionStatus::True, reason, "", 1)
            })
            .unwrap();
    };
    // Many unsynced status commits in a row, then a synced spec write.
    for i in 0..50 {
        report(&store, "web", &format!("Refresh{i}"));
    }
    store
        .apply(vec![vip("db", 53)], Manager::Cli, ApplyOptions::default())
        .unwrap();
    report(&store, "db", "AfterTheSpec");
    let store = open_again(store, dir.path());
    let reason = |store: &Store, name: &str| {
        store
            .get(&key(name))
            .unwrap()
            .status
            .condition("Ready")
            .unwrap()
            .reason
            .clone()
    };
    assert_eq!(reason(&store, "web"), "Refresh49");
    assert_eq!(reason(&store, "db"), "AfterTheSpec");
    assert_eq!(store.get(&key("db")).unwrap().metadata.generation, 2);
}

fn open_again(store: Store, dir: &Path) -> Store {
    drop(store);
    open(dir)
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .apply(vec![vip("a", 1)], Manager::Cli, ApplyOptions::default())
        .unwrap();
    let (_, rv) = store.list(Some(Kind::VirtualIP));
    store
        .apply(
            vec![vip("b", 2), vip("c", 3)],
            Manager::Cli,
            ApplyOptions::default(),
        )
        .unwrap();
    let mut watcher = store.watch(Some(Kind::VirtualIP), rv).unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(1), watcher.next())
        .await
        .unwrap()
        .unwrap();
    let names: Vec<_> = batch
        .iter()
        .map(|e| e.object.metadata.name.as_str())
        .collect();
    assert_eq!(names, ["b", "c"]);

    let waiting = tokio::spawn(async move { watcher.next().await.unwrap() });
    store
        .delete(&[key("a")], Manager::Cli, ApplyOptions::default())
        .unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch[0].type_, WatchEventType::Deleted);
    assert_eq!(batch[0].object.metadata.name, "a");
}

#[test]
fn watch_from_before_the_history_expires() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store
            .apply(vec![vip("a", 1)], Manager::Cli, ApplyOptions::default())
            .unwrap();
    }
    // A restarted agent has no history of earlier changes.
    let store = open(dir.path());
    assert!(matches!(
        store.watch(None, 0),
        Err(StoreError::Expired { .. })
    ));
    let (_, rv) = store.list(None);
    assert!(store.watch(None, rv).is_ok());
}

#[test]
fn garbage_state_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(STATE_FILE), vec![0x5a; 8192]).unwrap();
    let err = Store::open(dir.path(), "n1")
        .err()
        .expect("garbage must not open");
    let message = err.to_string();
    assert!(message.contains("store.redb"), "{message}");
    assert!(message.contains("corrupt"), "{message}");
}

#[test]
fn converge_applies_and_prunes_only_the_managers_objects_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .apply(
            vec![vip("a", 1), vip("b", 2)],
            Manager::Gitops,
            ApplyOptions::default(),
        )
        .unwrap();
    store
        .apply(vec![vip("mine", 3)], Manager::Cli, ApplyOptions::default())
        .unwrap();
    let rv = store.resource_version();
    let converged = store
        .converge(
            vec![vip("b", 20), vip("c", 4)],
            Manager::Gitops,
            ApplyOptions::default(),
        )
        .unwrap();
    assert_eq!(converged.pruned, [key("a")]);
    let results: Vec<_> = converged.outcomes.iter().map(|o| o.result).collect();
    assert_eq!(results, [ApplyResult::Configured, ApplyResult::Created]);
    assert_eq!(store.resource_version(), rv + 3);
    let store = open_again(store, dir.path());
    let names: Vec<String> = store
        .list(None)
        .0
        .iter()
        .map(|o| o.metadata.name.clone())
        .collect();
    assert_eq!(
        names,
        ["b", "c", "mine"],
        "another manager's object is never pruned"
    );
}

/// A state file written by hareconcile 0.1.0 (commit cf73fe9, the last
/// before store schema versions): `agent --node n1` after `apply` of
/// Cluster `home` and VirtualIP `web`. Kept byte for byte, so a change of
/// redb's file format shows here too.
fn state_of_0_1_0() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-0.1.0.redb");
    std::fs::copy(fixture, dir.path().join(STATE_FILE)).unwrap();
    dir
}

#[test]
fn a_new_state_file_is_written_in_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (_, layout) = Persistence::open(&dir.path().join(STATE_FILE)).unwrap();
    assert_eq!(layout, schema::Layout::Created);
    let (_, layout) = Persistence::open(&dir.path().join(STATE_FILE)).unwrap();
    assert_eq!(layout, schema::Layout::Current);
}

#[test]
fn a_state_file_of_0_1_0_is_migrated_and_keeps_its_objects() {
    let dir = state_of_0_1_0();
    let path = dir.path().join(STATE_FILE);
    {
        let (_, layout) = Persistence::open(&path).unwrap();
        assert_eq!(layout, schema::Layout::Migrated { from: 0 });
    }
    let store = open(dir.path());
    let names: Vec<String> = store
        .list(None)
        .0
        .iter()
        .map(|o| o.key().to_string())
        .collect();
    assert_eq!(names, ["Cluster/home", "VirtualIP/web"]);
    let web = store.get(&key("web")).unwrap();
    assert_eq!(web.spec["vrid"], 51);
    assert_eq!(web.metadata.manager, Some(Manager::Cli));
    assert!(store.resource_version() > 0);
    drop(store);
    let (_, layout) = Persistence::open(&path).unwrap();
    assert_eq!(layout, schema::Layout::Current, "migrated once");
}

#[test]
fn a_state_file_of_a_newer_agent_is_refused_naming_both_versions() {
    let dir = state_of_0_1_0();
    let path = dir.path().join(STATE_FILE);
    schema::stamp(&path, SCHEMA_VERSION + 1);
    let error = Store::open(dir.path(), "n1").err().expect("refused");
    let message = error.to_string();
    assert!(
        matches!(error, StoreError::NewerSchema { found, supported, .. }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{message}"
    );
    for part in [
        format!("store schema version {}", SCHEMA_VERSION + 1),
        format!("hareconcile {}", env!("CARGO_PKG_VERSION")),
        format!("up to {SCHEMA_VERSION}"),
        "Upgrade hareconcile on this node".to_string(),
    ] {
        assert!(message.contains(&part), "{part:?} missing from: {message}");
    }
    // Refusing wrote nothing: the file still says what the newer agent
    // wrote.
    assert!(matches!(
        Store::open(dir.path(), "n1"),
        Err(StoreError::NewerSchema { found, .. }) if found == SCHEMA_VERSION + 1
    ));
}

#[test]
fn a_new_state_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("var/lib/hareconcile");
    drop(Store::open(&state_dir, "n1").unwrap());
    let mode = std::fs::metadata(&state_dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}
