//! GitOps pull: follows a branch of a git repository and keeps the store
//! equal to the manifests of its newest commit, as manager `gitops`.
//!
//! Each new commit is checked out beside the current one and validated
//! whole; only a valid commit replaces the checkout and is applied, all
//! or nothing, pruning what it no longer declares. A bad commit is
//! rejected with its SHA and file:line errors and the last good commit
//! stays. Between commits the same checkout is applied again on every
//! interval: level-triggered, so objects deleted by hand come back.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hareconcile_compose::ComposeFiles;
use hareconcile_model::load::load_paths_checked;
use hareconcile_model::{Manager, Object};
use hareconcile_runtime::{ApplyResult, Store};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::declared::{converge_directory, ConvergeError};
use crate::cluster_view::{AppliedCommit, Attempt, AttemptOutcome, GitopsHandle, GitopsStatus};

/// What to follow.
#[derive(Debug, Clone)]
pub struct GitSource {
    pub url: String,
    pub branch: String,
    /// Directory within the repository holding the manifests.
    pub path: PathBuf,
    pub interval: Duration,
}

/// Where the applied commit's manifests are checked out.
pub fn manifests_dir(state_dir: &Path, source: &GitSource) -> PathBuf {
    Workdir::new(state_dir).checkout.join(&source.path)
}

/// Files under `--state-dir` the loop owns.
struct Workdir {
    repo: PathBuf,
    checkout: PathBuf,
    staging: PathBuf,
    status_file: PathBuf,
}

impl Workdir {
    fn new(state_dir: &Path) -> Self {
        let root = state_dir.join("gitops");
        Workdir {
            repo: root.join("repo.git"),
            checkout: root.join("checkout"),
            staging: root.join("checkout.next"),
            status_file: root.join("status.json"),
        }
    }
}

