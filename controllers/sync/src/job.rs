//! One worker per Replication on this node, off the reconcile path: as
//! source it catches up, claims a term, and pushes to the targets one at a
//! time, on changes (continuous mode) and every interval; otherwise it
//! only reads what its own copy holds. The reconciler hands it the
//! current [`Plan`] and reads its [`Progress`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hareconcile_model::ObjectKey;
use hareconcile_quorum::Sessions;
use hareconcile_runtime::{EventType, OwnedTask, Reported, Store};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::handover::{self, Given, Handover};
use crate::hooks::{self, Containers, Ran, When};
use crate::lag::Lag;
use crate::plan::{Mode, Peer, Plan, Role};
use crate::process::{self, Finished};
use crate::receiving;
use crate::remote::{
    guarded, read_meta_line, record_line, refusal, shell_line, ssh_probe, ssh_run,
};
use crate::rsync::{self, parse_stats, Stats};
use crate::snapshot::{self, Backend};
use crate::sqlite::{self, Stage};
use crate::term::{data_term, has_data, parse_meta, Meta, MetaError, MetaLock, Synced, Term};
use crate::twoway::Pair;
use crate::watch::Changes;

/// Changes arriving within this window after the first one travel in the
/// same pass (continuous mode). Short: over a shared ssh connection a pass
/// costs tens of milliseconds, and changes that arrive during a pass
/// travel together in the next one anyway.
pub const BATCH: Duration = Duration::from_millis(25);
/// Wait before trying a failed pass or catch-up again.
const RETRY: Duration = Duration::from_secs(5);
/// A replica looks at its own copy this often...
const REPLICA_POLL: Duration = Duration::from_secs(2);
/// ...or this often when it has afterSync hooks to run on each new copy.
const HOOK_POLL: Duration = Duration::from_millis(200);
/// Bounds: reading a peer's term, and one whole transfer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
const PASS_TIMEOUT: Duration = Duration::from_secs(3600);

/// What the worker has seen and done, for status.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The term of this node's copy, as on disk.
    pub local_term: Option<Term>,
    /// Source: the term this node holds; `None` until caught up.
    pub claimed: Option<Term>,
    /// Source: why it is not caught up yet (catch-up in progress or failed).
    pub catching_up: Option<String>,
    /// Source: why it refuses to push (empty or missing source).
    pub source_problem: Option<String>,
    /// Source: the targets and their lag.
    pub lag: Lag,
    /// Replica: the last complete push this copy received.
    pub replica: Option<Synced>,
    /// The copy's metadata could not be read.
    pub meta_error: Option<String>,
    /// Source: how the last switchover's final sync from here ended.
    pub given: Option<Given>,
    /// Replica: the term whose final sync this copy received.
    pub received: Option<Term>,
    /// The last run of this node's hooks failed: which and why.
    pub hook_failure: Option<String>,
    /// Two-way: by target, the paths changed on both sides since their
    /// last sync, left alone until resolved.
    pub conflicts: BTreeMap<String, Vec<String>>,
}

/// The reconciler's handle on a worker; dropping it stops the worker and
/// kills its child processes.
pub struct Worker {
    /// Held only to end the worker with this handle; first, so it ends
    /// before its plan channel closes.
    _task: OwnedTask,
    plan: watch::Sender<Plan>,
    progress: Reported<Progress>,
}

impl Worker {
    pub fn start(
        plan: Plan,
        containers: Containers,
        key: ObjectKey,
        sessions: Option<Sessions>,
    ) -> Worker {
        let (sender, receiver) = watch::channel(plan);
        let progress = Reported::new(Progress::default());
        let job = Job {
            plan: receiver,
            progress: progress.clone(),
            store: containers.store.clone(),
            containers,
            hooked: None,
            key,
            changes: None,
            next_pass: Instant::now(),
            stage: Stage::default(),
            sessions,
        };
        Worker {
            _task: OwnedTask::spawn(job.run()),
            plan: sender,
            progress,
        }
    }

    /// Hands over the current plan; wakes the worker only if it changed.
    pub fn update(&self, plan: Plan) {
        self.plan.send_if_modified(|current| {
            let changed = *current != plan;
            *current = plan;
            changed
        });
    }

    pub fn progress(&self) -> Progress {
        self.progress.latest()
    }
}

