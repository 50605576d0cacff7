//! The crash-loop breaker: a manifest set that kills the agent is
//! rejected, rather than read again at every start.
//!
//! The agent reads its inputs again at every start (the `--manifests`
//! directory, the followed git commit) and its store keeps what they
//! declared. An input that makes it die (a parser bug, an abort, the OOM
//! killer) would kill it again at every restart systemd makes, on every
//! node at once. So before a source reads and applies a new set (a
//! commit, a directory's content), the set is put *on trial* in
//! `trials.json` under `--state-dir`, written and fsync'd first. It passes
//! once the agent has run with it for `--trial-period`, and becomes the
//! source's last good set. A clean stop (SIGTERM) marks the trial, so the
//! next start carries it on; a start that finds it unmarked knows the
//! previous run died with that set on trial. At [`STRIKES`] such deaths
//! (clean restarts between them do not clear them) the set is rejected: the source's objects are put back as
//! they were when its last good set passed (before any controller runs,
//! since a stored object can be what kills it), the rejection is kept
//! until the operator retries the set, and the source skips it. A new
//! commit, a changed directory, is tried as usual.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hareconcile_model::{Manager, Object};
use hareconcile_runtime::{ApplyOptions, Store};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// Deaths with the same set on trial that reject it. One is a
/// power cut or an OOM kill meant for another process as often as a bad
/// set, and rejecting a good commit would freeze GitOps until someone
/// notices; a set that really kills the agent costs one more restart
/// (systemd's `RestartSec`, 2 s) before it is rejected.
pub const STRIKES: u32 = 2;

/// Rejections remembered: each is skipped by its source until retried,
/// and a source moves on to new sets anyway.
const KEEP_REJECTIONS: usize = 32;

/// Where the ledger lives under `--state-dir`.
const FILE: &str = "trials.json";

/// How often running trials are checked for having passed.
const SETTLE_EVERY: Duration = Duration::from_secs(1);

/// A set that killed the agent [`STRIKES`] times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub source: Manager,
    /// A commit's SHA (`gitops`), a directory content's SHA-256 (`files`).
    pub set: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The source's last good set, whose objects were put back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<String>,
}

impl Rejection {
    /// The set as an operator knows it.
    pub fn name(&self) -> String {
        let short = short(&self.set);
        match self.source {
            Manager::Gitops => format!("commit {short}"),
            _ => format!("--manifests content {short}"),
        }
    }

    /// What happened and what to do, in one line.
    pub fn message(&self) -> String {
        let restored = match &self.restored {
            Some(good) => format!(
                "the objects of the last good set ({}) are back",
                short(good)
            ),
            None => "no set had passed before, so its objects are removed".into(),
        };
        let fix = match self.source {
            Manager::Gitops => "push a fixed commit",
            _ => "fix the manifests directory (any change is tried anew)",
        };
        format!(
            "{CRASHED} {} (the agent died {} times while it was on trial): rejected, {restored}; \
             {fix}, or `hareconcile retry {}` to try it again",
            self.name(),
            STRIKES,
            short(&self.set)
        )
    }
}

/// How every rejection's message starts, so that a source tells it apart
/// from its own refusals.
pub const CRASHED: &str = "crash loop stopped:";

/// Whether a commit's errors are a rejection of this breaker.
pub fn is_crash_rejection(errors: &[String]) -> bool {
    errors.iter().any(|e| e.starts_with(CRASHED))
}

fn short(set: &str) -> &str {
    &set[..set.len().min(12)]
}

/// What `trials.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ledger {
    #[serde(default)]
    on_trial: Vec<Trial>,
    #[serde(default)]
    last_good: Vec<Good>,
    #[serde(default)]
    rejected: Vec<Rejection>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Trial {
    source: Manager,
    set: String,
    /// Runs that ended without a clean stop while it was on trial.
    deaths: u32,
    /// A clean stop (SIGTERM) ended the last run: not a death.
    stopped_cleanly: bool,
    /// The set this one replaced before it passed: on trial again if
    /// this one is refused before anything of it is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replaced: Option<String>,
    /// The source's objects when its last good set passed (or when the
    /// first trial began): what a rejection puts back.
    restore: Vec<Object>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Good {
    source: Manager,
    set: String,
}

/// The breaker's ledger, shared by the sources, the API and the agent.
#[derive(Clone)]
pub struct Trials {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    file: PathBuf,
    period: Duration,
    ledger: Ledger,
    /// When each running trial began in this run.
    began: Vec<(Manager, Instant)>,
}

/// `hareconcile retry` named no rejected set, or more than one.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no rejected set starts with {0:?}; `hareconcile status` lists the rejected ones")]
    Unknown(String),
    #[error("{0:?} names more than one rejected set; give more of its digits")]
    Ambiguous(String),
}

