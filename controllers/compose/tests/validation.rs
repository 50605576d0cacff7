//! Issue 13: validation loads the compose files of every Service and
//! reports all their problems, each in its file, with the Service named.

use std::path::Path;

use hareconcile_compose::{ComposeFiles, COMPOSE_FILES_ANNOTATION};
use hareconcile_model::load::{load_paths_checked, Manifest};

const CLUSTER: &str = "apiVersion: hareconcile.io/v1alpha1
kind: Cluster
metadata: {name: home}
spec:
  nodes: [{name: n1, address: 10.77.0.1}, {name: n2, address: 10.77.0.2}]
";

fn service(name: &str, file: &str) -> String {
    format!(
        "---\napiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  cluster: home\n  mode: active-active\n  compose: {{file: {file}}}\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn load(dir: &Path) -> Result<Vec<Manifest>, Vec<String>> {
    load_paths_checked(&[dir.join("manifests")], &[], &ComposeFiles).map_err(|d| {
        d.0.iter()
            .map(|d| d.to_string().replace(&format!("{}/", dir.display()), ""))
            .collect()
    })
}

#[test]
fn every_problem_of_every_compose_file_is_reported_with_its_service() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = format!(
        "{CLUSTER}{}{}{}",
        service("shop", "../stacks/shop/compose.yaml"),
        service("missing", "../stacks/nowhere/compose.yaml"),
        service("fine", "../stacks/fine/compose.yaml"),
    );
    write(dir.path(), "manifests/all.yaml", &manifests);
    write(
        dir.path(),
        "stacks/shop/compose.yaml",
        "services:\n  a:\n    image: ${IMAGE:?set IMAGE}\n  b:\n    image: busybox\n    bogus: 1\n  c:\n    image: busybox\n    restart: sometimes\n  d:\n    image: busybox\n    env_file: missing.env\n  e:\n    image: busybox\n    depends_on: [ghost]\n",
    );
    write(
        dir.path(),
        "stacks/fine/compose.yaml",
        "services: {web: {image: busybox}}\n",
    );
    let problems = load(dir.path()).unwrap_err();
    assert_eq!(
        problems,
        [
            "stacks/shop/compose.yaml:3:12: Service/shop: compose: required variable IMAGE is missing a value: set IMAGE",
            "stacks/shop/compose.yaml:6:5: Service/shop: compose: unsupported key `bogus` in service `b`: hareconcile does not implement it; remove it or run this stack with docker compose",
            "stacks/shop/compose.yaml:9:14: Service/shop: compose: restart must be no, always, unless-stopped or on-failure[:N], not \"sometimes\"",
            // (The test cuts the temporary directory off the absolute path.)
            "stacks/shop/compose.yaml:12:15: Service/shop: compose: cannot read env_file stacks/shop/missing.env: No such file or directory (os error 2)",
            "stacks/shop/compose.yaml:15:18: Service/shop: compose: service `e` depends on `ghost`, which is not a service of this file",
            "stacks/nowhere/compose.yaml: Service/missing: compose: cannot read: No such file or directory (os error 2)",
        ][..]
    );
}

#[test]
fn a_valid_service_records_what_its_files_hold() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "manifests/all.yaml",
        &format!("{CLUSTER}{}", service("web", "../stacks/web/compose.yaml")),
    );
    write(
        dir.path(),
        "stacks/web/compose.yaml",
        "services: {web: {image: busybox, env_file: web.env}}\n",
    );
    write(dir.path(), "stacks/web/web.env", "A=1\n");
    let digest = |dir: &Path| {
        let manifests = load(dir).unwrap();
        manifests[1].object.metadata.annotations[COMPOSE_FILES_ANNOTATION].clone()
    };
    let before = digest(dir.path());
    assert!(before.starts_with("sha256:"), "{before}");
    // An edit of a file the project reads is an edit of the Service.
    write(dir.path(), "stacks/web/web.env", "A=2\n");
    assert_ne!(digest(dir.path()), before);
}
