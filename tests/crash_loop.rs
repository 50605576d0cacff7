//! The crash-loop breaker: a git commit or a --manifests content that was
//! on trial when the agent died twice is rejected, the last good objects
//! come back, and the operator is told and can retry it; planned restarts
//! (SIGTERM) reject nothing.
//!
//! No input is known to kill the agent any more (those bugs are fixed),
//! so the deaths are made as systemd would see an OOM kill: SIGKILL while
//! the set is on trial (`--trial-period 1h`). The first run of each test
//! lets the good set pass (`--trial-period 0s`), as an hour would.

use hareconcile_test_support as support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{expect_code, get_raw, virtual_ip, wait_until, Agent, ManifestsRepo, CLUSTER};

const ON_TRIAL: &str = "--trial-period=1h";

/// Waits until the agent's log says a set passed its trial.
fn await_passed(agent: &Agent) {
    assert!(
        wait_until(Duration::from_secs(30), || agent
            .log()
            .contains("set passed its trial")),
        "the good set never passed its trial:\n{}",
        agent.log()
    );
}

/// SIGKILL, as an OOM kill, and waits until no process holds the store
/// any more: a child the agent was forking (not yet exec'd) keeps its
/// files open, the store's lock and the API socket among them, for a
/// moment after the agent died. systemd restarts the unit only once its
/// cgroup is empty, which this stands for.
fn kill(agent: &mut Agent) {
    let store = agent.state_dir.join("store.redb");
    agent.kill();
    let held = || {
        let procs = std::fs::read_dir("/proc").into_iter().flatten().flatten();
        procs.into_iter().any(|p| {
            let fds = std::fs::read_dir(p.path().join("fd")).into_iter().flatten();
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == store))
        })
    };
    assert!(
        wait_until(Duration::from_secs(30), || !held()),
        "a process still holds {}",
        store.display()
    );
}

/// (name, VRID) of the agent's VirtualIPs.
fn vips(agent: &Agent) -> Vec<(String, u64)> {
    let all = agent.virtual_ips().into_iter();
    all.map(|(name, vrid, _)| (name, vrid)).collect()
}

fn pairs(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    expected.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

/// What the operator is shown about a rejected set: the `status` line,
/// the Cluster's event and the metric.
fn assert_reported(agent: &Agent, set: &str, source: &str) {
    let status = agent.hc(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{text}");
    assert!(text.contains("input: crash loop stopped:"), "{text}");
    assert!(
        text.contains(&format!("hareconcile retry {}", &set[..12])),
        "{text}"
    );
    let events = expect_code(&agent.hc(&["events", "cluster", "home"]), 0);
    assert!(events.contains("CrashLoopStopped"), "{events}");
    let metrics = get_raw(&agent.socket, "/metrics");
    let sample = format!("hareconcile_rejected_sets{{node=\"n1\",source=\"{source}\"}} 1");
    assert!(metrics.lines().any(|l| l == sample), "{metrics}");
}

#[test]
fn a_commit_the_agent_died_with_twice_is_rejected_until_retried() {
    let dir = tempfile::tempdir().unwrap();
    let repo = ManifestsRepo::init(dir.path());
    let write = |name: &str, text: &str| std::fs::write(repo.manifests().join(name), text).unwrap();
    write("cluster.yaml", CLUSTER);
    write("web.yaml", &virtual_ip("web", 51, "10.77.0.100/24"));
    let good = repo.commit_all("good");
    let git_flags = |period: &'static str| -> Vec<String> {
        let url = format!("file://{}", repo.path.display());
        let flags = [
            "--git-url",
            &url,
            "--git-path",
            "manifests",
            "--git-interval",
            "1h",
            period,
        ];
        flags.iter().map(|f| f.to_string()).collect()
    };
    let start = |period: &'static str| {
        let flags = git_flags(period);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        Agent::start(dir.path(), &flags)
    };

    let mut agent = start("--trial-period=0s");
    agent.await_virtual_ips(
        "the good commit",
        Duration::from_secs(20),
        "gitops",
        &[("web", 51)],
    );
    await_passed(&agent);
    agent.terminate();

    let mut agent = start(ON_TRIAL);
    write("web.yaml", &virtual_ip("web", 52, "10.77.0.100/24"));
    write("dns.yaml", &virtual_ip("dns", 53, "10.77.0.53/24"));
    let bad = repo.commit_all("the commit that kills");
    expect_code(&agent.hc(&["gitops", "sync"]), 0);
    assert_eq!(vips(&agent), pairs(&[("dns", 53), ("web", 52)]));

    // A planned restart is no verdict, however often.
    for _ in 0..2 {
        agent.terminate();
        agent = start(ON_TRIAL);
    }
    assert_eq!(vips(&agent), pairs(&[("dns", 53), ("web", 52)]));
    let status = String::from_utf8_lossy(&agent.hc(&["status"]).stdout).to_string();
    assert!(!status.contains("input:"), "{status}");

    // Two deaths with it on trial.
    kill(&mut agent);
    let mut agent = start(ON_TRIAL);
    assert_eq!(
        vips(&agent),
        pairs(&[("dns", 53), ("web", 52)]),
        "one death is no verdict"
    );
    kill(&mut agent);
    let agent = start(ON_TRIAL);
    assert_eq!(
        vips(&agent),
        pairs(&[("web", 51)]),
        "the good commit's objects are back"
    );
    assert_reported(&agent, &bad, "gitops");
    let report = agent.sync_rejects(&bad);
    assert!(report.contains("crash loop stopped: commit"), "{report}");
    assert!(
        report.contains(&format!("Applied commit:  {}", &good[..12])),
        "{report}"
    );
    // The good commit's files are checked out again: drift compares with them.
    let checkout = dir.path().join("store/gitops/checkout/manifests/web.yaml");
    let checked_out = std::fs::read_to_string(&checkout).unwrap();
    assert!(checked_out.contains("vrid: 51"), "{checked_out}");
    assert_eq!(vips(&agent), pairs(&[("web", 51)]), "a sync skips it");

    let retried = expect_code(&agent.hc(&["retry", &bad[..12]]), 0);
    assert!(retried.contains("is no longer rejected"), "{retried}");
    let report = expect_code(&agent.hc(&["gitops", "sync"]), 0);
    assert!(
        report.contains(&format!("Applied commit:  {}", &bad[..12])),
        "{report}"
    );
    assert_eq!(vips(&agent), pairs(&[("dns", 53), ("web", 52)]));
    let unknown = agent.hc(&["retry", &bad[..12]]);
    assert_eq!(unknown.status.code(), Some(2));
}

