//! GitOps pull from a local repository: commits apply, a broken commit is
//! rejected with its SHA and errors while the last good one stays, and a
//! file deleted from git prunes its objects.

use hareconcile_test_support as support;

use std::path::Path;
use std::time::Duration;

use support::{expect_code, git, virtual_ip, Agent, CLUSTER};

/// Writes the files and commits them; returns the new commit's SHA.
fn commit(repo: &Path, files: &[(&str, Option<&str>)], message: &str) -> String {
    for (name, text) in files {
        let path = repo.join("manifests").join(name);
        match text {
            Some(text) => std::fs::write(path, text).unwrap(),
            None => std::fs::remove_file(path).unwrap(),
        }
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

/// Waits until the agent has exactly `expected` (name, VRID), from git.
fn eventually(agent: &Agent, what: &str, expected: &[(&str, u64)]) {
    agent.await_virtual_ips(what, Duration::from_secs(15), "gitops", expected);
}

#[test]
fn commits_apply_bad_commits_are_rejected_and_deleted_files_prune() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("manifests")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "not a manifest\n").unwrap();
    let first = commit(
        &repo,
        &[
            ("cluster.yaml", Some(CLUSTER)),
            ("web.yaml", Some(&virtual_ip("web", 51, "10.77.0.100/24"))),
            ("dns.yaml", Some(&virtual_ip("dns", 53, "10.77.0.53/24"))),
        ],
        "first",
    );
    let url = format!("file://{}", repo.display());
    let agent = Agent::start(
        dir.path(),
        &[
            "--git-url",
            &url,
            "--git-path",
            "manifests",
            "--git-interval",
            "1s",
        ],
    );
    eventually(&agent, "the first commit", &[("dns", 53), ("web", 51)]);
    let status = expect_code(&agent.hc(&["gitops", "status"]), 0);
    assert!(
        status.contains(&format!("Applied commit:  {}", &first[..12])),
        "{status}"
    );

    // A person cannot silently change what git manages.
    let mine = dir.path().join("mine.yaml");
    // The Cluster it names is in the store already.
    std::fs::write(&mine, virtual_ip("web", 77, "10.77.0.100/24")).unwrap();
    let refused = agent.hc(&["apply", "-f", mine.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("managed by gitops, not cli"));

    // Forced, it is drift: git declares web, a person owns it now.
    expect_code(
        &agent.hc(&["apply", "--force", "-f", mine.to_str().unwrap()]),
        0,
    );
    let drift = expect_code(&agent.hc(&["drift", "--exit-code"]), 1);
    assert!(drift.contains("VirtualIP/web"), "{drift}");
    assert!(drift.contains("ManagedElsewhere"), "{drift}");
    let json = expect_code(&agent.hc(&["drift", "-o", "json"]), 0);
    let findings: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(findings
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["category"] == "sync"
            && f["reason"] == "ManagedElsewhere"
            && f["object"] == "VirtualIP/web"));
    // Repair: give it back to git, which re-applies it.
    expect_code(&agent.hc(&["delete", "--force", "vip", "web"]), 0);
    eventually(
        &agent,
        "git restores what was deleted by hand",
        &[("dns", 53), ("web", 51)],
    );
    let drift = expect_code(&agent.hc(&["drift", "-o", "json"]), 0);
    assert!(!drift.contains("ManagedElsewhere"), "{drift}");

    commit(
        &repo,
        &[("web.yaml", Some(&virtual_ip("web", 52, "10.77.0.100/24")))],
        "move web",
    );
    eventually(
        &agent,
        "a changed manifest, within one interval",
        &[("dns", 53), ("web", 52)],
    );
    let good = git(&repo, &["rev-parse", "HEAD"]);

    let bad = commit(
        &repo,
        &[("web.yaml", Some(&virtual_ip("web", 999, "10.77.0.100/24")))],
        "oops",
    );
    let sync = agent.hc(&["gitops", "sync"]);
    let report = expect_code(&sync, 1);
    assert!(
        report.contains(&format!("{} REJECTED", &bad[..12])),
        "{report}"
    );
    assert!(
        report.contains("manifests/web.yaml:8:9: VirtualIP/web: spec.vrid: 999 is out of range"),
        "{report}"
    );
    assert!(
        report.contains(&format!("Applied commit:  {}", &good[..12])),
        "{report}"
    );
    assert_eq!(
        agent.virtual_ips()[1].1,
        52,
        "the last good commit stays applied"
    );
    let drift = expect_code(&agent.hc(&["drift", "-o", "markdown"]), 0);
    assert!(
        drift.contains(&format!("| sync | CommitRejected | commit {bad}")),
        "{drift}"
    );

    commit(
        &repo,
        &[
            ("web.yaml", Some(&virtual_ip("web", 52, "10.77.0.100/24"))),
            ("dns.yaml", None),
        ],
        "fix web, retire dns",
    );
    let report = expect_code(&agent.hc(&["gitops", "sync"]), 0);
    assert!(report.contains("1 pruned"), "{report}");
    eventually(&agent, "a file deleted from git", &[("web", 52)]);
}

#[test]
fn gitops_commands_explain_when_the_agent_follows_no_repository() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let out = agent.hc(&["gitops", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("start it with --git-url"));
}
