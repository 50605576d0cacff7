//! GitOps pull: follows a branch of a git repository and keeps the store
//! equal to the manifests of its newest commit, as manager `gitops`.
//!
//! Each new commit is checked out beside the current one and validated
//! whole; only a valid commit replaces the checkout and is applied, all
//! or nothing, pruning what it no longer declares. A bad commit is
//! rejected with its SHA and file:line errors and the last good commit
//! stays. Between commits the same checkout is applied again on every
//! interval: level-triggered, so objects deleted by hand come back.
//!
//! Every git (and tar) command has a deadline and is killed with its
//! process group at it, or at once when the agent stops: a server that
//! accepts and never answers fails one attempt, never hangs the loop,
//! `gitops sync` or shutdown. A commit that would prune every object
//! applied from git is rejected unless `--allow-prune-all`; with
//! `--git-allowed-signers`, so is one not signed by an allowed key. The
//! remote's credentials reach git through its environment (see
//! [`super::git_remote`]), never its URL or command line.
//!
//! A new commit is on trial ([`crate::trials`]) from before it is read
//! until the agent has run with it for `--trial-period`; one that killed
//! the agent is rejected with the last good commit checked out again
//! ([`roll_back`]) and skipped until retried.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hareconcile_compose::ComposeFiles;
use hareconcile_model::load::load_paths_checked;
use hareconcile_model::{Manager, Object};
use hareconcile_runtime::process_group::{self, Ended};
use hareconcile_runtime::{ApplyResult, EventType, Store};
use time::OffsetDateTime;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::commit_signature;
use super::declared::{check_prune, converge_directory, ConvergeError};
pub use super::git_remote::GitRemote;
use super::node_event;
use crate::cluster_view::{AppliedCommit, Attempt, AttemptOutcome, GitopsHandle, GitopsStatus};
use crate::trials::{self, Rejection, Trials};