/// How one push to one target ended.
enum Outcome {
    Done(Stats),
    /// The target's guard refused: it holds a newer term.
    Refused(String),
    Failed(String),
}

struct Job {
    plan: watch::Receiver<Plan>,
    progress: Reported<Progress>,
    store: Store,
    /// Where exec hooks find their containers.
    containers: Containers,
    /// Replica: the change of the copy whose afterSync hooks ran last.
    hooked: Option<Synced>,
    key: ObjectKey,
    changes: Option<Changes>,
    /// When the next full pass is due (source).
    next_pass: Instant,
    /// Source: the staged database copies and who installed which.
    stage: Stage,
    /// The agent's quorum sessions: they number a fenced VirtualIP's terms.
    sessions: Option<Sessions>,
}

impl Job {
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock()
    }

    fn event(&self, type_: EventType, reason: &str, message: &str) {
        match type_ {
            EventType::Warning => warn!(object = %self.key.name, reason, message),
            EventType::Normal => info!(object = %self.key.name, reason, message),
        }
        self.store.record_event(&self.key, type_, reason, message);
    }

    async fn run(mut self) {
        loop {
            let plan = self.plan.borrow_and_update().clone();
            match &plan.role {
                Role::Source { targets } => self.source(&plan, targets).await,
                Role::Replica | Role::Unplaced { .. } => {
                    self.release(&plan);
                    self.observe_replica(&plan);
                    self.after_sync(&plan).await;
                    // afterSync hooks follow new copies closely.
                    let poll = match plan.hooks.after_sync.is_empty() {
                        true => REPLICA_POLL,
                        false => HOOK_POLL,
                    };
                    let _ = tokio::time::timeout(poll, self.plan.changed()).await;
                }
            }
        }
    }

    /// Leaves the source role: the term ends with it.
    fn release(&mut self, plan: &Plan) {
        self.changes = None;
        let claimed = self.progress().claimed.take();
        if let Some(term) = claimed {
            self.event(
                EventType::Normal,
                "TermEnded",
                &format!("no longer master: term {term} ended, pushing stopped"),
            );
        }
        let mut progress = self.progress();
        progress.catching_up = None;
        progress.source_problem = None;
        progress.lag = Lag::new(plan.watches_changes());
    }

    /// Runs the afterSync hooks once for each push that changed this
    /// node's copy (its `changed` record, see [`crate::remote::guarded`]);
    /// a pass that found the copy in step runs none. The change they last
    /// ran for is kept beside the data, so a restarted agent does not run
    /// them again for it.
    async fn after_sync(&mut self, plan: &Plan) {
        if plan.hooks.after_sync.is_empty() || !matches!(plan.role, Role::Replica) {
            return;
        }
        let meta = Meta::of(&plan.path);
        if self.hooked.is_none() {
            self.hooked = meta.hooked().ok().flatten();
        }
        // Unreadable metadata is reported by observe_replica.
        let Ok(Some(change)) = meta.changed() else {
            return;
        };
        if self.hooked.as_ref() == Some(&change) {
            return;
        }
        let targets = [plan.node.clone()];
        self.run_hooks(
            When::AfterSync,
            plan,
            (&change.term.node, &targets),
            &change.term,
        )
        .await;
        if let Err(error) = meta.set_hooked(&change) {
            warn!(object = %self.key.name, %error, "afterSync hooks may run again for this copy after a restart");
        }
        self.hooked = Some(change);
    }

    /// Runs one list of hooks with their context (see [`crate::hooks`])
    /// and records how it ended. Returns whether it succeeded.
    async fn run_hooks(
        &self,
        when: When,
        plan: &Plan,
        (source, targets): (&str, &[String]),
        term: &Term,
    ) -> bool {
        let (list, consequence) = match when {
            When::BeforeSync => (&plan.hooks.before_sync, "sync skipped, nothing shipped"),
            When::AfterSync => (
                &plan.hooks.after_sync,
                "the copy is in place but not reloaded",
            ),
        };
        let context = hooks::Context {
            replication: self.key.name.clone(),
            path: plan.path.display().to_string(),
            node: plan.node.clone(),
            source: source.to_string(),
            targets: targets.to_vec(),
            term: term.to_string(),
        };
        let ran = hooks::run(when, list, &context, &self.containers).await;
        self.record_hooks(ran, consequence)
    }

    /// Records how a list of hooks ended: an event and the `Hooks`
    /// condition on failure. Returns whether they succeeded.
    fn record_hooks(&self, ran: Ran, consequence: &str) -> bool {
        match ran {
            Ran::Done { skipped } => {
                for why in skipped {
                    debug!(object = %self.key.name, %why, "hook skipped");
                }
                self.progress().hook_failure = None;
                true
            }
            Ran::Failed { hook, why } => {
                let message = format!("{hook} failed: {why}: {consequence}");
                self.event(EventType::Warning, "HookFailed", &message);
                self.progress().hook_failure = Some(message);
                false
            }
        }
    }

    fn observe_replica(&self, plan: &Plan) {
        let meta = Meta::of(&plan.path);
        let read = meta.term().and_then(|t| Ok((t, meta.synced()?)));
        let mut progress = self.progress();
        match read {
            Ok((term, synced)) => {
                progress.received = handover::received(&plan.path);
                progress.local_term = Some(term);
                progress.replica = synced;
                progress.meta_error = None;
            }
            Err(e) => progress.meta_error = Some(e.to_string()),
        }
    }

    /// One step as source: catch up and claim if needed, then wait for the
    /// next reason to push, then push.
    async fn source(&mut self, plan: &Plan, targets: &[Peer]) {
        let claimed = self.progress().claimed.clone();
        let Some(term) = claimed else {
            // Two-way rounds never overwrite a newer copy wholesale: there
            // is nothing to catch up with first.
            if plan.two_way.is_some() {
                self.claim(plan, targets, None, String::new()).await;
                return;
            }
            if !self.catch_up(plan, targets).await {
                let _ = tokio::time::timeout(RETRY, self.plan.changed()).await;
            }
            return;
        };
        if let Handover::Give {
            to,
            generation,
            writers_stopped: true,
        } = &plan.handover
        {
            let given = self.progress().given.as_ref().map(Given::generation);
            if given != Some(*generation) {
                if let Some(target) = targets.iter().find(|t| t.name == *to) {
                    self.hand_over(plan, target, &term, *generation).await;
                    return;
                }
            }
        }
        if !self.wait_for_reason(plan).await {
            return; // the plan changed: look again
        }
        self.pass(plan, targets, &term).await;
    }

    /// Rule 2: reads every reachable peer's term, pulls from the newest if
    /// it is newer than the local copy, then claims the next term. Returns
    /// whether the term is claimed.
    async fn catch_up(&mut self, plan: &Plan, targets: &[Peer]) -> bool {
        let meta = Meta::of(&plan.path);
        self.progress().catching_up = Some("reading the peers' terms".into());
        let lock = match self.take_lock_as_master(&meta).await {
            Ok(lock) => lock,
            Err(e) => return self.catch_up_failed(e.to_string()),
        };
        let (local, local_synced) = match meta.term().and_then(|t| Ok((t, meta.synced()?))) {
            Ok(read) => read,
            Err(e) => return self.catch_up_failed(e.to_string()),
        };
        // Numbering: above every term any copy has seen. Catching up: from
        // the copy holding the newest complete data, if newer than ours.
        let mine = data_term(&plan.node, &local, local_synced.as_ref());
        let mut newest: Option<(Term, &Peer)> = None;
        let mut seen = local.clone();
        // With a fenced VirtualIP the writer lock we hold says the old
        // master has stopped writing: a peer that does not answer at once
        // is not worth waiting for (ssh_probe). Without one, this node may
        // be the one cut off, and the term it claims would win over the
        // master's on heal: the shared connection's longer connect timeout
        // keeps a brief cut from costing the master's writes.
        let read_peer = match plan.term_lock {
            Some(_) => ssh_probe,
            None => ssh_run,
        };
        for peer in targets {
            let line = read_meta_line(&plan.path);
            let read =
                process::run(&read_peer(&plan.link, &peer.address, line), PROBE_TIMEOUT).await;
            let meta = match read {
                Ok(out) if out.success => parse_meta(&out.stdout).map_err(|e| e.to_string()),
                Ok(out) => Err(out.complaint()),
                Err(e) => Err(e.to_string()),
            };
            let (term, synced) = match meta {
                Ok(meta) => meta,
                Err(error) => {
                    debug!(peer = %peer.name, %error, "peer's copy unreadable");
                    continue;
                }
            };
            let theirs = data_term(&peer.name, &term, synced.as_ref());
            seen = seen.max(term);
            if theirs > mine && newest.as_ref().is_none_or(|(n, _)| theirs > *n) {
                newest = Some((theirs, peer));
            }
        }
        let mut caught_up_from = String::new();
        if let Some((term, peer)) = newest {
            self.progress().catching_up = Some(format!(
                "pulling from {} (term {term}, newer than this copy's {mine})",
                peer.name
            ));
            let argv = rsync::pull(&plan.path, &peer.address, plan.transfer(true), &plan.link);
            match process::run(&argv, PASS_TIMEOUT).await {
                Ok(out) if out.success => {
                    caught_up_from = format!(" after pulling from {} (term {term})", peer.name);
                }
                Ok(out) => {
                    return self.catch_up_failed(format!(
                        "pulling from {} failed: {}",
                        peer.name,
                        out.complaint()
                    ))
                }
                Err(e) => {
                    return self.catch_up_failed(format!("pulling from {} failed: {e}", peer.name))
                }
            }
        }
        let claimed = self.claim(plan, targets, Some(seen), caught_up_from).await;
        drop(lock);
        claimed
    }

    /// This copy's lock, for a node that just became master: a push
    /// still receiving into the copy comes from a former master, maybe one
    /// that vanished mid-push and whose receive would hold the lock for a
    /// quarter of an hour; it is ended (see [`crate::receiving`]). Then
    /// waits as for any holder (a `resolve`, a two-way round).
    async fn take_lock_as_master(&self, meta: &Meta) -> Result<MetaLock, MetaError> {
        if let Ok(lock) = meta.lock(Duration::ZERO).await {
            return Ok(lock);
        }
        let pushers = receiving::end_receives(&meta.lock_file());
        if !pushers.is_empty() {
            let terms: Vec<String> = pushers.iter().map(Term::to_string).collect();
            self.event(
                EventType::Warning,
                "ReceiveEnded",
                &format!(
                    "ended the push from term {} still receiving into this copy: \
                     this node is master now, the pushing one no longer is",
                    terms.join(", ")
                ),
            );
        }
        meta.lock(Duration::from_secs(60)).await
    }

    /// Claims the term after `seen` (or after this copy's own) and starts
    /// counting the targets' lag. Returns whether it is claimed.
    async fn claim(
        &mut self,
        plan: &Plan,
        targets: &[Peer],
        seen: Option<Term>,
        caught_up_from: String,
    ) -> bool {
        let meta = Meta::of(&plan.path);
        let seen = match seen.map_or_else(|| meta.term(), Ok) {
            Ok(seen) => seen,
            Err(e) => return self.catch_up_failed(e.to_string()),
        };
        let term = match self.next_term(plan, &seen).await {
            Ok(term) => term,
            Err(why) => return self.catch_up_failed(why),
        };
        // A catch-up takes seconds, more across a partition (a peer's term
        // is read over ssh, whose connect outlasts the cut). A node demoted
        // meanwhile must not claim: its copy would hold a term newer than
        // the master that stayed, which would then give its own writes up
        // and pull this stale copy (found by the fault campaign, issue 18).
        if !self.plan.borrow().is_source() {
            self.progress().catching_up = None;
            return false;
        }
        if let Err(e) = meta.set_term(&term) {
            return self.catch_up_failed(e.to_string());
        }
        self.event(
            EventType::Normal,
            "TermClaimed",
            &format!("master: claimed term {term}{caught_up_from}"),
        );
        let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
        let mut progress = self.progress();
        progress.claimed = Some(term.clone());
        progress.local_term = Some(term);
        progress.catching_up = None;
        progress.lag = Lag::new(plan.watches_changes());
        progress.lag.retarget(&names, SystemTime::now());
        drop(progress);
        self.next_pass = Instant::now();
        true
    }

    /// The term after `seen`. Under a fenced VirtualIP the engine numbers
    /// it: a counter only the writer lock's holder raises, so a node that
    /// lost its lock (partitioned, fenced) can never claim a term that
    /// orders after its successor's, and the targets refuse its pushes.
    async fn next_term(&self, plan: &Plan, seen: &Term) -> Result<Term, String> {
        let Some(lock) = &plan.term_lock else {
            return Ok(Term::next(seen, &plan.node));
        };
        let session = self
            .sessions
            .as_ref()
            .and_then(|sessions| sessions.borrow().get(&lock.cluster).cloned());
        let Some(quorum) = session else {
            return Err(format!(
                "VirtualIP {} is fenced and this agent has no session with Cluster {}'s quorum engine",
                lock.vip, lock.cluster
            ));
        };
        match quorum
            .advance(&self.key.name, &lock.vip, seen.epoch + 1)
            .await
        {
            Ok(epoch) => Ok(Term {
                epoch,
                node: plan.node.clone(),
            }),
            Err(e) => Err(format!(
                "the quorum engine numbers the terms of fenced VirtualIP {}: {e}",
                lock.vip
            )),
        }
    }

    fn catch_up_failed(&self, why: String) -> bool {
        self.event(
            EventType::Warning,
            "CatchUpFailed",
            &format!("not claiming a term yet: {why}"),
        );
        self.progress().catching_up = Some(why);
        false
    }

    /// Waits for a change (continuous mode), the next full pass, or a plan
    /// change. Returns false on a plan change.
    async fn wait_for_reason(&mut self, plan: &Plan) -> bool {
        if plan.watches_changes() && self.changes.is_none() {
            match Changes::watch(&plan.path) {
                Ok(changes) => self.changes = Some(changes),
                // The pass reports a missing path; the interval still runs.
                Err(e) => debug!(path = %plan.path.display(), error = %e, "cannot watch"),
            }
        }
        if self.progress().lag.pending() {
            return true;
        }
        let signal = self.changes.as_ref().map(|c| Arc::clone(&c.changed));
        let changed = async move {
            match signal {
                Some(signal) => signal.notified().await,
                None => std::future::pending().await,
            }
        };
        enum Wake {
            Changed,
            Due,
            Replanned,
        }
        let wake = tokio::select! {
            _ = changed => Wake::Changed,
            _ = tokio::time::sleep_until(self.next_pass) => Wake::Due,
            _ = self.plan.changed() => Wake::Replanned,
        };
        match wake {
            Wake::Changed => {
                self.progress().lag.changed(SystemTime::now());
                tokio::time::sleep(BATCH).await;
                true
            }
            Wake::Due => true,
            Wake::Replanned => false,
        }
    }

    /// One pass to every target, one at a time.
    async fn pass(&mut self, plan: &Plan, targets: &[Peer], term: &Term) {
        // Every change seen so far is answered by this pass, even one that
        // ends early (a refused source looks again on the next change or
        // retry, never in a busy loop).
        let started = SystemTime::now();
        self.progress().lag.pass_started();
        let meta = Meta::of(&plan.path);
        // A newer master pushed here meanwhile (a partition healed): this
        // term is over.
        match meta.term() {
            Ok(on_disk) if on_disk != *term => {
                self.lose_term(term, &format!("this copy now holds term {on_disk}"));
                return;
            }
            Err(e) => {
                self.progress().meta_error = Some(e.to_string());
                self.next_pass = Instant::now() + RETRY;
                return;
            }
            Ok(_) => self.progress().meta_error = None,
        }
        // Rule 4: never impose an empty or missing source on the targets.
        let problem = match has_data(&plan.path) {
            Ok(true) => None,
            Ok(false) => Some(format!("source {} is empty", plan.path.display())),
            Err(e) => Some(format!("source {} is unreadable: {e}", plan.path.display())),
        };
        if let Some(problem) = problem {
            self.event(
                EventType::Warning,
                "EmptySource",
                &format!("{problem}: refusing to propagate it, targets left untouched"),
            );
            self.progress().source_problem = Some(problem);
            self.next_pass = Instant::now() + RETRY;
            return;
        }
        self.progress().source_problem = None;
        if !plan.hooks.before_sync.is_empty() {
            let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
            let before = (plan.node.as_str(), names.as_slice());
            if !self.run_hooks(When::BeforeSync, plan, before, term).await {
                let why = self.progress().hook_failure.clone().unwrap_or_default();
                for target in targets {
                    self.progress().lag.failed(&target.name, why.clone());
                }
                self.next_pass = Instant::now() + RETRY;
                return;
            }
        }
        if let Some(filter) = &plan.two_way {
            self.rounds(plan, targets, term, filter, started).await;
            return;
        }
        let snapshot = match &plan.mode {
            Mode::Snapshot { backend, .. } => match take_snapshot(backend, started, term).await {
                Ok(name) => Some(name),
                Err(why) => {
                    for target in targets {
                        self.progress().lag.failed(&target.name, why.clone());
                    }
                    self.event(EventType::Warning, "SnapshotFailed", &why);
                    self.next_pass = Instant::now() + RETRY;
                    return;
                }
            },
            Mode::Rsync { .. } => None,
        };
        if let Err(why) = self.stage_databases(plan).await {
            for target in targets {
                self.progress().lag.failed(&target.name, why.clone());
            }
            self.event(
                EventType::Warning,
                "DatabaseCopyFailed",
                &format!("{why}: nothing pushed, the targets keep their copies"),
            );
            self.next_pass = Instant::now() + RETRY;
            return;
        }
        let mut failed = false;
        for target in targets {
            let databases = self.stage.due(&target.name);
            let push = push(plan, target, term, started, snapshot.as_deref(), &databases);
            let outcome = tokio::select! {
                outcome = push => outcome,
                // Rule 1: demoted mid-pass: stop now (kills the transfer).
                _ = demoted(&mut self.plan) => return,
            };
            match outcome {
                Outcome::Done(stats) => {
                    debug!(target = %target.name, ?stats, "pushed");
                    self.stage.installed(&target.name, &databases);
                    self.progress()
                        .lag
                        .succeeded(&target.name, started, stats, SystemTime::now());
                }
                Outcome::Refused(why) => {
                    self.event(
                        EventType::Warning,
                        "TargetNewer",
                        &format!("{} refused the push from term {term}: {why}", target.name),
                    );
                    self.progress().lag.failed(&target.name, why.clone());
                    self.lose_term(term, &format!("{} holds a newer term", target.name));
                    return;
                }
                Outcome::Failed(why) => {
                    failed = true;
                    self.event(
                        EventType::Warning,
                        "SyncFailed",
                        &format!("push to {} failed: {why}", target.name),
                    );
                    self.progress().lag.failed(&target.name, why);
                }
            }
        }
        if let Mode::Snapshot { backend, retain } = &plan.mode {
            prune_local(backend, *retain, &self.key.name).await;
        }
        self.next_pass = Instant::now() + if failed { RETRY } else { plan.interval };
    }

    /// Two-way: one round with each target (see [`crate::twoway`]).
    async fn rounds(
        &mut self,
        plan: &Plan,
        targets: &[Peer],
        term: &Term,
        filter: &hareconcile_model::Filter,
        started: SystemTime,
    ) {
        let mut failed = false;
        let mut changed_here = false;
        for target in targets {
            let pair = Pair {
                data: &plan.path,
                node: &plan.node,
                peer: &target.name,
                host: &target.address,
                link: &plan.link,
                filter,
            };
            let round = tokio::select! {
                round = pair.round(None) => round,
                _ = demoted(&mut self.plan) => return,
            };
            match round {
                Ok(round) => {
                    debug!(target = %target.name, ?round, "two-way round");
                    changed_here |= round.changed_local();
                    self.mark_synced(plan, target, (term, started), round.changed_remote())
                        .await;
                    self.record_conflicts(&target.name, round.conflicts);
                    let stats = Stats {
                        files: (round.pushed + round.pulled) as u64,
                        bytes: 0,
                        deleted: round.deleted as u64,
                    };
                    self.progress()
                        .lag
                        .succeeded(&target.name, started, stats, SystemTime::now());
                }
                Err(why) => {
                    failed = true;
                    self.event(
                        EventType::Warning,
                        "SyncFailed",
                        &format!("two-way round with {} failed: {why}", target.name),
                    );
                    self.progress().lag.failed(&target.name, why);
                }
            }
        }
        if changed_here && !plan.hooks.after_sync.is_empty() {
            let here = [plan.node.clone()];
            self.run_hooks(When::AfterSync, plan, (&plan.node, &here), term)
                .await;
        }
        self.next_pass = Instant::now() + if failed { RETRY } else { plan.interval };
    }

    /// Records on the target that its copy is in step as of `at`, as a
    /// push's guard does: its status shows the copy's age; and, if the
    /// round `changed` it, that too, for its afterSync hooks.
    async fn mark_synced(
        &self,
        plan: &Plan,
        target: &Peer,
        (term, at): (&Term, SystemTime),
        changed: bool,
    ) {
        let meta = Meta::of(&plan.path);
        let mut line = record_line(&meta.synced_file(), at, term);
        if changed {
            line = format!("{} && {line}", record_line(&meta.changed_file(), at, term));
        }
        let argv = ssh_run(&plan.link, &target.address, line);
        if let Ok(out) = process::run(&argv, PROBE_TIMEOUT).await {
            if !out.success {
                debug!(target = %target.name, error = %out.complaint(), "marking the copy failed");
            }
        }
    }

    /// Records `target`'s conflicts, with an event for each new one.
    fn record_conflicts(&self, target: &str, conflicts: Vec<String>) {
        let known = self
            .progress()
            .conflicts
            .get(target)
            .cloned()
            .unwrap_or_default();
        let new: Vec<&String> = conflicts.iter().filter(|c| !known.contains(c)).collect();
        if !new.is_empty() {
            let paths: Vec<&str> = new.iter().map(|p| p.as_str()).collect();
            self.event(
                EventType::Warning,
                "ReplicationConflict",
                &format!(
                    "changed on this node and on {target} since their last sync, both copies kept: {}; \
                     settle with hareconcile replication resolve {} --keep NODE",
                    paths.join(", "),
                    self.key.name
                ),
            );
        }
        let mut progress = self.progress();
        if conflicts.is_empty() {
            progress.conflicts.remove(target);
        } else {
            progress.conflicts.insert(target.to_string(), conflicts);
        }
    }

    /// Takes a consistent copy of each database that changed (see
    /// [`crate::sqlite`]), off the async threads.
    async fn stage_databases(&mut self, plan: &Plan) -> Result<(), String> {
        let patterns = plan.databases().to_vec();
        if patterns.is_empty() {
            return Ok(());
        }
        let mut stage = std::mem::take(&mut self.stage);
        let path = plan.path.clone();
        let (stage, result) = tokio::task::spawn_blocking(move || {
            let result = stage.refresh(&path, &patterns);
            (stage, result)
        })
        .await
        .map_err(|e| format!("copying the databases: {e}"))?;
        self.stage = stage;
        result.map_err(|e| e.to_string())
    }

    /// The final sync of a planned switchover: one pass to the target now
    /// that the writers stopped, then the marker the target waits for.
    async fn hand_over(&mut self, plan: &Plan, target: &Peer, term: &Term, generation: u64) {
        let before = SystemTime::now();
        self.pass(plan, std::slice::from_ref(target), term).await;
        let progress = self.progress().clone();
        let pushed = progress.claimed.as_ref() == Some(term)
            && progress
                .lag
                .targets()
                .get(&target.name)
                .and_then(|t| t.last_success)
                .is_some_and(|at| at >= before);
        let outcome = if !pushed {
            let why = progress
                .lag
                .targets()
                .get(&target.name)
                .and_then(|t| t.error.clone())
                .or(progress.source_problem)
                .unwrap_or_else(|| "the push did not complete".into());
            Err(why)
        } else {
            let line = handover::mark_line(&plan.path, term);
            match process::run(&ssh_run(&plan.link, &target.address, line), PROBE_TIMEOUT).await {
                Ok(out) if out.success => Ok(()),
                Ok(out) => Err(format!(
                    "recording the handover failed: {}",
                    out.complaint()
                )),
                Err(e) => Err(format!("recording the handover failed: {e}")),
            }
        };
        let given = match outcome {
            Ok(()) => {
                self.event(
                    EventType::Normal,
                    "FinalSyncDone",
                    &format!(
                        "planned switchover: final sync to {} done (term {term})",
                        target.name
                    ),
                );
                Given::Done {
                    generation,
                    term: term.clone(),
                }
            }
            Err(why) => {
                self.event(
                    EventType::Warning,
                    "FinalSyncFailed",
                    &format!(
                        "planned switchover to {} aborted, this node keeps the VirtualIP \
                         and its Services start again: {why}",
                        target.name
                    ),
                );
                Given::Failed { generation, why }
            }
        };
        self.progress().given = Some(given);
    }

    /// Rule 3, the pusher's half: the term is over; if still master, the
    /// next step catches up from the newer copy and claims a new one.
    fn lose_term(&mut self, term: &Term, why: &str) {
        self.event(
            EventType::Warning,
            "TermLost",
            &format!("term {term} is over ({why}): catching up before pushing again"),
        );
        let mut progress = self.progress();
        progress.claimed = None;
        progress.catching_up = Some(format!("term {term} is over: {why}"));
    }
}

