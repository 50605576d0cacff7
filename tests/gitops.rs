//! GitOps pull from a local repository: commits apply, a broken commit is
//! rejected with its SHA and errors while the last good one stays, and a
//! file deleted from git prunes its objects.

use hareconcile_test_support as support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{expect_code, git, virtual_ip, wait_until, Agent, ManifestsRepo, CLUSTER};

/// Writes the files into the repository's manifests (None: deletes it)
/// and commits them; the new commit's SHA.
fn commit(repo: &ManifestsRepo, files: &[(&str, Option<&str>)], message: &str) -> String {
    commit_signed(repo, files, message, None)
}

/// As [`commit`], signed with the SSH private key `key` when given.
fn commit_signed(
    repo: &ManifestsRepo,
    files: &[(&str, Option<&str>)],
    message: &str,
    key: Option<&Path>,
) -> String {
    for (name, text) in files {
        let path = repo.manifests().join(name);
        match text {
            Some(text) => std::fs::write(path, text).unwrap(),
            None => std::fs::remove_file(path).unwrap(),
        }
    }
    repo.commit_all_signed(message, key)
}

/// A new repository under `dir` whose first commit holds a README (no
/// manifest, and it keeps the directory in git once the manifests are
/// gone), the Cluster, VirtualIP `web` (VRID 51) and `more` in its
/// `manifests` directory; the repository and that commit's SHA.
fn new_repo_with_web(dir: &Path, more: &[(&str, Option<&str>)]) -> (ManifestsRepo, String) {
    let repo = ManifestsRepo::init(dir);
    let web = virtual_ip("web", 51, "10.77.0.100/24");
    let files = [
        (
            "README.md",
            Some("manifests, and this file, which is none\n"),
        ),
        ("cluster.yaml", Some(CLUSTER)),
        ("web.yaml", Some(web.as_str())),
    ];
    let first = commit(&repo, &[&files[..], more].concat(), "first");
    (repo, first)
}

/// Waits until the agent has exactly `expected` (name, VRID), from git.
fn eventually(agent: &Agent, what: &str, expected: &[(&str, u64)]) {
    agent.await_virtual_ips(what, Duration::from_secs(15), "gitops", expected);
}

#[test]
fn commits_apply_bad_commits_are_rejected_and_deleted_files_prune() {
    let dir = tempfile::tempdir().unwrap();
    let dns = virtual_ip("dns", 53, "10.77.0.53/24");
    let (repo, first) = new_repo_with_web(dir.path(), &[("dns.yaml", Some(&dns))]);
    let agent = Agent::start_on_git(dir.path(), &repo.path, "1s", &[]);
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
    let good = git(&repo.path, &["rev-parse", "HEAD"]);

    let bad = commit(
        &repo,
        &[("web.yaml", Some(&virtual_ip("web", 999, "10.77.0.100/24")))],
        "oops",
    );
    let report = agent.sync_rejects(&bad);
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

    let fixed = commit(
        &repo,
        &[
            ("web.yaml", Some(&virtual_ip("web", 52, "10.77.0.100/24"))),
            ("dns.yaml", None),
        ],
        "fix web, retire dns",
    );
    // The periodic round may have applied it already (then its own
    // attempt counted the prune): the commit is what the report names.
    let report = expect_code(&agent.hc(&["gitops", "sync"]), 0);
    assert!(
        report.contains(&format!("Applied commit:  {}", &fixed[..12])),
        "{report}"
    );
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

/// A commit that empties the manifests directory would delete every
/// object applied from git: it is rejected and everything stays, until
/// the agent is started with --allow-prune-all.
#[test]
fn a_commit_that_declares_nothing_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = new_repo_with_web(dir.path(), &[]);
    let mut agent = Agent::start_on_git(dir.path(), &repo.path, "1h", &[]);
    eventually(&agent, "the first commit", &[("web", 51)]);

    let empty = commit(
        &repo,
        &[("cluster.yaml", None), ("web.yaml", None)],
        "oops, everything",
    );
    let report = agent.sync_rejects(&empty);
    assert!(
        report.contains("deleting them all at once is refused"),
        "{report}"
    );
    assert!(report.contains("--allow-prune-all"), "{report}");
    assert_eq!(agent.virtual_ips().len(), 1, "everything stays");
    let events = expect_code(&agent.hc(&["events", "vip", "web"]), 0);
    assert!(events.contains("PruneRefused"), "{events}");

    agent.terminate();
    let agent = Agent::start_on_git(dir.path(), &repo.path, "1h", &["--allow-prune-all"]);
    eventually(&agent, "allowed, the empty commit prunes", &[]);
}

