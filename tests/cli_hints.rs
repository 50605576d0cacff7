//! `validate`'s hints lead to a valid manifest (issue 19).

use hareconcile_test_support as support;

use std::process::Command;

#[test]
fn an_unquoted_duration_is_told_to_take_a_unit() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("vip.yaml");
    let vip = support::virtual_ip("web", 51, "10.77.0.100/24") + "  advertInterval: 2\n";
    std::fs::write(&manifest, format!("{}---\n{vip}", support::CLUSTER)).unwrap();
    let out = Command::new(support::bin())
        .args(["validate", "-f"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = support::stderr(&out);
    assert!(
        message.contains(
            "spec.advertInterval: expected a string, found the number 2: quote it, e.g. \"2s\""
        ),
        "{message}"
    );
}