/// What to follow.
#[derive(Debug, Clone)]
pub struct GitSource {
    /// The repository, its credentials apart from its URL.
    pub remote: GitRemote,
    pub branch: String,
    /// Directory within the repository holding the manifests.
    pub path: PathBuf,
    pub interval: Duration,
    /// How long one git command may run.
    pub timeout: Duration,
    /// With it, only commits signed by a key this allowed signers file
    /// lists are applied (see [`super::commit_signature`]).
    pub allowed_signers: Option<PathBuf>,
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
    allow_prune_all: bool,
    trials: Trials,
    mut stopped: watch::Receiver<bool>,
) -> (GitopsHandle, JoinHandle<()>) {
    let workdir = Arc::new(Workdir::new(state_dir));
    let mut initial: GitopsStatus = std::fs::read(&workdir.status_file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    initial.url = source.remote.url().to_string();
    initial.branch = source.branch.clone();
    initial.path = source.path.display().to_string();
    initial.allowed_signers = source
        .allowed_signers
        .as_ref()
        .map(|file| file.display().to_string());
    let status = Arc::new(Mutex::new(initial));
    let (sync_requests, mut requests) = mpsc::channel::<oneshot::Sender<GitopsStatus>>(8);
    let handle = GitopsHandle::new(Arc::clone(&status), sync_requests);
    info!(url = %source.remote.url(), branch = %source.branch, path = %source.path.display(), "following git");
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
            let round = Round {
                runner: Runner {
                    timeout: source.timeout,
                    stopped: stopped.clone(),
                    runtime: tokio::runtime::Handle::current(),
                },
                allow_prune_all,
                trials: trials.clone(),
            };
            let now = tokio::task::spawn_blocking(move || {
                let mut current = status.lock().expect("gitops status lock").clone();
                sync(&source, &store, &workdir, &round, &mut current);
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

/// What one round may do.
struct Round {
    runner: Runner,
    allow_prune_all: bool,
    trials: Trials,
}

/// One round: fetch, take a new commit if valid, apply the checkout.
fn sync(
    source: &GitSource,
    store: &Store,
    workdir: &Workdir,
    round: &Round,
    status: &mut GitopsStatus,
) {
    let previous = status.last_attempted.clone();
    let attempt = attempt(source, store, workdir, round, status);
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
                if commit_signature::is_refusal(errors) {
                    let message = format!("commit {sha}: {}", errors.join("; "));
                    node_event::record(store, EventType::Warning, "CommitUnverified", &message);
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

fn attempt(
    source: &GitSource,
    store: &Store,
    workdir: &Workdir,
    round: &Round,
    status: &GitopsStatus,
) -> Attempt {
    let git = &round.runner;
    let at = OffsetDateTime::now_utc();
    let failed = |sha: Option<String>, error: String| Attempt {
        sha,
        at,
        outcome: AttemptOutcome::Failed { error },
    };
    let sha = match fetch(git, source, &workdir.repo) {
        Ok(sha) => sha,
        Err(error) => return failed(None, error),
    };
    // Every round, the applied commit's too: a key taken out of the file
    // stops its commits at once.
    if let Some(signers) = &source.allowed_signers {
        if let Some(outcome) = unverified(git, &workdir.repo, &sha, signers) {
            return Attempt {
                sha: Some(sha),
                at,
                outcome,
            };
        }
    }
    if let Some(rejection) = round.trials.rejection(Manager::Gitops, &sha) {
        return Attempt {
            sha: Some(sha),
            at,
            outcome: AttemptOutcome::Rejected {
                errors: vec![rejection.message()],
            },
        };
    }
    let checked_out = status.last_applied.as_ref().map(|a| a.sha.as_str());
    if checked_out != Some(sha.as_str()) || !workdir.checkout.exists() {
        // A commit rejected before for its manifests is rejected again
        // without another look; with --allow-prune-all, one refused for
        // its prune gets one, one refused for its signature got one
        // above, and one that killed the agent gets one once retried.
        if let Some(previous) = status
            .last_attempted
            .as_ref()
            .filter(|_| !round.allow_prune_all)
        {
            if previous.sha.as_deref() == Some(sha.as_str())
                && matches!(&previous.outcome, AttemptOutcome::Rejected { errors }
                    if !commit_signature::is_refusal(errors) && !trials::is_crash_rejection(errors))
            {
                return Attempt {
                    sha: Some(sha),
                    at,
                    outcome: previous.outcome.clone(),
                };
            }
        }
        // Before the commit is read: reading it may be what kills us.
        (round.trials).begin(Manager::Gitops, &sha, || {
            trials::held(store, Manager::Gitops)
        });
        let refused = |outcome: AttemptOutcome| {
            round.trials.withdraw(Manager::Gitops, &sha);
            Attempt {
                sha: Some(sha.clone()),
                at,
                outcome,
            }
        };
        if let Err(error) = extract(git, &workdir.repo, &sha, &workdir.staging) {
            return refused(AttemptOutcome::Failed { error });
        }
        // Before the checkout is replaced: a rejected commit leaves the
        // last good one's files (compose files among them) in place.
        if let Err(errors) = validate(store, &workdir.staging, &source.path, round.allow_prune_all)
        {
            return refused(AttemptOutcome::Rejected { errors });
        }
        if let Err(error) = replace_dir(&workdir.staging, &workdir.checkout) {
            return refused(AttemptOutcome::Failed { error });
        }
    }
    match converge_directory(
        &workdir.checkout.join(&source.path),
        store,
        Manager::Gitops,
        round.allow_prune_all,
    ) {
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
        Err(ConvergeError::PruneRefused(refused)) => Attempt {
            sha: Some(sha),
            at,
            outcome: AttemptOutcome::Rejected {
                errors: vec![format!("{}: {refused}", source.path.display())],
            },
        },
        Err(ConvergeError::Store(e)) => failed(Some(sha), e.to_string()),
    }
}

/// Validates a commit's manifests against the objects of other managers,
/// with the compose files its Services name, and refuses one that would
/// prune every object applied from git; errors name files by their path
/// in the repository.
fn validate(
    store: &Store,
    root: &Path,
    path: &Path,
    allow_prune_all: bool,
) -> Result<(), Vec<String>> {
    let others: Vec<Object> = store
        .list(None)
        .0
        .iter()
        .filter(|o| o.metadata.manager != Some(Manager::Gitops))
        .map(|o| (**o).clone())
        .collect();
    let manifests =
        load_paths_checked(&[root.join(path)], &others, &ComposeFiles).map_err(|diagnostics| {
            let root_prefix = format!("{}/", root.display());
            diagnostics
                .0
                .iter()
                .map(|d| d.to_string().replacen(&root_prefix, "", 1))
                .collect::<Vec<_>>()
        })?;
    let objects: Vec<Object> = manifests.into_iter().map(|m| m.object).collect();
    check_prune(store, Manager::Gitops, &objects, allow_prune_all)
        .map_err(|refused| vec![format!("{}: {refused}", path.display())])
}

/// Runs the git and tar commands of a round, each in a process group of
/// its own, killed whole at the deadline or when the agent stops.
struct Runner {
    timeout: Duration,
    stopped: watch::Receiver<bool>,
    /// Rounds run on a blocking thread; the commands on the runtime.
    runtime: tokio::runtime::Handle,
}

impl Runner {
    /// The command's stdout, trimmed; its stderr (or why it was killed)
    /// when it fails.
    fn run(&self, command: &mut Command) -> Result<String, String> {
        let output = self.output(command)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }

    /// How the command ended, or why it could not run or was killed.
    fn output(&self, command: &mut Command) -> Result<std::process::Output, String> {
        let mut stopped = self.stopped.clone();
        let stopping = async move {
            let _ = stopped.wait_for(|&s| s).await;
        };
        self.runtime
            .block_on(process_group::output(command, self.timeout, stopping))
            .map_err(|ended| match ended {
                Ended::Spawn { program, source } => {
                    format!("cannot run {program}: {source} (is it installed?)")
                }
                ended => ended.to_string(),
            })
    }
}

/// Whether `sha` is signed by a key `signers` lists: `None` when it is,
/// else the outcome that stops it (rejected, or failed when git could
/// not tell).
fn unverified(runner: &Runner, repo: &Path, sha: &str, signers: &Path) -> Option<AttemptOutcome> {
    match runner.output(&mut commit_signature::verify_commit(
        git(repo),
        sha,
        signers,
    )) {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(AttemptOutcome::Rejected {
            errors: vec![commit_signature::refusal(
                &String::from_utf8_lossy(&output.stderr),
                signers,
            )],
        }),
        Err(error) => Some(AttemptOutcome::Failed {
            error: format!("verifying the signature of {sha}: {error}"),
        }),
    }
}

fn git(repo: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(repo)
        .env("GIT_TERMINAL_PROMPT", "0");
    command
}

/// Fetches the branch into a local bare repository; returns its commit.
fn fetch(runner: &Runner, source: &GitSource, repo: &Path) -> Result<String, String> {
    if !repo.exists() {
        runner.run(
            Command::new("git")
                .args(["init", "--bare", "--quiet"])
                .arg(repo),
        )?;
    }
    let refspec = format!("+refs/heads/{0}:refs/heads/{0}", source.branch);
    let url = source.remote.url();
    let failed = |e: String| format!("fetching {url} branch {}: {e}", source.branch);
    let mut fetch = git(repo);
    fetch.args(["fetch", "--quiet", "--force", "--no-tags", url, &refspec]);
    source
        .remote
        .authenticate(&mut fetch)
        .map_err(|e| failed(e.to_string()))?;
    runner.run(&mut fetch).map_err(failed)?;
    runner.run(git(repo).args([
        "rev-parse",
        &format!("refs/heads/{}^{{commit}}", source.branch),
    ]))
}

/// Writes the commit's tree into `dir` (replacing it), through a tar file
/// beside it: two bounded commands rather than a pipe of two.
fn extract(runner: &Runner, repo: &Path, sha: &str, dir: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let archive = dir.with_extension("tar");
    let extracted = runner
        .run(
            git(repo)
                .args(["archive", "--format=tar", "--output"])
                .arg(&archive)
                .arg(sha),
        )
        .map_err(|e| format!("git archive {sha}: {e}"))
        .and_then(|_| {
            runner
                .run(
                    Command::new("tar")
                        .arg("-x")
                        .arg("-f")
                        .arg(&archive)
                        .arg("-C")
                        .arg(dir),
                )
                .map_err(|e| format!("extracting {sha}: {e}"))
        });
    let _ = std::fs::remove_file(&archive);
    extracted.map(|_| ())
}

/// At start, before any controller runs, after `rejection` put the store
/// back: checks the last good commit out again (or none, when no commit
/// had passed) and records the rejection as the last attempt, with the
/// good commit as the applied one. The first round then skips the
/// rejected commit and applies the good one's checkout as usual.
pub async fn roll_back(
    source: &GitSource,
    state_dir: &Path,
    rejection: Rejection,
    stopped: watch::Receiver<bool>,
) {
    let workdir = Workdir::new(state_dir);
    let runner = Runner {
        timeout: source.timeout,
        stopped,
        runtime: tokio::runtime::Handle::current(),
    };
    let rolled_back = tokio::task::spawn_blocking(move || {
        let mut status: GitopsStatus = std::fs::read(&workdir.status_file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let at = OffsetDateTime::now_utc();
        let _ = std::fs::remove_dir_all(&workdir.checkout);
        status.last_applied = None;
        if let Some(good) = &rejection.restored {
            match extract(&runner, &workdir.repo, good, &workdir.staging)
                .and_then(|()| replace_dir(&workdir.staging, &workdir.checkout))
            {
                Ok(()) => {
                    status.last_applied = Some(AppliedCommit {
                        sha: good.clone(),
                        at,
                    })
                }
                Err(error) => {
                    warn!(sha = %good, %error, "cannot check the last good commit out again; the next round fetches the branch")
                }
            }
        }
        status.last_attempted = Some(Attempt {
            sha: Some(rejection.set.clone()),
            at,
            outcome: AttemptOutcome::Rejected {
                errors: vec![rejection.message()],
            },
        });
        persist(&workdir, &status);
    })
    .await;
    if let Err(e) = rolled_back {
        warn!(error = %e, "rolling the git checkout back failed");
    }
}

fn replace_dir(from: &Path, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::rename(from, to).map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))
}

/// Keeps the last applied commit across restarts.
fn persist(workdir: &Workdir, status: &GitopsStatus) {
    let written = serde_json::to_vec_pretty(status)
        .map_err(std::io::Error::other)
        .and_then(|bytes| hareconcile_fs::write_durably_shared(&workdir.status_file, &bytes));
    if let Err(e) = written {
        warn!(file = %workdir.status_file.display(), error = %e, "cannot save the gitops status");
    }
}
