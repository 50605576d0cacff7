//! The store when its file or disk fails (issue 17): a damaged state file
//! or a read-only file system stops the agent with exit 3 and a message
//! saying what to do, never a panic or an empty start; a full disk makes
//! writes fail, reported (`StoreUnwritable`, `hareconcile_store_writable
//! 0`), until space returns, when the store writes again without a
//! restart. The damage matrix itself is in the store's unit tests.

use hareconcile_test_support as support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hareconcile_lab::{require_privileges, Lab, NodeCommand};
use support::lab_data::private_mounts_lab;
use support::lab_manifests::{cluster_manifest, web_vip_manifest};
use support::{code_and_text, wait_until, LabAgent};

/// `hareconcile agent` on `state_dir` until it exits: its code and stderr.
fn agent_on(state_dir: &Path) -> (Option<i32>, String) {
    let out = Command::new(support::bin())
        .args(["agent", "--node", "n1", "--state-dir"])
        .arg(state_dir)
        .arg("--socket")
        .arg(state_dir.with_file_name("agent.sock"))
        .output()
        .unwrap();
    (out.status.code(), support::stderr(&out))
}

#[test]
fn a_damaged_state_file_stops_the_agent_with_exit_3_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("store");
    std::fs::create_dir(&state_dir).unwrap();
    for (case, bytes) in [("zero bytes", Vec::new()), ("noise", vec![0x5a; 64 << 10])] {
        std::fs::write(state_dir.join("store.redb"), bytes).unwrap();
        let (code, stderr) = agent_on(&state_dir);
        assert_eq!(code, Some(3), "{case}: {stderr}");
        assert!(
            stderr.contains("store.redb is corrupt") && stderr.contains("Move it aside"),
            "{case}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    }
}

/// A one-node lab whose agent keeps its store on a tmpfs of its own
/// (16 MiB), mounted at the returned path; and that agent, following
/// Cluster `lab`, once it answers.
fn agent_on_tmpfs() -> (Lab, LabAgent, PathBuf) {
    let lab = private_mounts_lab(1);
    let n1 = lab.node(1);
    let state_dir = LabAgent::dir_of(&lab, n1).join("store");
    n1.exec_ok(NodeCommand::new("mkdir").arg("-p").arg(&state_dir))
        .unwrap();
    n1.exec_ok(
        NodeCommand::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs"])
            .arg(&state_dir),
    )
    .unwrap();
    let agent = LabAgent::command(&lab, n1)
        .manifest(&cluster_manifest((110, 100), ""))
        .start();
    assert!(
        wait_until(Duration::from_secs(20), || agent
            .hc(&["get", "cluster", "lab"])
            .status
            .success()),
        "{}",
        agent.log()
    );
    (lab, agent, state_dir)
}

#[test]
fn a_read_only_state_directory_stops_the_agent_with_exit_3_and_what_to_do() {
    require_privileges!();
    let (lab, agent, state_dir) = agent_on_tmpfs();
    let n1 = lab.node(1);
    agent.process.stop(Duration::from_secs(5)).unwrap();
    n1.exec_ok(
        NodeCommand::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&state_dir),
    )
    .unwrap();

    let mut agent = LabAgent::command(&lab, n1).start();
    let exited = agent.process.wait_timeout(Duration::from_secs(20)).unwrap();
    let log = agent.log();
    assert_eq!(exited.and_then(|s| s.code()), Some(3), "{log}");
    assert!(
        log.contains("Read-only file system") && log.contains("writable file system"),
        "{log}"
    );
}

#[test]
fn a_full_disk_fails_writes_visibly_until_space_returns_then_they_succeed() {
    require_privileges!();
    let (lab, agent, state_dir) = agent_on_tmpfs();
    let n1 = lab.node(1);
    let writable = |value: &str| {
        let metrics = agent.metrics();
        metrics.contains(&format!(
            "hareconcile_store_writable{{node=\"n1\"}} {value}\n"
        ))
    };
    assert!(writable("1"), "{}", agent.metrics());

    // Fill the disk; dd stops at ENOSPC.
    let filler = state_dir.join("filler");
    n1.exec(
        NodeCommand::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", filler.display())),
    )
    .unwrap();
    let web = lab.dir().join("web.yaml");
    std::fs::write(&web, web_vip_manifest("")).unwrap();
    let web = web.to_str().unwrap();
    let (code, out) = code_and_text(&agent.hc(&["apply", "--local", "-f", web]));
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("No space left on device"), "{out}");
    assert!(writable("0"), "{}", agent.metrics());
    let events = agent.events(&["cluster", "lab"]);
    assert!(events.contains("StoreUnwritable"), "{events}");
    let (code, status) = code_and_text(&agent.hc(&["status"]));
    assert_eq!(code, Some(1), "{status}");
    assert!(status.contains("store: NOT WRITABLE ("), "{status}");
    assert!(status.contains("No space left on device"), "{status}");

    // Space returns: the store writes again by itself, no restart.
    n1.exec_ok(NodeCommand::new("rm").arg(&filler)).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || writable("1")),
        "{}",
        agent.log()
    );
    assert!(agent.events(&["cluster", "lab"]).contains("StoreWritable"));
    let (code, out) = code_and_text(&agent.hc(&["apply", "--local", "-f", web]));
    assert_eq!(code, Some(0), "{out}");
    assert!(agent.hc(&["get", "vip", "web"]).status.success());
    assert!(agent.hc_stdout(&["status"]).contains("store: writable\n"));
    let mut process = agent.process;
    assert!(process.try_wait().unwrap().is_none(), "the agent restarted");
}
