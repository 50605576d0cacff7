//! Issue 13: `validate`, `apply` and `diff` load each Service's compose
//! project as the agent does, and so do the agent's API and its manifests
//! directory: every problem positioned in its own file, nothing applied;
//! warnings for what a single engine ignores; an edit of a compose file is
//! a change of its Service.

use hareconcile_test_support as support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{bin, expect_code, post_raw, stderr, stdout, Agent, CLUSTER};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn service(name: &str, compose_file: &str) -> String {
    format!(
        "apiVersion: hareconcile.io/v1alpha1
kind: Service
metadata: {{name: {name}}}
spec:
  cluster: home
  mode: active-active
  compose: {{file: {compose_file}}}
"
    )
}

/// The Cluster and Service `shop`, whose compose file is
/// `stacks/shop/compose.yaml` beside the manifest; returns the manifest.
fn shop(dir: &Path, compose: &str) -> PathBuf {
    let manifest = dir.join("shop.yaml");
    write(
        &manifest,
        &format!(
            "{CLUSTER}---\n{}",
            service("shop", "stacks/shop/compose.yaml")
        ),
    );
    write(&dir.join("stacks/shop/compose.yaml"), compose);
    manifest
}

/// `hareconcile ARGS` with no agent and an environment of its own, so the
/// test's variables never reach the compose files.
fn offline(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_clear()
        .output()
        .expect("run hareconcile")
}

/// An agent whose compose controller finds no Docker Engine: these tests
/// are about what reaches the store, not about containers.
fn agent(dir: &Path, extra: &[&str]) -> Agent {
    let no_docker = format!("unix://{}/no-docker.sock", dir.display());
    let mut args = vec!["--docker-host", &no_docker];
    args.extend_from_slice(extra);
    Agent::start(dir, &args)
}

/// Lines of `text` with the test's directory cut off the paths.
fn lines(text: &str, dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    text.lines().map(|l| l.replace(&prefix, "")).collect()
}

fn stored_items(agent: &Agent) -> Vec<serde_json::Value> {
    let json = expect_code(&agent.hc(&["get", "all", "-o", "json"]), 0);
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    list["items"].as_array().unwrap().clone()
}

fn compose_digest(agent: &Agent) -> String {
    let json = expect_code(&agent.hc(&["get", "service", "shop", "-o", "json"]), 0);
    let object: serde_json::Value = serde_json::from_str(&json).unwrap();
    object["metadata"]["annotations"]["hareconcile.io/compose-files"]
        .as_str()
        .unwrap()
        .to_string()
}