/// A server that accepts and never answers: each git command is killed at
/// --git-timeout, so `gitops sync` reports the failure; with a long
/// timeout, stopping the agent kills the hung fetch at once.
#[test]
fn a_git_server_that_never_answers_holds_neither_sync_nor_shutdown() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("git://{}/repo.git", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    std::thread::spawn(move || {
        // Held open, never answered.
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });

    // Each agent in a directory of its own: nothing of the first is left
    // for the second to find.
    let start = |dir: &Path, timeout: &str| {
        let flags = [
            "--git-url",
            &url,
            "--git-interval",
            "1h",
            "--git-timeout",
            timeout,
        ];
        Agent::start(dir, &flags)
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = start(dir.path(), "1s");
    let report = expect_code(&agent.hc(&["gitops", "sync"]), 3);
    assert!(report.contains("did not finish within 1s"), "{report}");
    drop(agent);

    let dir = tempfile::tempdir().unwrap();
    let before = accepted.load(Ordering::SeqCst);
    let mut agent = start(dir.path(), "1h");
    support::eventually(
        Duration::from_secs(15),
        "the agent's fetch connects",
        &|| agent.log(),
        || accepted.load(Ordering::SeqCst) > before,
    );
    // terminate() fails the test if the agent does not exit.
    let status = agent.terminate();
    assert!(status.success(), "{status}\n{}", agent.log());
}

/// A new SSH key pair DIR/NAME (private) and DIR/NAME.pub.
fn ssh_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    key
}

/// With --git-allowed-signers only commits signed by a listed key apply:
/// an unsigned one and one signed by another key are rejected (status,
/// `gitops status`, an event on the Cluster) and the last good commit
/// stays, until a commit signed by a listed key comes.
#[test]
fn only_commits_signed_by_an_allowed_key_apply() {
    let dir = tempfile::tempdir().unwrap();
    let (ops, stranger) = (ssh_key(dir.path(), "ops"), ssh_key(dir.path(), "stranger"));
    let signers = dir.path().join("allowed_signers");
    let public = std::fs::read_to_string(ops.with_extension("pub")).unwrap();
    std::fs::write(&signers, format!("ops@example.org {public}")).unwrap();
    let repo = ManifestsRepo::init(dir.path());
    let first = commit_signed(
        &repo,
        &[
            ("cluster.yaml", Some(CLUSTER)),
            ("web.yaml", Some(&virtual_ip("web", 51, "10.77.0.100/24"))),
        ],
        "first",
        Some(&ops),
    );
    let agent = Agent::start_on_git(
        dir.path(),
        &repo.path,
        "1h",
        &["--git-allowed-signers", signers.to_str().unwrap()],
    );
    eventually(&agent, "the signed first commit", &[("web", 51)]);
    let status = expect_code(&agent.hc(&["gitops", "status"]), 0);
    assert!(
        status.contains(&format!("Applied commit:  {}", &first[..12])),
        "{status}"
    );
    assert!(
        status.contains(&format!(
            "Signatures:      required (keys listed in {})",
            signers.display()
        )),
        "{status}"
    );

    let web = |vrid: u32| virtual_ip("web", vrid, "10.77.0.100/24");
    let unsigned = commit(&repo, &[("web.yaml", Some(&web(52)))], "unsigned");
    let report = agent.sync_rejects(&unsigned);
    assert!(
        report.contains(
            "commit signature: the commit is not signed: only commits signed with a key listed in"
        ),
        "{report}"
    );
    assert!(
        report.contains(&format!("Applied commit:  {}", &first[..12])),
        "{report}"
    );

    let forged = commit_signed(
        &repo,
        &[("web.yaml", Some(&web(53)))],
        "forged",
        Some(&stranger),
    );
    let report = agent.sync_rejects(&forged);
    assert!(report.contains("No principal matched"), "{report}");
    assert_eq!(
        agent.virtual_ips()[0].1,
        51,
        "the last good commit stays applied"
    );
    let events = expect_code(&agent.hc(&["events", "cluster", "home"]), 0);
    assert!(events.contains("CommitUnverified"), "{events}");
    assert!(events.contains(&forged[..12]), "{events}");

    let signed = commit_signed(&repo, &[("web.yaml", Some(&web(54)))], "signed", Some(&ops));
    let report = expect_code(&agent.hc(&["gitops", "sync"]), 0);
    assert!(
        report.contains(&format!("Applied commit:  {}", &signed[..12])),
        "{report}"
    );
    assert!(
        wait_until(Duration::from_secs(15), || agent.virtual_ips()[0].1 == 54),
        "{:?}",
        agent.virtual_ips()
    );
}