impl Trials {
    /// Reads the ledger under `state_dir`. A ledger that cannot be read is
    /// reported and started afresh: the breaker must never keep the agent
    /// from starting.
    pub fn open(state_dir: &Path, period: Duration) -> Trials {
        let file = state_dir.join(FILE);
        let ledger = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                error!(file = %file.display(), error = %e, "the crash-loop ledger is unreadable; starting a new one");
                Ledger::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ledger::default(),
            Err(e) => {
                error!(file = %file.display(), error = %e, "cannot read the crash-loop ledger; starting a new one");
                Ledger::default()
            }
        };
        Trials {
            inner: Arc::new(Mutex::new(Inner {
                file,
                period,
                ledger,
                began: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("trials lock")
    }

    /// At start, before any controller runs: judges the trials the last
    /// run left. One it stopped cleanly goes on; one it died with counts
    /// a death, and at [`STRIKES`] is rejected and its source's objects
    /// are put back. The new rejections, for the caller to report and to
    /// restore what lies outside the store (a git checkout).
    pub fn recover(&self, store: &Store) -> Vec<Rejection> {
        let mut inner = self.lock();
        let now = Instant::now();
        let mut rejections = Vec::new();
        let trials = std::mem::take(&mut inner.ledger.on_trial);
        for mut trial in trials {
            if trial.stopped_cleanly {
                trial.stopped_cleanly = false;
            } else {
                trial.deaths += 1;
                warn!(source = %trial.source, set = %trial.set, deaths = trial.deaths, "the last run died with this set on trial");
            }
            if trial.deaths < STRIKES {
                inner.began.push((trial.source, now));
                inner.ledger.on_trial.push(trial);
                continue;
            }
            let restored = inner.ledger.last_good(trial.source);
            let options = ApplyOptions {
                // What the last good set left is put back whoever took an
                // object over since.
                force: true,
                dry_run: false,
            };
            if let Err(e) = store.converge(trial.restore, trial.source, options) {
                error!(source = %trial.source, error = %e, "cannot put back the last good set's objects");
            }
            let rejection = Rejection {
                source: trial.source,
                set: trial.set,
                at: OffsetDateTime::now_utc(),
                restored,
            };
            inner.ledger.rejected.push(rejection.clone());
            rejections.push(rejection);
        }
        let excess = inner.ledger.rejected.len().saturating_sub(KEEP_REJECTIONS);
        inner.ledger.rejected.drain(..excess);
        inner.save();
        rejections
    }

    /// Puts `set` on trial for `source` before it is read and applied;
    /// nothing to do for the source's last good set or the set already on
    /// trial. `held` gives the source's objects as they are before `set`
    /// is applied ([`held`]), for a rejection to put back. Returns once
    /// the ledger is on disk.
    pub fn begin(&self, source: Manager, set: &str, held: impl FnOnce() -> Vec<Object>) {
        let mut inner = self.lock();
        if inner.ledger.last_good(source).as_deref() == Some(set) {
            return;
        }
        match inner
            .ledger
            .on_trial
            .iter_mut()
            .find(|t| t.source == source)
        {
            Some(trial) if trial.set == set => return,
            // The set it replaces never passed: what to put back stays.
            Some(trial) => {
                trial.replaced = Some(std::mem::replace(&mut trial.set, set.to_string()));
                trial.deaths = 0;
            }
            None => {
                let restore = held();
                inner.ledger.on_trial.push(Trial {
                    source,
                    set: set.to_string(),
                    deaths: 0,
                    stopped_cleanly: false,
                    replaced: None,
                    restore,
                });
            }
        }
        inner.began.retain(|(s, _)| *s != source);
        inner.began.push((source, Instant::now()));
        info!(%source, set, "trying a new set");
        inner.save();
    }

    /// `set` was refused (invalid, or it could not be read) before
    /// anything of it was applied: the trial goes back to what it was.
    pub fn withdraw(&self, source: Manager, set: &str) {
        let mut inner = self.lock();
        let Some(at) =
            (inner.ledger.on_trial.iter()).position(|t| t.source == source && t.set == set)
        else {
            return;
        };
        let trial = &mut inner.ledger.on_trial[at];
        match trial.replaced.take() {
            Some(earlier) => trial.set = earlier,
            None => {
                inner.ledger.on_trial.remove(at);
                inner.began.retain(|(s, _)| *s != source);
            }
        }
        inner.save();
    }

    /// Why `source` must not apply `set`, if it killed the agent.
    pub fn rejection(&self, source: Manager, set: &str) -> Option<Rejection> {
        (self.lock().ledger.rejected.iter())
            .find(|r| r.source == source && r.set == set)
            .cloned()
    }

    pub fn rejected(&self) -> Vec<Rejection> {
        self.lock().ledger.rejected.clone()
    }

    /// Forgets the rejection of the set `prefix` starts; its source tries
    /// it at its next round.
    pub fn retry(&self, prefix: &str) -> Result<Rejection, RetryError> {
        let mut inner = self.lock();
        let matching: Vec<usize> = (inner.ledger.rejected.iter().enumerate())
            .filter(|(_, r)| !prefix.is_empty() && r.set.starts_with(prefix))
            .map(|(i, _)| i)
            .collect();
        let [index] = matching[..] else {
            return Err(if matching.is_empty() {
                RetryError::Unknown(prefix.to_string())
            } else {
                RetryError::Ambiguous(prefix.to_string())
            });
        };
        let rejection = inner.ledger.rejected.remove(index);
        info!(source = %rejection.source, set = %rejection.set, "rejection withdrawn; the set is tried again");
        inner.save();
        Ok(rejection)
    }

    /// Passes the trials that ran their period in this run.
    fn settle(&self) {
        let mut inner = self.lock();
        let period = inner.period;
        let passed: Vec<Manager> = (inner.began.iter())
            .filter(|(_, since)| since.elapsed() >= period)
            .map(|(source, _)| *source)
            .collect();
        if passed.is_empty() {
            return;
        }
        inner.began.retain(|(source, _)| !passed.contains(source));
        for source in passed {
            let Some(at) = inner
                .ledger
                .on_trial
                .iter()
                .position(|t| t.source == source)
            else {
                continue;
            };
            let trial = inner.ledger.on_trial.remove(at);
            info!(%source, set = %trial.set, "set passed its trial: last good");
            inner.ledger.last_good.retain(|g| g.source != source);
            inner.ledger.last_good.push(Good {
                source,
                set: trial.set,
            });
        }
        inner.save();
    }

    /// A planned stop: the trials running carry on at the next start
    /// rather than count a death. Called at SIGTERM, so a stop that hangs
    /// and is killed by systemd rejects nothing either.
    pub fn stopping_cleanly(&self) {
        let mut inner = self.lock();
        if inner.ledger.on_trial.is_empty() {
            return;
        }
        for trial in &mut inner.ledger.on_trial {
            trial.stopped_cleanly = true;
        }
        inner.save();
    }

    /// Passes trials as their periods end, until the agent stops.
    pub fn start(&self, mut stopped: watch::Receiver<bool>) -> JoinHandle<()> {
        let trials = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SETTLE_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => trials.settle(),
                    _ = stopped.changed() => return,
                }
            }
        })
    }
}

/// The objects `source` applied, as the store holds them now.
pub fn held(store: &Store, source: Manager) -> Vec<Object> {
    (store.list(None).0.iter())
        .filter(|o| o.metadata.manager == Some(source))
        .map(|o| (**o).clone())
        .collect()
}

impl Ledger {
    fn last_good(&self, source: Manager) -> Option<String> {
        (self.last_good.iter())
            .find(|g| g.source == source)
            .map(|g| g.set.clone())
    }
}

impl Inner {
    /// Writes the ledger durably: a trial must be on disk before its set
    /// is read.
    fn save(&self) {
        let written = serde_json::to_vec(&self.ledger)
            .map_err(std::io::Error::other)
            .and_then(|bytes| hareconcile_fs::write_durably(&self.file, &bytes));
        if let Err(e) = written {
            warn!(file = %self.file.display(), error = %e, "cannot save the crash-loop ledger; a set that kills the agent may not be rejected");
        }
    }
}

#[cfg(test)]
mod tests;