const FIVE_FAULTS: &str = "services:
  web:
    image: nginx:1.27
    bogus: 1
    restart: sometimes
    env_file: web.env
  builder:
    build: ./app
    ports: [\"80:99999\"]
";

const FIVE_FAULTS_REPORTED: [&str; 6] = [
    "stacks/shop/compose.yaml:4:5: Service/shop: compose: unsupported key `bogus` in service `web`: hareconcile does not implement it; remove it or run this stack with docker compose",
    "stacks/shop/compose.yaml:5:14: Service/shop: compose: restart must be no, always, unless-stopped or on-failure[:N], not \"sometimes\"",
    "stacks/shop/compose.yaml:6:15: Service/shop: compose: cannot read env_file stacks/shop/web.env: No such file or directory (os error 2)",
    "stacks/shop/compose.yaml:8:12: Service/shop: compose: service `builder` has `build` but no `image`: hareconcile does not build images (it has no build context on the other nodes); build and push the image, then name it in `image:`",
    "stacks/shop/compose.yaml:9:13: Service/shop: compose: invalid port \"80:99999\": write [[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL]",
    "5 error(s); nothing was applied",
];

#[test]
fn five_faults_are_five_positioned_errors_and_nothing_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = shop(dir.path(), FIVE_FAULTS);
    let m = manifest.to_str().unwrap();

    let out = offline(&["validate", "-f", m]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(lines(&stderr(&out), dir.path()), FIVE_FAULTS_REPORTED);

    let agent = agent(dir.path(), &[]);
    for apply in [&["apply", "-f", m][..], &["apply", "-f", m, "--dry-run"]] {
        let out = agent.hc(apply);
        assert_eq!(out.status.code(), Some(2), "{apply:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{apply:?}");
        assert_eq!(lines(&stderr(&out), dir.path()), FIVE_FAULTS_REPORTED);
    }
    let out = agent.hc(&["diff", "-f", m]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stored_items(&agent).is_empty(),
        "nothing of the batch is stored, not even the Cluster"
    );
}

#[test]
fn a_missing_compose_env_or_secret_file_is_named_with_the_path_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("shop.yaml");
    write(
        &manifest,
        &format!(
            "{CLUSTER}---\n{}",
            service("shop", "stacks/nowhere/compose.yaml")
        ),
    );
    let out = offline(&["validate", "-f", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let looked_for = dir.path().join("stacks/nowhere/compose.yaml");
    assert_eq!(
        stderr(&out).lines().next().unwrap(),
        format!(
            "{}: Service/shop: compose: cannot read: No such file or directory (os error 2)",
            looked_for.display()
        )
    );

    let manifest = shop(
        dir.path(),
        "services:\n  web:\n    image: nginx:1.27\n    env_file: [{path: web.env, required: true}, {path: extra.env, required: false}]\n    secrets: [db]\nsecrets:\n  db: {file: ./secrets/db.txt}\n",
    );
    let out = offline(&["validate", "-f", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let lines = lines(&stderr(&out), dir.path());
    assert_eq!(
        lines.len(),
        3,
        "the required env file and the secret: {lines:?}"
    );
    assert!(
        lines[0].starts_with("stacks/shop/compose.yaml:4:")
            && lines[0].contains(": Service/shop: compose: ")
            && lines[0].contains("stacks/shop/web.env"),
        "{lines:?}"
    );
    assert_eq!(
        lines[1],
        "stacks/shop/compose.yaml:7:14: Service/shop: compose: secret `db`: file stacks/shop/secrets/db.txt does not exist"
    );
}

#[test]
fn keys_a_single_engine_ignores_are_warnings_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = shop(
        dir.path(),
        "services:\n  web:\n    image: nginx:1.27\n    deploy:\n      replicas: 1\n      placement:\n        constraints: [node.role == manager]\n",
    );
    let m = manifest.to_str().unwrap();
    let warning = "stacks/shop/compose.yaml:6:7: Service/shop: compose: warning: `placement` in deploy is ignored";
    let out = offline(&["validate", "-f", m]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "2 object(s) valid\n");
    let warned = lines(&stderr(&out), dir.path());
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].starts_with(warning), "{warned:?}");

    let agent = agent(dir.path(), &[]);
    let out = agent.hc(&["apply", "-f", m]);
    assert_eq!(
        expect_code(&out, 0),
        "clusters/home created\nservices/shop created\n"
    );
    assert!(
        lines(&stderr(&out), dir.path())[0].starts_with(warning),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_edit_of_a_compose_or_env_file_is_a_change_of_its_service() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = shop(
        dir.path(),
        "services:\n  web:\n    image: nginx:1.27\n    env_file: web.env\n",
    );
    let env_file = dir.path().join("stacks/shop/web.env");
    write(&env_file, "GREETING=hello\n");
    let m = manifest.to_str().unwrap();
    let agent = agent(dir.path(), &[]);
    expect_code(&agent.hc(&["apply", "-f", m]), 0);
    let first = compose_digest(&agent);
    assert!(first.starts_with("sha256:"), "{first}");
    let again = expect_code(&agent.hc(&["apply", "-f", m]), 0);
    assert_eq!(again, "clusters/home unchanged\nservices/shop unchanged\n");
    expect_code(&agent.hc(&["diff", "-f", m]), 0);

    for (file, text) in [
        (
            dir.path().join("stacks/shop/compose.yaml"),
            "services:\n  web:\n    image: nginx:1.28\n    env_file: web.env\n",
        ),
        (env_file.clone(), "GREETING=bonjour\n"),
    ] {
        let before = compose_digest(&agent);
        write(&file, text);
        let diff = expect_code(&agent.hc(&["diff", "-f", m]), 1);
        assert!(
            diff.contains(&format!("-    hareconcile.io/compose-files: \"{before}\""))
                && diff.contains("+    hareconcile.io/compose-files: \"sha256:"),
            "{}: {diff}",
            file.display()
        );
        let dry = expect_code(&agent.hc(&["apply", "-f", m, "--dry-run"]), 0);
        assert_eq!(
            dry,
            "clusters/home unchanged (dry run)\nservices/shop configured (dry run)\n"
        );
        assert_eq!(compose_digest(&agent), before, "a dry run stores nothing");
        let applied = expect_code(&agent.hc(&["apply", "-f", m]), 0);
        assert_eq!(
            applied,
            "clusters/home unchanged\nservices/shop configured\n"
        );
        assert_ne!(compose_digest(&agent), before);
        let again = expect_code(&agent.hc(&["apply", "-f", m]), 0);
        assert_eq!(again, "clusters/home unchanged\nservices/shop unchanged\n");
        expect_code(&agent.hc(&["diff", "-f", m]), 0);
    }
    assert_ne!(compose_digest(&agent), first);
}

/// A client that skips the CLI's checks (or whose environment differs
/// from the agent's) still cannot store a Service whose compose file the
/// agent cannot load; what the agent stores is its own digest of them.
#[test]
fn the_agent_checks_compose_files_of_what_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = shop(dir.path(), "services:\n  web:\n    image: nginx:1.27\n");
    let agent = agent(dir.path(), &[]);
    expect_code(&agent.hc(&["apply", "-f", manifest.to_str().unwrap()]), 0);
    let digest = compose_digest(&agent);

    // The same Service, sent with a digest of the client's choosing.
    let json = expect_code(&agent.hc(&["get", "service", "shop", "-o", "json"]), 0);
    let stored: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut annotations = stored["metadata"]["annotations"].clone();
    annotations["hareconcile.io/compose-files"] = "sha256:0".into();
    let object = serde_json::json!({
        "apiVersion": stored["apiVersion"],
        "kind": "Service",
        "metadata": {"name": "shop", "annotations": annotations},
        "spec": stored["spec"],
    });
    let request = |object: &serde_json::Value| {
        serde_json::json!({"manager": "cli", "options": {}, "objects": [object]}).to_string()
    };
    let response = post_raw(&agent.socket, "/v1/apply", &request(&object));
    assert!(response.contains("\"result\":\"unchanged\""), "{response}");
    assert_eq!(compose_digest(&agent), digest);

    write(
        &dir.path().join("stacks/shop/compose.yaml"),
        "services:\n  web:\n    image: nginx:1.27\n    restart: sometimes\n",
    );
    let response = post_raw(&agent.socket, "/v1/apply", &request(&object));
    assert!(response.starts_with("HTTP/1.1 422"), "{response}");
    assert!(
        response.contains(&format!(
            "{}:4:14: compose: restart must be",
            dir.path().join("stacks/shop/compose.yaml").display()
        )),
        "{response}"
    );
    assert_eq!(compose_digest(&agent), digest, "nothing was applied");
}

/// `validate` substitutes variables from the operator's shell, the agent
/// from its own environment: what only the shell has passes the CLI's
/// check and is refused by the agent, positioned all the same.
#[test]
fn a_variable_only_the_shell_has_is_refused_by_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = shop(
        dir.path(),
        "services:\n  web:\n    image: nginx:${SHOP_TAG:?set SHOP_TAG in .env}\n",
    );
    let agent = agent(dir.path(), &[]);
    let out = support::cli(&agent.socket)
        .env("SHOP_TAG", "1.27")
        .args(["apply", "-f", manifest.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // (A note says which nodes `apply` writes.)
    let refused: Vec<String> = lines(&stderr(&out), dir.path())
        .into_iter()
        .filter(|l| !l.starts_with("note: "))
        .collect();
    assert_eq!(
        refused,
        [
            "Service/shop: stacks/shop/compose.yaml:3:12: compose: required variable SHOP_TAG is missing a value: set SHOP_TAG in .env",
            "error: 1 problem(s) found; nothing was applied",
        ]
    );
    assert!(stored_items(&agent).is_empty());
}

/// The manifests directory applies a compose edit at once, and keeps the
/// last good state while a compose file is broken, saying why in `drift`.
#[test]
fn the_manifests_directory_checks_compose_files_too() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    let compose = manifests.join("stacks/shop/compose.yaml");
    shop(&manifests, "services:\n  web:\n    image: nginx:1.27\n");
    let agent = agent(dir.path(), &["--manifests", manifests.to_str().unwrap()]);
    let digest = await_digest(&agent, |d| d.is_some());

    write(&compose, "services:\n  web:\n    image: nginx:1.28\n");
    let edited = await_digest(&agent, |d| d.is_some_and(|d| d != digest));

    write(
        &compose,
        "services:\n  web:\n    image: nginx:1.28\n    restart: sometimes\n",
    );
    let drift = await_drift(&agent, "InvalidManifests");
    assert!(
        drift.contains("compose.yaml:4:14: Service/shop: compose: restart must be"),
        "{drift}"
    );
    assert_eq!(compose_digest(&agent), edited, "the last good state stays");
}

/// A GitOps commit whose compose file does not load is rejected with the
/// compose file's errors; the last good commit stays applied.
#[test]
fn a_gitops_commit_with_a_broken_compose_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let repo = support::ManifestsRepo::init(dir.path());
    let manifests = repo.manifests();
    shop(&manifests, "services:\n  web:\n    image: nginx:1.27\n");
    repo.commit_all("shop");
    let agent = agent(dir.path(), &repo.pull_flags("1h"));
    expect_code(&agent.hc(&["gitops", "sync"]), 0);
    let digest = compose_digest(&agent);

    write(
        &manifests.join("stacks/shop/compose.yaml"),
        "services:\n  web:\n    image: nginx:1.27\n    restart: sometimes\n",
    );
    let bad = repo.commit_all("oops");
    let report = agent.sync_rejects(&bad);
    assert!(
        report.contains(
            "manifests/stacks/shop/compose.yaml:4:14: Service/shop: compose: restart must be"
        ),
        "{report}"
    );
    assert_eq!(compose_digest(&agent), digest, "the last good commit stays");
}

