//! A rolling upgrade from the previous release (docs/upgrade.md): two lab
//! nodes run the previous release's agent, then one after the other
//! restarts on this build with the same state directory. Throughout, the
//! VIP is served, fails over and comes back between the two versions, and
//! each node's `hareconcile status` (its own version's CLI) sees the other
//! through the peer API with the same configuration.
//!
//! The previous release is built from git history, once per commit, into
//! `target/previous-release/` (a few minutes of CPU, then cached).

mod hosts;
use hareconcile_test_support as support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use hareconcile_lab::{require_privileges, Host, Lab, NodeCommand, Process};

use hosts::{await_server, serve_own_name, CONVERGE};
use support::bin;
use support::lab_manifests::peer_token_file;

/// hareconcile 0.1.0 (CHANGELOG.md): the last commit of that release.
/// Bump it when a release is made.
const PREVIOUS_RELEASE: &str = "cf73fe91c98ab53e5f592d6b8a957a5782081cab";
const PREVIOUS_VERSION: &str = "0.1.0";

#[test]
fn a_rolling_upgrade_from_the_previous_release_keeps_the_vip_and_the_peer_api() {
    require_privileges!();
    let previous = previous_release();
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();
    let manifests = write_manifests(&lab);
    let _web: Vec<Process> = lab
        .nodes()
        .iter()
        .map(|h| serve_own_name(&lab, h))
        .collect();

    // Both nodes on the previous release.
    let mut n1 = Agent::new(&lab, lab.node(1), &manifests);
    let mut n2 = Agent::new(&lab, lab.node(2), &manifests);
    n1.start_on(&previous);
    n2.start_on(&previous);
    await_server(&lab, "n1", || logs(&[&n1, &n2]));
    await_status(&n1, &n2);

    // The backup first: restarted on this build, it migrates its store
    // and stays backup; the old master keeps the VIP.
    n2.stop();
    n2.start_on(Path::new(bin()));
    await_log(&n2, "state file migrated to the current store schema");
    await_status(&n2, &n1);
    await_status(&n1, &n2);
    await_server(&lab, "n1", || logs(&[&n1, &n2]));

    // Failover and preempt-back between the two versions.
    lab.node_loss(lab.node(1)).unwrap();
    await_server(&lab, "n2", || logs(&[&n1, &n2]));
    lab.node_restore(lab.node(1)).unwrap();
    await_server(&lab, "n1", || logs(&[&n1, &n2]));

    // Then the master: stopped, it hands the VIP over (priority 0) to the
    // upgraded backup, and preempts back once it runs this build.
    n1.stop();
    await_server(&lab, "n2", || logs(&[&n1, &n2]));
    n1.start_on(Path::new(bin()));
    await_server(&lab, "n1", || logs(&[&n1, &n2]));
    await_status(&n1, &n2);
    await_status(&n2, &n1);
}

/// One node's agent, run from a given binary with its state, socket and
/// the shared manifests in the lab.
struct Agent<'a> {
    host: &'a Host,
    dir: PathBuf,
    manifests: PathBuf,
    binary: PathBuf,
    process: Option<Process>,
}

impl<'a> Agent<'a> {
    fn new(lab: &Lab, host: &'a Host, manifests: &Path) -> Agent<'a> {
        let dir = lab.dir().join(format!("agent-{}", host.name()));
        std::fs::create_dir_all(&dir).unwrap();
        Agent {
            host,
            dir,
            manifests: manifests.to_owned(),
            binary: PathBuf::new(),
            process: None,
        }
    }

    /// Starts `binary`'s agent on this node's state directory.
    fn start_on(&mut self, binary: &Path) {
        let command = NodeCommand::new(binary)
            .args(["agent", "--node", self.host.name()])
            .arg("--state-dir")
            .arg(self.dir.join("store"))
            .arg("--socket")
            .arg(self.dir.join("agent.sock"))
            .arg("--manifests")
            .arg(&self.manifests);
        self.process = Some(self.host.spawn(command).unwrap());
        self.binary = binary.to_owned();
    }

    /// Stops the agent as systemd would: SIGTERM, then waiting for its exit.
    fn stop(&mut self) {
        let process = self.process.take().expect("running");
        let status = process.stop(Duration::from_secs(30)).unwrap();
        assert!(
            status.success(),
            "{} stopped with {status}",
            self.host.name()
        );
    }

    /// `hareconcile ARGS` from the same binary as the agent, against it.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.binary)
            .env("HARECONCILE_SOCKET", self.dir.join("agent.sock"))
            .args(args)
            .output()
            .unwrap()
    }

    fn log(&self) -> String {
        let log = self.process.as_ref().map(Process::log).unwrap_or_default();
        format!(
            "--- {} ({}):\n{log}",
            self.host.name(),
            self.binary.display()
        )
    }
}

fn logs(agents: &[&Agent]) -> String {
    agents
        .iter()
        .map(|a| a.log())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until `hareconcile status` of `agent`'s version exits 0 against it.
fn await_status(agent: &Agent, other: &Agent) {
    hosts::await_status_ok(
        agent.host.name(),
        || agent.run(&["status"]),
        || logs(&[agent, other]),
    );
}

fn await_log(agent: &Agent, line: &str) {
    support::eventually(
        CONVERGE,
        &format!("{line:?} never logged:"),
        &|| agent.log(),
        || agent.log().contains(line),
    );
}

/// The Cluster (with the peer API) and the VirtualIP both nodes follow.
fn write_manifests(lab: &Lab) -> PathBuf {
    let token = peer_token_file(lab, "rolling-upgrade-token\n");
    let manifests = lab.dir().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("cluster.yaml"),
        hosts::two_node_manifest(&token.display().to_string()),
    )
    .unwrap();
    manifests
}

/// The previous release's binary, built from git history on first use
/// (`target/previous-release/COMMIT/`); later runs reuse it.
fn previous_release() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = repo
        .join("target/previous-release")
        .join(&PREVIOUS_RELEASE[..12]);
    let binary = dir.join("target/debug/hareconcile");
    if !binary.exists() {
        build_previous_release(repo, &dir);
    }
    let version = Command::new(&binary).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(version.contains(PREVIOUS_VERSION), "{version}");
    binary
}

fn build_previous_release(repo: &Path, dir: &Path) {
    let source = dir.join("src");
    let _ = std::fs::remove_dir_all(&source);
    std::fs::create_dir_all(&source).unwrap();
    // The commit's tree, as an archive: no worktree to clean up, and a
    // shallow clone fails here with git's message.
    support::run_ok(
        Command::new("sh").arg("-c").arg(format!(
            "git -C {} archive --format=tar {PREVIOUS_RELEASE} | tar -x -C {}",
            repo.display(),
            source.display()
        )),
        &format!("cannot extract {PREVIOUS_RELEASE} (a shallow clone? fetch the history)"),
    );
    // Without debug info: a third less to compile, and nobody debugs it.
    support::run_ok(
        Command::new(env!("CARGO"))
            .args(["build", "--locked", "--bin", "hareconcile"])
            .current_dir(&source)
            .env("CARGO_TARGET_DIR", dir.join("target"))
            .env("CARGO_PROFILE_DEV_DEBUG", "false")
            .env("CARGO_INCREMENTAL", "0"),
        &format!("building {PREVIOUS_RELEASE}"),
    );
}
