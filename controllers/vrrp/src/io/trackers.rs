//! The trackers of one VirtualIP, shell side: runs `track.scripts` in
//! their own tasks (never on the protocol path) and follows this node's
//! store for `track.services` and for the Services that follow the
//! VirtualIP (make-before-break), and for a fenced VirtualIP its writer
//! lock ([`super::writer_lock`]). Publishes one [`Tracked`] snapshot that
//! each of the VirtualIP's instances feeds to its core.

use std::sync::Arc;
use std::time::Duration;

use hareconcile_model::status::{ServiceReason, StackPlacement};
use hareconcile_model::{ConditionStatus, Handover, Kind, Object, ServiceSpec, ServiceStatus};
use hareconcile_quorum::Sessions;
use hareconcile_runtime::process_group::GroupChild;
use hareconcile_runtime::Store;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use crate::core::tracking::{Awaited, Check, FallRise, Source, Tracked};
use crate::io::writer_lock::{self, Fencing, Wanted};

/// What the trackers of one VirtualIP check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackConfig {
    /// The VirtualIP's name: Services with `followVirtualIP` equal to it
    /// must be ready here before a planned preempt-back.
    pub vip: String,
    pub scripts: Vec<ScriptCheck>,
    /// `track.services`: names and weights.
    pub services: Vec<(String, i32)>,
    /// Set when the VirtualIP is fenced: its master must hold its writer lock.
    pub fencing: Option<Fencing>,
}

/// One `track.scripts` entry, its command resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptCheck {
    pub name: String,
    /// argv, run without a shell.
    pub command: Vec<String>,
    pub interval: Duration,
    /// A run taking longer fails (and is killed).
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
    pub weight: i32,
}

/// The running trackers; dropping them stops their tasks.
pub struct Trackers {
    config: TrackConfig,
    snapshot: watch::Sender<Tracked>,
    tasks: Vec<JoinHandle<()>>,
    /// The agent's quorum sessions, if it keeps any.
    sessions: Option<Sessions>,
    wanted: Wanted,
}

impl Trackers {
    /// Starts the checks of `config`; the first snapshot already holds
    /// what the store says, so instances start on it.
    pub fn start(config: TrackConfig, store: &Store, sessions: Option<Sessions>) -> Trackers {
        let (snapshot, _) = watch::channel(Tracked::default());
        let mut trackers = Trackers {
            config: TrackConfig::default(),
            snapshot,
            tasks: Vec::new(),
            sessions,
            wanted: Wanted::default(),
        };
        trackers.reconfigure(config, store);
        trackers
    }

    pub fn subscribe(&self) -> watch::Receiver<Tracked> {
        self.snapshot.subscribe()
    }

    /// Restarts the checks if `config` differs from the running one; the
    /// instances keep their subscription and see the new snapshot.
    pub fn reconfigure(&mut self, config: TrackConfig, store: &Store) {
        if self.tasks.is_empty() || config != self.config {
            self.stop_tasks();
            let (services, _) = store.list(Some(Kind::Service));
            let mut initial = initial_snapshot(&config, &services);
            if config.fencing.is_some() && config.fencing == self.config.fencing {
                // Still fenced alike: a master must not fault for a moment
                // only because a script changed.
                let current = self.snapshot.borrow();
                initial.writer = current.writer.clone();
                initial.lock_holder = current.lock_holder.clone();
            }
            self.snapshot.send_if_modified(|current| {
                let changed = *current != initial;
                *current = initial;
                changed
            });
            for (index, script) in config.scripts.iter().enumerate() {
                let task = run_script(index, script.clone(), self.snapshot.clone());
                self.tasks.push(tokio::spawn(task));
            }
            let follow = follow_store(config.clone(), store.clone(), self.snapshot.clone());
            self.tasks.push(tokio::spawn(follow));
            match (&config.fencing, &self.sessions) {
                (Some(fencing), Some(sessions)) => {
                    let follow = writer_lock::follow(
                        config.vip.clone(),
                        fencing.clone(),
                        sessions.clone(),
                        self.wanted.clone(),
                        self.snapshot.clone(),
                    );
                    self.tasks.push(tokio::spawn(follow));
                }
                _ => self.wanted.give_back(),
            }
            self.config = config;
        }
    }