/// Every stack of the corpus validates as a Service's compose project.
#[test]
fn every_corpus_stack_validates_as_a_service() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose");
    let mut stacks: Vec<(String, PathBuf)> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|entry| {
            let dir = entry.unwrap().path();
            let name = dir.file_name()?.to_str()?.to_string();
            // The file Compose picks in a directory, in its search order.
            let file = [
                "compose.yaml",
                "compose.yml",
                "docker-compose.yaml",
                "docker-compose.yml",
            ]
            .iter()
            .map(|f| dir.join(f))
            .find(|f| f.is_file())?;
            Some((name, file))
        })
        .collect();
    stacks.sort();
    assert!(stacks.len() >= 30, "only {} stacks", stacks.len());
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = CLUSTER.to_string();
    for (name, file) in &stacks {
        manifest.push_str("---\n");
        manifest.push_str(&service(name, file.to_str().unwrap()));
    }
    let path = dir.path().join("corpus.yaml");
    write(&path, &manifest);
    let out = offline(&["validate", "-f", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{} object(s) valid\n", stacks.len() + 1)
    );
    // Warnings are allowed, errors never, and each warning names its stack.
    for warning in stderr(&out).lines() {
        assert!(
            warning.contains(": compose: warning: ") && warning.contains(": Service/"),
            "{warning}"
        );
    }
}

/// Polls the stored Service `shop` until its compose digest satisfies `done`.
fn await_digest(agent: &Agent, done: impl Fn(Option<&str>) -> bool) -> String {
    await_until(agent, "the Service's compose digest", || {
        let out = agent.hc(&["get", "service", "shop", "-o", "json"]);
        let object: serde_json::Value = serde_json::from_str(&stdout(&out)).ok()?;
        let digest = object["metadata"]["annotations"]["hareconcile.io/compose-files"]
            .as_str()
            .map(str::to_string);
        done(digest.as_deref()).then(|| digest.unwrap_or_default())
    })
}

/// Polls `drift` until it reports `reason`; returns it.
fn await_drift(agent: &Agent, reason: &str) -> String {
    await_until(agent, reason, || {
        let out = stdout(&agent.hc(&["drift", "-o", "json"]));
        out.contains(reason).then_some(out)
    })
}

fn await_until<T>(agent: &Agent, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never saw {what}:\n{}",
            agent.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