async fn push(
    plan: &Plan,
    target: &Peer,
    term: &Term,
    started: SystemTime,
    snapshot: Option<&str>,
    databases: &[PathBuf],
) -> Outcome {
    let finished = match (&plan.mode, snapshot) {
        (Mode::Snapshot { backend, retain }, Some(name)) => {
            send_snapshot(plan, backend, *retain, target, term, started, name).await
        }
        _ => {
            let argv = rsync::push(
                &plan.path,
                (&target.address, term, started),
                plan.transfer(false),
                &sqlite::install_line(&plan.path, databases),
                &plan.link,
            );
            process::run(&argv, PASS_TIMEOUT).await
        }
    };
    match finished {
        Ok(out) if out.success => Outcome::Done(parse_stats(&out.stdout)),
        Ok(out) => match refusal(&out.stderr) {
            Some(why) => Outcome::Refused(why),
            None => Outcome::Failed(out.complaint()),
        },
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn take_snapshot(backend: &Backend, at: SystemTime, term: &Term) -> Result<String, String> {
    if let Some(dir) = backend.prepare() {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let name = snapshot::name(at, term);
    let out = process::run(&backend.create(&name), PROBE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if !out.success {
        return Err(format!("snapshot {name}: {}", out.complaint()));
    }
    Ok(name)
}

async fn local_snapshots(backend: &Backend) -> Vec<String> {
    let argv = vec!["sh".to_string(), "-c".into(), backend.list_line()];
    match process::run(&argv, PROBE_TIMEOUT).await {
        Ok(out) if out.success => snapshot::ours(&out.stdout.lines().collect::<Vec<_>>()),
        _ => Vec::new(),
    }
}

/// Sends snapshot `name` to `target`, incrementally from the newest
/// snapshot both have, or whole when there is none or the incremental
/// stream is rejected (the target's parent came from elsewhere).
#[allow(clippy::too_many_arguments)]
async fn send_snapshot(
    plan: &Plan,
    backend: &Backend,
    retain: u32,
    target: &Peer,
    term: &Term,
    started: SystemTime,
    name: &str,
) -> Result<Finished, process::ProcessError> {
    let listed = process::run(
        &ssh_run(&plan.link, &target.address, backend.list_line()),
        PROBE_TIMEOUT,
    )
    .await?;
    if !listed.success {
        return Ok(listed);
    }
    let remote = snapshot::ours(&listed.stdout.lines().collect::<Vec<_>>());
    let mut after: Vec<String> = remote.clone();
    after.push(name.to_string());
    let expired = snapshot::expired(&after, retain).to_vec();
    let local = local_snapshots(backend).await;
    let parent = snapshot::common_parent(&local, &remote).cloned();
    let receive = shell_line(&["sh", "-c", &backend.receive_line(name, &expired)]);
    let consumer = ssh_run(
        &plan.link,
        &target.address,
        guarded(&plan.path, term, started, "", &receive),
    );
    let first = process::pipe(
        &backend.send(name, parent.as_deref()),
        &consumer,
        PASS_TIMEOUT,
    )
    .await?;
    if first.success || parent.is_none() || refusal(&first.stderr).is_some() {
        return Ok(first);
    }
    debug!(target = %target.name, error = %first.complaint(), "incremental send rejected; sending whole");
    process::pipe(&backend.send(name, None), &consumer, PASS_TIMEOUT).await
}

async fn prune_local(backend: &Backend, retain: u32, object: &str) {
    let local = local_snapshots(backend).await;
    if let Some(line) = backend.delete_line(snapshot::expired(&local, retain)) {
        let argv = vec!["sh".to_string(), "-c".into(), line];
        if let Ok(out) = process::run(&argv, PROBE_TIMEOUT).await {
            if !out.success {
                warn!(object, error = %out.complaint(), "pruning snapshots failed");
            }
        }
    }
}

/// Resolves once the plan no longer makes this node the source.
async fn demoted(plan: &mut watch::Receiver<Plan>) {
    loop {
        if plan.changed().await.is_err() {
            return std::future::pending().await;
        }
        if !plan.borrow().is_source() {
            return;
        }
    }
}
