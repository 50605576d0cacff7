//! `delete` keeps the stored set valid and says when there was nothing to
//! delete (issue 19).

use hareconcile_test_support as support;

use std::path::Path;

use support::{code_and_text, expect_code, stderr, web_manifest, Agent};

/// The Cluster, VirtualIP `web` and Service `web` following it, applied.
fn web_and_its_service(dir: &Path) -> Agent {
    let agent = Agent::start(dir, &[]);
    std::fs::create_dir(dir.join("web")).unwrap();
    std::fs::write(
        dir.join("web/compose.yaml"),
        "services:\n  web:\n    image: nginx\n",
    )
    .unwrap();
    let manifest = dir.join("web.yaml");
    std::fs::write(
        &manifest,
        format!(
            "{}---
apiVersion: hareconcile.io/v1alpha1
kind: Service
metadata: {{name: web}}
spec:
  cluster: home
  followVirtualIP: web
  mode: active-passive
  compose: {{file: web/compose.yaml}}
",
            web_manifest()
        ),
    )
    .unwrap();
    expect_code(&agent.hc(&["apply", "-f", manifest.to_str().unwrap()]), 0);
    agent
}

#[test]
fn deleting_what_another_object_follows_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let agent = web_and_its_service(dir.path());
    let (code, out) = code_and_text(&agent.hc(&["delete", "vip", "web"]));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("Service/web"), "the dependent is named: {out}");
    assert!(
        !out.contains("spec.followVirtualIP: spec.followVirtualIP"),
        "the field is said once: {out}"
    );
    assert!(out.contains("--cascade"), "{out}");
    assert!(out.contains("nothing was deleted"), "{out}");
    expect_code(&agent.hc(&["get", "vip", "web"]), 0);
    // The set is still whole: applying to it works.
    expect_code(&agent.hc(&["vip", "maintenance", "web"]), 0);
}

#[test]
fn cascade_deletes_the_dependents_too() {
    let dir = tempfile::tempdir().unwrap();
    let agent = web_and_its_service(dir.path());
    let out = expect_code(&agent.hc(&["delete", "vip", "web", "--cascade"]), 0);
    assert!(out.contains("virtualips/web deleted"), "{out}");
    assert!(out.contains("services/web deleted"), "{out}");
    assert_eq!(agent.hc(&["get", "service", "web"]).status.code(), Some(2));
}

#[test]
fn deleting_a_missing_object_exits_1_unless_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let out = agent.hc(&["delete", "vip", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("virtualips/nope"), "{}", stderr(&out));
    expect_code(
        &agent.hc(&["delete", "vip", "nope", "--ignore-not-found"]),
        0,
    );
}
