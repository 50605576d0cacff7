//! `diff` compares what a manifest declares, not where it was read from
//! (issue 19).

use hareconcile_test_support as support;

use std::path::Path;

use support::{expect_code, web_manifest, Agent};

fn write_manifests(dir: &Path, text: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("web.yaml"), text).unwrap();
    dir.to_str().unwrap().to_string()
}

#[test]
fn the_same_files_in_another_directory_are_no_difference() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let applied = write_manifests(&dir.path().join("checkout-a"), &web_manifest());
    expect_code(&agent.hc(&["apply", "-f", &applied]), 0);

    let elsewhere = write_manifests(&dir.path().join("checkout-b"), &web_manifest());
    assert_eq!(expect_code(&agent.hc(&["diff", "-f", &elsewhere]), 0), "");

    // `labels: {}` declares no labels.
    let with_empty_labels = write_manifests(
        &dir.path().join("checkout-c"),
        &web_manifest().replace("name: web\n", "name: web\n  labels: {}\n"),
    );
    assert_eq!(
        expect_code(&agent.hc(&["diff", "-f", &with_empty_labels]), 0),
        ""
    );

    // A real edit still shows.
    let edited = write_manifests(
        &dir.path().join("checkout-d"),
        &web_manifest().replace("vrid: 51", "vrid: 52"),
    );
    let diff = expect_code(&agent.hc(&["diff", "-f", &edited]), 1);
    assert!(diff.contains("-  vrid: 51\n+  vrid: 52"), "{diff}");
    assert!(!diff.contains("source-file"), "{diff}");
}

#[test]
fn a_service_whose_compose_file_is_in_another_checkout_is_no_difference() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let service = format!(
        "{}---
apiVersion: hareconcile.io/v1alpha1
kind: Service
metadata: {{name: shop}}
spec:
  cluster: home
  mode: active-active
  compose: {{file: shop/compose.yaml}}
",
        support::CLUSTER
    );
    let checkout = |name: &str, image: &str| {
        let root = dir.path().join(name);
        std::fs::create_dir_all(root.join("shop")).unwrap();
        std::fs::write(
            root.join("shop/compose.yaml"),
            format!("services:\n  shop:\n    image: {image}\n"),
        )
        .unwrap();
        write_manifests(&root, &service)
    };
    expect_code(&agent.hc(&["apply", "-f", &checkout("a", "nginx")]), 0);
    assert_eq!(
        expect_code(&agent.hc(&["diff", "-f", &checkout("b", "nginx")]), 0),
        ""
    );
    // A compose edit still shows, as the digest.
    let diff = expect_code(&agent.hc(&["diff", "-f", &checkout("c", "caddy")]), 1);
    assert!(diff.contains("hareconcile.io/compose-files"), "{diff}");
}
