//! Who may use the agent's socket: its owner, and the members of
//! `--socket-group` (mode 0660, the socket's group). The package test runs
//! `get` and `status` as a non-root member of the packaged group.

use hareconcile_test_support as support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use support::{expect_code, Agent};

#[test]
fn the_socket_belongs_to_the_socket_group_with_mode_0660() {
    let dir = tempfile::tempdir().unwrap();
    // Any process may chown a file it owns to one of its own groups.
    let gid = unsafe { libc::getgid() };
    let agent = Agent::start(dir.path(), &["--socket-group", &gid.to_string()]);
    let meta = std::fs::metadata(&agent.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    expect_code(&agent.hc(&["get", "vip"]), 0);
}

#[test]
fn an_unknown_socket_group_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(support::bin())
        .args([
            "agent",
            "--node",
            "n1",
            "--socket-group",
            "no-such-group-hc",
        ])
        .arg("--state-dir")
        .arg(dir.path().join("store"))
        .arg("--socket")
        .arg(dir.path().join("agent.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = support::stderr(&out);
    assert!(
        stderr.contains("groupadd --system no-such-group-hc"),
        "{stderr}"
    );
}