    fn stop_tasks(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Trackers {
    /// The lock is given back here, not by the aborted task, so that the
    /// next instance of this VirtualIP asks after the give-back, not before.
    fn drop(&mut self) {
        self.stop_tasks();
        self.wanted.give_back();
    }
}

/// Scripts start healthy (as keepalived's without `init_fail`); Services
/// as the store says.
fn initial_snapshot(config: &TrackConfig, services: &[Arc<Object>]) -> Tracked {
    let mut checks: Vec<Check> = config
        .scripts
        .iter()
        .map(|script| Check {
            source: Source::Script,
            name: script.name.clone(),
            weight: script.weight,
            healthy: true,
            detail: String::new(),
        })
        .collect();
    checks.extend(service_checks(config, services));
    Tracked {
        checks,
        awaited: awaited_followers(&config.vip, services),
        // A fenced VirtualIP is no candidate until its lock is seen held.
        writer: config.fencing.as_ref().map(|fencing| Check {
            source: Source::Quorum,
            name: "writer lock".to_string(),
            weight: 0,
            healthy: false,
            detail: format!(
                "no quorum: not asked of Cluster {}'s engine yet",
                fencing.cluster
            ),
        }),
        lock_holder: None,
    }
}

/// The `track.services` checks from this node's Service objects. A Service
/// fails while its `Healthy` condition is False (Unknown means nothing runs
/// here to probe), or while `Ready` is False for any reason but those of a
/// stack on its way up: the engine unreachable, containers stopped or
/// unhealthy, a bad compose file. A Service missing from the store, or not
/// reported on yet, fails.
///
/// On the way up are `Probing` (started, probes not decided yet) and
/// `WaitingForReplication` (a new master's stack waits for its data, which
/// becomes Ready only because this node is master: failing here would give
/// the VIP up, stop the data catching up, and leave no node serving).
fn service_checks(config: &TrackConfig, services: &[Arc<Object>]) -> Vec<Check> {
    config
        .services
        .iter()
        .map(|(name, weight)| {
            let object = services.iter().find(|o| o.metadata.name == *name);
            let failure = match object {
                None => Some("not declared on this node".to_string()),
                Some(object) => service_failure(object),
            };
            Check {
                source: Source::Service,
                name: name.clone(),
                weight: *weight,
                healthy: failure.is_none(),
                detail: failure.unwrap_or_default(),
            }
        })
        .collect()
}

fn service_failure(object: &Object) -> Option<String> {
    let status = &object.status;
    let healthy = status.condition("Healthy");
    let ready = status.condition("Ready");
    if healthy.is_none() && ready.is_none() {
        return Some("no health reported on this node yet".to_string());
    }
    let failing = healthy
        .filter(|c| c.status == ConditionStatus::False)
        .or(ready.filter(|c| c.status == ConditionStatus::False && !starting(&c.reason)));
    failing.map(|c| {
        format!(
            "{} is {:?} ({}): {}",
            c.type_, c.status, c.reason, c.message
        )
    })
}

/// Reasons of a Service whose stack is on its way up here.
fn starting(reason: &str) -> bool {
    ServiceReason::parse(reason).is_some_and(ServiceReason::is_starting)
}

/// The Services following `vip` that do not run here Ready (their stack
/// started for a takeover, not merely a Ready standby), with why: until
/// none is left a backup must not preempt a live master. An exclusive
/// stack (break-before-make) cannot start ahead: only its data must be
/// Ready here (on a switchover, the final sync must have arrived); it
/// starts once this node is master and the old one stopped it.
fn awaited_followers(vip: &str, services: &[Arc<Object>]) -> Vec<Awaited> {
    services
        .iter()
        .filter(|o| o.spec.get("followVirtualIP").and_then(|v| v.as_str()) == Some(vip))
        .filter_map(|o| {
            let status: ServiceStatus = o.status.details_as().unwrap_or_default();
            if status.exclusive || declared_exclusive(o) {
                let why = match (status.desired, status.unready_data.as_slice()) {
                    (None, _) => "not reported on this node yet".to_string(),
                    (Some(_), []) => return None,
                    (Some(_), data) => {
                        format!("exclusive, its data is not Ready here: {}", data.join(", "))
                    }
                };
                return Some(Awaited {
                    service: o.metadata.name.clone(),
                    why,
                });
            }
            let running = status.desired == Some(StackPlacement::Run);
            let why = match o.status.condition("Ready") {
                _ if !running => "its stack is not started here yet".to_string(),
                Some(ready) if ready.status == ConditionStatus::True => return None,
                Some(ready) => format!(
                    "Ready is {:?} ({}): {}",
                    ready.status, ready.reason, ready.message
                ),
                None => "not reported on this node yet".to_string(),
            };
            Some(Awaited {
                service: o.metadata.name.clone(),
                why,
            })
        })
        .collect()
}

/// A Service whose spec makes it exclusive, before its controller
/// reported (which also counts a stack bind-mounting replicated data).
fn declared_exclusive(service: &Object) -> bool {
    service
        .spec_as::<ServiceSpec>()
        .is_ok_and(|spec| spec.handover_in() == Handover::BreakBeforeMake)
}

/// Re-reads the Services whenever one changes.
async fn follow_store(config: TrackConfig, store: Store, snapshot: watch::Sender<Tracked>) {
    loop {
        let (services, version) = store.list(Some(Kind::Service));
        publish_services(&config, &services, &snapshot);
        let Ok(mut watcher) = store.watch(Some(Kind::Service), version) else {
            continue;
        };
        // Expired: changes were missed; list again.
        while watcher.next().await.is_ok() {
            let (services, _) = store.list(Some(Kind::Service));
            publish_services(&config, &services, &snapshot);
        }
    }
}

fn publish_services(
    config: &TrackConfig,
    services: &[Arc<Object>],
    snapshot: &watch::Sender<Tracked>,
) {
    let checks = service_checks(config, services);
    let awaited = awaited_followers(&config.vip, services);
    let scripts = config.scripts.len();
    snapshot.send_if_modified(|tracked| {
        // A task aborted by a reconfigure may still be finishing this step
        // against the new layout: leave that alone.
        if tracked.checks.len() < scripts {
            return false;
        }
        let changed = tracked.checks[scripts..] != checks[..] || tracked.awaited != awaited;
        if changed {
            tracked.checks.truncate(scripts);
            tracked.checks.extend(checks);
            tracked.awaited = awaited;
        }
        changed
    });
}

/// Runs one script every `interval` and publishes its fall/rise verdict
/// when it changes.
async fn run_script(index: usize, script: ScriptCheck, snapshot: watch::Sender<Tracked>) {
    let mut streak = FallRise::new(script.fall, script.rise);
    let mut ticker = tokio::time::interval(script.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = run_once(&script).await;
        let was_healthy = streak.healthy();
        let healthy = streak.record(outcome.is_ok());
        if healthy == was_healthy {
            continue;
        }
        let detail = outcome.err().unwrap_or_default();
        if healthy {
            info!(script = %script.name, "tracked script succeeds again");
        } else {
            warn!(script = %script.name, %detail, "tracked script failing");
        }
        // `get_mut`: a task aborted by a reconfigure may still be
        // finishing this very step against the new layout.
        snapshot.send_if_modified(|tracked| match tracked.checks.get_mut(index) {
            Some(check) if check.source == Source::Script => {
                check.healthy = healthy;
                check.detail = detail;
                true
            }
            _ => false,
        });
    }
}

/// One run: success is exit status 0 within the timeout.
async fn run_once(script: &ScriptCheck) -> Result<(), String> {
    let Some((program, args)) = script.command.split_first() else {
        return Err("empty command".to_string());
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // A group of its own, killed whole at the timeout: a hung check's
    // children do not pile up, one more at every interval.
    let mut child = GroupChild::spawn(&mut command).map_err(|e| e.to_string())?;
    match child.wait(script.timeout, std::future::pending()).await {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(status.to_string()),
        Err(ended) => Err(ended.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use hareconcile_model::{ObjectMeta, Status};
    use hareconcile_runtime::testing::{assert_child_died, hung_command};
    use serde_json::json;

    use super::*;

    fn service(name: &str, follows: Option<&str>, status: Status) -> Arc<Object> {
        let mut spec = json!({"cluster": "home", "compose": {"file": "c.yaml"}});
        if let Some(vip) = follows {
            spec["followVirtualIP"] = json!(vip);
        }
        Arc::new(Object {
            api_version: hareconcile_model::API_VERSION.to_string(),
            kind: Kind::Service,
            metadata: ObjectMeta::named(name),
            spec,
            status,
        })
    }

    fn status(conditions: &[(&str, ConditionStatus)], desired: StackPlacement) -> Status {
        let mut status = Status::default();
        for (type_, value) in conditions {
            status.set_condition(type_, *value, "Why", "what".to_string(), 1);
        }
        status.set_details(&ServiceStatus {
            desired: Some(desired),
            ..ServiceStatus::default()
        });
        status
    }

    fn config(services: &[(&str, i32)]) -> TrackConfig {
        TrackConfig {
            vip: "web".into(),
            scripts: Vec::new(),
            services: services.iter().map(|(n, w)| (n.to_string(), *w)).collect(),
            fencing: None,
        }
    }

    #[test]
    fn false_conditions_fail_but_unknown_probing_and_waiting_for_data_do_not() {
        use ConditionStatus::{False, True, Unknown};
        let mut probing = status(
            &[("Ready", False), ("Healthy", Unknown)],
            StackPlacement::Run,
        );
        probing.set_condition(
            "Ready",
            False,
            ServiceReason::Probing.as_str(),
            "waiting",
            1,
        );
        let mut waiting = status(&[("Healthy", Unknown)], StackPlacement::Absent);
        waiting.set_condition(
            "Ready",
            False,
            ServiceReason::WaitingForReplication.as_str(),
            "certs",
            1,
        );
        let services = [
            service(
                "ready",
                None,
                status(&[("Ready", True)], StackPlacement::Run),
            ),
            service(
                "not-ready",
                None,
                status(&[("Ready", False)], StackPlacement::Run),
            ),
            service(
                "standby",
                None,
                status(
                    &[("Ready", True), ("Healthy", Unknown)],
                    StackPlacement::Absent,
                ),
            ),
            service(
                "sick",
                None,
                status(&[("Ready", True), ("Healthy", False)], StackPlacement::Run),
            ),
            service("silent", None, Status::default()),
            service("probing", None, probing),
            service("waiting", None, waiting),
        ];
        let names = [
            "ready",
            "not-ready",
            "standby",
            "sick",
            "silent",
            "missing",
            "probing",
            "waiting",
        ];
        let config = config(&names.map(|n| (n, -10)));
        let verdicts: Vec<(&str, bool)> = service_checks(&config, &services)
            .iter()
            .map(|c| {
                (
                    names.iter().find(|n| **n == c.name).copied().unwrap(),
                    c.healthy,
                )
            })
            .collect();
        assert_eq!(
            verdicts,
            [
                ("ready", true),
                ("not-ready", false),
                ("standby", true),
                ("sick", false),
                ("silent", false),
                ("missing", false),
                ("probing", true),
                ("waiting", true)
            ]
        );
        let sick = &service_checks(&config, &services)[3];
        assert_eq!(sick.weight, -10);
        assert!(
            sick.detail.starts_with("Healthy is False (Why)"),
            "{}",
            sick.detail
        );
    }

    #[test]
    fn preemption_waits_for_every_follower_to_run_here() {
        use ConditionStatus::{False, True};
        let running = || status(&[("Ready", True)], StackPlacement::Run);
        let standby = || status(&[("Ready", True)], StackPlacement::Absent);
        let names = |awaited: Vec<Awaited>| -> Vec<String> {
            awaited.into_iter().map(|a| a.service).collect()
        };
        assert!(
            awaited_followers("web", &[]).is_empty(),
            "no follower, nothing to wait for"
        );
        let other = service("db", Some("other"), standby());
        assert!(awaited_followers("web", std::slice::from_ref(&other)).is_empty());
        let web = service("web", Some("web"), standby());
        assert_eq!(
            awaited_followers("web", &[web, other.clone()]),
            [Awaited {
                service: "web".into(),
                why: "its stack is not started here yet".into()
            }],
            "a Ready standby is not a running stack"
        );
        let web = service("web", Some("web"), running());
        let api = service("api", Some("web"), status(&[], StackPlacement::Run));
        assert_eq!(
            names(awaited_followers("web", &[web.clone(), api])),
            ["api"]
        );
        let failing = service(
            "api",
            Some("web"),
            status(&[("Ready", False)], StackPlacement::Run),
        );
        assert_eq!(
            awaited_followers("web", &[web.clone(), failing])[0].why,
            "Ready is False (Why): what"
        );
        let api = service("api", Some("web"), running());
        assert!(awaited_followers("web", &[web, api, other]).is_empty());
    }

    #[test]
    fn preemption_waits_for_an_exclusive_stacks_data_not_for_the_stack() {
        let exclusive = |unready_data: &[&str]| {
            let mut status = Status::default();
            status.set_details(&ServiceStatus {
                desired: Some(StackPlacement::Absent),
                exclusive: true,
                unready_data: unready_data.iter().map(|d| d.to_string()).collect(),
                ..ServiceStatus::default()
            });
            service("db", Some("web"), status)
        };
        assert!(awaited_followers("web", &[exclusive(&[])]).is_empty());
        assert_eq!(
            awaited_followers("web", &[exclusive(&["data"])])[0].why,
            "exclusive, its data is not Ready here: data"
        );
        // Declared so, before its controller reported: awaited until it does.
        let mut declared = service("db", Some("web"), Status::default());
        Arc::make_mut(&mut declared).spec["requires"] = json!(["data"]);
        assert_eq!(
            awaited_followers("web", std::slice::from_ref(&declared))[0].why,
            "not reported on this node yet"
        );
        Arc::make_mut(&mut declared).spec["handover"] = json!("make-before-break");
        assert_eq!(
            awaited_followers("web", &[declared])[0].why,
            "its stack is not started here yet"
        );
    }

    #[tokio::test]
    async fn scripts_fail_on_exit_status_and_timeout() {
        let script = |command: &[String], timeout_ms| ScriptCheck {
            name: "s".into(),
            command: command.to_vec(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(timeout_ms),
            fall: 1,
            rise: 1,
            weight: 0,
        };
        let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(run_once(&script(&argv(&["true"]), 10_000)).await, Ok(()));
        let failed = run_once(&script(&argv(&["false"]), 10_000))
            .await
            .unwrap_err();
        assert!(failed.contains("exit status: 1"), "{failed}");
        // A hung check dies with its children: they would pile up, one
        // more at every interval.
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let slow = run_once(&script(&hung_command(&pid_file), 300))
            .await
            .unwrap_err();
        assert!(slow.contains("did not finish within 300ms"), "{slow}");
        assert_child_died(&pid_file);
        let missing = run_once(&script(&argv(&["/nonexistent/check"]), 10_000))
            .await
            .unwrap_err();
        assert!(missing.contains("cannot run"), "{missing}");
    }
}