pub fn start(
    source: GitSource,
    store: Store,
    state_dir: &Path,
    mut stopped: watch::Receiver<bool>,
) -> (GitopsHandle, JoinHandle<()>) {
    let workdir = Arc::new(Workdir::new(state_dir));
    let mut initial: GitopsStatus = std::fs::read(&workdir.status_file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    initial.url = source.url.clone();
    initial.branch = source.branch.clone();
    initial.path = source.path.display().to_string();
    let status = Arc::new(Mutex::new(initial));
    let (sync_requests, mut requests) = mpsc::channel::<oneshot::Sender<GitopsStatus>>(8);
    let handle = GitopsHandle::new(Arc::clone(&status), sync_requests);
    info!(url = %source.url, branch = %source.branch, path = %source.path.display(), "following git");
    let task = tokio::spawn(async move {
        let mut periodic = tokio::time::interval(source.interval);
        loop {
            let reply = tokio::select! {
                _ = periodic.tick() => None,
                Some(reply) = requests.recv() => Some(reply),
                _ = stopped.changed() => return,
            };
            let (source, store, workdir, status) = (
                source.clone(),
                store.clone(),
                Arc::clone(&workdir),
                Arc::clone(&status),
            );
            let now = tokio::task::spawn_blocking(move || {
                let mut current = status.lock().expect("gitops status lock").clone();
                sync(&source, &store, &workdir, &mut current);
                *status.lock().expect("gitops status lock") = current.clone();
                current
            })
            .await;
            if let (Some(reply), Ok(now)) = (reply, now) {
                let _ = reply.send(now);
            }
        }
    });
    (handle, task)
}

/// One round: fetch, take a new commit if valid, apply the checkout.
fn sync(source: &GitSource, store: &Store, workdir: &Workdir, status: &mut GitopsStatus) {
    let previous = status.last_attempted.clone();
    let attempt = attempt(source, store, workdir, status);
    let changed = previous
        .as_ref()
        .is_none_or(|p| p.sha != attempt.sha || p.outcome != attempt.outcome);
    if changed {
        let sha = attempt.sha.as_deref().unwrap_or("-");
        match &attempt.outcome {
            AttemptOutcome::Applied { .. } => {
                info!(sha, outcome = ?attempt.outcome, "gitops commit applied")
            }
            AttemptOutcome::Rejected { errors } => {
                for error in errors {
                    warn!(sha, "{error}");
                }
                warn!(
                    sha,
                    "gitops commit rejected; the last good commit stays applied"
                );
            }
            AttemptOutcome::Failed { error } => warn!(sha, error = %error, "gitops sync failed"),
        }
    }
    if let (AttemptOutcome::Applied { .. }, Some(sha)) = (&attempt.outcome, &attempt.sha) {
        if status.last_applied.as_ref().is_none_or(|a| &a.sha != sha) {
            status.last_applied = Some(AppliedCommit {
                sha: sha.clone(),
                at: attempt.at,
            });
        }
    }
    status.last_attempted = Some(attempt);
    persist(workdir, status);
}

fn attempt(source: &GitSource, store: &Store, workdir: &Workdir, status: &GitopsStatus) -> Attempt {
    let at = OffsetDateTime::now_utc();
    let failed = |sha: Option<String>, error: String| Attempt {
        sha,
        at,
        outcome: AttemptOutcome::Failed { error },
    };
    let sha = match fetch(source, &workdir.repo) {
        Ok(sha) => sha,
        Err(error) => return failed(None, error),
    };
    let checked_out = status.last_applied.as_ref().map(|a| a.sha.as_str());
    if checked_out != Some(sha.as_str()) || !workdir.checkout.exists() {
        // A commit rejected before is rejected again without another look.
        if let Some(previous) = &status.last_attempted {
            if previous.sha.as_deref() == Some(sha.as_str())
                && matches!(previous.outcome, AttemptOutcome::Rejected { .. })
            {
                return Attempt {
                    sha: Some(sha),
                    at,
                    outcome: previous.outcome.clone(),
                };
            }
        }
        if let Err(error) = extract(&workdir.repo, &sha, &workdir.staging) {
            return failed(Some(sha), error);
        }
        if let Some(errors) = validate(store, &workdir.staging, &source.path) {
            return Attempt {
                sha: Some(sha),
                at,
                outcome: AttemptOutcome::Rejected { errors },
            };
        }
        if let Err(error) = replace_dir(&workdir.staging, &workdir.checkout) {
            return failed(Some(sha), error);
        }
    }
    match converge_directory(&workdir.checkout.join(&source.path), store, Manager::Gitops) {
        Ok(converged) => {
            let count =
                |r: ApplyResult| converged.outcomes.iter().filter(|o| o.result == r).count();
            Attempt {
                sha: Some(sha),
                at,
                outcome: AttemptOutcome::Applied {
                    created: count(ApplyResult::Created),
                    configured: count(ApplyResult::Configured),
                    pruned: converged.pruned.len(),
                },
            }
        }
        Err(ConvergeError::Invalid(d)) => Attempt {
            sha: Some(sha),
            at,
            outcome: AttemptOutcome::Rejected {
                errors: d.0.iter().map(ToString::to_string).collect(),
            },
        },
        Err(ConvergeError::Store(e)) => failed(Some(sha), e.to_string()),
    }
}

/// Validates a commit's manifests against the objects of other managers,
/// with the compose files its Services name; errors name files by their
/// path in the repository.
fn validate(store: &Store, root: &Path, path: &Path) -> Option<Vec<String>> {
    let others: Vec<Object> = store
        .list(None)
        .0
        .iter()
        .filter(|o| o.metadata.manager != Some(Manager::Gitops))
        .map(|o| (**o).clone())
        .collect();
    let diagnostics = load_paths_checked(&[root.join(path)], &others, &ComposeFiles).err()?;
    let root_prefix = format!("{}/", root.display());
    Some(
        diagnostics
            .0
            .iter()
            .map(|d| d.to_string().replacen(&root_prefix, "", 1))
            .collect(),
    )
}

fn git(repo: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(repo)
        .env("GIT_TERMINAL_PROMPT", "0");
    command
}

fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run git: {e} (is git installed?)"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Fetches the branch into a local bare repository; returns its commit.
fn fetch(source: &GitSource, repo: &Path) -> Result<String, String> {
    if !repo.exists() {
        run(Command::new("git")
            .args(["init", "--bare", "--quiet"])
            .arg(repo))?;
    }
    let refspec = format!("+refs/heads/{0}:refs/heads/{0}", source.branch);
    run(git(repo).args([
        "fetch",
        "--quiet",
        "--force",
        "--no-tags",
        &source.url,
        &refspec,
    ]))
    .map_err(|e| format!("fetching {} branch {}: {e}", source.url, source.branch))?;
    run(git(repo).args([
        "rev-parse",
        &format!("refs/heads/{}^{{commit}}", source.branch),
    ]))
}

/// Writes the commit's tree into `dir` (replacing it).
fn extract(repo: &Path, sha: &str, dir: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut archive = git(repo)
        .args(["archive", "--format=tar", sha])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .stdin(archive.stdout.take().expect("piped"))
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let archived = archive.wait_with_output().map_err(|e| e.to_string())?;
    if !archived.status.success() {
        return Err(format!(
            "git archive {sha}: {}",
            String::from_utf8_lossy(&archived.stderr).trim()
        ));
    }
    if !tar.status.success() {
        return Err(format!(
            "extracting {sha}: {}",
            String::from_utf8_lossy(&tar.stderr).trim()
        ));
    }
    Ok(())
}

fn replace_dir(from: &Path, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::rename(from, to).map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))
}

/// Keeps the last applied commit across restarts (write, fsync, rename).
fn persist(workdir: &Workdir, status: &GitopsStatus) {
    let temporary = workdir.status_file.with_extension("json.tmp");
    let written = serde_json::to_vec_pretty(status)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            let mut file = std::fs::File::create(&temporary)?;
            std::io::Write::write_all(&mut file, &bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, &workdir.status_file));
    if let Err(e) = written {
        warn!(file = %workdir.status_file.display(), error = %e, "cannot save the gitops status");
    }
}
