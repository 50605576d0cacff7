//! A Service's health: its containers plus TCP / HTTP / HTTPS / DNS probes
//! and commands in its containers (`exec`), run
//! by one task per running stack at the spec's interval, away from the
//! reconcile loop. The task keeps fall/rise counts and says when the
//! verdict changes, so the controller reconciles at once and writes the
//! `Healthy` condition.

mod counter;
pub mod dns;
pub mod exec;
mod https;
mod probes;

use std::time::Duration;

use hareconcile_model::{Containers, Health, ObjectKey};
use hareconcile_runtime::{OwnedTask, Reported};
use tokio::sync::mpsc;

pub use counter::{FallRise, Verdict};
pub use probes::Probes;

use crate::engine::Engine;
use crate::file::Project;

/// A probe round never outlasts this when the spec sets no timeout (nor
/// the interval, so rounds do not pile up).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// What the probes said lately.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub verdict: Verdict,
    /// The latest round's failures (empty when it passed).
    pub failures: Vec<String>,
    /// Consecutive results still needed before the verdict changes.
    pub needed: u32,
    /// Probes per round.
    pub probes: usize,
    /// Rounds run so far.
    pub rounds: u64,
}

/// The probing schedule and thresholds of a Service.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub probes: Probes,
    pub interval: Duration,
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
}

impl Schedule {
    /// The schedule for `health` over `project`'s services. A named
    /// container that is not a service of the file is probed (and fails)
    /// rather than ignored.
    pub fn new(health: &Health, project: &Project) -> Self {
        let services = match &health.containers {
            Containers::All => project.services.keys().cloned().collect(),
            Containers::None => Vec::new(),
            Containers::Named(names) => names.clone(),
        };
        let interval = Duration::from(health.interval).max(Duration::from_millis(10));
        let timeout = health
            .timeout
            .map_or(DEFAULT_TIMEOUT.min(interval), Duration::from);
        Schedule {
            probes: Probes {
                project: project.name.clone(),
                services,
                tcp: health.tcp.clone(),
                http: health.http.clone(),
                dns: health.dns.clone(),
                https: health.https.clone(),
                exec: health.exec.clone(),
            },
            interval,
            timeout,
            fall: health.fall,
            rise: health.rise,
        }
    }
}

/// The probing task of one running stack; dropping it stops the probes.
pub struct Prober {
    /// Held only to end the probes with this handle.
    _task: OwnedTask,
    schedule: Schedule,
    report: Reported<Report>,
}

impl Prober {
    /// Starts probing at once, then every interval. Each verdict change
    /// sends `key` on `changed`.
    pub fn start(
        key: ObjectKey,
        schedule: Schedule,
        engine: Engine,
        changed: mpsc::UnboundedSender<ObjectKey>,
    ) -> Self {
        let counter = FallRise::new(schedule.fall, schedule.rise);
        let report = Reported::new(Report {
            verdict: counter.verdict(),
            failures: Vec::new(),
            needed: counter.needed(),
            probes: schedule.probes.count(),
            rounds: 0,
        });
        let task = OwnedTask::spawn(probe_forever(
            key,
            schedule.clone(),
            engine,
            counter,
            report.clone(),
            changed,
        ));
        Prober {
            _task: task,
            schedule,
            report,
        }
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    pub fn report(&self) -> Report {
        self.report.latest()
    }
}

/// Reconciles a Service as soon as its verdict changes, until `changes` closes.
pub async fn forward(
    mut changes: mpsc::UnboundedReceiver<ObjectKey>,
    controller: hareconcile_runtime::ControllerHandle,
) {
    while let Some(key) = changes.recv().await {
        controller.trigger(key);
    }
}

async fn probe_forever(
    key: ObjectKey,
    schedule: Schedule,
    engine: Engine,
    mut counter: FallRise,
    report: Reported<Report>,
    changed: mpsc::UnboundedSender<ObjectKey>,
) {
    let mut ticks = tokio::time::interval(schedule.interval);
    // A round slower than the interval delays the next instead of
    // bunching the missed ones.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for rounds in 1.. {
        ticks.tick().await;
        let failures = probes::round(&engine, &schedule.probes, schedule.timeout).await;
        let before = counter.verdict();
        let verdict = counter.record(failures.is_empty());
        *report.lock() = Report {
            verdict,
            failures,
            needed: counter.needed(),
            probes: schedule.probes.count(),
            rounds,
        };
        if verdict != before {
            // Nobody listening only costs latency: the controller's
            // periodic recheck reads the report too.
            let _ = changed.send(key.clone());
        }
    }
}
