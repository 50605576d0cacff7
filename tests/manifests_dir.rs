//! The agent keeps its --manifests directory applied: new and changed
//! files apply, a broken directory applies nothing, removed files prune.

use hareconcile_test_support as support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{virtual_ip, Agent, CLUSTER};

/// Names of the VirtualIPs the agent has, with their VRIDs.
fn vips(agent: &Agent) -> Vec<(String, u64)> {
    let all = agent.virtual_ips().into_iter();
    all.map(|(name, vrid, _)| (name, vrid)).collect()
}

/// Waits until the agent has exactly `expected` (name, VRID), from files.
fn eventually(agent: &Agent, what: &str, expected: &[(&str, u64)]) {
    agent.await_virtual_ips(what, Duration::from_secs(10), "files", expected);
}

fn write(dir: &Path, name: &str, text: &str) {
    // Write then rename, as editors and git do, so no half file is read.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

/// An agent on a --manifests directory under `dir` holding the Cluster
/// and VirtualIP `web` (VRID 51), once it loaded them; and the directory.
fn start_on_cluster_and_web(dir: &Path) -> (Agent, PathBuf) {
    let m = support::manifests_dir(
        dir,
        &[
            ("cluster.yaml", CLUSTER),
            ("web.yaml", &virtual_ip("web", 51, "10.77.0.100/24")),
        ],
    );
    let agent = Agent::start(dir, &["--manifests", m.to_str().unwrap()]);
    eventually(&agent, "initial load", &[("web", 51)]);
    (agent, m)
}

#[test]
fn directory_changes_apply_and_removed_files_prune() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, m) = start_on_cluster_and_web(dir.path());

    write(&m, "dns.yaml", &virtual_ip("dns", 53, "10.77.0.53/24"));
    eventually(&agent, "a new file", &[("dns", 53), ("web", 51)]);

    write(&m, "web.yaml", &virtual_ip("web", 52, "10.77.0.100/24"));
    eventually(&agent, "a changed file", &[("dns", 53), ("web", 52)]);

    // One broken file holds back the whole directory, including a valid
    // new file, and the last good state stays.
    write(&m, "broken.yaml", "apiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {name: bad}\nspec: {vrid: 999}\n");
    write(&m, "ntp.yaml", &virtual_ip("ntp", 123, "10.77.0.123/24"));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        vips(&agent),
        [("dns".to_string(), 53), ("web".to_string(), 52)]
    );
    assert!(agent.log().contains("broken.yaml:"), "{}", agent.log());
    assert!(agent.log().contains("nothing applied"), "{}", agent.log());

    std::fs::remove_file(m.join("broken.yaml")).unwrap();
    eventually(&agent, "the fix", &[("dns", 53), ("ntp", 123), ("web", 52)]);

    std::fs::remove_file(m.join("dns.yaml")).unwrap();
    eventually(&agent, "a removed file", &[("ntp", 123), ("web", 52)]);
}

/// An emptied directory would delete every object it declared: refused,
/// with a PruneRefused event on each, unless the agent allows it.
#[test]
fn an_emptied_directory_prunes_nothing_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut agent, m) = start_on_cluster_and_web(dir.path());

    std::fs::remove_file(m.join("web.yaml")).unwrap();
    std::fs::remove_file(m.join("cluster.yaml")).unwrap();
    let refused = || {
        let events = agent.hc(&["events", "vip", "web"]);
        String::from_utf8_lossy(&events.stdout).contains("PruneRefused")
    };
    support::eventually(
        Duration::from_secs(15),
        "the emptied directory is refused",
        &|| agent.log(),
        refused,
    );
    assert_eq!(vips(&agent), [("web".to_string(), 51)]);
    assert!(agent.log().contains("--allow-prune-all"), "{}", agent.log());

    agent.terminate();
    let agent = Agent::start(
        dir.path(),
        &["--manifests", m.to_str().unwrap(), "--allow-prune-all"],
    );
    eventually(&agent, "allowed, the emptied directory prunes", &[]);
}
