//! A worker's progress as status: details and conditions (see the crate
//! docs for what `Ready` and `Synced` mean on each side).

use std::time::{Duration, SystemTime};

use hareconcile_model::status::{
    Drift, Handover as HandoverSeen, HandoverState, ReplicationReason, SyncRole, TargetProgress,
};
use hareconcile_model::{ConditionStatus, ReplicationStatus};
use time::OffsetDateTime;

use crate::handover::{Given, Handover};
use crate::job::Progress;
use crate::plan::{Plan, Role};

pub struct Condition {
    pub type_: &'static str,
    pub status: ConditionStatus,
    pub reason: ReplicationReason,
    pub message: String,
}

pub struct Report {
    pub details: ReplicationStatus,
    /// `Ready`, and `Synced` on a source (absent elsewhere).
    pub ready: Condition,
    pub synced: Option<Condition>,
    /// `Hooks`, where the Replication has hooks.
    pub hooks: Option<Condition>,
}

fn condition(
    type_: &'static str,
    ok: bool,
    reason: ReplicationReason,
    message: String,
) -> Condition {
    Condition {
        type_,
        status: if ok {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        reason,
        message,
    }
}

pub fn report(plan: &Plan, progress: &Progress, now: SystemTime) -> Report {
    let mut report = by_role(plan, progress, now);
    hand_over(plan, progress, &mut report);
    report.hooks = hooks(plan, progress);
    report
}

/// `Hooks`: whether this node's last run of its hooks succeeded (absent
/// when the Replication has none).
fn hooks(plan: &Plan, progress: &Progress) -> Option<Condition> {
    if plan.hooks.is_empty() {
        return None;
    }
    Some(match &progress.hook_failure {
        Some(why) => condition("Hooks", false, ReplicationReason::HookFailed, why.clone()),
        None => condition(
            "Hooks",
            true,
            ReplicationReason::HooksSucceeded,
            "the last hooks run here succeeded (or none was due yet)".into(),
        ),
    })
}

/// A planned switchover holds `Ready` back: on the source until its
/// writers stopped and the final sync is done (so they stay stopped), on
/// the target until the final sync arrived (see [`crate::handover`]).
fn hand_over(plan: &Plan, progress: &Progress, report: &mut Report) {
    let given = progress.given.as_ref();
    match (&plan.role, &plan.handover) {
        (Role::Source { .. }, Handover::Give { to, generation, .. }) => {
            let (ready, message) = match given.filter(|g| g.generation() == *generation) {
                Some(Given::Failed { why, .. }) => {
                    report.details.handover = Some(HandoverSeen {
                        to: Some(to.clone()),
                        state: HandoverState::Failed,
                        error: Some(why.clone()),
                    });
                    return;
                }
                Some(Given::Done { term, .. }) if progress.claimed.as_ref() != Some(term) => return,
                Some(Given::Done { .. }) => (
                    HandoverState::HandedOver,
                    format!("final sync to {to} done: waiting for it to take the VirtualIP over"),
                ),
                None => (
                    HandoverState::HandingOver,
                    format!(
                        "planned switchover to {to}: the Services requiring this stop here, \
                         then a final sync runs before the VirtualIP moves"
                    ),
                ),
            };
            report.details.handover = Some(HandoverSeen {
                to: Some(to.clone()),
                state: ready,
                error: None,
            });
            let reason = match ready {
                HandoverState::HandedOver => ReplicationReason::HandedOver,
                _ => ReplicationReason::HandingOver,
            };
            report.ready = condition("Ready", false, reason, message);
        }
        // Taking over after the final sync: the catch-up will find nothing
        // newer, so the Services that started on the final copy keep running.
        (Role::Source { .. }, Handover::Receive)
            if progress.claimed.is_none()
                && progress.received.is_some()
                && progress.received == progress.local_term =>
        {
            report.ready = condition(
                "Ready",
                true,
                ReplicationReason::FinalSyncReceived,
                "taking over after a planned switchover's final sync: claiming the next term"
                    .into(),
            );
        }
        (Role::Replica, Handover::Receive) => {
            let copy = progress.replica.as_ref().map(|s| &s.term);
            let seen = |state| {
                Some(HandoverSeen {
                    to: None,
                    state,
                    error: None,
                })
            };
            if copy.is_some() && progress.received.as_ref() == copy {
                report.details.handover = seen(HandoverState::Received);
                return;
            }
            report.details.handover = seen(HandoverState::AwaitingFinalSync);
            report.ready = condition(
                "Ready",
                false,
                ReplicationReason::AwaitingFinalSync,
                "planned switchover to this node: waiting for the master's final sync".into(),
            );
        }
        _ => {}
    }
}

fn by_role(plan: &Plan, progress: &Progress, now: SystemTime) -> Report {
    let mut details = ReplicationStatus::default();
    if let Some(term) = &progress.local_term {
        details.epoch = Some(term.epoch);
        details.term = Some(term.to_string());
    }
    match &plan.role {
        Role::Unplaced { reason, message } => {
            details.role = Some(SyncRole::None);
            Report {
                details,
                ready: condition("Ready", false, *reason, message.clone()),
                synced: None,
                hooks: None,
            }
        }
        Role::Source { .. } => source(plan, progress, now, details),
        Role::Replica => replica(plan, progress, now, details),
    }
}

fn source(
    plan: &Plan,
    progress: &Progress,
    now: SystemTime,
    mut details: ReplicationStatus,
) -> Report {
    details.role = Some(SyncRole::Source);
    let mut worst = Duration::ZERO;
    let mut oldest_success: Option<Option<SystemTime>> = None;
    let mut errors = Vec::new();
    for (name, target) in progress.lag.targets() {
        let lag = progress.lag.lag(name, now);
        worst = worst.max(lag);
        oldest_success = Some(match oldest_success {
            None => target.last_success,
            Some(seen) => seen.min(target.last_success),
        });
        if let Some(error) = &target.error {
            errors.push(format!("{name}: {error}"));
        }
        let stats = target.last_stats.unwrap_or_default();
        details.targets.insert(
            name.clone(),
            TargetProgress {
                last_sync: target.last_success.map(OffsetDateTime::from),
                lag_seconds: lag.as_secs(),
                files: stats.files,
                bytes: stats.bytes,
                bytes_total: target.bytes_total,
                passes: target.passes,
                error: target.error.clone(),
            },
        );
    }
    details.lag_seconds = Some(worst.as_secs());
    details.last_sync = oldest_success.flatten().map(OffsetDateTime::from);
    if let Some(problem) = &progress.source_problem {
        errors.insert(0, problem.clone());
    }
    details.errors = errors.clone();
    let ready = match (&progress.claimed, &progress.catching_up) {
        (Some(term), _) => condition(
            "Ready",
            true,
            ReplicationReason::Source,
            format!(
                "master of term {term}: pushing to {} target(s)",
                progress.lag.targets().len()
            ),
        ),
        (None, why) => condition(
            "Ready",
            false,
            ReplicationReason::CatchingUp,
            format!(
                "master, but not serving this copy until it has caught up with newer peers: {}",
                why.as_deref().unwrap_or("starting")
            ),
        ),
    };
    let conflicted: Vec<String> = progress
        .conflicts
        .iter()
        .flat_map(|(target, paths)| paths.iter().map(move |p| format!("{p} (with {target})")))
        .collect();
    details.conflicts = progress.conflicts.clone();
    details.drift = progress
        .conflicts
        .iter()
        .flat_map(|(target, paths)| {
            paths.iter().map(move |path| Drift {
                reason: ReplicationReason::Conflict.as_str().into(),
                message: format!(
                    "{path} changed on {} and on {target} since their last sync: both copies kept",
                    plan.node
                ),
                fix: Some(
                    "won't fix: choose with hareconcile replication resolve NAME --keep NODE [PATH...]"
                        .into(),
                ),
            })
        })
        .collect();
    let synced = if let Some(problem) = &progress.source_problem {
        condition(
            "Synced",
            false,
            ReplicationReason::EmptySource,
            format!("{problem}: not propagated, targets untouched"),
        )
    } else if !errors.is_empty() {
        condition(
            "Synced",
            false,
            ReplicationReason::SyncFailed,
            errors.join("; "),
        )
    } else if !conflicted.is_empty() {
        condition(
            "Synced",
            false,
            ReplicationReason::Conflict,
            format!(
                "changed on both sides since the last sync, neither copy overwritten: {}",
                conflicted.join(", ")
            ),
        )
    } else {
        match plan.max_lag {
            Some(max) if worst > max => condition(
                "Synced",
                false,
                ReplicationReason::Lagging,
                format!(
                    "a target is {}s behind, more than maxLag {}s",
                    worst.as_secs(),
                    max.as_secs()
                ),
            ),
            _ => condition(
                "Synced",
                true,
                ReplicationReason::InSync,
                format!("targets at most {}s behind", worst.as_secs()),
            ),
        }
    };
    Report {
        details,
        ready,
        synced: Some(synced),
        hooks: None,
    }
}

fn replica(
    plan: &Plan,
    progress: &Progress,
    now: SystemTime,
    mut details: ReplicationStatus,
) -> Report {
    details.role = Some(SyncRole::Replica);
    let ready = if let Some(error) = &progress.meta_error {
        details.errors = vec![error.clone()];
        condition(
            "Ready",
            false,
            ReplicationReason::MetadataUnreadable,
            error.clone(),
        )
    } else if let Some(synced) = &progress.replica {
        let age = now.duration_since(synced.as_of).unwrap_or_default();
        details.last_sync = Some(OffsetDateTime::from(synced.as_of));
        details.lag_seconds = Some(age.as_secs());
        details.source = Some(synced.term.node.clone());
        // Between changes a source only pushes every interval, so a copy
        // is late only past maxLag beyond that.
        match plan.max_lag {
            Some(max) if age > max + plan.interval => condition(
                "Ready",
                false,
                ReplicationReason::Stale,
                format!(
                    "copy from term {} is {}s old, more than maxLag {}s past the {}s interval",
                    synced.term,
                    age.as_secs(),
                    max.as_secs(),
                    plan.interval.as_secs()
                ),
            ),
            _ => condition(
                "Ready",
                true,
                ReplicationReason::Replica,
                format!("copy of term {}, {}s old", synced.term, age.as_secs()),
            ),
        }
    } else {
        condition(
            "Ready",
            false,
            ReplicationReason::NoCopy,
            "no complete copy received from a master yet".into(),
        )
    };
    Report {
        details,
        ready,
        synced: None,
        hooks: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handover::{Given, Handover};
    use crate::lag::Lag;
    use crate::plan::{Mode, Peer};
    use crate::rsync::Stats;
    use crate::term::{Synced, Term};
    use std::path::PathBuf;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn plan(role: Role) -> Plan {
        Plan {
            node: "n1".into(),
            path: PathBuf::from("/srv/data"),
            role,
            mode: Mode::Rsync {
                continuous: true,
                delete: false,
                rules: Vec::new(),
                pull_rules: Vec::new(),
                sqlite: Vec::new(),
            },
            interval: Duration::from_secs(60),
            link: crate::remote::Link::new(Default::default(), None),
            max_lag: Some(Duration::from_secs(10)),
            hooks: Default::default(),
            two_way: None,
            handover: Handover::None,
            term_lock: None,
        }
    }

    fn source_role() -> Role {
        Role::Source {
            targets: vec![Peer {
                name: "n2".into(),
                address: "10.77.0.2".into(),
            }],
        }
    }

    fn claimed(lag: Lag) -> Progress {
        let term: Term = "2 n1".parse().unwrap();
        Progress {
            local_term: Some(term.clone()),
            claimed: Some(term),
            lag,
            ..Progress::default()
        }
    }

    #[test]
    fn a_source_is_ready_once_claimed_and_synced_while_within_max_lag() {
        let mut lag = Lag::new(true);
        lag.retarget(&["n2".into()], at(100));
        lag.pass_started();
        lag.succeeded(
            "n2",
            at(100),
            Stats {
                files: 3,
                bytes: 30,
                deleted: 0,
            },
            at(101),
        );
        let r = report(&plan(source_role()), &claimed(lag.clone()), at(200));
        assert_eq!(r.ready.reason, ReplicationReason::Source);
        let synced = r.synced.unwrap();
        assert_eq!(
            (synced.status, synced.reason),
            (ConditionStatus::True, ReplicationReason::InSync)
        );
        assert_eq!(r.details.epoch, Some(2));
        assert_eq!(r.details.targets["n2"].bytes, 30);
        assert_eq!(r.details.lag_seconds, Some(0));

        lag.changed(at(300));
        let r = report(&plan(source_role()), &claimed(lag), at(311));
        assert_eq!(
            r.ready.status,
            ConditionStatus::True,
            "the standby's lag never stops the master"
        );
        let synced = r.synced.unwrap();
        assert_eq!(
            (synced.status, synced.reason),
            (ConditionStatus::False, ReplicationReason::Lagging)
        );
        assert_eq!(r.details.lag_seconds, Some(11));
    }

    #[test]
    fn a_source_catching_up_or_empty_says_so() {
        let progress = Progress {
            catching_up: Some("pulling from n2".into()),
            ..Progress::default()
        };
        let r = report(&plan(source_role()), &progress, at(0));
        assert_eq!(
            (r.ready.status, r.ready.reason),
            (ConditionStatus::False, ReplicationReason::CatchingUp)
        );
        assert!(r.ready.message.contains("pulling from n2"));

        let mut progress = claimed(Lag::new(true));
        progress.source_problem = Some("source /srv/data is empty".into());
        let r = report(&plan(source_role()), &progress, at(0));
        assert_eq!(r.synced.unwrap().reason, ReplicationReason::EmptySource);
        assert_eq!(r.details.errors, ["source /srv/data is empty"]);
    }

    #[test]
    fn a_replica_is_ready_while_its_copy_is_recent() {
        let progress = |synced: Option<Synced>| Progress {
            replica: synced,
            ..Progress::default()
        };
        let copy = Some(Synced {
            as_of: at(1000),
            term: "3 n2".parse().unwrap(),
        });
        let r = report(&plan(Role::Replica), &progress(copy.clone()), at(1030));
        assert_eq!(
            (r.ready.status, r.ready.reason),
            (ConditionStatus::True, ReplicationReason::Replica)
        );
        assert!(r.synced.is_none());
        assert_eq!(r.details.source.as_deref(), Some("n2"));
        let r = report(&plan(Role::Replica), &progress(copy), at(1071));
        assert_eq!(
            (r.ready.status, r.ready.reason),
            (ConditionStatus::False, ReplicationReason::Stale)
        );
        let r = report(&plan(Role::Replica), &progress(None), at(0));
        assert_eq!(r.ready.reason, ReplicationReason::NoCopy);
    }

    #[test]
    fn a_switchover_holds_ready_until_the_final_sync() {
        let give = |plan: Plan| Plan {
            handover: Handover::Give {
                to: "n2".into(),
                generation: 4,
                writers_stopped: true,
            },
            ..plan
        };
        let done = |term: &str| Given::Done {
            generation: 4,
            term: term.parse().unwrap(),
        };
        let failed = Given::Failed {
            generation: 4,
            why: "ssh: no route".into(),
        };
        use ConditionStatus::{False, True};
        use ReplicationReason::{HandedOver, HandingOver, Source};
        for (given, expected, why) in [
            (None, (False, HandingOver), "the final sync runs"),
            (Some(done("2 n1")), (False, HandedOver), "done in this term"),
            (
                Some(done("1 n1")),
                (True, Source),
                "master again by a failover in a later term: serves",
            ),
            (
                Some(failed),
                (True, Source),
                "aborted: the old master serves again",
            ),
        ] {
            let progress = Progress {
                given,
                ..claimed(Lag::new(true))
            };
            let r = report(&give(plan(source_role())), &progress, at(0));
            assert_eq!((r.ready.status, r.ready.reason), expected, "{why}");
        }

        let receive = Plan {
            handover: Handover::Receive,
            ..plan(Role::Replica)
        };
        let term: Term = "2 n1".parse().unwrap();
        let mut progress = Progress {
            replica: Some(Synced {
                as_of: at(1000),
                term: term.clone(),
            }),
            ..Progress::default()
        };
        let r = report(&receive, &progress, at(1001));
        assert_eq!(
            (r.ready.status, r.ready.reason),
            (ConditionStatus::False, ReplicationReason::AwaitingFinalSync)
        );
        progress.received = Some("1 n1".parse().unwrap());
        let r = report(&receive, &progress, at(1001));
        assert_eq!(
            r.ready.reason,
            ReplicationReason::AwaitingFinalSync,
            "an older handover"
        );
        progress.received = Some(term);
        let r = report(&receive, &progress, at(1001));
        assert_eq!(
            (r.ready.status, r.ready.reason),
            (ConditionStatus::True, ReplicationReason::Replica)
        );
    }
}