/// An agent on the --manifests directory `manifests` under `dir`.
fn start_on(dir: &Path, manifests: &Path, period: &str) -> Agent {
    Agent::start(dir, &["--manifests", manifests.to_str().unwrap(), period])
}

fn write(dir: &Path, name: &str, text: &str) {
    // Write then rename, as editors and git do, so no half file is read.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

#[test]
fn manifests_the_agent_died_with_twice_are_skipped_until_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let m: PathBuf = support::manifests_dir(
        dir.path(),
        &[
            ("cluster.yaml", CLUSTER),
            ("web.yaml", &virtual_ip("web", 51, "10.77.0.100/24")),
        ],
    );
    let await_vips = |agent: &Agent, what: &str, expected: &[(&str, u64)]| {
        agent.await_virtual_ips(what, Duration::from_secs(20), "files", expected)
    };

    let mut agent = start_on(dir.path(), &m, "--trial-period=0s");
    await_vips(&agent, "the good content", &[("web", 51)]);
    await_passed(&agent);
    agent.terminate();

    let mut agent = start_on(dir.path(), &m, ON_TRIAL);
    write(&m, "web.yaml", &virtual_ip("web", 52, "10.77.0.100/24"));
    write(&m, "dns.yaml", &virtual_ip("dns", 53, "10.77.0.53/24"));
    await_vips(
        &agent,
        "the content that kills",
        &[("dns", 53), ("web", 52)],
    );
    for _ in 0..2 {
        agent.terminate();
        agent = start_on(dir.path(), &m, ON_TRIAL);
    }
    assert_eq!(
        vips(&agent),
        pairs(&[("dns", 53), ("web", 52)]),
        "planned restarts reject nothing"
    );

    kill(&mut agent);
    let mut agent = start_on(dir.path(), &m, ON_TRIAL);
    kill(&mut agent);
    let agent = start_on(dir.path(), &m, ON_TRIAL);
    assert_eq!(
        vips(&agent),
        pairs(&[("web", 51)]),
        "the good content's objects are back:\n{}",
        agent.log()
    );
    let status = String::from_utf8_lossy(&agent.hc(&["status"]).stdout).to_string();
    let line = status
        .lines()
        .find(|l| l.starts_with("input: "))
        .expect(&status);
    assert!(line.contains("--manifests content"), "{line}");
    let set = line.split("hareconcile retry ").nth(1).unwrap();
    let set = &set[..12];
    assert_reported(&agent, set, "files");
    // The watcher sees the same content and skips it, saying why.
    assert!(
        wait_until(Duration::from_secs(30), || agent
            .log()
            .matches("crash loop stopped: --manifests content")
            .count()
            >= 2),
        "{}",
        agent.log()
    );
    assert_eq!(vips(&agent), pairs(&[("web", 51)]));

    // Changed content is tried as any other.
    std::fs::remove_file(m.join("dns.yaml")).unwrap();
    await_vips(&agent, "the fixed content", &[("web", 52)]);
}
